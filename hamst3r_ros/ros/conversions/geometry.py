"""4x4 poses <-> geometry_msgs Pose / Transform / TransformStamped.

Poses follow hamst3r_ros.types: ``T_a_b`` (4, 4) float64 maps points in frame b into frame
a; as a ROS transform its header.frame_id is a (parent) and child_frame_id is b (REP-103,
tf2 convention). Quaternions are (x, y, z, w), as in ROS (the maths:
:mod:`hamst3r_ros.geometry.sim3`).
"""
from __future__ import annotations

import numpy as np

from hamst3r_ros.geometry.sim3 import matrix_to_quaternion, quaternion_to_matrix

from .stamps import make_header


def _check_pose(T: np.ndarray, what: str) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"{what} must be a (4, 4) pose matrix, got shape {T.shape}")
    if not np.all(np.isfinite(T)):
        raise ValueError(f"{what} has non-finite entries")
    return T


def matrix_to_pose(T: np.ndarray):
    """geometry_msgs/Pose of a (4, 4) pose (position in metres)."""
    from geometry_msgs.msg import Point, Pose, Quaternion

    T = _check_pose(T, "pose")
    x, y, z, w = matrix_to_quaternion(T[:3, :3])
    return Pose(position=Point(x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
                orientation=Quaternion(x=float(x), y=float(y), z=float(z), w=float(w)))


def position_quaternion_to_pose(p, q):
    """geometry_msgs/Pose from a position (3,) and a quaternion (x, y, z, w)."""
    from geometry_msgs.msg import Point, Pose, Quaternion

    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    return Pose(position=Point(x=float(p[0]), y=float(p[1]), z=float(p[2])),
                orientation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])))


def _to_matrix(q, t) -> np.ndarray:
    """(4, 4) float64 pose of a Quaternion and a Point / Vector3 message (metres)."""
    T = np.eye(4)
    T[:3, :3] = quaternion_to_matrix((q.x, q.y, q.z, q.w))
    T[:3, 3] = (t.x, t.y, t.z)
    return T


def pose_to_matrix(pose) -> np.ndarray:
    """(4, 4) float64 pose of a geometry_msgs/Pose."""
    return _to_matrix(pose.orientation, pose.position)


def matrix_to_transform_stamped(T_parent_child: np.ndarray, parent: str, child: str, stamp_ns: int):
    """geometry_msgs/TransformStamped placing frame ``child`` in frame ``parent``."""
    from geometry_msgs.msg import Quaternion, Transform, TransformStamped, Vector3

    T = _check_pose(T_parent_child, f"transform {parent} -> {child}")
    if not parent or not child or parent == child:
        raise ValueError(f"a transform needs two different, non-empty frames, got {parent!r} -> {child!r}")
    x, y, z, w = matrix_to_quaternion(T[:3, :3])
    return TransformStamped(
        header=make_header(parent, stamp_ns), child_frame_id=child,
        transform=Transform(translation=Vector3(x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
                            rotation=Quaternion(x=float(x), y=float(y), z=float(z), w=float(w))))


def transform_to_matrix(transform) -> np.ndarray:
    """(4, 4) float64 pose of a geometry_msgs/Transform."""
    return _to_matrix(transform.rotation, transform.translation)
