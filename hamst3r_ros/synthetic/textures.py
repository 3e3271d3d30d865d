"""Procedural textures (numpy only, seeded) so that images have features to match.

Textures are (T, T, 3) float32 RGB images in [0, 1] that tile; surfaces sample them by
planar projection of their fixed-frame position (see :mod:`hamst3r_ros.synthetic.render`).
Bodies get per-vertex colours (clothing regions on the body template plus noise), so the
pattern moves with the body and looks the same from every camera.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

TEXTURE_SIZE = 256


def fractal_noise(rng: np.random.Generator, size: int = TEXTURE_SIZE, octaves: int = 5, base: int = 4) -> np.ndarray:
    """(size, size) tileable fractal value noise in [0, 1]."""
    out = np.zeros((size, size), np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = base * 2**o
        grid = rng.random((cells, cells)).astype(np.float32)
        # bilinear lattice noise; "grid-wrap" keeps the texture tileable
        out += amp * ndimage.map_coordinates(grid, [yy * cells, xx * cells], order=1, mode="grid-wrap")
        total += amp
        amp *= 0.55
    out /= total
    return (out - out.min()) / max(float(np.ptp(out)), 1e-6)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i], np.float32)


def random_color(rng: np.random.Generator, sat=(0.2, 0.8), val=(0.35, 0.95)) -> np.ndarray:
    """(3,) RGB in [0, 1]."""
    return _hsv(rng.random(), rng.uniform(*sat), rng.uniform(*val))


def make_texture(kind: str, rng: np.random.Generator, size: int = TEXTURE_SIZE) -> np.ndarray:
    """A (size, size, 3) float32 texture of one of :data:`TEXTURE_KINDS`."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    noise = fractal_noise(rng, size)
    c1, c2 = random_color(rng), random_color(rng)
    if kind == "planks":  # wooden floor: boards with grain and per-board shade
        boards = 6
        b = np.floor(yy * boards).astype(int)
        shade = rng.uniform(0.75, 1.1, boards).astype(np.float32)[b]
        grain = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * 3 + 4 * noise))
        edge = (np.abs(yy * boards - np.round(yy * boards)) < 0.04)
        base = np.array([0.55, 0.38, 0.22], np.float32) * rng.uniform(0.8, 1.2)
        img = base * (shade * (0.8 + 0.25 * grain))[..., None]
        img[edge] *= 0.45
    elif kind == "tiles":  # checker tiles with grout and noise
        n = int(rng.integers(4, 9))
        chk = ((np.floor(xx * n) + np.floor(yy * n)) % 2)[..., None]
        img = chk * c1 + (1 - chk) * c2
        grout = (np.minimum(np.abs(xx * n - np.round(xx * n)), np.abs(yy * n - np.round(yy * n))) < 0.05)
        img = img * (0.8 + 0.3 * noise[..., None])
        img[grout] = 0.85
    elif kind == "bricks":
        rows = 8
        r = np.floor(yy * rows)
        xs = xx * 4 + 0.5 * (r % 2)
        mortar = (np.abs(yy * rows - np.round(yy * rows)) < 0.06) | (np.abs(xs - np.round(xs)) < 0.03)
        tone = ndimage.zoom(rng.uniform(0.7, 1.15, (rows, 8)).astype(np.float32), size / 8, order=0)[:size, :size]
        img = c1 * (tone * (0.85 + 0.25 * noise))[..., None]
        img[mortar] = np.array([0.8, 0.8, 0.75], np.float32)
    elif kind == "stripes":
        n = int(rng.integers(3, 10))
        s = (0.5 + 0.5 * np.sin(2 * np.pi * (xx * n + 0.3 * noise)))[..., None]
        img = s * c1 + (1 - s) * c2
    elif kind == "posters":  # plain noisy wall with random coloured rectangles and discs
        img = np.broadcast_to(c1 * (0.8 + 0.3 * noise[..., None]), (size, size, 3)).copy()
        for _ in range(int(rng.integers(6, 14))):
            col = random_color(rng, sat=(0.4, 1.0))
            cx, cy, w, h = rng.random(4) * [1, 1, 0.25, 0.25] + [0, 0, 0.05, 0.05]
            if rng.random() < 0.5:
                m = (np.abs(xx - cx) < w / 2) & (np.abs(yy - cy) < h / 2)
            else:
                m = (xx - cx) ** 2 + (yy - cy) ** 2 < (w / 2) ** 2
            img[m] = col * (0.85 + 0.3 * noise[m][:, None])
    elif kind == "marble":
        s = (0.5 + 0.5 * np.sin(2 * np.pi * (xx * 2 + yy + 3 * noise)))[..., None]
        img = s * c1 + (1 - s) * np.array([0.9, 0.9, 0.88], np.float32)
    else:
        raise ValueError(f"unknown texture kind {kind!r}; expected one of {TEXTURE_KINDS}")
    return np.clip(img, 0.0, 1.0).astype(np.float32)


TEXTURE_KINDS: tuple[str, ...] = ("planks", "tiles", "bricks", "stripes", "posters", "marble")


def body_vertex_colors(template_vertices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(V, 3) float32 per-vertex RGB of one person: skin, hair, shirt (maybe short-sleeved,
    plain/striped/checked), trousers and shoes, from the template position of each vertex
    (body frame, metres: x forward, y left, z up, pelvis at the origin), with smooth noise.
    """
    p = np.asarray(template_vertices, np.float64)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    skin = _hsv(rng.uniform(0.03, 0.09), rng.uniform(0.3, 0.6), rng.uniform(0.35, 0.95))
    hair = _hsv(rng.uniform(0.02, 0.12), rng.uniform(0.2, 0.7), rng.uniform(0.08, 0.6))
    shirt, shirt2 = random_color(rng), random_color(rng)
    pants = random_color(rng, sat=(0.1, 0.6), val=(0.15, 0.7))
    shoes = random_color(rng, sat=(0.0, 0.4), val=(0.05, 0.5))
    short_sleeves = rng.random() < 0.5
    pattern = int(rng.integers(0, 3))  # 0 plain, 1 stripes, 2 checks
    freq = rng.uniform(8.0, 16.0)

    colors = np.empty((len(p), 3), np.float32)
    colors[:] = shirt
    if pattern == 1:
        s = np.sin(2 * np.pi * z * freq) > 0
        colors[s] = shirt2
    elif pattern == 2:
        s = (np.floor(z * freq) + np.floor((y + x) * freq)) % 2 > 0
        colors[s] = shirt2
    lower = z < -0.05
    colors[lower] = pants
    colors[z < -0.72] = shoes
    head = z > 0.55
    arm_dist = np.abs(y)
    hands = arm_dist > (0.28 if short_sleeves else 0.42)
    colors[(head | hands) & ~lower] = skin
    colors[head & (z > 0.68) & (x < 0.06)] = hair
    colors[head & (z > 0.76)] = hair
    # smooth noise on the template so that shading varies within each region
    grid = rng.random((12, 12, 12)).astype(np.float32)
    lo, hi = p.min(0), p.max(0)
    q = ((p - lo) / (hi - lo) * 11).T
    n = ndimage.map_coordinates(grid, q, order=1)
    return np.clip(colors * (0.8 + 0.4 * n)[:, None], 0.0, 1.0)
