"""Checkpoint loading: official formats, our format, and clear refusals."""
from __future__ import annotations

import argparse
import json
import os
from collections import OrderedDict

import pytest
import torch

from hamst3r_ros.model.checkpoints import (
    CheckpointError, config_from_constructor, load_checkpoint, load_dune_encoder, load_dune_mast3r,
    load_hamst3r, parse_constructor, read_torch_file, save_hamst3r)
from hamst3r_ros.model.conformance import default_fixtures_dir
from hamst3r_ros.model.hamst3r import Hamst3rModel, build_model
from hamst3r_ros.model.networks import DunePairNet, PairNet

FIX = default_fixtures_dir()
TINY = ("AsymmetricCroCo3DStereo(pos_embed='RoPE100', patch_embed_cls='ManyAR_PatchEmbed', img_size=(512, 512), "
        "head_type='linear', output_mode='pts3d', depth_mode=('exp', -inf, inf), conf_mode=('exp', 1, inf), "
        "enc_embed_dim=32, enc_depth=1, enc_num_heads=2, dec_embed_dim=32, dec_depth=1, dec_num_heads=2)")


def _official_file(path, model_str=TINY, mutate=None, extra_args=None):
    """Write an official-format .pth (OrderedDict state + argparse.Namespace args)."""
    torch.manual_seed(0)
    net = PairNet(config_from_constructor(model_str))
    state = OrderedDict(net.state_dict())
    if mutate:
        mutate(state)
    args = argparse.Namespace(model=model_str, lr=1e-4, **(extra_args or {}))
    torch.save({"model": state, "args": args}, path)
    return net


def test_official_tiny_files_load():
    m = load_checkpoint(FIX / "mast3r" / "tiny_mast3r_catmlp_dpt.pth.xz")
    assert isinstance(m, PairNet) and m.cfg.head_type == "catmlp+dpt" and m.cfg.desc_dim == 24 and not m.has_human_heads
    lin = load_checkpoint(FIX / "mast3r" / "tiny_dust3r_linear.pth.xz")
    assert lin.cfg.head_type == "linear" and lin.cfg.desc_dim is None
    d = load_checkpoint(FIX / "dune" / "tiny_dune_mast3r.pth", encoder_path=FIX / "dune" / "tiny_dune_encoder.pth")
    assert isinstance(d, DunePairNet) and d.cfg.patch_size == 14 and d.cfg.dune.num_register_tokens == 4


def test_roundtrip_official_written_file(tmp_path):
    net = _official_file(tmp_path / "m.pth")
    loaded = load_checkpoint(tmp_path / "m.pth")
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


@pytest.mark.parametrize("mutate,needle", [
    (lambda s: s.pop("dec_blocks.0.attn.qkv.weight"), "missing key 'dec_blocks.0.attn.qkv.weight' (expected shape (96, 32))"),
    (lambda s: s.__setitem__("extra.weight", torch.zeros(3)), "unexpected key 'extra.weight' (shape (3,))"),
    (lambda s: s.__setitem__("enc_norm.weight", torch.zeros(31)), "key 'enc_norm.weight': expected shape (32,), found (31,)"),
])
def test_state_dict_errors_name_file_key_expected_found(tmp_path, mutate, needle):
    p = tmp_path / "bad.pth"
    _official_file(p, mutate=mutate)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(p)
    assert needle in str(e.value) and str(p) in str(e.value)


def test_unknown_class_and_unsafe_constructor_strings(tmp_path):
    p = tmp_path / "u.pth"
    torch.save({"model": {}, "args": argparse.Namespace(model=TINY.replace("AsymmetricCroCo3DStereo", "EvilNet"))}, p)
    with pytest.raises(CheckpointError, match="unknown class 'EvilNet'"):
        load_checkpoint(p)
    for bad in ("AsymmetricMASt3R(head_type=__import__('os').system('true'))",
                "__import__('os').system('true')",
                "AsymmetricMASt3R(**{'a': 1})",
                "AsymmetricMASt3R(enc_depth=2*3)"):
        with pytest.raises(ValueError):
            parse_constructor(bad)
    with pytest.raises(ValueError, match="unsupported arguments \\['bogus'\\]"):
        config_from_constructor("AsymmetricMASt3R(pos_embed='RoPE100', bogus=1)")
    with pytest.raises(ValueError, match="only RoPE"):
        config_from_constructor("AsymmetricCroCo3DStereo(pos_embed='cosine')")
    cls, kw = parse_constructor("AsymmetricMASt3R(depth_mode=('exp', -inf, inf), two_confs=True)")
    assert cls == "AsymmetricMASt3R" and kw["depth_mode"][1] == -float("inf") and kw["two_confs"] is True


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = _Evil()
    evil.marker = marker
    p = tmp_path / "evil.pth"
    torch.save({"model": {}, "args": evil}, p)
    with pytest.raises(CheckpointError, match="refused to load") as e:
        load_checkpoint(p)
    assert str(p) in str(e.value)
    assert not marker.exists()


