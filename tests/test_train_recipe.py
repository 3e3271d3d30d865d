"""The full-scale recipe at tiny scale: human heads trained on top of official-format
checkpoints (the fixtures' tiny random-weight files: MASt3R/DUSt3R, and the paper's DUNE
encoder + DUNE-MASt3R decoder), encoder frozen, official weights carried over."""
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

from hamst3r_ros.train.loop import ENCODER_PREFIXES, TrainConfig, build_network, train  # noqa: E402

FIXTURES = Path(os.environ.get("HAMST3R_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))

#: name -> (decoder/full checkpoint, encoder file or None, crop (W, H), decoder key prefix,
#: instance-mask stride). DUNE's patch is 14 px: its crops and mask stride divide by 14 / 7;
#: DUNE-MASt3R nests the MASt3R decoder under ``mast3r.``.
RECIPES = {
    "mast3r": (FIXTURES / "mast3r" / "tiny_dust3r_linear.pth.xz", None, (64, 48), "dec_blocks.", 4),
    "dune_mast3r": (FIXTURES / "dune" / "tiny_dune_mast3r.pth", FIXTURES / "dune" / "tiny_dune_encoder.pth",
                    (84, 70), "mast3r.dec_blocks.", 7),
}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_official_checkpoint_gets_human_heads_and_trains(name, tmp_path):
    from hamst3r_ros.model.checkpoints import load_checkpoint
    from hamst3r_ros.synthetic.dataset import write_dataset
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    init, encoder, (w, h), dec_prefix, stride = RECIPES[name]
    for f in (init, encoder):
        if f is not None and not f.is_file():
            pytest.fail(f"fixture {f} is missing: CI must run with ../shared beside the clone")
    data = tmp_path / "set"
    scene = SyntheticScene(SceneConfig(seed=21, num_cameras=2, num_people=1, width=w, height=h))
    write_dataset(data, scene, scene.framesets(2), progress=False)
    cfg = TrainConfig.from_dict(dict(
        out=str(tmp_path / "run"), init=str(init), init_encoder=None if encoder is None else str(encoder),
        network={"human": {"num_queries": 4, "hidden_dim": 32, "num_layers": 1, "num_heads": 2, "mask_dim": 8,
                           "mask_stride": stride}},
        train_sets=[{"path": str(data), "human": True}], crop_sizes=[[w, h]], steps=3, batch_size=2,
        val_every=3, val_batches=1, ckpt_every=3, max_matches=64, threads=2))
    official = load_checkpoint(init, encoder)
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
    dec = [k for k in ref if k.startswith(dec_prefix)]
    assert enc and dec
    assert all(torch.equal(after[k], ref[k]) for k in enc)
    assert any(not torch.equal(after[k], ref[k]) for k in dec)
