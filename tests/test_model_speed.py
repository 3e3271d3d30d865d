"""The CPU fast paths of the network give the same outputs: RoPE in one pass on token-major
tensors, the channels_last DPT (conformance checks it against the official goldens), and
descriptors computed only at the pixels a caller asks for."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hamst3r_ros.model.hamst3r import build_model
from hamst3r_ros.model.rope import RopeTable, apply_rope, grid_positions


def _official_rope2d(x: torch.Tensor, pos: torch.Tensor, base: float = 100.0) -> torch.Tensor:
    """CroCo's RoPE2D written out (x (B, heads, N, Dh)): halves by y then x, rotate-half pairs."""
    d = x.shape[-1] // 2
    inv = 1.0 / (base ** (torch.arange(0, d, 2).float() / d))
    out = []
    for axis, half in enumerate(x.chunk(2, dim=-1)):
        f = pos[:, axis].float()[:, None] * inv
        f = torch.cat([f, f], -1)
        x1, x2 = half[..., : d // 2], half[..., d // 2:]
        out.append(half * f.cos() + torch.cat([-x2, x1], -1) * f.sin())
    return torch.cat(out, -1)


def test_rope_matches_the_official_formula_in_every_layout_and_with_autograd():
    pos = grid_positions(5, 7)
    table = RopeTable.build(pos, 32)
    x = torch.randn(2, 3, 35, 32)  # (B, heads, N, Dh)
    ref = _official_rope2d(x, pos)
    tm = x.transpose(1, 2)  # token-major (B, N, heads, Dh), as the attention layers pass it
    torch.testing.assert_close(apply_rope(tm, table).transpose(1, 2), ref, rtol=0, atol=1e-6)
    # queries and keys at once: (B, N, 2, heads, Dh)
    both = apply_rope(torch.stack([tm, 2 * tm], dim=2), table)
    torch.testing.assert_close(both[:, :, 1].transpose(1, 2), 2 * ref, rtol=0, atol=2e-6)
    # the training path (out= writes cannot be differentiated) gives the same values and a gradient
    g = tm.clone().requires_grad_(True)
    out = apply_rope(g, table)
    torch.testing.assert_close(out.detach().transpose(1, 2), ref, rtol=0, atol=1e-6)
    # a rotation keeps norms, so d(sum out^2)/dx = 2x: the backward pass is the rotation's too
    out.square().sum().backward()
    torch.testing.assert_close(g.grad, 2 * tm, rtol=1e-5, atol=1e-5)
    # bf16 tokens are rotated in float32 and come back as bf16
    assert apply_rope(tm.bfloat16(), table).dtype == torch.bfloat16


def _catmlp_model(seed=0):
    """The MASt3R head layout (catmlp+dpt, 25 descriptor channels per pixel) at toy widths."""
    return build_model({"name": "mast3r_vitl_512_catmlpdpt", "enc_embed_dim": 64, "enc_depth": 1, "enc_num_heads": 2,
                        "dec_embed_dim": 32, "dec_depth": 10, "dec_num_heads": 2}, seed=seed)


@pytest.mark.parametrize("make", [_catmlp_model, lambda: build_model("hamst3r_tiny", seed=0)], ids=["catmlp+dpt", "linear"])
def test_descriptors_only_where_asked_equal_the_full_maps_there(make):
    model = make()
    g = torch.Generator().manual_seed(0)
    imgs = [torch.rand(3, h, w, generator=g) * 2 - 1 for h, w in [(32, 48), (48, 32), (32, 48)]]
    pairs = [(0, 1), (1, 0), (0, 2), (2, 1)]
    feats = model.encode(imgs)
    full = model.decode_pairs(feats, pairs)
    rng = np.random.default_rng(0)
    ask = {0: (rng.choice(32 * 48, 200, replace=False), rng.choice(48 * 32, 150, replace=False)),
           3: (np.arange(0, 32 * 48, 7), np.array([0, 5, 1535]))}
    sparse = model.decode_pairs(feats, pairs, desc_at=ask)
    for p, (a, b) in enumerate(zip(full, sparse)):
        np.testing.assert_array_equal(a.pts_j, b.pts_j)  # the geometry is untouched
        np.testing.assert_array_equal(a.conf_i, b.conf_i)
        if p not in ask:
            assert b.desc_i is None and b.desc_j is None and b.desc_conf_i is None and b.desc_conf_j is None
            continue
        for view, px in zip("ij", ask[p]):
            d_full, d = getattr(a, f"desc_{view}"), getattr(b, f"desc_{view}")
            c_full, c = getattr(a, f"desc_conf_{view}"), getattr(b, f"desc_conf_{view}")
            assert d.shape == d_full.shape and c.shape == c_full.shape and d.dtype == np.float32
            flat, cflat = d.reshape(-1, d.shape[-1]), c.reshape(-1)
            np.testing.assert_allclose(flat[px], d_full.reshape(-1, d.shape[-1])[px], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(cflat[px], c_full.reshape(-1)[px], rtol=1e-5, atol=1e-6)
            rest = np.ones(len(cflat), bool)
            rest[px] = False
            assert np.isnan(flat[rest]).all() and np.isnan(cflat[rest]).all()  # not computed: not a descriptor


def test_sparse_descriptor_mlp_skips_the_full_map():
    """The MLP head's fc2 runs only on the requested pixels' rows: a spy on the full-map path."""
    model = _catmlp_model(seed=1)
    head = model.net.downstream_head1
    calls = []
    orig = head.head_local_features.forward
    head.head_local_features.forward = lambda x: calls.append(x.shape) or orig(x)
    g = torch.Generator().manual_seed(1)
    imgs = [torch.rand(3, 32, 48, generator=g) * 2 - 1 for _ in range(2)]
    model.predict(imgs, [(0, 1)], desc_at={0: (np.arange(10), np.arange(10))})
    assert calls == []
    model.predict(imgs, [(0, 1)])
    assert len(calls) == 1


def test_bad_descriptor_requests_are_one_clear_error():
    model = build_model("hamst3r_tiny", seed=0)
    imgs = [torch.zeros(3, 32, 48), torch.zeros(3, 32, 48)]
    feats = model.encode(imgs)
    with pytest.raises(ValueError, match=r"desc_at\[0\]: pixel indices of view 0 must lie in \[0, 1536\)"):
        model.decode_pairs(feats, [(0, 1)], desc_at={0: (np.array([1536]), np.array([0]))})
    with pytest.raises(ValueError, match="desc_at key 3 is not a pair index"):
        model.decode_pairs(feats, [(0, 1)], desc_at={3: (np.array([0]), np.array([0]))})
