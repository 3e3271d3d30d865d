"""SceneResult -> PointCloud2 (the node's ``~/points``) and camera TF transforms.

Cloud fields, one point per fused 3D point, all in the fixed frame:

    x, y, z      float32  position, metres (network scale when the result is not metric)
    rgb          float32  packed 0x00RRGGBB (RViz's colour field)
    confidence   float32  MASt3R confidence (>= 1)
    instance     int32    person track id, 0 = background
    u, v, w      float32  body-template coordinates in [0, 1]; OFF_BODY (-1) off bodies
    views        uint32   other cameras whose depth agrees with the point (multi-view check)

No field but x, y, z is ever NaN (and points with a non-finite x, y or z are not published), so
``sensor_msgs_py.point_cloud2.read_points(cloud, skip_nans=True)``, which drops a point when
any of its fields is NaN, keeps every point. :func:`body_coords_of` turns the sentinel back
into NaN.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from hamst3r_ros.types import SceneResult

from .geometry import matrix_to_transform_stamped
from .pointcloud import numpy_to_pointcloud2, pack_rgb

#: The ~/points layout (point_step 40 bytes).
SCENE_CLOUD_DTYPE = np.dtype([
    ("x", np.float32), ("y", np.float32), ("z", np.float32), ("rgb", np.float32),
    ("confidence", np.float32), ("instance", np.int32),
    ("u", np.float32), ("v", np.float32), ("w", np.float32), ("views", np.uint32),
])


#: u, v, w of a point off every body (template coordinates are in [0, 1]).
OFF_BODY = -1.0


def body_coords_of(points: np.ndarray) -> np.ndarray:
    """(M, 3) float32 body-template coordinates of decoded ~/points records
    (pointcloud2_to_numpy), NaN for points off bodies (u, v, w = OFF_BODY)."""
    uvw = np.stack([points["u"], points["v"], points["w"]], axis=-1).astype(np.float32)
    uvw[(uvw == OFF_BODY).all(axis=-1)] = np.nan
    return uvw


def select_points(points: np.ndarray, confidence: np.ndarray, min_confidence: float = 0.0,
                  voxel_size: float = 0.0, max_points: int = 0) -> np.ndarray:
    """Indices (ascending) of the points to publish.

    Drops non-finite points and those below ``min_confidence``; with ``voxel_size`` > 0
    keeps the most confident point per cubic voxel of that edge (metres); with
    ``max_points`` > 0 keeps at most that many, evenly spread over what is left
    (deterministic, so a static scene gives a steady cloud).

    Args:
        points: (M, 3) float positions.
        confidence: (M,) float confidences.
    """
    points = np.asarray(points)
    confidence = np.asarray(confidence)
    if points.ndim != 2 or points.shape[1] != 3 or confidence.shape != (points.shape[0],):
        raise ValueError(f"points must be (M, 3) with confidence (M,), got {points.shape} and {confidence.shape}")
    # A sum is non-finite iff some coordinate is (one pass instead of three).
    keep = np.isfinite(points.sum(axis=1)) & np.isfinite(confidence) & (confidence >= min_confidence)
    idx = np.flatnonzero(keep)
    if voxel_size > 0 and idx.size:
        cells = np.floor(points[idx] / voxel_size).astype(np.int64)
        cells -= cells.min(axis=0)
        span = cells.max(axis=0) + 1
        if float(np.prod(span.astype(np.float64))) >= 2.0**62:
            raise ValueError(f"voxel_size {voxel_size} m is too small for a cloud spanning {span} voxels")
        key = (cells[:, 0] * span[1] + cells[:, 1]) * span[2] + cells[:, 2]
        # Most confident first; np.unique's first index per voxel is then its best point.
        order = np.argsort(-confidence[idx], kind="stable")
        _, first = np.unique(key[order], return_index=True)
        idx = np.sort(idx[order[first]])
    if max_points > 0 and idx.size > max_points:
        idx = idx[np.linspace(0, idx.size - 1, max_points).round().astype(np.int64)]
    return idx


def scene_points_array(result: SceneResult, index: Optional[np.ndarray] = None) -> np.ndarray:
    """(M',) structured array of SCENE_CLOUD_DTYPE for the result's points (all or ``index``)."""
    m = result.points.shape[0]
    for name, arr, shape in (("points", result.points, (m, 3)), ("colors", result.colors, (m, 3)),
                             ("confidence", result.confidence, (m,)), ("instance", result.instance, (m,)),
                             ("body_coords", result.body_coords, (m, 3))):
        if np.shape(arr) != shape:
            raise ValueError(f"SceneResult.{name} has shape {np.shape(arr)}, expected {shape}")
    sel = slice(None) if index is None else np.asarray(index)
    # Every field is 4 bytes: fill an (M', 10) float32 block row-wise, then view it as records.
    p = result.points[sel]
    block = np.empty((p.shape[0], 10), dtype=np.float32)
    block[:, 0:3] = p
    block[:, 3] = pack_rgb(np.asarray(result.colors[sel], dtype=np.uint8))
    block[:, 4] = result.confidence[sel]
    block[:, 5] = np.asarray(result.instance[sel], dtype=np.int32).view(np.float32)
    body = np.asarray(result.body_coords[sel], dtype=np.float32)
    block[:, 6:9] = np.where(np.isfinite(body).all(axis=1, keepdims=True), body, np.float32(OFF_BODY))
    views = getattr(result, "views_agree", None)
    block[:, 9] = (np.zeros(p.shape[0], np.uint32) if views is None else
                   np.asarray(views, dtype=np.uint32).reshape(m)[sel]).view(np.float32)
    return block.view(SCENE_CLOUD_DTYPE).reshape(-1)


def scene_to_pointcloud2(result: SceneResult, fixed_frame: str, min_confidence: float = 0.0,
                         voxel_size: float = 0.0, max_points: int = 0):
    """The ``~/points`` PointCloud2 of a result (see select_points for the filters)."""
    idx = select_points(result.points, result.confidence, min_confidence, voxel_size, max_points)
    index = None if idx.size == result.points.shape[0] else idx  # all kept: no gather copies
    return numpy_to_pointcloud2(scene_points_array(result, index), frame_id=fixed_frame, stamp_ns=result.stamp_ns)


def camera_transforms(result: SceneResult, fixed_frame: str, child_frames: Sequence[str]) -> list:
    """TransformStamped fixed_frame -> each camera's optical frame, at the result's stamp.

    ``child_frames[i]`` names camera ``result.camera_names[i]``'s frame (its images'
    frame_id, or a dedicated name when the robot's TF tree already has that frame).
    """
    if len(child_frames) != len(result.camera_names):
        raise ValueError(f"{len(child_frames)} child frames for {len(result.camera_names)} cameras")
    T = np.asarray(result.T_fixed_cam)
    if T.shape != (len(child_frames), 4, 4):
        raise ValueError(f"SceneResult.T_fixed_cam has shape {T.shape}, expected ({len(child_frames)}, 4, 4)")
    return [matrix_to_transform_stamped(T[i], fixed_frame, child, result.stamp_ns)
            for i, child in enumerate(child_frames)]
