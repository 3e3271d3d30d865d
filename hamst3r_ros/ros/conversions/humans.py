"""HumanEstimate lists -> the messages consumers read.

    humans_to_array    hamst3r_msgs/HumanArray (everything, ~/humans)
    humans_to_markers  visualization_msgs/MarkerArray: skeleton lines, joints, id label;
                       DELETE for REMOVED tracks (~/markers)
    humans_to_transforms  TF frames ``body_<id>`` at the pelvis (REP-155 / ROS4HRI)
    humans_to_ids      hri_msgs/IdsList of the bodies' ids (/humans/bodies/tracked)
    humans_to_people   people_msgs/People (Nav2 social costmap layers)

All poses are in the fixed frame (``frame_id``) at ``stamp_ns``; see hamst3r_ros.types.
"""
from __future__ import annotations

import colorsys
from typing import Iterable, Sequence

import numpy as np

from hamst3r_ros.types import SMPL_JOINT_NAMES, SMPL_PARENTS, HumanEstimate, TrackState

from .geometry import matrix_to_pose, matrix_to_transform_stamped, position_quaternion_to_pose
from .stamps import make_header

#: Marker namespaces in ~/markers, one marker per track id in each.
MARKER_NAMESPACES: tuple[str, ...] = ("skeleton", "joints", "label")
#: Track states that get a body TF frame, an IdsList entry (REP-155 lists bodies seen now).
VISIBLE_STATES: tuple[TrackState, ...] = (TrackState.TRACKED,)
#: Track states passed to Nav2 (a briefly occluded person is still there).
PEOPLE_STATES: tuple[TrackState, ...] = (TrackState.TRACKED, TrackState.LOST)

_N = len(SMPL_JOINT_NAMES)


def body_frame(track_id: int) -> str:
    """The TF frame of a body, ``body_<id>`` (REP-155)."""
    return f"body_{int(track_id)}"


def _check(h: HumanEstimate) -> None:
    for name, shape in (("joints", (_N, 3)), ("joint_rotations", (_N, 4)), ("T_fixed_root", (4, 4)),
                        ("velocity", (3,))):
        if np.shape(getattr(h, name)) != shape:
            raise ValueError(f"HumanEstimate {h.track_id}: {name} has shape {np.shape(getattr(h, name))}, "
                             f"expected {shape}")
    if not 0 <= int(h.track_id) < 2**31:
        raise ValueError(f"HumanEstimate track_id {h.track_id} is outside 0 .. 2^31-1")


def human_to_msg(h: HumanEstimate):
    """hamst3r_msgs/Human of one estimate."""
    from geometry_msgs.msg import Vector3
    from hamst3r_msgs.msg import Human

    _check(h)
    msg = Human()
    msg.id = int(h.track_id)
    msg.state = int(h.state)
    msg.confidence = float(h.confidence)
    msg.joint_names = list(SMPL_JOINT_NAMES)
    msg.joints = [position_quaternion_to_pose(p, q) for p, q in zip(h.joints, h.joint_rotations)]
    msg.root = matrix_to_pose(h.T_fixed_root)
    v = np.asarray(h.velocity, dtype=np.float64)
    msg.velocity = Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2]))
    msg.body_model = str(h.body_model)
    msg.shape = np.asarray(h.shape, dtype=np.float32).reshape(-1).tolist()
    msg.pose = np.asarray(h.pose, dtype=np.float32).reshape(-1).tolist()
    msg.residual = float(h.residual)
    msg.num_points = int(h.num_points)
    return msg


def humans_to_array(humans: Iterable[HumanEstimate], frame_id: str, stamp_ns: int):
    """hamst3r_msgs/HumanArray of all estimates (REMOVED ones included, once)."""
    from hamst3r_msgs.msg import HumanArray

    return HumanArray(header=make_header(frame_id, stamp_ns), humans=[human_to_msg(h) for h in humans])


