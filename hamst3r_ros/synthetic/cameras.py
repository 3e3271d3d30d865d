"""Synthetic camera models and placements.

Conventions: pinhole intrinsics ``K`` in pixels with the OpenCV/ROS pixel convention
(pixel (u, v) = column u, row v has its *centre* at integer coordinates; the image spans
u in [-0.5, W - 0.5]). Camera poses ``T_fixed_cam`` map the camera's *optical* frame
(x right, y down, z forward) into the REP-103 fixed frame (x forward, y left, z up; the
room's floor is z = 0).

Placements:

- ``"wall"``: cameras on the room's walls, 2.0-2.5 m high, spread evenly around the room,
  each looking at a point near the room centre at ~1 m height (with seeded jitter), like a
  fixed surveillance/motion-capture rig.
- ``"robot"``: a compact rig on a robot (1.2 m high, backed against the -x wall, facing
  +x), cameras on a 0.15 m radius ring with their yaws spread so that neighbours overlap
  (40 degrees apart, around the rig's heading), tilted down 10 degrees: the multi-camera
  head of a mobile robot. The rig can drive (``SceneConfig.rig_speed`` m/s back and forth
  along its heading over 1.5 m), so its poses change over time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of one camera.

    Attributes:
        width, height: image size, pixels.
        fx, fy, cx, cy: focal lengths and principal point, pixels.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_hfov(cls, width: int, height: int, hfov_deg: float) -> "Intrinsics":
        """Square pixels, centred principal point, horizontal field of view in degrees."""
        if not (10.0 <= hfov_deg <= 170.0):
            raise ValueError(f"hfov_deg must be in [10, 170] degrees, got {hfov_deg}")
        if width < 8 or height < 8:
            raise ValueError(f"image size must be at least 8x8 pixels, got {width}x{height}")
        f = (width / 2.0) / np.tan(np.radians(hfov_deg) / 2.0)
        return cls(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)

    @property
    def K(self) -> np.ndarray:
        """(3, 3) float64 intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


def look_at(eye: Sequence[float], target: Sequence[float], up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """(4, 4) ``T_fixed_cam`` of an optical frame at ``eye`` whose z axis points at ``target``
    with the image's "up" (-y) as close as possible to ``up`` (fixed-frame coordinates, m)."""
    eye = np.asarray(eye, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to 'up'")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, eye
    return T


def pixel_directions(intr: Intrinsics) -> np.ndarray:
    """(H*W, 3) float32 optical-frame ray directions ``K^-1 [u, v, 1]`` (z = 1), row-major."""
    u = np.arange(intr.width, dtype=np.float64)
    v = np.arange(intr.height, dtype=np.float64)
    uu, vv = np.meshgrid(u, v)
    d = np.stack([(uu - intr.cx) / intr.fx, (vv - intr.cy) / intr.fy, np.ones_like(uu)], -1)
    return d.reshape(-1, 3).astype(np.float32)


def lens_directions(intr: Intrinsics, distortion) -> np.ndarray:
    """(H*W, 3) float32 optical-frame ray directions (z = 1), row-major, of the pixels of a
    camera with intrinsics ``intr`` whose lens distorts as ``distortion`` (a
    hamst3r_ros.types.LensDistortion): the inverse of the lens model at each pixel centre.
    Render with them (RaycastRenderer.set_ray_directions) to get the raw image such a camera
    takes. Pixels whose ray cannot be found (past the model's domain) get NaN directions."""
    from hamst3r_ros.geometry.distortion import undistort_points

    uu, vv = np.meshgrid(np.arange(intr.width, dtype=np.float64), np.arange(intr.height, dtype=np.float64))
    xy, ok = undistort_points(np.stack([uu.ravel(), vv.ravel()], 1), intr.K, distortion)
    d = np.concatenate([xy, np.ones((len(xy), 1))], 1)
    d[~ok, :2] = np.nan
    return d.astype(np.float32)


def camera_rays(intr: Intrinsics, T_fixed_cam: np.ndarray, directions: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 6) float32 rays [origin, direction] in the fixed frame, one per pixel centre.

    Directions are *not* normalised: each is the fixed-frame image of ``K^-1 [u, v, 1]``,
    whose optical-frame z component is 1, so a ray-cast hit distance is the depth z.
    ``directions``: :func:`pixel_directions` of ``intr``, when already computed.
    """
    d_cam = pixel_directions(intr) if directions is None else directions
    rays = np.empty((len(d_cam), 6), np.float32)
    rays[:, :3] = T_fixed_cam[:3, 3]
    R = T_fixed_cam[:3, :3].astype(np.float32)
    # column-wise sum: numpy's (N, 3) @ (3, 3) matmul is several times slower here
    rays[:, 3:] = d_cam[:, 0:1] * R[:, 0] + d_cam[:, 1:2] * R[:, 1] + d_cam[:, 2:3] * R[:, 2]
    return rays.reshape(intr.height, intr.width, 6)


def wall_placements(n: int, room_size: tuple[float, float], rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` wall-mounted camera poses around a room centred on the origin (see module doc)."""
    lx, ly = room_size
    poses = []
    for k in range(n):
        a = 2 * np.pi * (k + 0.5) / n + rng.uniform(-0.15, 0.15)
        # the point where direction a from the centre meets the walls, 0.25 m inside
        d = np.array([np.cos(a), np.sin(a)])
        s = min((lx / 2 - 0.25) / max(abs(d[0]), 1e-9), (ly / 2 - 0.25) / max(abs(d[1]), 1e-9))
        eye = np.array([d[0] * s, d[1] * s, rng.uniform(2.0, 2.5)])
        target = np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), rng.uniform(0.8, 1.2)])
        poses.append(look_at(eye, target))
    return poses


def robot_rig(n: int, tilt_deg: float = 10.0, radius: float = 0.15, spacing_deg: float = 40.0) -> list[np.ndarray]:
    """``n`` camera poses in the *rig* frame (REP-103 axes: x = rig heading, z up; origin at
    the rig centre): a ring of cameras ``spacing_deg`` apart in yaw, centred on the heading,
    tilted down by ``tilt_deg``."""
    poses = []
    yaws = (np.arange(n) - (n - 1) / 2.0) * np.radians(spacing_deg)
    tilt = np.radians(tilt_deg)
    for yaw in yaws:
        fwd = np.array([np.cos(yaw) * np.cos(tilt), np.sin(yaw) * np.cos(tilt), -np.sin(tilt)])
        eye = radius * np.array([np.cos(yaw), np.sin(yaw), 0.0])
        poses.append(look_at(eye, eye + fwd))
    return poses
