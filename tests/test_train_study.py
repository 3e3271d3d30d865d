"""Design-study machinery (issue 22): recipes with ``extends`` and seed ranges, a CPU budget
that ends training and anneals the learning rate, precision chosen by the hardware, and the
convolutional backbone trained and reloaded through our checkpoint format."""
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

from hamst3r_ros.model import precision as P  # noqa: E402
from hamst3r_ros.train.loop import TrainConfig, _lr_at, train  # noqa: E402
from hamst3r_ros.train.recipe import expand_datasets, load_recipe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- recipes
def test_seed_ranges_expand_and_cycle_lists():
    sets = expand_datasets([{"seeds": [10, 14], "path": "d/s_{seed}", "human": True,
                             "synth": {"num_people": [1, 2], "placement": "wall"}}], "x")
    assert [s["path"] for s in sets] == [f"d/s_{k}" for k in range(10, 15)]
    assert [s["synth"]["num_people"] for s in sets] == [1, 2, 1, 2, 1]
    assert [s["synth"]["seed"] for s in sets] == list(range(10, 15))
    assert all(s["human"] and s["synth"]["placement"] == "wall" for s in sets)


@pytest.mark.parametrize("entry, message", [
    ({"seeds": [5, 3], "path": "a_{seed}"}, "first <= last"),
    ({"seeds": [1, 2], "path": "a"}, "containing '{seed}'"),
    ({"seeds": [1, 2], "path": "a_{seed}", "synth": {"num_people": []}}, "empty list"),
    ("not a mapping", "must be a mapping"),
])
def test_bad_seed_ranges_name_the_problem(entry, message):
    with pytest.raises(ValueError, match=message):
        expand_datasets([entry], "recipe.yaml")


def test_extends_overrides_and_adds(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "base.yaml").write_text(
        "steps: 10\nlr: 0.1\nout: runs/base\n"
        "train_sets:\n  - {seeds: [1, 2], path: 'data/t_{seed}', synth: {num_people: 1}}\n")
    (tmp_path / "sub" / "child.yaml").write_text(
        "extends: ../base.yaml\nlr: 0.2\nout: ../runs/child\n"
        "train_sets_add:\n  - {path: ../data/extra}\n")
    r = load_recipe(tmp_path / "sub" / "child.yaml")
    assert r["steps"] == 10 and r["lr"] == 0.2
    assert r["out"] == str((tmp_path / "runs" / "child").resolve())
    # Paths stay relative to the file that wrote them.
    assert [e["path"] for e in r["train_sets"]] == [str(tmp_path / "data" / f"t_{k}") for k in (1, 2)] + [
        str(tmp_path / "data" / "extra")]
    cfg = TrainConfig.from_dict(r, tmp_path / "sub")
    assert cfg.train_sets[0]["path"] == str(tmp_path / "data" / "t_1")


