"""Which way a published body faces: the fit's, or the way the person walks.

A walking person faces where they walk. The tracker knows that direction well (eval-humans:
velocity within 0.07 m/s), while a fit reads its facing from DensePose, which a weak network
gets front-to-back: with the embedded model, posed, 58% of published bodies faced more than
90 degrees away from the truth, against 3% of the walking directions of people moving faster
than 0.4 m/s (seeds 3000-3005). These pure functions turn a body about the vertical axis
through its pelvis; :class:`~hamst3r_ros.human.people.PeopleEstimator` decides when.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from hamst3r_ros.types import SMPL_JOINT_NAMES

_LEFT_HIP, _RIGHT_HIP = SMPL_JOINT_NAMES.index("left_hip"), SMPL_JOINT_NAMES.index("right_hip")


def _horizontal(v: np.ndarray, up: np.ndarray) -> Optional[np.ndarray]:
    h = v - np.dot(v, up) * up
    n = np.linalg.norm(h)
    return h / n if n > 1e-9 else None


def body_facing(joints: np.ndarray, up: np.ndarray) -> Optional[np.ndarray]:
    """(3,) unit horizontal direction a (24, 3) SMPL-order skeleton faces (its left hip to the
    left: forward = left x up), or None when the hips are not finite or lie along ``up``."""
    left = np.asarray(joints[_LEFT_HIP], np.float64) - np.asarray(joints[_RIGHT_HIP], np.float64)
    if not np.isfinite(left).all():
        return None
    left = _horizontal(left, up)
    return None if left is None else np.cross(left, up)


def heading_turn(joints: np.ndarray, velocity: np.ndarray, up: np.ndarray, min_speed: float,
                 tolerance: float = np.pi / 2) -> float:
    """Angle (radians, right-handed about ``up``) that turns the skeleton to face its
    horizontal velocity (m/s); 0 when it moves slower than ``min_speed`` (standing, turning
    on the spot, a velocity not yet known), has no facing, or already faces within
    ``tolerance`` of where it walks. The default tolerance only undoes front-to-back errors:
    a fit that roughly agrees keeps its own facing, which an accurate network measures
    better than the walking direction does (that one is off by a median 25 degrees: the
    gait's twist and the velocity's noise).
    """
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    v = np.asarray(velocity, np.float64)
    v_h = v - np.dot(v, up) * up
    if not np.linalg.norm(v_h) >= min_speed:
        return 0.0
    face = body_facing(joints, up)
    if face is None:
        return 0.0
    want = v_h / np.linalg.norm(v_h)
    angle = float(np.arctan2(np.dot(np.cross(face, want), up), np.dot(face, want)))
    return angle if abs(angle) > tolerance else 0.0


def rotation_about(up: np.ndarray, angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about the unit axis ``up`` (Rodrigues)."""
    k = np.asarray(up, np.float64) / np.linalg.norm(up)
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle) * K + (1.0 - np.cos(angle)) * (K @ K)


def turn_body(joints: np.ndarray, T_root: np.ndarray, rotations: np.ndarray, up: np.ndarray,
              angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A body turned by ``angle`` about the vertical through its pelvis (``T_root``'s origin).

    Args:
        joints: (J, 3) positions, metres. T_root: (4, 4) pelvis pose. rotations: (J, 3, 3)
            global joint orientations. All in the same fixed frame as ``up``.

    Returns:
        (joints, T_root, rotations) turned; the pelvis stays where it was.
    """
    R = rotation_about(up, angle)
    p = T_root[:3, 3]
    T = T_root.copy()
    T[:3, :3] = R @ T_root[:3, :3]
    return (joints - p) @ R.T + p, T, R @ rotations
