"""A person must be one body in 3D: the frame set's person segments checked against geometry.

The network's instance masks are 2D and imperfect: a mask spills over the person's outline
onto the wall or floor behind (metres away in 3D), one person is split over several queries
(fragments with different ids on one body), and some masks are ghosts (a patch of wall seen
by one pair, a piece of furniture). Given the fused 3D points of every pixel, three rules,
all in metres in a metric fixed frame:

1. **one body** (:func:`keep_body_points`): a person's pixels whose points lie outside a
   body-sized cylinder around the person's robust centre (the densest part of its points)
   are not the person; they become background.
2. **one id per body** (:func:`merge_overlapping`): two persons whose points occupy the same
   space (shared voxels) or whose centres are closer than two bodies can stand are fragments
   of one person, whatever the pairs said, unless together they would be wider than a body
   (a mask that covered two people side by side must not join them).
3. **plausible** (:func:`implausible_reason`): too few points, seen in too few images, or a
   3D shape no body has (wider than a body, taller, or flat: a poster, a door, a table top
   are planes, while even one camera's view of a body is curved) -> a ghost, rejected and
   counted.

"Up" is the fixed frame's z axis (REP-103: world / map / odom frames are z up); with
``BodyRules.up = None`` the rules use spheres and principal axes instead.

Everything edits :class:`~hamst3r_ros.human.identities.CrossViewIdentities` label maps in
place, so that the fused cloud, the body fit and the tracker all see the same people.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np

from hamst3r_ros.human.identities import CrossViewIdentities


@dataclass
class BodyRules:
    """Thresholds of the rules (metres).

    Attributes:
        up: the fixed frame's up direction (unit), or None when it is not known.
        body_radius: horizontal distance from a person's robust centre beyond which points
            are not theirs (a stride reaches ~0.5 m from the body's axis, arms held out
            ~0.85 m).
        body_half_height: vertical distance from the centre beyond which points are not
            theirs (the centre sits near the hips, 1.1 m high on a tall adult, so the feet of
            a tall person are ~1.1 m below it; a margin for a centre pulled up by the arms). Without
            ``up``, points farther than this (3D) from the centre are not theirs.
        merge_voxel: voxel edge of the occupancy overlap test.
        merge_overlap: two persons sharing at least this fraction of the smaller one's
            occupied voxels are one person.
        merge_centre_distance: two persons whose centres are closer than this (horizontally)
            are one person (two people side by side stand farther apart).
        max_union_width: two persons are never merged when their points together spread
            wider than this (standard deviation along the widest horizontal direction; one
            walking body ~0.15-0.2, two people side by side 0.3 or more) and wider than the
            wider of the two by more than a fifth (a fragment with arms held out is wide on
            its own; adding the legs under it does not widen it).
        min_images: a person segmented in fewer images must look like most of a body
            (vertical spread at least ``single_view_min_extent``): one camera alone may see
            a real person at the rig's edge, but most single-view segments are patches.
        single_view_min_extent: see ``min_images`` (standard deviation, metres; a standing
            body ~0.45, its upper half ~0.2).
        min_extent: a smaller vertical spread is no body at all (a blob on a wall).
        min_thickness: a smaller spread along the points' thinnest direction
            (:func:`thickness`) is a plane, not a body (the visible side of a torso alone is
            ~0.05 deep).
        min_body_fraction: a segment whose pixels lie mostly outside the body cylinder around
            its centre (less than this fraction inside) is no person: a mask's spill-over
            onto the background is a band along its outline, not most of it.
        max_extent: largest vertical spread of a body's points (standard deviation; a 1.9 m
            body standing ~0.55); without ``up``: along the main principal axis.
        max_width: largest horizontal spread (standard deviation along the widest
            horizontal direction; a body with arms out ~0.3, a wall patch more); without
            ``up``: along the second principal axis.
    """

    up: Optional[tuple[float, float, float]] = (0.0, 0.0, 1.0)
    body_radius: float = 0.8
    body_half_height: float = 1.4
    merge_voxel: float = 0.1
    merge_overlap: float = 0.2
    merge_centre_distance: float = 0.3
    max_union_width: float = 0.3
    min_images: int = 2
    single_view_min_extent: float = 0.25
    min_extent: float = 0.08
    min_body_fraction: float = 0.5
    min_thickness: float = 0.02
    max_extent: float = 0.7
    max_width: float = 0.4

    def split(self, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) offsets -> (horizontal distance, |vertical| distance); without ``up``,
        (3D distance scaled to ``body_radius`` units, zeros)."""
        if self.up is None:
            r = np.linalg.norm(d, axis=-1) * (self.body_radius / self.body_half_height)
            return r, np.zeros(r.shape)
        u = np.asarray(self.up, np.float64)
        v = d @ u
        h = np.linalg.norm(d - v[..., None] * u, axis=-1)
        return h, np.abs(v)

    def inside(self, d: np.ndarray) -> np.ndarray:
        """(...,) bool: offsets from a centre that lie within a body's cylinder."""
        h, v = self.split(d)
        return (h <= self.body_radius) & (v <= self.body_half_height)

    def horizontal_width(self, pts: np.ndarray) -> float:
        """Standard deviation of (M, 3) points along their widest horizontal direction
        (second principal axis without ``up``)."""
        if len(pts) < 3:
            return 0.0
        if self.up is None:
            return float(np.sqrt(max(np.linalg.eigvalsh(np.cov(pts.T))[1], 0.0)))
        u = np.asarray(self.up, np.float64)
        flat = pts - np.outer(pts @ u, u)
        return float(np.sqrt(max(np.linalg.eigvalsh(np.cov(flat.T))[-1], 0.0)))

    def vertical_extent(self, pts: np.ndarray) -> float:
        """Standard deviation of (M, 3) points along up (the main axis without ``up``)."""
        if len(pts) < 3:
            return 0.0
        if self.up is None:
            return float(np.sqrt(max(np.linalg.eigvalsh(np.cov(pts.T))[-1], 0.0)))
        return float(np.std(pts @ np.asarray(self.up, np.float64)))


