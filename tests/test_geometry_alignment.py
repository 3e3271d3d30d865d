"""Global and incremental alignment on exact box-room pointmaps degraded like a network's
(1% depth noise, 5% outliers with normal confidences, unknown per-pair scale)."""
from dataclasses import replace

import numpy as np
import pytest

from hamst3r_ros.geometry.alignment import (AlignmentOptions, CameraPrior, global_alignment,
                                            incremental_alignment)
from hamst3r_ros.geometry.box_room import make_scene, pair_predictions, render_scene
from hamst3r_ros.geometry.metrics import camera_metrics
from hamst3r_ros.geometry.pair_graph import complete_pairs, sliding_window_pairs
from hamst3r_ros.geometry.sim3 import rotation_angle_deg, rotation_from_axis_angle, umeyama

N = 4
NAMES = [f"cam{k}" for k in range(N)]
DEGRADE = dict(noise=0.01, outliers=0.05, scale_range=(0.8, 1.25))


@pytest.fixture(scope="module")
def scene():
    return make_scene(N, 48, 36, seed=1)


@pytest.fixture(scope="module")
def frames(scene):
    """Two frame sets of the same static rig (independent network noise)."""
    return [pair_predictions(scene, complete_pairs(N), seed=s, **DEGRADE) for s in (2, 3)]


def _pose_gap(A, B):
    """Max rotation (deg) and centre (units) difference between two (N, 4, 4) pose sets."""
    rot = max(float(rotation_angle_deg(a[:3, :3].T @ b[:3, :3])) for a, b in zip(A, B))
    return rot, float(np.max(np.linalg.norm(A[:, :3, 3] - B[:, :3, 3], axis=1)))


def _to_gt_frame(T_pred, T_gt):
    """Express predicted poses in the ground truth's frame and scale (Sim(3) on centres)."""
    G = umeyama(T_pred[:, :3, 3], T_gt[:, :3, 3])
    out = T_pred.copy()
    out[:, :3, :3] = G.R @ T_pred[:, :3, :3]
    out[:, :3, 3] = G.apply(T_pred[:, :3, 3])
    return out


def test_global_alignment_acceptance(scene, frames):
    res = global_alignment(frames[0], NAMES)
    m = camera_metrics(res.T_fixed_cam, scene.T_world_cam)
    assert m.rra[5.0] == 1.0 and m.rta[5.0] == 1.0
    assert m.max_rot_err_deg < 1.0 and m.s_cca[10.0] == 1.0
    assert res.mode == "global" and not res.metric and "network scale" in res.scale_note
    # focal lengths estimated from the pointmaps alone
    np.testing.assert_allclose(res.K_net[:, 0, 0], scene.K[:, 0, 0], rtol=0.02)
    # the anchor holds the gauge: camera 0 at the origin
    np.testing.assert_allclose(res.T_fixed_cam[0], np.eye(4), atol=1e-9)
    assert res.state.anchor == "cam0" and len(res.depth) == N and res.depth[0].shape == (36, 48)


def test_known_intrinsics_and_extrinsics_give_metric_points_within_2cm(scene, frames):
    priors = [CameraPrior(K=scene.K[v], T_fixed_cam=scene.T_world_cam[v]) for v in range(N)]
    res = global_alignment(frames[0], NAMES, priors)
    assert res.metric and res.scale_note.startswith("metric")
    np.testing.assert_allclose(res.T_fixed_cam, scene.T_world_cam, atol=1e-12)
    err = np.concatenate([np.linalg.norm(res.points[v] - scene.points[v], axis=-1).ravel() for v in range(N)])
    assert np.median(err) < 0.02
    depth_err = np.abs(res.depth[1] - scene.depth(1))
    assert np.median(depth_err) < 0.02


def test_two_extrinsics_make_the_output_metric_and_one_does_not(scene, frames):
    two = [CameraPrior(T_fixed_cam=scene.T_world_cam[v]) if v < 2 else None for v in range(N)]
    res = global_alignment(frames[0], NAMES, two)
    assert res.metric
    m = camera_metrics(res.T_fixed_cam, scene.T_world_cam)
    assert m.te < 0.02 and m.rra[5.0] == 1.0
    one = [CameraPrior(T_fixed_cam=scene.T_world_cam[0])] + [None] * (N - 1)
    res1 = global_alignment(frames[0], NAMES, one)
    assert not res1.metric
    np.testing.assert_allclose(res1.T_fixed_cam[0], scene.T_world_cam[0], atol=1e-12)


