"""Human pose and tracking metrics, in metres (paper section 4, following HSfM's protocol).

Joint errors (all: mean Euclidean distance over people and joints):

- **W-MPJPE** (world): joints compared in the world frame as they are, after an optional
  given world alignment ``T`` (a 4x4 similarity mapping predicted world -> ground-truth
  world; identity when the prediction is already in the ground truth's frame, e.g. with
  known extrinsics). No per-person alignment: it measures placement, scale and pose.
- **GA-MPJPE** (group-aligned): one similarity transform (rotation, translation, scale;
  :func:`hamst3r_ros.geometry.sim3.umeyama`) fitted to *all* people's joints at once, then
  the error. It forgives a global frame/scale error but not errors in where people stand
  relative to each other.
- **PA-MPJPE** (Procrustes-aligned): one similarity transform *per person*, then the error.
  It measures body pose and proportions only.

Tracking: ground truth and predictions are matched per frame (Hungarian on pelvis distance,
gated). An **id switch** is a ground-truth person matched to a different predicted id than
the one it was last matched to; a **fragmentation** is a ground-truth trajectory whose
matching is interrupted (matched, then unmatched, then matched again) - as in CLEAR-MOT.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from hamst3r_ros.geometry.sim3 import umeyama


def _check(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if pred.ndim == 2:
        pred, gt = pred[None], gt[None]
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"expected (P, J, 3) predicted and ground-truth joints of equal shape, "
                         f"got {pred.shape} and {gt.shape}")
    return pred, gt


def w_mpjpe(pred: np.ndarray, gt: np.ndarray, T_gt_pred: Optional[np.ndarray] = None) -> float:
    """World MPJPE, metres. ``pred``, ``gt``: (P, J, 3) or (J, 3); ``T_gt_pred``: optional
    (4, 4) similarity applied to the prediction first."""
    pred, gt = _check(pred, gt)
    if T_gt_pred is not None:
        pred = pred @ T_gt_pred[:3, :3].T + T_gt_pred[:3, 3]
    return float(np.linalg.norm(pred - gt, axis=-1).mean())


def ga_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Group-aligned MPJPE, metres: one similarity over all people. (P, J, 3) inputs."""
    pred, gt = _check(pred, gt)
    aligned = umeyama(pred.reshape(-1, 3), gt.reshape(-1, 3)).apply(pred)
    return float(np.linalg.norm(aligned - gt, axis=-1).mean())


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Procrustes-aligned MPJPE, metres: one similarity per person. (P, J, 3) inputs."""
    pred, gt = _check(pred, gt)
    errs = []
    for p, g in zip(pred, gt):
        errs.append(np.linalg.norm(umeyama(p, g).apply(p) - g, axis=-1))
    return float(np.mean(errs))


def match_people(
    gt: Mapping[int, np.ndarray], pred: Mapping[int, np.ndarray], max_distance: float = 0.5
) -> dict[int, int]:
    """Match ground-truth to predicted people in one frame by position (Hungarian).

    Args:
        gt, pred: id -> (3,) position (e.g. pelvis) or (J, 3) joints (mean distance used).
        max_distance: pairs further apart than this (metres) are never matched.

    Returns:
        ground-truth id -> predicted id, for the matched people.
    """
    g_ids, p_ids = list(gt), list(pred)
    if not g_ids or not p_ids:
        return {}
    cost = np.array([[np.linalg.norm(np.asarray(gt[g]) - np.asarray(pred[p]), axis=-1).mean()
                      for p in p_ids] for g in g_ids])
    big = 1e6
    rows, cols = linear_sum_assignment(np.where(cost <= max_distance, cost, big))
    return {g_ids[r]: p_ids[c] for r, c in zip(rows, cols) if cost[r, c] <= max_distance}


@dataclass
class TrackingMetrics:
    """Identity metrics over a sequence.

    Attributes:
        id_switches: times a ground-truth person's matched predicted id changed.
        fragmentations: times a ground-truth trajectory's matching resumed after a gap.
        matched: number of (frame, ground-truth person) pairs that were matched.
        missed: number of (frame, ground-truth person) pairs left unmatched.
        false_positives: number of (frame, predicted person) pairs matched to nobody.
    """

    id_switches: int
    fragmentations: int
    matched: int
    missed: int
    false_positives: int


def tracking_metrics(
    gt_frames: Sequence[Mapping[int, np.ndarray]],
    pred_frames: Sequence[Mapping[int, np.ndarray]],
    max_distance: float = 0.5,
) -> TrackingMetrics:
    """Id switches and fragmentations over a sequence.

    Args:
        gt_frames, pred_frames: one mapping per frame, id -> (3,) position or (J, 3) joints.
        max_distance: matching gate, metres.
    """
    if len(gt_frames) != len(pred_frames):
        raise ValueError(f"tracking_metrics: {len(gt_frames)} ground-truth frames but "
                         f"{len(pred_frames)} predicted frames")
    last_pred: dict[int, int] = {}
    was_matched: dict[int, bool] = {}
    switches = frags = matched = missed = fps = 0
    for gt, pred in zip(gt_frames, pred_frames):
        m = match_people(gt, pred, max_distance)
        matched += len(m)
        missed += len(gt) - len(m)
        fps += len(pred) - len(m)
        for g in gt:
            if g in m:
                if g in last_pred and last_pred[g] != m[g]:
                    switches += 1
                if g in was_matched and not was_matched[g]:
                    frags += 1
                last_pred[g] = m[g]
                was_matched[g] = True
            elif g in was_matched:
                was_matched[g] = False
    return TrackingMetrics(switches, frags, matched, missed, fps)


@dataclass
class PeopleMetrics:
    """What a consumer of the published people sees over one or more sequences, against the
    truth: counts and sums, with the rates as properties (so that sequences pool by adding).

    Matching, per frame set: Hungarian on pelvis distance (joint 0), gated (metres).

    Attributes:
        sets: frame sets scored.
        true: (set, true person) pairs: people visible in at least one camera.
        published: (set, published person) pairs.
        matched: matched (set, true person) pairs.
        id_switches: times a true person was matched to another id than the last time.
        ids_per_person: for each true person matched at least once, the number of distinct
            published ids matched to them over their sequence.
        w_sum, pa_sum: sums over matched pairs with complete joints of W-MPJPE and
            PA-MPJPE (metres); ``joint_pairs`` is their count.
    """

    sets: int = 0
    true: int = 0
    published: int = 0
    matched: int = 0
    id_switches: int = 0
    ids_per_person: tuple[int, ...] = ()
    w_sum: float = 0.0
    pa_sum: float = 0.0
    joint_pairs: int = 0

    @property
    def recall(self) -> float:
        return self.matched / self.true if self.true else float("nan")

    @property
    def ghosts(self) -> int:
        """Published people matched to nobody, over all sets."""
        return self.published - self.matched

    @property
    def ghosts_per_set(self) -> float:
        return self.ghosts / self.sets if self.sets else float("nan")

    @property
    def published_per_set(self) -> float:
        return self.published / self.sets if self.sets else float("nan")

    @property
    def mean_ids_per_person(self) -> float:
        return float(np.mean(self.ids_per_person)) if self.ids_per_person else float("nan")

    @property
    def w_mpjpe(self) -> float:
        return self.w_sum / self.joint_pairs if self.joint_pairs else float("nan")

    @property
    def pa_mpjpe(self) -> float:
        return self.pa_sum / self.joint_pairs if self.joint_pairs else float("nan")

    def __add__(self, other: "PeopleMetrics") -> "PeopleMetrics":
        return PeopleMetrics(self.sets + other.sets, self.true + other.true, self.published + other.published,
                             self.matched + other.matched, self.id_switches + other.id_switches,
                             self.ids_per_person + other.ids_per_person, self.w_sum + other.w_sum,
                             self.pa_sum + other.pa_sum, self.joint_pairs + other.joint_pairs)


def people_metrics(gt_frames: Sequence[Mapping[int, np.ndarray]], pred_frames: Sequence[Mapping[int, np.ndarray]],
                   max_distance: float = 0.5) -> PeopleMetrics:
    """Score one sequence (see :class:`PeopleMetrics`).

    Args:
        gt_frames: per frame set, true person id -> (24, 3) joints (metres, SMPL order) of the
            people visible in at least one camera.
        pred_frames: per frame set, published id -> (24, 3) joints in the same frame; joint 0
            (the pelvis) must be finite, the others may be NaN (a person without a body).
        max_distance: pelvis matching gate, metres.
    """
    if len(gt_frames) != len(pred_frames):
        raise ValueError(f"people_metrics: {len(gt_frames)} ground-truth frame sets but {len(pred_frames)} predicted")
    out = PeopleMetrics(sets=len(gt_frames))
    last: dict[int, int] = {}
    ids: dict[int, set[int]] = {}
    for gt, pred in zip(gt_frames, pred_frames):
        m = match_people({g: np.asarray(j)[0] for g, j in gt.items()},
                         {p: np.asarray(j)[0] for p, j in pred.items()}, max_distance)
        out.true += len(gt)
        out.published += len(pred)
        out.matched += len(m)
        for g, p in m.items():
            if g in last and last[g] != p:
                out.id_switches += 1
            last[g] = p
            ids.setdefault(g, set()).add(p)
            P, G = np.asarray(pred[p], np.float64), np.asarray(gt[g], np.float64)
            if np.isfinite(P).all():
                out.w_sum += w_mpjpe(P, G)
                out.pa_sum += pa_mpjpe(P, G)
                out.joint_pairs += 1
    out.ids_per_person = tuple(len(s) for _, s in sorted(ids.items()))
    return out
