"""A picture of one frame set: per camera (rows) the RGB image with the people's projected
SMPL skeletons, the depth, the instance ids and the body-template coordinates."""
from __future__ import annotations

import numpy as np

from hamst3r_ros.synthetic.pointmaps import project_points, transform_points
from hamst3r_ros.types import SMPL_PARENTS

_DEPTH_STOPS = np.array([[48, 18, 59], [70, 130, 250], [30, 220, 170], [250, 200, 40], [180, 20, 10]], np.float32)
_PALETTE = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                     [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60]], np.uint8)


def colorize_depth(depth: np.ndarray, max_depth: float = 10.0) -> np.ndarray:
    """(H, W) metres -> (H, W, 3) uint8 (near blue .. far red; NaN black); log scale from 0.3 m."""
    d = np.clip(np.log(np.nan_to_num(depth, nan=0.3).clip(0.3)) - np.log(0.3), 0, None) / (np.log(max_depth) - np.log(0.3))
    x = np.clip(d, 0, 1) * (len(_DEPTH_STOPS) - 1)
    i = np.minimum(x.astype(int), len(_DEPTH_STOPS) - 2)
    f = (x - i)[..., None]
    out = (_DEPTH_STOPS[i] * (1 - f) + _DEPTH_STOPS[i + 1] * f).astype(np.uint8)
    out[~np.isfinite(depth)] = 0
    return out


def colorize_instances(instance: np.ndarray) -> np.ndarray:
    """(H, W) ids -> (H, W, 3) uint8, 0 black, ids cycle through a fixed palette."""
    idx = np.where(instance > 0, (instance.astype(np.int64) - 1) % (len(_PALETTE) - 1) + 1, 0)
    return _PALETTE[idx]


def colorize_body_coords(coords: np.ndarray) -> np.ndarray:
    """(H, W, 3) template coordinates -> uint8 RGB, each channel stretched over the range the
    template spans on it (x 0.37-0.63, y 0.18-0.82, z 0-1), NaN black."""
    lo = np.array([0.37, 0.18, 0.0], np.float32)
    hi = np.array([0.63, 0.82, 1.0], np.float32)
    c = np.clip((coords - lo) / (hi - lo), 0, 1)
    return (np.nan_to_num(c, nan=0.0) * 255).astype(np.uint8)


def _draw_skeletons(image: np.ndarray, cam, people) -> np.ndarray:
    from PIL import Image, ImageDraw

    im = Image.fromarray(image)
    draw = ImageDraw.Draw(im)
    T_cam_fixed = np.linalg.inv(cam.T_fixed_cam)
    for p in people:
        uv, z = project_points(transform_points(T_cam_fixed, p.joints), cam.K)
        col = tuple(int(x) for x in _PALETTE[(p.person_id - 1) % (len(_PALETTE) - 1) + 1])
        for j, parent in enumerate(SMPL_PARENTS):
            if parent >= 0 and z[j] > 0.1 and z[parent] > 0.1:
                draw.line([tuple(uv[j]), tuple(uv[parent])], fill=col, width=2)
    return np.asarray(im)


def preview_mosaic(fs, skeletons: bool = True) -> np.ndarray:
    """(16 + sum of heights, 4 * max width, 3) uint8 mosaic of a FrameSetGT: one row per
    camera (rows of narrower cameras are padded with black)."""
    from PIL import Image, ImageDraw

    rows = []
    for cam in fs.cameras:
        rgb = _draw_skeletons(cam.image, cam, fs.people) if skeletons else cam.image
        panels = [rgb, colorize_depth(cam.depth), colorize_instances(cam.instance), colorize_body_coords(cam.body_coords)]
        w = max(c.image.shape[1] for c in fs.cameras)  # keep the four columns aligned
        rows.append(np.concatenate([np.pad(p, ((0, 0), (0, w - p.shape[1]), (0, 0))) for p in panels], 1))
    width = max(r.shape[1] for r in rows)
    body = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows], 0)
    W = width // 4
    header = Image.new("RGB", (body.shape[1], 16), (255, 255, 255))
    draw = ImageDraw.Draw(header)
    for k, label in enumerate(["RGB + SMPL joints", "depth (log, 0.3-10 m)", "instance id", "body-template coords"]):
        draw.text((k * W + 4, 2), f"{label}  [set {fs.index}]" if k == 0 else label, fill=(0, 0, 0))
    return np.concatenate([np.asarray(header), body], 0)
