"""The rest-pose template and the DensePose target defined on it.

Template: Anny's default adult (all phenotypes 0.5) in its zero pose (upright, arms in an
A pose; :mod:`hamst3r_ros.body.anny_model`),
in the body frame (:mod:`hamst3r_ros.body.frames`: x forward, y left, z up, origin at the
pelvis), metres.

**Body-template coordinates** (the DensePose target, 3 channels) of vertex v are its
template position mapped *isotropically* into [0, 1]^3:

    coords = (p_template - centre) / extent + 0.5

with ``centre`` the centre of the template's axis-aligned bounding box and ``extent`` its
largest side (the height, ~1.67 m). The height axis (z) spans exactly [0, 1]; x (depth) and
y (width) span sub-intervals centred on 0.5. One unit of coordinate distance is therefore
``extent`` metres on the template everywhere: nearest-neighbour distances in coordinate
space are template distances. The coordinates depend only on the vertex, not on the
person's phenotype or pose; a point inside a triangle gets the barycentric interpolation
of its corners' coordinates. Channel order: (x forward, y left, z up).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class BodyTemplate:
    """Rest-pose template of the body model and its coordinate normalisation.

    Attributes:
        vertices: (V, 3) float64 template vertices, body frame, metres.
        faces: (F, 3) int64 triangles.
        centre: (3,) float64 bounding-box centre, metres.
        extent: float, the bounding box's largest side, metres.
        coords: (V, 3) float32 per-vertex body-template coordinates in [0, 1].
    """

    vertices: np.ndarray
    faces: np.ndarray
    centre: np.ndarray
    extent: float
    coords: np.ndarray

    @classmethod
    def from_vertices(cls, vertices: np.ndarray, faces: np.ndarray) -> "BodyTemplate":
        vertices = np.asarray(vertices, dtype=np.float64)
        lo, hi = vertices.min(0), vertices.max(0)
        centre = (lo + hi) / 2.0
        extent = float((hi - lo).max())
        coords = ((vertices - centre) / extent + 0.5).astype(np.float32)
        return cls(vertices=vertices, faces=np.asarray(faces, dtype=np.int64), centre=centre,
                   extent=extent, coords=coords)

    def points_to_coords(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) template-frame points (metres) -> (..., 3) template coordinates."""
        return ((np.asarray(points, dtype=np.float64) - self.centre) / self.extent + 0.5).astype(np.float32)

    def coords_to_points(self, coords: np.ndarray) -> np.ndarray:
        """(..., 3) template coordinates -> (..., 3) template-frame points (metres)."""
        return (np.asarray(coords, dtype=np.float64) - 0.5) * self.extent + self.centre

    def nearest_vertices(self, coords: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Nearest template vertices of body-template coordinates (a KD-tree, built once).

        Args:
            coords: (N, 3) template coordinates (e.g. a DensePose prediction). NaN rows
                are allowed and return index -1 and distance inf.
            k: neighbours per query.
        Returns:
            indices: (N,) int64 (k == 1) or (N, k) vertex indices.
            distances: same shape, float64, in template *metres* (coordinate distance times
                ``extent``), for gating bad predictions.
        """
        from scipy.spatial import cKDTree

        coords = np.asarray(coords, dtype=np.float64)
        if coords.ndim != 2 or coords.shape[1] != 3:
            raise ValueError(f"coords must be (N, 3) body-template coordinates, got {coords.shape}")
        if not hasattr(self, "_tree"):
            self._tree = cKDTree(self.coords.astype(np.float64))
        shape = (coords.shape[0],) if k == 1 else (coords.shape[0], k)
        idx = np.full(shape, -1, dtype=np.int64)
        dist = np.full(shape, np.inf)
        ok = np.isfinite(coords).all(1)
        if ok.any():
            d, i = self._tree.query(coords[ok], k=k)
            idx[ok] = i
            dist[ok] = d * self.extent
        return idx, dist


def build_template(body) -> BodyTemplate:
    """The template of an :class:`~hamst3r_ros.body.anny_model.AnnyBody` (default phenotype)."""
    with torch.no_grad():
        out = body(body.default_shape(1))
    return BodyTemplate.from_vertices(out.vertices[0].double().cpu().numpy(), body.faces.cpu().numpy())


_TEMPLATE: dict[int, BodyTemplate] = {}


def anny_template() -> BodyTemplate:
    """The shared Anny template (loads the shared float32 CPU model on first use)."""
    from hamst3r_ros.body.anny_model import load_anny_body

    if 0 not in _TEMPLATE:
        _TEMPLATE[0] = build_template(load_anny_body())
    return _TEMPLATE[0]
