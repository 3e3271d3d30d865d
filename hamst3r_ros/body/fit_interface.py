"""Body models as the fitter sees them: one small interface over Anny and SMPL.

A fit body poses B bodies in the **body frame** (REP-103 axes: x forward, y left, z up;
origin at the pelvis joint) from shape (B, S) and the *fitted* pose (B, K, 3) (axis-angle
of the K joints the fitter optimises); the fitter then places it in the fixed frame with a
root rotation and the pelvis position. It also exposes the DensePose target of every
vertex (``template_coords``), the Gaussian shape prior and how to expand the fitted pose to
the model's full pose vector (for publishing).

- ``AnnyFitBody`` (default, free): fits the 27 Anny bones that carry the body's large-scale
  articulation (the 23 bones under SMPL's non-root joints plus the spine04/05 and neck02/03
  links between them); fingers, toes, eyes and twist bones stay at rest. Shape: the 6
  phenotypes, prior N(0.5, 0.2^2) each (Anny's default adult, staying inside [0, 1]).
- ``SmplFitBody``: SMPL's 23 joints through smplx; shape prior N(0, 1) (SMPL's PCA betas).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Protocol

import numpy as np
import torch

if TYPE_CHECKING:
    from hamst3r_ros.body.template import BodyTemplate

#: Anny bones the fitter rotates (see the module docstring).
ANNY_FIT_BONES: tuple[str, ...] = (
    "upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L", "foot.R",
    "toe3-1.L", "toe3-1.R", "spine05", "spine04", "spine03", "spine02", "spine01",
    "neck01", "neck02", "neck03", "head", "shoulder01.L", "shoulder01.R",
    "upperarm01.L", "upperarm01.R", "lowerarm01.L", "lowerarm01.R", "wrist.L", "wrist.R",
    "finger3-1.L", "finger3-1.R",
)

#: SMPL model frame (y up, facing +z, left = +x) -> body frame (x forward, y left, z up).
R_BODY_SMPL = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


class FitBody(Protocol):
    """What the body fitter needs from a body model (all tensors on ``device``).

    Optional: ``pose_jacobian(shape, pose, vertex_ids, rest, jacobian, person)`` (see
    :meth:`AnnyFitBody.pose_jacobian`); body models that have it get Levenberg-Marquardt warm
    fits (``FitConfig.warm_solver``), the others Adam.
    """

    name: str
    num_shape: int
    num_fit_joints: int
    template: "BodyTemplate"  # rest template; .coords (V, 3) = DensePose target per vertex
    template_coords: np.ndarray  # (V, 3) float32, = template.coords
    shape_mean: torch.Tensor  # (S,)
    shape_std: torch.Tensor  # (S,)
    device: torch.device

    def pose_body(self, shape: torch.Tensor, pose: torch.Tensor, vertex_ids: Optional[torch.Tensor] = None,
                  rest: object = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """shape (B, S), pose (B, K, 3) -> vertices (B, V, 3) (only ``vertex_ids`` (N,) when
        given: (B, N, 3)), joints (B, 24, 3), joint_rotations (B, 24, 3, 3); body frame,
        pelvis at the origin. ``rest``: what :meth:`rest_model` returned for this ``shape``
        (reused while the shape is held fixed), or None."""

    def rest_model(self, shape: torch.Tensor) -> object:
        """The shape-dependent part of :meth:`pose_body` for ``shape`` (B, S), computed once
        so that fits with a fixed shape do not redo it every step (None: nothing to cache)."""

    def full_pose(self, pose: np.ndarray) -> np.ndarray:
        """(K, 3) fitted pose -> the model's full pose vector, flat float32."""