def track_color(track_id: int, alpha: float = 1.0):
    """A stable, well-spread colour per track id (std_msgs/ColorRGBA)."""
    from std_msgs.msg import ColorRGBA

    hue = (int(track_id) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return ColorRGBA(r=float(r), g=float(g), b=float(b), a=float(alpha))


def humans_to_markers(humans: Iterable[HumanEstimate], frame_id: str, stamp_ns: int, lifetime_s: float = 0.0):
    """MarkerArray with, per track id, a skeleton (LINE_LIST), joints (SPHERE_LIST) and a label.

    REMOVED tracks get DELETE actions for their three markers; LOST ones are drawn faded.
    ``lifetime_s`` > 0 lets RViz drop markers of a node that stopped publishing.
    """
    from builtin_interfaces.msg import Duration
    from geometry_msgs.msg import Point, Vector3
    from visualization_msgs.msg import Marker, MarkerArray

    header = make_header(frame_id, stamp_ns)
    sec, nsec = divmod(int(round(lifetime_s * 1e9)), 1_000_000_000)
    lifetime = Duration(sec=sec, nanosec=nsec)
    out = MarkerArray()
    for h in humans:
        _check(h)
        tid = int(h.track_id)
        if h.state == TrackState.REMOVED:
            out.markers.extend(Marker(header=header, ns=ns, id=tid, action=Marker.DELETE) for ns in MARKER_NAMESPACES)
            continue
        # Tentative (not yet confirmed) people are drawn faint and thin, labelled "<id>?";
        # lost ones fainter still.
        tentative = h.state == TrackState.TENTATIVE
        color = track_color(tid, {TrackState.LOST: 0.35, TrackState.TENTATIVE: 0.5}.get(TrackState(h.state), 1.0))
        J = np.asarray(h.joints, dtype=np.float64)
        common = dict(header=header, id=tid, action=Marker.ADD, color=color, lifetime=lifetime)
        common["pose"] = matrix_to_pose(np.eye(4))
        text = f"{tid}?" if tentative else f"{tid}"
        if np.isfinite(J).all():
            pts = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in J]
            lines = [pts[k] for j, parent in enumerate(SMPL_PARENTS) if parent >= 0 for k in (parent, j)]
            out.markers.append(Marker(ns="skeleton", type=Marker.LINE_LIST, points=lines,
                                      scale=Vector3(x=0.015 if tentative else 0.03, y=0.0, z=0.0), **common))
            out.markers.append(Marker(ns="joints", type=Marker.SPHERE_LIST, points=pts,
                                      scale=Vector3(x=0.06, y=0.06, z=0.06), **common))
            # Label above the head along the body's own up direction (pelvis -> head), so it
            # reads right whatever way the fixed frame points.
            head, pelvis = J[SMPL_JOINT_NAMES.index("head")], J[0]
            up = head - pelvis
            up = up / np.linalg.norm(up) if np.linalg.norm(up) > 1e-6 else np.zeros(3)
            at = head + 0.3 * up
        else:
            # No plausible body: no skeleton (delete one drawn before), the label at the root.
            out.markers.extend(Marker(header=header, ns=ns, id=tid, action=Marker.DELETE)
                               for ns in ("skeleton", "joints"))
            at = np.asarray(h.T_fixed_root, np.float64)[:3, 3]
            text += " (no body)"
        label = common.copy()
        label["pose"] = position_quaternion_to_pose(at, (0.0, 0.0, 0.0, 1.0))
        out.markers.append(Marker(ns="label", type=Marker.TEXT_VIEW_FACING, text=text,
                                  scale=Vector3(x=0.0, y=0.0, z=0.2), **label))
    return out


def clear_markers(frame_id: str, stamp_ns: int = 0):
    """MarkerArray with one DELETEALL (sent at start-up: forget a previous run's markers)."""
    from visualization_msgs.msg import Marker, MarkerArray

    return MarkerArray(markers=[Marker(header=make_header(frame_id, stamp_ns), action=Marker.DELETEALL)])


def _in(h: HumanEstimate, states: Sequence[TrackState]) -> bool:
    return TrackState(h.state) in states


def humans_to_transforms(humans: Iterable[HumanEstimate], frame_id: str, stamp_ns: int,
                         states: Sequence[TrackState] = VISIBLE_STATES) -> list:
    """TransformStamped frame_id -> ``body_<id>`` (the root/pelvis pose) per track in ``states``."""
    out = []
    for h in humans:
        _check(h)
        if _in(h, states):
            out.append(matrix_to_transform_stamped(h.T_fixed_root, frame_id, body_frame(h.track_id), stamp_ns))
    return out


def humans_to_ids(humans: Iterable[HumanEstimate], frame_id: str, stamp_ns: int,
                  states: Sequence[TrackState] = VISIBLE_STATES):
    """hri_msgs/IdsList of the body ids (decimal track ids, as in ``body_<id>``)."""
    from hri_msgs.msg import IdsList

    return IdsList(header=make_header(frame_id, stamp_ns),
                   ids=[str(int(h.track_id)) for h in humans if _in(h, states)])


def humans_to_people(humans: Iterable[HumanEstimate], frame_id: str, stamp_ns: int,
                     states: Sequence[TrackState] = PEOPLE_STATES):
    """people_msgs/People: name = track id, pelvis position, velocity (m/s), reliability =
    confidence (halved for LOST tracks), and a "state" tag."""
    from geometry_msgs.msg import Point
    from people_msgs.msg import People, Person

    people = []
    for h in humans:
        _check(h)
        if not _in(h, states):
            continue
        p = np.asarray(h.T_fixed_root, dtype=np.float64)[:3, 3]
        v = np.asarray(h.velocity, dtype=np.float64)
        rel = float(h.confidence) * (0.5 if h.state == TrackState.LOST else 1.0)
        people.append(Person(name=str(int(h.track_id)),
                             position=Point(x=float(p[0]), y=float(p[1]), z=float(p[2])),
                             velocity=Point(x=float(v[0]), y=float(v[1]), z=float(v[2])),
                             reliability=rel, tagnames=["state"], tags=[TrackState(h.state).name.lower()]))
    return People(header=make_header(frame_id, stamp_ns), people=people)


__all__ = [
    "MARKER_NAMESPACES", "VISIBLE_STATES", "PEOPLE_STATES", "body_frame", "human_to_msg", "humans_to_array",
    "track_color", "humans_to_markers", "clear_markers", "humans_to_transforms", "humans_to_ids",
    "humans_to_people",
]
