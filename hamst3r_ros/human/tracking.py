"""Person tracking over frame sets: stable ids, a Kalman-filtered velocity, track states.

Each frame set gives detections (one per person found: a position in the fixed frame with
its uncertainty, optionally body-shape parameters and an appearance vector). Every track is a
constant-velocity Kalman filter on position and velocity (fixed frame, metres and m/s): its
velocity follows the *consistent* motion of its detections, and a detection that is uncertain
along one direction (a person seen by one camera, whose depth along that camera's ray a weak
network gets wrong by 20-30%: ``Detection.covariance``) moves the track little along it. So
one misplaced detection neither drags the velocity (the exponential smoothing this replaces
took half of every finite difference: with the embedded model, posed, two detections
0.3-0.5 m off turned a walker's velocity 90 degrees and the next detection fell outside the
gate: a new id) nor is it wrongly trusted.

Tracks are matched to detections by a Hungarian assignment on a cost that adds

- 3D distance (metres) between the detection and the track's predicted position,
- ``shape_weight`` x the L2 distance of shape parameters (a body's proportions do not change),
- ``appearance_weight`` x (1 - cosine similarity) of appearance vectors,

gated by the Mahalanobis distance of the detection from the prediction under their summed
covariances (``gate_sigmas``). The prediction's uncertainty grows with the time since the
track was last seen, so the gate suits any frame-set rate and missed sets: by the
acceleration noise (``accel_sigma``) within the 1 s over which a velocity is extrapolated, by
walking speed (``max_speed``) beyond it and for a track seen once (no velocity yet): a person
who left the view and comes back somewhere else within ``lost_timeout_s`` keeps the id. A
detection continues a track only when their appearances agree (``min_similarity``;
stricter, ``reid_min_similarity``, for a track missed in the previous set): a newcomer
stepping into the place of someone who just left gets a new id.

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


def predict_state(mean: np.ndarray, cov: np.ndarray, dt_s: float, accel_sigma: float, max_speed: float,
                  gate_sigmas: float, horizon_s: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Constant-velocity prediction of a track's state ``dt_s`` seconds ahead.

    Args:
        mean: (6,) position (metres) then velocity (m/s), fixed frame.
        cov: (6, 6) its covariance.
        dt_s: seconds ahead (>= 0).
        accel_sigma: white-noise acceleration, m/s^2 per sqrt(s) (how fast a walker's
            velocity can change: a turn, a stop).
        max_speed: beyond ``horizon_s`` the velocity is not extrapolated; the person may have
            walked anywhere at up to this speed (m/s) and changed velocity completely.
        gate_sigmas: the gate in standard deviations, so that ``max_speed * dt`` lies on it.
        horizon_s: the velocity is extrapolated this long at most.

    Returns:
        the predicted (6,) mean and (6, 6) covariance.
    """
    tau = min(max(dt_s, 0.0), horizon_s)
    F = np.eye(6)
    F[:3, 3:] = tau * np.eye(3)
    q = accel_sigma**2
    Q = np.zeros((6, 6))
    Q[:3, :3] = q * tau**3 / 3 * np.eye(3)
    Q[:3, 3:] = Q[3:, :3] = q * tau**2 / 2 * np.eye(3)
    Q[3:, 3:] = q * tau * np.eye(3)
    mean = F @ mean
    cov = F @ cov @ F.T + Q
    beyond = dt_s - tau
    if beyond > 0:
        cov[:3, :3] += (max_speed * beyond / gate_sigmas) ** 2 * np.eye(3)
        cov[3:, 3:] += (max_speed / gate_sigmas) ** 2 * np.eye(3)
    return mean, cov


