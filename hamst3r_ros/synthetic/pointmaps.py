"""Ground-truth pointmaps from rendered depth.

``gt_pair_pointmaps(fs, i, j)`` follows DUSt3R/MASt3R's pairwise convention
(:class:`hamst3r_ros.types.PairPrediction`): both pointmaps are expressed in camera i's
optical frame, metres (metric scale, unlike the network's).
"""
from __future__ import annotations

import numpy as np


def backproject_depth(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(H, W) optical-frame depth z (metres, NaN = none) -> (H, W, 3) float32 points in the
    camera's optical frame (pixel centres at integer (u, v)); NaN where depth is NaN."""
    H, W = depth.shape
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    z = depth.astype(np.float64)
    x = (u - K[0, 2] - K[0, 1] * (v - K[1, 2]) / K[1, 1]) / K[0, 0] * z
    y = (v - K[1, 2]) / K[1, 1] * z
    return np.stack([x, y, z], -1).astype(np.float32)


def transform_points(T: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a (4, 4) rigid transform to (..., 3) points (NaN stays NaN); float32 out."""
    R, t = T[:3, :3], T[:3, 3]
    p = pts.astype(np.float64)
    # column-wise sum: numpy's (N, 3) @ (3, 3) matmul is several times slower here
    out = p[..., 0:1] * R[:, 0] + p[..., 1:2] * R[:, 1] + p[..., 2:3] * R[:, 2] + t
    return out.astype(np.float32)


def points_in_fixed(cam) -> np.ndarray:
    """(H, W, 3) fixed-frame points of a :class:`~hamst3r_ros.synthetic.scene.CameraGT`."""
    return transform_points(cam.T_fixed_cam, backproject_depth(cam.depth, cam.K))


def gt_pair_pointmaps(fs, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth (pts_i, pts_j) of frame set ``fs`` (a FrameSetGT) for the pair (i, j).

    Returns:
        pts_i: (H_i, W_i, 3) float32 points of image i in camera i's optical frame.
        pts_j: (H_j, W_j, 3) float32 points of image j in camera i's optical frame.
        NaN where a pixel saw nothing.
    """
    ci, cj = fs.cameras[i], fs.cameras[j]
    pts_i = backproject_depth(ci.depth, ci.K)
    T_i_j = np.linalg.inv(ci.T_fixed_cam) @ cj.T_fixed_cam
    pts_j = transform_points(T_i_j, backproject_depth(cj.depth, cj.K))
    return pts_i, pts_j


def project_points(pts_cam: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 3) optical-frame points -> ((..., 2) pixel coordinates (u, v), (...) depth z)."""
    z = pts_cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        x, y = pts_cam[..., 0] / z, pts_cam[..., 1] / z
    uv = np.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], -1)
    return uv, z


def sample_nearest(values: np.ndarray, A_in_net: np.ndarray, hw_net: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ground truth of an input image, read at the pixels of a network view of it.

    Args:
        values: (H, W, ...) per-pixel values of the input image (depth, points, ids...).
        A_in_net: (3, 3) affine with ``[u_in, v_in, 1] = A @ [u, v, 1]`` (network pixel ->
            input pixel; ``Preprocessed.input_from_network()``).
        hw_net: (h, w) of the network view.

    Returns:
        ((h, w, ...) the value at the nearest input pixel of each network pixel centre,
        (h, w) bool: that input pixel exists). Nearest, not interpolated: an edge pixel
        keeps one real surface point instead of a blend of foreground and background.
    """
    h, w = hw_net
    H, W = values.shape[:2]
    u = np.rint(A_in_net[0, 0] * np.arange(w) + A_in_net[0, 2]).astype(np.int64)
    v = np.rint(A_in_net[1, 1] * np.arange(h) + A_in_net[1, 2]).astype(np.int64)
    ok = ((v >= 0) & (v < H))[:, None] & ((u >= 0) & (u < W))[None, :]
    out = values[np.clip(v, 0, H - 1)[:, None], np.clip(u, 0, W - 1)[None, :]]
    return out, ok


def crop_mask(input_hw: tuple[int, int], A_in_net: np.ndarray, hw_net: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the input pixels whose centres lie inside the network view's crop
    (``A_in_net`` and ``hw_net`` as in :func:`sample_nearest`)."""
    H, W = input_hw
    h, w = hw_net
    u = (np.arange(W) - A_in_net[0, 2]) / A_in_net[0, 0]
    v = (np.arange(H) - A_in_net[1, 2]) / A_in_net[1, 1]
    return ((v >= -0.5) & (v <= h - 0.5))[:, None] & ((u >= -0.5) & (u <= w - 0.5))[None, :]
