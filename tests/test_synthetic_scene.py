"""Synthetic scenes: geometric consistency of the ground truth across cameras and time.

Small scenes (128 x 96) keep this fast; one scene and a few frame sets are shared by the
module.
"""
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("anny", reason="synthetic people need the 'anny' package")
o3d = pytest.importorskip("open3d", reason="synthetic rendering needs 'open3d-cpu'")
os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

from hamst3r_ros.synthetic.pointmaps import (  # noqa: E402
    backproject_depth, gt_pair_pointmaps, points_in_fixed, project_points, transform_points,
)
from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene  # noqa: E402
from hamst3r_ros.types import FrameSet  # noqa: E402

CFG = dict(seed=7, num_cameras=4, num_people=4, width=128, height=96, motions=["walk", "pace", "stand", "sit"])
FRAMES = (0, 5, 12)


@pytest.fixture(scope="module")
def scene():
    return SyntheticScene(SceneConfig(**CFG))


@pytest.fixture(scope="module")
def framesets(scene):
    return {k: scene.frameset(k) for k in FRAMES}


def _corners(a, uv):
    """Values of the 4 pixels around sub-pixel positions uv, the fractions, and in-image mask."""
    H, W = a.shape[:2]
    u0 = np.floor(uv[:, 0]).astype(int)
    v0 = np.floor(uv[:, 1]).astype(int)
    ok = (u0 >= 0) & (v0 >= 0) & (u0 < W - 1) & (v0 < H - 1)
    u0, v0 = np.clip(u0, 0, W - 2), np.clip(v0, 0, H - 2)
    vals = np.stack([a[v0, u0], a[v0, u0 + 1], a[v0 + 1, u0], a[v0 + 1, u0 + 1]], 1)
    return vals, uv[:, 0] - u0, uv[:, 1] - v0, ok


