"""People of one frame set, end to end: ids -> DensePose -> 3D points -> tracking -> body fit.

``PeopleEstimator.update`` is what the pipeline calls once per frame set with the pair
predictions and the fused geometry (per-image 3D points in the fixed frame). Order:

1. cross-view ids from instance masks (``identities``), checked in 3D (``consistency_3d``:
   pixels off the person's body become background, fragments
   of one body merge, implausible segments are rejected as ghosts and counted) and completed
   in 3D: persons that 2D overlap could not link but whose points coincide are merged
   (``merge_in_3d``);
2. per-image DensePose aggregated over pairs, per-person points (``densepose``);
3. a look-ahead association (``PersonTracker.peek``) on each person's robust centre
   (median of its points) and, when images are given, a colour-histogram appearance, to
   pick each person's warm start (that track's previous solution);
4. batched body fit (``body_fit``), warm where the track had a fit; then the real tracker
   update with position, appearance *and fitted body shape* (``tracking``);
5. one ``HumanEstimate`` per reported track (LOST tracks repeat their last fit, REMOVED
   ones are reported once so consumers can delete them); velocity = smoothed finite
   difference of the fitted pelvis, m/s, fixed frame.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Mapping, Optional, Sequence

import numpy as np

from hamst3r_ros.geometry.sim3 import matrix_to_quaternion
from hamst3r_ros.human.body_fit import BodyFit, BodyFitter, FitState
from hamst3r_ros.human.heading import heading_turn, turn_body
from hamst3r_ros.human.consistency_3d import BodyRules, implausible_reason, keep_body_points, merge_overlapping
from hamst3r_ros.human.densepose import DensePoseMap, PersonPoints, aggregate_densepose, person_points
from hamst3r_ros.human.free_space import free_space_votes, view_rays
from hamst3r_ros.human.identities import CrossViewIdentities, unify_instance_ids
from hamst3r_ros.human.ray_triangulation import RayRules, ground_covariances, triangulate_people
from hamst3r_ros.human.tracking import Detection, PersonTracker, smooth_velocity
from hamst3r_ros.types import HumanEstimate, PairPrediction, TrackState


@dataclass
class PeopleConfig:
    """Thresholds of the per-frame-set stages (see the modules for meanings).

    Attributes:
        score_threshold, mask_threshold, iou_threshold: cross-view id unification.
        body_threshold: minimum body-mask probability of a fitted point.
        max_points: points per person handed to the fit.
        min_points: fewer points: the person is tracked but not fitted this time.
        merge_distance: a frame-set person whose points lie within this distance (median,
            metres) of another person's points, where no pair saw both side by side, is the
            same person (see ``merge_in_3d``).
        merge_radius: two frame-set persons that appear in no common image and whose
            centres (median point) are within this distance, metres, are one person seen
            by different cameras (see ``merge_in_3d``). 0 turns the rule off.
        min_pair_agreement: a person must be segmented by at least this fraction of the
            decoded pairs that contain an image they appear in (0 = keep everyone). Every
            such pair sees them, so a real person is found by most; the inconsistent ghosts
            of a weak network (walls, floor patches) by a few. Dropped people are background.
        fit_after_sets: a person gets a body fit once their track has been seen in this many
            earlier frame sets (0 = at first sight). Spurious detections that last one frame
            set then cost no cold fit: with the embedded model they were most of the people
            stage's time. The price is that a newcomer is published one frame set later,
            unless the frame set itself is enough evidence (``first_sight_images``).
        first_sight_images: a newcomer segmented in at least this many images is fitted (and
            published) at first sight: views agreeing now are evidence enough, while a ghost
            rarely convinces more than two images (0 = never).
        fit_every: body fits run on every this-many-th frame set (1 = every set), for all
            due tracks together. A fit's cost is its optimiser steps, nearly the same for one
            person as for a batch, so staggering tracks over sets would save nothing. In
            between, a track's published body is its last fit moved by the shift of its
            points' centre since then (pose held; ``num_points`` 0 says it was not refitted).
            On a 2-core CPU the fits are most of the people stage (``bench/bench_pipeline.py``).
        body_rules: the 3D consistency rules (``consistency_3d``); their ``up`` is replaced
            by the one ``update`` is given. None turns them off.
        max_fit_residual: a body fit whose residual (median distance of its points to their
            vertices, metres) exceeds this is not published as a body: the person is, at the
            centre of their points, without joints (NaN; see ``HumanEstimate``).
        body_height_range: the same for a fitted skeleton whose height
            (``skeleton.skeleton_height``, metres) falls outside this range: no 0.9 m
            skeletons for adults the network half-segmented.
        min_plausible_fits: a track is published (and its pixels labelled) only while at
            least this fraction of its body fits, and at least one, were plausible bodies
            (``max_fit_residual``, ``body_height_range``); through an occasional implausible
            fit it stays published, without joints. What rarely or never fits a body (a wall
            patch or a shelf that the network keeps segmenting, frame set after frame set:
            with the embedded model, posed, one wall patch fitted 1 plausible body in 10) is
            counted as rejected ('no_body'). 0 publishes every fitted track. A quarter, not a
            half: a real person walking fast fitted plausibly about every other frame set in
            the demo, and 0.5 hid them half the time (eval-system posed: recall 0.90 at 0.5,
            0.93 at 0.25; ghosts per set 1.08 and 1.14).
        free_space_ratio: with known cameras, a person is rejected ('free_space') when at
            least two cameras, and more than see them, see the place where they would stand
            (or past it) and label no one there (``free_space``: depth there at least the
            place's distance / this ratio; nearer is an occluder). 0 = off.
        ray_rules: with known cameras (``update``'s ``camera_centres``), person segments are
            grouped by where their cameras' rays cross and moved there along their rays
            (``ray_triangulation``). None turns it off.
        walk_heading_speed: a published body that faces more than 90 degrees away from where
            its person walks, at this speed (m/s, horizontal, of the fitted pelvis) or faster,
            is turned about the vertical through its pelvis to face that way (``heading``).
            0 = off. The embedded model's DensePose gets people front-to-back: posed, seeds
            3000-3005, 58% of its bodies faced more than 90 degrees wrong, 13% after the turn
            (median error 104 -> 28 degrees, W-MPJPE about 400 -> 324 mm); turning every
            walker to its walking direction did no better (9%, 27 degrees, 319 mm) and would
            override the few degrees an accurate fit gets. 0.5 m/s: people walk at 0.8-1.4,
            the tracked velocity is good to about 0.1.
    """

    score_threshold: float = 0.5
    mask_threshold: float = 0.5
    iou_threshold: float = 0.3
    body_threshold: float = 0.5
    max_points: int = 3000
    min_points: int = 50
    merge_distance: float = 0.15
    merge_radius: float = 0.6
    min_pair_agreement: float = 0.5
    fit_after_sets: int = 1
    first_sight_images: int = 3
    fit_every: int = 1
    body_rules: Optional[BodyRules] = field(default_factory=BodyRules)
    max_fit_residual: float = 0.3
    body_height_range: tuple[float, float] = (1.0, 2.4)
    min_plausible_fits: float = 0.25
    free_space_ratio: float = 1.3
    ray_rules: Optional[RayRules] = field(default_factory=RayRules)
    walk_heading_speed: float = 0.5


@dataclass
class PeopleResult:
    """Output of one update.

    Attributes:
        humans: one HumanEstimate per reported track.
        labels: image index -> (H, W) int32 *track id* per pixel, 0 = background.
        identities: the frame set's cross-view ids (before tracking).
        person_to_track: frame-set person id -> track id.
        fits: track id -> BodyFit of this frame set (empty on sets between fits, see
            ``PeopleConfig.fit_every``).
        rejected: reason -> number of frame-set persons rejected as no person ('few_points',
            'pair_agreement', 'not_one_body', 'too_small', 'too_large', 'too_wide', 'flat',
            'single_view', 'free_space'; 'no_body': a track seen now whose fits were rarely plausible bodies,
            ``PeopleConfig.min_plausible_fits``; 'track_outlier': a detection the tracker took for
            the outlier of a confirmed person it missed, ``TrackerConfig.outlier_sigmas``).
        densepose: image index -> DensePoseMap aggregated over pairs (reused by the fusion).
        timings_s: stage timings, seconds.
        moved_points: image index -> (H, W, 3) points of the images whose person segments
            were moved along their rays (``PeopleConfig.ray_rules``), fixed frame, metres:
            the cloud should show people where they were placed. Empty when none moved.
    """

    humans: list[HumanEstimate]
    labels: dict[int, np.ndarray]
    identities: CrossViewIdentities
    person_to_track: dict[int, int]
    fits: dict[int, BodyFit] = field(default_factory=dict)
    densepose: dict[int, DensePoseMap] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    moved_points: dict[int, np.ndarray] = field(default_factory=dict)


def colour_histogram(pixels: np.ndarray, bins: int = 4) -> np.ndarray:
    """(N, 3) uint8 RGB -> (bins^3,) L1-normalised colour histogram (an appearance vector)."""
    q = (np.asarray(pixels, np.int64) * bins) // 256
    h = np.bincount((q[:, 0] * bins + q[:, 1]) * bins + q[:, 2], minlength=bins**3).astype(np.float64)
    return h / max(h.sum(), 1.0)


def person_images(ids: CrossViewIdentities) -> dict[int, set[int]]:
    """Person id -> the images whose label map holds at least one of their pixels."""
    seen_in: dict[int, set[int]] = {}
    for k, lab in ids.labels.items():
        for pid in np.unique(lab):
            if pid > 0:
                seen_in.setdefault(int(pid), set()).add(k)
    return seen_in


def pair_agreement(pairs: Sequence[PairPrediction], ids: CrossViewIdentities,
                   seen_in: Optional[Mapping[int, set[int]]] = None) -> dict[int, float]:
    """Person id -> (pairs that segmented them) / (pairs containing an image they appear in).
    ``seen_in``: ``person_images(ids)`` when the caller has it already."""
    found: dict[int, set[int]] = {}
    for (pair_idx, _), pid in ids.assignment.items():
        found.setdefault(pid, set()).add(pair_idx)
    seen_in = person_images(ids) if seen_in is None else seen_in
    out = {}
    for pid in ids.person_ids:
        images = seen_in.get(pid, set())
        could = {q for q, p in enumerate(pairs) if p.i in images or p.j in images}
        # Only pairs that could count: a pair may segment someone whose pixels in its images
        # all went to another person when the labels were resolved (ratio above 1 before).
        out[pid] = len(found.get(pid, set()) & could) / len(could) if could else 0.0
    return out


def merge_in_3d(ids: CrossViewIdentities, people: Mapping[int, PersonPoints], merge_distance: float,
                merge_radius: float = 0.0) -> bool:
    """Join persons that 2D overlap could not link but that stand in the same place.

    2D unification links two pairs' masks only through an image both pairs contain; with a
    sparse pair graph (large rigs), or a sliver of a person (a foot and a head at image
    edges) whose ragged masks overlap too little, one person can end up with two ids. Two
    rules join them, both for persons whose medians are within 1 m:

    - *touching*: the smaller one's points lie on the other's (median nearest-point
      distance within ``merge_distance``) and no single pair segmented both (a pair's
      queries are distinct people);
    - *seen apart* (``merge_radius`` > 0): they appear in no common image and their
      medians are within ``merge_radius``. One image cannot show a person twice, so two
      persons of one image are distinct; persons of disjoint images have no 2D evidence
      between them, only 3D. Each camera sees one side of a body, and a network's depth
      error moves a fragment along that camera's rays, so one person's fragments from
      different cameras land apart: with the embedded model (depth AbsRel ~0.25) by
      0.5-0.6 m at 3 m, and a pair often segments such a person in one of its views only,
      with different queries in each. The pair rule is therefore not applied here.

    Edits ``ids`` in place (labels, assignment, scores, support; the surviving id is the
    smaller). Returns whether anything was merged.
    """
    pids = sorted(p for p in people if len(people[p]))
    if len(pids) < 2:
        return False
    from scipy.spatial import cKDTree

    centre = {p: np.median(people[p].points, axis=0) for p in pids}
    trees: dict[int, cKDTree] = {}

    def gap(p: int, q: int) -> float:
        """Median distance of the smaller person's points to the other's nearest points."""
        small, big = (p, q) if len(people[p]) <= len(people[q]) else (q, p)
        if big not in trees:
            trees[big] = cKDTree(people[big].points)
        return float(np.median(trees[big].query(people[small].points)[0]))

    pairs_of: dict[int, set[int]] = {}
    for (pair_idx, _), pid in ids.assignment.items():
        pairs_of.setdefault(pid, set()).add(pair_idx)
    images_of = person_images(ids)
    root = {p: p for p in pids}
    members = {p: {p} for p in pids}
    # Only people within a body's size of each other are candidates (cheap pre-filter).
    cands = sorted((float(np.linalg.norm(centre[p] - centre[q])), p, q)
                   for k, p in enumerate(pids) for q in pids[k + 1:])
    merged = False
    for d, p, q in cands:
        if d > 1.0:
            break
        rp, rq = root[p], root[q]
        if rp == rq:
            continue
        images_p = set().union(*(images_of.get(m, set()) for m in members[rp]))
        images_q = set().union(*(images_of.get(m, set()) for m in members[rq]))
        seen_apart = d <= merge_radius and not images_p & images_q
        if not seen_apart:  # then only the touching rule can join them
            if gap(p, q) > merge_distance:
                continue
            seen_p = set().union(*(pairs_of.get(m, set()) for m in members[rp]))
            seen_q = set().union(*(pairs_of.get(m, set()) for m in members[rq]))
            if seen_p & seen_q:
                continue
        keep, drop = min(rp, rq), max(rp, rq)
        members[keep] |= members.pop(drop)
        for m in members[keep]:
            root[m] = keep
        merged = True
    if not merged:
        return False
    lut = np.arange(max(ids.scores) + 1, dtype=np.int32)
    for p in pids:
        lut[p] = root[p]
    for k, lab in ids.labels.items():
        ids.labels[k] = lut[lab]
    ids.assignment = {key: int(lut[pid]) for key, pid in ids.assignment.items()}
    for keep, group in members.items():
        if len(group) > 1:
            ids.scores[keep] = float(np.mean([ids.scores[m] for m in group]))
            ids.support[keep] = sum(ids.support[m] for m in group)
            for m in group - {keep}:
                del ids.scores[m], ids.support[m]
    return True


class PeopleEstimator:
    """Holds the tracker and each track's last fit; call ``update`` once per frame set."""

    def __init__(self, fitter: BodyFitter, tracker: Optional[PersonTracker] = None,
                 config: Optional[PeopleConfig] = None):
        self.fitter = fitter
        self.tracker = tracker or PersonTracker()
        self.config = config or PeopleConfig()
        self._last_fit: dict[int, BodyFit] = {}
        # track id -> centre of its points (tracker's detection position) at its last fit
        self._fit_centre: dict[int, np.ndarray] = {}
        self._sets = 0  # frame sets processed (for fit_every)
        # track id -> (pelvis velocity m/s, pelvis position, stamp ns) of the fitted bodies
        self._motion: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}
        # track id -> whether its last fit is a plausible body (published with joints)
        self._plausible: dict[int, bool] = {}
        # track id -> (plausible fits, fits) (PeopleConfig.min_plausible_fits)
        self._fit_counts: dict[int, tuple[int, int]] = {}

    def _forget(self, track_id: int) -> None:
        """Drop a removed track's state."""
        self._last_fit.pop(track_id, None)
        self._motion.pop(track_id, None)
        self._fit_centre.pop(track_id, None)
        self._plausible.pop(track_id, None)
        self._fit_counts.pop(track_id, None)

    def _is_plausible(self, fit: BodyFit) -> bool:
        """Whether a fit is published as a body (``PeopleConfig.max_fit_residual``,
        ``body_height_range``)."""
        from hamst3r_ros.human.skeleton import skeleton_height

        cfg = self.config
        if not fit.residual <= cfg.max_fit_residual:
            return False
        lo, hi = cfg.body_height_range
        return lo <= skeleton_height(fit.joints) <= hi

    def update(
        self,
        pairs: Sequence[PairPrediction],
        points: Mapping[int, np.ndarray],
        stamp_ns: int,
        confidence: Optional[Mapping[int, np.ndarray]] = None,
        images: Optional[Mapping[int, np.ndarray]] = None,
        up: Optional[Sequence[float]] = (0.0, 0.0, 1.0),
        camera_centres: Optional[Mapping[int, np.ndarray]] = None,
        depth_error: Optional[Mapping[int, float]] = None,
    ) -> PeopleResult:
        """Estimate the people of one frame set.

        Args:
            pairs: the frame set's pair predictions (instance + DensePose outputs).
            points: image index -> (H, W, 3) fused points in the fixed frame, metres.
            stamp_ns: the frame set's stamp.
            confidence: optional image index -> (H, W) point confidence.
            images: optional image index -> (H, W, 3) uint8 RGB at the same resolution
                (appearance for tracking).
            up: the fixed frame's up direction (unit), or None when unknown. Sizes are read
                in the points' units as metres: the network's own scale is metric-trained
                (MASt3R-style), so the rules hold roughly without extrinsics too.
            camera_centres: image index -> (3,) camera centre in the fixed frame, metres,
                when the cameras' poses are known (extrinsics): people are then placed where
                their rays cross (``PeopleConfig.ray_rules``). Leave None for poses solved
                from the network.
            depth_error: image index -> relative depth error of the view (the alignment's
                residual), how far the rays may correct the network's depth there.
        """
        cfg = self.config
        t0 = time.perf_counter()
        ids = unify_instance_ids(pairs, cfg.score_threshold, cfg.mask_threshold, cfg.iou_threshold)
        moved: dict[int, np.ndarray] = {}
        if cfg.ray_rules is not None and camera_centres is not None and up is not None:
            given = points
            points = triangulate_people(ids, points, camera_centres, up, [(p.i, p.j) for p in pairs],
                                        cfg.ray_rules, depth_error).points
            moved = {k: v for k, v in points.items() if v is not given.get(k)}
        rules = None if cfg.body_rules is None else replace(cfg.body_rules, up=None if up is None else tuple(up))
        kept: dict[int, tuple[int, int]] = {}  # person -> (pixels in their body, pixels)
        if rules is not None:
            centres = keep_body_points(ids, points, rules, kept)
            groups = merge_overlapping(ids, points, centres, rules)
            if groups:
                for keep, group in groups.items():  # a merged person: its fragments together
                    kept[keep] = tuple(sum(kept.get(m, (0, 0))[i] for m in group) for i in (0, 1))
                keep_body_points(ids, points, rules)
        dp = aggregate_densepose(pairs)
        people = person_points(points, ids.labels, dp, confidence, cfg.body_threshold, cfg.max_points)
        if merge_in_3d(ids, people, cfg.merge_distance, cfg.merge_radius):
            people = person_points(points, ids.labels, dp, confidence, cfg.body_threshold, cfg.max_points)
        t1 = time.perf_counter()

        images_of = person_images(ids)
        agreement = pair_agreement(pairs, ids, images_of)
        rejected: dict[str, int] = {}
        pids = []
        rays = None  # per image, the directions and distances of its points (free_space)
        for p in ids.person_ids:
            n = len(people[p]) if p in people else 0
            if n < cfg.min_points:
                reason = "few_points"
            elif agreement.get(p, 0.0) < cfg.min_pair_agreement:
                reason = "pair_agreement"
            elif rules is not None:
                inside, total = kept.get(p, (1, 1))
                reason = implausible_reason(people[p].points, len(images_of.get(p, ())), rules, cfg.min_points,
                                            inside / total if total else 0.0)
            else:
                reason = None
            if reason is None and cfg.free_space_ratio > 0 and camera_centres is not None:
                if rays is None:
                    rays = {k: view_rays(points[k], camera_centres[k]) for k in ids.labels
                            if k in points and k in camera_centres}
                seen, unseen = free_space_votes(np.median(people[p].points, axis=0), p, ids.labels, rays,
                                                camera_centres, cfg.free_space_ratio)
                if unseen >= 2 and unseen > seen:
                    reason = "free_space"
            if reason is None:
                pids.append(p)
            else:
                rejected[reason] = rejected.get(reason, 0) + 1
        covariances: dict[int, np.ndarray] = {}
        if cfg.ray_rules is not None and camera_centres is not None and up is not None:
            # Where the rays pin a person down and where only one camera's depth places them.
            vertical = self.tracker.config.measurement_sigma**2 * np.outer(up, up) / float(np.dot(up, up))
            covariances = {p: c + vertical for p, c in ground_covariances(
                ids, points, camera_centres, up, cfg.ray_rules, depth_error).items()}
        dets = []
        for pid in pids:
            app = None
            if images is not None:
                pix = [images[k][lab == pid] for k, lab in ids.labels.items() if k in images]
                pix = [p for p in pix if len(p)]
                if pix:
                    app = colour_histogram(np.concatenate(pix))
            dets.append(Detection(np.median(people[pid].points, axis=0), appearance=app,
                                  confidence=ids.scores[pid], covariance=covariances.get(pid)))
        # Warm starts from the association the tracker would make on position/appearance;
        # the fitted body shapes then join the real association.
        peek = self.tracker.peek(dets, stamp_ns)
        t2 = time.perf_counter()
        warm: list[Optional[FitState]] = [
            self._last_fit[peek[k]].state if peek.get(k) in self._last_fit else None for k in range(len(pids))
        ]
        hits = {t.track_id: t.hits for t in self.tracker.tracks}
        fit_now = self._sets % max(cfg.fit_every, 1) == 0
        self._sets += 1
        due = [k for k in range(len(pids))
               if fit_now and (warm[k] is not None or hits.get(peek.get(k), 0) >= cfg.fit_after_sets
                               or 0 < cfg.first_sight_images <= len(images_of.get(pids[k], ())))]
        fits = self.fitter.fit([people[pids[k]] for k in due], [warm[k] for k in due]) if due else []
        fit_of = {f.person_id: f for f in fits}
        for k, pid in enumerate(pids):
            if pid in fit_of:
                dets[k].shape = fit_of[pid].state.shape
        t3 = time.perf_counter()
        tracks = self.tracker.update(dets, stamp_ns)
        person_to_track = {pids[t.detection_index]: t.track_id for t in tracks if t.detection_index is not None}
        outliers = len(pids) - len(person_to_track)  # taken for a missed person's outliers
        if outliers:
            rejected["track_outlier"] = rejected.get("track_outlier", 0) + outliers
        fit_by_track = {person_to_track[f.person_id]: f for f in fits if f.person_id in person_to_track}
        self._last_fit.update(fit_by_track)
        centre_of = {t.track_id: dets[t.detection_index].position for t in tracks if t.detection_index is not None}
        for tid, f in fit_by_track.items():
            self._fit_centre[tid] = centre_of[tid]
            self._plausible[tid] = self._is_plausible(f)
            good, total = self._fit_counts.get(tid, (0, 0))
            self._fit_counts[tid] = (good + int(self._plausible[tid]), total + 1)
        for tid, f in fit_by_track.items():
            # Velocity of the fitted pelvis: steadier than the tracker's (which follows the
            # centre of the *visible* points, and that moves as the visible side changes).
            pelvis = f.T_fixed_root[:3, 3].copy()
            if tid in self._motion:
                v_old, p_old, s_old = self._motion[tid]
                dt = (stamp_ns - s_old) * 1e-9
                if dt > 0:
                    v = smooth_velocity(v_old, p_old, pelvis, dt, self.tracker.config.velocity_smoothing,
                                        first=not np.any(v_old))
                    self._motion[tid] = (v, pelvis, stamp_ns)
            else:
                self._motion[tid] = (np.zeros(3), pelvis, stamp_ns)
        t4 = time.perf_counter()

        humans = []
        hidden: set[int] = set()
        for t in tracks:
            fit = self._last_fit.get(t.track_id)
            if fit is None:
                continue  # seen, but never with enough points to fit: nothing to publish yet
            if t.state == TrackState.TENTATIVE and t.detection_index is None:
                # Unconfirmed and not seen now: the tracker keeps it to confirm later, but
                # repeating it where it was is a phantom (eval-system posed: 1 ghost in 4 was
                # a tentative track shown again at its last position).
                continue
            good, total = self._fit_counts.get(t.track_id, (0, 0))
            if cfg.min_plausible_fits > 0 and (good == 0 or good < cfg.min_plausible_fits * total):
                if t.detection_index is not None:
                    rejected["no_body"] = rejected.get("no_body", 0) + 1
                hidden.add(t.track_id)
                if t.state == TrackState.REMOVED:
                    self._forget(t.track_id)
                continue
            # Seen but not refitted this set (fit_every): the last body follows its points.
            shift = (centre_of[t.track_id] - self._fit_centre[t.track_id]
                     if t.track_id in centre_of and t.track_id not in fit_by_track else np.zeros(3))
            T_root = fit.T_fixed_root.copy()
            T_root[:3, 3] += shift
            joints = fit.joints + shift
            rot_m = fit.joint_rotations
            if cfg.walk_heading_speed > 0 and up is not None:
                # a body facing away from where its person walks is turned to face it
                up_v = np.asarray(up, np.float64)
                turn = heading_turn(joints, self._motion[t.track_id][0], up_v, cfg.walk_heading_speed)
                if turn:
                    joints, T_root, rot_m = turn_body(joints, T_root, rot_m, up_v, turn)
            rotations = np.stack([matrix_to_quaternion(R) for R in rot_m])
            if not self._plausible.get(t.track_id, True):
                # No plausible body: the person is published where their points are, without joints.
                T_root = np.eye(4)
                T_root[:3, 3] = centre_of.get(t.track_id, self._fit_centre[t.track_id])
                joints = np.full_like(joints, np.nan)
                rotations = np.full_like(rotations, np.nan)
            humans.append(HumanEstimate(
                track_id=t.track_id, state=t.state, confidence=float(t.confidence),
                joints=joints, joint_rotations=rotations,
                T_fixed_root=T_root, shape=fit.state.shape.copy(), pose=fit.full_pose.copy(),
                body_model=self.fitter.body.name, velocity=self._motion[t.track_id][0].copy(), residual=fit.residual,
                num_points=fit.num_points if t.track_id in fit_by_track else 0,
            ))
            if t.state == TrackState.REMOVED:
                self._forget(t.track_id)
        labels = {}
        lut_size = max(ids.person_ids, default=0) + 1
        lut = np.zeros(lut_size, np.int32)
        for p, tid in person_to_track.items():
            lut[p] = 0 if tid in hidden else tid
        for k, lab in ids.labels.items():
            labels[k] = lut[lab]
        return PeopleResult(humans=humans, labels=labels, identities=ids, person_to_track=person_to_track,
                            fits=fit_by_track, densepose=dp, timings_s={"people_points": t1 - t0, "body_fit": t3 - t2,
                                                          "tracking": (t2 - t1) + (t4 - t3)},
                            rejected=rejected, moved_points=moved)
