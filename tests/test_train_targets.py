"""Pair targets from depth + poses: geometry with known answers."""
import numpy as np

from hamst3r_ros.synthetic.pointmaps import backproject_depth as backproject, transform_points as transform
from hamst3r_ros.train.targets import pair_targets


def _K(f=50.0, w=40, h=30):
    return np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])


def test_backproject_centre_pixel_is_on_axis():
    d = np.full((30, 40), 2.0)
    p = backproject(d, _K())
    # OpenCV convention: pixel (row 15, col 20) is centred on the principal point (20, 15).
    assert np.allclose(p[15, 20], [0.0, 0.0, 2.0])
    assert np.allclose(p[15, 21], [2.0 / 50, 0.0, 2.0])


def test_same_camera_translated_sees_a_plane_with_consistent_matches():
    # Two cameras 0.2 m apart along x, both facing a fronto-parallel plane at z = 3 m.
    K = _K()
    T_i = np.eye(4)
    T_j = np.eye(4); T_j[0, 3] = 0.2
    d = np.full((30, 40), 3.0)
    t = pair_targets(d, d, K, K, T_i, T_j)
    # j's points expressed in i: shifted by the baseline.
    assert np.allclose(t.pts_j[..., 0] - t.pts_i[..., 0], 0.2, atol=1e-9)
    assert len(t.matches) > 0
    # Matched pixels of i and j see the same 3D point (within a pixel's footprint).
    pi = t.pts_i.reshape(-1, 3)[t.matches[:, 0]]
    pj = t.pts_j.reshape(-1, 3)[t.matches[:, 1]]
    assert np.abs(pi - pj).max() < 3.0 / 50 * 1.01
    # The shift is 0.2 m * 50 px / 3 m = 3.33 px: i's column u matches j's column ~u - 3.
    du = (t.matches[:, 0] % 40) - (t.matches[:, 1] % 40)
    assert set(np.unique(du)) <= {3, 4}


def test_occluded_points_do_not_match():
    K = _K()
    T_i = np.eye(4)
    T_j = np.eye(4); T_j[0, 3] = 0.2
    d_i = np.full((30, 40), 3.0)
    d_j = np.full((30, 40), 1.0)  # j sees an occluder in front of the plane everywhere
    t = pair_targets(d_i, d_j, K, K, T_i, T_j)
    assert len(t.matches) == 0
    assert transform(np.eye(4), t.pts_i).shape == (30, 40, 3)