class AnnyFitBody:
    """Anny through :mod:`hamst3r_ros.body` (default body model)."""

    name = "anny"

    def __init__(self, device: str | torch.device = "cpu", fit_bones: tuple[str, ...] = ANNY_FIT_BONES):
        from hamst3r_ros.body import build_template, load_anny_body

        self.body = load_anny_body(device=device)
        self.device = self.body.device
        missing = [b for b in fit_bones if b not in self.body.pose_bone_names]
        if missing:
            raise ValueError(f"AnnyFitBody: bones {missing} are not in Anny's rig")
        self.fit_index = torch.tensor([self.body.pose_bone_names.index(b) for b in fit_bones], device=self.device)
        self.num_pose_bones = len(self.body.pose_bone_names)
        self.num_fit_joints = len(fit_bones)
        self.num_shape = 6
        self.template = build_template(self.body)
        self.template_coords = self.template.coords
        self.faces = self.body.faces
        self.shape_mean = torch.full((6,), 0.5, device=self.device)
        self.shape_std = torch.full((6,), 0.2, device=self.device)
        # Sparse skinning table for pose_jacobian: each vertex's bones (Anny: at most 9).
        w = self.body.anny.dense_vertex_bone_weights
        self._top_weights, self._top_bones = torch.topk(w, int((w > 0).sum(1).max()), dim=1)
        self._moved: Optional[torch.Tensor] = None  # (K, 104) bones each fitted joint moves, on first use

    def pose_body(self, shape, pose, vertex_ids=None, rest=None):
        if vertex_ids is None:
            full = torch.zeros(pose.shape[0], self.num_pose_bones, 3, dtype=pose.dtype, device=pose.device)
            out = self.body(shape, full.index_copy(1, self.fit_index, pose))
            return out.vertices, out.joints, out.joint_rotations
        return self._pose_subset(shape, pose, vertex_ids, rest)

    def rest_model(self, shape):
        """Anny's rest model (phenotype blend shapes over all 13,718 vertices, rest bone
        poses): about half of a fit step's cost on CPU, and constant while the shape is."""
        a = self.body.anny
        B, dt, dev = shape.shape[0], self.body.dtype, self.device
        coeffs = a._get_phenotype_blendshape_coefficients(
            shape.to(dt), torch.zeros(B, len(a.local_change_labels), dtype=dt, device=dev),
            torch.zeros(B, 0, dtype=dt, device=dev))
        rest = dict(a.get_rest_model(coeffs))
        # The reference bone poses (identity deltas) depend on the shape only; the joint
        # orientations are expressed relative to them (see _pose_subset).
        _, rest["zero_bone_poses"] = a.get_bone_transforms(None, rest["rest_bone_poses"])
        return rest

    def _deltas(self, pose):
        """(B, K, 3) fitted pose -> Anny's per-bone rotation deltas (B, 104, 4, 4), Anny frame
        (the root first, at identity; bones not fitted at rest)."""
        import roma

        C = self.body.r_body_anny
        B = pose.shape[0]
        full = torch.zeros(B, self.num_pose_bones, 3, dtype=pose.dtype, device=pose.device)
        full = full.index_copy(1, self.fit_index, pose)
        R_anny = C.T @ roma.rotvec_to_rotmat(full.to(self.body.dtype)) @ C
        eye = torch.eye(4, dtype=R_anny.dtype, device=R_anny.device).expand(B, self.num_pose_bones + 1, 4, 4)
        return torch.cat([eye[:, :1], torch.cat([torch.cat([R_anny, eye[:, 1:, :3, 3:]], -1), eye[:, 1:, 3:]], -2)], 1)

    def _sparse_weights(self, vertex_ids):
        """Each vertex's (at most 9) bones and weights: (N, S) indices, (N, S) weights."""
        return self._top_bones[vertex_ids], self._top_weights[vertex_ids]

    def _moved_bones(self, rest):
        """(K, 104) float mask: the bones whose transform fitted joint k moves (itself and
        everything below it), found once by differentiating the kinematic chain."""
        if self._moved is None:
            from torch.func import jacfwd

            one = {"rest_bone_poses": rest["rest_bone_poses"][:1]}
            zero = torch.zeros(1, self.num_fit_joints, 3, dtype=self.body.dtype, device=self.device)
            jac = jacfwd(lambda p: self.body.anny.get_bone_transforms(self._deltas(p), one["rest_bone_poses"])[0])(zero)
            self._moved = (jac[0].abs().amax((1, 2, 3, 5)) > 0).T.to(self.body.dtype)  # (K, 104)
        return self._moved

    def pose_jacobian(self, shape, pose, vertex_ids, rest=None, jacobian: bool = True, person=None):
        """Vertices and their exact derivatives with respect to the fitted pose.

        ``vertex_ids`` (N,) of every body, or with ``person`` (N,) one (body, vertex) per row,
        rows grouped by body (``person`` sorted).
        Returns vertices (B, N, 3) in the body frame (as :meth:`pose_body`) -- (N, 3) with
        ``person`` -- and, when ``jacobian``, J (B, N, 3, K*3) -- (N, 3, K*3) -- = d vertex /
        d pose (pose flattened joint-major).

        Why analytic: a Gauss-Newton fit step needs the Jacobian of every used vertex, and
        forward-mode autodiff through the skinning or even the 104-bone chain costs more
        than ten Adam steps. Anny's bone k is posed as A_k Delta_k [U_k | 0] (A_k: its parent
        chain and offset; Delta_k = exp(theta_k) in Anny's axes), so d theta_kj moves bone k
        and every bone below it by one rigid twist: rotation omega = R_A C^T J_l(theta_k) e_j
        (J_l: SO(3)'s left Jacobian) about A's origin t_A. A vertex then moves by
        omega x P + W (t_A x omega), with P, W the skinning-weighted positions / weights of
        its (at most 9) bones among those moved. Tested against autograd.
        """
        if rest is None:
            rest = self.rest_model(shape)
        a, C = self.body.anny, self.body.r_body_anny
        B, K = pose.shape[:2]
        rows = person is not None
        if not rows:
            N = len(vertex_ids)
            person = torch.arange(B, device=pose.device).repeat_interleave(N)
            vertex_ids = vertex_ids.repeat(B)
        pose = pose.to(self.body.dtype)
        deltas = self._deltas(pose)
        T, bone_poses = a.get_bone_transforms(deltas, rest["rest_bone_poses"])
        bones, w = self._sparse_weights(vertex_ids)  # (R, S)
        v0 = rest["rest_vertices"][person, vertex_ids]  # (R, 3)
        Tg = T[person[:, None], bones]  # (R, S, 4, 4)
        TV = (Tg[..., :3, :3] @ v0[:, None, :, None])[..., 0] + Tg[..., :3, 3]  # (R, S, 3)
        verts = (w[..., None] * TV).sum(1) @ C.T
        J = None
        if jacobian:
            k_bone = self.fit_index + 1  # deltas / transforms carry the root first
            # Anny's 'local-ref' chain: W_k = A_k Delta_k [U_k | 0] (U_k: the bone's reference
            # orientation), so A_k = W_k [U_k^T | 0] Delta_k^T, rotations inverted by transposition.
            U = a.reference_bone_orientations
            U = rest["rest_bone_poses"][:, k_bone, :3, :3] if U is None else U[k_bone].to(pose.dtype)
            R_A = bone_poses[:, k_bone, :3, :3] @ U.transpose(-1, -2) @ deltas[:, k_bone, :3, :3].transpose(-1, -2)
            t_A = bone_poses[:, k_bone, :3, 3]
            phi = pose.norm(dim=-1, keepdim=True)[..., None]  # (B, K, 1, 1)
            x, y, z = pose.unbind(-1)
            zero = torch.zeros_like(x)
            th = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(B, K, 3, 3)
            small = phi < 1e-4
            phi = phi.clamp_min(1e-4)
            c1 = torch.where(small, 0.5 - phi**2 / 24, (1 - torch.cos(phi)) / phi**2)
            c2 = torch.where(small, 1.0 / 6 - phi**2 / 120, (phi - torch.sin(phi)) / phi**3)
            Jl = torch.eye(3, dtype=pose.dtype, device=pose.device) + c1 * th + c2 * (th @ th)
            omega = (R_A @ C.T @ Jl).transpose(-1, -2).reshape(B, K * 3, 3)  # row kj: axis of d theta_kj
            u = torch.cross(t_A.repeat_interleave(3, dim=1), omega, dim=-1)  # (B, K3, 3)
            ox, oy, oz = omega.unbind(-1)
            zero = torch.zeros_like(ox)
            # Each parameter's twist as a 3x4 [omega^ | u], in the body frame (C applied).
            twist = C @ torch.cat([torch.stack([zero, -oz, oy, oz, zero, -ox, -oy, ox, zero], -1)
                                   .reshape(B, K * 3, 3, 3), u[..., None]], -1)
            # [P | W] of every joint: the weighted, posed bone positions of each row summed
            # over the bones that joint moves, as one product with the (K, 104) moved-mask.
            TVh = (torch.cat([TV, torch.ones_like(TV[..., :1])], -1) * w[..., None]).transpose(1, 2)  # (R, 4, S)
            n_rows, n_bones = len(person), T.shape[1]
            per_bone = torch.zeros(n_rows, 4, n_bones, dtype=pose.dtype, device=pose.device)
            per_bone.scatter_add_(2, bones[:, None].expand(-1, 4, -1), TVh)  # (R, 4, 104)
            Ph = (per_bone.reshape(-1, n_bones) @ self._moved_bones(rest).T).reshape(n_rows, 4, K)  # (R, 4, K)
            # J[r, i, k, j] = sum_c Ph[r, c, k] twist[k, j, i, c], four broadcast products.
            # Rows are grouped by body (sorted ``person``): one slice per body.
            tw = twist.reshape(B, K, 3, 3, 4).permute(0, 4, 3, 1, 2)  # (B, c, i, K, j)
            counts = torch.bincount(person, minlength=B).tolist()
            J = torch.cat([sum(Ph_b[:, c, None, :, None] * tw[b, c] for c in range(4))
                           for b, Ph_b in enumerate(torch.split(Ph, counts))]).reshape(n_rows, 3, K * 3)
        if not rows:
            verts = verts.reshape(B, -1, 3)
            J = None if J is None else J.reshape(B, -1, 3, K * 3)
        return verts, J

    def _pose_subset(self, shape, pose, vertex_ids, rest=None):
        """``AnnyBody.forward`` (T_world_body = I) skinning only ``vertex_ids``.

        Why: skinning all 13,718 vertices dominates the fit's cost, and the fit only needs
        the ~1-3k vertices that DensePose points at (5-10x faster on CPU). Same maths as
        :meth:`hamst3r_ros.body.anny_model.AnnyBody.forward` through Anny's own methods;
        ``tests/test_human_body_fit.py`` checks both agree.
        """
        from anny.skinning.skinning import dense_linear_blend_skinning

        a, C = self.body.anny, self.body.r_body_anny
        B = shape.shape[0]
        if rest is None:
            rest = self.rest_model(shape)
        transforms, bone_poses = a.get_bone_transforms(self._deltas(pose), rest["rest_bone_poses"])
        rest_v = rest["rest_vertices"][:, vertex_ids]
        verts = dense_linear_blend_skinning(rest_v.expand(B, -1, -1), a.dense_vertex_bone_weights[vertex_ids], transforms)
        idx = self.body.smpl_bone_indices
        zero_poses = rest["zero_bone_poses"]
        joints = bone_poses[:, idx, :3, 3] @ C.T
        rots = C @ bone_poses[:, idx, :3, :3] @ zero_poses[:, idx, :3, :3].expand(B, -1, -1, -1).transpose(-1, -2) @ C.T
        return verts @ C.T, joints, rots

    def full_pose(self, pose: np.ndarray) -> np.ndarray:
        full = np.zeros((self.num_pose_bones, 3), np.float32)
        full[self.fit_index.cpu().numpy()] = pose
        return full.reshape(-1)


