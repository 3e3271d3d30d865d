"""Closed-form pieces: Umeyama, robust Umeyama, focal estimation, intrinsics rescaling,
pair graphs."""
import numpy as np
import pytest

from hamst3r_ros.geometry.box_room import make_scene
from hamst3r_ros.geometry.focal import estimate_focal, rescale_intrinsics, unscale_intrinsics
from hamst3r_ros.geometry.pair_graph import (complete_pairs, confidence_pairs, is_connected, make_pairs,
                                             maximum_spanning_tree, reference_pairs, sliding_window_pairs)
from hamst3r_ros.geometry.sim3 import (Sim3, matrix_to_quaternion, quaternion_to_matrix, robust_umeyama, rotation_angle_deg,
                                       rotation_from_axis_angle, umeyama)


def _random_sim3(rng):
    return Sim3(float(rng.uniform(0.5, 2.0)), rotation_from_axis_angle(rng.normal(size=3)), rng.normal(size=3))


def test_umeyama_recovers_exact_similarity():
    rng = np.random.default_rng(0)
    T = _random_sim3(rng)
    x = rng.normal(size=(50, 3))
    est = umeyama(x, T.apply(x))
    assert est.s == pytest.approx(T.s)
    np.testing.assert_allclose(est.R, T.R, atol=1e-10)
    np.testing.assert_allclose(est.t, T.t, atol=1e-10)
    rigid = umeyama(x, T.compose(Sim3(1 / T.s, np.eye(3), np.zeros(3))).apply(x), with_scale=False)
    assert rigid.s == 1.0 and float(rotation_angle_deg(rigid.R.T @ T.R)) < 1e-6


def test_quaternions_are_xyzw_and_round_trip():
    # 90 degrees about z: (x, y, z, w) = (0, 0, sin 45, cos 45), ROS's order.
    Rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(np.abs(matrix_to_quaternion(Rz)), [0, 0, np.sqrt(0.5), np.sqrt(0.5)], atol=1e-12)
    R = rotation_from_axis_angle(np.array([0.3, -1.1, 2.0]))
    np.testing.assert_allclose(quaternion_to_matrix(matrix_to_quaternion(R)), R, atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix([0.0, 0.0, 0.0, 2.0]), np.eye(3))  # normalised first


def test_sim3_algebra():
    rng = np.random.default_rng(1)
    A, B = _random_sim3(rng), _random_sim3(rng)
    x = rng.normal(size=(5, 3))
    np.testing.assert_allclose(A.compose(B).apply(x), A.apply(B.apply(x)))
    np.testing.assert_allclose(A.inverse().apply(A.apply(x)), x, atol=1e-12)


def test_robust_umeyama_ignores_a_fifth_of_gross_outliers():
    rng = np.random.default_rng(2)
    T = _random_sim3(rng)
    x = rng.normal(size=(500, 3))
    y = T.apply(x) + 0.001 * rng.normal(size=x.shape)
    bad = rng.random(500) < 0.2
    y[bad] += rng.normal(0, 3.0, size=(bad.sum(), 3))
    plain = umeyama(x, y)
    est, w = robust_umeyama(x, y)
    assert float(rotation_angle_deg(est.R.T @ T.R)) < 0.1 < float(rotation_angle_deg(plain.R.T @ T.R))
    assert est.s == pytest.approx(T.s, rel=1e-3)
    assert w[bad].mean() < 0.05 < 0.5 < w[~bad].mean()


def test_umeyama_rejects_bad_input():
    with pytest.raises(ValueError, match="M, 3"):
        umeyama(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="weights"):
        umeyama(np.ones((4, 3)), np.ones((4, 3)), np.zeros(4))


def test_focal_from_pointmap_with_outliers():
    sc = make_scene(1, 64, 48)
    T = np.linalg.inv(sc.T_world_cam[0])
    P = sc.points[0] @ T[:3, :3].T + T[:3, 3]
    assert estimate_focal(P) == pytest.approx(sc.K[0, 0, 0], rel=1e-9)
    rng = np.random.default_rng(0)
    noisy = P * (1 + 0.01 * rng.normal(size=P.shape[:2]))[..., None]
    bad = rng.random(P.shape[:2]) < 0.05
    noisy[bad] = rng.normal(0, 2, size=(bad.sum(), 3)) + [0, 0, 3]
    assert estimate_focal(noisy) == pytest.approx(sc.K[0, 0, 0], rel=0.01)


def test_intrinsics_follow_cover_and_centre_crop():
    K = np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]])
    # 640x480 -> long side 512 -> 512x384 (no crop): everything scales by 0.8
    K2 = rescale_intrinsics(K, (640, 480), (512, 384))
    np.testing.assert_allclose(K2, [[400, 0, 255.5], [0, 400, 191.5], [0, 0, 1]])
    # 640x360 -> 512x288 then crop to 512x272: cy moves up by 8 px
    K3 = rescale_intrinsics(np.array([[500.0, 0, 319.5], [0, 500.0, 179.5], [0, 0, 1]]), (640, 360), (512, 272))
    assert K3[1, 2] == pytest.approx(135.5) and K3[0, 0] == pytest.approx(400)
    np.testing.assert_allclose(unscale_intrinsics(K3, (640, 360), (512, 272)),
                               [[500.0, 0, 319.5], [0, 500.0, 179.5], [0, 0, 1]])


@pytest.mark.parametrize("n", [2, 3, 8, 16])
def test_pair_graphs_are_symmetric_connected_and_sized(n):
    for pairs, expected in ((complete_pairs(n), n * (n - 1)), (reference_pairs(n), 2 * (n - 1))):
        assert len(pairs) == expected
    for pairs in (complete_pairs(n), reference_pairs(n), sliding_window_pairs(n, 2),
                  confidence_pairs(np.random.default_rng(n).random((n, n)), k=1)):
        assert set(pairs) == {(j, i) for i, j in pairs}
        assert all(i != j for i, j in pairs)
        assert is_connected(n, pairs)
    # sparse strategies grow linearly
    assert len(sliding_window_pairs(n, 2)) <= 4 * n
    assert len(confidence_pairs(np.ones((n, n)), k=2)) <= 2 * n * 3


def test_auto_strategy_is_complete_up_to_eight_cameras():
    assert len(make_pairs(8)) == 56
    assert len(make_pairs(16)) == len(sliding_window_pairs(16, 2)) == 64
    assert make_pairs(1) == []
    # 'confidence' before any scores exist (a rig's first set): the sliding window
    assert make_pairs(4, "confidence") == sliding_window_pairs(4, 2)
    with pytest.raises(ValueError, match="unknown pair strategy"):
        make_pairs(4, "nope")


def test_maximum_spanning_tree_picks_the_strong_edges():
    S = np.full((4, 4), -np.inf)
    for a, b, s in ((0, 1, 5), (1, 2, 1), (0, 2, 4), (2, 3, 2), (1, 3, 0.5)):
        S[a, b] = S[b, a] = s
    edges = maximum_spanning_tree(S, root=0)
    assert {tuple(sorted(e)) for e in edges} == {(0, 1), (0, 2), (2, 3)}
    S[3, :] = S[:, 3] = -np.inf
    with pytest.raises(ValueError, match="disconnected"):
        maximum_spanning_tree(S)
