"""Skeleton line segments for visualisation (the ROS layer turns them into LINE_LIST markers)."""
from __future__ import annotations

import numpy as np

from hamst3r_ros.types import SMPL_PARENTS


def skeleton_segments(joints: np.ndarray, parents: tuple[int, ...] = SMPL_PARENTS) -> np.ndarray:
    """Bones of a skeleton as line segments.

    Args:
        joints: (J, 3) joint positions (any frame, metres), SMPL order by default.
        parents: parent index of each joint, -1 for the root.

    Returns:
        (J - roots, 2, 3) float64: for each non-root joint, (parent position, joint position),
        in joint order. Segments touching a non-finite joint are left out.
    """
    joints = np.asarray(joints, np.float64)
    if joints.ndim != 2 or joints.shape != (len(parents), 3):
        raise ValueError(f"skeleton_segments: expected ({len(parents)}, 3) joints, got {joints.shape}")
    segs = [(joints[p], joints[j]) for j, p in enumerate(parents)
            if p >= 0 and np.isfinite(joints[p]).all() and np.isfinite(joints[j]).all()]
    return np.asarray(segs, np.float64).reshape(-1, 2, 3)


#: SMPL joints from the left ankle up to the head, along the bones.
_STATURE_CHAIN: tuple[int, ...] = (7, 4, 1, 0, 3, 6, 9, 12, 15)


def skeleton_height(joints: np.ndarray) -> float:
    """Length of the bone chain left ankle -> knee -> hip -> pelvis -> spine -> neck -> head of
    (24, 3) SMPL-order joints, metres: a pose-independent size of the body (standing, it is
    the ankle-to-head height; the synthetic people measure 1.28-2.15 m)."""
    J = np.asarray(joints, np.float64)
    c = list(_STATURE_CHAIN)
    return float(np.linalg.norm(J[c[1:]] - J[c[:-1]], axis=1).sum())
