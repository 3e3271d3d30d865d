"""The fused point cloud: every view's consensus points in the fixed frame, with colour,
confidence and the per-pixel attributes carried through (person instance, body-template
coordinates), checked against the other views, thresholded, voxel-downsampled and capped so
that messages stay bounded. The one place points are filtered: the node publishes the cloud
as it comes.

Multi-view agreement (the standard check of MVS depth-map fusion): a view's point is
projected into every other camera; that camera *agrees* when its own depth at the projected
pixel is within ``agree_rel_tol`` (relative) of the point's depth there. A point enters the
cloud when at least ``min_views`` other cameras agree (0 keeps every point); each point
carries its count. An occluder in the other view is no agreement, but no veto either: only
agreement counts, so surfaces seen by one camera alone need ``min_views`` 0."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from hamst3r_ros.geometry.alignment import AlignmentResult


@dataclass
class FusionOptions:
    """Attributes:
        min_conf: consensus confidence below which a pixel is dropped (the consensus
            confidence is the mean over predictions of network confidence x robust
            agreement weight; MASt3R confidences are >= 1, so 1.5 drops pixels the views
            disagree on).
        voxel_size: grid cell in output units (metres when metric); 0 disables. One point
            (the most confident) survives per cell, so attributes stay consistent.
        max_points: point budget; beyond it the most confident points are kept (0 = no
            limit).
        min_views: other cameras that must agree with a point (module docstring); 0 = off.
        agree_rel_tol: relative depth difference within which another camera agrees.
    """

    min_conf: float = 1.5
    voxel_size: float = 0.0
    max_points: int = 0
    min_views: int = 0
    agree_rel_tol: float = 0.05


@dataclass
class FusedCloud:
    """Fused scene points in the fixed frame. M points.

    Attributes:
        points: (M, 3) float32, output units (metres when ``metric``).
        colors: (M, 3) uint8 RGB.
        confidence: (M,) float32 consensus confidence.
        instance: (M,) int32 person instance id from the given per-view maps, 0 = none.
        body_coords: (M, 3) float32 body-template coordinates, NaN off bodies.
        views_agree: (M,) uint8 other cameras whose depth agrees with the point.
        view: (M,) int16 index of the camera whose pixel produced the point.
        pixel: (M,) int32 flat pixel index (row * W + col) in that view, network resolution.
        metric: True when the scale is metric.
    """

    points: np.ndarray
    colors: np.ndarray
    confidence: np.ndarray
    instance: np.ndarray
    body_coords: np.ndarray
    views_agree: np.ndarray
    view: np.ndarray
    pixel: np.ndarray
    metric: bool

    def __len__(self) -> int:
        return len(self.points)


def sample_to_size(image: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resample of an (H, W, ...) array to the network's (H', W') under
    the cover-then-centre-crop preprocessing (identity when sizes already match)."""
    H, W = image.shape[:2]
    H2, W2 = size_hw
    if (H, W) == (H2, W2):
        return image
    s = max(W2 / W, H2 / H)
    ox, oy = (W * s - W2) / 2.0, (H * s - H2) / 2.0
    u = np.clip(np.floor((np.arange(W2) + 0.5 + ox) / s).astype(int), 0, W - 1)
    v = np.clip(np.floor((np.arange(H2) + 0.5 + oy) / s).astype(int), 0, H - 1)
    return image[v][:, u]


