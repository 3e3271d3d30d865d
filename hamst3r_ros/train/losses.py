"""Training losses of HAMSt3R (paper section 3, eq. 1), as pure functions on tensors.

    L = L_MASt3R + λ1 L_seg + λ2 L_dp + λ3 L_mask

- L_MASt3R: confidence-aware pointmap regression (DUSt3R/MASt3R) with MASt3R's log scaling,
  plus the InfoNCE matching loss on local descriptors.
- L_seg: Mask2Former-style set loss extended to two views: queries are matched to people
  jointly over both views of the pair (one Hungarian assignment whose mask cost sums both
  views), so a query that wins a person must segment that person in *both* images; class
  cross-entropy (person / no-object) + mask binary cross-entropy + dice.
- L_dp: L2 between predicted and true body-template coordinates on body pixels.
- L_mask: binary cross-entropy of the body mask (the template-covered region).

Shapes: B pairs, view 1 (H1, W1) and view 2 (H2, W2) may differ. Points are in view 1's
optical frame, in the ground truth's units (metres); both are normalised here, so scale
does not matter. Every loss returns a scalar tensor; a batch with nothing to supervise for
a term gives a zero that still carries a gradient path (so mixed batches work).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment


# --------------------------------------------------------------------------- pointmaps
def _avg_distance(pts: list[torch.Tensor], valid: list[torch.Tensor]) -> torch.Tensor:
    """Mean distance to the origin over the valid points of all views: (B,)."""
    total = sum((p.norm(dim=-1) * v).flatten(1).sum(1) for p, v in zip(pts, valid))
    count = sum(v.flatten(1).sum(1) for v in valid)
    return total / count.clamp(min=1)


def _log_scale(pts: torch.Tensor) -> torch.Tensor:
    """MASt3R's log scaling: keep the direction, compress the norm d -> log(1 + d)."""
    d = pts.norm(dim=-1, keepdim=True)
    return pts / d.clamp(min=1e-8) * torch.log1p(d)


