"""Depth refined from matches (hamst3r_ros.geometry.depth_refine) on the analytic box room:
known cameras, depth distorted by a known smooth field, true and wrong correspondences."""
import numpy as np
import pytest

from hamst3r_ros.geometry.alignment import AlignmentResult, AlignmentState, PixelMatches
from hamst3r_ros.geometry.box_room import make_scene, smooth_log_depth_error, true_matches
from hamst3r_ros.geometry.depth_refine import (
    DepthRefineOptions, bilinear_basis, fit_log_field, refine_depth, triangulate,
)

W, H = 128, 96


@pytest.fixture(scope="module")
def scene():
    return make_scene(4, W, H, seed=1)


def _alignment(sc, depth) -> AlignmentResult:
    """An AlignmentResult with the true cameras and the given depth maps (points on the rays)."""
    n = sc.n
    pts = []
    v, u = np.mgrid[0:H, 0:W]
    for k in range(n):
        K = sc.K[k]
        rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u, float)], -1)
        pc = rays * depth[k][..., None]
        T = sc.T_world_cam[k]
        pts.append((pc @ T[:3, :3].T + T[:3, 3]).astype(np.float32))
    return AlignmentResult(
        camera_names=[f"cam{k}" for k in range(n)], T_fixed_cam=sc.T_world_cam.copy(), K_net=sc.K.copy(), K=sc.K.copy(),
        depth=[d.astype(np.float32) for d in depth], points=pts, confidence=[np.ones((H, W), np.float32)] * n,
        view_scale=np.ones(n), pair_scale={}, pair_score=np.zeros((n, n)), metric=True, scale_note="metric",
        residual=np.zeros(n), mode="global", iterations=0, time_s=0.0, state=AlignmentState())


def _distorted(sc, amplitude=0.15, noise=0.01, seed=0):
    field = smooth_log_depth_error(sc.n, W, H, amplitude, seed=seed)
    rng = np.random.default_rng(seed + 1)
    truth = np.stack([sc.depth(k) for k in range(sc.n)])
    return truth, truth * np.exp(field) * (1 + noise * rng.standard_normal(truth.shape))


def _matches(sc, outliers, seed=0, stride=4):
    rng = np.random.default_rng(seed)
    out = []
    for a in range(sc.n):
        for b in range(a + 1, sc.n):
            xa, xb = true_matches(sc, a, b, stride, outliers, rng)
            if len(xa):
                out.append(PixelMatches(a, b, xa.astype(np.float64), xb.astype(np.float64)))
    return out


def _random_matches(sc, per_pair=400, seed=0):
    rng = np.random.default_rng(seed)
    return [PixelMatches(a, b, np.stack([rng.integers(0, W, per_pair), rng.integers(0, H, per_pair)], 1).astype(float),
                         np.stack([rng.integers(0, W, per_pair), rng.integers(0, H, per_pair)], 1).astype(float))
            for a in range(sc.n) for b in range(a + 1, sc.n)]


def _depth_err(depth, truth):
    """Median relative depth error over every view's pixels."""
    return float(np.median(np.abs(np.stack(depth) / truth - 1)))


def test_triangulation_of_a_known_point_is_exact(scene):
    X = np.array([[0.3, -0.2, 1.1], [-1.2, 1.0, 0.4]])
    uv, z = [], []
    for k in (0, 1):
        T, K = scene.T_world_cam[k], scene.K[k]
        pc = (X - T[:3, 3]) @ T[:3, :3]
        uv.append(np.stack([K[0, 0] * pc[:, 0] / pc[:, 2] + K[0, 2], K[1, 1] * pc[:, 1] / pc[:, 2] + K[1, 2]], 1))
        z.append(pc[:, 2])
    tri = triangulate(scene.T_world_cam[0], scene.K[0], uv[0], scene.T_world_cam[1], scene.K[1], uv[1])
    assert np.allclose(tri.X, X, atol=1e-9)
    assert np.allclose(tri.depth_a, z[0], atol=1e-9) and np.allclose(tri.depth_b, z[1], atol=1e-9)
    assert tri.ok.all() and (tri.reproj_px < 1e-6).all() and (tri.angle_deg > 1).all()
    # behind the cameras (the same pixels pushed through the centres) or with a wrong pixel: rejected
    bad = triangulate(scene.T_world_cam[0], scene.K[0], uv[0], scene.T_world_cam[1], scene.K[1], uv[1] + [0.0, 9.0])
    assert not bad.ok.any() and (bad.reproj_px > 2).all()


def test_the_field_reproduces_a_smooth_correction_and_ignores_outliers():
    rng = np.random.default_rng(0)
    uv = np.stack([rng.uniform(0, W - 1, 600), rng.uniform(0, H - 1, 600)], 1)
    c_true = rng.normal(0, 0.1, 12)
    r = bilinear_basis(uv, W, H, (4, 3)) @ c_true
    r[:150] = rng.uniform(-1, 1, 150)  # 25 % wrong
    c, rw = fit_log_field(uv, r, np.ones(600), W, H, DepthRefineOptions())
    assert np.abs(c - c_true).max() < 0.01
    assert (rw[:150] < 0.5).mean() > 0.9 and (rw[150:] > 0.5).all()