def _bilinear_weights(fu, fv):
    return np.stack([(1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv], 1)


def test_shapes_and_conventions(scene, framesets):
    fs = framesets[0]
    assert len(fs.cameras) == 4 and len(fs.people) == 4
    for c in fs.cameras:
        assert c.image.shape == (96, 128, 3) and c.image.dtype == np.uint8
        assert c.depth.shape == (96, 128) and c.depth.dtype == np.float32
        assert np.isfinite(c.depth).all() and (c.depth > 0).all()  # closed room: every ray hits
        assert c.instance.dtype == np.uint16 and c.body_coords.shape == (96, 128, 3)
        np.testing.assert_array_equal(c.body_mask, c.instance > 0)
        assert np.isnan(c.body_coords[~c.body_mask]).all()
        on = c.body_coords[c.body_mask]
        assert np.isfinite(on).all() and on.min() >= -1e-6 and on.max() <= 1 + 1e-6
        R = c.T_fixed_cam[:3, :3]
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(R) > 0
        assert R[2, 1] < 0  # optical y (down) points down in the z-up fixed frame
        assert 0 < c.T_fixed_cam[2, 3] < scene.room.height
    for p in fs.people:
        assert p.joints.shape == (24, 3) and p.pose.shape == (103, 3) and p.shape.shape == (6,)
        assert p.visible_pixels.shape == (4,)
    assert [p.person_id for p in fs.people] == [1, 2, 3, 4]
    f = fs.to_frameset(with_extrinsics=True)
    assert isinstance(f, FrameSet) and f.names == ["cam0", "cam1", "cam2", "cam3"]
    assert f.frames[0].image is fs.cameras[0].image and f.stamp_ns == fs.stamp_ns
    assert fs.to_frameset().T_fixed_cam == {}


def _seen_by(cam, X):
    """Fixed-frame points X (N, 3) in camera ``cam``: pixels uv, depths z, and ``cam``'s depth and
    instance ids at the 4 pixels around each (see _corners), with the bilinear fractions and validity."""
    uv, z = project_points(transform_points(np.linalg.inv(cam.T_fixed_cam), X), cam.K)
    d, fu, fv, ok = _corners(cam.depth, uv)
    inst, *_ = _corners(cam.instance, uv)
    return uv, z, d, fu, fv, ok, inst


def test_depth_backprojects_onto_the_surface_other_cameras_see(framesets):
    """Points of camera i, projected into camera j, lie on j's depth surface or behind it.

    Tolerance: inverse depth is affine in pixel coordinates on a plane, so bilinear
    interpolation of 1/z between the 4 pixels around the projection is *exact* on a planar
    patch; we test only such patches (same instance at the 4 pixels, vanishing bilinear twist
    of 1/z) and allow 1e-4 relative error (float32 ray-triangle intersection at several metres
    is ~1e-6). A point farther than j's surface is occluded in j (legitimate); a point nearer
    than j's surface would be in free space: only creases that pass the planarity test
    (<0.5 %) may do so.
    """
    for fs in framesets.values():
        total = matched = front = 0
        for i, ci in enumerate(fs.cameras):
            X = points_in_fixed(ci).reshape(-1, 3)
            for j, cj in enumerate(fs.cameras):
                if i == j:
                    continue
                uv, z, d, fu, fv, ok, inst = _seen_by(cj, X)
                inv = 1.0 / d
                zi = 1.0 / (_bilinear_weights(fu, fv) * inv).sum(1)
                twist = np.abs(inv[:, 0] + inv[:, 3] - inv[:, 1] - inv[:, 2]) * zi
                sel = ok & (z > 0.05) & (inst == ci.instance.reshape(-1)[:, None]).all(1) & (twist < 1e-4)
                rel = (z - zi) / zi
                total += sel.sum()
                matched += (sel & (np.abs(rel) < 1e-4)).sum()
                front += (sel & (rel < -1e-4)).sum()
        assert total > 20000
        assert matched > 0.6 * total
        assert front < 0.005 * total


def test_body_pixels_lie_on_their_person_with_template_coords_of_that_point(framesets, scene):
    """Each body pixel back-projects onto *its* person's posed mesh, and its template
    coordinates are those of that surface point: the ground truth depends only on the body
    point, not on the camera that sees it."""
    tpl = scene.template
    faces = tpl.faces
    for fs in framesets.values():
        for p in fs.people:
            rc = o3d.t.geometry.RaycastingScene()
            rc.add_triangles(o3d.core.Tensor(p.vertices), o3d.core.Tensor(faces.astype(np.uint32)))
            for c in fs.cameras:
                m = c.instance == p.person_id
                assert p.visible_pixels[int(c.name[3:])] == m.sum()
                if not m.any():
                    continue
                X = points_in_fixed(c)[m]
                q = rc.compute_closest_points(o3d.core.Tensor(X.astype(np.float32)))
                dist = np.linalg.norm(q["points"].numpy() - X, axis=1)
                assert dist.max() < 2e-3  # float32 depth at a few metres: ~1e-6 relative
                uv = q["primitive_uvs"].numpy()
                w = np.stack([1 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], 1)
                expected = (tpl.coords[faces[q["primitive_ids"].numpy()]] * w[..., None]).sum(1)
                err = np.linalg.norm(expected - c.body_coords[m], axis=1) * tpl.extent
                # closest point may land on a neighbouring triangle at edges: mm-level
                assert np.median(err) < 1e-4 and np.percentile(err, 99) < 5e-3


def test_same_body_point_has_same_template_coords_in_two_cameras(framesets, scene):
    """Body points of camera i visible in camera j (depth agrees) have the template
    coordinates camera j interpolates at that sub-pixel position, to within the template
    distance one pixel spans there (the coords are smooth on the body)."""
    fs = framesets[5]
    errs, n = [], 0
    for i, ci in enumerate(fs.cameras):
        X = points_in_fixed(ci)[ci.body_mask]
        ids = ci.instance[ci.body_mask]
        ci_coords = ci.body_coords[ci.body_mask]
        for j, cj in enumerate(fs.cameras):
            if i == j:
                continue
            uv, z, d, fu, fv, ok, inst = _seen_by(cj, X)
            visible = ok & (inst == ids[:, None]).all(1) & (np.abs(d - z[:, None]) < 0.03).all(1)
            if not visible.any():
                continue
            coords, *_ = _corners(cj.body_coords, uv)
            interp = (coords * _bilinear_weights(fu, fv)[..., None]).sum(1)
            err = np.linalg.norm(interp[visible] - ci_coords[visible], axis=1) * scene.template.extent
            footprint = z[visible] / cj.K[0, 0]  # metres per pixel at that depth
            errs.append(err / footprint)
            n += visible.sum()
    errs = np.concatenate(errs)
    assert n > 200
    assert np.median(errs) < 0.1 and np.percentile(errs, 95) < 1.0


def test_template_coords_are_continuous_over_the_body(framesets, scene):
    """Neighbouring pixels of one person whose 3D points are close have close template
    coordinates (skin stretches by a bounded factor under posing)."""
    for fs in framesets.values():
        for c in fs.cameras:
            X = points_in_fixed(c)
            for a, b in (((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
                         ((slice(1, None), slice(None)), (slice(None, -1), slice(None)))):
                same = (c.instance[a] == c.instance[b]) & (c.instance[a] > 0)
                d3 = np.linalg.norm(X[a] - X[b], axis=-1)
                near = same & (d3 < 0.03)
                if near.sum() < 10:
                    continue
                dt = np.linalg.norm(c.body_coords[a] - c.body_coords[b], axis=-1) * scene.template.extent
                ratio = dt[near] / np.maximum(d3[near], 1e-3)
                assert np.percentile(ratio, 99) < 3.0


def test_instance_ids_agree_across_views_and_time(scene):
    """Pixels labelled k in any camera at any time back-project onto person k's mesh (and
    not onto another person's)."""
    for k in (0, 8, 16):
        fs = scene.frameset(k)
        verts = {p.person_id: p.vertices for p in fs.people}
        from scipy.spatial import cKDTree

        trees = {pid: cKDTree(v) for pid, v in verts.items()}
        for c in fs.cameras:
            X = points_in_fixed(c)
            for pid, tree in trees.items():
                m = c.instance == pid
                if not m.any():
                    continue
                d_own, _ = tree.query(X[m])
                assert np.percentile(d_own, 99) < 0.03  # mesh vertices are ~1-2 cm apart
                for other, t2 in trees.items():
                    if other != pid:
                        d_other, _ = t2.query(X[m])
                        assert np.median(d_other) > np.median(d_own)


def test_joints_lie_inside_their_body(framesets, scene):
    faces = scene.template.faces.astype(np.uint32)
    for fs in framesets.values():
        for p in fs.people:
            rc = o3d.t.geometry.RaycastingScene()
            rc.add_triangles(o3d.core.Tensor(p.vertices), o3d.core.Tensor(faces))
            # majority vote over 9 rays per joint: robust to the mesh's small openings (eyes, mouth)
            occ = rc.compute_occupancy(o3d.core.Tensor(p.joints.astype(np.float32)), nsamples=9).numpy()
            assert occ.all(), [n for n, o in zip(range(24), occ) if not o]


def test_people_move_with_consistent_velocity(scene):
    a, b = scene.frameset(20, keep_vertices=False), scene.frameset(21, keep_vertices=False)
    dt = (b.stamp_ns - a.stamp_ns) * 1e-9
    assert dt == pytest.approx(1 / scene.config.fps)
    for pa, pb in zip(a.people, b.people):
        fd = (pb.T_fixed_body[:3, 3] - pa.T_fixed_body[:3, 3]) / dt
        mean_v = 0.5 * (pa.velocity + pb.velocity)
        assert np.linalg.norm(fd - mean_v) < 0.15 * max(1.0, np.linalg.norm(mean_v))
        if pa.motion == "walk":
            assert 0.7 < np.linalg.norm(pa.velocity[:2]) < 1.6
            # walking people face where they go
            heading = pa.T_fixed_body[:3, 0]
            assert heading[:2] @ pa.velocity[:2] > 0.9 * np.linalg.norm(pa.velocity[:2])
        if pa.motion in ("stand", "sit"):
            assert np.linalg.norm(pa.velocity[:2]) < 1e-6
        # feet on (or just above) the floor, never far below
        assert pa.vertices is None and pa.joints[:, 2].min() > -0.05
        # the root joint is the body frame (the root bone is never posed)
        np.testing.assert_allclose(pa.joints[0], pa.T_fixed_body[:3, 3], atol=1e-4)
        np.testing.assert_allclose(pa.joint_rotations[0], pa.T_fixed_body[:3, :3], atol=1e-4)


def test_gt_pair_pointmaps(framesets):
    fs = framesets[0]
    pts_i, pts_j = gt_pair_pointmaps(fs, 0, 2)
    ci, cj = fs.cameras[0], fs.cameras[2]
    np.testing.assert_allclose(pts_i, backproject_depth(ci.depth, ci.K))
    np.testing.assert_allclose(pts_i[..., 2], ci.depth, rtol=1e-6)
    np.testing.assert_allclose(transform_points(ci.T_fixed_cam, pts_j), points_in_fixed(cj), atol=1e-4)
    # a pixel's point projects back onto that pixel
    uv, _ = project_points(pts_i[40, 70], ci.K)
    np.testing.assert_allclose(uv, [70, 40], atol=1e-3)


def test_same_seed_same_output_and_seed_matters(framesets):
    fs2 = SyntheticScene(SceneConfig(**CFG)).frameset(5)
    fs1 = framesets[5]
    for a, b in zip(fs1.cameras, fs2.cameras):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.depth, b.depth)
        np.testing.assert_array_equal(a.instance, b.instance)
        np.testing.assert_array_equal(a.body_coords, b.body_coords)
        np.testing.assert_array_equal(a.T_fixed_cam, b.T_fixed_cam)
    for a, b in zip(fs1.people, fs2.people):
        np.testing.assert_array_equal(a.joints, b.joints)
        np.testing.assert_array_equal(a.pose, b.pose)
    other = SyntheticScene(SceneConfig(**{**CFG, "seed": 8})).frameset(5)
    assert not np.array_equal(other.cameras[0].image, fs1.cameras[0].image)


def test_people_occlude_each_other(scene, framesets):
    """Rendering each person without the others shows a superset of its pixels, and in
    these frames at least one person is partly hidden by another in some camera."""
    from hamst3r_ros.synthetic.render import BodyMesh

    faces = scene.template.faces.astype(np.int32)
    hidden = 0
    for fs in framesets.values():
        cams = [(intr, c.T_fixed_cam) for intr, c in zip(scene.intrinsics, fs.cameras)]
        for p, spec in zip(fs.people, scene.people):
            alone = scene.renderer.render([BodyMesh(p.person_id, p.vertices, faces, spec.vertex_colors,
                                                    scene.template.coords)], cams)
            for view, c in zip(alone, fs.cameras):
                mine = c.instance == p.person_id
                assert (view.instance[mine] == p.person_id).all()
                hidden += (view.instance == p.person_id).sum() > mine.sum() + 5
    assert hidden >= 1
