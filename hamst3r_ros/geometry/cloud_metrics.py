"""How close a reconstructed point cloud is to the true surface (metres).

- **accuracy**: for every reconstructed point, the distance to the nearest true surface
  point (median and 90th percentile): how wrong what is shown is.
- **completeness@t**: the share of true surface points with a reconstructed point within
  ``t`` metres: how much of what is there is shown.

The true surface is a dense sample (e.g. every pixel's back-projected true depth), so an
exact reconstruction scores about half the sample spacing, not 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CloudMetrics:
    """Accuracy and completeness of one cloud.

    Attributes:
        acc_median, acc_p90: distance of reconstructed points to the nearest true point,
            metres (NaN when the cloud is empty).
        completeness: share of true points within ``threshold`` of a reconstructed point.
        threshold: the completeness radius, metres.
        num_points: reconstructed points scored.
        num_true: true points.
    """

    acc_median: float
    acc_p90: float
    completeness: float
    threshold: float
    num_points: int
    num_true: int


def cloud_metrics(points: np.ndarray, true_points: np.ndarray, threshold: float = 0.05) -> CloudMetrics:
    """Score ``points`` (M, 3) against ``true_points`` (T, 3), both in the same frame and
    units (non-finite rows are ignored in both)."""
    from scipy.spatial import cKDTree

    p = np.asarray(points, np.float64).reshape(-1, 3)
    g = np.asarray(true_points, np.float64).reshape(-1, 3)
    p = p[np.isfinite(p).all(1)]
    g = g[np.isfinite(g).all(1)]
    if len(g) == 0:
        raise ValueError("cloud_metrics: no finite true points to score against")
    nan = float("nan")
    if len(p) == 0:
        return CloudMetrics(nan, nan, 0.0, threshold, 0, len(g))
    d_acc, _ = cKDTree(g).query(p, k=1, workers=-1)
    d_cmp, _ = cKDTree(p).query(g, k=1, distance_upper_bound=threshold, workers=-1)
    return CloudMetrics(acc_median=float(np.median(d_acc)), acc_p90=float(np.percentile(d_acc, 90)),
                        completeness=float(np.mean(d_cmp <= threshold)), threshold=threshold,
                        num_points=len(p), num_true=len(g))
