"""Skeleton segments from 24 SMPL joints."""
import numpy as np
import pytest

from hamst3r_ros.human.skeleton import skeleton_segments
from hamst3r_ros.types import SMPL_JOINT_NAMES, SMPL_PARENTS


def test_segments_connect_parents_to_children():
    joints = np.arange(72, dtype=np.float64).reshape(24, 3)
    segs = skeleton_segments(joints)
    assert segs.shape == (23, 2, 3)
    lw = SMPL_JOINT_NAMES.index("left_wrist")
    le = SMPL_JOINT_NAMES.index("left_elbow")
    assert SMPL_PARENTS[lw] == le
    np.testing.assert_array_equal(segs[lw - 1], [joints[le], joints[lw]])


def test_nan_joint_drops_its_segments_and_bad_shape_is_clear():
    joints = np.zeros((24, 3))
    joints[SMPL_JOINT_NAMES.index("head")] = np.nan  # head: one bone from the neck, no children
    assert skeleton_segments(joints).shape == (22, 2, 3)
    with pytest.raises(ValueError, match=r"\(24, 3\)"):
        skeleton_segments(np.zeros((17, 3)))
