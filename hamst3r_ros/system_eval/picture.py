"""A picture of a published cloud beside the ground truth: top and front views, skeletons, ids.

Layout (each panel ``size`` pixels square, one shared metric scale so that sizes compare)::

    published, top view (x right, y up)     | ground truth, top view
    published, front view (y left, z up)    | ground truth, front view

People's points are drawn in their track colours; published skeletons in the same colours
with ``#id`` labels; true skeletons in white with ``P<id>`` labels, on both sides (so a
misplaced person shows as two skeletons apart). In a z-up frame (posed output) points above
``max_height`` (the ceiling) are left out of the top views so that the room shows.
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from hamst3r_ros.types import SMPL_PARENTS

PALETTE = np.array([[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180],
                    [70, 240, 240], [240, 50, 230], [210, 245, 60]], np.uint8)
# (horizontal axis, vertical axis, depth axis, nearer = larger depth value) per view
_VIEWS = {"top": (0, 1, 2, True), "front": (1, 2, 0, False)}


def track_colour(track_id: int) -> tuple[int, int, int]:
    return tuple(int(c) for c in PALETTE[(int(track_id) - 1) % len(PALETTE)])


class _Frame:
    """Metric -> pixel mapping shared by all panels."""

    def __init__(self, pts: np.ndarray, size: int):
        lo, hi = np.percentile(pts, 1, axis=0), np.percentile(pts, 99, axis=0)
        self.mid, self.size = (lo + hi) / 2, size
        self.span = float(max(hi - lo)) * 1.05 + 1e-6

    def pixels(self, xyz: np.ndarray, a: int, b: int, flip_h: bool) -> tuple[np.ndarray, np.ndarray]:
        """Metric (a, b) coordinates -> pixels, the data's middle at the panel's centre."""
        c = (self.size - 1) / 2
        u = c + (xyz[:, a] - self.mid[a]) / self.span * (self.size - 1)
        if flip_h:
            u = self.size - 1 - u
        v = c - (xyz[:, b] - self.mid[b]) / self.span * (self.size - 1)
        return u, v


def _panel(frame: _Frame, view: str, xyz, colours, max_height, flip_h=False):
    a, b, depth, up = _VIEWS[view]
    img = np.full((frame.size, frame.size, 3), 30, np.uint8)
    if len(xyz):
        u, v = frame.pixels(xyz, a, b, flip_h)
        u, v = u.astype(int), v.astype(int)
        ok = (u >= 0) & (u < frame.size) & (v >= 0) & (v < frame.size)
        if view == "top" and max_height is not None:
            ok &= xyz[:, 2] <= max_height
        order = np.argsort(xyz[ok, depth] * (1 if up else -1))  # nearer points drawn last
        img[v[ok][order], u[ok][order]] = colours[ok][order]
    return img


def _skeletons(draw, frame: _Frame, view: str, joints: Mapping[int, np.ndarray], colour_of, label, flip_h=False):
    a, b, _, _ = _VIEWS[view]
    for pid, J in joints.items():
        J = np.asarray(J, np.float64)
        if not np.isfinite(J[0]).all():
            continue
        u, v = frame.pixels(J, a, b, flip_h)
        c = colour_of(pid)
        for k, parent in enumerate(SMPL_PARENTS):
            if parent >= 0 and np.isfinite(J[[k, parent]]).all():
                draw.line([(u[k], v[k]), (u[parent], v[parent])], fill=c, width=2)
        head = 15  # SMPL "head"
        hu, hv = (u[head], v[head]) if np.isfinite(J[head]).all() else (u[0], v[0])
        draw.text((hu + 4, hv - 12), label(pid), fill=c)


def compare_picture(path, xyz: np.ndarray, rgb: np.ndarray, instance: np.ndarray,
                    published: Mapping[int, np.ndarray], true_xyz: Optional[np.ndarray] = None,
                    true_people: Optional[Mapping[int, np.ndarray]] = None, true_rgb: Optional[np.ndarray] = None,
                    max_height: Optional[float] = None,
                    title: str = "", size: int = 360) -> None:
    """Write the picture (PNG) described in the module docstring.

    Args:
        xyz, rgb, instance: the published cloud, (M, 3) metres, (M, 3) uint8, (M,) track id
            (0 = background).
        published: track id -> (24, 3) published joints (SMPL order).
        true_xyz: (T, 3) true surface points, or None (no truth: the right column is left out).
        true_rgb: (T, 3) uint8 colours of the true points (default grey).
        true_people: person id -> (24, 3) true joints.
        max_height: see the module docstring (None: keep every point).
        title: a line of text above the panels.
    """
    from PIL import Image, ImageDraw

    xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
    finite = np.isfinite(xyz).all(1)
    xyz, rgb, instance = xyz[finite], np.asarray(rgb)[finite], np.asarray(instance)[finite]
    ref = true_xyz if true_xyz is not None and len(true_xyz) else xyz
    if len(ref) == 0:
        ref = np.zeros((1, 3))
    frame = _Frame(np.asarray(ref, np.float64), size)
    colours = rgb.copy()
    person = instance > 0
    if person.any():
        colours[person] = PALETTE[(instance[person].astype(np.int64) - 1) % len(PALETTE)]
    true_people = dict(true_people or {})
    columns = []
    for view in ("top", "front"):
        row = []
        pub = Image.fromarray(_panel(frame, view, xyz, colours, max_height))
        d = ImageDraw.Draw(pub)
        _skeletons(d, frame, view, true_people, lambda _: (255, 255, 255), lambda p: f"P{p}")
        _skeletons(d, frame, view, published, track_colour, lambda p: f"#{p}")
        d.text((6, 4), f"published, {view} view", fill=(255, 255, 255))
        row.append(pub)
        if true_xyz is not None:
            t = np.asarray(true_xyz, np.float64)
            trgb = np.asarray(true_rgb, np.uint8) if true_rgb is not None else np.full((len(t), 3), 150, np.uint8)
            gt = Image.fromarray(_panel(frame, view, t, trgb, max_height))
            d = ImageDraw.Draw(gt)
            _skeletons(d, frame, view, true_people, lambda _: (255, 255, 255), lambda p: f"P{p}")
            d.text((6, 4), f"ground truth, {view} view", fill=(255, 255, 255))
            row.append(gt)
        columns.append(row)
    w = size * len(columns[0])
    top = 18 if title else 0
    canvas = Image.new("RGB", (w + len(columns[0]) - 1, 2 * size + 1 + top), (80, 80, 80))
    for r, row in enumerate(columns):
        for c, im in enumerate(row):
            canvas.paste(im, (c * (size + 1), top + r * (size + 1)))
    if title:
        ImageDraw.Draw(canvas).text((6, 3), title, fill=(255, 255, 255))
    canvas.save(path)
