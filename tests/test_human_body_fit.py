"""Robust, batched, warm-started body fit: SMPL path on a toy SMPL-format model (fast), and
the Anny path (subset skinning equals the full model; a small fit)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("smplx", reason="SMPL support needs the smplx package")

from helpers_bodies import toy_smpl_arrays  # noqa: E402

from hamst3r_ros.human.body_fit import BodyFitter, FitConfig  # noqa: E402
from hamst3r_ros.human.densepose import PersonPoints  # noqa: E402
from hamst3r_ros.body.fit_interface import SmplFitBody  # noqa: E402
from hamst3r_ros.human.metrics import pa_mpjpe, w_mpjpe  # noqa: E402


def _yaw(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _gt(body, rng, n, pose_sigma=0.25):
    # Around the model's own shape prior (Anny's phenotypes live in [0, 1]).
    mean, std = body.shape_mean.numpy(), body.shape_std.numpy()
    shape = torch.tensor(mean + std * rng.normal(0, 1, (n, body.num_shape)), dtype=torch.float32).clamp(0, 1) \
        if body.name == "anny" else torch.tensor(rng.normal(0, 1, (n, body.num_shape)), dtype=torch.float32)
    pose = torch.tensor(rng.normal(0, pose_sigma, (n, body.num_fit_joints, 3)), dtype=torch.float32)
    with torch.no_grad():
        v, j, _ = body.pose_body(shape, pose)
    people = []
    for b in range(n):
        R, t = _yaw(rng.uniform(-np.pi, np.pi)), np.array([rng.uniform(-3, 3), rng.uniform(-3, 3), 1.0])
        people.append((v[b].numpy() @ R.T + t, j[b].numpy() @ R.T + t))
    return people


def _observe(body, people, rng, n=600, noise=0.005, coord_noise=0.005, outliers=0.0):
    obs = []
    for k, (v, _) in enumerate(people):
        sel = rng.choice(len(v), n)
        pts = v[sel] + rng.normal(0, noise, (n, 3))
        tc = body.template_coords[sel] + rng.normal(0, coord_noise, (n, 3))
        bad = rng.random(n) < outliers  # wrong depth: points thrown 0.3-1 m away
        pts[bad] += rng.normal(0, 1, (bad.sum(), 3)) * rng.uniform(0.3, 1.0, (bad.sum(), 1))
        obs.append(PersonPoints(k + 1, pts.astype(np.float32), tc.astype(np.float32), np.ones(n, np.float32)))
    return obs


@pytest.fixture(scope="module")
def smpl_body():
    torch.manual_seed(0)
    return SmplFitBody(toy_smpl_arrays())


def test_cold_batched_fit_recovers_joints_with_outliers(smpl_body):
    rng = np.random.default_rng(0)
    people = _gt(smpl_body, rng, 3)
    fitter = BodyFitter(smpl_body, FitConfig(cold_iterations=150, cpu_threads=1))
    fits = fitter.fit(_observe(smpl_body, people, rng, outliers=0.2))
    assert [f.person_id for f in fits] == [1, 2, 3]
    pred = np.stack([f.joints for f in fits])
    gt = np.stack([p[1] for p in people])
    assert w_mpjpe(pred, gt) < 0.03
    assert pa_mpjpe(pred, gt) < 0.03
    for f, (_, j) in zip(fits, people):
        np.testing.assert_allclose(f.T_fixed_root[:3, 3], j[0], atol=0.03)
        R = f.T_fixed_root[:3, :3]
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-5)
        assert f.residual < 0.05 and not f.warm and f.full_pose.shape == (69,)


def test_warm_start_tracks_motion_in_few_iterations(smpl_body):
    rng = np.random.default_rng(1)
    people = _gt(smpl_body, rng, 2)
    fitter = BodyFitter(smpl_body, FitConfig(cold_iterations=150, warm_iterations=20, cpu_threads=1))
    fits = fitter.fit(_observe(smpl_body, people, rng))
    # Everyone walks 0.15 m: the warm fit (20 steps) follows.
    moved = [(v + [0.15, 0.05, 0], j + [0.15, 0.05, 0]) for v, j in people]
    warm = fitter.fit(_observe(smpl_body, moved, rng), [f.state for f in fits])
    assert all(f.warm for f in warm) and fitter.last_timings_s["iterations"] == 20
    pred, gt = np.stack([f.joints for f in warm]), np.stack([p[1] for p in moved])
    assert w_mpjpe(pred, gt) < 0.03
    # A newcomer is fitted cold in its own batch; the tracked person stays warm.
    newcomer = _gt(smpl_body, rng, 1)
    obs = _observe(smpl_body, moved[:1] + newcomer, rng)
    mixed = fitter.fit(obs, [warm[0].state, None])
    assert [f.warm for f in mixed] == [True, False]
    assert fitter.last_timings_s["iterations"] == 20 + 150
    pred2 = np.stack([f.joints for f in mixed])
    assert w_mpjpe(pred2, np.stack([moved[0][1], newcomer[0][1]])) < 0.03
    # A cold fit with the same 20 steps is worse: the warm start carries information.
    cold = BodyFitter(smpl_body, FitConfig(cold_iterations=20, cpu_threads=1)).fit(_observe(smpl_body, moved, rng))
    assert w_mpjpe(np.stack([f.joints for f in cold]), gt) > w_mpjpe(pred, gt)


def test_too_few_points_is_skipped_and_bad_warm_list_is_an_error(smpl_body):
    rng = np.random.default_rng(2)
    people = _gt(smpl_body, rng, 2)
    obs = _observe(smpl_body, people, rng)
    obs[0] = PersonPoints(1, obs[0].points[:10], obs[0].template_coords[:10], obs[0].weights[:10])
    fits = BodyFitter(smpl_body, FitConfig(cold_iterations=5, cpu_threads=1, return_vertices=True)).fit(obs)
    assert [f.person_id for f in fits] == [2]
    assert fits[0].vertices.shape == (smpl_body.template_coords.shape[0], 3)
    with pytest.raises(ValueError, match="warm starts"):
        BodyFitter(smpl_body).fit(obs, [None])


@pytest.fixture(scope="module")
def anny_body():
    pytest.importorskip("anny", reason="the Anny body model needs the anny package")
    from hamst3r_ros.body.fit_interface import AnnyFitBody

    return AnnyFitBody()


def _random_bodies(body, seed, pose_sigma, num_vertices):
    """Two random shapes and poses and a random vertex subset."""
    g = torch.Generator().manual_seed(seed)
    shape = torch.rand(2, 6, generator=g)
    pose = torch.randn(2, body.num_fit_joints, 3, generator=g) * pose_sigma
    return shape, pose, torch.randperm(body.template_coords.shape[0], generator=g)[:num_vertices]


def test_anny_subset_skinning_matches_full_model(anny_body):
    body = anny_body
    shape, pose, ids = _random_bodies(body, 0, 0.3, 500)
    v, j, r = body.pose_body(shape, pose)
    vs, js, rs = body.pose_body(shape, pose, ids)
    torch.testing.assert_close(vs, v[:, ids], atol=1e-5, rtol=0)
    # The cached rest model (fits that hold the shape fixed) gives the same bodies.
    vc, jc, _ = body.pose_body(shape, pose, ids, body.rest_model(shape))
    torch.testing.assert_close(vc, vs, atol=0, rtol=0)
    torch.testing.assert_close(jc, js, atol=0, rtol=0)
    torch.testing.assert_close(js, j, atol=1e-5, rtol=0)
    torch.testing.assert_close(rs, r, atol=1e-5, rtol=0)
    assert body.full_pose(pose[0].numpy()).shape == (103 * 3,)


def test_warm_fits_hold_the_shape_except_every_nth(smpl_body):
    rng = np.random.default_rng(3)
    people = _gt(smpl_body, rng, 2)
    fitter = BodyFitter(smpl_body, FitConfig(cold_iterations=150, warm_iterations=20, warm_shape_every=3,
                                             cpu_threads=1))
    fits = fitter.fit(_observe(smpl_body, people, rng))
    assert [f.state.shape_age for f in fits] == [0, 0]
    states, ages, same = [f.state for f in fits], [], []
    for k in range(4):
        moved = [(v + [0.05 * (k + 1), 0, 0], j + [0.05 * (k + 1), 0, 0]) for v, j in people]
        warm = fitter.fit(_observe(smpl_body, moved, rng), states)
        ages.append([f.state.shape_age for f in warm])
        same.append(all(np.array_equal(f.state.shape, s.shape) for f, s in zip(warm, states)))
        states = [f.state for f in warm]
    # Held for two warm fits, refined on the third, then held again.
    assert ages == [[1, 1], [2, 2], [0, 0], [1, 1]]
    assert same == [True, True, False, True]
    gt = np.stack([j + [0.2, 0, 0] for _, j in people])
    assert w_mpjpe(np.stack([f.joints for f in warm]), gt) < 0.03
    # A batch where only one person is due: both refine (the rest shape is computed every
    # step for the batch anyway), and their ages fall into step, so that the next two warm
    # fits hold every shape fixed.
    mixed = fitter.fit(_observe(smpl_body, people, rng), [states[0], fits[1].state.__class__(
        **{**states[1].__dict__, "shape_age": 2})])
    assert [f.state.shape_age for f in mixed] == [0, 0]
    assert not any(np.array_equal(f.state.shape, s.shape) for f, s in zip(mixed, states))
    after = fitter.fit(_observe(smpl_body, people, rng), [f.state for f in mixed])
    assert [f.state.shape_age for f in after] == [1, 1]
    assert all(np.array_equal(f.state.shape, m.state.shape) for f, m in zip(after, mixed))


def test_anny_pose_jacobian_matches_autograd(anny_body):
    body = anny_body
    shape, pose, ids = _random_bodies(body, 1, 0.4, 300)
    pose[0, 3] = 0.0  # the small-angle branch of SO(3)'s left Jacobian
    rest = body.rest_model(shape)
    v, J = body.pose_jacobian(shape, pose, ids, rest)
    p = pose.clone().requires_grad_()
    vr, _, _ = body.pose_body(shape, p, ids, rest)
    torch.testing.assert_close(v, vr.detach(), atol=1e-5, rtol=0)
    for b, n, c in [(0, 0, 0), (0, 123, 2), (1, 299, 1), (1, 77, 0)]:
        grad = torch.autograd.grad(vr[b, n, c], p, retain_graph=True)[0][b].reshape(-1)
        torch.testing.assert_close(J[b, n, c], grad, atol=1e-5, rtol=0)
    # One (body, vertex) per row gives the same rows.
    person = torch.tensor([0] * 5 + [1] * 3)
    rows = torch.cat([ids[:5], ids[10:13]])
    vr2, Jr = body.pose_jacobian(shape, pose, rows, rest, person=person)
    torch.testing.assert_close(vr2, torch.cat([v[0, :5], v[1, 10:13]]), atol=0, rtol=0)
    torch.testing.assert_close(Jr, torch.cat([J[0, :5], J[1, 10:13]]), atol=1e-6, rtol=0)


def test_anny_lm_fits_recover_joints_and_shape_like_or_better_than_adam(anny_body):
    body = anny_body
    rng = np.random.default_rng(4)
    people = _gt(body, rng, 2, pose_sigma=0.15)
    joints0 = np.stack([j for _, j in people])
    obs0 = _observe(body, people, rng, n=800)
    cold = {solver: BodyFitter(body, FitConfig(cold_solver=solver, cpu_threads=1)).fit(obs0) for solver in ("lm", "adam")}
    err = {solver: w_mpjpe(np.stack([f.joints for f in fits]), joints0) for solver, fits in cold.items()}
    assert not any(f.warm for f in cold["lm"]) and all(f.state.shape_age == 0 for f in cold["lm"])
    # LM on pose and shape (the default) from the mean body; Adam's 120 steps as the reference.
    assert err["adam"] < 0.05 and err["lm"] < 0.03 and err["lm"] <= err["adam"] + 0.005, err
    assert all(not np.allclose(f.state.shape, body.shape_mean.numpy()) for f in cold["lm"])  # the shape was fitted
    # Everyone walks 0.3 m: warm fits from the old bodies, holding the shape or refining it.
    moved = [(v + [0.3, 0.0, 0.0], j + [0.3, 0.0, 0.0]) for v, j in people]
    obs = _observe(body, moved, np.random.default_rng(5), n=800)
    gt = np.stack([j for _, j in moved])
    errs = {}
    for solver, every in (("lm", 100), ("adam", 100), ("lm", 1)):
        cfg = FitConfig(warm_solver=solver, warm_shape_every=every, cpu_threads=1)
        warm = BodyFitter(body, cfg).fit(obs, [f.state for f in cold["lm"]])
        assert all(f.warm for f in warm)
        errs[solver, every] = w_mpjpe(np.stack([f.joints for f in warm]), gt)
        held = [np.array_equal(f.state.shape, c.state.shape) for f, c in zip(warm, cold["lm"])]
        assert held == [every > 1] * 2  # held unless due
    assert errs["lm", 100] < 0.03 and errs["lm", 100] <= errs["adam", 100] + 0.005, errs
    assert errs["lm", 1] < 0.03, errs
    with pytest.raises(ValueError, match="warm_solver"):
        BodyFitter(body, FitConfig(warm_solver="newton"))


def test_so3_exp_matches_rodrigues_and_is_smooth_at_zero():
    from scipy.spatial.transform import Rotation

    from hamst3r_ros.human.pose_lm import so3_exp

    v = torch.tensor([[0.3, -1.1, 2.0], [1e-7, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    np.testing.assert_allclose(so3_exp(v).numpy(), Rotation.from_rotvec(v.numpy()).as_matrix(), atol=1e-12)
    assert torch.equal(so3_exp(torch.zeros(2, 3)), torch.eye(3).expand(2, 3, 3))  # exactly I: no drift
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    (so3_exp(w)[1, 0] - so3_exp(w)[0, 1]).backward()  # d(R10 - R01)/dw_z = 2 at 0
    np.testing.assert_allclose(w.grad.numpy(), [0.0, 0.0, 2.0], atol=1e-12)


def test_a_stronger_published_prior_holds_limbs_that_noisy_densepose_would_bend(anny_body):
    """``publish_pose_weight``: the published joints are re-solved with the stronger prior,
    while the state (next warm start) and the residual (plausibility) stay the data-led fit's."""
    body = anny_body
    rng = np.random.default_rng(7)
    people = _gt(body, rng, 2, pose_sigma=0.0)  # standing in the rest pose
    gt = np.stack([j for _, j in people])
    obs = _observe(body, people, rng, n=800, coord_noise=0.08)  # DensePose far worse than the points
    free = BodyFitter(body, FitConfig(cpu_threads=1)).fit(obs)
    held = BodyFitter(body, FitConfig(cpu_threads=1, publish_pose_weight=0.2)).fit(obs)
    assert [f.person_id for f in held] == [f.person_id for f in free] == [1, 2]
    for f, h in zip(free, held):
        np.testing.assert_array_equal(h.state.pose, f.state.pose)
        np.testing.assert_array_equal(h.state.shape, f.state.shape)
        assert h.residual == f.residual
        # where the person is: the data-led fit's pelvis
        np.testing.assert_array_equal(h.T_fixed_root[:3, 3], f.T_fixed_root[:3, 3])
        np.testing.assert_allclose(h.joints[0], f.joints[0], atol=1e-9)
    e_free = pa_mpjpe(np.stack([f.joints for f in free]), gt)
    e_held = pa_mpjpe(np.stack([f.joints for f in held]), gt)
    assert e_held < 0.6 * e_free, (e_held, e_free)
    with pytest.raises(ValueError, match="publish_pose_weight"):
        BodyFitter(body, FitConfig(publish_pose_weight=-1.0))
