"""Person tracking over frame sets: stable ids, velocity, track states with timeouts.

Each frame set gives detections (one per person found: a position in the fixed frame,
optionally body-shape parameters and an appearance vector). Tracks are matched to
detections by a Hungarian assignment on a cost that adds

- 3D distance (metres) between the detection and the track's position predicted at the
  detection time with its velocity (constant-velocity model),
- ``shape_weight`` x the L2 distance of shape parameters (a body's proportions do not change),
- ``appearance_weight`` x (1 - cosine similarity) of appearance vectors,

gated by a distance that grows with the time since the track was last seen, so that the gate
suits any frame-set rate: ``gate + max_speed * dt`` for a track without a velocity yet (at
2 Hz a walking person moves 0.6-0.7 m between sets), ``gate + max_speed_change * dt`` for one
with a velocity (its prediction already walks; up to 1 s, then ``max_speed`` again): a person
who left the view and comes back somewhere else within ``lost_timeout_s`` keeps the id.
A detection continues a track only when their
appearances agree (``min_similarity``; stricter, ``reid_min_similarity``, for a track missed
in the previous set): a newcomer stepping into the place of someone who just left gets a
new id.

States (``hamst3r_ros.types.TrackState``): a new track is TENTATIVE until it has been seen
in ``confirm_hits`` frame sets, then TRACKED; a TRACKED track that is not seen becomes LOST;
it is REMOVED after ``lost_timeout_s`` unseen (a tentative one after ``tentative_timeout_s``).
Removed tracks are reported once (so that consumers can delete them) and then forgotten.
Ids are never reused.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from hamst3r_ros.types import TrackState


def smooth_velocity(velocity: np.ndarray, position_before: np.ndarray, position: np.ndarray, dt_s: float,
                    weight: float, first: bool) -> np.ndarray:
    """Exponentially smoothed finite-difference velocity, m/s (fixed frame).

    Args:
        velocity: (3,) the previous smoothed velocity, m/s.
        position_before, position: (3,) positions ``dt_s`` seconds apart, metres.
        dt_s: seconds between the two positions (> 0).
        weight: weight of the new finite difference, (0, 1] (``TrackerConfig.velocity_smoothing``).
        first: there is no previous velocity yet: the finite difference as it is.

    Returns:
        (3,) ``weight * (position - position_before) / dt_s + (1 - weight) * velocity``.
    """
    v = (np.asarray(position) - np.asarray(position_before)) / dt_s
    return v if first else weight * v + (1 - weight) * np.asarray(velocity)


@dataclass
class Detection:
    """One person in one frame set.

    Attributes:
        position: (3,) where the person is in the fixed frame, metres: any point that moves
            with the body (``PeopleEstimator`` passes the median of the person's 3D points,
            not the fitted pelvis, which is not known before the match).
        shape: optional (S,) body-shape parameters.
        appearance: optional (D,) appearance descriptor (any scale; cosine similarity used).
        confidence: detection confidence in [0, 1].
    """

    position: np.ndarray
    shape: Optional[np.ndarray] = None
    appearance: Optional[np.ndarray] = None
    confidence: float = 1.0


@dataclass
class Track:
    """A person over time (the tracker's state; read it, do not edit it).

    Attributes:
        track_id: unique, never reused.
        state: TrackState.
        position: (3,) last estimated position, metres, fixed frame.
        velocity: (3,) smoothed velocity, m/s, fixed frame.
        shape, appearance: running means of the detections' (or None).
        hits: number of frame sets the track was matched in.
        last_seen_ns: stamp of the last match.
        detection_index: index of the detection matched in the last update, else None.
    """

    track_id: int
    state: TrackState
    position: np.ndarray
    velocity: np.ndarray
    shape: Optional[np.ndarray]
    appearance: Optional[np.ndarray]
    hits: int
    last_seen_ns: int
    detection_index: Optional[int] = None
    confidence: float = 1.0


@dataclass
class TrackerConfig:
    """Tracker parameters (metres, seconds).

    Attributes:
        gate: match distance allowed beyond the motion predicted with the track's velocity
            (detection noise: the centre of the visible points moves with the visible side).
        max_speed: how fast the gate grows with the time since the track was last seen, m/s,
            for a track without a velocity yet, and beyond the 1 s over which a velocity is
            extrapolated (walking ~1.5).
        max_speed_change: how fast it grows for a track with a velocity, within that 1 s
            (m/s: how much a walker's velocity changes, a turn or a stop). The prediction
            already carries the walking speed; a gate that grew at walking speed on top of it
            let a detection misplaced by a weak network's depth (1.2 m off, at 2 Hz) capture
            a person's track (eval-system posed, seed 3000).
        min_similarity: appearance cosine similarity a detection needs to continue any
            track (when both have appearances): someone else in another's place.
        reid_min_similarity: the same, stricter, for a track that was not seen in the
            previous frame set (re-identification after a miss).
        shape_weight: cost per unit of shape-parameter distance.
        appearance_weight: cost of fully dissimilar appearance (1 - cosine = 1).
        confirm_hits: matches needed to go from TENTATIVE to TRACKED.
        lost_timeout_s: unseen TRACKED/LOST track is REMOVED after this.
        tentative_timeout_s: unseen TENTATIVE track is REMOVED after this.
        velocity_smoothing: weight of the new finite-difference velocity (0..1].
    """

    gate: float = 0.4
    max_speed: float = 2.0
    max_speed_change: float = 1.0
    min_similarity: float = 0.3
    reid_min_similarity: float = 0.6
    shape_weight: float = 0.2
    appearance_weight: float = 0.5
    confirm_hits: int = 3
    lost_timeout_s: float = 5.0
    tentative_timeout_s: float = 0.5
    velocity_smoothing: float = 0.5

    def __post_init__(self):
        if (self.gate <= 0 or self.max_speed < 0 or self.max_speed_change < 0 or self.lost_timeout_s < 0
                or self.tentative_timeout_s < 0):
            raise ValueError(f"TrackerConfig: gate must be > 0 and speeds/timeouts >= 0, got {self}")
        if self.confirm_hits < 1 or not 0 < self.velocity_smoothing <= 1:
            raise ValueError(f"TrackerConfig: confirm_hits >= 1 and 0 < velocity_smoothing <= 1, got {self}")


@dataclass
class PersonTracker:
    """Keeps person tracks across frame sets. Call ``update`` once per frame set, in time order."""

    config: TrackerConfig = field(default_factory=TrackerConfig)
    tracks: list[Track] = field(default_factory=list)
    _next_id: int = 1
    _last_stamp_ns: Optional[int] = None

    def _cost(self, track: Track, det: Detection, stamp_ns: int) -> float:
        dt = max(0.0, (stamp_ns - track.last_seen_ns) * 1e-9)
        predicted = track.position + track.velocity * min(dt, 1.0)  # extrapolate at most 1 s
        dist = float(np.linalg.norm(np.asarray(det.position, np.float64) - predicted))
        # Longer since seen (a slower frame-set rate, or missed sets) -> the person may be
        # further from the prediction (changed pace, walked out and back in).
        cfg = self.config
        if track.hits >= 2:  # a velocity: within its 1 s horizon only a change of velocity
            grow = cfg.max_speed_change * min(dt, 1.0) + cfg.max_speed * max(dt - 1.0, 0.0)
        else:
            grow = cfg.max_speed * dt
        if dist > cfg.gate + grow:
            return np.inf
        cost = dist
        if track.shape is not None and det.shape is not None:
            cost += self.config.shape_weight * float(np.linalg.norm(np.asarray(det.shape) - track.shape))
        if track.appearance is not None and det.appearance is not None:
            a, b = np.asarray(det.appearance, np.float64), track.appearance
            cos = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
            missed = self._last_stamp_ns is not None and track.last_seen_ns < self._last_stamp_ns
            if cos < (self.config.reid_min_similarity if missed else self.config.min_similarity):
                return np.inf  # someone else where that person was
            cost += self.config.appearance_weight * (1.0 - cos)
        return cost

    def _match(self, live: list[Track], detections: Sequence[Detection], stamp_ns: int
               ) -> tuple[dict[int, int], list[int]]:
        """Hungarian association: id(track) -> detection index, and unmatched detections.
        Confirmed tracks first, so a tentative duplicate never steals a known person."""
        matches: dict[int, int] = {}
        remaining = list(range(len(detections)))
        for group in ([t for t in live if t.state != TrackState.TENTATIVE],
                      [t for t in live if t.state == TrackState.TENTATIVE]):
            if not group or not remaining:
                continue
            cost = np.array([[self._cost(t, detections[d], stamp_ns) for d in remaining] for t in group])
            finite = np.where(np.isfinite(cost), cost, 1e9)
            rows, cols = linear_sum_assignment(finite)
            used = set()
            for r, c in zip(rows, cols):
                if np.isfinite(cost[r, c]):
                    matches[id(group[r])] = remaining[c]
                    used.add(remaining[c])
            remaining = [d for d in remaining if d not in used]
        return matches, remaining

    def peek(self, detections: Sequence[Detection], stamp_ns: int) -> dict[int, int]:
        """The association ``update`` would make now, without changing anything.

        Returns:
            detection index -> track id for the detections that would join a live track.
            (Used to pick each person's warm start before fitting, so that the fitted body
            shape can then take part in the real ``update``.)
        """
        live = [t for t in self.tracks if t.state != TrackState.REMOVED]
        matches, _ = self._match(live, detections, stamp_ns)
        return {d: t.track_id for t in live for key, d in matches.items() if key == id(t)}

    def update(self, detections: Sequence[Detection], stamp_ns: int) -> list[Track]:
        """Associate this frame set's detections and advance every track.

        Args:
            detections: people found in this frame set.
            stamp_ns: the frame set's stamp, nanoseconds; must not go backwards.

        Returns:
            every track to report now: live ones (TENTATIVE, TRACKED, LOST) and those that
            became REMOVED in this update (reported once). ``track.detection_index`` says which
            detection each matched.
        """
        if self._last_stamp_ns is not None and stamp_ns < self._last_stamp_ns:
            raise ValueError(f"PersonTracker.update: stamp {stamp_ns} ns is older than the previous "
                             f"{self._last_stamp_ns} ns; frame sets must come in time order")
        cfg = self.config
        live = [t for t in self.tracks if t.state != TrackState.REMOVED]
        for t in live:
            t.detection_index = None
        matches, remaining = self._match(live, detections, stamp_ns)

        reported = []
        for t in live:
            if id(t) in matches:
                d = matches[id(t)]
                det = detections[d]
                pos = np.asarray(det.position, np.float64)
                dt = (stamp_ns - t.last_seen_ns) * 1e-9
                if dt > 0 and t.hits > 0:
                    t.velocity = smooth_velocity(t.velocity, t.position, pos, dt, cfg.velocity_smoothing,
                                                 first=t.hits == 1)
                t.position = pos
                t.hits += 1
                t.last_seen_ns = stamp_ns
                t.detection_index = d
                t.confidence = float(det.confidence)
                n = min(t.hits, 10)  # running mean over the last ~10 observations
                if det.shape is not None:
                    s = np.asarray(det.shape, np.float64)
                    t.shape = s if t.shape is None else t.shape + (s - t.shape) / n
                if det.appearance is not None:
                    a_ = np.asarray(det.appearance, np.float64)
                    t.appearance = a_ if t.appearance is None else t.appearance + (a_ - t.appearance) / n
                if t.state == TrackState.TENTATIVE and t.hits >= cfg.confirm_hits:
                    t.state = TrackState.TRACKED
                elif t.state == TrackState.LOST:
                    t.state = TrackState.TRACKED
            else:
                unseen = (stamp_ns - t.last_seen_ns) * 1e-9
                if t.state == TrackState.TENTATIVE:
                    if unseen > cfg.tentative_timeout_s:
                        t.state = TrackState.REMOVED
                elif unseen > cfg.lost_timeout_s:
                    t.state = TrackState.REMOVED
                else:
                    t.state = TrackState.LOST
            reported.append(t)

        for d in remaining:
            det = detections[d]
            t = Track(
                track_id=self._next_id, state=TrackState.TENTATIVE,
                position=np.asarray(det.position, np.float64).copy(), velocity=np.zeros(3),
                shape=None if det.shape is None else np.asarray(det.shape, np.float64).copy(),
                appearance=None if det.appearance is None else np.asarray(det.appearance, np.float64).copy(),
                hits=1, last_seen_ns=stamp_ns, detection_index=d, confidence=float(det.confidence),
            )
            if cfg.confirm_hits <= 1:
                t.state = TrackState.TRACKED
            self._next_id += 1
            self.tracks.append(t)
            reported.append(t)
        # Removed tracks are reported this once, then forgotten.
        self.tracks = [t for t in self.tracks if t.state != TrackState.REMOVED]
        self._last_stamp_ns = stamp_ns
        return reported
