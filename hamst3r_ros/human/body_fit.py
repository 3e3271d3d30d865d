"""Robust body-model fit to each person's DensePose-labelled 3D points (batched, warm-started).

Observations (``PersonPoints``): 3D points in the fixed frame with body-template
coordinates. Each template coordinate is matched to its nearest template vertex (KD-tree in
template space; matches further than ``max_template_distance`` from any vertex are dropped as
bad DensePose). The fit then minimises, per person, with torch (GPU when available):

    sum_i w_i rho(|X_v(i) - p_i|) / sum_i w_i                       data, robust
  + pose_weight     * sum |theta|^2                                 pose prior
  + shape_weight    * sum ((beta - mean) / std)^2                   shape prior
  + temporal_weight * (sum |theta - theta_prev|^2 + ((beta - beta_prev) / std)^2)  warm start

with ``rho(r) = r^2 / (r^2 + sigma^2)`` (Geman-McClure: quadratic for r << sigma, bounded
beyond, so wrong-body or wrong-depth points cannot drag the fit) and
``X = R_root @ x_body + t`` (``t`` = pelvis position in the fixed frame).

Pose prior (needs no licensed download): a zero-mean isotropic Gaussian on the local joint
rotations (axis-angle), i.e. a pull towards the model's rest pose that only matters where
the data say nothing (occluded limbs). The paper uses VPoser, whose weights come with
SMPL's licence; the Gaussian prior keeps the fit usable with the free Anny model and adds
no dependency. The shape prior is the model's own Gaussian (Anny: phenotypes around the
default adult; SMPL: unit-variance PCA betas).

Initialisation: cold = the rest body (mean shape) placed by a robust weighted Umeyama
alignment of its corresponding vertices to the points (this gives the facing direction
from DensePose, no search needed); warm = the previous frame set's solution for the same
track, with the pelvis moved to where the points are now.

Solvers: where the body model offers an exact pose Jacobian (Anny), fits run
Levenberg-Marquardt (:mod:`pose_lm`): cold fits on pose and shape from the mean body
(``cold_lm_iterations``), warm fits on the pose with the shape held (``warm_lm_iterations``),
or on pose and shape when the shape is due (``warm_shape_every``). Otherwise (SMPL), and
with ``cold_solver`` / ``warm_solver`` 'adam', Adam (``cold_iterations``, ``warm_iterations``).
On CPU an Adam step costs about as much as an LM step (per-operation overhead dominates), and
LM converges in a few: ``bench/bench_humans.py`` measured cold fits 3-5x faster at 6-7
instead of 18-30 mm W-MPJPE, warm fits 4-5x faster at 6-7 instead of 15-21 mm.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np
import torch

from hamst3r_ros.geometry.sim3 import umeyama
from hamst3r_ros.human.densepose import PersonPoints
from hamst3r_ros.body.fit_interface import FitBody
from hamst3r_ros.human.pose_lm import LmProblem, ShapeTerms, refine_pose_lm, so3_exp


@dataclass
class FitConfig:
    """Body-fit parameters.

    Attributes:
        cold_iterations: optimiser steps without a previous solution (120: with 60, the
            walking people of ``hamst3r eval-humans`` come out the same, but the varied poses
            of ``bench/bench_humans.py`` end 20-35 mm worse).
        warm_iterations: optimiser steps from the previous frame set's solution (40: at 2
            frame sets/s, 20 left PA-MPJPE at 43 mm in ``hamst3r eval-humans --fps 2``, 40
            gives 24 mm; at 10/s, 15 -> 9 mm).
        warm_shape_every: warm fits hold a track's shape fixed, except every this-many-th
            one, which refines it (1 = always). With the shape fixed, the body model's rest
            shape is computed once per fit instead of once per step: a warm fit of 3 people
            took 292 instead of 539 ms on CPU. A person's shape does not change between sets.
            When one person of a warm batch is due, the whole batch refines (same cost), so
            the tracks' shape ages stay in step.
        learning_rate: Adam step of cold fits (radians / metres / prior standard deviations
            per step).
        warm_learning_rate: Adam step of warm fits: smaller, because Adam's first steps move
            every parameter by about the step size whatever its gradient, which would throw
            a good warm start away.
        robust_sigma: Geman-McClure scale, metres.
        pose_weight, shape_weight, temporal_weight: prior weights (see module docstring).
        max_template_distance: drop observations whose template coordinate is further than
            this from every template vertex, template metres.
        min_points: people with fewer usable points are not fitted.
        cpu_threads: torch intra-op threads during the fit on CPU (None: leave torch's
            setting). The fit is many small ops: on a busy or small CPU, 1 thread is often
            several times faster than oversubscribed ones.
        return_vertices: also pose the full mesh (``BodyFit.vertices``, for mesh markers);
            costs one full-model forward per frame set.
        warm_solver: 'lm' (default): warm fits take ``warm_lm_iterations`` Levenberg-Marquardt
            steps on the exact pose Jacobian (:mod:`pose_lm`; body models with
            ``pose_jacobian``, i.e. Anny): on the pose with the shape held, or on pose and
            shape when the shape is due (``warm_shape_every``), instead of ``warm_iterations``
            Adam steps. 'adam': Adam only.
        warm_lm_iterations: LM steps of warm fits.
        cold_solver: 'lm' (default): cold fits take ``cold_lm_iterations`` LM steps on pose and
            shape from the mean body (body models with ``pose_jacobian``); 'adam':
            ``cold_iterations`` Adam steps on pose and shape.
            The LM fits the shape, where it is free, with a Jacobian by forward differences
            (one batched rest model of the S perturbed shapes per step): with the shape held
            and Adam after it, cold fits ended at 15-41 mm W-MPJPE, with it free at 6-7 mm
            (``bench/bench_humans.py``).
            **Adam on a body model with a pose Jacobian (Anny) serves only comparisons**:
            ``bench/bench_humans.py --solvers``, ``bench/bench_pipeline.py --fit-solvers`` and
            ``hamst3r eval-humans --cold-solver/--warm-solver``; nothing the node runs sets
            it. Adam stays because SMPL (no ``pose_jacobian``) is always fitted with it.
        cold_lm_iterations: LM steps of cold fits.
        publish_pose_weight: None (default), or a pose-prior weight above ``pose_weight`` for
            the *published* pose, for DensePose too noisy to bend limbs after
            (``HumanHeadsConfig.fit_pose_prior``). Each fit then takes ``warm_lm_iterations``
            more LM steps from its own solution with this prior and the shape held, and
            publishes that body (``joints``, ``joint_rotations``, ``T_fixed_root``'s
            rotation, ``full_pose``, ``vertices``) moved to the data-led fit's pelvis
            position, while its ``state`` (the next warm start) and ``residual`` stay the
            data-led fit's: where the person is, whether the points look like a body, and
            how the track goes on do not depend on how far the published limbs may bend.
            Measured with the embedded model (eval-system posed, seeds 3003-3005): a single
            fit at pose weight 0.2 published better poses (PA-MPJPE 193 -> 102 mm) but its
            residuals hid real people (recall 0.89 -> 0.72); the two-step fit keeps every
            person as before (recall 0.89, ghosts 0.28, ids 1.17) with PA-MPJPE 105 mm and
            W-MPJPE 395 -> 388 mm (a data-led root turns with the limbs it bends: placing
            the prior-held body at the data-led root frame instead gave W-MPJPE 432 mm).
            Cost: a warm fit of 2 people at 1 CPU thread 49 -> 81 ms.
        warm_lm_max_points: observations per person an LM fit uses (a fixed random subset
            beyond this): an LM step's cost grows with them, and a few hundred points fix 27
            joint rotations well beyond the network's noise.
    """

    cold_iterations: int = 120
    warm_iterations: int = 40
    warm_shape_every: int = 5
    learning_rate: float = 0.03
    warm_learning_rate: float = 0.02
    robust_sigma: float = 0.05
    pose_weight: float = 2e-4
    shape_weight: float = 2e-4
    temporal_weight: float = 1e-3
    max_template_distance: float = 0.05
    min_points: int = 50
    cpu_threads: Optional[int] = None
    return_vertices: bool = False
    warm_solver: str = "lm"
    warm_lm_iterations: int = 5
    warm_lm_max_points: int = 600
    cold_solver: str = "lm"
    cold_lm_iterations: int = 15
    publish_pose_weight: Optional[float] = None


@dataclass
class FitState:
    """A solution, reusable as a warm start (float32 numpy).

    Attributes:
        shape: (S,) shape parameters.
        pose: (K, 3) fitted joint rotations, axis-angle, radians.
        root_rotation: (3, 3) body frame -> fixed frame rotation.
        pelvis: (3,) pelvis position in the fixed frame, metres.
        shape_age: warm fits since the shape was last optimised.
    """

    shape: np.ndarray
    pose: np.ndarray
    root_rotation: np.ndarray
    pelvis: np.ndarray
    shape_age: int = 0


@dataclass
class BodyFit:
    """One fitted person (fixed frame, metres).

    Attributes:
        person_id: id of the PersonPoints it was fitted to.
        state: the solution (warm start for the next frame set).
        joints: (24, 3) float64 SMPL-order joint positions.
        joint_rotations: (24, 3, 3) float64 global joint orientations (relative to the rest
            pose, composed with the root rotation).
        T_fixed_root: (4, 4) float64 pelvis pose.
        vertices: (V, 3) float32 posed mesh, or None unless ``return_vertices``.
        full_pose: flat float32 full pose vector of the body model.
        residual: median distance of the observations to their vertices, metres.
        num_points: observations used.
        warm: whether it was warm-started.
    """

    person_id: int
    state: FitState
    joints: np.ndarray
    joint_rotations: np.ndarray
    T_fixed_root: np.ndarray
    vertices: Optional[np.ndarray]
    full_pose: np.ndarray
    residual: float
    num_points: int
    warm: bool


def _robust_rigid(src: np.ndarray, dst: np.ndarray, w: np.ndarray, sigma: float, iters: int = 5):
    """Weighted rigid alignment dst ~ R src + t (metres), re-weighted by Geman-McClure (IRLS).

    Args:
        src, dst: (M, 3) corresponding points; w: (M,) positive weights; sigma: the smallest
            Geman-McClure scale, metres; iters: weighted Kabsch solves.

    Returns:
        (R (3, 3), t (3,)).
    """
    w0 = w.astype(np.float64)
    w = w0
    R, t = np.eye(3), dst.mean(0) - src.mean(0)
    for _ in range(iters):
        G = umeyama(src, dst, w, with_scale=False)
        R, t = G.R, G.t
        r2 = ((src @ R.T + t - dst) ** 2).sum(1)
        scale = max(sigma, float(np.sqrt(np.median(r2))))  # start wide, tighten as it converges
        w = w0 * (scale**2 / (r2 + scale**2)) ** 2
    return R, t


def _lm_problem(jobs, device, max_points: int) -> LmProblem:
    """The observations of a batch of fit jobs as one (person, vertex)-row problem, at
    most ``max_points`` per person (a fixed random subset: same input, same fit)."""
    row_person, row_vertex, point_row, points, weights = [], [], [], [], []
    offset = 0
    rng = np.random.default_rng(0)
    for b, (_, _, idx, p, w) in enumerate(jobs):
        if len(idx) > max_points:
            keep = np.sort(rng.choice(len(idx), max_points, replace=False))
            idx, p, w = idx[keep], p[keep], w[keep]
        uv, inv = np.unique(idx, return_inverse=True)
        row_person.append(np.full(len(uv), b))
        row_vertex.append(uv)
        point_row.append(offset + inv.reshape(-1))
        points.append(p)
        weights.append(w)
        offset += len(uv)
    cat = np.concatenate
    i64, f32 = dict(dtype=torch.int64, device=device), dict(dtype=torch.float32, device=device)
    return LmProblem(row_person=torch.as_tensor(cat(row_person), **i64), row_vertex=torch.as_tensor(cat(row_vertex), **i64),
                     point_row=torch.as_tensor(cat(point_row), **i64), points=torch.as_tensor(cat(points), **f32),
                     weights=torch.as_tensor(cat(weights), **f32))


def _posture_of(posed: BodyFit, fit: BodyFit) -> BodyFit:
    """``posed`` (the stronger prior's body) moved so that its pelvis is ``fit``'s: the
    data-led fit says where the person is (their points and track), the prior-held fit how
    they stand and face (measured: a data-led root turns with the limbs it bends)."""
    t = fit.T_fixed_root[:3, 3] - posed.T_fixed_root[:3, 3]
    T = posed.T_fixed_root.copy()
    T[:3, 3] = fit.T_fixed_root[:3, 3]
    verts = None if posed.vertices is None else posed.vertices + t.astype(np.float32)
    return replace(fit, joints=posed.joints + t, joint_rotations=posed.joint_rotations, T_fixed_root=T,
                   vertices=verts, full_pose=posed.full_pose)


class BodyFitter:
    """Fits a body model to people; keeps nothing between calls (warm starts are passed in)."""

    def __init__(self, body: FitBody, config: Optional[FitConfig] = None):
        self.body = body
        self.config = config or FitConfig()
        for key in ("warm_solver", "cold_solver"):
            if getattr(self.config, key) not in ("lm", "adam"):
                raise ValueError(f"FitConfig.{key} {getattr(self.config, key)!r}: expected 'lm' or 'adam'")
        w = self.config.publish_pose_weight
        if w is not None and not (isinstance(w, (int, float)) and 0 <= w < float("inf")):
            raise ValueError(f"FitConfig.publish_pose_weight {w!r}: expected None or a finite number >= 0")
        self._publisher: Optional["BodyFitter"] = None  # the publish_pose_weight refit
        self.template = body.template  # BodyTemplate: DensePose coords -> nearest vertex
        with torch.no_grad():
            v, _, _ = body.pose_body(body.shape_mean[None], torch.zeros(1, body.num_fit_joints, 3, device=body.device), None)
        self._rest_vertices = v[0].double().cpu().numpy()
        self.last_timings_s: dict[str, float] = {}

    def correspondences(self, people: PersonPoints) -> tuple[np.ndarray, np.ndarray]:
        """Template vertex of every observation and the mask of usable ones."""
        idx, dist = self.template.nearest_vertices(people.template_coords)
        ok = (idx >= 0) & (dist <= self.config.max_template_distance) & (people.weights > 0)
        return idx, ok

    def fit(self, people: Sequence[PersonPoints], warm: Optional[Sequence[Optional[FitState]]] = None) -> list[BodyFit]:
        """Fit every person with enough points, all in one batch (``cpu_threads`` applied).

        Args:
            people: observations per person.
            warm: per person, the previous solution of the same track, or None (cold).

        Returns:
            one BodyFit per person that had at least ``min_points`` usable observations, in
            input order. Warm and cold people are optimised as two batches; with
            ``publish_pose_weight``, each then takes its published posture from a refit
            (see :class:`FitConfig`). ``last_timings_s`` holds the time spent and the
            optimiser steps taken.
        """
        n = self.config.cpu_threads
        if n is None or self.body.device.type != "cpu":
            return self._fit_and_publish(people, warm)
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            return self._fit_and_publish(people, warm)
        finally:
            torch.set_num_threads(before)

    def _fit_and_publish(self, people, warm) -> list[BodyFit]:
        t0 = time.perf_counter()
        jobs = self._jobs(people, warm)
        fits = self._fit_jobs(jobs, t0)
        weight = self.config.publish_pose_weight
        if weight is None or not fits:
            return fits
        timings = self.last_timings_s
        # derived from this fitter's config every time, so a changed config is never stale
        want = replace(self.config, pose_weight=weight, publish_pose_weight=None)
        if self._publisher is None or self._publisher.config != want:
            self._publisher = BodyFitter(self.body, want)
        # The same observations, warm from each data-led solution; shape_age 0 holds the
        # shape (a warm fit refines it only when due, warm_shape_every > 1).
        state = {f.person_id: f.state for f in fits}
        held = self._publisher._fit_jobs([(p, replace(state[p.person_id], shape_age=0), *rest)
                                          for p, _, *rest in jobs if p.person_id in state], in_place=True)
        posed = {f.person_id: f for f in held}
        self.last_timings_s = {**timings, "fit": timings["fit"] + self._publisher.last_timings_s["fit"]}
        return [_posture_of(q, f) if (q := posed.get(f.person_id)) else f for f in fits]

    def _jobs(self, people: Sequence[PersonPoints], warm: Optional[Sequence[Optional[FitState]]]) -> list[tuple]:
        """Per person with at least ``min_points`` usable observations: (person, warm start
        or None, template vertex ids, (M, 3) float64 points, (M,) weights)."""
        warm = list(warm) if warm is not None else [None] * len(people)
        if len(warm) != len(people):
            raise ValueError(f"BodyFitter.fit: {len(people)} people but {len(warm)} warm starts")
        jobs = []
        for person, prev in zip(people, warm):
            idx, ok = self.correspondences(person)
            if ok.sum() >= self.config.min_points:
                jobs.append((person, prev, idx[ok], person.points[ok].astype(np.float64), person.weights[ok]))
        return jobs

    def _fit_jobs(self, jobs: list[tuple], t0: Optional[float] = None, in_place: bool = False) -> list[BodyFit]:
        """The fits of :meth:`_jobs`' output; ``t0``: when the work began (timings);
        ``in_place``: see :meth:`_fit_batch`."""
        t0 = time.perf_counter() if t0 is None else t0
        # Warm and cold people are separate batches: a newcomer's long cold fit must not
        # cost every tracked person the cold iteration count (nor disturb their warm start).
        results: dict[int, BodyFit] = {}
        timings = {"setup": 0.0, "optimise": 0.0, "iterations": 0.0}
        for warm_group in (True, False):
            group = [(k, job) for k, job in enumerate(jobs) if (job[1] is not None) == warm_group]
            if not group:
                continue
            fits, t = self._fit_batch([job for _, job in group], in_place)
            for (k, _), f in zip(group, fits):
                results[k] = f
            for key in timings:
                timings[key] += t[key]
        self.last_timings_s = {"fit": time.perf_counter() - t0, **timings}
        return [results[k] for k in sorted(results)]

    def _fit_batch(self, jobs, in_place: bool = False) -> tuple[list[BodyFit], dict[str, float]]:
        """One batched optimisation (all warm or all cold). ``in_place``: the warm starts are
        solutions for these very observations (the published-posture refit), so they start
        where they are, without re-posing them to follow the points."""
        cfg, body = self.config, self.body
        dev = body.device
        t0 = time.perf_counter()
        B, M = len(jobs), max(len(j[2]) for j in jobs)
        K = body.num_fit_joints
        vidx = np.zeros((B, M), np.int64)
        pts = np.zeros((B, M, 3), np.float32)
        wts = np.zeros((B, M), np.float32)
        shape0 = np.tile(body.shape_mean.cpu().numpy(), (B, 1)).astype(np.float32)
        pose0 = np.zeros((B, K, 3), np.float32)
        R0 = np.zeros((B, 3, 3), np.float32)
        t0_ = np.zeros((B, 3), np.float32)
        is_warm = np.zeros(B, bool)
        refine = np.ones(B, bool)  # whose shape this fit optimises
        placed = [None] * B if in_place else self._placed([j[1] for j in jobs], [j[2] for j in jobs])
        for b, (person, prev, idx, p, w) in enumerate(jobs):
            n = len(idx)
            vidx[b, :n], pts[b, :n], wts[b, :n] = idx, p, w
            if prev is not None:
                is_warm[b] = True
                refine[b] = prev.shape_age + 1 >= max(cfg.warm_shape_every, 1)
                shape0[b], pose0[b], R0[b] = prev.shape, prev.pose, prev.root_rotation
                # Keep the previous body; move it by the shift of the observations' centre.
                shift = 0.0 if in_place else (w[:, None] * p).sum(0) / w.sum() - (w[:, None] * placed[b]).sum(0) / w.sum()
                t0_[b] = prev.pelvis + shift
            else:
                R, t = _robust_rigid(self._rest_vertices[idx], p, w, cfg.robust_sigma)
                R0[b], t0_[b] = R, t
        if is_warm.all() and refine.any():
            # Refining anyone's shape costs the body model's rest shape at every step, the
            # same for one person as for the batch: refine everyone at once. Their shape ages
            # then stay in step, so the other warm fits of the batch all hold the shape fixed
            # (with per-track ages, a few tracks made almost every fit a refining one).
            refine[:] = True
        iters = cfg.warm_iterations if is_warm.all() else cfg.cold_iterations
        lm_body = hasattr(body, "pose_jacobian")
        cold_lm = cfg.cold_solver == "lm" and lm_body and not is_warm.any()
        warm_lm = cfg.warm_solver == "lm" and lm_body and is_warm.all()

        f32 = dict(dtype=torch.float32, device=dev)
        # Pose only the vertices the observations point at (the union over the batch).
        used, local = np.unique(vidx, return_inverse=True)
        used_t = torch.as_tensor(used, device=dev)
        vidx_t = torch.as_tensor(local.reshape(vidx.shape), device=dev)
        pts_t, wts_t = torch.as_tensor(pts, **f32), torch.as_tensor(wts, **f32)
        wsum = wts_t.sum(1).clamp_min(1e-9)
        R0_t = torch.as_tensor(R0, **f32)
        mean, std = body.shape_mean.to(**f32), body.shape_std.to(**f32)
        shape_prev = torch.as_tensor(shape0, **f32)
        pose_prev = torch.as_tensor(pose0, **f32)
        warm_t = torch.as_tensor(is_warm, **f32)
        # Fixed shapes for the whole batch: the rest model once, and z is not optimised.
        fixed_shape = not refine.any()
        z = ((shape_prev - mean) / std).clone().requires_grad_(not fixed_shape)
        rest = None
        if fixed_shape:
            with torch.no_grad():
                rest = body.rest_model(shape_prev)
        refine_t = torch.as_tensor(refine, device=dev)[:, None]
        trans0 = torch.as_tensor(t0_, **f32)
        pose0_t = pose_prev
        lr = cfg.warm_learning_rate if is_warm.all() else cfg.learning_rate
        t_setup = time.perf_counter()
        lm_iters = 0
        if cold_lm or warm_lm:
            # LM on pose and shape where the shape is free (cold fits, warm fits due to refine
            # it: the LM poses its own rest shapes), else on the pose with the shape held
            # (``rest``, computed above). No Adam step follows.
            lm_iters = cfg.cold_lm_iterations if cold_lm else cfg.warm_lm_iterations
            free = (ShapeTerms(mean, std, cfg.shape_weight, shape_prev, 0.0 if cold_lm else cfg.temporal_weight)
                    if refine.any() else None)
            pose0_t, R0_t, trans0, shape_lm = refine_pose_lm(
                body, shape_prev, rest, _lm_problem(jobs, dev, cfg.warm_lm_max_points), pose_prev, R0_t, trans0,
                pose_prev, lm_iters, cfg.robust_sigma, cfg.pose_weight, 0.0 if cold_lm else cfg.temporal_weight,
                free_shape=free)
            if free is not None:
                z = ((shape_lm - mean) / std).clone().requires_grad_()
            iters = 0
        pose = pose0_t.clone().requires_grad_()
        droot = torch.zeros(B, 3, **f32).requires_grad_()
        trans = trans0.clone().requires_grad_()
        opt = torch.optim.Adam([pose, droot, trans] + ([] if fixed_shape else [z]), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(iters, 1), eta_min=lr * 0.05)
        sig2 = cfg.robust_sigma**2
        gather = vidx_t[..., None].expand(-1, -1, 3)

        def held(z):
            # People whose shape is held see no gradient on it (a mixed warm batch).
            return torch.where(refine_t, z, z.detach())

        def forward(vertex_ids):
            shape = mean + std * held(z)
            verts, joints, rots = body.pose_body(shape, pose, vertex_ids, rest if vertex_ids is not None else None)
            R = R0_t @ so3_exp(droot)
            return shape, R, verts, joints, rots

        for _ in range(iters):
            opt.zero_grad(set_to_none=True)
            shape, R, verts, _, _ = forward(used_t)
            x = torch.gather(verts, 1, gather) @ R.transpose(1, 2) + trans[:, None]
            r2 = ((x - pts_t) ** 2).sum(-1)
            data = (wts_t * r2 / (r2 + sig2)).sum(1) / wsum
            prior = cfg.pose_weight * (pose**2).sum((1, 2)) + cfg.shape_weight * (held(z) ** 2).sum(1)
            temporal = warm_t * cfg.temporal_weight * (((pose - pose_prev) ** 2).sum((1, 2))
                                                       + (((shape - shape_prev) / std) ** 2).sum(1))
            (data + prior + temporal).sum().backward()
            opt.step()
            sched.step()

        t_iter = time.perf_counter()
        with torch.no_grad():
            shape, R, verts, joints, rots = forward(used_t)
            xw = verts @ R.transpose(1, 2) + trans[:, None]
            jw = joints @ R.transpose(1, 2) + trans[:, None]
            rw = R[:, None] @ rots
            dist = torch.sqrt(((torch.gather(xw, 1, gather) - pts_t) ** 2).sum(-1)).cpu().numpy()
            xn = None
            if cfg.return_vertices:
                full, _, _ = body.pose_body(shape, pose, None)
                xn = (full @ R.transpose(1, 2) + trans[:, None]).cpu().numpy()
        # Median, not mean: outliers (wrong depth, wrong person) must not read as a bad fit.
        res = np.array([np.median(dist[b, : len(j[2])]) for b, j in enumerate(jobs)])
        out = []
        Rn, shape_n, pose_n = R.cpu().numpy(), shape.cpu().numpy(), pose.detach().cpu().numpy()
        jn, rn = jw.double().cpu().numpy(), rw.double().cpu().numpy()
        for b, (person, _, idx, _, _) in enumerate(jobs):
            T = np.eye(4)
            T[:3, :3] = rn[b, 0]
            T[:3, 3] = jn[b, 0]
            state = FitState(shape=shape_n[b].astype(np.float32), pose=pose_n[b].astype(np.float32),
                             root_rotation=Rn[b].astype(np.float32), pelvis=jn[b, 0].astype(np.float32),
                             shape_age=0 if refine[b] else jobs[b][1].shape_age + 1)
            out.append(BodyFit(person_id=person.person_id, state=state, joints=jn[b], joint_rotations=rn[b],
                               T_fixed_root=T, vertices=None if xn is None else xn[b], full_pose=body.full_pose(pose_n[b]),
                               residual=float(res[b]), num_points=int(len(idx)), warm=bool(is_warm[b])))
        return out, {"setup": t_setup - t0, "optimise": t_iter - t_setup, "iterations": float(iters + lm_iters)}

    def _placed(self, states: Sequence[Optional[FitState]], idx: Sequence[np.ndarray]) -> list[Optional[np.ndarray]]:
        """Per job, vertices ``idx[b]`` of its previous solution in the fixed frame (warm
        starts), or None for cold jobs: one batched pose of all warm bodies."""
        warm = [b for b, st in enumerate(states) if st is not None]
        out: list[Optional[np.ndarray]] = [None] * len(states)
        if not warm:
            return out
        dev = self.body.device
        used, inverse = np.unique(np.concatenate([idx[b] for b in warm]), return_inverse=True)
        with torch.no_grad():
            v, _, _ = self.body.pose_body(torch.as_tensor(np.stack([states[b].shape for b in warm]), device=dev),
                                          torch.as_tensor(np.stack([states[b].pose for b in warm]), device=dev),
                                          torch.as_tensor(used, device=dev))
        v = v.double().cpu().numpy()
        start = 0
        for k, b in enumerate(warm):
            local = inverse[start:start + len(idx[b])]
            start += len(idx[b])
            st = states[b]
            out[b] = v[k, local] @ st.root_rotation.T.astype(np.float64) + st.pelvis
        return out
