"""The real pipeline (FrameSet -> SceneResult) end to end on a synthetic frame set, with a
tiny randomly initialised network: every stage runs and the outputs honour the contract."""
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

from hamst3r_ros.model.hamst3r import build_model  # noqa: E402
from hamst3r_ros.pipeline import Hamst3rPipeline, PipelineConfig, _load_extrinsics, build_pipeline  # noqa: E402


@pytest.fixture(scope="module")
def framesets():
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    scene = SyntheticScene(SceneConfig(seed=3, num_cameras=3, num_people=2, width=160, height=128))
    return [scene.frameset(k).to_frameset(with_intrinsics=True) for k in range(2)]


def _check(res, fs):
    m = len(res.points)
    assert res.points.shape == (m, 3) and res.colors.shape == (m, 3) and res.colors.dtype == np.uint8
    assert res.confidence.shape == (m,) and res.instance.shape == (m,) and res.body_coords.shape == (m, 3)
    assert res.T_fixed_cam.shape == (len(fs.frames), 4, 4) and res.K.shape == (len(fs.frames), 3, 3)
    assert res.camera_names == fs.names and res.stamp_ns == fs.stamp_ns
    assert np.isfinite(res.points).all()
    assert {"encode", "decode", "align", "fuse"} <= set(res.timings_s)


def test_pipeline_runs_every_stage_and_warm_starts(framesets):
    import torch

    from hamst3r_ros.pipeline import _build_people

    model = build_model("hamst3r_tiny", seed=0)
    cfg = PipelineConfig(min_confidence=0.0)
    # The people stage as from_config builds it (Anny): ids, DensePose, tracking, body fits.
    pipe = Hamst3rPipeline(model, cfg, people=_build_people(cfg, torch.device("cpu"), model.body_model))
    r0 = pipe.process(framesets[0])
    _check(r0, framesets[0])
    assert "humans" in r0.timings_s
    assert pipe.last_alignment.mode.startswith("global")
    r1 = pipe.process(framesets[1])
    _check(r1, framesets[1])
    assert pipe.last_alignment.mode != "global"  # the second set starts from the first's solution
    assert "humans" in r1.timings_s
    assert all(h.track_id > 0 and h.velocity.shape == (3,) for h in r1.humans)
    # Intrinsics from CameraInfo are honoured at the input resolution.
    assert np.allclose(r1.K[0], framesets[1].frames[0].K, rtol=1e-6)


def test_known_extrinsics_make_the_output_metric(framesets, tmp_path):
    fs = framesets[0]
    # Poses of all cameras from the synthetic ground truth: the output is metric and the
    # cameras sit exactly where they were given (fixed priors).
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    gt = SyntheticScene(SceneConfig(seed=3, num_cameras=3, num_people=2, width=160, height=128)).frameset(0)
    extr = {c.name: c.T_fixed_cam for c in gt.cameras}
    pipe = Hamst3rPipeline(build_model("hamst3r_tiny", seed=0), PipelineConfig(extrinsics=extr, min_confidence=0.0))
    res = pipe.process(fs)
    assert res.metric
    assert np.allclose(res.T_fixed_cam, np.stack([extr[n] for n in res.camera_names]), atol=1e-6)


def test_pipeline_refuses_one_camera_and_bad_settings(framesets, tmp_path):
    pipe = Hamst3rPipeline(build_model("hamst3r_tiny", seed=0), PipelineConfig())
    fs = framesets[0]
    one = type(fs)(frames=fs.frames[:1], stamp_ns=fs.stamp_ns)
    with pytest.raises(ValueError, match="at least 2 cameras"):
        pipe.process(one)
    bad = tmp_path / "extr.yaml"
    bad.write_text("cam0: {translation: [0, 0]}\n")
    with pytest.raises(ValueError, match="cam0"):
        _load_extrinsics(str(bad))
    with pytest.raises((ValueError, FileNotFoundError)):
        build_pipeline({"checkpoint": str(tmp_path / "missing.safetensors"), "device": "cpu"})


def test_large_rigs_choose_their_pairs_by_how_well_they_agreed():
    """pair_strategy 'confidence' (what 'auto' does beyond 8 cameras): the first set decodes a
    sliding window; later sets a spanning tree plus each camera's 2 best partners, chosen by
    how well each decoded pair agreed with the solutions so far (by camera name)."""
    from hamst3r_ros.geometry import pair_graph
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    scene = SyntheticScene(SceneConfig(seed=4, num_cameras=7, num_people=0, width=96, height=64))
    sets = [scene.frameset(k).to_frameset(with_intrinsics=True) for k in range(2)]
    pipe = Hamst3rPipeline(build_model("hamst3r_tiny", seed=0), PipelineConfig(min_confidence=0.0,
                                                                              pair_strategy="confidence"))
    used = []
    orig = pipe.model.decode_pairs
    pipe.model.decode_pairs = lambda feats, pairs, **kw: used.append(list(pairs)) or orig(feats, pairs, **kw)
    pipe.process(sets[0])
    assert used[0] == pair_graph.sliding_window_pairs(7)
    scores = pipe._scores_for(sets[1].names)
    assert scores.shape == (7, 7) and np.isfinite(scores[0, 1]) and np.isinf(scores[0, 0])
    pipe.process(sets[1])
    assert used[1] == pair_graph.confidence_pairs(scores)
    assert len(used[1]) < 7 * 6  # fewer than the complete graph's 42 ordered pairs
    pipe.reset()
    assert pipe._scores_for(sets[1].names) is None


def test_live_parameters_apply_from_the_next_frame_set(framesets):
    """update_params (the node's live parameters, node names) changes the fused cloud's filter of
    the next process() call, and the people stage's fit cadence."""
    from types import SimpleNamespace

    from hamst3r_ros.human.people import PeopleConfig

    pipe = Hamst3rPipeline(build_model("hamst3r_tiny", seed=0), PipelineConfig(min_confidence=0.0))
    n0 = len(pipe.process(framesets[0]).points)
    pipe.update_params({"voxel_size": 0.5, "max_points": 40, "min_views_agree": 0, "cameras": ["ignored"]})
    assert (pipe.fusion_options.voxel_size, pipe.fusion_options.max_points) == (0.5, 40)
    res = pipe.process(framesets[1])
    assert 0 < len(res.points) <= 40 < n0
    cells = np.floor(res.points / 0.5).astype(np.int64)
    assert len(np.unique(cells, axis=0)) == len(cells)  # one point per 0.5 m voxel
    assert pipe.config.min_confidence == 0.0  # what was not given stays
    people = SimpleNamespace(config=PeopleConfig(fit_every=1))
    pipe = Hamst3rPipeline(None, PipelineConfig(), people=people)
    pipe.update_params({"body_fit_every": 4, "view_agreement_tolerance": 0.1})
    assert people.config.fit_every == 4 and pipe.config.body_fit_every == 4
    assert pipe.fusion_options.agree_rel_tol == 0.1
