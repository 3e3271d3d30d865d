"""The static world: a textured room (floor, four walls, ceiling) with furniture-like boxes.

Fixed frame (REP-103): the room is centred on the origin, the floor is z = 0, walls are
axis-aligned at x = +-size_x/2 and y = +-size_y/2, the ceiling at z = height. Furniture
stands against the walls (cabinets, shelves, tables) so that the middle stays free for
people to walk; chairs for sitting people are added by the scene builder.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hamst3r_ros.synthetic.textures import TEXTURE_KINDS, make_texture


@dataclass
class StaticMesh:
    """One static textured mesh.

    Attributes:
        name: e.g. "floor", "wall_+x", "box3".
        vertices: (N, 3) float32 fixed-frame vertices, metres.
        triangles: (M, 3) int32, counter-clockwise seen from outside (normals point out of
            boxes and into the room for the room's surfaces).
        texture: (T, T, 3) float32 RGB in [0, 1], tiling.
        tile_size: metres covered by one texture tile.
    """

    name: str
    vertices: np.ndarray
    triangles: np.ndarray
    texture: np.ndarray
    tile_size: float


@dataclass
class Room:
    """The room's size and its static meshes (``meshes[0]`` is the floor)."""

    size: tuple[float, float]
    height: float
    meshes: list[StaticMesh] = field(default_factory=list)
    #: (K, 4) free-standing obstacles as xy boxes [xmin, ymin, xmax, ymax] (for path planning)
    footprints: list[tuple[float, float, float, float]] = field(default_factory=list)


def box_mesh(lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (8, 3) and outward triangles (12, 3) of an axis-aligned box [lo, hi]."""
    lo, hi = np.asarray(lo, np.float32), np.asarray(hi, np.float32)
    v = np.array([[lo[0] if i & 1 == 0 else hi[0], lo[1] if i & 2 == 0 else hi[1], lo[2] if i & 4 == 0 else hi[2]]
                  for i in range(8)], np.float32)
    quads = [(0, 2, 3, 1), (4, 5, 7, 6), (0, 1, 5, 4), (2, 6, 7, 3), (0, 4, 6, 2), (1, 3, 7, 5)]
    tris = []
    for a, b, c, d in quads:
        tris += [(a, b, c), (a, c, d)]
    return v, np.array(tris, np.int32)


def _quad(corners) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(corners, np.float32), np.array([[0, 1, 2], [0, 2, 3]], np.int32)


def make_room(rng: np.random.Generator, size=None, height: float = 2.8, num_furniture=None,
              keep_clear_wall_minus_x: float = 0.0) -> Room:
    """A seeded room; ``size`` (x, y) metres defaults to a random 6-8 x 5-7 m.

    ``keep_clear_wall_minus_x``: no furniture on the -x wall within this |y| (metres), e.g.
    where a robot stands with its back to that wall.
    """
    if size is None:
        size = (float(rng.uniform(6.0, 8.0)), float(rng.uniform(5.0, 7.0)))
    lx, ly = size
    hx, hy = lx / 2, ly / 2
    room = Room(size=(lx, ly), height=height)
    kinds = list(TEXTURE_KINDS)

    floor = _quad([(-hx, -hy, 0), (hx, -hy, 0), (hx, hy, 0), (-hx, hy, 0)])
    room.meshes.append(StaticMesh("floor", *floor, make_texture(rng.choice(["planks", "tiles", "marble"]), rng),
                                  float(rng.uniform(1.5, 3.0))))
    ceiling = _quad([(-hx, -hy, height), (-hx, hy, height), (hx, hy, height), (hx, -hy, height)])
    room.meshes.append(StaticMesh("ceiling", *ceiling, make_texture("marble", rng), 4.0))
    walls = {
        "wall_+x": [(hx, -hy, 0), (hx, hy, 0), (hx, hy, height), (hx, -hy, height)],
        "wall_-x": [(-hx, hy, 0), (-hx, -hy, 0), (-hx, -hy, height), (-hx, hy, height)],
        "wall_+y": [(hx, hy, 0), (-hx, hy, 0), (-hx, hy, height), (hx, hy, height)],
        "wall_-y": [(-hx, -hy, 0), (hx, -hy, 0), (hx, -hy, height), (-hx, -hy, height)],
    }
    for name, corners in walls.items():
        # inward normals: reverse the winding as seen from outside
        v, t = _quad(corners)
        room.meshes.append(StaticMesh(name, v, t[:, ::-1].copy(), make_texture(str(rng.choice(kinds)), rng),
                                      float(rng.uniform(1.5, 3.0))))

    n = int(rng.integers(3, 7)) if num_furniture is None else int(num_furniture)
    for k in range(n):
        w, d, h = rng.uniform(0.5, 1.6), rng.uniform(0.35, 0.7), rng.uniform(0.5, 2.0)
        side = int(rng.integers(0, 4))
        along = rng.uniform(-0.35, 0.35)
        if side == 1 and abs(along * ly) < keep_clear_wall_minus_x + w / 2:
            side = 0  # the robot's wall: move it to the opposite wall
        if side < 2:  # against wall +-x
            cx = (hx - d / 2 - 0.02) * (1 if side == 0 else -1)
            cy = along * ly
            lo, hi = (cx - d / 2, cy - w / 2, 0.0), (cx + d / 2, cy + w / 2, h)
        else:
            cy = (hy - d / 2 - 0.02) * (1 if side == 2 else -1)
            cx = along * lx
            lo, hi = (cx - w / 2, cy - d / 2, 0.0), (cx + w / 2, cy + d / 2, h)
        v, t = box_mesh(lo, hi)
        room.meshes.append(StaticMesh(f"box{k}", v, t, make_texture(str(rng.choice(kinds)), rng),
                                      float(rng.uniform(0.5, 1.5))))
    return room


def add_box(room: Room, name: str, lo, hi, rng: np.random.Generator) -> None:
    """Add a free-standing textured box (e.g. a chair/stool) and record its footprint."""
    v, t = box_mesh(lo, hi)
    room.meshes.append(StaticMesh(name, v, t, make_texture(str(rng.choice(TEXTURE_KINDS)), rng), 0.6))
    room.footprints.append((lo[0], lo[1], hi[0], hi[1]))
