"""Ground-truth rendering by CPU ray casting (Open3D's RaycastingScene, headless).

One ray per pixel centre per camera (see :func:`hamst3r_ros.synthetic.cameras.camera_rays`)
returns the hit distance, geometry id, triangle id and barycentric coordinates; every ground
truth follows exactly from them:

- depth: the hit distance, which *is* the optical-frame z because ray directions have unit z;
- instance: the hit body's id (0 for the room and furniture);
- body-template coordinates: barycentric interpolation of the hit triangle's per-vertex
  template coordinates (:mod:`hamst3r_ros.body.template`), NaN off bodies;
- colour: static surfaces sample their tiling texture by planar projection of the hit point
  on the plane of their dominant normal axis; bodies interpolate per-vertex colours; both are
  Lambert-shaded by a ceiling light (smooth vertex normals on bodies) plus ambient light.

No shadows, no reflections: the images only need to be plausible and richly textured.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hamst3r_ros.synthetic.cameras import Intrinsics, camera_rays, pixel_directions
from hamst3r_ros.synthetic.world import Room


@dataclass
class BodyMesh:
    """One posed person to render.

    Attributes:
        instance_id: >= 1.
        vertices: (V, 3) float32 fixed-frame vertices, metres.
        faces: (F, 3) int32 triangles (outward winding).
        vertex_colors: (V, 3) float32 RGB in [0, 1].
        template_coords: (V, 3) float32 body-template coordinates in [0, 1].
    """

    instance_id: int
    vertices: np.ndarray
    faces: np.ndarray
    vertex_colors: np.ndarray
    template_coords: np.ndarray


@dataclass
class RenderedView:
    """Raw render of one camera (before camera effects).

    Attributes:
        color: (H, W, 3) float32 linear-ish RGB in [0, ~1].
        depth: (H, W) float32 optical-frame z, metres; NaN where no surface was hit.
        instance: (H, W) uint16, 0 = background, else the person's instance id.
        body_coords: (H, W, 3) float32 body-template coordinates, NaN off bodies.
    """

    color: np.ndarray
    depth: np.ndarray
    instance: np.ndarray
    body_coords: np.ndarray


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) float32 unit area-weighted vertex normals."""
    v = vertices.astype(np.float32)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


