"""A published body faces where its person walks (``human/heading.py``)."""
import numpy as np
import pytest

from hamst3r_ros.human.heading import body_facing, heading_turn, rotation_about, turn_body
from hamst3r_ros.types import SMPL_JOINT_NAMES

UP = np.array([0.0, 0.0, 1.0])


def _skeleton(yaw: float, at=(1.0, 2.0, 0.9)) -> np.ndarray:
    """24 joints: hips 0.1 m either side of the pelvis, facing yaw (radians from +x), the
    rest scattered around it."""
    rng = np.random.default_rng(0)
    J = rng.normal(0, 0.3, (24, 3))
    J[0] = 0.0
    J[SMPL_JOINT_NAMES.index("left_hip")] = (0.0, 0.1, -0.05)  # x forward, y left, z up
    J[SMPL_JOINT_NAMES.index("right_hip")] = (0.0, -0.1, -0.05)
    return J @ rotation_about(UP, yaw).T + np.asarray(at)


@pytest.mark.parametrize("yaw", [0.0, 1.0, -2.5, np.pi])
def test_the_facing_is_left_hip_cross_up(yaw):
    np.testing.assert_allclose(body_facing(_skeleton(yaw), UP), [np.cos(yaw), np.sin(yaw), 0.0], atol=1e-12)


def test_a_walker_is_turned_to_face_where_they_walk_about_their_pelvis():
    J = _skeleton(np.pi)  # fitted facing backwards
    T = np.eye(4)
    T[:3, :3] = rotation_about(UP, np.pi)
    T[:3, 3] = J[0]
    rots = np.stack([rotation_about(UP, 0.3 * k) for k in range(24)])
    v = np.array([1.2, 0.0, 0.05])  # walking along +x (a little vertical bob is ignored)
    turn = heading_turn(J, v, UP, min_speed=0.5)
    assert abs(abs(turn) - np.pi) < 1e-9
    J2, T2, R2 = turn_body(J, T, rots, UP, turn)
    np.testing.assert_allclose(body_facing(J2, UP), [1.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(J2[0], J[0], atol=1e-12)  # pelvis stays
    np.testing.assert_allclose(T2[:3, 3], T[:3, 3])
    np.testing.assert_allclose(T2[:3, :3], np.eye(3), atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(J2 - J2[0], axis=1), np.linalg.norm(J - J[0], axis=1))  # rigid
    np.testing.assert_allclose(R2, np.stack([rotation_about(UP, 0.3 * k + np.pi) for k in range(24)]), atol=1e-9)
    # a fit that roughly agrees keeps its facing; with no tolerance it is turned all the way
    assert heading_turn(_skeleton(0.0), np.array([0.0, 0.8, 0.0]), UP, 0.5) == 0.0
    assert heading_turn(_skeleton(0.0), np.array([0.0, 0.8, 0.0]), UP, 0.5, tolerance=0.0) == pytest.approx(np.pi / 2)
    assert heading_turn(_skeleton(0.0), np.array([-1.0, -0.1, 0.0]), UP, 0.5) == pytest.approx(-np.pi + 0.0997, abs=1e-3)


@pytest.mark.parametrize("velocity, joints", [
    ((0.3, 0.0, 0.0), None),          # slower than min_speed: standing or shuffling
    ((0.0, 0.0, 1.5), None),          # moving only vertically
    ((1.0, 0.0, 0.0), "nan_hips"),    # no facing to turn
])
def test_no_turn_without_a_walking_direction_or_a_facing(velocity, joints):
    J = _skeleton(2.0)
    if joints == "nan_hips":
        J[SMPL_JOINT_NAMES.index("left_hip")] = np.nan
    assert heading_turn(J, np.array(velocity), UP, min_speed=0.5) == 0.0
