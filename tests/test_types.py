"""The shared types and conventions."""
from hamst3r_ros.types import SMPL_JOINT_NAMES, SMPL_PARENTS


def test_smpl_skeleton_is_a_tree_rooted_at_pelvis():
    assert len(SMPL_JOINT_NAMES) == len(SMPL_PARENTS) == 24
    assert SMPL_PARENTS[0] == -1 and SMPL_JOINT_NAMES[0] == "pelvis"
    # Parents come before children, so forward kinematics can run in index order.
    assert all(0 <= p < i for i, p in enumerate(SMPL_PARENTS) if i > 0)


def test_cli_lists_without_error(capsys):
    from hamst3r_ros.cli import main
    assert main([]) == 2
    assert "hamst3r" in capsys.readouterr().out