def test_soft_extrinsic_priors_pull_towards_the_prior(scene, frames):
    rng = np.random.default_rng(0)
    off = scene.T_world_cam.copy()
    off[:, :3, 3] += rng.normal(0, 0.05, (N, 3))  # priors 5 cm off
    weak = global_alignment(frames[0], NAMES, [CameraPrior(T_fixed_cam=T, fixed=False, weight=0.01) for T in off])
    strong = global_alignment(frames[0], NAMES, [CameraPrior(T_fixed_cam=T, fixed=False, weight=100.0) for T in off])
    assert weak.metric and strong.metric
    d_weak = np.linalg.norm(weak.T_fixed_cam[:, :3, 3] - off[:, :3, 3], axis=1).mean()
    d_strong = np.linalg.norm(strong.T_fixed_cam[:, :3, 3] - off[:, :3, 3], axis=1).mean()
    assert d_strong < 0.01 < d_weak
    # the data still shape the weakly-held rig: relative rotations are right
    assert camera_metrics(weak.T_fixed_cam, scene.T_world_cam).max_rot_err_deg < 1.0


def test_intrinsics_at_input_resolution_are_rescaled(scene, frames):
    K_in = scene.K[0].copy()
    K_in[:2] *= 2.0
    K_in[0, 2] = (scene.K[0, 0, 2] + 0.5) * 2 - 0.5
    K_in[1, 2] = (scene.K[0, 1, 2] + 0.5) * 2 - 0.5
    priors = [CameraPrior(K=K_in, image_size=(96, 72))] + [None] * (N - 1)
    res = global_alignment(frames[0], NAMES, priors)
    np.testing.assert_allclose(res.K_net[0], scene.K[0], atol=1e-9)
    np.testing.assert_allclose(res.K[0], K_in, atol=1e-9)


@pytest.mark.parametrize("with_priors", [False, True])
def test_incremental_converges_to_the_cold_solution(scene, frames, with_priors):
    priors = [CameraPrior(T_fixed_cam=scene.T_world_cam[v]) if v < 2 else None for v in range(N)] if with_priors else None
    prev = global_alignment(frames[0], NAMES, priors)
    warm = incremental_alignment(frames[1], NAMES, prev.state, priors)
    cold = global_alignment(frames[1], NAMES, priors, AlignmentOptions(iters_global=100))
    assert warm.mode == "incremental"
    assert warm.iterations < cold.iterations
    if with_priors:
        rot, trans = _pose_gap(warm.T_fixed_cam, cold.T_fixed_cam)
    else:  # different scale gauges (previous frame's vs this frame's network scale)
        rot, trans = _pose_gap(_to_gt_frame(warm.T_fixed_cam, scene.T_world_cam),
                               _to_gt_frame(cold.T_fixed_cam, scene.T_world_cam))
    assert rot < 0.1 and trans < 0.01
    # the world scale stays that of the previous solve
    assert warm.state.rig_size == pytest.approx(prev.state.rig_size, rel=0.01)


def test_a_camera_dropping_out_leaves_the_others_aligned(scene, frames):
    prev = global_alignment(frames[0], NAMES)
    keep = [0, 1, 3]
    remap = {v: k for k, v in enumerate(keep)}
    sub = [replace(p, i=remap[p.i], j=remap[p.j]) for p in frames[1] if p.i in remap and p.j in remap]
    names = [NAMES[v] for v in keep]
    res = incremental_alignment(sub, names, prev.state)
    assert res.mode == "incremental" and res.camera_names == names
    rot, trans = _pose_gap(res.T_fixed_cam, prev.T_fixed_cam[keep])
    assert rot < 0.2 and trans < 0.02 * prev.state.rig_size
    # the absent camera is remembered, and comes back without a cold start
    assert "cam2" in res.state.T_fixed_cam
    back = incremental_alignment(frames[0], NAMES, res.state)
    assert back.mode == "incremental"


