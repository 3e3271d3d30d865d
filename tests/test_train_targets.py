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


def _shifted(x):
    """(4, 4) pose of a camera moved by x metres along the reference camera's x axis."""
    T = np.eye(4)
    T[0, 3] = x
    return T


def test_same_camera_translated_sees_a_plane_with_consistent_matches():
    # Two cameras 0.2 m apart along x, both facing a fronto-parallel plane at z = 3 m.
    K, T_i, T_j = _K(), np.eye(4), _shifted(0.2)
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
    K, T_i, T_j = _K(), np.eye(4), _shifted(0.2)
    d_i = np.full((30, 40), 3.0)
    d_j = np.full((30, 40), 1.0)  # j sees an occluder in front of the plane everywhere
    t = pair_targets(d_i, d_j, K, K, T_i, T_j)
    assert len(t.matches) == 0
    assert transform(np.eye(4), t.pts_i).shape == (30, 40, 3)


def test_hue_rotation_keeps_greys_and_turns_colours():
    from hamst3r_ros.train.data import hue_rotation

    np.testing.assert_allclose(hue_rotation(0.0), np.eye(3), atol=1e-6)
    np.testing.assert_allclose(hue_rotation(2 * np.pi), np.eye(3), atol=1e-6)
    grey = np.array([0.3, 0.3, 0.3], np.float32)
    np.testing.assert_allclose(grey @ hue_rotation(1.3).T, grey, atol=1e-6)
    red = np.array([0.8, 0.1, 0.1], np.float32)
    turned = red @ hue_rotation(np.pi).T
    assert turned[0] < turned[1] and turned[0] < turned[2]  # red -> cyan
    luma = np.array([0.299, 0.587, 0.114])
    assert abs(turned @ luma - red @ luma) < 1e-5  # brightness kept


def test_hue_jitter_recolours_both_views_of_a_pair_alike():
    from types import SimpleNamespace

    from hamst3r_ros.train.data import pair_item

    rng = np.random.default_rng(0)
    h, w = 30, 40
    cam = SimpleNamespace(image=rng.integers(0, 256, (h, w, 3), dtype=np.uint8), depth=np.full((h, w), 2.0),
                          instance=np.zeros((h, w), np.int32), body_coords=np.full((h, w, 3), np.nan),
                          body_mask=np.zeros((h, w), bool), K=_K(), T_fixed_cam=np.eye(4))
    plain = pair_item(cam, cam, ((0, 0), (0, 0)), (w, h), np.random.default_rng(1), 0.0, 64, 0.0)
    assert np.array_equal(plain[0], plain[1])
    for seed in range(3):
        item = pair_item(cam, cam, ((0, 0), (0, 0)), (w, h), np.random.default_rng(seed), 0.0, 64, 0.5)
        np.testing.assert_allclose(item[0], item[1])  # one rotation per pair
        assert not np.allclose(item[0], plain[0], atol=1e-2)