def update_state(mean: np.ndarray, cov: np.ndarray, z: np.ndarray, R: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Kalman update of a (6,) position-velocity state with a (3,) position measurement ``z``
    of covariance ``R`` (3, 3); returns the new mean and (symmetric) covariance."""
    S = cov[:3, :3] + R
    K = np.linalg.solve(S, cov[:3, :]).T  # (6, 3) = P H^T S^-1 (S symmetric)
    mean = mean + K @ (z - mean[:3])
    cov = cov - K @ cov[:3, :]
    return mean, (cov + cov.T) / 2


def mahalanobis(offset: np.ndarray, cov: np.ndarray) -> float:
    """sqrt(offset^T cov^-1 offset) for a (3,) offset and (3, 3) covariance."""
    return float(np.sqrt(max(float(offset @ np.linalg.solve(cov, offset)), 0.0)))


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
        covariance: optional (3, 3) uncertainty of ``position``, m^2 (for example long along
            the ray of the one camera that saw the person); None:
            ``TrackerConfig.measurement_sigma`` in every direction.
    """

    position: np.ndarray
    shape: Optional[np.ndarray] = None
    appearance: Optional[np.ndarray] = None
    confidence: float = 1.0
    covariance: Optional[np.ndarray] = None


@dataclass
class Track:
    """A person over time (the tracker's state; read it, do not edit it).

    Attributes:
        track_id: unique, never reused.
        state: TrackState.
        position: (3,) filtered position at ``last_seen_ns``, metres, fixed frame.
        velocity: (3,) filtered velocity, m/s, fixed frame (zero until seen twice).
        covariance: (6, 6) covariance of (position, velocity); with one hit only its
            position block means anything.
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
    covariance: np.ndarray = field(default_factory=lambda: np.eye(6))


@dataclass
class TrackerConfig:
    """Tracker parameters (metres, seconds).

    Attributes:
        measurement_sigma: uncertainty of a detection's position in every direction when it
            gives none (the centre of the visible points moves with the visible side of a
            body, ~0.1-0.2 m), metres.
        accel_sigma: how fast a walker's velocity changes (white-noise acceleration, m/s^2
            per sqrt(s): at 2 Hz about 0.7 m/s of velocity change, one sigma, between sets).
        gate_sigmas: a detection can continue a track only within this Mahalanobis distance
            of its prediction (3: 97% of a 3-D Gaussian).
        max_speed: walking speed, m/s: how far a track seen only once (no velocity yet), or
            unseen for longer than the 1 s over which a velocity is extrapolated, may have
            gone (it lies on the gate).
        robust_sigmas: a matched detection farther than this (Mahalanobis) from the
            prediction is trusted less: its innovation covariance is scaled by (distance /
            this), a Huber weight (0 = plain Kalman updates).
        outlier_sigmas: a detection that no track matched, within this Mahalanobis
            distance of a confirmed track that nothing matched (and like it in appearance,
            ``reid_min_similarity``), is taken for that person's outlier and dropped instead
            of starting a new track (<= ``gate_sigmas``: off). Detections are heavy-tailed:
            one a metre off, beyond the gate, made a walker a new id for a frame set.
        min_similarity: appearance cosine similarity a detection needs to continue any
            track (when both have appearances): someone else in another's place.
        reid_min_similarity: the same, stricter, for a track that was not seen in the
            previous frame set (re-identification after a miss).
        shape_weight: cost per unit of shape-parameter distance.
        appearance_weight: cost of fully dissimilar appearance (1 - cosine = 1).
        confirm_hits: matches needed to go from TENTATIVE to TRACKED.
        lost_timeout_s: unseen TRACKED/LOST track is REMOVED after this.
        tentative_timeout_s: unseen TENTATIVE track is REMOVED after this.
        velocity_smoothing: weight of the new finite difference in the *published body's*
            velocity (``PeopleEstimator``: the fitted pelvis, ``smooth_velocity``), (0..1].
    """

    measurement_sigma: float = 0.1
    accel_sigma: float = 0.5
    gate_sigmas: float = 4.0
    max_speed: float = 2.0
    robust_sigmas: float = 2.0
    outlier_sigmas: float = 6.0
    min_similarity: float = 0.3
    reid_min_similarity: float = 0.6
    shape_weight: float = 0.2
    appearance_weight: float = 0.5
    confirm_hits: int = 3
    lost_timeout_s: float = 5.0
    tentative_timeout_s: float = 0.5
    velocity_smoothing: float = 0.5

    def __post_init__(self):
        if (self.measurement_sigma <= 0 or self.gate_sigmas <= 0 or self.accel_sigma < 0 or self.max_speed < 0
                or self.lost_timeout_s < 0 or self.tentative_timeout_s < 0):
            raise ValueError(f"TrackerConfig: measurement_sigma and gate_sigmas must be > 0, speeds and "
                             f"timeouts >= 0, got {self}")
        if self.confirm_hits < 1 or not 0 < self.velocity_smoothing <= 1:
            raise ValueError(f"TrackerConfig: confirm_hits >= 1 and 0 < velocity_smoothing <= 1, got {self}")


@dataclass
class PersonTracker:
    """Keeps person tracks across frame sets. Call ``update`` once per frame set, in time order."""

    config: TrackerConfig = field(default_factory=TrackerConfig)
    tracks: list[Track] = field(default_factory=list)
    _next_id: int = 1
    _last_stamp_ns: Optional[int] = None

    def _measurement_cov(self, det: Detection) -> np.ndarray:
        if det.covariance is not None:
            return np.asarray(det.covariance, np.float64)
        return self.config.measurement_sigma**2 * np.eye(3)

    def _predicted(self, track: Track, stamp_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """(6,) mean and (6, 6) covariance of a track at ``stamp_ns``; a track seen once has
        no velocity: its position may have moved at up to ``max_speed``."""
        cfg = self.config
        dt = max(0.0, (stamp_ns - track.last_seen_ns) * 1e-9)
        mean = np.concatenate([track.position, track.velocity])
        if track.hits < 2:
            cov = track.covariance.copy()
            cov[:3, :3] += (cfg.max_speed * dt / cfg.gate_sigmas) ** 2 * np.eye(3)
            return mean, cov
        return predict_state(mean, track.covariance, dt, cfg.accel_sigma, cfg.max_speed, cfg.gate_sigmas)

    def _cost(self, track: Track, predicted: tuple[np.ndarray, np.ndarray], det: Detection) -> float:
        """Association cost of a detection for a track whose state at the detection's time is
        ``predicted`` ((6,) mean, (6, 6) covariance); inf outside the gate."""
        mean, cov = predicted
        offset = np.asarray(det.position, np.float64) - mean[:3]
        if mahalanobis(offset, cov[:3, :3] + self._measurement_cov(det)) > self.config.gate_sigmas:
            return np.inf
        cost = float(np.linalg.norm(offset))
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

    def _observe(self, track: Track, det: Detection, stamp_ns: int) -> None:
        """Filter a matched detection into the track's position and velocity."""
        z = np.asarray(det.position, np.float64)
        R = self._measurement_cov(det)
        dt = (stamp_ns - track.last_seen_ns) * 1e-9
        if track.hits >= 2:
            mean, cov = self._predicted(track, stamp_ns)
            S = cov[:3, :3] + R
            d = mahalanobis(z - mean[:3], S)
            k = self.config.robust_sigmas
            if k > 0 and d > k:
                # Heavy tails (eval-system posed, embedded model: detections a median 9 cm
                # from the person, but 20% beyond 35 cm): a surprising detection is trusted
                # less (a Huber weight: the innovation covariance grows to S d / k, so no
                # detection pulls the state by more than k of its sigmas), so one misplaced
                # segment does not turn the velocity.
                R = R + (d / k - 1.0) * S
            mean, cov = update_state(mean, cov, z, R)
        elif dt > 0:
            # Second sight: the two-point start (velocity = displacement / dt, exact for
            # noise-free walkers), its covariance from both positions' uncertainties.
            P1 = track.covariance[:3, :3]
            mean = np.concatenate([z, (z - track.position) / dt])
            cov = np.block([[R, R / dt], [R / dt, (P1 + R) / dt**2]])
        else:  # the same instant again: only the position is averaged
            mean, cov = update_state(np.concatenate([track.position, track.velocity]), track.covariance, z, R)
            track.position, track.covariance = mean[:3], cov
            return
        track.position, track.velocity, track.covariance = mean[:3], mean[3:], cov

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
            predicted = [self._predicted(t, stamp_ns) for t in group]  # once per track, not per pair
            cost = np.array([[self._cost(t, pr, detections[d]) for d in remaining] for t, pr in zip(group, predicted)])
            finite = np.where(np.isfinite(cost), cost, 1e9)
            rows, cols = linear_sum_assignment(finite)
            used = set()
            for r, c in zip(rows, cols):
                if np.isfinite(cost[r, c]):
                    matches[id(group[r])] = remaining[c]
                    used.add(remaining[c])
            remaining = [d for d in remaining if d not in used]
        return matches, remaining

    def _absorb_outliers(self, live: list[Track], matches: dict[int, int], remaining: list[int],
                         detections: Sequence[Detection], stamp_ns: int) -> list[int]:
        """Unmatched detections that lie within ``outlier_sigmas`` of a confirmed track that
        nothing matched are that person's outliers: neither a new person nor an update (the
        track goes LOST for this set). Returns the detections left to start tracks."""
        cfg = self.config
        if cfg.outlier_sigmas <= cfg.gate_sigmas:
            return remaining
        orphans = [t for t in live if t.state != TrackState.TENTATIVE and id(t) not in matches]
        left = []
        for d in remaining:
            det = detections[d]
            z, R = np.asarray(det.position, np.float64), self._measurement_cov(det)
            near = False
            for t in orphans:
                mean, cov = self._predicted(t, stamp_ns)
                if mahalanobis(z - mean[:3], cov[:3, :3] + R) > cfg.outlier_sigmas:
                    continue
                if t.appearance is not None and det.appearance is not None:
                    a = np.asarray(det.appearance, np.float64)
                    cos = float(a @ t.appearance / max(np.linalg.norm(a) * np.linalg.norm(t.appearance), 1e-12))
                    if cos < cfg.reid_min_similarity:
                        continue
                near = True
                break
            if not near:
                left.append(d)
        return left

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
                self._observe(t, det, stamp_ns)
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

        remaining = self._absorb_outliers(live, matches, remaining, detections, stamp_ns)
        for d in remaining:
            det = detections[d]
            t = Track(
                track_id=self._next_id, state=TrackState.TENTATIVE,
                position=np.asarray(det.position, np.float64).copy(), velocity=np.zeros(3),
                covariance=np.block([[self._measurement_cov(det), np.zeros((3, 3))], [np.zeros((3, 3)), np.eye(3)]]),
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
