"""An analytic test scene: cameras in a box-shaped room with two boxes inside.

Depth is exact (ray/box intersection), so pairwise pointmaps as DUSt3R/MASt3R define them
(both views in camera i's optical frame) are known exactly; noise, outliers and an
unknown per-pair scale are then added to mimic a network. The taller inner box plays a
"person": its pixels carry instance id 1 and body-template coordinates, so that fusion
can be checked to carry them through. World frame: REP-103, z up, metres.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hamst3r_ros.types import PairPrediction

ROOM_LO = np.array([-3.0, -3.0, 0.0])
ROOM_HI = np.array([3.0, 3.0, 2.6])
#: (lo, hi) of the inner boxes; index 0 is the "person".
BOXES = (
    (np.array([0.05, -0.45, 0.0]), np.array([0.55, -0.05, 1.75])),
    (np.array([-1.5, 0.7, 0.0]), np.array([-0.5, 1.3, 0.75])),
)


@dataclass
class BoxRoomScene:
    """Ground truth of N cameras in the box room.

    Attributes:
        T_world_cam: (N, 4, 4) float64 camera optical-frame poses in the world frame.
        K: (N, 3, 3) float64 intrinsics at (width, height).
        width, height: image size, pixels.
        points: (N, H, W, 3) float64 world points seen by each pixel.
        colors: (N, H, W, 3) uint8 RGB.
        instance: (N, H, W) int32, 1 on the "person" box, 0 elsewhere.
        body_coords: (N, H, W, 3) float32 box-normalised coordinates on the person, NaN off it.
    """

    T_world_cam: np.ndarray
    K: np.ndarray
    width: int
    height: int
    points: np.ndarray
    colors: np.ndarray
    instance: np.ndarray
    body_coords: np.ndarray

    @property
    def n(self) -> int:
        return len(self.T_world_cam)

    def depth(self, k: int) -> np.ndarray:
        """(H, W) z-depth of camera k, metres."""
        T = np.linalg.inv(self.T_world_cam[k])
        return (self.points[k] @ T[:3, :3].T + T[:3, 3])[..., 2]


def look_at(center: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(4, 4) optical-frame pose (z forward, x right, y down) at ``center`` facing ``target``."""
    z = target - center
    z = z / np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, z], 1)
    T[:3, 3] = center
    return T


