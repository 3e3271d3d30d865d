"""Full-size key manifests load into our module definitions (built on the meta device)."""
from __future__ import annotations

import json

import pytest
import torch

from hamst3r_ros.model.checkpoints import config_from_constructor
from hamst3r_ros.model.config import DuneEncoderConfig, named_config
from hamst3r_ros.model.encoder import DuneModel, DuneViT
from hamst3r_ros.model.networks import DunePairNet, PairNet
from hamst3r_ros.model.conformance import default_fixtures_dir

FIX = default_fixtures_dir()


def _manifest(sub: str) -> dict:
    p = FIX / sub / "full_size_keys.json"
    assert p.is_file(), f"missing key manifest {p} (fixtures expected at ../shared/fixtures or $HAMST3R_FIXTURES)"
    return json.loads(p.read_text())


def _assert_same(module: torch.nn.Module, entries: list[dict], skip=()):
    ours = {k: tuple(v.shape) for k, v in module.state_dict().items() if not k.startswith(skip)}
    theirs = {e["key"]: tuple(e["shape"]) for e in entries}
    assert sorted(set(theirs) - set(ours)) == [], "missing in ours"
    assert sorted(set(ours) - set(theirs)) == [], "unexpected in ours"
    bad = {k: (ours[k], theirs[k]) for k in theirs if ours[k] != theirs[k]}
    assert bad == {}
    assert all(e["dtype"] == "float32" for e in entries)


@pytest.mark.parametrize("name", ["MASt3R_ViTLarge_BaseDecoder_512_catmlpdpt_metric",
                                  "DUSt3R_ViTLarge_BaseDecoder_512_linear", "DUSt3R_ViTLarge_BaseDecoder_224_linear"])
@pytest.mark.parametrize("which", ["constructor_string_training", "constructor_string_as_instantiated_by_official_load_model"])
def test_mast3r_dust3r_full_size(name, which):
    m = _manifest("mast3r")[name]
    cfg = config_from_constructor(m[which])
    with torch.device("meta"):
        net = PairNet(cfg)
    _assert_same(net, m["state_dict"])
    assert len(net.state_dict()) == m["n_state_dict_keys"]
    assert sum(p.numel() for p in net.parameters()) == m["n_parameters"]  # aliases counted once
    if m["dpt_hooks"]:
        assert cfg.dpt_hooks == m["dpt_hooks"]


def test_named_full_size_configs_match_manifests():
    m = _manifest("mast3r")
    for cfg_name, man in (("mast3r_vitl_512_catmlpdpt", "MASt3R_ViTLarge_BaseDecoder_512_catmlpdpt_metric"),
                          ("dust3r_vitl_linear", "DUSt3R_ViTLarge_BaseDecoder_512_linear")):
        with torch.device("meta"):
            net = PairNet(named_config(cfg_name))
        _assert_same(net, m[man]["state_dict"])


@pytest.mark.parametrize("name,arch", [("dune_vitbase14_448", (768, 12, 12)), ("dune_vitsmall14_448", (384, 12, 6))])
def test_dune_full_size(name, arch):
    m = _manifest("dune")[name]
    cfg = DuneEncoderConfig(embed_dim=arch[0], depth=arch[1], num_heads=arch[2], image_size=448)
    with torch.device("meta"):
        enc = DuneViT(cfg)
        full = DuneModel(cfg, m["args_namespace_after_build(argparse.Namespace)"]["teachers"],
                         m["args_namespace_after_build(argparse.Namespace)"]["proj_args"]["num_heads"])
    shapes = {e["key"]: e for e in m["state_dict"]}
    enc_entries = [dict(shapes["encoder." + k], key=k) for k in m["encoder_only_keys_after_loader_rename"]]
    _assert_same(enc, enc_entries)
    _assert_same(full, [e for e in m["state_dict"] if not e["key"].startswith("teacher_norms.")])
    assert sum(p.numel() for p in enc.parameters()) == m["n_params_encoder"]


@pytest.mark.parametrize("name,cfg_name", [("dunemast3r_cvpr25_vitbase", "dune_mast3r_vitb14"),
                                           ("dunemast3r_cvpr25_vitsmall", "dune_mast3r_vits14")])
def test_dune_mast3r_full_size(name, cfg_name):
    m = _manifest("dune")[name]
    cfg = named_config(cfg_name)
    with torch.device("meta"):
        net = DunePairNet(cfg)
    _assert_same(net, m["ckpt_model_state_dict"], skip=("dune_backbone.",))
    assert len([k for k in net.state_dict() if k.startswith("dune_backbone.")]) == m["dune_backbone_keys_at_runtime(count)"]
    # the manifest's (guessed) constructor string parses to the same decoder and heads
    parsed = config_from_constructor(m["mast3r_model_str_GUESS"])
    assert (parsed.dec_embed_dim, parsed.dec_depth, parsed.head_type, parsed.enc_embed_dim) == \
        (cfg.dec_embed_dim, cfg.dec_depth, cfg.head_type, cfg.enc_embed_dim)