def test_a_moved_camera_is_detected_within_two_sets_and_the_others_keep_their_poses(scene, frames):
    res = global_alignment(frames[0], NAMES)
    for s in (3, 5, 6):  # the static rig converges, never restarts
        res = incremental_alignment(pair_predictions(scene, complete_pairs(N), seed=s, **DEGRADE), NAMES, res.state)
        assert res.mode == "incremental"
    assert res.rig_state == "converging" and res.state.fused["cam1"] == 4
    before = res.T_fixed_cam.copy()
    T = scene.T_world_cam.copy()
    T[2, :3, :3] = rotation_from_axis_angle(np.array([0, 0, np.radians(15)])) @ T[2, :3, :3]
    T[2, :3, 3] += [0.4, -0.3, 0.0]
    moved = render_scene(T, 48, 36)
    first = incremental_alignment(pair_predictions(moved, complete_pairs(N), seed=4, **DEGRADE), NAMES, res.state)
    # one set is no evidence (the moved camera's wrong start may disturb a neighbour's measurement)
    assert first.rig_state.startswith("deviating: cam2") and first.mode == "incremental"
    second = incremental_alignment(pair_predictions(moved, complete_pairs(N), seed=7, **DEGRADE), NAMES, first.state)
    assert second.mode == "incremental (re-localised: cam2 moved)" and second.rig_state == "re-localised: cam2"
    m = camera_metrics(second.T_fixed_cam, moved.T_world_cam)
    assert m.rra[5.0] == 1.0 and m.max_rot_err_deg < 2.0
    for v in (0, 1, 3):  # the cameras that did not move kept their poses
        np.testing.assert_allclose(second.T_fixed_cam[v], before[v], atol=1e-9)


def test_a_static_rig_with_noisy_predictions_never_restarts(scene):
    """Pointmaps as bad as a young network's (30% depth noise, a third outliers): every
    set's measurement is off, but no deviation repeats itself, so nothing restarts."""
    bad = dict(noise=0.3, outliers=0.3, scale_range=(0.5, 2.0))
    res = global_alignment(pair_predictions(scene, complete_pairs(N), seed=20, **bad), NAMES)
    modes = []
    for s in range(21, 29):
        res = incremental_alignment(pair_predictions(scene, complete_pairs(N), seed=s, **bad), NAMES, res.state)
        modes.append(res.mode)
    assert sum("re-initialised" in m or "re-localised" in m for m in modes) <= 1, modes


def test_new_camera_triggers_reinitialisation(scene, frames):
    prev = global_alignment(frames[0], NAMES)
    res = incremental_alignment(frames[1], NAMES[:3] + ["cam9"], prev.state)
    assert "new cameras" in res.mode


def test_sparse_sliding_window_graph_with_eight_cameras():
    sc = make_scene(8, 48, 36, seed=5)
    preds = pair_predictions(sc, sliding_window_pairs(8, 2), seed=6, **DEGRADE)
    res = global_alignment(preds, [f"c{k}" for k in range(8)], options=AlignmentOptions(n_subsample=1024))
    m = camera_metrics(res.T_fixed_cam, sc.T_world_cam)
    assert m.rra[5.0] == 1.0 and m.rta[5.0] == 1.0


def test_bad_inputs_are_named(scene, frames):
    with pytest.raises(ValueError, match="at least one"):
        global_alignment([], NAMES)
    with pytest.raises(ValueError, match=r"cameras \[4\] appear in no"):
        global_alignment(frames[0], NAMES + ["cam4"])
    with pytest.raises(ValueError, match="camera priors"):
        global_alignment(frames[0], NAMES, [None])
    one_way = [p for p in frames[0] if p.i < p.j]
    with pytest.raises(ValueError, match="never the first view"):
        global_alignment(one_way, NAMES)
    with pytest.raises(ValueError, match=r"intrinsics must be \(3, 3\)"):
        global_alignment(frames[0], NAMES, [CameraPrior(K=np.eye(4))] + [None] * 3)


def test_mutual_nearest_neighbours():
    from hamst3r_ros.geometry.alignment import mutual_nearest_neighbours
    a = np.eye(4)[[0, 1, 2]]
    b = np.eye(4)[[2, 0, 3]] * 0.9 + 0.01
    ia, ib = mutual_nearest_neighbours(a, b, 0.5)
    assert sorted(zip(ia.tolist(), ib.tolist())) == [(0, 1), (2, 0)]
    assert len(mutual_nearest_neighbours(a, b, 0.95)[0]) == 0