def test_extends_errors_are_one_line(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ValueError, match="loops back"):
        load_recipe(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: missing.yaml\n")
    with pytest.raises(ValueError, match="no such training recipe.*extended by"):
        load_recipe(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        load_recipe(tmp_path / "d.yaml")


def test_the_study_recipes_resolve():
    # Every candidate shares the data and budget of base.yaml and names its own network and output.
    names = ("vit_small", "conv", "conv_wide")
    cfgs = [TrainConfig.from_dict(load_recipe(ROOT / "config" / "study" / f"{n}.yaml"), ROOT / "config" / "study")
            for n in names]
    assert len({c.out for c in cfgs}) == 3
    assert all(c.cpu_budget_s > 0 and c.train_sets == cfgs[0].train_sets and c.val_sets == cfgs[0].val_sets
               for c in cfgs)
    train_seeds = {e["synth"]["seed"] for e in cfgs[0].train_sets}
    val_seeds = {e["synth"]["seed"] for e in cfgs[0].val_sets}
    assert len(train_seeds) == 48 and not train_seeds & val_seeds
    # No study seed is one of eval-system's held-out scenes.
    from hamst3r_ros.system_eval.scenes import DEFAULT_SEEDS
    assert not (train_seeds | val_seeds) & set(DEFAULT_SEEDS)


# ---------------------------------------------------------------- precision
def test_precision_auto_follows_the_cpu_flags(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags : fpu avx512f avx512_vnni\n")
    assert P.cpu_flags(info) == {"fpu", "avx512f", "avx512_vnni"}
    assert P.cpu_flags(tmp_path / "missing") == frozenset()
    monkeypatch.setattr(P, "cpu_has_fast_bf16", lambda: False)
    assert P.resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(P, "cpu_has_fast_bf16", lambda: True)
    assert P.resolve_precision("auto", "cpu") == "bf16"
    assert P.resolve_precision("fp32", "cpu") == "fp32"
    with pytest.raises(ValueError, match="expected one of auto, fp32, bf16"):
        P.resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="precision 'fp16'"):
        TrainConfig.from_dict({"precision": "fp16", "train_sets": [{"path": "x"}]})


def test_bf16_autocast_lowers_matmuls_only_inside():
    a = torch.randn(4, 4)
    with P.autocast("cpu", "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with P.autocast("cpu", "fp32"):
        assert (a @ a).dtype == torch.float32


# ---------------------------------------------------------------- budget and the conv backbone
def test_lr_anneals_over_the_cpu_budget():
    cfg = TrainConfig(train_sets=[{"path": "x"}], steps=100000, warmup=10, lr=1.0, cpu_budget_s=100.0)
    assert _lr_at(5, cfg, 0.0) == pytest.approx(0.6)
    assert _lr_at(20, cfg, 50.0) == pytest.approx(0.5, abs=1e-3)
    assert _lr_at(20, cfg, 100.0) == pytest.approx(0.0, abs=1e-9)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from hamst3r_ros.synthetic.dataset import write_dataset
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    out = tmp_path_factory.mktemp("study") / "set"
    scene = SyntheticScene(SceneConfig(seed=31, num_cameras=2, num_people=1, width=96, height=72, hfov_deg=80))
    write_dataset(out, scene, scene.framesets(2), progress=False)
    return out


def test_a_cpu_budget_ends_training_and_survives_resume(data, tmp_path):
    net = {"name": "hamst3r_tiny", "backbone": "conv", "conv_widths": [8, 8, 16, 16], "conv_blocks": [1, 0, 1, 1]}
    cfg = dict(out=str(tmp_path / "run"), network=net, train_sets=[{"path": str(data), "human": True}],
               crop_sizes=[[64, 48]], steps=10000, batch_size=2, val_every=10000, val_batches=1, ckpt_every=10000,
               max_matches=64, threads=1, cpu_budget_s=1.5, warmup=1)
    logs: list[str] = []
    r = train(TrainConfig.from_dict(cfg), log=logs.append, progress=False)
    steps = r["history"][-1]["step"]
    assert 0 < steps < 10000 and any("CPU budget" in line for line in logs)
    assert r["history"][-1]["cpu_s"] >= 1.5 and "val" in r["history"][-1]
    # The budget is for the recipe, not per run: a resumed run with budget left does little.
    cfg["cpu_budget_s"] = 1.5 + 1e-3
    r2 = train(TrainConfig.from_dict(cfg), log=logs.append, progress=False)
    assert r2["history"][-1]["step"] <= steps + 3
    from hamst3r_ros.model.checkpoints import load_checkpoint
    from hamst3r_ros.model.conv_embed import ConvPatchEmbed

    loaded = load_checkpoint(tmp_path / "run" / "last.safetensors")
    assert loaded.cfg.backbone == "conv" and isinstance(loaded.patch_embed, ConvPatchEmbed)
    assert loaded.cfg.conv_widths == (8, 8, 16, 16)


def test_conv_backbone_config_errors():
    from hamst3r_ros.model.config import NetConfig
    from hamst3r_ros.model.config_schema import ConfigValueError, check_network_json
    from hamst3r_ros.model.conv_embed import ConvPatchEmbed

    with pytest.raises(ValueError, match="needs conv_widths and conv_blocks"):
        NetConfig(backbone="conv")
    with pytest.raises(ValueError, match="need 4 entries each"):
        ConvPatchEmbed(16, 32, (8, 8), (1, 1))
    with pytest.raises(ValueError, match="power of two"):
        ConvPatchEmbed(14, 32, (8, 8), (1, 1))
    with pytest.raises(ConfigValueError, match="network.conv_widths"):
        check_network_json({"backbone": "conv", "conv_widths": [8, -1], "conv_blocks": [1, 1]})


def test_curves_of_a_run_table_and_picture(data, tmp_path):
    from hamst3r_ros.cli import main
    from hamst3r_ros.train.curves import curves_table, read_curve

    cfg = dict(out=str(tmp_path / "run"), network="hamst3r_tiny", train_sets=[{"path": str(data), "human": True}],
               crop_sizes=[[64, 48]], steps=4, batch_size=2, val_every=2, val_batches=1, ckpt_every=2,
               max_matches=64, threads=1, warmup=1)
    train(TrainConfig.from_dict(cfg), log=lambda *_: None, progress=False)
    c = read_curve(tmp_path / "run")
    assert c.steps == [2, 4] and c.cpu_s[0] <= c.cpu_s[1] and len(c.values["depth_inlier"]) == 2
    assert len(curves_table([c]).splitlines()) == 4
    png = tmp_path / "c.png"
    assert main(["curves", str(tmp_path / "run"), "--png", str(png)]) == 0 and png.stat().st_size > 1000
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="list of step records"):
        read_curve(tmp_path / "bad.json")
    assert main(["curves", str(tmp_path / "missing")]) == 2
