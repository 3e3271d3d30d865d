"""Lens distortion of ROS camera models and undistortion of images to an ideal pinhole.

Everything works on *normalised* coordinates ``(x, y) = (X / Z, Y / Z)`` of a ray in the
camera's optical frame (x right, y down, z forward); pixels follow the ROS / OpenCV
convention (pixel (u, v) has its centre at integer coordinates, the image spans
``[-0.5, W - 0.5] x [-0.5, H - 0.5]``) and ``[u, v, 1] = K [x_d, y_d, 1]`` maps a
*distorted* normalised point to its pixel. The models (sensor_msgs/CameraInfo
``distortion_model``; ``D`` in ROS / OpenCV order) are:

``plumb_bob`` (5: k1, k2, p1, p2, k3) and ``rational_polynomial`` (8: k1, k2, p1, p2, k3, k4,
k5, k6), Brown-Conrady radial (a ratio of polynomials in r^2 = x^2 + y^2) plus tangential::

    radial = (1 + k1 r^2 + k2 r^4 + k3 r^6) / (1 + k4 r^2 + k5 r^4 + k6 r^6)
    x_d = x radial + 2 p1 x y + p2 (r^2 + 2 x^2)
    y_d = y radial + p1 (r^2 + 2 y^2) + 2 p2 x y

``equidistant`` (4: k1, k2, k3, k4), the fisheye model, on the angle theta = atan(r) of the ray
from the optical axis::

    theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)
    (x_d, y_d) = (theta_d / r) (x, y)

Undistortion is an inverse *map*: every pixel of the output (pinhole, intrinsics ``K_new``)
takes its ray ``K_new^-1 [u, v, 1]``, distorts it with the forward model and reads the source
image there, bilinearly. The map depends only on the image size, K and the coefficients, so
it is computed once and reused (:class:`Undistorter` caches it). Output pixels whose source
lies outside the source image, or beyond the radius where the polynomial folds back (a
fitted model is meaningless past its first turning point), are black and marked invalid.

The new camera matrix (:func:`undistorted_camera_matrix`):

- ``plumb_bob`` / ``rational_polynomial``: K itself. These models describe moderate lenses,
  whose calibration was fitted over the image: keeping K keeps the image size and the pixel
  scale at the centre (where the network's content is), at the cost of the outermost raw
  pixels with barrel distortion (cropped) or black corners with pincushion distortion.
- ``equidistant``: K with its focal lengths scaled by one factor so that the horizontal
  field of view of the raw image is kept, up to 120 degrees (a pinhole cannot show 180
  degrees, and past ~120 degrees its edges stretch so much that few pixels carry the centre).
  Keeping K would crop a fisheye to a narrow window of its field of view; rays of the raw
  image's edges are what make a wide-angle camera worth having.

Nothing here imports ROS; the CameraInfo conversion is in hamst3r_ros.ros.conversions.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np

from hamst3r_ros.types import CameraFrame, LensDistortion

#: Distortion models and their coefficient counts (ROS sensor_msgs/distortion_models.h names).
MODELS: dict[str, int] = {"plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4}

#: The widest horizontal field of view (degrees) an undistorted fisheye keeps.
MAX_FISHEYE_HFOV_DEG = 120.0


def make_distortion(model: str, coeffs: Sequence[float]) -> Optional[LensDistortion]:
    """The LensDistortion of a camera model name and its coefficients; None for an ideal
    pinhole (no coefficients, or all of them zero, whatever the model name).

    Raises:
        ValueError (one line naming what was expected) for an unknown model, a wrong number
        of coefficients, or non-finite coefficients.
    """
    c = np.asarray(list(coeffs), dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(c)):
        raise ValueError(f"distortion coefficients must be finite, got {c.tolist()}")
    if c.size == 0 or not c.any():
        return None
    if model not in MODELS:
        raise ValueError(f"distortion model {model!r} is not supported (expected one of {', '.join(MODELS)})")
    if c.size != MODELS[model]:
        raise ValueError(f"distortion model {model!r} takes {MODELS[model]} coefficients, got {c.size}")
    return LensDistortion(model, tuple(float(x) for x in c))


# -- the forward models ----------------------------------------------------------------------


def _radial_limit(d: Optional[LensDistortion], r_needed: float) -> float:
    """The undistorted radius r (normalised) up to which the model's radial mapping is
    increasing (first turning point, or a rational denominator reaching zero); inf when it is
    increasing up to ``r_needed`` (or for a pinhole). Tangential terms are ignored (they are small)."""
    if d is None:
        return np.inf
    c = d.coeffs
    if d.model == "equidistant":
        theta_max = min(np.arctan(r_needed), np.pi / 2 - 1e-6)
        t = np.linspace(0.0, theta_max, 4097)
        t2 = t * t
        g = t * (1 + t2 * (c[0] + t2 * (c[1] + t2 * (c[2] + t2 * c[3]))))
        bad = np.flatnonzero(np.diff(g) <= 0)
        return float(np.tan(t[bad[0]])) if bad.size else np.inf
    r = np.linspace(0.0, r_needed, 4097)
    r2 = r * r
    k1, k2, _, _, k3 = c[:5]
    k4, k5, k6 = c[5:8] if len(c) == 8 else (0.0, 0.0, 0.0)
    den = 1 + r2 * (k4 + r2 * (k5 + r2 * k6))
    g = r * (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / np.where(den > 0, den, np.nan)
    bad = np.flatnonzero(~(np.diff(g) > 0) | ~(den[1:] > 0))
    return float(r[bad[0]]) if bad.size else np.inf


def distort_normalised(xy: np.ndarray, d: Optional[LensDistortion]) -> np.ndarray:
    """(N, 2) float64 distorted normalised coordinates of (N, 2) undistorted ones (the forward
    model; identity for None). Points past the model's domain (a zero denominator) are NaN."""
    xy = np.asarray(xy, dtype=np.float64)
    if d is None:
        return xy.copy()
    x, y = xy[:, 0], xy[:, 1]
    r2 = x * x + y * y
    c = d.coeffs
    if d.model == "equidistant":
        r = np.sqrt(r2)
        t = np.arctan(r)
        t2 = t * t
        td = t * (1 + t2 * (c[0] + t2 * (c[1] + t2 * (c[2] + t2 * c[3]))))
        # theta_d / r -> 1 at the axis (theta ~ r there)
        s = np.where(r > 1e-12, td / np.where(r > 1e-12, r, 1.0), 1.0)
        return np.stack([x * s, y * s], -1)
    k1, k2, p1, p2, k3 = c[:5]
    k4, k5, k6 = c[5:8] if len(c) == 8 else (0.0, 0.0, 0.0)
    den = 1 + r2 * (k4 + r2 * (k5 + r2 * k6))
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / np.where(den != 0, den, np.nan)
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], -1)


