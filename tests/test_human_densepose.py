"""DensePose aggregation (confidence-weighted over pairs) and per-person point gathering."""
import numpy as np
import pytest

from hamst3r_ros.human.densepose import aggregate_densepose, person_points
from hamst3r_ros.types import PairPrediction

H, W = 4, 5


def _pair(i, j, dp_i, dp_j, conf_i, conf_j, body_i=None, body_j=None):
    z = np.zeros((H, W, 3), np.float32)
    return PairPrediction(i=i, j=j, pts_i=z, pts_j=z, conf_i=np.full((H, W), conf_i, np.float32),
                          conf_j=np.full((H, W), conf_j, np.float32),
                          dp_i=np.full((H, W, 3), dp_i, np.float32), dp_j=np.full((H, W, 3), dp_j, np.float32),
                          body_i=body_i, body_j=body_j)


def test_weighted_average_over_pairs():
    # Image 0 seen by two pairs: value 0.2 at confidence 3, value 0.6 at confidence 1.
    pairs = [_pair(0, 1, 0.2, 0.9, 3.0, 2.0), _pair(2, 0, 0.5, 0.6, 1.0, 1.0)]
    dp = aggregate_densepose(pairs)
    np.testing.assert_allclose(dp[0].coords, (3 * 0.2 + 1 * 0.6) / 4, rtol=1e-6)
    np.testing.assert_allclose(dp[0].weight, 4.0)
    np.testing.assert_allclose(dp[1].coords, 0.9, rtol=1e-6)
    np.testing.assert_allclose(dp[0].body, 1.0)


def test_body_probability_weights_and_is_averaged():
    body_a = np.full((H, W), 0.0, np.float32)  # pair A says: not body -> its DensePose ignored
    body_b = np.full((H, W), 1.0, np.float32)
    pairs = [_pair(0, 1, 0.1, 0.0, 1.0, 1.0, body_i=body_a, body_j=body_b),
             _pair(0, 2, 0.7, 0.0, 1.0, 1.0, body_i=body_b, body_j=body_b)]
    dp = aggregate_densepose(pairs)
    np.testing.assert_allclose(dp[0].coords, 0.7, rtol=1e-6)
    np.testing.assert_allclose(dp[0].body, 0.5)


def test_person_points_selects_labelled_body_pixels():
    pts = np.random.default_rng(0).normal(size=(H, W, 3)).astype(np.float32)
    labels = np.zeros((H, W), np.int32)
    labels[:2, :2] = 1
    labels[3, :] = 2
    pairs = [_pair(0, 1, 0.3, 0.3, 2.0, 2.0)]
    dp = aggregate_densepose(pairs)
    dp[0].body[3, 0] = 0.1  # off-body pixel of person 2 (e.g. hair): dropped
    people = person_points({0: pts}, {0: labels}, dp)
    assert sorted(people) == [1, 2]
    assert len(people[1]) == 4 and len(people[2]) == W - 1
    np.testing.assert_allclose(people[1].points, pts[:2, :2].reshape(-1, 3))
    np.testing.assert_allclose(people[1].template_coords, 0.3)
    assert people[1].weights.max() == pytest.approx(1.0)
    capped = person_points({0: pts}, {0: labels}, dp, max_points=2)
    assert len(capped[1]) == 2


def test_size_mismatch_is_clear():
    dp = aggregate_densepose([_pair(0, 1, 0.3, 0.3, 2.0, 2.0)])
    with pytest.raises(ValueError, match="same H x W"):
        person_points({0: np.zeros((H + 1, W, 3))}, {0: np.ones((H, W), np.int32)}, dp)
