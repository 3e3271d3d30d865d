"""Differentiable, batched Anny body model in our body/fixed frames (torch).

Parameters (B = batch of bodies):

- ``shape``: (B, 6) phenotype values in [0, 1], order :data:`PHENOTYPE_NAMES`
  (gender 0 = female .. 1 = male; age: 0 = baby, 1/3 = child, 2/3 = young adult,
  1 = elderly; muscle; weight; height; proportions). 0.5 everywhere is Anny's default
  adult. Values are not clamped (Anny interpolates between its anchors).
- ``pose``: (B, 103, 3) axis-angle rotation (radians) of every non-root bone
  (:attr:`AnnyBody.pose_bone_names` = Anny's bones without ``root``), relative to its
  rest orientation and *expressed in body-frame axes at rest* (x forward, y left, z up;
  Anny's "local-ref" parameterisation rotated into our axes). Example: rotating
  ``upperarm01.L`` by +angle about body x lifts the left arm sideways (abduction); by
  -angle about body y swings it forwards-up. Zeros = Anny's reference pose (upright, arms
  in an A pose): the *zero pose*, which defines the template.
- ``T_world_body``: (B, 4, 4) rigid pose of the body frame (see
  :mod:`hamst3r_ros.body.frames`: origin at the pelvis/root-bone head, x forward, y left,
  z up) in the output frame (e.g. the REP-103 fixed frame). None = identity.

Everything is differentiable with respect to all three.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from hamst3r_ros.body.frames import R_BODY_ANNY
from hamst3r_ros.body.joints import smpl_joint_bone_indices

#: Phenotype (shape) parameter names, in the order of the ``shape`` tensor's last axis.
PHENOTYPE_NAMES: tuple[str, ...] = ("gender", "age", "muscle", "weight", "height", "proportions")

_LOCK = threading.Lock()
_MODELS: dict[tuple[str, str], "AnnyBody"] = {}


@dataclass
class BodyOutput:
    """Posed bodies. All tensors share the model's dtype/device; frames: the output frame of
    ``T_world_body`` (the body frame when it was None).

    Attributes:
        vertices: (B, V, 3) posed mesh vertices, metres (V = 13718).
        joints: (B, 24, 3) SMPL-named joint positions, metres (order SMPL_JOINT_NAMES).
        joint_rotations: (B, 24, 3, 3) global joint orientations *relative to the rest pose*
            (identity for an unposed body with T_world_body = I; SMPL's convention).
        bone_poses: (B, 104, 4, 4) posed pose of every Anny bone (rotation = Anny's bone axes,
            Blender style, y along the bone; translation = bone head).
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    joint_rotations: torch.Tensor
    bone_poses: torch.Tensor


class AnnyBody(torch.nn.Module):
    """Anny (default 104-bone rig, 13718 vertices) with our parameterisation and frames.

    Build with :func:`load_anny_body` (shared, cached) rather than directly.

    Attributes:
        faces: (F, 3) int64 triangle vertex indices (F = 27420), outward orientation.
        bone_names: the 104 Anny bone labels.
        pose_bone_names: the 103 bones that ``pose`` rotates (all but ``root``).
        smpl_bone_indices: (24,) indices into bone_names of the SMPL joints.
    """

    def __init__(self, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        super().__init__()
        import anny  # deferred: builds/loads the cached blend shapes

        # Dense LBS: plain torch, differentiable, no Warp kernels to compile.
        model = anny.Anny(skinning_method="lbs", pose_parameterization="local-ref")
        self.anny = model.to(device=device, dtype=dtype)
        self.bone_names: list[str] = list(model.bone_labels)
        if len(self.bone_names) != 104 or self.bone_names[0] != "root":
            raise ValueError(f"expected Anny's 104-bone rig rooted at 'root', got {len(self.bone_names)} bones")
        if list(model.phenotype_labels) != list(PHENOTYPE_NAMES):
            raise ValueError(f"expected Anny phenotypes {PHENOTYPE_NAMES}, got {model.phenotype_labels}")
        self.pose_bone_names: list[str] = self.bone_names[1:]
        self.faces = model.faces.detach().to(device=device, dtype=torch.int64)
        self.smpl_bone_indices = torch.tensor(smpl_joint_bone_indices(self.bone_names), device=device)
        self.register_buffer("r_body_anny", torch.as_tensor(R_BODY_ANNY, dtype=dtype, device=device), persistent=False)

    @property
    def num_vertices(self) -> int:
        return int(self.anny.template_vertices.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.r_body_anny.dtype

    @property
    def device(self) -> torch.device:
        return self.r_body_anny.device

    def default_shape(self, batch: int = 1) -> torch.Tensor:
        """(batch, 6) phenotype of Anny's default adult (all 0.5)."""
        return torch.full((batch, len(PHENOTYPE_NAMES)), 0.5, dtype=self.dtype, device=self.device)

    def zero_pose(self, batch: int = 1) -> torch.Tensor:
        """(batch, 103, 3) rest pose."""
        return torch.zeros((batch, len(self.pose_bone_names), 3), dtype=self.dtype, device=self.device)

    def forward(
        self,
        shape: torch.Tensor,
        pose: Optional[torch.Tensor] = None,
        T_world_body: Optional[torch.Tensor] = None,
    ) -> BodyOutput:
        """Pose B bodies. Shapes: shape (B, 6), pose (B, 103, 3) or None, T_world_body
        (B, 4, 4) or None. See the module docstring for meanings, units and frames."""
        import roma

        if shape.dim() != 2 or shape.shape[1] != len(PHENOTYPE_NAMES):
            raise ValueError(f"shape must be (B, {len(PHENOTYPE_NAMES)}) phenotypes {PHENOTYPE_NAMES}, got {tuple(shape.shape)}")
        B = shape.shape[0]
        shape = shape.to(self.dtype)
        if pose is None:
            pose = self.zero_pose(B)
        if pose.shape != (B, len(self.pose_bone_names), 3):
            raise ValueError(f"pose must be (B={B}, {len(self.pose_bone_names)}, 3) axis-angle, got {tuple(pose.shape)}")
        C = self.r_body_anny
        # A rotation R_b expressed in body axes acts in anny axes as C^T R_b C.
        R_body = roma.rotvec_to_rotmat(pose.to(self.dtype))
        R_anny = C.T @ R_body @ C
        deltas = torch.eye(4, dtype=self.dtype, device=self.device).repeat(B, len(self.bone_names), 1, 1)
        deltas = torch.cat(
            [deltas[:, :1], torch.cat([torch.cat([R_anny, deltas[:, 1:, :3, 3:]], -1), deltas[:, 1:, 3:]], -2)], 1
        )
        out = self.anny(pose_parameters=deltas, phenotype_kwargs=shape)
        # Identity root delta puts the root head at the anny origin: vertices are relative
        # to the pelvis; rotate into body axes, then apply T_world_body.
        if T_world_body is None:
            T_world_body = torch.eye(4, dtype=self.dtype, device=self.device).expand(B, 4, 4)
        T_world_body = T_world_body.to(self.dtype)
        if T_world_body.shape != (B, 4, 4):
            raise ValueError(f"T_world_body must be (B={B}, 4, 4), got {tuple(T_world_body.shape)}")
        R_wa = T_world_body[:, :3, :3] @ C  # anny axes -> world
        t_w = T_world_body[:, :3, 3]
        vertices = out["vertices"] @ R_wa.transpose(1, 2) + t_w[:, None]
        bone_poses = out["bone_poses"]
        R_bones = R_wa[:, None] @ bone_poses[..., :3, :3]
        heads = bone_poses[..., :3, 3] @ R_wa.transpose(1, 2) + t_w[:, None]
        bone_poses_w = torch.cat(
            [torch.cat([R_bones, heads[..., None]], -1), bone_poses[..., 3:, :]], -2
        )
        idx = self.smpl_bone_indices
        # Zero pose parameters give Anny's *reference* pose, which differs slightly (~1 cm,
        # a few degrees) from its raw rest bones; rotations are relative to the zero pose so
        # that they are exactly identity there, as SMPL's.
        _, zero_poses = self.anny.get_bone_transforms(None, out["rest_bone_poses"])
        zero_R = zero_poses[:, idx, :3, :3].expand(B, -1, -1, -1)
        # v_world = R_wa G Z^T C^T v_body(zero pose): the posed part from its zero-pose form.
        joint_rot = R_wa[:, None] @ bone_poses[:, idx, :3, :3] @ zero_R.transpose(-1, -2) @ C.T
        return BodyOutput(
            vertices=vertices,
            joints=heads[:, idx],
            joint_rotations=joint_rot,
            bone_poses=bone_poses_w,
        )


def load_anny_body(dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> AnnyBody:
    """The shared :class:`AnnyBody` for (dtype, device), built once per process.

    Anny's first build in a cache directory takes about a minute (it writes its blend shapes
    under ``$ANNY_CACHE_DIR``, default ``~/.cache/anny``); later loads take ~2 s, and later
    calls in the same process return the same module. Do not mutate it.
    """
    key = (str(dtype), str(device))
    with _LOCK:
        if key not in _MODELS:
            if not os.environ.get("ANNY_CACHE_DIR"):
                import logging

                logging.getLogger(__name__).info(
                    "ANNY_CACHE_DIR is not set: Anny caches its blend shapes in ~/.cache/anny"
                )
            body = AnnyBody(dtype=dtype, device=device)
            body.eval()
            _MODELS[key] = body
        return _MODELS[key]


def rigid_transform(R: np.ndarray | torch.Tensor, t: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(…, 4, 4) homogeneous transform from rotations (…, 3, 3) and translations (…, 3)."""
    R = torch.as_tensor(R)
    t = torch.as_tensor(t, dtype=R.dtype)
    top = torch.cat([R, t[..., None]], -1)
    bottom = torch.zeros(top.shape[:-2] + (1, 4), dtype=R.dtype)
    bottom[..., 0, 3] = 1.0
    return torch.cat([top, bottom], -2)