def pointmap_regression_loss(
    pred: list[torch.Tensor],
    conf: list[torch.Tensor],
    gt: list[torch.Tensor],
    valid: list[torch.Tensor],
    alpha: float = 0.2,
    log_scale: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Confidence-aware 3D regression over the views of a pair.

    Args:
        pred: per view (B, H, W, 3) predicted points in view 1's frame.
        conf: per view (B, H, W) confidences (> 0; MASt3R's 1 + exp(x)).
        gt: per view (B, H, W, 3) true points in view 1's frame.
        valid: per view (B, H, W) bool, pixels with ground truth.
        alpha: weight of the -log(conf) regulariser.
        log_scale: apply MASt3R's log scaling after normalisation.

    Returns:
        (confidence-weighted loss, plain mean regression error) as scalars.
    """
    valid = [v.float() for v in valid]
    s_pred = _avg_distance(pred, valid).clamp(min=1e-8)[:, None, None, None]
    s_gt = _avg_distance(gt, valid).clamp(min=1e-8)[:, None, None, None]
    weighted, plain, count = 0.0, 0.0, 0.0
    for p, c, g, v in zip(pred, conf, gt, valid):
        p, g = p / s_pred, g / s_gt
        if log_scale:
            p, g = _log_scale(p), _log_scale(g)
        err = (p - g).norm(dim=-1)
        weighted = weighted + ((c * err - alpha * torch.log(c)) * v).sum()
        plain = plain + (err * v).sum()
        count = count + v.sum()
    count = count.clamp(min=1) if torch.is_tensor(count) else max(count, 1)
    return weighted / count, plain / count


def matching_infonce_loss(
    desc1: torch.Tensor,
    desc2: torch.Tensor,
    matches: list[torch.Tensor],
    temperature: float = 0.07,
) -> torch.Tensor:
    """InfoNCE on descriptor correspondences (MASt3R's matching loss), symmetric.

    Args:
        desc1: (B, H1, W1, D) L2-normalised descriptors of view 1.
        desc2: (B, H2, W2, D) of view 2.
        matches: per pair, (M, 2) long tensor of flat pixel indices (idx1, idx2) of true
            correspondences (pixels of both views that see the same 3D point). Each match's
            other matches act as its negatives.
        temperature: softmax temperature.
    """
    losses = []
    for b, m in enumerate(matches):
        if m.numel() == 0:
            continue
        d1 = desc1[b].reshape(-1, desc1.shape[-1])[m[:, 0]]
        d2 = desc2[b].reshape(-1, desc2.shape[-1])[m[:, 1]]
        logits = d1 @ d2.T / temperature
        target = torch.arange(len(m), device=logits.device)
        losses.append(0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)))
    if not losses:
        return desc1.sum() * 0.0
    return torch.stack(losses).mean()


# --------------------------------------------------------------------------- instances
def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice loss per row: logits and target (N, P) -> (N,)."""
    p = logits.sigmoid()
    num = 2 * (p * target).sum(-1)
    den = p.sum(-1) + target.sum(-1)
    return 1 - (num + 1) / (den + 1)


def _pair_cost(class_logits, mask_logits, gt_masks, w_class, w_bce, w_dice):
    """Hungarian cost (Q, K) of assigning each query to each person over both views."""
    prob = class_logits.softmax(-1)[:, 0]  # column 0 = person
    q, k = mask_logits.shape[0], gt_masks.shape[0]
    pos = F.binary_cross_entropy_with_logits(mask_logits, torch.ones_like(mask_logits), reduction="none")
    neg = F.binary_cross_entropy_with_logits(mask_logits, torch.zeros_like(mask_logits), reduction="none")
    n_pix = mask_logits.shape[1]
    bce = (pos @ gt_masks.T + neg @ (1 - gt_masks).T) / n_pix
    p = mask_logits.sigmoid()
    dice = 1 - (2 * p @ gt_masks.T + 1) / (p.sum(-1)[:, None] + gt_masks.sum(-1)[None, :] + 1)
    cost = -w_class * prob[:, None] + w_bce * bce + w_dice * dice
    assert cost.shape == (q, k)
    return cost


@dataclass
class InstanceLossWeights:
    """Mask2Former's defaults: class 2, mask BCE 5, dice 5, no-object class weight 0.1."""

    w_class: float = 2.0
    w_bce: float = 5.0
    w_dice: float = 5.0
    no_object: float = 0.1


def two_view_instance_loss(
    class_logits: torch.Tensor,
    mask_logits1: torch.Tensor,
    mask_logits2: torch.Tensor,
    gt_ids1: torch.Tensor,
    gt_ids2: torch.Tensor,
    weights: InstanceLossWeights = InstanceLossWeights(),
) -> tuple[torch.Tensor, list[tuple[np.ndarray, np.ndarray]]]:
    """Set loss for person instances with queries shared by the two views of a pair.

    Args:
        class_logits: (B, Q, 2) logits for (person, no-object) per query.
        mask_logits1: (B, Q, H1, W1) mask logits of each query in view 1.
        mask_logits2: (B, Q, H2, W2) in view 2.
        gt_ids1: (B, H1, W1) int person id per pixel of view 1 (0 = background); the same
            person has the same id in both views.
        gt_ids2: (B, H2, W2) likewise for view 2.

    Returns:
        (scalar loss, per pair the Hungarian assignment (query indices, person ids)).
    """
    b_sz, q = class_logits.shape[:2]
    total = class_logits.sum() * 0.0
    assignments = []
    class_w = torch.tensor([1.0, weights.no_object], device=class_logits.device)
    for b in range(b_sz):
        ids = torch.unique(torch.cat([gt_ids1[b].flatten(), gt_ids2[b].flatten()]))
        ids = ids[ids > 0]
        masks = torch.cat([mask_logits1[b].flatten(1), mask_logits2[b].flatten(1)], 1)
        target_cls = torch.ones(q, dtype=torch.long, device=class_logits.device)  # no-object
        if len(ids):
            gt = torch.cat([
                (gt_ids1[b].flatten()[None] == ids[:, None]).float(),
                (gt_ids2[b].flatten()[None] == ids[:, None]).float(),
            ], 1)
            with torch.no_grad():
                cost = _pair_cost(class_logits[b].float(), masks.float(), gt,
                                  weights.w_class, weights.w_bce, weights.w_dice)
            qi, ki = linear_sum_assignment(cost.cpu().numpy())
            qi_t = torch.as_tensor(qi, device=masks.device)
            ki_t = torch.as_tensor(ki, device=masks.device)
            target_cls[qi_t] = 0
            m, g = masks[qi_t], gt[ki_t]
            bce = F.binary_cross_entropy_with_logits(m, g, reduction="none").mean(-1)
            total = total + (weights.w_bce * bce + weights.w_dice * dice_loss(m, g)).sum() / max(len(ids), 1)
            assignments.append((qi, ids[ki_t].cpu().numpy()))
        else:
            assignments.append((np.zeros(0, np.int64), np.zeros(0, np.int64)))
        total = total + weights.w_class * F.cross_entropy(class_logits[b], target_cls, weight=class_w)
    return total / b_sz, assignments


# --------------------------------------------------------------------------- DensePose
def densepose_l2_loss(pred: torch.Tensor, gt: torch.Tensor, body: torch.Tensor) -> torch.Tensor:
    """L_dp: mean squared error of template coordinates on body pixels.

    pred, gt: (B, H, W, 3) template coordinates; body: (B, H, W) bool true body pixels.
    """
    body = body.float()
    se = ((pred - gt.nan_to_num(0.0)) ** 2).sum(-1)
    return (se * body).sum() / body.sum().clamp(min=1)


def body_mask_loss(logits: torch.Tensor, body: torch.Tensor, dice_weight: float = 0.0) -> torch.Tensor:
    """L_mask: binary cross-entropy of the body mask, plus ``dice_weight`` x dice per image.

    logits, body: (B, H, W). The paper uses cross-entropy alone (``dice_weight=0``). Bodies
    cover a few percent of a room camera's pixels, so per-pixel BCE is dominated by the
    background and its gradient is small; the dice term (as in Mask2Former's mask loss) is
    insensitive to that imbalance and is what a small model trained briefly needs.
    """
    loss = F.binary_cross_entropy_with_logits(logits, body.float())
    if dice_weight > 0:
        loss = loss + dice_weight * dice_loss(logits.flatten(1), body.float().flatten(1)).mean()
    return loss