def test_depth_with_a_smooth_error_is_corrected_from_true_matches_with_30_percent_outliers(scene):
    truth, depth = _distorted(scene, amplitude=0.2)
    before = _depth_err(depth, truth)
    out = refine_depth(_alignment(scene, depth), _matches(scene, outliers=0.3))
    after = _depth_err(out.result.depth, truth)
    # A smooth error of up to 20 % (log) + 1 % noise: the median error falls five-fold, from
    # 5.3 % to 1.1 % (the noise and what a 4 x 3 bilinear field cannot follow); asserted: 3-fold.
    assert before > 0.045 and after < before / 3, (before, after)
    assert all(v.corrected and v.model == "field" for v in out.views), out.views
    assert out.matches_used > 500 and "corrected 4/4 views" in out.summary
    # points stay on their pixels' rays and carry the new depth
    T = scene.T_world_cam[2]
    pc = (out.result.points[2].reshape(-1, 3).astype(np.float64) - T[:3, 3]) @ T[:3, :3]
    assert np.allclose(pc[:, 2], out.result.depth[2].ravel(), rtol=1e-4)
    p_before = (_alignment(scene, depth).points[2].reshape(-1, 3) - T[:3, 3]) @ T[:3, :3]
    assert np.allclose(pc[:, :2] / pc[:, 2:], p_before[:, :2] / p_before[:, 2:], atol=1e-4)


def test_few_matches_give_a_per_view_scale(scene):
    truth = np.stack([scene.depth(k) for k in range(scene.n)])
    depth = truth * np.array([1.0, 1.2, 0.9, 1.0])[:, None, None]
    ms = [PixelMatches(m.view_a, m.view_b, m.uv_a[::12], m.uv_b[::12]) for m in _matches(scene, outliers=0.1)]
    al = _alignment(scene, depth)
    out = refine_depth(al, ms, DepthRefineOptions(min_matches=15))
    # views 1 and 2 (scaled by 1.2 and 0.9) get a scale (+ shift: their depths span > 1.5x);
    # 0 and 3 (exact) have nothing to correct
    models = [rep.model for rep in out.views]
    assert models[1] in ("scale", "scale+shift") and models[2] in ("scale", "scale+shift"), models
    assert "explains too little" in models[0] and "explains too little" in models[3], models
    assert out.result.depth[0] is al.depth[0]
    assert np.median(np.abs(out.result.depth[1] / truth[1] - 1)) < 0.003
    assert np.median(np.abs(out.result.depth[2] / truth[2] - 1)) < 0.003


def test_depth_that_agrees_with_the_matches_is_left_alone(scene):
    truth, depth = _distorted(scene, amplitude=0.0)  # 1 % noise only
    al = _alignment(scene, depth)
    out = refine_depth(al, _matches(scene, outliers=0.3))
    assert out.result is al and all("explains too little" in v.model for v in out.views), out.views


def test_random_matches_change_nothing(scene):
    _, depth = _distorted(scene)
    al = _alignment(scene, depth)
    out = refine_depth(al, _random_matches(scene))
    assert out.result is al and out.matches_used == 0
    assert all(v.model.startswith("unchanged") and "do not beat chance" in v.model for v in out.views), out.views
    assert all(np.array_equal(a, b) for a, b in zip(out.result.depth, depth.astype(np.float32)))


def test_too_few_matches_change_nothing(scene):
    _, depth = _distorted(scene)
    al = _alignment(scene, depth)
    few = [PixelMatches(m.view_a, m.view_b, m.uv_a[:5], m.uv_b[:5]) for m in _matches(scene, outliers=0.0)]
    out = refine_depth(al, few)
    assert out.result is al and all("inlier matches (< 30)" in v.model for v in out.views), out.views
    assert refine_depth(al, []).result is al
    assert refine_depth(al, _matches(scene, 0.0), DepthRefineOptions(enabled=False)).result is al


