"""MPJPE variants and tracking metrics on hand-made cases."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hamst3r_ros.human.metrics import (
    ga_mpjpe, match_people, pa_mpjpe, tracking_metrics, w_mpjpe,
)


def _people(rng, n=2):
    return rng.normal(size=(n, 24, 3)) * 0.3 + np.arange(n)[:, None, None] * np.array([2.0, 0, 0])


def test_w_mpjpe_hand_case():
    gt = np.zeros((1, 2, 3))
    pred = np.array([[[0.03, 0.0, 0.04], [0.0, 0.0, 0.0]]])  # errors 0.05 and 0
    assert w_mpjpe(pred, gt) == pytest.approx(0.025)
    # A given world alignment is applied first: translate the prediction back.
    T = np.eye(4)
    T[:3, 3] = [-1.0, 0, 0]
    assert w_mpjpe(gt + [1.0, 0, 0], gt, T) == pytest.approx(0.0)


def test_alignment_levels_distinguish_errors():
    rng = np.random.default_rng(1)
    gt = _people(rng)
    R = Rotation.from_rotvec([0.0, 0.0, 0.7]).as_matrix()
    # 1) Whole group moved rigidly + scaled: W large, GA and PA zero.
    pred = 1.1 * gt @ R.T + [0.5, -0.2, 0.1]
    assert w_mpjpe(pred, gt) > 0.3
    assert ga_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    assert pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    # 2) One person shifted 1 m relative to the other: GA > 0 but PA still zero.
    pred = gt.copy()
    pred[1] += [0.0, 1.0, 0.0]
    assert ga_mpjpe(pred, gt) > 0.1
    assert pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    # 3) A pose error (one joint 0.24 m off): PA sees it.
    pred = gt.copy()
    pred[0, 5] += [0.24, 0.0, 0.0]
    assert pa_mpjpe(pred, gt) > 0.001  # (Procrustes minimises squared error, so not <= W)
    assert w_mpjpe(pred, gt) == pytest.approx(0.24 / 48)


def test_shape_mismatch_is_clear():
    with pytest.raises(ValueError, match="equal shape"):
        pa_mpjpe(np.zeros((1, 24, 3)), np.zeros((1, 23, 3)))


def test_match_people_gates_far_pairs():
    gt = {1: np.zeros(3), 2: np.array([3.0, 0, 0])}
    pred = {10: np.array([3.1, 0, 0]), 11: np.array([0.1, 0, 0]), 12: np.array([9.0, 0, 0])}
    assert match_people(gt, pred, max_distance=0.5) == {1: 11, 2: 10}


def test_tracking_metrics_counts_switches_and_fragments():
    a, b = np.zeros(3), np.array([5.0, 0, 0])
    gt = [{1: a, 2: b}] * 6
    pred = [
        {7: a, 8: b},
        {7: a, 8: b},
        {8: b},           # person 1 missed: fragment starts
        {7: a, 8: b},     # resumed with the same id: one fragmentation, no switch
        {9: a, 8: b},     # person 1 now id 9: one switch
        {9: a, 8: b, 4: np.array([20.0, 0, 0])},  # a false positive
    ]
    m = tracking_metrics(gt, pred)
    assert (m.id_switches, m.fragmentations) == (1, 1)
    assert (m.matched, m.missed, m.false_positives) == (11, 1, 1)
    perfect = tracking_metrics(gt, [{7: a, 8: b}] * 6)
    assert (perfect.id_switches, perfect.fragmentations, perfect.missed) == (0, 0, 0)
