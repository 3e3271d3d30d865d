"""Inference API: encode once, batched pair decoding, mixed shapes, human heads, preprocessing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hamst3r_ros.model.conformance import default_fixtures_dir
from hamst3r_ros.model.hamst3r import Hamst3rModel, build_model
from hamst3r_ros.model.preprocess import preprocess_image
from hamst3r_ros.types import PairPrediction

FIX = default_fixtures_dir()


def _imgs(shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(3, h, w, generator=g) * 2 - 1 for h, w in shapes]


class _Spy:
    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, *a, **k):
        self.calls.append(a)
        return self.fn(*a, **k)


def test_each_image_encoded_once_and_pairs_batched_by_shape():
    model = build_model("hamst3r_tiny", seed=0)
    enc = _Spy(model.net.encode)
    dec = _Spy(model.net.decode)
    model.net.encode, model.net.decode = enc, dec
    imgs = _imgs([(32, 48), (32, 48), (48, 32), (32, 48)])
    pairs = [(i, j) for i in range(4) for j in range(4) if i != j]
    preds = model.predict(imgs, pairs)
    # two shapes -> two encoder batches covering 4 images in total
    assert sorted(c[0].shape[0] for c in enc.calls) == [1, 3]
    # shape groups: (L,L), (L,P), (P,L) -> three decoder batches for 12 pairs
    assert len(dec.calls) == 3 and sum(c[0].shape[0] for c in dec.calls) == 12
    assert [(p.i, p.j) for p in preds] == pairs and all(isinstance(p, PairPrediction) for p in preds)


def test_batched_api_matches_single_pair_forward_including_landscape_portrait():
    model = build_model("hamst3r_tiny", seed=1)
    imgs = _imgs([(32, 48), (48, 32), (32, 48)], seed=1)
    pairs = [(0, 1), (1, 0), (0, 2), (2, 0), (1, 1)]
    preds = model.predict(imgs, pairs)
    for p in preds:
        with torch.inference_mode():
            r1, r2 = model.net(imgs[p.i][None], imgs[p.j][None])
        np.testing.assert_allclose(p.pts_i, r1["pts3d"][0].numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(p.pts_j, r2["pts3d_in_other_view"][0].numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(p.conf_j, r2["conf"][0].numpy(), rtol=1e-5, atol=1e-5)
        assert p.pts_i.shape == (*imgs[p.i].shape[1:], 3) and p.pts_j.shape == (*imgs[p.j].shape[1:], 3)
        assert (p.conf_i >= 1).all()
        np.testing.assert_allclose(np.linalg.norm(p.desc_i, axis=-1), 1.0, atol=1e-5)


def test_dune_landscape_portrait_and_symmetric_batch():
    """Official DUNE-MASt3R raises on mixed shapes and on batched symmetric pairs; ours runs."""
    from hamst3r_ros.model.checkpoints import load_dune_mast3r

    net = load_dune_mast3r(FIX / "dune" / "tiny_dune_mast3r.pth", FIX / "dune" / "tiny_dune_encoder.pth")
    model = Hamst3rModel(net)
    imgs = _imgs([(42, 56), (56, 42), (42, 56)], seed=2)
    preds = model.predict(imgs, [(0, 1), (0, 2), (2, 0)])
    assert preds[0].pts_i.shape == (42, 56, 3) and preds[0].pts_j.shape == (56, 42, 3)
    assert preds[0].desc_i.shape == (42, 56, 24) and not model.has_human_heads and preds[0].inst_i is None
    assert all(np.isfinite(p.pts_j).all() for p in preds)


def test_head_outputs_are_typed_and_official_dicts_only_at_forward():
    from hamst3r_ros.model.outputs import PairHeadOutputs
    from hamst3r_ros.train.loop import forward

    net = build_model("hamst3r_tiny", seed=6).net
    a, b = (x[None] for x in _imgs([(32, 48), (48, 32)], seed=6))
    with torch.no_grad():
        pred1, pred2 = net(a, b)
        heads = forward(net, a, b, False)
    # the official API: its key names, pred2's points keyed as the other view's and last
    assert list(pred1) == ["pts3d", "conf", "desc", "desc_conf"]
    assert list(pred2) == ["conf", "desc", "desc_conf", "pts3d_in_other_view"]
    assert isinstance(heads, PairHeadOutputs) and heads.has_human
    torch.testing.assert_close(heads.view2.pts3d, pred2["pts3d_in_other_view"], rtol=0, atol=0)
    torch.testing.assert_close(heads.view1.desc_conf, pred1["desc_conf"], rtol=0, atol=0)
    q, s = net.cfg.human.num_queries, net.cfg.human.mask_stride
    assert heads.class_logits.shape == (1, q, 2)
    assert heads.view1.mask_logits.shape == (1, q, 32 // s, 48 // s) and heads.view2.mask_logits.shape == (1, q, 48 // s, 32 // s)
    assert heads.view2.dp.shape == (1, 48, 32, 3) and heads.view1.body_logits.shape == (1, 32, 48)
    two = PairHeadOutputs(*(type(v)(**{k: None if t is None else torch.cat([t, 2 * t]) for k, t in vars(v).items()})
                            for v in heads.views), torch.cat([heads.class_logits, -heads.class_logits]))
    one = two.take(torch.tensor([1]))
    torch.testing.assert_close(one.view2.dp, 2 * heads.view2.dp, rtol=0, atol=0)
    torch.testing.assert_close(one.class_logits, -heads.class_logits, rtol=0, atol=0)
    geometry = net.run_heads(*_tokens(net, a, b), human=False)
    assert not geometry.has_human and geometry.view1.mask_logits is None and geometry.view2.dp is None


def _tokens(net, a, b):
    g1, g2 = net.grid_of(a.shape[-2:]), net.grid_of(b.shape[-2:])
    e1, e2 = net.encode(a), net.encode(b)
    d1, d2 = net.decode(net.embed(e1), g1, net.embed(e2), g2)
    return e1, d1, g1, e2, d2, g2


def test_dune_network_with_human_heads_shares_the_head_wiring():
    """DUNE-MASt3R + human heads (14-px patches, mask stride 7, image refinement): the same
    wiring as PairNet; geometry unchanged by adding the heads."""
    from dataclasses import replace

    from hamst3r_ros.model.checkpoints import load_dune_mast3r
    from hamst3r_ros.model.config import HumanHeadsConfig
    from hamst3r_ros.model.networks import DunePairNet

    base = load_dune_mast3r(FIX / "dune" / "tiny_dune_mast3r.pth", FIX / "dune" / "tiny_dune_encoder.pth")
    torch.manual_seed(7)
    net = DunePairNet(replace(base.cfg, human=HumanHeadsConfig(num_queries=4, hidden_dim=32, num_layers=1, num_heads=2,
                                                               mask_dim=16, mask_stride=7, image_refine=8)))
    missing, unexpected = net.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("human_heads.") for k in missing)
    imgs = _imgs([(42, 56), (56, 42)], seed=7)
    p, g = Hamst3rModel(net).predict(imgs, [(0, 1)])[0], Hamst3rModel(base).predict(imgs, [(0, 1)])[0]
    assert p.inst_i.shape == (4, 42, 56) and p.inst_j.shape == (4, 56, 42) and p.dp_j.shape == (56, 42, 3)
    assert p.body_i.shape == (42, 56) and g.inst_i is None
    for k in ("pts_i", "pts_j", "conf_i", "desc_j"):
        np.testing.assert_array_equal(getattr(p, k), getattr(g, k))


def test_human_heads_outputs_and_shared_queries():
    model = build_model("hamst3r_tiny", seed=4)
    assert model.has_human_heads and model.body_model == "anny"
    imgs = _imgs([(32, 48), (48, 32), (32, 48)], seed=4)
    p01, p02 = model.predict(imgs, [(0, 1), (0, 2)])
    q = model.cfg.human.num_queries
    assert p01.inst_i.shape == (q, 32, 48) and p01.inst_j.shape == (q, 48, 32) and p01.inst_score.shape == (q,)
    assert p01.dp_i.shape == (32, 48, 3) and p01.body_j.shape == (48, 32)
    for a in (p01.inst_i, p01.inst_j, p01.inst_score, p01.body_i):
        assert (a >= 0).all() and (a <= 1).all()
    # the queries see both views: changing view j changes the masks predicted in view i
    assert not np.allclose(p01.inst_i, p02.inst_i[:, :, :])
    geometry_only = build_model({"name": "hamst3r_tiny", "human": None}, seed=4)
    g = geometry_only.predict(imgs, [(0, 1)])[0]
    assert not geometry_only.has_human_heads and g.inst_i is None and g.dp_i is None and g.pts_i is not None


def test_image_refinement_stem_once_per_image_and_batched_equals_pair_forward():
    from hamst3r_ros.train.loop import forward

    model = build_model({"name": "hamst3r_tiny", "human": {"image_refine": 8}}, seed=5)
    for name, p in model.net.named_parameters():  # zero-initialised outputs would hide the refiner
        if "to_dense" in name or "to_embed" in name:
            torch.nn.init.normal_(p, std=0.5)
    calls = []
    model.net.human_heads.stem.register_forward_hook(lambda m, a, out: calls.append(a[0].shape[0]))
    imgs = _imgs([(32, 48), (48, 32), (32, 48)], seed=5)
    pairs = [(0, 1), (1, 0), (0, 2), (2, 1)]
    preds = model.predict(imgs, pairs)
    assert sum(calls) == 3  # per image, not per pair
    for p in preds:
        with torch.no_grad():
            heads = forward(model.net, imgs[p.i][None], imgs[p.j][None], False)
        np.testing.assert_allclose(p.body_i, heads.view1.body_logits[0].sigmoid().numpy(), atol=1e-5)
        np.testing.assert_allclose(p.dp_j, heads.view2.dp[0].numpy(), atol=1e-5)
    plain = build_model("hamst3r_tiny", seed=5)
    plain.net.load_state_dict(model.net.state_dict(), strict=False)
    assert not np.allclose(plain.predict(imgs, pairs[:1])[0].body_i, preds[0].body_i)
    feats = model.encode(imgs)
    with torch.inference_mode(), pytest.raises(ValueError, match="need both views' stem features"):
        model.net.run_heads(feats[0].enc[None], [feats[0].emb[None]], feats[0].grid,
                            feats[1].enc[None], [feats[1].emb[None]], feats[1].grid)


def test_bad_inputs_are_clear_errors():
    model = build_model("hamst3r_tiny", seed=0)
    with pytest.raises(ValueError, match="not a multiple of the patch size 16"):
        model.encode([torch.zeros(3, 30, 48)])
    f = model.encode(_imgs([(32, 48)]))
    with pytest.raises(ValueError, match=r"pair \(0, 1\) out of range for 1 images"):
        model.decode_pairs(f, [(0, 1)])
    with pytest.raises(ValueError, match="unknown network config 'nope'"):
        build_model("nope")


@pytest.mark.parametrize("size,patch,square_ok,keys", [
    (512, 16, False, [("img0", (384, 512)), ("img2", (512, 336))]),
    (224, 16, False, [("img0", (224, 224)), ("img2", (224, 224))]),
])
def test_preprocess_matches_official_mast3r(size, patch, square_ok, keys):
    z = np.load(FIX / "mast3r" / "inputs.npz")
    for name, hw in keys:
        p = preprocess_image(z[f"{name}_raw_u8"], size, patch, square_ok)
        assert p.hw == hw
        assert np.array_equal(p.image_u8, z[f"{name}_{size}_u8"])
        assert torch.equal(p.tensor, torch.from_numpy(z[f"{name}_{size}"]))


def test_preprocess_matches_official_dune_mast3r():
    z = np.load(FIX / "dune" / "inputs.npz")
    for raw, key, size in (("A", "mast3r518_A", 518), ("C", "mast3r518_C", 518), ("C", "mast3r70_C", 70)):
        p = preprocess_image(z[f"raw_{raw}_u8_HWC"], size, 14, square_ok=True)
        assert torch.equal(p.tensor, torch.from_numpy(z[key]))


def test_pixel_mapping_back_to_input():
    img = np.zeros((480, 640, 3), np.uint8)
    p = preprocess_image(img, 512)
    assert p.hw == (384, 512) and p.crop_xy == (0, 0)
    # 640 -> 512 is a 0.8 scale: network pixel centre 0 covers input [0, 1.25), centre 0.125
    np.testing.assert_allclose(p.to_input_pixels(np.array([[0.0, 0.0], [511.0, 383.0]])),
                               [[0.125, 0.125], [638.875, 478.875]])  # last: covers [638.75, 640)
    portrait = preprocess_image(np.zeros((700, 469, 3), np.uint8), 512)  # resized 343 wide, cropped by 3
    assert portrait.crop_xy == (3, 0) and portrait.hw == (512, 336)
    uv = np.array([[10.0, 20.0], [100.5, 300.25]])
    np.testing.assert_allclose(portrait.to_network_pixels(portrait.to_input_pixels(uv)), uv)
    a = portrait.input_from_network()
    np.testing.assert_allclose((a @ np.array([10.0, 20.0, 1.0]))[:2], portrait.to_input_pixels(uv[:1])[0])
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 RGB image"):
        preprocess_image(np.zeros((10, 10), np.float32))


def test_build_model_from_json_config_and_overrides():
    m = build_model({"name": "hamst3r_small", "dec_depth": 2})
    assert m.cfg.dec_depth == 2 and len(m.net.dec_blocks) == 2
    again = build_model(m.cfg.to_json())
    assert again.cfg == m.cfg


def test_bf16_autocast_path_on_cpu():
    """The GPU precision path (bf16 autocast, float32 heads) also runs on CPU: dtypes stay consistent."""
    model = build_model("hamst3r_tiny", seed=0)
    imgs = _imgs([(32, 48), (48, 32)], seed=5)
    ref = model.predict(imgs, [(0, 1), (1, 0)])
    bf = Hamst3rModel(model.net, "cpu", autocast_bf16=True).predict(imgs, [(0, 1), (1, 0)])
    for a, b in zip(ref, bf):
        assert b.pts_i.dtype == np.float32 and b.conf_j.dtype == np.float32
        assert np.abs(a.pts_i - b.pts_i).max() < 0.05 * np.abs(a.pts_i).max()
        assert np.abs(a.inst_i - b.inst_i).max() < 0.05


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bf16 autocast path)")
def test_bf16_autocast_agrees_with_float32_on_gpu():
    model = build_model("hamst3r_small", seed=0, device="cuda")
    imgs = _imgs([(160, 224)] * 4)
    pairs = [(i, j) for i in range(4) for j in range(4) if i != j]
    ref = Hamst3rModel(model.net, "cuda", autocast_bf16=False).predict(imgs, pairs)
    bf = model.predict(imgs, pairs)
    for a, b in zip(ref, bf):
        scale = np.abs(a.pts_i).max()
        assert np.abs(a.pts_i - b.pts_i).max() < 0.05 * scale


def test_model_preprocess_uses_its_resolution_rule():
    img = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    small = build_model("hamst3r_small")
    p = small.preprocess(img)
    assert p.hw == (160, 224)  # long side 224, crop to multiples of 16 (not the 224x224 crop)
    pred = small.predict([p.tensor], [(0, 0)])[0]
    assert pred.pts_i.shape == (160, 224, 3)
    official = Hamst3rModel(build_model("hamst3r_tiny").net)
    assert official.image_size == 512 and official.preprocess(img).hw == (384, 512)
