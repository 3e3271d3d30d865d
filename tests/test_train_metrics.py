"""Held-out metrics on hand-made cases with known answers."""
import numpy as np

from hamst3r_ros.train.metrics import (
    PairMetrics, densepose_error, depth_metrics, instance_metrics, mask_iou, mean_metrics,
)


def test_depth_metrics_median_scaling_and_inliers():
    gt = np.linspace(1.0, 5.0, 100).reshape(10, 10)
    rel, inl = depth_metrics(gt * 2.5, gt)  # pure scale: perfect after median scaling
    assert rel < 1e-12 and inl == 1.0
    # The 20 farthest pixels 50 % too far: the median is unchanged, so exactly 80 % inliers.
    pred = gt.copy()
    pred[8:] *= 1.5
    rel, inl = depth_metrics(pred, gt)
    assert abs(inl - 0.8) < 1e-12 and abs(rel - 0.1) < 1e-12
    assert np.isnan(depth_metrics(gt, np.zeros_like(gt))[0])


def _ids():
    a = np.zeros((6, 6), int)
    a[:3, :3] = 1
    a[3:, 3:] = 2
    b = np.zeros((6, 6), int)
    b[:3, 3:] = 1
    b[3:, :3] = 2
    return a, b


def _masks(ids, query_of):
    m = np.zeros((3,) + ids.shape)
    for pid, q in query_of.items():
        m[q][ids == pid] = 1.0
    return m


def test_instance_metrics_perfect_and_inconsistent():
    a, b = _ids()
    scores = np.array([0.9, 0.9, 0.1])
    iou, cons = instance_metrics(_masks(a, {1: 0, 2: 1}), _masks(b, {1: 0, 2: 1}), scores, a, b)
    assert iou == 1.0 and cons == 1.0
    # Same masks, but the two views swap the queries: each view alone is right, ids are not.
    iou, cons = instance_metrics(_masks(a, {1: 0, 2: 1}), _masks(b, {1: 1, 2: 0}), scores, a, b)
    # Joint matching over both views: each query holds half of each person -> IoU 9/27.
    assert cons == 0.0 and abs(iou - 1 / 3) < 1e-12
    # A person missed entirely counts 0 for that person.
    iou, _ = instance_metrics(_masks(a, {1: 0}), _masks(b, {1: 0}), scores, a, b)
    assert iou == 0.5


def test_densepose_and_mask_iou_and_mean():
    gt = np.zeros((2, 2, 3))
    pred = gt.copy()
    pred[0, 0] = [0.3, 0.4, 0.0]
    body = np.array([[True, True], [False, False]])
    assert abs(densepose_error(pred, gt, body) - 0.25) < 1e-12
    assert mask_iou(np.array([[0.9, 0.1], [0.9, 0.1]]), body) == 1 / 3
    m = mean_metrics([PairMetrics(depth_inlier=0.5), PairMetrics(depth_inlier=1.0)])
    assert m.depth_inlier == 0.75 and np.isnan(m.body_iou)
