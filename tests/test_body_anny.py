"""Anny body wrapper: frames, SMPL joints, template coordinates, differentiability."""
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("anny", reason="the body layer needs the 'anny' package")
os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

from hamst3r_ros.body import (  # noqa: E402
    SMPL_TO_ANNY_BONE, anny_template, load_anny_body, rigid_transform,
)
from hamst3r_ros.types import SMPL_JOINT_NAMES  # noqa: E402

J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}


@pytest.fixture(scope="session")
def body():
    return load_anny_body()


def _rot_z(a):
    c, s = np.cos(a), np.sin(a)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float32)


def test_zero_pose_is_upright_facing_x_with_identity_rotations(body):
    out = body(body.default_shape(1))
    j = out.joints[0].numpy()
    assert out.vertices.shape == (1, body.num_vertices, 3)
    assert out.joints.shape == (1, 24, 3) and out.joint_rotations.shape == (1, 24, 3, 3)
    np.testing.assert_allclose(j[J["pelvis"]], 0.0, atol=1e-6)
    np.testing.assert_allclose(out.joint_rotations[0].numpy(), np.broadcast_to(np.eye(3), (24, 3, 3)), atol=1e-5)
    assert j[J["head"], 2] > j[J["neck"], 2] > j[J["spine3"], 2] > j[J["spine2"], 2] > j[J["spine1"], 2] > 0
    assert j[J["left_ankle"], 2] < j[J["left_knee"], 2] < j[J["left_hip"], 2] < 0
    for name in SMPL_JOINT_NAMES:
        if name.startswith("left_"):  # person's left is body +y, mirror-symmetric
            r = j[J["right_" + name[5:]]]
            assert j[J[name], 1] > 0.015 and r[1] < -0.015, name
            np.testing.assert_allclose(j[J[name]] * [1, -1, 1], r, atol=5e-3)
    # faces +x: toes ahead of the ankles, the nose (most forward head vertex) ahead of the neck
    assert j[J["left_foot"], 0] - j[J["left_ankle"], 0] > 0.08
    head_verts = out.vertices[0][out.vertices[0, :, 2] > j[J["head"], 2]]
    assert head_verts[:, 0].max() - j[J["neck"], 0] > 0.08


def test_mapping_covers_smpl_joints(body):
    assert tuple(SMPL_TO_ANNY_BONE) == SMPL_JOINT_NAMES
    assert [body.bone_names[i] for i in body.smpl_bone_indices.tolist()] == list(SMPL_TO_ANNY_BONE.values())


def test_root_transform_is_equivariant(body):
    shape = body.default_shape(1)
    pose = 0.3 * torch.randn(1, 103, 3, generator=torch.Generator().manual_seed(0))
    R, t = _rot_z(0.7), torch.tensor([1.0, -2.0, 0.9])
    a = body(shape, pose)
    b = body(shape, pose, rigid_transform(R, t)[None])
    np.testing.assert_allclose(b.vertices[0].numpy(), (a.vertices[0] @ R.T + t).numpy(), atol=1e-5)
    np.testing.assert_allclose(b.joints[0].numpy(), (a.joints[0] @ R.T + t).numpy(), atol=1e-5)
    np.testing.assert_allclose(b.joint_rotations[0].numpy(), (R @ a.joint_rotations[0]).numpy(), atol=1e-5)


def test_pose_axes_and_joint_rotations(body):
    shape = body.default_shape(1)
    zero = body(shape)
    pose = body.zero_pose(1)
    pose[0, body.pose_bone_names.index("upperarm01.L")] = torch.tensor([1.0, 0.0, 0.0])  # abduct
    up = body(shape, pose)
    assert up.joints[0, J["left_wrist"], 2] > zero.joints[0, J["left_wrist"], 2] + 0.2
    np.testing.assert_allclose(up.joints[0, J["right_wrist"]].numpy(), zero.joints[0, J["right_wrist"]].numpy(), atol=1e-5)
    # the shoulder's global rotation carries the zero-pose upper arm onto the posed one
    s, e = J["left_shoulder"], J["left_elbow"]
    v0 = zero.joints[0, e] - zero.joints[0, s]
    v1 = up.joints[0, e] - up.joints[0, s]
    np.testing.assert_allclose((up.joint_rotations[0, s] @ v0).numpy(), v1.numpy(), atol=1e-4)
    # a forward lean (pitch about body y) moves the head forward
    pose = body.zero_pose(1)
    pose[0, body.pose_bone_names.index("spine03")] = torch.tensor([0.0, 0.5, 0.0])
    lean = body(shape, pose)
    assert lean.joints[0, J["head"], 0] > zero.joints[0, J["head"], 0] + 0.1


def test_phenotypes_change_size(body):
    shape = body.default_shape(2)
    shape[0, 4], shape[1, 4] = 0.0, 1.0  # height
    v = body(shape).vertices
    heights = (v[..., 2].max(1).values - v[..., 2].min(1).values).numpy()
    assert heights[1] > heights[0] + 0.15


def test_gradients_reach_all_inputs(body):
    shape = body.default_shape(2).requires_grad_(True)
    pose = body.zero_pose(2).requires_grad_(True)
    T = rigid_transform(_rot_z(0.2), torch.tensor([0.5, 0.0, 1.0]))[None].repeat(2, 1, 1).requires_grad_(True)
    out = body(shape, pose, T)
    (out.vertices.square().mean() + out.joints.square().mean()).backward()
    for g in (shape.grad, pose.grad, T.grad):
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


def test_bad_inputs_are_named(body):
    with pytest.raises(ValueError, match="shape"):
        body(torch.zeros(1, 5))
    with pytest.raises(ValueError, match="pose"):
        body(body.default_shape(1), torch.zeros(1, 104, 3))


def test_template_coordinates_and_lookup(body):
    tpl = anny_template()
    c = tpl.coords
    assert c.shape == (body.num_vertices, 3) and tpl.faces.shape[1] == 3
    assert c.min() >= 0.0 and c.max() <= 1.0
    np.testing.assert_allclose([c[:, 2].min(), c[:, 2].max()], [0.0, 1.0], atol=1e-6)
    assert 1.4 < tpl.extent < 2.0  # the height of an adult, metres
    np.testing.assert_allclose(tpl.coords_to_points(c), tpl.vertices, atol=1e-5)
    idx = np.random.default_rng(0).choice(len(c), 200, replace=False)
    q = np.concatenate([c[idx].astype(np.float64) + 1e-5, np.full((1, 3), np.nan)])
    got, dist = tpl.nearest_vertices(q)
    # duplicated template positions (seams) may return a twin at distance 0
    np.testing.assert_allclose(tpl.vertices[got[:-1]], tpl.vertices[idx], atol=1e-4)
    assert got[-1] == -1 and np.isinf(dist[-1]) and (dist[:-1] < 1e-3).all()
    got_k, _ = tpl.nearest_vertices(q[:5], k=3)
    assert got_k.shape == (5, 3)
