"""DensePose aggregation over pairs, and per-person 3D points with body-template coordinates.

Every image appears in several pairs (both as first and as second view), and each pair
predicts DensePose for it. Per image we take the weighted average over those predictions
(paper, section 3.3), with weight = pointmap confidence x body-mask probability: the
network's confidence that the pixel is well predicted and that it lies on the body surface
(body mask excludes hair and loose clothing, which is what a naked-body fit needs).

Per person, the fused geometry supplies each pixel's 3D point in the fixed frame; pixels
labelled with that person (``identities``) and on the body become the fit's observations:
3D point + template coordinate + weight.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from hamst3r_ros.types import PairPrediction


@dataclass
class DensePoseMap:
    """Aggregated DensePose of one image (network resolution H x W).

    Attributes:
        coords: (H, W, 3) float32 template coordinates, NaN where no pair predicted any.
        weight: (H, W) float32 total weight that went into ``coords``.
        body: (H, W) float32 body-mask probability (confidence-weighted mean over pairs;
            1 where the network has no body head).
    """

    coords: np.ndarray
    weight: np.ndarray
    body: np.ndarray


@dataclass
class PersonPoints:
    """Observations of one person for the body fit.

    Attributes:
        person_id: the frame set's person id.
        points: (M, 3) float32 3D points in the fixed frame, metres.
        template_coords: (M, 3) float32 body-template coordinates (DensePose) of each point.
        weights: (M,) float32 non-negative observation weights.
    """

    person_id: int
    points: np.ndarray
    template_coords: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return int(self.points.shape[0])


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def body_coord_maps(dp: dict[int, DensePoseMap], n_images: int, body_threshold: float = 0.5) -> list:
    """Per image index 0..n_images-1: (H, W, 3) template coordinates where the aggregated
    body probability reaches ``body_threshold``, NaN elsewhere; None for images without any."""
    out = []
    for v in range(n_images):
        m = dp.get(v)
        out.append(None if m is None else np.where((m.body >= body_threshold)[..., None], m.coords, np.nan)
                   .astype(np.float32))
    return out


def aggregate_densepose(pairs: Sequence[PairPrediction]) -> dict[int, DensePoseMap]:
    """Per image, the confidence-weighted mean DensePose over all pairs containing it.

    Args:
        pairs: pair predictions; those without ``dp_i``/``dp_j`` are skipped.

    Returns:
        image index -> DensePoseMap.
    """
    acc: dict[int, list[np.ndarray]] = {}
    for pair in pairs:
        if pair.dp_i is None or pair.dp_j is None:
            continue
        views = ((pair.i, pair.dp_i, pair.conf_i, pair.body_i),
                 (pair.j, pair.dp_j, pair.conf_j, pair.body_j))
        for img, dp, conf, body in views:
            dp, conf = _np(dp), _np(conf)
            if dp.ndim != 3 or dp.shape[-1] != 3 or conf.shape != dp.shape[:2]:
                raise ValueError(f"pair ({pair.i},{pair.j}) image {img}: DensePose must be (H, W, 3) "
                                 f"with confidence (H, W), got {dp.shape} and {conf.shape}")
            body = np.ones_like(conf) if body is None else _np(body)
            w = conf * body
            if img not in acc:
                acc[img] = [np.zeros_like(dp), np.zeros_like(conf), np.zeros_like(conf), np.zeros_like(conf)]
            elif acc[img][0].shape != dp.shape:
                raise ValueError(f"image {img}: DensePose of different sizes across pairs "
                                 f"({acc[img][0].shape} and {dp.shape})")
            a = acc[img]
            a[0] += w[..., None] * dp
            a[1] += w
            a[2] += conf * body
            a[3] += conf
    out = {}
    for img, (sum_dp, sum_w, sum_body, sum_conf) in acc.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            coords = np.where(sum_w[..., None] > 0, sum_dp / sum_w[..., None], np.nan).astype(np.float32)
            body = np.where(sum_conf > 0, sum_body / sum_conf, 0.0).astype(np.float32)
        out[img] = DensePoseMap(coords=coords, weight=sum_w, body=body)
    return out


def person_points(
    points: Mapping[int, np.ndarray],
    labels: Mapping[int, np.ndarray],
    densepose: Mapping[int, DensePoseMap],
    confidence: Optional[Mapping[int, np.ndarray]] = None,
    body_threshold: float = 0.5,
    max_points: Optional[int] = 3000,
    seed: int = 0,
) -> dict[int, PersonPoints]:
    """Gather each person's 3D points with their template coordinates over all images.

    Args:
        points: image index -> (H, W, 3) fused 3D points in the fixed frame, metres.
        labels: image index -> (H, W) int person ids (0 = background), from ``identities``.
        densepose: image index -> aggregated DensePoseMap.
        confidence: optional image index -> (H, W) fused-point confidence; multiplies the
            DensePose weight (so unreliable depth counts less).
        body_threshold: minimum body-mask probability for a pixel to be used.
        max_points: keep at most this many points per person (uniform random subset, fixed
            seed: the fit cost stays bounded whatever the resolution); None keeps all.
        seed: seed of that subset.

    Returns:
        person id -> PersonPoints (people with no usable pixel are absent).
    """
    chunks: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for img, lab in labels.items():
        if img not in points or img not in densepose:
            continue
        pts = _np(points[img])
        dp = densepose[img]
        if pts.shape[:2] != lab.shape or dp.coords.shape[:2] != lab.shape:
            raise ValueError(f"image {img}: points {pts.shape[:2]}, labels {lab.shape} and DensePose "
                             f"{dp.coords.shape[:2]} must have the same H x W")
        w = dp.weight.copy()
        if confidence is not None and img in confidence:
            w = w * _np(confidence[img])
        ok = ((lab > 0) & (dp.body >= body_threshold) & (w > 0)
              & np.isfinite(dp.coords).all(-1) & np.isfinite(pts).all(-1))
        for pid in np.unique(lab[ok]):
            sel = ok & (lab == pid)
            chunks.setdefault(int(pid), []).append((pts[sel], dp.coords[sel], w[sel]))
    rng = np.random.default_rng(seed)
    out = {}
    for pid, parts in sorted(chunks.items()):
        p = np.concatenate([c[0] for c in parts]).astype(np.float32)
        c = np.concatenate([c[1] for c in parts]).astype(np.float32)
        w = np.concatenate([c[2] for c in parts]).astype(np.float32)
        if max_points is not None and len(p) > max_points:
            keep = np.sort(rng.choice(len(p), size=max_points, replace=False))
            p, c, w = p[keep], c[keep], w[keep]
        out[pid] = PersonPoints(person_id=pid, points=p, template_coords=c, weights=w / max(w.max(), 1e-12))
    return out