def undistort_points(uv: np.ndarray, K: np.ndarray, d: Optional[LensDistortion],
                     iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Undistorted normalised coordinates of distorted pixels (the inverse model, by Newton's
    method on the forward one).

    Args:
        uv: (N, 2) pixel coordinates in the distorted image.
        K: (3, 3) intrinsics of the distorted image.
        d: its distortion (None: pinhole).
    Returns:
        xy: (N, 2) float64 normalised ray coordinates (z = 1).
        ok: (N,) bool, the iteration converged (|distort(xy) - target| < 1e-9).
    """
    uv = np.asarray(uv, dtype=np.float64)
    hom = np.concatenate([uv, np.ones((len(uv), 1))], 1)
    target = np.linalg.solve(np.asarray(K, np.float64), hom.T).T[:, :2]
    if d is None:
        return target, np.ones(len(uv), bool)
    xy = target.copy()
    if d.model == "equidistant":
        # start from theta = theta_d
        rd = np.linalg.norm(target, axis=1)
        s = np.where(rd > 1e-12, np.tan(np.minimum(rd, 1.5)) / np.where(rd > 1e-12, rd, 1.0), 1.0)
        xy = target * s[:, None]
    h = 1e-7
    for _ in range(iterations):
        f = distort_normalised(xy, d) - target
        jx = (distort_normalised(xy + [h, 0.0], d) - distort_normalised(xy - [h, 0.0], d)) / (2 * h)
        jy = (distort_normalised(xy + [0.0, h], d) - distort_normalised(xy - [0.0, h], d)) / (2 * h)
        det = jx[:, 0] * jy[:, 1] - jy[:, 0] * jx[:, 1]
        det = np.where(np.abs(det) > 1e-15, det, np.nan)
        # [jx jy]^-1 f for each point (2 x 2 inverse written out)
        dx = (jy[:, 1] * f[:, 0] - jy[:, 0] * f[:, 1]) / det
        dy = (-jx[:, 1] * f[:, 0] + jx[:, 0] * f[:, 1]) / det
        xy = xy - np.stack([dx, dy], -1)
    err = np.linalg.norm(distort_normalised(xy, d) - target, axis=1)
    return xy, np.isfinite(err) & (err < 1e-9)


def project(xy: np.ndarray, K: np.ndarray, d: Optional[LensDistortion]) -> np.ndarray:
    """(N, 2) pixel coordinates in the distorted image of (N, 2) undistorted normalised rays."""
    xd = distort_normalised(xy, d)
    K = np.asarray(K, np.float64)
    u = K[0, 0] * xd[:, 0] + K[0, 1] * xd[:, 1] + K[0, 2]
    v = K[1, 1] * xd[:, 1] + K[1, 2]
    return np.stack([u, v], -1)


# -- the new camera matrix and the map ---------------------------------------------------------


def undistorted_camera_matrix(K: np.ndarray, image_size: tuple[int, int], d: Optional[LensDistortion]) -> np.ndarray:
    """(3, 3) intrinsics of the undistorted image (same size as the raw one); see the module
    doc for why: K for plumb_bob / rational_polynomial, and for equidistant K with its focal
    lengths scaled to keep the raw image's horizontal field of view (up to
    :data:`MAX_FISHEYE_HFOV_DEG`)."""
    K = np.asarray(K, dtype=np.float64)
    if d is None or d.model != "equidistant":
        return K.copy()
    width = int(image_size[0])
    c = d.coeffs
    half_w = width / 2.0
    theta_d_edge = half_w / K[0, 0]  # the distorted angle at the horizontal edges
    theta_cap = np.radians(MAX_FISHEYE_HFOV_DEG / 2.0)
    t = np.linspace(0.0, theta_cap, 4097)
    t2 = t * t
    g = t * (1 + t2 * (c[0] + t2 * (c[1] + t2 * (c[2] + t2 * c[3]))))
    # the first theta whose theta_d reaches the edge, within the increasing part of the model
    stop = np.flatnonzero(np.diff(g) <= 0)
    last = stop[0] if stop.size else len(t) - 1
    reach = np.flatnonzero(g[: last + 1] >= theta_d_edge)
    theta_edge = t[reach[0]] if reach.size else t[last]
    theta_edge = max(float(theta_edge), 1e-3)
    scale = half_w / np.tan(theta_edge) / K[0, 0]
    K_new = K.copy()
    K_new[0, 0] *= scale
    K_new[1, 1] *= scale
    K_new[0, 1] *= scale
    return K_new


@dataclass
class UndistortMap:
    """Inverse map from an undistorted (pinhole) image to its raw (distorted) source.

    Attributes:
        K: (3, 3) float64 intrinsics of the undistorted image.
        map_x, map_y: (H, W) float32 source pixel coordinates (column, row) of every output
            pixel; NaN where the output pixel has no source (outside the raw image, or past
            the model's valid radius).
        index: (4, H*W) intp flat indices of the four source pixels read per output pixel
            (one contiguous row per neighbour: np.take reads a row fastest).
        weight: (4, H*W) float32 bilinear weights (all zero for an invalid output pixel).
        valid_fraction: share of output pixels that have a source.
    """

    K: np.ndarray
    map_x: np.ndarray
    map_y: np.ndarray
    index: np.ndarray
    weight: np.ndarray
    valid_fraction: float


def build_undistort_map(K: np.ndarray, image_size: tuple[int, int], d: Optional[LensDistortion],
                        K_new: Optional[np.ndarray] = None) -> UndistortMap:
    """The inverse map of a raw image of ``image_size`` = (width, height) with intrinsics K and
    distortion d (None: a pinhole, the map then only changes K), to an output of the same size
    with intrinsics ``K_new`` (default: :func:`undistorted_camera_matrix`)."""
    W, H = int(image_size[0]), int(image_size[1])
    K = np.asarray(K, dtype=np.float64)
    K_new = undistorted_camera_matrix(K, (W, H), d) if K_new is None else np.asarray(K_new, np.float64)
    uu, vv = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    pix = np.stack([uu.ravel(), vv.ravel(), np.ones(W * H)], 0)
    rays = np.linalg.solve(K_new, pix)[:2].T  # (HW, 2) normalised, z = 1
    r = np.sqrt((rays * rays).sum(1))
    src = project(rays, K, d)
    sx, sy = src[:, 0], src[:, 1]
    valid = (np.isfinite(sx) & np.isfinite(sy) & (sx >= -0.5) & (sx <= W - 0.5) & (sy >= -0.5) & (sy <= H - 0.5)
             & (r < _radial_limit(d, float(r.max()) if r.size else 0.0)))
    sx = np.where(valid, sx, 0.0)
    sy = np.where(valid, sy, 0.0)
    x0 = np.floor(sx)
    y0 = np.floor(sy)
    fx = (sx - x0).astype(np.float32)
    fy = (sy - y0).astype(np.float32)
    # Samples in the outer half pixel read the edge pixel (clamped neighbours).
    xa = np.clip(x0, 0, W - 1).astype(np.int64)
    xb = np.clip(x0 + 1, 0, W - 1).astype(np.int64)
    ya = np.clip(y0, 0, H - 1).astype(np.int64)
    yb = np.clip(y0 + 1, 0, H - 1).astype(np.int64)
    index = np.stack([ya * W + xa, ya * W + xb, yb * W + xa, yb * W + xb], 0).astype(np.intp)
    weight = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], 0) * valid[None, :]
    map_x = np.where(valid, src[:, 0], np.nan).astype(np.float32).reshape(H, W)
    map_y = np.where(valid, src[:, 1], np.nan).astype(np.float32).reshape(H, W)
    return UndistortMap(K=K_new, map_x=map_x, map_y=map_y, index=index, weight=weight.astype(np.float32),
                        valid_fraction=float(valid.mean()) if valid.size else 0.0)


def remap(image: np.ndarray, m: UndistortMap) -> np.ndarray:
    """The undistorted image: (H, W, C) or (H, W) of the raw image's dtype, read bilinearly
    through the map (its size must be the map's); pixels without a source are 0."""
    H, W = m.map_x.shape
    if image.shape[:2] != (H, W):
        raise ValueError(f"image is {image.shape[1]}x{image.shape[0]} but the map is for {W}x{H}")
    flat = image.reshape(H * W, -1)
    acc = np.take(flat, m.index[0], axis=0) * m.weight[0][:, None]
    for k in range(1, 4):
        # np.take on rows: about twice as fast as fancy indexing here
        acc += np.take(flat, m.index[k], axis=0) * m.weight[k][:, None]
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        acc = np.clip(np.rint(acc), info.min, info.max)
    return acc.astype(image.dtype).reshape(image.shape)


class Undistorter:
    """Undistorts camera frames, caching one map per (image size, K, distortion).

    A rig's cameras keep their calibration, so after the first frame set every frame reuses
    its map; the cache holds ``max_maps`` maps (least recently used dropped first), so a
    camera whose calibration changes cannot grow it. Not thread-safe: one per pipeline.
    """

    def __init__(self, max_maps: int = 16):
        self.max_maps = int(max_maps)
        self._maps: OrderedDict = OrderedDict()
        self.maps_built = 0

    def map_for(self, K: np.ndarray, image_size: tuple[int, int], d: LensDistortion) -> UndistortMap:
        """The (cached) map of a raw image of ``image_size`` = (width, height)."""
        K = np.asarray(K, dtype=np.float64)
        key = (int(image_size[0]), int(image_size[1]), K.tobytes(), d)
        m = self._maps.get(key)
        if m is None:
            m = build_undistort_map(K, image_size, d)
            self.maps_built += 1
            self._maps[key] = m
            while len(self._maps) > self.max_maps:
                self._maps.popitem(last=False)
        else:
            self._maps.move_to_end(key)
        return m

    def frame(self, frame: CameraFrame) -> CameraFrame:
        """The frame as an ideal pinhole camera would see it: undistorted image, K of the
        undistorted image, no distortion. A frame without distortion (or without K: nothing
        to undistort with) is returned as it is."""
        if frame.distortion is None or frame.K is None:
            return frame
        h, w = frame.image.shape[:2]
        m = self.map_for(frame.K, (w, h), frame.distortion)
        return replace(frame, image=remap(frame.image, m), K=m.K.copy(), distortion=None)
