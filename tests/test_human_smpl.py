"""SMPL through smplx with a small synthetic SMPL-format model (``helpers_bodies``; no
licensed files)."""
import numpy as np
import pytest

pytest.importorskip("smplx", reason="SMPL support needs the smplx package")
torch = pytest.importorskip("torch")

from helpers_bodies import TOY_JOINTS, toy_smpl_arrays  # noqa: E402

from hamst3r_ros.body.smpl_model import SmplBody, load_smpl_npz  # noqa: E402


def test_npz_round_trip_and_rest_pose(tmp_path):
    path = tmp_path / "toy_smpl.npz"
    np.savez(path, **toy_smpl_arrays())
    body = SmplBody(path)
    assert body.num_shape == 10 and body.num_pose_joints == 23
    out = body(torch.zeros(2, 10), torch.zeros(2, 23, 3))
    np.testing.assert_allclose(out.joints[0].numpy(), TOY_JOINTS, atol=1e-6)
    np.testing.assert_allclose(out.joint_rotations[1].numpy(), np.broadcast_to(np.eye(3), (24, 3, 3)), atol=1e-6)
    tc = body.template_coords.numpy()
    assert tc.min() == pytest.approx(0.0) and tc.max() == pytest.approx(1.0)


def test_pose_rotates_children_and_orientations_chain():
    body = SmplBody(toy_smpl_arrays())
    pose = torch.zeros(1, 23, 3)
    le = 18  # left elbow: bend 90 degrees about z
    pose[0, le - 1] = torch.tensor([0.0, 0.0, np.pi / 2])
    out = body(torch.zeros(1, 10), pose)
    j = out.joints[0].numpy()
    # The wrist (child of the elbow) swings from +x to +y around the elbow.
    np.testing.assert_allclose(j[20] - j[18], [0.0, 0.25, 0.0], atol=1e-5)
    np.testing.assert_allclose(j[16], TOY_JOINTS[16], atol=1e-6)  # the shoulder does not move
    rz = out.joint_rotations[0, 22].numpy()  # left hand inherits the elbow's rotation
    np.testing.assert_allclose(rz @ [1.0, 0, 0], [0.0, 1.0, 0.0], atol=1e-6)


def test_shape_changes_height():
    body = SmplBody(toy_smpl_arrays())
    beta = torch.zeros(1, 10)
    beta[0, 0] = 2.0
    j = body(beta, torch.zeros(1, 23, 3)).joints[0].numpy()
    assert j[15, 1] > TOY_JOINTS[15, 1] * 1.1


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_smpl_npz(tmp_path / "nope.npz")
    pkl = tmp_path / "SMPL_NEUTRAL.pkl"
    pkl.write_bytes(b"\x80\x04N.")
    with pytest.raises(ValueError, match="do not unpickle"):
        load_smpl_npz(pkl)
    arrays = toy_smpl_arrays()
    arrays["J_regressor"] = arrays["J_regressor"][:, :-1]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="J_regressor"):
        load_smpl_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "obj.npz", **{**toy_smpl_arrays(), "J_regressor": np.array([{"sparse": 1}], dtype=object)})
    with pytest.raises(ValueError, match="pickled objects"):
        load_smpl_npz(tmp_path / "obj.npz")