def _pixels(ids: CrossViewIdentities, points: Mapping[int, np.ndarray], pid: int,
            max_points: Optional[int] = None) -> np.ndarray:
    """(M, 3) finite points of every pixel labelled ``pid`` (optionally a strided subset)."""
    out = []
    for k, lab in ids.labels.items():
        if k in points:
            p = np.asarray(points[k])[lab == pid]
            out.append(p[np.isfinite(p).all(1)])
    pts = np.concatenate(out) if out else np.zeros((0, 3))
    if max_points and len(pts) > max_points:
        pts = pts[:: int(np.ceil(len(pts) / max_points))]
    return pts.astype(np.float64)


def robust_centre(pts: np.ndarray, rules: BodyRules, cell: float = 0.3) -> np.ndarray:
    """The centre of the densest body-sized part of ``pts`` (M, 3): start in the cell (edge
    ``cell``) whose 3x3x3 neighbourhood holds the most points, then the median of the points
    inside a body's cylinder around it, three times. A median of all points would follow a
    spill-over that outnumbers the body."""
    key = np.floor(pts / cell).astype(np.int64)
    cells, inv, count = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    lookup = {tuple(c): n for c, n in zip(cells, count)}
    offsets = [(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)]
    density = [sum(lookup.get((c[0] + a, c[1] + b, c[2] + d), 0) for a, b, d in offsets) for c in cells]
    centre = pts[inv.ravel() == int(np.argmax(density))].mean(0)
    for _ in range(3):
        near = pts[rules.inside(pts - centre)]
        if len(near) == 0:
            break
        centre = np.median(near, axis=0)
    return centre


def keep_body_points(ids: CrossViewIdentities, points: Mapping[int, np.ndarray], rules: BodyRules,
                     kept: Optional[dict[int, tuple[int, int]]] = None) -> dict[int, np.ndarray]:
    """Rule 1: relabel as background every pixel outside the body cylinder around its
    person's robust centre. Returns person id -> centre (persons without points left out);
    ``kept``, when given, receives person id -> (pixels kept, pixels before)."""
    centres = {}
    for pid in ids.person_ids:
        pts = _pixels(ids, points, pid, max_points=4000)
        if len(pts) == 0:
            continue
        c = robust_centre(pts, rules)
        centres[pid] = c
        total = inside_count = 0
        for k, lab in ids.labels.items():
            if k not in points:
                continue
            rows, cols = np.nonzero(lab == pid)
            if len(rows) == 0:
                continue
            # only this person's pixels are tested (the rest of the image cannot change)
            with np.errstate(invalid="ignore"):
                inside = rules.inside(np.asarray(points[k])[rows, cols].astype(np.float64) - c)
            lab[rows[~inside], cols[~inside]] = 0  # NaN points are not the person either
            total += len(rows)
            inside_count += int(inside.sum())
        if kept is not None:
            kept[pid] = (inside_count, total)
    return centres