def test_file_needing_other_globals_is_refused(tmp_path):
    import datetime

    p = tmp_path / "g.pth"
    torch.save({"model": {}, "args": argparse.Namespace(model=TINY), "when": datetime.date(2025, 1, 1)}, p)
    with pytest.raises(CheckpointError, match="needs Python globals beyond argparse.Namespace.*datetime"):
        read_torch_file(p)


def test_not_a_file_and_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_checkpoint(tmp_path / "junk.pth")
    torch.save({"weights": {}}, tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match="expected a dict with a 'model' state dict"):
        load_checkpoint(tmp_path / "w.pth")


def test_dune_mast3r_needs_encoder_and_matching_width(tmp_path):
    dec = FIX / "dune" / "tiny_dune_mast3r.pth"
    with pytest.raises(CheckpointError, match="needs the DUNE encoder checkpoint"):
        load_checkpoint(dec)
    ck = torch.load(FIX / "dune" / "tiny_dune_encoder.pth", weights_only=False)
    ck["args"].enc_args = dict(ck["args"].enc_args, embed_dim=64)
    ck["model"] = {k: v for k, v in ck["model"].items()}
    torch.save(ck, tmp_path / "enc64.pth")
    with pytest.raises(CheckpointError, match="expected shape"):
        load_dune_encoder(tmp_path / "enc64.pth")
    with pytest.raises(CheckpointError):
        load_dune_mast3r(dec, tmp_path / "enc64.pth")


def test_our_format_roundtrip_with_human_heads(tmp_path):
    model = build_model("hamst3r_tiny", seed=3)
    st, js = save_hamst3r(model.net, tmp_path / "mine")
    meta = json.loads(js.read_text())
    assert meta["body_model"] == "anny" and meta["network"]["human"]["num_queries"] == 4
    loaded = Hamst3rModel(load_checkpoint(st))
    assert loaded.has_human_heads and loaded.body_model == "anny"
    imgs = [torch.rand(3, 32, 48) * 2 - 1, torch.rand(3, 48, 32) * 2 - 1]
    a = model.predict(imgs, [(0, 1)])[0]
    b = loaded.predict(imgs, [(0, 1)])[0]
    for k in ("pts_i", "pts_j", "inst_i", "dp_j", "desc_i"):
        assert (getattr(a, k) == getattr(b, k)).all(), k


def test_our_format_roundtrip_dpt_aliases(tmp_path):
    """DPT heads register layer_rn twice; safetensors stores one copy and loading restores both."""
    cfg = {"name": "hamst3r_tiny", "head_type": "catmlp+dpt", "dec_depth": 10, "human": None}
    model = build_model(cfg, seed=1)
    st, _ = save_hamst3r(model.net, tmp_path / "dpt.safetensors")
    net = load_hamst3r(st)
    assert not Hamst3rModel(net).has_human_heads
    for k, v in model.net.state_dict().items():
        assert torch.equal(v, net.state_dict()[k]), k


def test_our_format_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_hamst3r(tmp_path / "absent")
    model = build_model("hamst3r_tiny", seed=0)
    st, js = save_hamst3r(model.net, tmp_path / "m")
    meta = json.loads(js.read_text())
    js.write_text(json.dumps(dict(meta, format="other")))
    with pytest.raises(CheckpointError, match="format 'hamst3r_ros'"):
        load_hamst3r(st)
    js.write_text(json.dumps(dict(meta, network=dict(meta["network"], dec_embed_dim=64))))
    with pytest.raises(CheckpointError, match=r"expected shape .*64.*found"):
        load_hamst3r(st)
    js.write_text(json.dumps(dict(meta, network=dict(meta["network"], colour="blue"))))
    with pytest.raises(CheckpointError, match="unknown keys \\['colour'\\]"):
        load_hamst3r(st)
