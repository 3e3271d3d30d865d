"""Person identities across image pairs (paper, section 3.3, "Dealing with more than 2 views").

The network segments people per *pair*: query ``q`` of pair ``(i, j)`` is the same person in
images ``i`` and ``j``, but query numbers mean nothing across pairs. Two pairs that share an
image both segment that image, so their masks of the same person overlap there. We link
(pair, query) nodes whose hard masks in a shared image have an IoU above a threshold and
take connected components, greedily from the highest IoU down, refusing any link that would
put two queries of the same pair into one person (a pair's queries are distinct people by
construction). Each component is one person of the frame set.

Per image, the person label map is then the score-weighted average of the matching query
probabilities over all pairs that contain the image, arg-maxed and thresholded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from hamst3r_ros.types import PairPrediction


@dataclass
class CrossViewIdentities:
    """One id per person for a frame set.

    Attributes:
        assignment: (pair index in the input list, query index) -> person id (>= 1).
        labels: image index -> (H, W) int32 person id per pixel, 0 = background.
        scores: person id -> confidence in [0, 1] (mean person score of its queries).
        support: person id -> number of (pair, query) nodes merged into it.
    """

    assignment: dict[tuple[int, int], int] = field(default_factory=dict)
    labels: dict[int, np.ndarray] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)
    support: dict[int, int] = field(default_factory=dict)

    @property
    def person_ids(self) -> list[int]:
        return sorted(self.scores)


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _hard_masks(prob: np.ndarray, keep: np.ndarray, threshold: float) -> np.ndarray:
    """(Q, H, W) probabilities -> (Q, H, W) bool masks, one query per pixel (the most likely
    among the kept queries), only where that probability reaches ``threshold``."""
    masks = np.zeros(prob.shape, dtype=bool)
    if not keep.any():
        return masks
    kept = np.flatnonzero(keep)
    p = prob[kept]
    best = np.argmax(p, axis=0)
    best_p = np.take_along_axis(p, best[None], axis=0)[0]
    on = best_p >= threshold
    for slot, q in enumerate(kept):
        masks[q] = on & (best == slot)
    return masks


class _UnionFind:
    """Union-find whose components remember which pairs they contain (cannot-link rule)."""

    def __init__(self, pair_of: list[int]):
        self.parent = list(range(len(pair_of)))
        self.pairs = [{p} for p in pair_of]

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union_if_compatible(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if self.pairs[ra] & self.pairs[rb]:
            return False  # would merge two different queries of one pair
        if len(self.pairs[ra]) < len(self.pairs[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.pairs[ra] |= self.pairs[rb]
        return True


def unify_instance_ids(
    pairs: Sequence[PairPrediction],
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    iou_threshold: float = 0.3,
    min_pixels: int = 20,
) -> CrossViewIdentities:
    """Give every person one id across all pairs of a frame set.

    Args:
        pairs: pair predictions with ``inst_i``, ``inst_j`` (Q, H, W) and ``inst_score`` (Q,);
            pairs without instance outputs are ignored.
        score_threshold: minimum ``inst_score`` for a query to be a person.
        mask_threshold: minimum mask probability for a pixel to belong to a query.
        iou_threshold: minimum IoU, in a shared image, to link two queries.
        min_pixels: a query needs at least this many mask pixels (over both views) to count.

    Returns:
        CrossViewIdentities; person ids are 1..P, ordered by decreasing total mask area.
    """
    # Nodes: (pair index, query); per image the hard mask of each node seen there.
    node_keys: list[tuple[int, int]] = []
    node_pair: list[int] = []
    node_score: list[float] = []
    node_area: list[int] = []
    per_image: dict[int, list[tuple[int, np.ndarray]]] = {}
    soft: list[tuple[int, int, np.ndarray, np.ndarray]] = []  # (node, image, prob, keep)
    shapes: dict[int, tuple[int, int]] = {}

    for p_idx, pair in enumerate(pairs):
        if pair.inst_i is None or pair.inst_j is None or pair.inst_score is None:
            continue
        score = _to_numpy(pair.inst_score).reshape(-1)
        views = ((pair.i, _to_numpy(pair.inst_i)), (pair.j, _to_numpy(pair.inst_j)))
        for img, prob in views:
            if prob.ndim != 3 or prob.shape[0] != score.shape[0]:
                raise ValueError(
                    f"pair {p_idx} ({pair.i},{pair.j}): instance masks must be (Q, H, W) with "
                    f"Q = len(inst_score) = {score.shape[0]}, got {prob.shape}"
                )
            if img in shapes and shapes[img] != prob.shape[1:]:
                raise ValueError(
                    f"image {img}: instance masks of different sizes across pairs "
                    f"({shapes[img]} and {prob.shape[1:]})"
                )
            shapes[img] = prob.shape[1:]
        keep = score >= score_threshold
        hard = [(img, _hard_masks(prob, keep, mask_threshold)) for img, prob in views]
        for q in np.flatnonzero(keep):
            area = int(sum(m[q].sum() for _, m in hard))
            if area < min_pixels:
                continue
            n = len(node_keys)
            node_keys.append((p_idx, int(q)))
            node_pair.append(p_idx)
            node_score.append(float(score[q]))
            node_area.append(area)
            for (img, m), (_, prob) in zip(hard, views):
                per_image.setdefault(img, []).append((n, m[q]))
                soft.append((n, img, prob[q], score[q]))

    # Candidate links: IoU of hard masks of nodes from different pairs in a shared image.
    links: list[tuple[float, int, int]] = []
    for img, entries in per_image.items():
        if len(entries) < 2:
            continue
        nodes = np.array([n for n, _ in entries])
        flat = np.stack([m.reshape(-1) for _, m in entries]).astype(np.float32)
        inter = flat @ flat.T
        area = flat.sum(axis=1)
        union = area[:, None] + area[None, :] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1.0), 0.0)
        a_idx, b_idx = np.triu_indices(len(entries), k=1)
        for a, b in zip(a_idx, b_idx):
            if node_pair[nodes[a]] != node_pair[nodes[b]] and iou[a, b] >= iou_threshold:
                links.append((float(iou[a, b]), int(nodes[a]), int(nodes[b])))

    uf = _UnionFind(node_pair)
    for _, a, b in sorted(links, key=lambda t: -t[0]):
        uf.union_if_compatible(a, b)

    # Components -> person ids ordered by total area (deterministic, largest first).
    comps: dict[int, list[int]] = {}
    for n in range(len(node_keys)):
        comps.setdefault(uf.find(n), []).append(n)
    ordered = sorted(comps.values(), key=lambda ns: (-sum(node_area[n] for n in ns), min(ns)))
    result = CrossViewIdentities()
    node_person = np.zeros(len(node_keys), dtype=np.int64)
    for pid, ns in enumerate(ordered, start=1):
        for n in ns:
            node_person[n] = pid
            result.assignment[node_keys[n]] = pid
        result.scores[pid] = float(np.mean([node_score[n] for n in ns]))
        result.support[pid] = len(ns)

    # Per image: score-weighted mean probability of each person over the pairs seeing it.
    num_p = len(ordered)
    for img, hw in shapes.items():
        acc = np.zeros((num_p + 1,) + hw, dtype=np.float32)
        wsum = np.zeros((num_p + 1,), dtype=np.float32)
        for n, im, prob, w in soft:
            if im != img:
                continue
            pid = node_person[n]
            acc[pid] += w * prob
            wsum[pid] += w
        mean = acc / np.maximum(wsum, 1e-12)[:, None, None]
        mean[0] = mask_threshold  # background wins unless some person reaches the threshold
        labels = np.argmax(mean, axis=0).astype(np.int32)
        best = np.take_along_axis(mean, labels[None].astype(np.int64), axis=0)[0]
        labels[best < mask_threshold] = 0
        result.labels[img] = labels
    return result
