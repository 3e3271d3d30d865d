"""Camera metrics on hand-made cases with answers worked out by hand."""
import numpy as np
import pytest

from hamst3r_ros.geometry.metrics import camera_metrics, mean_average_accuracy, relative_pose_errors
from hamst3r_ros.geometry.sim3 import rotation_from_axis_angle


def _poses(centres, rotations=None):
    T = np.tile(np.eye(4), (len(centres), 1, 1))
    T[:, :3, 3] = centres
    if rotations is not None:
        T[:, :3, :3] = rotations
    return T


def test_perfect_prediction_scores_perfectly_even_in_another_gauge():
    gt = _poses([[0, 0, 0], [1, 0, 0], [0, 2, 0]],
                [rotation_from_axis_angle(np.array([0, 0.3 * k, 0.1])) for k in range(3)])
    G = np.eye(4)
    G[:3, :3] = rotation_from_axis_angle(np.array([0.2, -0.4, 1.0]))
    G[:3, 3] = [5, -1, 2]
    m = camera_metrics(G @ gt, gt)
    assert m.rra[5.0] == m.rta[5.0] == m.cca[10.0] == m.s_cca[10.0] == 1.0
    assert m.te == pytest.approx(0, abs=1e-9) and m.s_te == pytest.approx(0, abs=1e-9)
    assert m.ae == pytest.approx(0, abs=1e-5) and m.maa30 == 1.0


def test_scaled_prediction_fails_te_and_cca_but_not_their_similarity_versions():
    gt = _poses([[0, 0, 0], [1, 0, 0]])
    pred = _poses([[0, 0, 0], [2, 0, 0]])
    m = camera_metrics(pred, gt)
    # rigid alignment: centred pred (-1, 1) vs gt (-0.5, 0.5): 0.5 m each
    assert m.te == pytest.approx(0.5)
    assert m.s_te == pytest.approx(0.0, abs=1e-12)
    # scene scale 0.5 m -> CCA@10 threshold 5 cm
    assert m.cca[10.0] == 0.0 and m.s_cca[10.0] == 1.0
    assert m.rra[5.0] == 1.0 and m.rta[5.0] == 1.0


def test_one_rotated_camera():
    # three cameras; camera 0 turned by 10.5 deg about its optical axis, centres unchanged
    centres = [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
    gt = _poses(centres)
    pred = _poses(centres, [rotation_from_axis_angle(np.radians(10.5) * np.array([0, 0, 1.0])), np.eye(3), np.eye(3)])
    rot, tra = relative_pose_errors(pred, gt)
    # pairs (0,1), (0,2) see 10.5 deg of relative rotation and of translation direction
    # (expressed in camera 0's frame); pair (1,2) is untouched
    np.testing.assert_allclose(rot, [10.5, 10.5, 0.0], atol=1e-4)
    np.testing.assert_allclose(tra, [10.5, 10.5, 0.0], atol=1e-4)
    m = camera_metrics(pred, gt)
    assert m.rra[5.0] == pytest.approx(1 / 3) and m.rra[15.0] == 1.0
    assert m.rta[5.0] == pytest.approx(1 / 3) and m.rta[15.0] == 1.0
    assert m.ae == pytest.approx(7.0)
    # thresholds 1..10 see 1 of 3 pairs right, 11..30 all: (10/3 + 20) / 30
    assert m.maa30 == pytest.approx((10 / 3 + 20) / 30)
    assert m.te == pytest.approx(0, abs=1e-12)


def test_flipped_translation_is_180_degrees_off():
    gt = _poses([[0, 0, 0], [1, 0, 0]])
    pred = _poses([[0, 0, 0], [-1, 0, 0]])
    _, tra = relative_pose_errors(pred, gt)
    assert tra[0] == pytest.approx(180.0)


def test_maa_counts_thresholds_one_to_thirty():
    assert mean_average_accuracy(np.array([0.5]), np.array([29.5])) == pytest.approx(1 / 30)
    assert mean_average_accuracy(np.array([0.0]), np.array([31.0])) == 0.0


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="N, 4, 4"):
        camera_metrics(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)))