def _raycast(o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance along unit rays d (M, 3) from o (3,) to the first surface, and hit id
    (-1 room, k for BOXES[k])."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t_room = np.min(np.where(d > 0, (ROOM_HI - o) / d, (ROOM_LO - o) / d), axis=1)
        t = t_room.copy()
        hit = np.full(len(d), -1)
        for k, (lo, hi) in enumerate(BOXES):
            t1, t2 = (lo - o) / d, (hi - o) / d
            tmin = np.max(np.minimum(t1, t2), axis=1)
            tmax = np.min(np.maximum(t1, t2), axis=1)
            ok = (tmax >= tmin) & (tmin > 1e-6) & (tmin < t)
            t = np.where(ok, tmin, t)
            hit = np.where(ok, k, hit)
    return t, hit


LAYOUTS = ("circle", "arc")


def make_scene(n_cameras: int = 4, width: int = 64, height: int = 48, fov_deg: float = 70.0,
               radius: float = 2.3, seed: int = 0, layout: str = "circle") -> BoxRoomScene:
    """Cameras at 1.3-1.9 m looking at the boxes, spread evenly on a circle around the room
    centre (``circle``: relative rotations up to 180 degrees) or on a 90-degree arc
    (``arc``: neighbouring viewpoints, relative rotations up to ~90 degrees)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    rng = np.random.default_rng(seed)
    poses = []
    span = 2 * np.pi if layout == "circle" else np.pi / 2
    for k in range(n_cameras):
        frac = k / n_cameras if layout == "circle" else (k / max(n_cameras - 1, 1) - 0.5)
        a = span * frac + rng.uniform(-0.15, 0.15) * (1.0 if layout == "circle" else 0.3)
        c = np.array([radius * np.cos(a), radius * np.sin(a), rng.uniform(1.3, 1.9)])
        poses.append(look_at(c, np.array([0.0, 0.0, 0.9]) + rng.uniform(-0.3, 0.3, 3)))
    return render_scene(np.stack(poses), width, height, fov_deg)


def render_scene(T_world_cam: np.ndarray, width: int, height: int, fov_deg: float = 70.0) -> BoxRoomScene:
    """Exact views of the box room from the given (N, 4, 4) optical-frame poses."""
    f = (width / 2.0) / np.tan(np.radians(fov_deg) / 2.0)
    K1 = np.array([[f, 0, (width - 1) / 2.0], [0, f, (height - 1) / 2.0], [0, 0, 1.0]])
    v, u = np.mgrid[0:height, 0:width]
    rays_cam = np.stack([(u - K1[0, 2]) / f, (v - K1[1, 2]) / f, np.ones_like(u, float)], -1).reshape(-1, 3)
    rays_cam /= np.linalg.norm(rays_cam, axis=1, keepdims=True)
    pts, cols, inst, body = [], [], [], []
    for T in T_world_cam:
        c = T[:3, 3]
        d = rays_cam @ T[:3, :3].T
        t, hit = _raycast(c, d)
        P = c + t[:, None] * d
        checker = (np.floor(P * 4.0).astype(int).sum(1) % 2).astype(np.float64)
        base = np.where(hit[:, None] == 0, [200, 80, 60], np.where(hit[:, None] == 1, [60, 160, 80], [150, 150, 170]))
        col = np.clip(base * (0.6 + 0.4 * checker[:, None]), 0, 255).astype(np.uint8)
        lo, hi = BOXES[0]
        bc = np.where((hit == 0)[:, None], (P - lo) / (hi - lo), np.nan).astype(np.float32)
        pts.append(P.reshape(height, width, 3))
        cols.append(col.reshape(height, width, 3))
        inst.append((hit == 0).astype(np.int32).reshape(height, width))
        body.append(bc.reshape(height, width, 3))
    n = len(T_world_cam)
    return BoxRoomScene(np.array(T_world_cam, dtype=np.float64), np.stack([K1] * n), width, height,
                        np.stack(pts), np.stack(cols), np.stack(inst), np.stack(body))


def smooth_log_depth_error(n: int, width: int, height: int, amplitude: float, seed: int = 0) -> np.ndarray:
    """(n, height, width) smooth per-view log-depth errors, as a network's systematic depth
    error (a scale, a tilt, a bulge): a random mix of 1, x, y, xy, cos(pi x), cos(pi y) over
    the image (x, y in [-1, 1]), scaled so that each view's largest |error| is ``amplitude``.
    Depth times exp(error) is the distorted depth."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    x = 2.0 * x / max(width - 1, 1) - 1.0
    y = 2.0 * y / max(height - 1, 1) - 1.0
    basis = np.stack([np.ones_like(x), x, y, x * y, np.cos(np.pi * x), np.cos(np.pi * y)])
    out = np.einsum("nk,khw->nhw", rng.uniform(-1, 1, (n, len(basis))), basis)
    return amplitude * out / np.maximum(np.abs(out).max(axis=(1, 2), keepdims=True), 1e-12)


def true_matches(sc: BoxRoomScene, a: int, b: int, stride: int, outliers: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of view a on a grid of ``stride`` and where they truly land in view b (visible,
    unoccluded ones only), a fraction ``outliers`` of them replaced by random pixels of b:
    what a good descriptor matcher gives. (M, 2) int32 (x, y) each."""
    H, W = sc.height, sc.width
    v, u = np.mgrid[stride // 2:H:stride, stride // 2:W:stride]
    u, v = u.ravel(), v.ravel()
    P = sc.points[a][v, u]
    T = np.linalg.inv(sc.T_world_cam[b])
    q = P @ T[:3, :3].T + T[:3, 3]
    z = q[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        ub = np.round(sc.K[b][0, 0] * q[:, 0] / z + sc.K[b][0, 2])
        vb = np.round(sc.K[b][1, 1] * q[:, 1] / z + sc.K[b][1, 2])
    ok = np.isfinite(ub) & np.isfinite(vb) & (z > 0) & (ub >= 0) & (ub < W) & (vb >= 0) & (vb < H)
    ub, vb = np.where(ok, ub, 0).astype(int), np.where(ok, vb, 0).astype(int)
    ok &= np.abs(sc.depth(b)[vb, ub] - z) < 0.02 * z  # not occluded
    xy1 = np.stack([u[ok], v[ok]], 1).astype(np.int32)
    xy2 = np.stack([ub[ok], vb[ok]], 1).astype(np.int32)
    bad = rng.random(len(xy2)) < outliers
    xy2[bad] = np.stack([rng.integers(0, W, bad.sum()), rng.integers(0, H, bad.sum())], 1)
    return xy1, xy2


def pair_predictions(scene: BoxRoomScene, pairs: list[tuple[int, int]], noise: float = 0.0,
                     outliers: float = 0.0, scale_range: tuple[float, float] = (1.0, 1.0),
                     seed: int = 0, desc_dim: int = 0, depth_error: np.ndarray | None = None,
                     desc_outliers: float = 0.0) -> list[PairPrediction]:
    """Pairwise pointmaps from ground truth, degraded like a network's.

    Args:
        noise: relative depth noise: each point's distance from the camera that sees it is
            multiplied by (1 + noise * N(0, 1)), independently per pair.
        outliers: fraction of pixels per pointmap replaced by wrong points (distance
            scaled by U(0.3, 2.5) and shifted by N(0, 0.3 m)), with normal confidences.
        scale_range: each pair's pointmaps are multiplied by U(*scale_range) (log-uniform),
            the unknown per-pair scale of a network.
        desc_dim: when > 0, also L2-normalised local descriptors of that size: random
            Fourier features of the true world point (the same surface point gets the same
            descriptor in every view), so mutual nearest neighbours are true matches.
        depth_error: (N, H, W) log-depth error per view (``smooth_log_depth_error``): every
            prediction of view v has its distances from camera v multiplied by
            exp(depth_error[v]): a systematic error the pointmaps agree on.
        desc_outliers: fraction of pixels per view whose descriptor is that of another random
            pixel of the same view (fixed per view), so that their matches are wrong.
    """
    rng = np.random.default_rng(seed)
    freqs = np.random.default_rng(12345).normal(0, 4.0, (3, max(desc_dim // 2, 1)))
    out = []
    inst_prob = scene.instance.astype(np.float32)
    for i, j in pairs:
        T_i_w = np.linalg.inv(scene.T_world_cam[i])
        lam = float(np.exp(rng.uniform(np.log(scale_range[0]), np.log(scale_range[1]))))
        maps, confs = [], []
        for v in (i, j):
            c_v = scene.T_world_cam[v][:3, 3]
            rel = scene.points[v] - c_v
            factor = 1.0 + noise * rng.standard_normal(rel.shape[:2])
            if depth_error is not None:
                factor = factor * np.exp(depth_error[v])
            bad = rng.random(rel.shape[:2]) < outliers
            factor = np.where(bad, rng.uniform(0.3, 2.5, rel.shape[:2]), factor)
            P = c_v + rel * factor[..., None] + bad[..., None] * rng.normal(0, 0.3, rel.shape)
            maps.append((lam * (P @ T_i_w[:3, :3].T + T_i_w[:3, 3])).astype(np.float32))
            confs.append((1.0 + np.exp(rng.normal(1.0, 0.5, rel.shape[:2]))).astype(np.float32))
        desc = [None, None]
        if desc_dim > 0:
            for k, v in enumerate((i, j)):
                P = np.nan_to_num(scene.points[v])
                if desc_outliers > 0:
                    # the same wrong pixels in every pair of this view: a view's descriptors are one map
                    vr = np.random.default_rng(7919 + v)
                    flat = P.reshape(-1, 3).copy()
                    bad = np.nonzero(vr.random(len(flat)) < desc_outliers)[0]
                    flat[bad] = flat[vr.integers(0, len(flat), len(bad))]
                    P = flat.reshape(P.shape)
                ph = P @ freqs
                d = np.concatenate([np.sin(ph), np.cos(ph)], -1)
                desc[k] = (d / np.linalg.norm(d, axis=-1, keepdims=True)).astype(np.float32)
        out.append(PairPrediction(
            i=i, j=j, pts_i=maps[0], pts_j=maps[1], conf_i=confs[0], conf_j=confs[1], desc_i=desc[0], desc_j=desc[1],
            inst_i=inst_prob[i][None], inst_j=inst_prob[j][None], inst_score=np.ones(1, np.float32),
            dp_i=np.nan_to_num(scene.body_coords[i]), dp_j=np.nan_to_num(scene.body_coords[j]),
            body_i=inst_prob[i], body_j=inst_prob[j]))
    return out
