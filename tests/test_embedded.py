"""The embedded default model ships with the package, loads, and runs the real pipeline."""
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

from hamst3r_ros.model.embedded import embedded_checkpoint  # noqa: E402


def test_embedded_model_is_small_complete_and_documented():
    path = embedded_checkpoint()
    assert path.stat().st_size < 25 * 2**20
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["body_model"] == "anny" and meta["storage_dtype"] == "float16"
    assert meta["training"]["step"] > 0 and "val_metrics" in meta["training"]
    from hamst3r_ros.model.checkpoints import load_checkpoint

    net = load_checkpoint(path)
    assert net.has_human_heads and net.cfg.image_size == 224


def test_embedded_model_runs_the_pipeline_by_default():
    from hamst3r_ros.pipeline import Hamst3rPipeline, PipelineConfig
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    gt = SyntheticScene(SceneConfig(seed=5, num_cameras=3, num_people=1, width=160, height=120)).frameset(0)
    pipe = Hamst3rPipeline.from_config(PipelineConfig(device="cpu", min_confidence=0.0, fit_bodies=False))
    res = pipe.process(gt.to_frameset(with_intrinsics=True))
    assert len(res.points) > 0 and np.isfinite(res.points).all()
    assert res.camera_names == [c.name for c in gt.cameras]