def fuse(result: AlignmentResult, images: Sequence[Optional[np.ndarray]],
         instance_maps: Optional[Sequence[Optional[np.ndarray]]] = None,
         body_coords_maps: Optional[Sequence[Optional[np.ndarray]]] = None,
         options: Optional[FusionOptions] = None) -> FusedCloud:
    """Fuse an alignment's per-view consensus points into one bounded cloud.

    Args:
        result: the alignment of this frame set.
        images: per view, (H, W, 3) uint8 RGB at input or network resolution (resampled
            with the network's preprocessing), or None (grey).
        instance_maps: per view (H_v, W_v) int instance ids at network resolution, or None.
        body_coords_maps: per view (H_v, W_v, 3) template coordinates (NaN off bodies), or None.
        options: thresholds, voxel size, point budget.
    """
    opts = options or FusionOptions()
    n = len(result.points)
    if len(images) != n:
        raise ValueError(f"fuse: got {len(images)} images for {n} aligned views")
    cols = {k: [] for k in ("p", "c", "f", "i", "b", "a", "v", "x")}
    agree = view_agreement(result, opts.agree_rel_tol) if opts.min_views > 0 or n > 1 else None
    for v in range(n):
        H, W = result.points[v].shape[:2]
        keep = (result.confidence[v].reshape(-1) >= opts.min_conf) & np.isfinite(result.points[v].reshape(-1, 3)).all(1)
        agrees = agree[v].reshape(-1) if agree is not None else np.zeros(H * W, np.uint8)
        keep &= agrees >= opts.min_views
        idx = np.nonzero(keep)[0]
        img = images[v]
        if img is None:
            rgb = np.full((H * W, 3), 128, np.uint8)
        else:
            img = np.asarray(img)
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ValueError(f"fuse: image {v} must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
            rgb = sample_to_size(img, (H, W)).reshape(-1, 3)
        inst = np.zeros(H * W, np.int32)
        if instance_maps is not None and instance_maps[v] is not None:
            inst = sample_to_size(np.asarray(instance_maps[v]), (H, W)).reshape(-1).astype(np.int32)
        body = np.full((H * W, 3), np.nan, np.float32)
        if body_coords_maps is not None and body_coords_maps[v] is not None:
            body = sample_to_size(np.asarray(body_coords_maps[v]), (H, W)).reshape(-1, 3).astype(np.float32)
        cols["p"].append(result.points[v].reshape(-1, 3)[idx])
        cols["c"].append(rgb[idx])
        cols["f"].append(result.confidence[v].reshape(-1)[idx])
        cols["i"].append(inst[idx])
        cols["b"].append(body[idx])
        cols["a"].append(agrees[idx])
        cols["v"].append(np.full(len(idx), v, np.int16))
        cols["x"].append(idx.astype(np.int32))
    a = {k: np.concatenate(x) for k, x in cols.items()}
    sel = np.arange(len(a["p"]))
    if opts.voxel_size > 0 and len(sel):
        sel = voxel_select(a["p"], a["f"], opts.voxel_size)
    if 0 < opts.max_points < len(sel):
        sel = sel[np.argpartition(-a["f"][sel], opts.max_points - 1)[:opts.max_points]]
    sel = np.sort(sel)
    return FusedCloud(points=a["p"][sel].astype(np.float32), colors=a["c"][sel], confidence=a["f"][sel].astype(np.float32),
                      instance=a["i"][sel], body_coords=a["b"][sel], views_agree=a["a"][sel].astype(np.uint8),
                      view=a["v"][sel], pixel=a["x"][sel], metric=result.metric)


def view_agreement(result: AlignmentResult, rel_tol: float) -> list[np.ndarray]:
    """Per view, (H, W) uint8: how many other cameras agree with each pixel's point (module
    docstring). Uses the alignment's poses, network-resolution intrinsics and depth maps."""
    n = len(result.points)
    out = []
    for v in range(n):
        P = np.asarray(result.points[v], np.float64).reshape(-1, 3)
        count = np.zeros(len(P), np.uint8)
        for w in range(n):
            if w == v:
                continue
            T = np.asarray(result.T_fixed_cam[w], np.float64)
            q = (P - T[:3, 3]) @ T[:3, :3]  # into camera w's optical frame
            z = q[:, 2]
            K = np.asarray(result.K_net[w], np.float64)
            Hw, Ww = result.depth[w].shape
            with np.errstate(divide="ignore", invalid="ignore"):
                u = np.rint(K[0, 0] * q[:, 0] / z + K[0, 1] * q[:, 1] / z + K[0, 2])
                r = np.rint(K[1, 1] * q[:, 1] / z + K[1, 2])
            ok = np.isfinite(z) & (z > 0) & (u >= 0) & (u < Ww) & (r >= 0) & (r < Hw)
            d = np.full(len(P), np.nan)
            d[ok] = result.depth[w][r[ok].astype(np.int64), u[ok].astype(np.int64)]
            with np.errstate(invalid="ignore"):
                count += (ok & (np.abs(z - d) <= rel_tol * d)).astype(np.uint8)
        out.append(count.reshape(result.points[v].shape[:2]))
    return out


def voxel_select(points: np.ndarray, confidence: np.ndarray, voxel: float) -> np.ndarray:
    """Indices of the most confident point in each occupied voxel of size ``voxel``."""
    key = np.floor(points / voxel).astype(np.int64)
    order = np.lexsort((-confidence, key[:, 2], key[:, 1], key[:, 0]))
    k = key[order]
    first = np.ones(len(k), bool)
    first[1:] = (k[1:] != k[:-1]).any(1)
    return order[first]
