"""Test helpers: small pipeline outputs (``SceneResult``, ``HumanEstimate``) for the ROS
conversion tests (no ROS needed to build them)."""
import numpy as np

from hamst3r_ros.types import HumanEstimate, SceneResult, TrackState


def scene_result(points, conf, instance=None) -> SceneResult:
    """A two-camera SceneResult (metres, fixed frame) with the given (M, 3) points, (M,)
    confidences and instance ids; only point 0 is on a body (u, v, w = 0.1, 0.2, 0.3)."""
    m = len(points)
    body = np.full((m, 3), np.nan, np.float32)
    body[0] = (0.1, 0.2, 0.3)
    T = np.stack([np.eye(4), np.eye(4)])
    T[1, :3, 3] = (1.0, 0.0, 0.0)
    T[1, :3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]  # 90 degrees about z
    return SceneResult(stamp_ns=42_000_000_000, camera_names=["cam0", "cam1"], T_fixed_cam=T,
                       K=np.stack([np.eye(3)] * 2), metric=True,
                       points=np.asarray(points, np.float32),
                       colors=np.tile(np.array([[10, 20, 30]], np.uint8), (m, 1)),
                       confidence=np.asarray(conf, np.float32),
                       instance=np.asarray(instance if instance is not None else [0] * m, np.int32),
                       body_coords=body)


def human_estimate(track_id, state=TrackState.TRACKED, offset=(0.0, 0.0, 0.0)) -> HumanEstimate:
    """A HumanEstimate with random joints (seeded by ``track_id``) around ``offset`` (metres),
    the head 0.7 m above the pelvis, random unit quaternions as joint rotations."""
    rng = np.random.default_rng(track_id)
    joints = rng.normal(size=(24, 3)) * 0.3 + np.asarray(offset)
    joints[15] = joints[0] + (0, 0, 0.7)  # head above the pelvis
    q = rng.normal(size=(24, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    T = np.eye(4)
    T[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    T[:3, 3] = joints[0]
    return HumanEstimate(track_id=track_id, state=state, confidence=0.8, joints=joints, joint_rotations=q,
                         T_fixed_root=T, shape=np.arange(10, dtype=np.float32), pose=np.zeros(0, np.float32),
                         body_model="anny", velocity=np.array([0.5, -0.25, 0.0]), residual=0.02, num_points=321)
