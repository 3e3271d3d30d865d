"""SMPL body model through ``smplx``, from licensed model files the user supplies.

SMPL's files are not ours to ship (their licence forbids redistribution); the user points us
at one. We read the ``.npz`` form only, with ``allow_pickle=False``: the official ``.pkl``
files hold pickled (chumpy) objects, and unpickling a file runs code, so we never do it.
Convert once with the smplx project's own tooling (its ``tools/clean_ch.py`` writes plain
arrays), then ``np.savez`` the arrays below with a dense ``J_regressor``.

Required arrays (V vertices, F faces, S >= 1 shape components):

    v_template (V, 3)   shapedirs (V, 3, S)   posedirs (V, 3, 207)   J_regressor (24, V)
    weights (V, 24)     kintree_table (2, 24) f (F, 3)

Frame: SMPL's model frame (y up, body facing +z), metres. ``forward`` applies no global
rotation: the caller (the body fitter) places the body in the world.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Union

import numpy as np
import torch

NUM_JOINTS = 24
NUM_POSE_BASIS = (NUM_JOINTS - 1) * 9


def validate_smpl_arrays(arrays: Mapping[str, np.ndarray], source: str = "SMPL arrays") -> dict[str, np.ndarray]:
    """Check keys and shapes of SMPL model arrays; returns them as plain numpy arrays.

    Raises:
        ValueError: naming the file/array and the expected shape.
    """
    need = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
    missing = [k for k in need if k not in arrays]
    if missing:
        raise ValueError(f"{source}: missing SMPL arrays {missing}; expected {list(need)}")
    a = {k: np.asarray(arrays[k]) for k in need}
    v = a["v_template"].shape[0] if a["v_template"].ndim == 2 else -1
    expected = {
        "v_template": (v, 3), "posedirs": (v, 3, NUM_POSE_BASIS), "J_regressor": (NUM_JOINTS, v),
        "weights": (v, NUM_JOINTS), "kintree_table": (2, NUM_JOINTS),
    }
    for k, shape in expected.items():
        if a[k].shape != shape or v <= 0:
            raise ValueError(f"{source}: array {k!r} has shape {a[k].shape}, expected {shape} "
                             f"(V = {v} vertices, 24 joints)")
    if a["shapedirs"].ndim != 3 or a["shapedirs"].shape[:2] != (v, 3) or a["shapedirs"].shape[2] < 1:
        raise ValueError(f"{source}: array 'shapedirs' has shape {a['shapedirs'].shape}, expected ({v}, 3, S)")
    if a["f"].ndim != 2 or a["f"].shape[1] != 3:
        raise ValueError(f"{source}: array 'f' has shape {a['f'].shape}, expected (F, 3)")
    for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        if a[k].dtype == object or not np.isfinite(a[k].astype(np.float64)).all():
            raise ValueError(f"{source}: array {k!r} must be finite numbers")
    return a


def load_smpl_npz(path: Union[str, os.PathLike]) -> dict[str, np.ndarray]:
    """Read and validate an SMPL model ``.npz`` (no pickles). See the module docstring."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"SMPL model file {path!r} does not exist; give the path of a licensed "
                                f"SMPL model saved as .npz (see hamst3r_ros.body.smpl_model)")
    if path.endswith(".pkl"):
        raise ValueError(f"SMPL model file {path!r} is a pickle; we do not unpickle files (it can run "
                         f"code). Convert it to .npz with plain arrays (see hamst3r_ros.body.smpl_model)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:  # object arrays (e.g. a sparse J_regressor) need pickling
        raise ValueError(f"SMPL model file {path!r} holds pickled objects ({e}); save every array "
                         f"as a plain dense numeric array") from e
    return validate_smpl_arrays(arrays, source=f"SMPL model file {path!r}")


def template_coordinates(v_template: np.ndarray) -> np.ndarray:
    """DensePose target for SMPL: rest-template vertex coordinates scaled per axis to [0, 1]
    (the continuous "RGB" encoding of the template surface; paper section 3.3)."""
    lo, hi = v_template.min(0), v_template.max(0)
    return ((v_template - lo) / np.maximum(hi - lo, 1e-9)).astype(np.float32)


@dataclass
class BodyOutput:
    """Posed body in the model frame (root rotation identity).

    Attributes:
        vertices: (B, V, 3) metres.
        joints: (B, 24, 3) metres, SMPL order.
        joint_rotations: (B, 24, 3, 3) global joint orientations in the model frame.
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    joint_rotations: torch.Tensor


class SmplBody(torch.nn.Module):
    """SMPL forward model (linear blend skinning by ``smplx.lbs``) with fitting metadata.

    Attributes:
        name: "smpl".
        num_shape: number of shape coefficients (betas) used.
        num_pose_joints: 23 local joint rotations (axis-angle), pelvis excluded.
        template_coords: (V, 3) float32 DensePose target of every vertex.
        shape_mean, shape_std: (S,) Gaussian prior of the betas (0 and 1: SMPL's PCA space).
        faces: (F, 3) int64.
    """

    name = "smpl"

    def __init__(self, model: Union[str, os.PathLike, Mapping[str, np.ndarray]], num_betas: int = 10):
        super().__init__()
        arrays = load_smpl_npz(model) if isinstance(model, (str, os.PathLike)) else validate_smpl_arrays(model)
        s = min(num_betas, arrays["shapedirs"].shape[2])
        f32 = dict(dtype=torch.float32)
        self.register_buffer("v_template", torch.as_tensor(arrays["v_template"], **f32))
        self.register_buffer("shapedirs", torch.as_tensor(arrays["shapedirs"][:, :, :s], **f32))
        posedirs = arrays["posedirs"].reshape(-1, NUM_POSE_BASIS).T
        self.register_buffer("posedirs", torch.as_tensor(np.ascontiguousarray(posedirs), **f32))
        self.register_buffer("J_regressor", torch.as_tensor(arrays["J_regressor"], **f32))
        self.register_buffer("lbs_weights", torch.as_tensor(arrays["weights"], **f32))
        parents = arrays["kintree_table"][0].astype(np.int64)
        parents[0] = -1
        self.register_buffer("parents", torch.as_tensor(parents))
        self.register_buffer("faces", torch.as_tensor(arrays["f"].astype(np.int64)))
        self.register_buffer("template_coords", torch.as_tensor(template_coordinates(arrays["v_template"])))
        self.register_buffer("shape_mean", torch.zeros(s))
        self.register_buffer("shape_std", torch.ones(s))
        self.num_shape = s
        self.num_pose_joints = NUM_JOINTS - 1
        self._parents = [int(p) for p in parents]

    def forward(self, shape: torch.Tensor, pose: torch.Tensor) -> BodyOutput:
        """Pose the body.

        Args:
            shape: (B, S) betas.
            pose: (B, 23, 3) local joint rotations, axis-angle, radians (SMPL joints 1..23).
        """
        from smplx.lbs import batch_rodrigues, lbs

        b = pose.shape[0]
        root = torch.zeros(b, 1, 3, dtype=pose.dtype, device=pose.device)
        full = torch.cat([root, pose], dim=1)
        verts, joints = lbs(shape, full.reshape(b, -1), self.v_template[None].expand(b, -1, -1),
                            self.shapedirs, self.posedirs, self.J_regressor, self.parents,
                            self.lbs_weights, pose2rot=True)
        local = batch_rodrigues(full.reshape(-1, 3)).reshape(b, NUM_JOINTS, 3, 3)
        glob = [local[:, 0]]
        for j in range(1, NUM_JOINTS):
            glob.append(glob[self._parents[j]] @ local[:, j])
        return BodyOutput(vertices=verts, joints=joints, joint_rotations=torch.stack(glob, dim=1))
