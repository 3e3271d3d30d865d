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
