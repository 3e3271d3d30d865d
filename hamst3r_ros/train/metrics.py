"""Held-out metrics of a pair prediction against synthetic ground truth (numpy, per pair).

Definitions follow the paper's protocols where it has one:
- depth: per view, predicted depth (z of the view's points in the view's own frame) is
  median-scaled to the ground truth, then AbsRel = mean |d - d*| / d* and the inlier ratio
  δ < τ (τ = 1.03) = fraction of pixels with max(d/d*, d*/d) < τ (multi-view depth protocol).
- instances: predicted person masks (queries scored as person above a threshold, pixels by
  argmax over queries) are matched to true people by Hungarian on IoU over *both* views;
  mean IoU over true people (unmatched people count 0). Cross-view ID consistency: of the
  people visible in both views, the fraction whose matched query is the same in both views
  when each view is matched on its own.
- pointmaps: both views' points (in view 1's frame) median-scaled to the ground truth,
  mean ||p - p*|| / ||p*||.
- DensePose: mean Euclidean error of template coordinates over true body pixels.
- body mask: IoU of (probability > 0.5) against the true body mask.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

if TYPE_CHECKING:  # the metrics themselves are numpy: torch only for the heads' record
    from hamst3r_ros.model.outputs import PairHeadOutputs

DEPTH_TAU = 1.03


@dataclass
class PairMetrics:
    """Metrics of one pair; NaN where the pair has nothing to measure (e.g. no people)."""

    depth_abs_rel: float = float("nan")
    depth_inlier: float = float("nan")
    pointmap_rel: float = float("nan")
    instance_iou: float = float("nan")
    id_consistency: float = float("nan")
    densepose_err: float = float("nan")
    body_iou: float = float("nan")


def depth_metrics(pred_depth: np.ndarray, gt_depth: np.ndarray, tau: float = DEPTH_TAU) -> tuple[float, float]:
    """(AbsRel, inlier ratio δ<τ) after median scaling, over pixels with gt > 0 and pred > 0."""
    valid = (gt_depth > 0) & np.isfinite(gt_depth) & (pred_depth > 0) & np.isfinite(pred_depth)
    if valid.sum() == 0:
        return float("nan"), float("nan")
    p, g = pred_depth[valid], gt_depth[valid]
    p = p * (np.median(g) / np.median(p))
    ratio = np.maximum(p / g, g / p)
    return float(np.mean(np.abs(p - g) / g)), float(np.mean(ratio < tau))


def _labels_from_queries(masks: np.ndarray, scores: np.ndarray, thresh: float) -> np.ndarray:
    """(Q, H, W) probabilities + (Q,) person scores -> (H, W) query label, -1 = background."""
    keep = scores > thresh
    if not keep.any():
        return np.full(masks.shape[1:], -1, np.int64)
    weighted = masks * scores[:, None, None]
    weighted[~keep] = 0
    lab = weighted.argmax(0)
    lab[weighted.max(0) < 0.5] = -1
    return lab


def _iou_matrix(pred_lab: list[np.ndarray], gt_ids: list[np.ndarray], queries: np.ndarray, people: np.ndarray):
    inter = np.zeros((len(queries), len(people)))
    area_p = np.zeros(len(queries))
    area_g = np.zeros(len(people))
    for pl, gi in zip(pred_lab, gt_ids):
        for a, q in enumerate(queries):
            pm = pl == q
            area_p[a] += pm.sum()
            for b, pid in enumerate(people):
                inter[a, b] += (pm & (gi == pid)).sum()
    for b, pid in enumerate(people):
        area_g[b] = sum((gi == pid).sum() for gi in gt_ids)
    union = area_p[:, None] + area_g[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def _match(iou: np.ndarray, queries: np.ndarray, people: np.ndarray) -> dict[int, int]:
    if iou.size == 0:
        return {}
    r, c = linear_sum_assignment(-iou)
    return {int(people[j]): int(queries[i]) for i, j in zip(r, c) if iou[i, j] > 0}


def instance_metrics(masks1, masks2, scores, gt_ids1, gt_ids2, thresh: float = 0.5) -> tuple[float, float]:
    """(mean IoU over people, cross-view id consistency) for one pair; see module doc."""
    people = np.setdiff1d(np.union1d(np.unique(gt_ids1), np.unique(gt_ids2)), [0])
    if len(people) == 0:
        return float("nan"), float("nan")
    lab1 = _labels_from_queries(masks1, scores, thresh)
    lab2 = _labels_from_queries(masks2, scores, thresh)
    queries = np.setdiff1d(np.union1d(np.unique(lab1), np.unique(lab2)), [-1])
    iou = _iou_matrix([lab1, lab2], [gt_ids1, gt_ids2], queries, people)
    joint = _match(iou, queries, people)
    mean_iou = float(np.mean([iou[list(queries).index(joint[p]), k] if p in joint else 0.0
                              for k, p in enumerate(people)]))
    both = [p for p in people if (gt_ids1 == p).any() and (gt_ids2 == p).any()]
    if not both:
        return mean_iou, float("nan")
    m1 = _match(_iou_matrix([lab1], [gt_ids1], queries, people), queries, people)
    m2 = _match(_iou_matrix([lab2], [gt_ids2], queries, people), queries, people)
    consistent = [p in m1 and p in m2 and m1[p] == m2[p] for p in both]
    return mean_iou, float(np.mean(consistent))


def densepose_error(pred: np.ndarray, gt: np.ndarray, body: np.ndarray) -> float:
    """Mean Euclidean template-coordinate error over true body pixels; pred, gt (H, W, 3)."""
    if body.sum() == 0:
        return float("nan")
    return float(np.linalg.norm(pred[body] - gt[body], axis=-1).mean())


def mask_iou(prob: np.ndarray, gt: np.ndarray) -> float:
    """IoU of prob > 0.5 against a boolean mask; NaN when both are empty."""
    p = prob > 0.5
    union = (p | gt).sum()
    return float("nan") if union == 0 else float((p & gt).sum() / union)


def mean_metrics(rows: list[PairMetrics]) -> PairMetrics:
    """NaN-aware mean of each metric over pairs."""
    out = PairMetrics()
    for f in fields(PairMetrics):
        vals = np.array([getattr(r, f.name) for r in rows], dtype=float)
        vals = vals[np.isfinite(vals)]
        setattr(out, f.name, float(vals.mean()) if len(vals) else float("nan"))
    return out


def pointmap_rel_error(pred: list[np.ndarray], gt: list[np.ndarray], valid: list[np.ndarray]) -> float:
    """Median-scaled relative 3D error over the valid pixels of all views ((H, W, 3) each)."""
    p = np.concatenate([a[v] for a, v in zip(pred, valid)])
    g = np.concatenate([a[v] for a, v in zip(gt, valid)])
    if len(g) == 0:
        return float("nan")
    gn = np.linalg.norm(g, axis=-1)
    p = p * (np.median(gn) / max(np.median(np.linalg.norm(p, axis=-1)), 1e-12))
    return float(np.mean(np.linalg.norm(p - g, axis=-1) / np.maximum(gn, 1e-9)))


def evaluate_batch(batch, heads: PairHeadOutputs) -> list[PairMetrics]:
    """Metrics of each pair of a :class:`hamst3r_ros.train.data.PairBatch` given the heads'
    outputs (as returned by the network's ``run_heads``)."""
    def np_(t):
        return t.detach().float().cpu().numpy()

    v1, v2 = heads.views
    pts1, pts2 = np_(v1.pts3d), np_(v2.pts3d)
    if heads.has_human:  # masks come at 1/mask_stride resolution: score them at full resolution
        import torch.nn.functional as F

        def full(t, like):
            return F.interpolate(t, size=tuple(like.shape[-2:]), mode="bilinear", align_corners=False)

        mask1, mask2 = full(v1.mask_logits, batch.inst1), full(v2.mask_logits, batch.inst2)
    rows = []
    for b in range(len(pts1)):
        m = PairMetrics()
        m.depth_abs_rel, m.depth_inlier = depth_metrics(pts1[b, ..., 2], np.nan_to_num(batch.depth1[b].numpy()))
        m.pointmap_rel = pointmap_rel_error([pts1[b], pts2[b]], [batch.pts1[b].numpy(), batch.pts2[b].numpy()],
                                            [batch.valid1[b].numpy(), batch.valid2[b].numpy()])
        if heads.has_human and bool(batch.human[b]):
            scores = np_(heads.class_logits[b].softmax(-1)[:, 0])
            m.instance_iou, m.id_consistency = instance_metrics(
                np_(mask1[b].sigmoid()), np_(mask2[b].sigmoid()), scores, batch.inst1[b].numpy(), batch.inst2[b].numpy())
            body = batch.body1[b].numpy()
            m.densepose_err = densepose_error(np_(v1.dp[b]), batch.dp1[b].numpy(), body)
            m.body_iou = mask_iou(np_(v1.body_logits[b].sigmoid()), body)
        rows.append(m)
    return rows