def test_wrong_matches_on_epipolar_lines_change_nothing(scene):
    """What a weak descriptor head does (the embedded model's matches: < 1 % true, but 15-30 %
    near epipolar lines): every match passes the geometric tests, at a random depth."""
    _, depth = _distorted(scene)
    al = _alignment(scene, depth)
    rng = np.random.default_rng(3)
    ms = []
    for a in range(scene.n):
        for b in range(a + 1, scene.n):
            uva = np.stack([rng.uniform(0, W - 1, 3000), rng.uniform(0, H - 1, 3000)], 1)
            Ta, Tb, Ka, Kb = scene.T_world_cam[a], scene.T_world_cam[b], scene.K[a], scene.K[b]
            rays = np.stack([(uva[:, 0] - Ka[0, 2]) / Ka[0, 0], (uva[:, 1] - Ka[1, 2]) / Ka[1, 1], np.ones(3000)], 1)
            X = (rays * rng.uniform(0.5, 6.0, (3000, 1))) @ Ta[:3, :3].T + Ta[:3, 3]
            pc = (X - Tb[:3, 3]) @ Tb[:3, :3]
            uvb = np.stack([Kb[0, 0] * pc[:, 0] / pc[:, 2] + Kb[0, 2], Kb[1, 1] * pc[:, 1] / pc[:, 2] + Kb[1, 2]], 1)
            ok = (pc[:, 2] > 0) & (uvb[:, 0] >= 0) & (uvb[:, 0] <= W - 1) & (uvb[:, 1] >= 0) & (uvb[:, 1] <= H - 1)
            if ok.sum() > 50:
                ms.append(PixelMatches(a, b, uva[ok], uvb[ok]))
    out = refine_depth(al, ms)
    assert out.result is al and all("fit no smooth correction" in v.model for v in out.views), out.views


def test_true_matches_drowned_in_random_ones_change_nothing(scene):
    # ~6 % true matches among random ones (an almost untrained descriptor head): each pair's
    # matches pass the geometric tests little more often than shuffled ones do.
    _, depth = _distorted(scene)
    al = _alignment(scene, depth)
    true = _matches(scene, outliers=0.0)
    rand = _random_matches(scene, per_pair=3000)
    ms = [PixelMatches(t.view_a, t.view_b, np.concatenate([t.uv_a, r.uv_a]), np.concatenate([t.uv_b, r.uv_b]))
          for t, r in zip(true, rand)]
    out = refine_depth(al, ms)
    assert all("do not beat chance" in v.model for v in out.views), out.views
    assert out.result is al


def test_bad_matches_are_named_and_pixels_off_the_image_are_ignored(scene):
    _, depth = _distorted(scene)
    al = _alignment(scene, depth)
    with pytest.raises(ValueError, match=r"PixelMatches \(0, 1\): uv_a, uv_b must be \(M, 2\)"):
        refine_depth(al, [PixelMatches(0, 1, np.zeros((4, 2)), np.zeros((3, 2)))])
    odd = PixelMatches(0, 1, np.array([[np.nan, 3.0], [1e9, 2.0], [-5.0, 1.0]]), np.array([[1.0, 1.0]] * 3))
    assert refine_depth(al, [odd, PixelMatches(0, 9, np.zeros((1, 2)), np.zeros((1, 2)))]).result is al


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="grid"):
        DepthRefineOptions(grid=(1, 3)).check()
    with pytest.raises(ValueError, match="min_inlier_ratio"):
        DepthRefineOptions(min_inlier_ratio=2.0).check()


@pytest.mark.parametrize("descriptors", ["true", "random"])
def test_after_alignment_matches_from_descriptors_correct_the_depth_or_change_nothing(descriptors):
    """The whole path: pointmaps with a smooth depth error and descriptors (true ones with 30 %
    of the pixels carrying another pixel's, or random ones as an untrained head's) -> the
    alignment's mutual matches -> refine_depth."""
    from hamst3r_ros.geometry.alignment import CameraPrior, global_alignment
    from hamst3r_ros.geometry.box_room import pair_predictions
    from hamst3r_ros.geometry.pair_graph import make_pairs

    w, h = 96, 72
    sc = make_scene(4, w, h, seed=0)
    truth = np.stack([sc.depth(k) for k in range(4)])
    preds = pair_predictions(sc, make_pairs(4, "complete"), 0.01, 0.05, seed=1, desc_dim=32,
                             depth_error=smooth_log_depth_error(4, w, h, 0.2, seed=5), desc_outliers=0.3)
    if descriptors == "random":
        rng = np.random.default_rng(0)
        for p in preds:
            for k in ("desc_i", "desc_j"):
                d = rng.normal(size=getattr(p, k).shape).astype(np.float32)
                setattr(p, k, d / np.linalg.norm(d, axis=-1, keepdims=True))
    priors = [CameraPrior(K=sc.K[k], T_fixed_cam=sc.T_world_cam[k]) for k in range(4)]
    al = global_alignment(preds, [f"cam{k}" for k in range(4)], priors)
    assert al.matches and all(len(m.uv_a) == len(m.uv_b) > 0 for m in al.matches)
    out = refine_depth(al, al.matches)
    before = float(np.median(np.abs(np.stack(al.depth) / truth - 1)))
    after = float(np.median(np.abs(np.stack(out.result.depth) / truth - 1)))
    if descriptors == "true":
        # measured: 4.8 % -> 0.7 %
        assert before > 0.035 and after < before / 3, (before, after)
    else:
        assert out.result is al and out.matches_used == 0, out.views