def merge_overlapping(ids: CrossViewIdentities, points: Mapping[int, np.ndarray], centres: Mapping[int, np.ndarray],
                      rules: BodyRules) -> dict[int, list[int]]:
    """Rule 2: merge persons that share space (voxel overlap of the smaller one's occupancy at
    least ``merge_overlap``) or whose centres are within ``merge_centre_distance``, unless
    their points together are wider than ``max_union_width``. Only pairs whose centres are
    within 1.5 m are compared, closest first. Edits ``ids`` in place (the smaller id
    survives); returns surviving id -> the ids merged into it (itself included), for the
    merged persons only."""
    pids = [p for p in ids.person_ids if p in centres]
    occ, pts_of = {}, {}
    for p in pids:
        pts = _pixels(ids, points, p)  # every pixel for the occupancy, a strided subset for widths
        pts_of[p] = pts[:: max(1, int(np.ceil(len(pts) / 3000)))]
        occ[p] = set(map(tuple, np.floor(pts / rules.merge_voxel).astype(np.int64)))
    root = {p: p for p in pids}

    def find(p):
        while root[p] != p:
            root[p] = root[root[p]]
            p = root[p]
        return p

    members = {p: [p] for p in pids}
    merged = False
    cands = sorted((float(np.linalg.norm(centres[a] - centres[b])), a, b)
                   for i, a in enumerate(pids) for b in pids[i + 1:])
    for d, a, b in cands:
        ra, rb = find(a), find(b)
        if d > 1.5 or ra == rb:
            continue
        small = min(len(occ[a]), len(occ[b]))
        overlap = len(occ[a] & occ[b]) / small if small else 0.0
        if rules.split(centres[a] - centres[b])[0] > rules.merge_centre_distance and overlap < rules.merge_overlap:
            continue
        widths = [rules.horizontal_width(np.concatenate([pts_of[m] for m in members[r]])) for r in (ra, rb)]
        union = np.concatenate([pts_of[m] for m in members[ra] + members[rb]])
        if rules.horizontal_width(union) > max(rules.max_union_width, 1.2 * max(widths)):
            continue
        keep, drop = min(ra, rb), max(ra, rb)
        root[drop] = keep
        members[keep] += members.pop(drop)
        merged = True
    if not merged:
        return {}
    lut = np.arange(max(ids.scores) + 1, dtype=np.int32)
    for p in pids:
        lut[p] = find(p)
    for k, lab in ids.labels.items():
        ids.labels[k] = lut[lab]
    ids.assignment = {key: int(lut[pid]) for key, pid in ids.assignment.items()}
    groups: dict[int, list[int]] = {}
    for p in pids:
        groups.setdefault(find(p), []).append(p)
    for keep, group in groups.items():
        if len(group) > 1:
            ids.scores[keep] = float(max(ids.scores[m] for m in group))
            ids.support[keep] = sum(ids.support[m] for m in group)
            for m in group:
                if m != keep:
                    del ids.scores[m], ids.support[m]
    return {keep: group for keep, group in groups.items() if len(group) > 1}


def implausible_reason(pts: np.ndarray, images: int, rules: BodyRules, min_points: int,
                       body_fraction: float = 1.0) -> Optional[str]:
    """Rule 3: why the points (M, 3) of a person seen in ``images`` images, of whose pixels
    ``body_fraction`` lay in one body's cylinder (rule 1), are no body, or None. Reasons:
    'few_points', 'not_one_body', 'too_small', 'too_large', 'too_wide', 'flat', 'single_view'."""
    if len(pts) < min_points:
        return "few_points"
    if body_fraction < rules.min_body_fraction:
        return "not_one_body"
    extent = rules.vertical_extent(pts)
    if extent < rules.min_extent:
        return "too_small"
    if extent > rules.max_extent:
        return "too_large"
    if rules.horizontal_width(pts) > rules.max_width:
        return "too_wide"
    if thickness(pts) < rules.min_thickness:
        return "flat"
    if images < rules.min_images and extent < rules.single_view_min_extent:
        return "single_view"
    return None


def thickness(pts: np.ndarray) -> float:
    """Robust spread of (M, 3) points along their thinnest principal direction: 1.4826 x the
    median absolute deviation of the projections (a standard deviation for Gaussian data,
    which a few stray points do not inflate)."""
    p = np.asarray(pts, np.float64)
    if len(p) < 4:
        return 0.0
    _, vec = np.linalg.eigh(np.cov(p.T))
    proj = p @ vec[:, 0]
    return float(1.4826 * np.median(np.abs(proj - np.median(proj))))