def test_descriptor_matches_join_the_objective(scene):
    preds = pair_predictions(scene, complete_pairs(N), seed=2, desc_dim=32, **DEGRADE)
    with_matches = global_alignment(preds, NAMES)
    m = camera_metrics(with_matches.T_fixed_cam, scene.T_world_cam)
    assert m.rra[5.0] == 1.0 and m.rta[5.0] == 1.0 and m.max_rot_err_deg < 1.0
    ignored = global_alignment(preds, NAMES, options=AlignmentOptions(match_weight=0.0))
    plain = global_alignment([replace(p, desc_i=None, desc_j=None) for p in preds], NAMES)
    np.testing.assert_allclose(ignored.T_fixed_cam, plain.T_fixed_cam, atol=1e-12)
    assert not np.allclose(with_matches.T_fixed_cam, plain.T_fixed_cam, atol=1e-9)


def test_pair_scores_rank_a_corrupted_pair_last_and_drive_the_confidence_graph(scene):
    from hamst3r_ros.geometry.pair_graph import confidence_pairs, is_connected
    preds = pair_predictions(scene, complete_pairs(N), seed=2, **DEGRADE)
    rng = np.random.default_rng(0)
    bad = [k for k, p in enumerate(preds) if {p.i, p.j} == {1, 2}]
    for k in bad:  # this pair's network output is garbage
        preds[k] = replace(preds[k], pts_j=preds[k].pts_j + rng.normal(0, 1.0, preds[k].pts_j.shape).astype(np.float32))
    res = global_alignment(preds, NAMES)
    # the robust weights keep the rig right despite the garbage pair
    assert camera_metrics(res.T_fixed_cam, scene.T_world_cam).max_rot_err_deg < 1.0
    S = res.pair_score
    assert np.isneginf(np.diag(S)).all()
    finite = S[np.isfinite(S)]
    assert S[1, 2] == finite.min() and S[2, 1] == finite.min()
    pairs = confidence_pairs(S, k=1)
    assert is_connected(N, pairs) and (1, 2) not in pairs


def test_known_poses_measure_each_pair_scale_from_its_baseline_without_shrinking(scene):
    """A network's two views disagree (here: each pair's second view turned 20 deg about
    camera i). Least squares then shrinks every pair's scale (smaller residuals), putting the
    surfaces too close to their cameras; the scale measured from the known baseline does not."""
    from hamst3r_ros.geometry.sim3 import rotation_from_axis_angle

    rng = np.random.default_rng(7)
    preds = []
    for p in pair_predictions(scene, complete_pairs(N), seed=2, **DEGRADE):
        R = rotation_from_axis_angle(rng.normal(0, 1, 3) * np.radians(20))
        preds.append(replace(p, pts_j=(p.pts_j @ R.T).astype(np.float32)))
    priors = [CameraPrior(K=scene.K[v], T_fixed_cam=scene.T_world_cam[v]) for v in range(N)]

    def depth_ratio_and_error(baseline_scale):
        res = global_alignment(preds, NAMES, priors, AlignmentOptions(baseline_scale=baseline_scale))
        ratio = np.array([np.median(res.depth[v] / scene.depth(v)) for v in range(N)])
        err = np.concatenate([np.linalg.norm(res.points[v] - scene.points[v], axis=-1).ravel() for v in range(N)])
        return ratio, float(np.nanmedian(err))

    ls_ratio, ls_err = depth_ratio_and_error(False)
    base_ratio, base_err = depth_ratio_and_error(True)
    assert ls_ratio.min() < 0.9 and ls_ratio.mean() < 0.95  # least squares shrinks
    np.testing.assert_allclose(base_ratio, 1.0, atol=0.05)
    assert base_err < 0.5 * ls_err


def test_a_baseline_too_short_to_measure_keeps_least_squares(scene, frames):
    """Cameras at one spot (a rotating head): their baseline measures no scale."""
    T = scene.T_world_cam.copy()
    T[:, :3, 3] = T[0, :3, 3]
    rooms = render_scene(T, 48, 36)
    preds = pair_predictions(rooms, complete_pairs(N), seed=2, **DEGRADE)
    priors = [CameraPrior(K=rooms.K[v], T_fixed_cam=T[v]) for v in range(N)]
    a = global_alignment(preds, NAMES, priors, AlignmentOptions(baseline_scale=True))
    b = global_alignment(preds, NAMES, priors, AlignmentOptions(baseline_scale=False))
    assert a.pair_scale == b.pair_scale
