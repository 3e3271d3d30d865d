"""The full-scale recipe at tiny scale: human heads trained on top of an official-format MASt3R
checkpoint (the fixtures' tiny random-weight file), encoder frozen, geometry kept."""
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

from hamst3r_ros.train.loop import ENCODER_PREFIXES, TrainConfig, build_network, train  # noqa: E402

FIXTURES = Path(os.environ.get("HAMST3R_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))
OFFICIAL = FIXTURES / "mast3r" / "tiny_dust3r_linear.pth.xz"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from hamst3r_ros.synthetic.dataset import write_dataset
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    out = tmp_path_factory.mktemp("recipe") / "set"
    scene = SyntheticScene(SceneConfig(seed=21, num_cameras=2, num_people=1, width=64, height=48))
    write_dataset(out, scene, scene.framesets(2), progress=False)
    return out


def test_official_checkpoint_gets_human_heads_and_trains(dataset, tmp_path):
    if not OFFICIAL.is_file():
        pytest.fail(f"fixture {OFFICIAL} is missing: CI must run with ../shared beside the clone")
    from hamst3r_ros.model.checkpoints import load_checkpoint

    cfg = TrainConfig.from_dict(dict(
        out=str(tmp_path / "run"), init=str(OFFICIAL), network={"human": {"num_queries": 4, "hidden_dim": 32,
                                                                         "num_layers": 1, "num_heads": 2, "mask_dim": 8}},
        train_sets=[{"path": str(dataset), "human": True}], crop_sizes=[[64, 48]], steps=3, batch_size=2,
        val_every=3, val_batches=1, ckpt_every=3, max_matches=64, threads=2))
    official = load_checkpoint(OFFICIAL)
    net = build_network(cfg)
    assert not official.has_human_heads and net.has_human_heads
    # Every official weight is carried over unchanged.
    ref = official.state_dict()
    for k, v in ref.items():
        assert torch.equal(net.state_dict()[k], v), k
    train(cfg, log=lambda *_: None, progress=False)
    trained = load_checkpoint(tmp_path / "run" / "last.safetensors")
    assert trained.has_human_heads
    # Frozen encoder: identical after training; decoder: changed.
    after = trained.state_dict()
    enc = [k for k in ref if k.startswith(ENCODER_PREFIXES)]
    dec = [k for k in ref if k.startswith("dec_blocks.")]
    assert enc and dec
    assert all(torch.equal(after[k], ref[k]) for k in enc)
    assert any(not torch.equal(after[k], ref[k]) for k in dec)


def test_dune_mast3r_checkpoint_gets_human_heads_and_trains(tmp_path_factory, tmp_path):
    # The paper's backbone: a DUNE encoder file plus a DUNE-MASt3R decoder file (the
    # fixtures' tiny random-weight ones, official formats). Patch 14: crops are multiples of 14.
    from hamst3r_ros.model.checkpoints import load_checkpoint
    from hamst3r_ros.synthetic.dataset import write_dataset
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    dec, enc = FIXTURES / "dune" / "tiny_dune_mast3r.pth", FIXTURES / "dune" / "tiny_dune_encoder.pth"
    for f in (dec, enc):
        if not f.is_file():
            pytest.fail(f"fixture {f} is missing: CI must run with ../shared beside the clone")
    data = tmp_path_factory.mktemp("recipe_dune") / "set"
    scene = SyntheticScene(SceneConfig(seed=22, num_cameras=2, num_people=1, width=84, height=70))
    write_dataset(data, scene, scene.framesets(2), progress=False)
    cfg = TrainConfig.from_dict(dict(
        out=str(tmp_path / "run"), init=str(dec), init_encoder=str(enc),
        network={"human": {"num_queries": 4, "hidden_dim": 32, "num_layers": 1, "num_heads": 2, "mask_dim": 8,
                           "mask_stride": 7}},
        train_sets=[{"path": str(data), "human": True}], crop_sizes=[[84, 70]], steps=3, batch_size=2,
        val_every=3, val_batches=1, ckpt_every=3, max_matches=64, threads=2))
    official = load_checkpoint(dec, enc)
    ref = official.state_dict()
    net = build_network(cfg)
    assert net.has_human_heads and all(torch.equal(net.state_dict()[k], v) for k, v in ref.items())
    train(cfg, log=lambda *_: None, progress=False)
    after = load_checkpoint(tmp_path / "run" / "last.safetensors").state_dict()
    enc_keys = [k for k in ref if k.startswith(ENCODER_PREFIXES)]
    dec_keys = [k for k in ref if k.startswith("mast3r.dec_blocks.")]  # DUNE-MASt3R nests the decoder
    assert enc_keys and dec_keys
    assert all(torch.equal(after[k], ref[k]) for k in enc_keys)
    assert any(not torch.equal(after[k], ref[k]) for k in dec_keys)
