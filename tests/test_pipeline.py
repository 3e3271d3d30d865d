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
    # the tiny random model's descriptor matches do no better than chance: depth left as it is
    assert "depth_refine" in r0.timings_s and r0.depth_refine == "corrected 0/3 views (0 matches used)"
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
    pipe.update_params({"body_fit_every": 4, "view_agreement_tolerance": 0.1, "refine_depth": False,
                        "refine_depth_min_matches": 50})
    assert people.config.fit_every == 4 and pipe.config.body_fit_every == 4
    assert pipe.fusion_options.agree_rel_tol == 0.1
    assert pipe.config.refine_depth is False and pipe.config.refine_depth_min_matches == 50


class _GivenPredictions:
    """A stand-in for the network that returns fixed pair predictions (the box room's, with a
    smooth depth error and true descriptors): the pipeline's geometry stages on known inputs."""

    has_human_heads = False
    body_model = None

    def __init__(self, preds):
        self.by_pair = {(p.i, p.j): p for p in preds}

    def preprocess(self, image):
        from types import SimpleNamespace

        return SimpleNamespace(tensor=None, image_u8=image)

    def encode(self, tensors):
        return None

    def decode_pairs(self, feats, pairs):
        return [self.by_pair[(i, j)] for i, j in pairs]


@pytest.mark.parametrize("refine", [True, False])
def test_the_depth_refine_stage_corrects_the_cloud_from_true_matches(refine):
    """Posed box room, every view's depth off by a smooth error of up to 20 % that its pointmaps
    agree on, descriptors true for 70 % of the pixels: the depth_refine stage brings the cloud
    within a few cm of the truth (median distance to the true surface, measured: 11.3 cm off, 2.5 cm on)."""
    from scipy.spatial import cKDTree

    from hamst3r_ros.geometry.box_room import make_scene, pair_predictions, smooth_log_depth_error
    from hamst3r_ros.geometry.pair_graph import make_pairs
    from hamst3r_ros.types import CameraFrame, FrameSet

    w, h = 96, 72
    sc = make_scene(4, w, h, seed=0)
    preds = pair_predictions(sc, make_pairs(4, "complete"), 0.01, 0.0, seed=1, desc_dim=32,
                             depth_error=smooth_log_depth_error(4, w, h, 0.2, seed=5), desc_outliers=0.3)
    names = [f"cam{k}" for k in range(4)]
    cfg = PipelineConfig(extrinsics=dict(zip(names, sc.T_world_cam)), min_confidence=0.0, refine_depth=refine)
    pipe = Hamst3rPipeline(_GivenPredictions(preds), cfg)
    fs = FrameSet([CameraFrame(n, sc.colors[k], 1000, f"{n}_optical", K=sc.K[k]) for k, n in enumerate(names)], 1000)
    res = pipe.process(fs)
    dist = float(np.median(cKDTree(sc.points.reshape(-1, 3)).query(res.points)[0]))
    if refine:
        assert res.depth_refine == f"corrected 4/4 views ({res.depth_refine.split('(')[1].split()[0]} matches used)"
        assert "depth_refine" in res.timings_s and dist < 0.04, (dist, res.depth_refine)
    else:
        assert res.depth_refine == "" and "depth_refine" not in res.timings_s and dist > 0.08, dist


def test_with_points_replaces_points_and_recomputes_their_depth():
    from hamst3r_ros.geometry.alignment import AlignmentResult, AlignmentState
    from hamst3r_ros.geometry.sim3 import rotation_from_axis_angle
    from hamst3r_ros.pipeline import with_points

    H, W = 6, 8
    T = np.eye(4)
    T[:3, :3] = rotation_from_axis_angle(np.array([0.3, -0.2, 0.1]))
    T[:3, 3] = [1.0, -2.0, 0.5]
    K = np.array([[10.0, 0, W / 2], [0, 10.0, H / 2], [0, 0, 1]])
    v, u = np.mgrid[0:H, 0:W]
    depth = 2.0 + 0.1 * u
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones((H, W))], -1)
    pts = ((rays * depth[..., None]) @ T[:3, :3].T + T[:3, 3]).astype(np.float32)
    res = AlignmentResult(
        camera_names=["a"], T_fixed_cam=T[None].copy(), K_net=K[None], K=K[None], depth=[depth.astype(np.float32)],
        points=[pts], confidence=[np.ones((H, W), np.float32)], view_scale=np.ones(1), pair_scale={},
        pair_score=np.zeros((1, 1)), metric=True, scale_note="metric", residual=np.zeros(1), mode="global",
        iterations=0, time_s=0.0, state=AlignmentState())
    moved = pts.copy()
    moved[1:3, 2:5] = T[:3, 3] + 1.3 * (pts[1:3, 2:5] - T[:3, 3])  # a segment pushed 30% along its rays
    moved[0, 0] = np.nan
    out = with_points(res, {0: moved})
    np.testing.assert_array_equal(out.points[0][1:3, 2:5], moved[1:3, 2:5])
    np.testing.assert_allclose(out.depth[0][1:3, 2:5], 1.3 * depth[1:3, 2:5], rtol=1e-5)
    np.testing.assert_allclose(out.depth[0][3:], depth[3:], rtol=1e-5)
    assert out.depth[0][0, 0] == res.depth[0][0, 0]  # no point, the depth is kept
    assert res.points[0] is pts and np.isfinite(pts[0, 0]).all()  # the input is untouched


def test_the_body_fit_trusts_densepose_as_much_as_the_model_says(tmp_path):
    """The pose-prior weight of the fit comes from the checkpoint's human heads: the embedded
    model's DensePose is too noisy to bend limbs after (its JSON says 0.2), a model that says
    nothing gets the fit's default."""
    from hamst3r_ros.human.body_fit import FitConfig
    from hamst3r_ros.model.checkpoints import save_hamst3r

    embedded = Hamst3rPipeline.from_config(PipelineConfig(device="cpu"))
    assert embedded.model.cfg.human.fit_pose_prior == 0.2
    assert embedded.people.fitter.config.publish_pose_weight == 0.2
    net = build_model("hamst3r_tiny", seed=0).net
    save_hamst3r(net, tmp_path / "plain")
    plain = Hamst3rPipeline.from_config(PipelineConfig(device="cpu", checkpoint=str(tmp_path / "plain.safetensors")))
    assert plain.people.fitter.config.publish_pose_weight is None
    assert plain.people.fitter.config.pose_weight == FitConfig().pose_weight == 2e-4
    net.cfg.human.fit_pose_prior = 3.5
    save_hamst3r(net, tmp_path / "sure")
    sure = Hamst3rPipeline.from_config(PipelineConfig(device="cpu", checkpoint=str(tmp_path / "sure.safetensors")))
    assert sure.people.fitter.config.publish_pose_weight == 3.5
