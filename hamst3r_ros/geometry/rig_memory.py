"""A static rig accumulates evidence: camera poses fused over frame sets, moves confirmed twice.

Every frame set's alignment measures each camera's pose anew, and with a young network that
measurement is noisy. A rig's cameras do not move between two frame sets, so each camera's
published pose is a running estimate over the sets (a robust running mean: measurements far
from the estimate get little weight), and a deviation is only believed when it persists:

- a measurement within ``rot_tol`` / ``trans_tol`` of the estimate is fused into it, with
  weight ``1 / min(fused + 1, window)`` (a running mean over the first ``window`` sets, an
  exponential one after);
- a measurement outside is *pending*; if the next set's measurement is outside too and agrees
  with the pending one (within the same tolerances), the camera **moved** (detected at the
  second set after the move): the caller re-localises it, the others keep their poses;
- a pending measurement that the next set does not confirm was noise, and is dropped;
- in a set where any camera deviates, no camera's measurement is fused: the cameras are
  solved together, so one camera's wrong start drags its neighbours' measurements too.

Poses are (4, 4) float64 ``T_fixed_cam``; translations in the rig's units (metres when the
output is metric, else the network's scale).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from hamst3r_ros.geometry.sim3 import project_to_rotation, rotation_angle_deg


@dataclass
class RigUpdate:
    """What one frame set's measurements did to the rig.

    Attributes:
        poses: camera name -> the running pose estimate after this set.
        fused: camera name -> measurements fused into it so far.
        pending: camera name -> a deviating measurement waiting for confirmation.
        moved: cameras whose move this set confirmed.
        deviating: cameras whose measurement deviated this set, not (yet) confirmed.
    """

    poses: dict[str, np.ndarray]
    fused: dict[str, int]
    pending: dict[str, np.ndarray] = field(default_factory=dict)
    moved: list[str] = field(default_factory=list)
    deviating: list[str] = field(default_factory=list)


def pose_gap(A: np.ndarray, B: np.ndarray) -> tuple[float, float]:
    """(rotation angle in degrees, centre distance) between two (4, 4) poses."""
    return (float(rotation_angle_deg(A[:3, :3].T @ B[:3, :3])),
            float(np.linalg.norm(A[:3, 3] - B[:3, 3])))


def blend_pose(A: np.ndarray, B: np.ndarray, w: float) -> np.ndarray:
    """(1 - w) A + w B on SE(3): translations linearly, rotations by the chordal mean
    (the weighted sum projected back onto a rotation)."""
    T = np.eye(4)
    T[:3, :3] = project_to_rotation((1 - w) * A[:3, :3] + w * B[:3, :3])
    T[:3, 3] = (1 - w) * A[:3, 3] + w * B[:3, 3]
    return T


def update_rig(poses: Mapping[str, np.ndarray], fused: Mapping[str, int], pending: Mapping[str, np.ndarray],
               measured: Mapping[str, np.ndarray], movable: Sequence[str], rot_tol: float, trans_tol: float,
               window: int) -> RigUpdate:
    """Fold one frame set's pose measurements into the rig (see the module docstring).

    Args:
        poses: camera name -> running estimate before this set.
        fused, pending: the rig's memory before this set.
        measured: camera name -> this set's measurement.
        movable: the cameras whose pose is estimated (not held by a prior or the gauge).
        rot_tol, trans_tol: degrees; translation in the rig's units.
        window: the running mean's length, frame sets.
    """
    out = RigUpdate(poses={k: np.array(v, np.float64) for k, v in poses.items()}, fused=dict(fused))
    agree = {nm for nm in movable
             if all(g <= tol for g, tol in zip(pose_gap(out.poses[nm], measured[nm]), (rot_tol, trans_tol)))}
    for nm in movable:
        T, M = out.poses[nm], np.asarray(measured[nm], np.float64)
        if nm in agree:
            if len(agree) == len(movable):  # an undisturbed set: evidence for everyone
                n = out.fused.get(nm, 1)
                out.poses[nm] = blend_pose(T, M, 1.0 / min(n + 1, window))
                out.fused[nm] = n + 1
            continue
        P = pending.get(nm)
        if P is not None:
            pr, pt = pose_gap(P, M)
            if pr <= rot_tol and pt <= trans_tol:
                out.moved.append(nm)
                out.poses[nm] = blend_pose(P, M, 0.5)
                out.fused[nm] = 2
                continue
        out.pending[nm] = M
        out.deviating.append(nm)
    return out
