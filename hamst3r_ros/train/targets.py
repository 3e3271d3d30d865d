"""Supervision targets of one image pair, built from per-camera ground truth (numpy).

Inputs are what a synthetic (or any RGB-D + pose) dataset provides per camera: depth along
the optical axis (metres, 0 or non-finite = no surface), intrinsics K (3x3, pixels) and the
optical-frame pose T_fixed_cam (4x4). Outputs follow the DUSt3R/MASt3R convention: both
views' points in view i's optical frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hamst3r_ros.synthetic.pointmaps import backproject_depth, transform_points


@dataclass
class PairTargets:
    """Ground truth of the ordered pair (i, j) at the images' resolutions.

    Attributes:
        pts_i: (H_i, W_i, 3) float32 points of image i in frame i.
        pts_j: (H_j, W_j, 3) float32 points of image j in frame i.
        valid_i, valid_j: (H, W) bool, pixels with a surface.
        matches: (M, 2) int64 flat pixel indices (in image i, in image j) seeing the same
            surface point (mutually visible, depth-consistent).
    """

    pts_i: np.ndarray
    pts_j: np.ndarray
    valid_i: np.ndarray
    valid_j: np.ndarray
    matches: np.ndarray


def pair_targets(
    depth_i: np.ndarray, depth_j: np.ndarray,
    K_i: np.ndarray, K_j: np.ndarray,
    T_fixed_i: np.ndarray, T_fixed_j: np.ndarray,
    max_matches: int = 4096,
    rel_depth_tol: float = 0.01,
    rng: np.random.Generator | None = None,
) -> PairTargets:
    """Pointmaps of both views in frame i, validity, and sampled correspondences.

    A pixel of i matches the pixel of j it projects into when j's depth there agrees with
    the projected depth within ``rel_depth_tol`` (relative): that rejects occluded points.
    """
    valid_i = np.isfinite(depth_i) & (depth_i > 0)
    valid_j = np.isfinite(depth_j) & (depth_j > 0)
    p_i = backproject_depth(np.where(valid_i, depth_i, 0.0), K_i).astype(np.float64)
    p_j = backproject_depth(np.where(valid_j, depth_j, 0.0), K_j).astype(np.float64)
    T_i_j = np.linalg.inv(T_fixed_i) @ T_fixed_j
    pts_j_in_i = transform_points(T_i_j, p_j)

    # Correspondences: project i's valid points into j.
    T_j_i = np.linalg.inv(T_i_j)
    q = transform_points(T_j_i, p_i[valid_i]).astype(np.float64)
    idx_i = np.flatnonzero(valid_i)
    z = q[:, 2]
    front = z > 1e-6
    u = np.floor(K_j[0, 0] * q[:, 0] / np.where(front, z, 1) + K_j[0, 2] + 0.5).astype(np.int64)
    v = np.floor(K_j[1, 1] * q[:, 1] / np.where(front, z, 1) + K_j[1, 2] + 0.5).astype(np.int64)
    h_j, w_j = depth_j.shape
    inside = front & (u >= 0) & (u < w_j) & (v >= 0) & (v < h_j)
    idx_i, z, u, v = idx_i[inside], z[inside], u[inside], v[inside]
    d_j = depth_j[v, u]
    ok = valid_j[v, u] & (np.abs(d_j - z) <= rel_depth_tol * z)
    matches = np.stack([idx_i[ok], v[ok] * w_j + u[ok]], 1).astype(np.int64)
    # One match per pixel of j, so that InfoNCE negatives are distinct pixels.
    _, first = np.unique(matches[:, 1], return_index=True)
    matches = matches[np.sort(first)]
    if len(matches) > max_matches:
        rng = rng or np.random.default_rng(0)
        matches = matches[np.sort(rng.choice(len(matches), max_matches, replace=False))]
    return PairTargets(p_i.astype(np.float32), pts_j_in_i.astype(np.float32), valid_i, valid_j, matches)
