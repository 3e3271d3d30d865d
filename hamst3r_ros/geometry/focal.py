"""Intrinsics: focal length from a camera-frame pointmap, and rescaling between resolutions."""
from __future__ import annotations

import numpy as np


def estimate_focal(pts_cam: np.ndarray, weights: np.ndarray | None = None,
                   pp: tuple[float, float] | None = None, iters: int = 10) -> float:
    """Focal length (pixels, fx = fy) of a pinhole camera from its camera-frame pointmap.

    Each pixel (u, v) should satisfy (u - cx, v - cy) = f (x / z, y / z). We minimise the
    sum of *unsquared* pixel distances (robust to bad points, as DUSt3R does) with
    Weiszfeld iterations, starting from the least-squares solution.

    Args:
        pts_cam: (H, W, 3) points in the camera's optical frame (z forward).
        weights: (H, W) non-negative weights (confidences), or None.
        pp: principal point (cx, cy) in pixels; default the image centre ((W-1)/2, (H-1)/2)
            in the pixel-centre convention (pixel (u, v) covers [u-0.5, u+0.5]).
    """
    H, W = pts_cam.shape[:2]
    cx, cy = ((W - 1) / 2.0, (H - 1) / 2.0) if pp is None else pp
    v, u = np.mgrid[0:H, 0:W]
    uv = np.stack([u - cx, v - cy], -1).reshape(-1, 2)
    w = None if weights is None else weights.reshape(-1)
    return estimate_focal_from_pixels(uv, pts_cam.reshape(-1, 3), w, iters)


def estimate_focal_from_pixels(uv: np.ndarray, pts_cam: np.ndarray, weights: np.ndarray | None = None,
                               iters: int = 10) -> float:
    """As :func:`estimate_focal` for scattered pixels.

    Args:
        uv: (M, 2) pixel coordinates relative to the principal point.
        pts_cam: (M, 3) camera-frame points seen by those pixels.
        weights: (M,) non-negative weights or None.
    """
    uv = np.asarray(uv, dtype=np.float64)
    p = np.asarray(pts_cam, dtype=np.float64)
    w = np.ones(len(p)) if weights is None else np.asarray(weights, dtype=np.float64)
    ok = (p[:, 2] > 1e-6) & np.isfinite(p).all(1) & (w > 0)
    if ok.sum() < 2:
        raise ValueError("estimate_focal: fewer than 2 valid points in front of the camera")
    xy = p[ok, :2] / p[ok, 2:3]
    uv, w = uv[ok], w[ok]
    f = float((w * (uv * xy).sum(1)).sum() / max((w * (xy * xy).sum(1)).sum(), 1e-12))
    for _ in range(iters):
        r = np.linalg.norm(uv - f * xy, axis=1)
        ww = w / np.maximum(r, 1e-3)
        f = float((ww * (uv * xy).sum(1)).sum() / max((ww * (xy * xy).sum(1)).sum(), 1e-12))
    if not np.isfinite(f) or f <= 0:
        raise ValueError(f"estimate_focal: degenerate pointmap (focal {f})")
    return f


def pixel_rays(K: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(M, 3) camera-frame rays with z = 1 through pixels uv (M, 2) of intrinsics K (3, 3)
    (pixel centres at integer coordinates; no skew)."""
    uv = np.asarray(uv, dtype=np.float64)
    return np.stack([(uv[:, 0] - K[0, 2]) / K[0, 0], (uv[:, 1] - K[1, 2]) / K[1, 1], np.ones(len(uv))], 1)


def pinhole(f: float, width: int, height: int) -> np.ndarray:
    """(3, 3) intrinsics with fx = fy = f and the principal point at the image centre."""
    return np.array([[f, 0, (width - 1) / 2.0], [0, f, (height - 1) / 2.0], [0, 0, 1.0]])


def rescale_intrinsics(K: np.ndarray, src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """Intrinsics after the network's "resize to cover, then centre-crop" preprocessing.

    The image of ``src_size`` (W, H) is scaled by s = max(W'/W, H'/H) so that it covers
    ``dst_size`` (W', H') and then centre-cropped (as DUSt3R/MASt3R do). Pixel-centre
    convention: pixel u covers [u - 0.5, u + 0.5].
    """
    (W, H), (W2, H2) = src_size, dst_size
    if min(W, H, W2, H2) <= 0:
        raise ValueError(f"rescale_intrinsics: sizes must be positive, got {src_size} -> {dst_size}")
    s = max(W2 / W, H2 / H)
    ox = (W * s - W2) / 2.0
    oy = (H * s - H2) / 2.0
    K2 = np.asarray(K, dtype=np.float64).copy()
    K2[0, 0] *= s
    K2[1, 1] *= s
    K2[0, 1] *= s
    K2[0, 2] = (K[0, 2] + 0.5) * s - 0.5 - ox
    K2[1, 2] = (K[1, 2] + 0.5) * s - 0.5 - oy
    return K2


def unscale_intrinsics(K_net: np.ndarray, src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`rescale_intrinsics`: network-resolution K back to the input image."""
    (W, H), (W2, H2) = src_size, dst_size
    s = max(W2 / W, H2 / H)
    ox = (W * s - W2) / 2.0
    oy = (H * s - H2) / 2.0
    K = np.asarray(K_net, dtype=np.float64).copy()
    K[0, 0] /= s
    K[1, 1] /= s
    K[0, 1] /= s
    K[0, 2] = (K_net[0, 2] + 0.5 + ox) / s - 0.5
    K[1, 2] = (K_net[1, 2] + 0.5 + oy) / s - 0.5
    return K
