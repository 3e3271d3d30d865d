"""Training end to end on a fixed small synthetic set: every loss falls, held-out metrics beat
trivial baselines, checkpoints resume. Tiny network and images, so it runs in CI on 2 cores."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

from hamst3r_ros.train.data import PairSampler  # noqa: E402
from hamst3r_ros.train.loop import TrainConfig, train  # noqa: E402
from hamst3r_ros.train.metrics import depth_metrics  # noqa: E402


def _write(out: Path, seed: int, frames: int):
    from hamst3r_ros.synthetic.dataset import write_dataset
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    scene = SyntheticScene(SceneConfig(seed=seed, num_cameras=3, num_people=2, width=96, height=72, hfov_deg=80))
    write_dataset(out, scene, scene.framesets(frames), progress=False)
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    return _write(root / "train", seed=11, frames=4), _write(root / "val", seed=12, frames=2)


def _cfg(data, out, steps, ckpt_every=50):
    train_dir, val_dir = data
    return TrainConfig.from_dict(dict(
        out=str(out), network="hamst3r_tiny", train_sets=[{"path": str(train_dir), "human": True}],
        val_sets=[{"path": str(val_dir)}], crop_sizes=[[80, 64]], steps=steps, batch_size=4, lr=2e-3,
        warmup=20, val_every=steps, ckpt_every=ckpt_every, val_batches=4, max_matches=256, threads=2, seed=0))


def test_losses_fall_and_heldout_beats_baselines(data, tmp_path):
    steps = 200
    r = train(_cfg(data, tmp_path / "run", steps), log=lambda *_: None, progress=False)
    hist = r["history"]
    for key in ("regr", "match", "seg", "dp", "mask"):
        first = np.mean([h[key] for h in hist[:25]])
        last = np.mean([h[key] for h in hist[-25:]])
        assert last < 0.9 * first, f"{key} did not fall: {first:.4f} -> {last:.4f}"
    # Held-out scenes (other seed) against trivial predictors on the same pairs: a constant
    # depth, the mean template coordinate, and a constant body probability (which cannot
    # separate body from background pixels).
    from hamst3r_ros.model.checkpoints import load_checkpoint
    from hamst3r_ros.train.loop import forward

    net = load_checkpoint(tmp_path / "run" / "last.safetensors").eval()
    val = PairSampler([(data[1], True)], [(80, 64)], seed=12345, colour_jitter=0.0, max_frame_gap=0)
    inl, base_inl, dp_err, base_dp, on_body, off_body = [], [], [], [], [], []
    with torch.no_grad():
        for _ in range(4):
            b = val.sample(4)
            v1 = forward(net, b.img1, b.img2, False).view1
            for k in range(4):
                gt = np.nan_to_num(b.depth1[k].numpy())
                inl.append(depth_metrics(v1.pts3d[k, ..., 2].numpy(), gt)[1])
                base_inl.append(depth_metrics(np.ones_like(gt), gt)[1])
                body = b.body1[k].numpy()
                if body.any():
                    err = np.linalg.norm(v1.dp[k].numpy()[body] - b.dp1[k].numpy()[body], axis=-1)
                    dp_err.append(err.mean())
                    base_dp.append(np.linalg.norm(b.dp1[k].numpy()[body] - 0.5, axis=-1).mean())
                    prob = v1.body_logits[k].sigmoid().numpy()
                    on_body.append(prob[body].mean())
                    off_body.append(prob[~body].mean())
    assert np.mean(inl) > np.mean(base_inl)
    assert np.mean(dp_err) < np.mean(base_dp)
    # The body mask is 5 % of these small images: in 200 steps it only starts to separate.
    assert np.mean(on_body) > np.mean(off_body)
    assert r["metrics"] is not None and np.isfinite(r["metrics"].depth_abs_rel)


def test_resume_continues_from_the_last_checkpoint(data, tmp_path):
    out = tmp_path / "run"
    train(_cfg(data, out, 4, ckpt_every=4), log=lambda *_: None, progress=False)
    logs = []
    r = train(_cfg(data, out, 6, ckpt_every=4), log=logs.append, progress=False)
    assert any("resumed" in line and "step 4" in line for line in logs)
    # The history of the first run is kept: the curve of a resumed recipe is whole.
    assert [h["step"] for h in r["history"]] == [1, 2, 3, 4, 5, 6]
    from hamst3r_ros.model.checkpoints import load_checkpoint
    net = load_checkpoint(out / "last.safetensors")
    assert net.has_human_heads and net.cfg.human.body_model == "anny"


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="unknown keys \\['stepz'\\]"):
        TrainConfig.from_dict({"stepz": 3, "train_sets": [{"path": "x"}]})
    with pytest.raises(ValueError, match="train_sets is empty"):
        TrainConfig.from_dict({})


def test_the_shipped_recipes_parse():
    # The embedded model's seven-stage recipe is documented in the README: every file must load
    # as it is (unknown keys are an error), each stage starting from the previous one's output,
    # and each later stage holding only what changes (extends: the previous stage).
    import yaml

    from hamst3r_ros.train.loop import TrainConfig
    from hamst3r_ros.train.recipe import load_recipe

    root = Path(__file__).resolve().parents[1] / "config"
    stages = [TrainConfig.from_dict(load_recipe(root / name), root)
              for name in ("train_embedded_stage1.yaml", "train_embedded_stage2.yaml", "train_embedded_stage3.yaml",
                           "train_embedded_stage4.yaml", "train_embedded_stage5.yaml", "train_embedded_stage6.yaml",
                           "train_embedded.yaml")]
    for prev, cur in zip(stages, stages[1:]):
        assert cur.init == str(Path(prev.out) / "last.safetensors")
        assert cur.train_sets[: len(prev.train_sets)] == prev.train_sets
    raw = [yaml.safe_load((root / name).read_text()) for name in ("train_embedded_stage2.yaml", "train_embedded.yaml")]
    assert all("extends" in r and "train_sets" not in r for r in raw)
    assert stages[2].network["human"]["image_refine"] > 0
    train_seeds = {e["synth"]["seed"] for s in stages for e in s.train_sets}
    val_seeds = {e["synth"]["seed"] for s in stages for e in s.val_sets}
    assert train_seeds and val_seeds and not train_seeds & val_seeds


def test_a_trained_model_extended_with_image_refinement_predicts_as_before(tmp_path):
    # Stage 3 of the embedded recipe: `init` + `network: {human: {image_refine: C}}` keeps every
    # trained weight and adds the refiner with zero output layers, so training resumes from
    # exactly the start model's predictions.
    from hamst3r_ros.model.checkpoints import save_hamst3r
    from hamst3r_ros.model.hamst3r import build_model
    from hamst3r_ros.train.loop import build_network, forward

    base = build_model("hamst3r_tiny", seed=3).net.eval()
    save_hamst3r(base, tmp_path / "base")
    cfg = TrainConfig.from_dict(dict(init=str(tmp_path / "base.safetensors"), train_sets=[{"path": "x"}],
                                     network={"name": "hamst3r_tiny", "human": {"image_refine": 8}}))
    net = build_network(cfg).eval()
    assert net.cfg.human.image_refine == 8 and net.cfg.human.num_queries == base.cfg.human.num_queries
    g = torch.Generator().manual_seed(0)
    img1, img2 = (torch.rand(2, 3, 32, 48, generator=g) * 2 - 1 for _ in range(2))
    with torch.no_grad():
        a, b = forward(net, img1, img2, False), forward(base, img1, img2, False)
    torch.testing.assert_close(a.class_logits, b.class_logits, rtol=0, atol=0)
    for va, vb in zip(a.views, b.views):
        for k in ("pts3d", "conf", "desc", "desc_conf", "dp", "body_logits"):
            torch.testing.assert_close(getattr(va, k), getattr(vb, k), rtol=0, atol=0)
        # the mask logits now come at stride 2: the old stride-4 logits, resampled
        assert va.mask_logits.shape[-2:] == (16, 24)
        old = torch.nn.functional.interpolate(vb.mask_logits, size=(16, 24), mode="bilinear", align_corners=False)
        torch.testing.assert_close(va.mask_logits, old, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="network.human"):
        build_network(TrainConfig.from_dict(dict(init=str(tmp_path / "base.safetensors"), train_sets=[{"path": "x"}],
                                                 network={"human": {"image_refin": 8}})))


def test_the_full_scale_recipe_parses():
    import yaml

    from hamst3r_ros.model.config import HumanHeadsConfig
    from hamst3r_ros.train.loop import TrainConfig

    root = Path(__file__).resolve().parents[1] / "config"
    cfg = TrainConfig.from_dict(yaml.safe_load((root / "train_full_dune_mast3r.yaml").read_text()), root)
    assert not cfg.train_encoder and cfg.init and cfg.init_encoder
    heads = HumanHeadsConfig(**cfg.network["human"])
    assert 14 % heads.mask_stride == 0  # DUNE patches are 14 px
    assert all(w % 14 == 0 and h % 14 == 0 and max(w, h) <= 518 for w, h in cfg.crop_sizes)
    for entry in cfg.train_sets + cfg.val_sets:
        s = entry["synth"]
        assert all(w <= s["width"] and h <= s["height"] for w, h in cfg.crop_sizes), entry["path"]


def test_a_missing_start_checkpoint_is_a_clear_error(tmp_path, capsys):
    from hamst3r_ros.cli import main

    cfg = tmp_path / "t.yaml"
    cfg.write_text("init: nothing/last.safetensors\ntrain_sets: [{path: data}]\n")
    assert main(["train", str(cfg)]) == 2
    out = capsys.readouterr().out
    assert "init" in out and str(tmp_path / "nothing" / "last.safetensors") in out