class SmplFitBody:
    """SMPL through :class:`hamst3r_ros.body.smpl_model.SmplBody` (licensed files from the user).

    The DensePose target is SMPL's rest template in the body frame, normalised as Anny's
    (:class:`hamst3r_ros.body.template.BodyTemplate`, isotropic bounding box).
    """

    name = "smpl"

    def __init__(self, model, num_betas: int = 10, device: str | torch.device = "cpu"):
        from hamst3r_ros.body.smpl_model import SmplBody
        from hamst3r_ros.body.template import BodyTemplate

        self.body = model if isinstance(model, SmplBody) else SmplBody(model, num_betas=num_betas)
        self.body = self.body.to(device)
        self.device = torch.device(device)
        self.num_shape = self.body.num_shape
        self.num_fit_joints = 23
        self._r = torch.as_tensor(R_BODY_SMPL, dtype=torch.float32, device=self.device)
        with torch.no_grad():
            v, _, _ = self.pose_body(torch.zeros(1, self.num_shape, device=self.device),
                                     torch.zeros(1, 23, 3, device=self.device))
        self.template = BodyTemplate.from_vertices(v[0].double().cpu().numpy(), self.body.faces.cpu().numpy())
        self.template_coords = self.template.coords
        self.faces = self.body.faces
        self.shape_mean = torch.zeros(self.num_shape, device=self.device)
        self.shape_std = torch.ones(self.num_shape, device=self.device)

    def pose_body(self, shape, pose, vertex_ids=None, rest=None):
        # SMPL's shape blend is one small matrix product: nothing worth caching in ``rest``.
        out = self.body(shape, pose)
        pelvis = out.joints[:, :1]
        r = self._r
        v = out.vertices if vertex_ids is None else out.vertices[:, vertex_ids]
        verts = (v - pelvis) @ r.T
        joints = (out.joints - pelvis) @ r.T
        rots = r @ out.joint_rotations @ r.T  # orientation relative to rest, body-frame axes
        return verts, joints, rots

    def rest_model(self, shape):
        return None

    def full_pose(self, pose: np.ndarray) -> np.ndarray:
        return np.asarray(pose, np.float32).reshape(-1)
