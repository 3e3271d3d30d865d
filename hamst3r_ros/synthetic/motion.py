"""Procedural human motion through Anny's rig (no motion-capture data needed).

A person's motion is a pure function of time t (seconds): ``person_state(spec, t)`` gives
the pose parameters (103, 3) (see :mod:`hamst3r_ros.body.anny_model`: axis-angle per
bone, body-frame axes at rest: x forward, y left, z up) and ``T_fixed_body`` (the pelvis
frame in the REP-103 fixed frame, x = the direction the person faces). Pure functions of t
make every frame reproducible and randomly accessible, and velocities exact (central
differences of the analytic trajectory).

Motions (``PersonSpec.motion``):

- ``"walk"``: walks an ellipse around a centre at 0.8-1.4 m/s, heading along the path
  tangent (so it keeps turning); gait: hips flex +-0.45 rad about y, knees flex in swing,
  arms swing in counter-phase, the pelvis bobs 2 cm twice per stride (1.4 m).
- ``"pace"``: walks back and forth along a straight segment and turns 180 degrees in place
  at each end (1 s per turn, stepping lightly while turning).
- ``"stand"``: stands, slowly turning (+-0.6 rad yaw), looking around (neck yaw) and
  waving one arm (shoulder abduction ~1.3 rad, elbow flexion, oscillating forearm) in
  bursts.
- ``"sit"``: sits on a stool (hips flexed 1.5 rad, knees 1.5 rad), hands resting on the
  thighs, the head turning, one arm gesturing now and then.

Placement (scene.py): all people stay 1.1 m clear of the walls (furniture stands there)
and 1.5 m ahead of a robot rig's drive; standing and sitting people are placed > 0.8 m from every walker's path and
> 1.2 m from each other when the room allows. Walkers do not avoid each other: two paths
may cross, and bodies may then interpenetrate for a few frames.

Sign conventions in body axes (right-hand rule): a *negative* rotation about y swings a
thigh/upper arm forwards, a positive rotation about y bends a knee; a positive rotation
about x raises the left arm sideways, a negative one the right arm.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MOTIONS: tuple[str, ...] = ("walk", "pace", "stand", "sit")
STRIDE = 1.4  # metres per gait cycle (two steps)


@dataclass
class PersonSpec:
    """Everything that defines one synthetic person (seeded, immutable during a scene).

    Attributes:
        person_id: instance id (>= 1), stable over time.
        shape: (6,) phenotype (hamst3r_ros.body.PHENOTYPE_NAMES order).
        motion: one of MOTIONS.
        centre: (2,) xy metres: ellipse centre (walk), segment midpoint (pace), position
            (stand, sit).
        radii: (2,) ellipse half-axes (walk); (half length, 0) for pace.
        heading: radians: segment direction (pace), base facing (stand, sit).
        speed: m/s along the path (walk, pace); the ellipse direction's sign gives the sense.
        phase: radians, desynchronises people.
        pelvis_height: metres above the floor of the pelvis when standing (or sitting).
        wave_left: which arm gestures (stand, sit).
        vertex_colors: (V, 3) float32 RGB in [0, 1] (clothing/skin).
    """

    person_id: int
    shape: np.ndarray
    motion: str
    centre: np.ndarray
    radii: np.ndarray
    heading: float
    speed: float
    phase: float
    pelvis_height: float
    wave_left: bool
    vertex_colors: np.ndarray = field(repr=False, default=None)


class PoseBuilder:
    """Fills (103, 3) pose arrays by bone name."""

    def __init__(self, pose_bone_names: list[str]):
        self.index = {n: i for i, n in enumerate(pose_bone_names)}
        self.n = len(pose_bone_names)

    def zeros(self) -> np.ndarray:
        return np.zeros((self.n, 3), np.float64)

    def set(self, pose: np.ndarray, bone: str, rotvec) -> None:
        pose[self.index[bone]] = rotvec


def _yaw_pose(x: float, y: float, z: float, yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    T[:3, 3] = (x, y, z)
    return T


def _relaxed_arms(pb: PoseBuilder, pose: np.ndarray) -> None:
    # lower the arms from the A pose towards the sides
    pb.set(pose, "upperarm01.L", (-0.55, 0.0, 0.0))
    pb.set(pose, "upperarm01.R", (0.55, 0.0, 0.0))


def _gait(pb: PoseBuilder, pose: np.ndarray, g: float, amp: float = 1.0) -> float:
    """Walking limbs at gait phase g (radians); returns the pelvis bob (metres)."""
    s = np.sin(g)
    pb.set(pose, "upperleg01.L", (0.0, -0.45 * amp * s, 0.0))
    pb.set(pose, "upperleg01.R", (0.0, 0.45 * amp * s, 0.0))
    # knee flexes while its leg swings forward
    pb.set(pose, "lowerleg01.L", (0.0, amp * (0.1 + 0.6 * max(0.0, np.sin(g + 0.6))), 0.0))
    pb.set(pose, "lowerleg01.R", (0.0, amp * (0.1 + 0.6 * max(0.0, -np.sin(g + 0.6))), 0.0))
    pb.set(pose, "foot.L", (0.0, -0.15 * amp * s, 0.0))
    pb.set(pose, "foot.R", (0.0, 0.15 * amp * s, 0.0))
    pb.set(pose, "upperarm01.L", (-0.55, 0.25 * amp * s, 0.0))
    pb.set(pose, "upperarm01.R", (0.55, -0.25 * amp * s, 0.0))
    pb.set(pose, "lowerarm01.L", (0.0, -0.25 - 0.15 * amp * max(0.0, -s), 0.0))
    pb.set(pose, "lowerarm01.R", (0.0, -0.25 - 0.15 * amp * max(0.0, s), 0.0))
    pb.set(pose, "spine03", (0.0, 0.0, 0.08 * amp * s))
    return 0.02 * amp * np.cos(2 * g) - 0.02 * amp


def _wave(pb: PoseBuilder, pose: np.ndarray, t: float, left: bool, strength: float) -> None:
    """Raise one arm and wave the forearm; strength in [0, 1] blends it in and out."""
    side, sgn = (".L", 1.0) if left else (".R", -1.0)
    pb.set(pose, "upperarm01" + side, (sgn * (-0.55 + strength * 1.85), -0.3 * strength, 0.0))
    pb.set(pose, "lowerarm01" + side, (sgn * strength * 0.5 * np.sin(2 * np.pi * 1.5 * t), -strength * 1.2, 0.0))


def _burst(t: float, period: float, phase: float) -> float:
    """Smooth on/off envelope in [0, 1]: on for ~40 % of each period."""
    x = np.sin(2 * np.pi * t / period + phase)
    return float(np.clip((x - 0.2) * 2.5, 0.0, 1.0))


def person_state(spec: PersonSpec, t: float, pb: PoseBuilder) -> tuple[np.ndarray, np.ndarray]:
    """(pose (103, 3) float64, T_fixed_body (4, 4) float64) of ``spec`` at time ``t`` s."""
    pose = pb.zeros()
    cx, cy = spec.centre
    if spec.motion == "walk":
        a, b = spec.radii
        r = 0.5 * (a + b)
        theta = spec.phase + spec.speed * t / r
        x, y = cx + a * np.cos(theta), cy + b * np.sin(theta)
        dx, dy = -a * np.sin(theta) * np.sign(spec.speed), b * np.cos(theta) * np.sign(spec.speed)
        yaw = np.arctan2(dy, dx)
        bob = _gait(pb, pose, 2 * np.pi * abs(spec.speed) * t / STRIDE + spec.phase)
        return pose, _yaw_pose(x, y, spec.pelvis_height + bob, yaw)
    if spec.motion == "pace":
        half = spec.radii[0]
        turn_t = 1.0
        leg_t = 2 * half / spec.speed
        period = 2 * (leg_t + turn_t)
        tau = (t + spec.phase / (2 * np.pi) * period) % period
        d = np.array([np.cos(spec.heading), np.sin(spec.heading)])
        start = np.array([cx, cy]) - half * d
        if tau < leg_t:  # forwards
            p, yaw, amp = start + spec.speed * tau * d, spec.heading, 1.0
        elif tau < leg_t + turn_t:
            f = (tau - leg_t) / turn_t
            p, yaw, amp = start + 2 * half * d, spec.heading + np.pi * (3 * f**2 - 2 * f**3), 0.4
        elif tau < 2 * leg_t + turn_t:
            p, yaw, amp = start + 2 * half * d - spec.speed * (tau - leg_t - turn_t) * d, spec.heading + np.pi, 1.0
        else:
            f = (tau - 2 * leg_t - turn_t) / turn_t
            p, yaw, amp = start, spec.heading + np.pi + np.pi * (3 * f**2 - 2 * f**3), 0.4
        bob = _gait(pb, pose, 2 * np.pi * spec.speed * t / STRIDE, amp)
        return pose, _yaw_pose(p[0], p[1], spec.pelvis_height + bob, yaw)
    if spec.motion == "stand":
        _relaxed_arms(pb, pose)
        yaw = spec.heading + 0.6 * np.sin(0.25 * t + spec.phase)
        pb.set(pose, "neck01", (0.0, 0.0, 0.5 * np.sin(0.6 * t + 2 * spec.phase)))
        _wave(pb, pose, t, spec.wave_left, _burst(t, 6.0, spec.phase))
        return pose, _yaw_pose(cx, cy, spec.pelvis_height, yaw)
    if spec.motion == "sit":
        pose[:] = sitting_pose(pb)
        pb.set(pose, "neck01", (0.0, 0.0, 0.6 * np.sin(0.4 * t + spec.phase)))
        _wave(pb, pose, t, spec.wave_left, _burst(t, 8.0, spec.phase))
        return pose, _yaw_pose(cx, cy, spec.pelvis_height, spec.heading)
    raise ValueError(f"unknown motion {spec.motion!r}; expected one of {MOTIONS}")


def sitting_pose(pb: PoseBuilder) -> np.ndarray:
    """(103, 3) seated pose: thighs horizontal forwards, shanks vertical, hands on thighs."""
    pose = pb.zeros()
    for side in (".L", ".R"):
        pb.set(pose, "upperleg01" + side, (0.0, -1.5, 0.0))
        pb.set(pose, "lowerleg01" + side, (0.0, 1.5, 0.0))
    pb.set(pose, "upperarm01.L", (-0.6, -0.35, 0.0))
    pb.set(pose, "upperarm01.R", (0.6, -0.35, 0.0))
    pb.set(pose, "lowerarm01.L", (0.0, -0.9, 0.0))
    pb.set(pose, "lowerarm01.R", (0.0, -0.9, 0.0))
    return pose


def pelvis_velocity(spec: PersonSpec, t: float, pb: PoseBuilder, h: float = 1e-3) -> np.ndarray:
    """(3,) pelvis velocity in the fixed frame, m/s (central difference of the trajectory)."""
    p1 = person_state(spec, t + h, pb)[1][:3, 3]
    p0 = person_state(spec, t - h, pb)[1][:3, 3]
    return (p1 - p0) / (2 * h)
