"""Levenberg-Marquardt fit of body poses (and optionally shapes) to DensePose-labelled points.

Minimises, per person b, the same objective as the Adam fit of :mod:`body_fit`, here with
the shape fixed (``free_shape`` adds the shape, its priors and its forward-difference
Jacobian):

    E_b = sum_i w_i rho(|R_b x_v(i)(theta_b) + t_b - p_i|^2) / sum_i w_i
        + pose_weight |theta_b|^2 + temporal_weight |theta_b - theta_prev_b|^2

with ``rho(s) = s / (s + sigma^2)`` (Geman-McClure), over the fitted joint rotations theta
(axis-angle, radians), the root rotation R (updated as R <- exp(omega) R, omega in the fixed
frame, about the pelvis) and the pelvis position t (metres, fixed frame).

Why: a warm fit starts near the solution, where Gauss-Newton converges in a few steps, and
a fit step's cost on CPU is mostly per-operation overhead, not arithmetic. With the exact
pose Jacobian of the body model (``FitBody.pose_jacobian``), a few LM steps replace the 40
Adam steps of a warm fit and 15 the 120 of a cold one: ``bench/bench_humans.py`` measured
warm fits of 20-31 instead of 84-160 ms per person at 6-7 instead of 15-21 mm W-MPJPE, cold
fits of 146-225 instead of 468-1093 ms at 6-7 instead of 18-30 mm, on a 2-core CPU. Robust weights are
re-computed every step (IRLS form of Gauss-Newton); each person has their own damping, and a
step that does not lower their objective is rejected and damped harder.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class LmProblem:
    """Observations of B people, rows grouped by person (float32 tensors, one device).

    Attributes:
        row_person: (R,) int64 person of each (person, vertex) row, sorted ascending.
        row_vertex: (R,) int64 body-model vertex of each row.
        point_row: (M,) int64 row of each observation.
        points: (M, 3) observed points in the fixed frame, metres.
        weights: (M,) observation weights (>= 0).
    """

    row_person: torch.Tensor
    row_vertex: torch.Tensor
    point_row: torch.Tensor
    points: torch.Tensor
    weights: torch.Tensor


@dataclass
class ShapeTerms:
    """Shape priors when LM also fits the shape (tensors on the problem's device).

    Attributes:
        mean, std: (S,) the model's shape prior; the objective works in z = (shape - mean) / std.
        weight: prior weight on |z|^2 (``FitConfig.shape_weight``).
        shape_prev: (B, S) previous shape (temporal term).
        temporal_weight: weight on |z - z_prev|^2 (0 for cold fits).
    """

    mean: torch.Tensor
    std: torch.Tensor
    weight: float
    shape_prev: torch.Tensor
    temporal_weight: float


def _skew(v: torch.Tensor) -> torch.Tensor:
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(v.shape[:-1] + (3, 3))


def so3_exp(w: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle (radians) -> (..., 3, 3) rotation (Rodrigues; exact, and
    differentiable, at 0). The one torch SO(3) exponential of the body fits."""
    theta = torch.sqrt((w * w).sum(-1, keepdim=True) + 1e-24)[..., None]
    K = _skew(w)
    eye = torch.eye(3, dtype=w.dtype, device=w.device)
    return eye + torch.sin(theta) / theta * K + (1 - torch.cos(theta)) / theta**2 * (K @ K)


@torch.no_grad()
def refine_pose_lm(body, shape: torch.Tensor, rest, prob: LmProblem, pose: torch.Tensor, R: torch.Tensor,
                   t: torch.Tensor, pose_prev: torch.Tensor, iterations: int, robust_sigma: float,
                   pose_weight: float, temporal_weight: float, damping: float = 1e-3,
                   free_shape: Optional[ShapeTerms] = None):
    """LM on (pose, R, t) of B people; returns the refined (pose (B, K, 3), R (B, 3, 3), t (B, 3),
    shape (B, S)) -- the shape as given unless ``free_shape``.

    Args:
        body: a FitBody with ``pose_jacobian`` (see ``AnnyFitBody.pose_jacobian``).
        shape: (B, S) held shape; ``rest``: ``body.rest_model(shape)``.
        prob: the observations.
        pose, R, t: the start (warm start), as in :mod:`body_fit`.
        pose_prev: (B, K, 3) previous frame set's pose (temporal term).
        iterations: LM steps (each: one Jacobian, one trial evaluation).
        robust_sigma: Geman-McClure scale, metres.
        pose_weight, temporal_weight: prior weights as in ``FitConfig``.
        damping: initial Marquardt factor (relative to the diagonal of J^T J).
        free_shape: optimise the shape too (its Jacobian by forward differences: one batched
            rest model and skinning of S perturbed shapes per step), with these priors.
    """
    B, K = pose.shape[:2]
    n_pose = K * 3
    S = 0 if free_shape is None else shape.shape[1]
    n = n_pose + S + 6
    fs = free_shape
    z = None if fs is None else (shape - fs.mean) / fs.std
    z_prev = None if fs is None else (fs.shape_prev - fs.mean) / fs.std
    sig2 = robust_sigma**2
    pt_person = prob.row_person[prob.point_row]
    wsum = torch.zeros(B, dtype=pose.dtype, device=pose.device).index_add_(0, pt_person, prob.weights).clamp_min(1e-9)
    prior_w = pose_weight + temporal_weight
    rows_of = [(prob.row_person == b).nonzero()[:, 0] for b in range(B)]
    n_rows = len(prob.row_person)

    def residuals(pose_, R_, t_, z_, jacobian):
        if fs is None:
            shape_, rest_ = shape, rest
        else:
            shape_ = fs.mean + fs.std * z_
            rest_ = body.rest_model(shape_)
        verts, J = body.pose_jacobian(shape_, pose_, prob.row_vertex, rest_, jacobian=jacobian, person=prob.row_person)
        if jacobian and fs is not None:
            eps = 1e-2  # prior standard deviations
            zp = (z_[None] + eps * torch.eye(S, dtype=z_.dtype, device=z_.device)[:, None]).reshape(S * B, S)
            person_p = (prob.row_person[None] + B * torch.arange(S, device=z_.device)[:, None]).reshape(-1)
            vp, _ = body.pose_jacobian(fs.mean + fs.std * zp, pose_.repeat(S, 1, 1), prob.row_vertex.repeat(S),
                                       body.rest_model(fs.mean + fs.std * zp), jacobian=False, person=person_p)
            Jz = ((vp.reshape(S, -1, 3) - verts) / eps).permute(1, 2, 0)  # (R, 3, S)
            J = torch.cat([J, Jz], -1)
        xr = (R_[prob.row_person] @ verts[..., None])[..., 0]  # (R, 3): rotated body-frame vertex
        r = xr[prob.point_row] + t_[pt_person] - prob.points
        s = (r * r).sum(-1)
        data = torch.zeros(B, dtype=pose.dtype, device=pose.device).index_add_(
            0, pt_person, prob.weights * s / (s + sig2)) / wsum
        cost = data + pose_weight * (pose_ * pose_).sum((1, 2)) + temporal_weight * ((pose_ - pose_prev) ** 2).sum((1, 2))
        if fs is not None:
            cost = cost + fs.weight * (z_ * z_).sum(1) + fs.temporal_weight * ((z_ - z_prev) ** 2).sum(1)
        return cost, r, s, xr, J

    cost, r, s, xr, J = residuals(pose, R, t, z, True)
    lam = torch.full((B,), damping, dtype=pose.dtype, device=pose.device)
    eye = torch.eye(n, dtype=pose.dtype, device=pose.device)
    for it in range(iterations):
        # IRLS weight of each observation: w rho'(s) / sum w, then summed per row (a row's
        # Jacobian is the same for all its observations).
        om = prob.weights * sig2 / (s + sig2) ** 2 / wsum[pt_person]
        om_row = torch.zeros(n_rows, dtype=pose.dtype, device=pose.device).index_add_(0, prob.point_row, om)
        g_row = torch.zeros(n_rows, 3, dtype=pose.dtype, device=pose.device).index_add_(0, prob.point_row, om[:, None] * r)
        # Columns: pose (rotated into the fixed frame), root rotation about the pelvis, translation.
        Jw = torch.cat([R[prob.row_person] @ J, -_skew(xr),  # J: pose (and shape) columns
                        torch.eye(3, dtype=pose.dtype, device=pose.device).expand(n_rows, 3, 3)], -1)  # (R, 3, n)
        H = torch.zeros(B, n, n, dtype=pose.dtype, device=pose.device)
        g = torch.zeros(B, n, dtype=pose.dtype, device=pose.device)
        for b, sel in enumerate(rows_of):
            if len(sel):
                Jb = Jw[sel].reshape(-1, n)
                H[b] = Jb.T @ (Jb * om_row[sel].repeat_interleave(3)[:, None])
                g[b] = Jb.T @ g_row[sel].reshape(-1)
        H[:, :n_pose, :n_pose] += prior_w * eye[:n_pose, :n_pose]
        g[:, :n_pose] += (pose_weight * pose + temporal_weight * (pose - pose_prev)).reshape(B, n_pose)
        if fs is not None:
            H[:, n_pose:n_pose + S, n_pose:n_pose + S] += (fs.weight + fs.temporal_weight) * eye[:S, :S]
            g[:, n_pose:n_pose + S] += fs.weight * z + fs.temporal_weight * (z - z_prev)
        diag = torch.diagonal(H, dim1=-2, dim2=-1)
        A = H + (lam[:, None] * diag + 1e-9)[..., None] * eye
        step = -torch.linalg.solve(A, g[..., None])[..., 0]
        pose_c = pose + step[:, :n_pose].reshape(B, K, 3)
        z_c = None if fs is None else z + step[:, n_pose:n_pose + S]
        R_c = so3_exp(step[:, n_pose + S:n_pose + S + 3]) @ R
        t_c = t + step[:, n_pose + S + 3:]
        last = it == iterations - 1
        cost_c, r_c, s_c, xr_c, J_c = residuals(pose_c, R_c, t_c, z_c, not last)
        ok = cost_c < cost
        pose = torch.where(ok[:, None, None], pose_c, pose)
        if fs is not None:
            z = torch.where(ok[:, None], z_c, z)
        R = torch.where(ok[:, None, None], R_c, R)
        t = torch.where(ok[:, None], t_c, t)
        lam = torch.where(ok, lam * 0.3, lam * 10.0).clamp(1e-7, 1e7)
        if last:
            break
        if ok.all():
            cost, r, s, xr, J = cost_c, r_c, s_c, xr_c, J_c
        else:  # mix per person: rows and observations of the accepted people take the trial's values
            okr, okp = ok[prob.row_person], ok[pt_person]
            cost = torch.where(ok, cost_c, cost)
            r = torch.where(okp[:, None], r_c, r)
            s = torch.where(okp, s_c, s)
            xr = torch.where(okr[:, None], xr_c, xr)
            J = torch.where(okr[:, None, None], J_c, J)
    return pose, R, t, (shape if fs is None else fs.mean + fs.std * z)
