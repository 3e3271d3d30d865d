"""Data passed across module boundaries: camera frames in, scene results out.

Conventions (everywhere in hamst3r_ros):
- Units: metres, seconds (stamps as integer nanoseconds), radians.
- Frames follow REP-103: right-handed. Camera *optical* frames are x right, y down,
  z forward. A pose ``T_a_b`` is a 4x4 float64 matrix mapping points expressed in frame
  ``b`` into frame ``a`` (``p_a = T_a_b @ p_b``).
- Images are numpy arrays, H x W x 3, uint8, RGB order, row-major (row = v, column = u).
- Intrinsics ``K`` are 3x3 float64 pinhole matrices in pixels of the image they belong to.

Only numpy is imported here so that every layer (ROS, model, geometry, humans) can share
these types without pulling in torch or rclpy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Optional

import numpy as np

#: SMPL's 24 joints, in SMPL's order. Every published skeleton uses these names and this
#: order, whatever body model produced it (Anny's bones are mapped onto them).
SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)

#: Parent of each SMPL joint (index into SMPL_JOINT_NAMES; -1 for the root).
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)


@dataclass(frozen=True)
class LensDistortion:
    """Lens distortion of a raw camera image (sensor_msgs/CameraInfo ``distortion_model``, ``D``).

    Attributes:
        model: ``"plumb_bob"``, ``"rational_polynomial"`` or ``"equidistant"`` (fisheye).
        coeffs: the coefficients in ROS / OpenCV order: 5 (k1, k2, p1, p2, k3), 8 (k1, k2,
            p1, p2, k3, k4, k5, k6) or 4 (k1, k2, k3, k4); they act on normalised coordinates,
            so they do not change when the image is resized. Build one with
            :func:`hamst3r_ros.geometry.distortion.make_distortion` (it validates).
    """

    model: str
    coeffs: tuple[float, ...]


@dataclass
class CameraFrame:
    """One camera image at one instant.

    Attributes:
        name: camera name (stable over time; e.g. ``"cam0"``).
        image: (H, W, 3) uint8 RGB.
        stamp_ns: acquisition time, integer nanoseconds (ROS time).
        frame_id: the camera's optical frame (z forward).
        K: (3, 3) float64 intrinsics when known (CameraInfo), else None.
        distortion: the lens distortion of ``image`` (then raw, K its raw intrinsics), or None
            for an ideal pinhole image. The pipeline undistorts such frames first
            (:class:`hamst3r_ros.geometry.distortion.Undistorter`) and works on the
            undistorted image and its K.
    """

    name: str
    image: np.ndarray
    stamp_ns: int
    frame_id: str
    K: Optional[np.ndarray] = None
    distortion: Optional[LensDistortion] = None


@dataclass
class FrameSet:
    """N time-synchronised camera frames: the pipeline's input.

    Attributes:
        frames: one CameraFrame per camera present in this set (a camera that dropped out
            is simply absent; names identify cameras across sets).
        stamp_ns: the set's reference time (the newest frame's stamp), nanoseconds.
        T_fixed_cam: optional known extrinsics, camera name -> (4, 4) float64 pose of the
            camera optical frame in the fixed frame (from TF or YAML). One known pose anchors
            the output in the fixed frame; two or more with distinct centres also fix the
            scale, and the output is then metric (one pose cannot tell the scale).
    """

    frames: list[CameraFrame]
    stamp_ns: int
    T_fixed_cam: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.frames]


@dataclass
class PairPrediction:
    """Network output for one ordered image pair (i, j), on the network's resolution.

    Both pointmaps are expressed in camera i's optical frame (as in DUSt3R/MASt3R), in the
    network's (unknown, roughly metric) scale. All arrays are float32 numpy or torch tensors
    of the listed shapes; H, W are the network input sizes of each image (they may differ).

    Attributes:
        i, j: indices into the FrameSet's frames.
        pts_i: (H_i, W_i, 3) points of image i in frame i.
        pts_j: (H_j, W_j, 3) points of image j in frame i.
        conf_i, conf_j: (H, W) confidences (>= 1, MASt3R's 1 + exp(x)).
        desc_i, desc_j: (H, W, D) L2-normalised local descriptors, or None.
        desc_conf_i, desc_conf_j: (H, W) descriptor confidences, or None.
        inst_i, inst_j: (Q, H, W) per-query instance mask probabilities in [0, 1] whose
            query index is shared by both views (same person = same query), or None.
        inst_score: (Q,) probability that each query is a person, or None.
        dp_i, dp_j: (H, W, 3) body-template coordinates (DensePose), or None.
        body_i, body_j: (H, W) body-mask probability, or None.
    """

    i: int
    j: int
    pts_i: np.ndarray
    pts_j: np.ndarray
    conf_i: np.ndarray
    conf_j: np.ndarray
    desc_i: Optional[np.ndarray] = None
    desc_j: Optional[np.ndarray] = None
    desc_conf_i: Optional[np.ndarray] = None
    desc_conf_j: Optional[np.ndarray] = None
    inst_i: Optional[np.ndarray] = None
    inst_j: Optional[np.ndarray] = None
    inst_score: Optional[np.ndarray] = None
    dp_i: Optional[np.ndarray] = None
    dp_j: Optional[np.ndarray] = None
    body_i: Optional[np.ndarray] = None
    body_j: Optional[np.ndarray] = None


class TrackState(IntEnum):
    """Life cycle of a person track (values are what HumanArray publishes)."""

    TENTATIVE = 0
    TRACKED = 1
    LOST = 2
    REMOVED = 3


@dataclass
class HumanEstimate:
    """One person in the fixed frame at the FrameSet's stamp.

    Attributes:
        track_id: id stable over time (unique while the track lives).
        state: TrackState.
        confidence: in [0, 1].
        joints: (24, 3) float64 joint positions in the fixed frame, metres, SMPL order; all
            NaN when the person has no plausible body fit (too large a fit residual, an
            implausible height): the person is then only at ``T_fixed_root``.
        joint_rotations: (24, 4) float64 global joint orientations, quaternions (x, y, z, w)
            (NaN with the joints).
        T_fixed_root: (4, 4) float64 root (pelvis) pose in the fixed frame; without a body,
            the centre of the person's points with the fixed frame's orientation.
        shape: (S,) float32 body-model shape parameters (model given by ``body_model``).
        pose: (P,) float32 body-model pose parameters, or empty.
        body_model: name of the body model the parameters belong to ("anny" or "smpl").
        velocity: (3,) float64 pelvis velocity in the fixed frame, m/s.
        residual: mean fit residual, metres.
        num_points: number of 3D points that supported the fit.
    """

    track_id: int
    state: TrackState
    confidence: float
    joints: np.ndarray
    joint_rotations: np.ndarray
    T_fixed_root: np.ndarray
    shape: np.ndarray
    pose: np.ndarray
    body_model: str
    velocity: np.ndarray
    residual: float
    num_points: int = 0


@dataclass
class SceneResult:
    """The pipeline's output for one FrameSet, everything in ``fixed_frame``.

    Attributes:
        stamp_ns: the FrameSet's stamp.
        camera_names: names of the cameras in this result, in order.
        T_fixed_cam: (N, 4, 4) float64 camera optical-frame poses in the fixed frame.
        K: (N, 3, 3) float64 intrinsics at each camera's *input* image resolution.
        metric: True when the scale is metric (>= 2 known camera poses with distinct
            centres); False when it is the network's own scale.
        points: (M, 3) float32 fused points, metres if ``metric``.
        colors: (M, 3) uint8 RGB.
        confidence: (M,) float32.
        instance: (M,) int32 person track id per point, 0 = background.
        body_coords: (M, 3) float32 body-template coordinates (NaN off bodies).
        humans: one HumanEstimate per person (removed tracks included once, so that
            consumers can delete them).
        timings_s: named stage timings of this set, seconds.
        rejected_people: reason -> person segments of this set rejected as no person (ghosts:
            ``hamst3r_ros.human.people.PeopleResult.rejected``).
        views_agree: (M,) uint8 other cameras whose depth agrees with each point, or None.
        rig_state: the camera rig's state after this set (``AlignmentResult.rig_state``).
        depth_refine: what the depth refinement from matches did ("corrected 3/4 views (1520
            matches used)"; ``DepthRefinement.summary``), "" when it is off.
    """

    stamp_ns: int
    camera_names: list[str]
    T_fixed_cam: np.ndarray
    K: np.ndarray
    metric: bool
    points: np.ndarray
    colors: np.ndarray
    confidence: np.ndarray
    instance: np.ndarray
    body_coords: np.ndarray
    humans: list[HumanEstimate] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    rejected_people: dict[str, int] = field(default_factory=dict)
    views_agree: Optional[np.ndarray] = None
    rig_state: str = ""
    depth_refine: str = ""