class RaycastRenderer:
    """Renders a static :class:`Room` plus posed bodies from several cameras.

    Args:
        room: the static world; its meshes are merged once.
        nthreads: ray-casting threads (0 = all cores; 1 for the single-core budget).
    """

    AMBIENT = 0.35
    DIFFUSE = 0.75

    def __init__(self, room: Room, nthreads: int = 0):
        import open3d as o3d  # deferred: ~0.5 s import

        self._o3d = o3d
        self.nthreads = int(nthreads)
        verts, tris, mats, offset = [], [], [], 0
        for m, mesh in enumerate(room.meshes):
            verts.append(mesh.vertices.astype(np.float32))
            tris.append(mesh.triangles.astype(np.uint32) + offset)
            mats.append(np.full(len(mesh.triangles), m, np.int32))
            offset += len(mesh.vertices)
        self.static_vertices = np.concatenate(verts)
        self.static_triangles = np.concatenate(tris)
        self.triangle_material = np.concatenate(mats)
        self.textures = np.stack([m.texture for m in room.meshes])  # (M, T, T, 3)
        self.tile_size = np.array([m.tile_size for m in room.meshes], np.float32)
        self.light = np.array([0.0, 0.0, room.height - 0.2], np.float32)
        self._static_cache: dict = {}
        self._directions: dict = {}
        self._missed: dict[int, bool] = {}
        self._static_scene = o3d.t.geometry.RaycastingScene(nthreads=self.nthreads)
        self._static_scene.add_triangles(o3d.core.Tensor(self.static_vertices), o3d.core.Tensor(self.static_triangles))

    def _scene(self, bodies: Sequence[BodyMesh], with_static: bool):
        """A ray-casting scene of the bodies (and the room): (scene, room id or None, body ids)."""
        o3d = self._o3d
        scene = o3d.t.geometry.RaycastingScene(nthreads=self.nthreads)
        static_id = None
        if with_static:
            static_id = scene.add_triangles(o3d.core.Tensor(self.static_vertices),
                                            o3d.core.Tensor(self.static_triangles))
        ids = [
            scene.add_triangles(o3d.core.Tensor(np.ascontiguousarray(b.vertices, np.float32)),
                                o3d.core.Tensor(np.ascontiguousarray(b.faces, np.uint32)))
            for b in bodies
        ]
        return scene, static_id, ids

    def render(self, bodies: Sequence[BodyMesh], cameras: Sequence[tuple[Intrinsics, np.ndarray]]) -> list[RenderedView]:
        """Render every camera ``(intrinsics, T_fixed_cam)``; one view per camera, in order.

        A camera whose pose repeats (a fixed camera) gets its room rendered once and cached;
        later calls cast its rays against the bodies only and keep a body hit where it is
        nearer than the room. A camera that moved since the last call (a driving rig) casts
        once against room and bodies together. Both give identical ground truth.
        """
        normals = [vertex_normals(b.vertices, b.faces) for b in bodies]
        scenes: dict[bool, tuple] = {}
        views = []
        for k, (intr, T) in enumerate(cameras):
            key = (intr, T.tobytes())
            cached = key in self._static_cache
            moving = not cached and self._missed.get(k, False) and bool(bodies)
            self._missed[k] = not cached
            if bodies and moving not in scenes:
                scenes[moving] = self._scene(bodies, with_static=moving)
            scene, static_id, ids = scenes.get(moving, (None, None, []))
            if moving:
                views.append(self._render_combined(scene, static_id, ids, bodies, normals, intr, T))
            else:
                views.append(self._render_layered(scene, ids, bodies, normals, intr, T))
        return views

    def set_ray_directions(self, intr: Intrinsics, directions: np.ndarray | None) -> None:
        """Cast camera ``intr``'s rays along ``directions`` instead of the pinhole ``K^-1 [u, v, 1]``:
        a camera with a distorting lens (:func:`hamst3r_ros.synthetic.cameras.lens_directions`).

        Args:
            intr: the camera (its size; every camera equal to it is affected).
            directions: (H*W, 3) optical-frame ray directions with z = 1 (so depth stays the hit
                distance), row-major; None goes back to the pinhole rays.
        """
        if directions is None:
            self._directions.pop(intr, None)
        else:
            directions = np.asarray(directions, dtype=np.float32)
            if directions.shape != (intr.width * intr.height, 3) or not np.allclose(directions[:, 2], 1.0):
                raise ValueError(f"directions must be ({intr.width * intr.height}, 3) with z = 1, got {directions.shape}")
            self._directions[intr] = directions
        # the room renders cached for this camera used the old rays
        for key in [k for k in self._static_cache if k[0] == intr]:
            del self._static_cache[key]

    def _rays(self, intr: Intrinsics, T: np.ndarray) -> np.ndarray:
        if intr not in self._directions:
            self._directions[intr] = pixel_directions(intr)
        return camera_rays(intr, T, self._directions[intr]).reshape(-1, 6)

    def _static_color(self, rays, t, n, prim) -> np.ndarray:
        """Shaded texture colour (k, 3) of room hits at distances t (k,) with normals n."""
        d = rays[:, 3:]
        p = rays[:, :3] + t[:, None] * d
        return self._static_texture(p, n, prim) * self._shade(p, n, d)[:, None]

    def _static_view(self, intr: Intrinsics, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rays (HW, 6), shaded colour (HW, 3), depth (HW,)) of the room alone, cached per pose."""
        key = (intr, T.tobytes())
        if key in self._static_cache:
            return self._static_cache[key]
        rays = self._rays(intr, T)
        hit = self._static_scene.cast_rays(self._o3d.core.Tensor(rays), nthreads=self.nthreads)
        t = hit["t_hit"].numpy()
        color = np.zeros((len(t), 3), np.float32)
        valid = np.flatnonzero(np.isfinite(t))
        if valid.size:
            color[valid] = self._static_color(rays[valid], t[valid], hit["primitive_normals"].numpy()[valid],
                                              hit["primitive_ids"].numpy()[valid])
        depth = np.where(np.isfinite(t), t, np.float32(np.nan))
        if len(self._static_cache) >= 16:
            self._static_cache.pop(next(iter(self._static_cache)))
        self._static_cache[key] = (rays, color, depth)
        return rays, color, depth

    def _shade(self, p: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Lambert factor (k,) from the ceiling light, the unit normal turned towards the camera."""
        L = self.light - p
        nL = np.einsum("kj,kj->k", n, L)
        nd = np.einsum("kj,kj->k", n, d)
        cos = np.where(nd > 0, -nL, nL) / np.maximum(np.sqrt(np.einsum("kj,kj->k", L, L)), 1e-6)
        return self.AMBIENT + self.DIFFUSE * np.clip(cos, 0.0, 1.0)

    def _fill_bodies(self, front, hit, rays, bodies, body_ids, normals, color, depth, instance, coords) -> None:
        """Write body ground truth at the pixel indices ``front`` (hits known to be bodies)."""
        gid = hit["geometry_ids"].numpy()[front]
        prim = hit["primitive_ids"].numpy()[front]
        uv = hit["primitive_uvs"].numpy()[front]
        tf = hit["t_hit"].numpy()[front]
        for b, bid, vn in zip(bodies, body_ids, normals):
            sel = np.flatnonzero(gid == bid)
            if sel.size == 0:
                continue
            m = front[sel]
            vids = b.faces[prim[sel]]  # (k, 3) corner vertices of the hit triangles
            u = uv[sel]
            w = np.stack([1.0 - u[:, 0] - u[:, 1], u[:, 0], u[:, 1]], -1)
            d = rays[m, 3:]
            p = rays[m, :3] + tf[sel, None] * d
            nm = np.einsum("kc,kcj->kj", w, vn[vids])
            nm /= np.maximum(np.sqrt(np.einsum("kj,kj->k", nm, nm)), 1e-12)[:, None]
            instance[m] = b.instance_id
            depth[m] = tf[sel]
            coords[m] = np.einsum("kc,kcj->kj", w, b.template_coords[vids])
            color[m] = np.einsum("kc,kcj->kj", w, b.vertex_colors[vids]) * self._shade(p, nm, d)[:, None]

    def _render_layered(self, scene, body_ids, bodies, normals, intr: Intrinsics, T: np.ndarray) -> RenderedView:
        H, W = intr.height, intr.width
        rays, static_color, static_depth = self._static_view(intr, T)
        color = static_color.copy()
        depth = static_depth.copy()
        instance = np.zeros(H * W, np.uint16)
        coords = np.full((H * W, 3), np.nan, np.float32)
        if scene is not None:
            hit = scene.cast_rays(self._o3d.core.Tensor(rays), nthreads=self.nthreads)
            t = hit["t_hit"].numpy()
            # nearer than the room (NaN room depth: nothing behind, any hit wins)
            front = np.flatnonzero(np.isfinite(t) & ~(t >= static_depth))
            self._fill_bodies(front, hit, rays, bodies, body_ids, normals, color, depth, instance, coords)
        return RenderedView(color.reshape(H, W, 3), depth.reshape(H, W), instance.reshape(H, W),
                            coords.reshape(H, W, 3))

    def _render_combined(self, scene, static_id, body_ids, bodies, normals, intr: Intrinsics, T: np.ndarray) -> RenderedView:
        H, W = intr.height, intr.width
        rays = self._rays(intr, T)
        hit = scene.cast_rays(self._o3d.core.Tensor(rays), nthreads=self.nthreads)
        t = hit["t_hit"].numpy()
        gid = hit["geometry_ids"].numpy()
        valid = np.isfinite(t)
        color = np.zeros((H * W, 3), np.float32)
        depth = np.where(valid, t, np.float32(np.nan))
        instance = np.zeros(H * W, np.uint16)
        coords = np.full((H * W, 3), np.nan, np.float32)
        st = np.flatnonzero(valid & (gid == static_id))
        if st.size:
            color[st] = self._static_color(rays[st], t[st], hit["primitive_normals"].numpy()[st],
                                           hit["primitive_ids"].numpy()[st])
        front = np.flatnonzero(valid & (gid != static_id))
        self._fill_bodies(front, hit, rays, bodies, body_ids, normals, color, depth, instance, coords)
        return RenderedView(color.reshape(H, W, 3), depth.reshape(H, W), instance.reshape(H, W),
                            coords.reshape(H, W, 3))

    def _static_texture(self, p: np.ndarray, n: np.ndarray, prim: np.ndarray) -> np.ndarray:
        mat = self.triangle_material[prim]
        axis = np.abs(n).argmax(1)
        # planar projection on the plane of the dominant normal axis
        u = np.where(axis == 0, p[:, 1], p[:, 0])
        v = np.where(axis == 2, p[:, 1], p[:, 2])
        T = self.textures.shape[1]
        scale = T / self.tile_size[mat]
        iu = (u * scale).astype(np.int32) % T  # truncation: a mirrored tile at negative u, harmless
        iv = (v * scale).astype(np.int32) % T
        return self.textures.reshape(-1, 3)[(mat * T + iv) * T + iu]
