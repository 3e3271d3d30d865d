"""With known cameras, a person stands where their cameras' rays cross, not where one view's
depth puts them.

A network's depth is least reliable on people (thin, moving, smeared towards the background),
while the *direction* in which a camera sees a person is as good as its mask. Measured with
the embedded model, posed (eval-system seed 3000, segments of at least 200 pixels): a
segment's mean horizontal direction passes a median 4 cm from the true person (80% within
20 cm), but its depth is 17% too far (median; 26% off at the 80th percentile). One person's
segments from different cameras then land 0.5-1.4 m apart, so they stay separate people
(ghosts and lost ids), and the tracker follows a person who jumps between them.

Each (person, image) segment is summarised on the ground plane (the plane orthogonal to
``up``; metres, fixed frame): its camera centre ``c``, the unit mean horizontal direction
``u`` of its points from ``c`` and their median horizontal range ``r``. That is a position
estimate ``m = c + r u`` with a narrow uncertainty across the ray (``lateral_sigma``: a body's
half width and a mask's bias) and one along it that follows how far the network's depth can
be trusted: ``sigma_r = sqrt((e r)^2 + range_floor^2)``, with ``e`` the view's relative depth
error as the alignment measured it (its residual: median disagreement of the predictions of
that view over depth; 0.29-0.36 with the embedded model, 0.002 with true pointmaps), so that
an exact network's segments of two different things never join, and a weak one's segments of
one person do. ``J = n n^T / lateral_sigma^2 + u u^T / sigma_r^2`` (``n`` orthogonal to ``u``).
Segments are grouped greedily, most compatible first, while the Mahalanobis distance of two
groups' fused positions stays within ``max_distance``; a group's position is the information-
weighted mean. Two cameras' segments of one person cross where the person is, whatever their
depths said; segments of two people rarely agree across three or four cameras. Finally each
segment of a group that is seen from two directions at least ``min_crossing_deg`` apart is
moved along its own camera's rays (its points scaled about the camera centre, so the
network's shape of the person is kept) to the group's position.

Only for cameras whose poses are known (extrinsics): with poses solved from the network the
rays are as wrong as the depth. The labels of ``CrossViewIdentities`` are edited in place so
that the 3D rules, the body fit and the tracker all see the grouped people.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np

from hamst3r_ros.human.identities import CrossViewIdentities


@dataclass
class RayRules:
    """Thresholds of the grouping (metres unless stated).

    Attributes:
        min_pixels: a segment with fewer finite points takes no part (it follows its id).
        lateral_sigma: uncertainty across a segment's ray at the person (a walking body's
            half width; a fragment such as one arm is off the body's axis by about this).
        range_sigma: relative uncertainty of a segment's range when the view's depth error
            is not given (the embedded model's depth on people: 17% median, 26% at the 80th
            percentile).
        min_depth_error: views whose relative depth error is below this take no part: their
            depth already places people within a body's width, and the 3D rules
            (``consistency_3d``) then join fragments and reject ghosts better than rays do.
            Measured with true pointmaps (eval-system oracle, seeds 3000-3002): grouping by
            rays joined fragments of ghosts that the 3D rules rejected one by one (ghosts
            per set 0.25 -> 0.56).
        min_range_sigma, max_range_sigma: the view's relative depth error is clipped to this.
        range_floor: uncertainty of a segment's range with exact depth (the visible side of
            a body lies ~0.1 m in front of its axis, on opposite sides for opposite cameras).
        max_distance: two groups join when the Mahalanobis distance between their fused
            positions is at most this (3.0: the 99% level of a 2-D Gaussian).
        min_crossing_deg: a group's position fixes its segments' ranges only when two of its
            segments see it from directions at least this far apart; otherwise the network's
            ranges are only averaged (fragments of one view agree with each other).
        max_scale: a segment is never moved by a factor beyond [1 / max_scale, max_scale].
        min_range: a position closer to a camera than this is no crossing (behind or at it).
    """

    min_pixels: int = 30
    lateral_sigma: float = 0.15
    range_sigma: float = 0.3
    min_depth_error: float = 0.05
    min_range_sigma: float = 0.0
    max_range_sigma: float = 0.5
    range_floor: float = 0.12
    max_distance: float = 3.0
    min_crossing_deg: float = 20.0
    max_scale: float = 2.0
    min_range: float = 0.3


@dataclass
class Segment:
    """One person's pixels in one image, on the ground plane (2-D coordinates, metres).

    Attributes:
        pid: person id before grouping.
        image: image index.
        centre: (2,) camera centre.
        direction: (2,) unit mean direction of the points from the centre.
        range: median horizontal distance of the points from the centre.
        pixels: number of finite points.
        sigma_range: uncertainty of ``range``.
    """

    pid: int
    image: int
    centre: np.ndarray
    direction: np.ndarray
    range: float
    pixels: int
    sigma_range: float

    def information(self, rules: RayRules) -> np.ndarray:
        """(2, 2) inverse covariance of the position estimate."""
        u = self.direction
        n = np.array([-u[1], u[0]])
        return np.outer(n, n) / rules.lateral_sigma**2 + np.outer(u, u) / self.sigma_range**2

    @property
    def estimate(self) -> np.ndarray:
        """(2,) the network's position of the segment: centre + range x direction."""
        return self.centre + self.range * self.direction


@dataclass
class RayGrouping:
    """Result of :func:`triangulate_people`.

    Attributes:
        points: image index -> (H, W, 3) points with the moved segments (a copy for the
            images that changed, the input array otherwise), metres, fixed frame.
        groups: new person id -> the (old person id, image) segments grouped into it.
        positions: new person id -> (3,) fused position on the ground plane (height 0 along
            ``up``), fixed frame.
        scales: (old person id, image) -> factor its points were scaled by about their
            camera centre (moved segments only).
    """

    points: dict[int, np.ndarray]
    groups: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    positions: dict[int, np.ndarray] = field(default_factory=dict)
    scales: dict[tuple[int, int], float] = field(default_factory=dict)


def ground_basis(up: Sequence[float]) -> np.ndarray:
    """(2, 3) orthonormal rows spanning the plane orthogonal to the unit vector ``up``."""
    u = np.asarray(up, np.float64)
    u = u / np.linalg.norm(u)
    seed = np.eye(3)[int(np.argmin(np.abs(u)))]
    e1 = np.cross(u, seed)
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(u, e1)])


def segments(ids: CrossViewIdentities, points: Mapping[int, np.ndarray], centres: Mapping[int, np.ndarray],
             basis: np.ndarray, rules: RayRules, range_error: Optional[Mapping[int, float]] = None) -> list[Segment]:
    """Every (person, image) segment with at least ``rules.min_pixels`` finite points,
    summarised on the ground plane spanned by ``basis`` (2, 3); ``range_error``: image index
    -> relative depth error of that view (``rules.range_sigma`` where missing). Views whose
    error is below ``rules.min_depth_error`` give none."""
    out = []
    for k, lab in ids.labels.items():
        e = rules.range_sigma if range_error is None or k not in range_error else float(range_error[k])
        if k not in points or k not in centres or e < rules.min_depth_error:
            continue
        e = float(np.clip(e, rules.min_range_sigma, rules.max_range_sigma))
        c3 = np.asarray(centres[k], np.float64)
        c = basis @ c3
        for pid in np.unique(lab):
            if pid <= 0:
                continue
            p = np.asarray(points[k])[lab == pid].astype(np.float64)
            p = p[np.isfinite(p).all(1)]
            if len(p) < rules.min_pixels:
                continue
            d = (p - c3) @ basis.T  # horizontal offsets from the camera
            r = np.linalg.norm(d, axis=1)
            ok = r > 1e-6
            if ok.sum() < rules.min_pixels:
                continue
            mean = (d[ok] / r[ok, None]).mean(0)
            if np.linalg.norm(mean) < 0.5:  # directions all around the camera: no ray
                continue
            rng = float(np.median(r[ok]))
            out.append(Segment(int(pid), int(k), c, mean / np.linalg.norm(mean), rng, int(ok.sum()),
                               float(np.hypot(e * rng, rules.range_floor))))
    return out


def fuse_positions(segs: Sequence[Segment], rules: RayRules) -> tuple[np.ndarray, np.ndarray]:
    """Information-weighted position (2,) of segments and its information matrix (2, 2)."""
    J = np.zeros((2, 2))
    b = np.zeros(2)
    for s in segs:
        Js = s.information(rules)
        J += Js
        b += Js @ s.estimate
    return np.linalg.solve(J, b), J


def _crossing(segs: Sequence[Segment], min_crossing_deg: float) -> bool:
    """Whether two of the segments look at their person from directions this far apart."""
    cos_max = np.cos(np.radians(min_crossing_deg))
    dirs = [s.direction for s in segs]
    return any(float(a @ b) <= cos_max for i, a in enumerate(dirs) for b in dirs[i + 1:])


def _distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """Mahalanobis distance between two fused positions (x, J)."""
    d = a[0] - b[0]
    cov = np.linalg.inv(a[1]) + np.linalg.inv(b[1])
    return float(np.sqrt(d @ np.linalg.solve(cov, d)))


def group_segments(segs: Sequence[Segment], rules: RayRules) -> list[tuple[list[int], np.ndarray]]:
    """Greedy agglomeration of segment indices: the two groups with the smallest Mahalanobis
    distance between their fused positions join while it is at most ``rules.max_distance``
    and the joined position lies in front of every segment's camera. Returns (segment
    indices, fused (2,) position) per group."""
    groups: dict[int, list[int]] = {i: [i] for i in range(len(segs))}
    fused = {i: fuse_positions([s], rules) for i, s in enumerate(segs)}
    dist = {(a, b): _distance(fused[a], fused[b]) for a in groups for b in groups if a < b}
    while True:
        cands = [(d, ab) for ab, d in dist.items() if d <= rules.max_distance]
        if not cands:
            break
        _, (a, b) = min(cands)
        members = groups[a] + groups[b]
        x, J = fuse_positions([segs[i] for i in members], rules)
        if any(float(segs[i].direction @ (x - segs[i].centre)) < rules.min_range for i in members):
            dist[(a, b)] = np.inf  # they would meet behind a camera: no person
            continue
        groups[a], fused[a] = members, (x, J)
        del groups[b], fused[b]
        dist = {ab: d for ab, d in dist.items() if b not in ab}
        for c in groups:
            if c != a:
                dist[(min(a, c), max(a, c))] = _distance(fused[a], fused[c])
    return [(groups[g], fused[g][0]) for g in groups]


def triangulate_people(ids: CrossViewIdentities, points: Mapping[int, np.ndarray],
                       centres: Mapping[int, np.ndarray], up: Sequence[float],
                       pair_images: Sequence[tuple[int, int]], rules: Optional[RayRules] = None,
                       range_error: Optional[Mapping[int, float]] = None) -> RayGrouping:
    """Group the frame set's person segments by where their rays cross; relabel and move them.

    Args:
        ids: cross-view ids; labels (and assignment, scores, support) are edited in place.
        points: image index -> (H, W, 3) points in the fixed frame, metres.
        centres: image index -> (3,) camera centre in the fixed frame (known extrinsics).
        up: the fixed frame's up direction.
        pair_images: (i, j) images of each pair, in the order of ``ids.assignment``'s pair
            indices (a (pair, query) node follows its segment in image i, else in image j).
        rules: thresholds.
        range_error: image index -> relative depth error of the view (the alignment's
            residual); ``rules.range_sigma`` where missing.

    Returns:
        RayGrouping with the moved points.
    """
    rules = rules or RayRules()
    basis = ground_basis(up)
    segs = segments(ids, points, centres, basis, rules, range_error)
    out = RayGrouping(points=dict(points))
    if not segs:
        return out
    grouped = group_segments(segs, rules)
    groups = [members for members, _ in grouped]

    # New ids: each group keeps the old id holding most of its pixels when no larger group
    # claimed it first; otherwise a fresh id.
    order = sorted(range(len(groups)), key=lambda g: -sum(segs[i].pixels for i in groups[g]))
    next_id = max(list(ids.scores) + [0]) + 1
    used: set[int] = set()
    seg_to_new: dict[tuple[int, int], int] = {}
    new_of_group: dict[int, int] = {}
    for g in order:
        pix: dict[int, int] = {}
        for i in groups[g]:
            pix[segs[i].pid] = pix.get(segs[i].pid, 0) + segs[i].pixels
        cand = [p for p in sorted(pix, key=lambda p: (-pix[p], p)) if p not in used]
        new = cand[0] if cand else next_id
        if not cand:
            next_id += 1
        used.add(new)
        new_of_group[g] = new
        for i in groups[g]:
            seg_to_new[(segs[i].pid, segs[i].image)] = new
    # An old id's pixels outside any segment (too few points) follow its largest segment.
    majority: dict[int, tuple[int, int]] = {}
    for s in segs:
        if s.pixels > majority.get(s.pid, (0, -1))[0]:
            majority[s.pid] = (s.pixels, seg_to_new[(s.pid, s.image)])
    follow = {p: new for p, (_, new) in majority.items()}

    old_scores, old_support = dict(ids.scores), dict(ids.support)
    old_labels = dict(ids.labels)
    present: set[int] = set()  # ids that still label a pixel or a pair node
    for k, lab in ids.labels.items():
        olds, inverse = np.unique(lab, return_inverse=True)
        news = np.array([0 if o <= 0 else seg_to_new.get((int(o), k), follow.get(int(o), int(o))) for o in olds],
                        dtype=lab.dtype)
        ids.labels[k] = news[inverse.reshape(lab.shape)]
        present.update(int(n) for n in news if n > 0)
    assignment = {}
    for (p_idx, q), pid in ids.assignment.items():
        i, j = pair_images[p_idx]
        assignment[(p_idx, q)] = seg_to_new.get((pid, i), seg_to_new.get((pid, j), follow.get(pid, pid)))
    ids.assignment = assignment
    members: dict[int, set[int]] = {}
    for (old, _), new in seg_to_new.items():
        members.setdefault(new, set()).add(old)
    for old, new in follow.items():
        members.setdefault(new, set()).add(old)
    present |= set(ids.assignment.values())
    ids.scores = {p: s for p, s in old_scores.items() if p in present and p not in members}
    ids.support = {p: s for p, s in old_support.items() if p in present and p not in members}
    for new, olds in members.items():
        if new in present:
            ids.scores[new] = float(max(old_scores[o] for o in olds))
            ids.support[new] = int(sum(old_support[o] for o in olds))

    # Move each segment of a crossing group along its rays to the group's position.
    moved: dict[int, np.ndarray] = {}
    for g, (members_idx, x) in enumerate(grouped):
        gsegs = [segs[i] for i in members_idx]
        new = new_of_group[g]
        out.groups[new] = [(s.pid, s.image) for s in gsegs]
        out.positions[new] = basis.T @ x
        if not _crossing(gsegs, rules.min_crossing_deg):
            continue
        for s in gsegs:
            target = float(s.direction @ (x - s.centre))
            if target < rules.min_range:
                continue
            f = float(np.clip(target / s.range, 1.0 / rules.max_scale, rules.max_scale))
            if s.image not in moved:
                moved[s.image] = np.array(points[s.image], dtype=np.float32, copy=True)
            c3 = np.asarray(centres[s.image], np.float64)
            mask = old_labels[s.image] == s.pid
            p = moved[s.image][mask].astype(np.float64)
            moved[s.image][mask] = (c3 + f * (p - c3)).astype(np.float32)
            out.scales[(s.pid, s.image)] = f
    out.points.update(moved)
    return out


def ground_covariances(ids: CrossViewIdentities, points: Mapping[int, np.ndarray],
                       centres: Mapping[int, np.ndarray], up: Sequence[float], rules: Optional[RayRules] = None,
                       range_error: Optional[Mapping[int, float]] = None) -> dict[int, np.ndarray]:
    """How well each person's position is known on the ground plane, from their segments' rays.

    A person seen by one camera is known across its ray (``rules.lateral_sigma``) but only as
    well along it as that view's depth (``sigma_range``); two cameras far apart pin them down.
    The tracker weighs their detections by this (``tracking.Detection.covariance``).

    Args: as :func:`triangulate_people` (``ids`` and ``points`` after it; nothing is edited).

    Returns:
        person id -> (3, 3) covariance of their position in the fixed frame, m^2, zero along
        ``up`` (add the height's own uncertainty); only for persons with a segment in a view
        whose depth error reaches ``rules.min_depth_error`` (the others are placed by depth
        that is good enough for the tracker's default).
    """
    rules = rules or RayRules()
    basis = ground_basis(up)
    by_person: dict[int, list[Segment]] = {}
    for s in segments(ids, points, centres, basis, rules, range_error):
        by_person.setdefault(s.pid, []).append(s)
    out = {}
    for pid, segs in by_person.items():
        J = sum(s.information(rules) for s in segs)
        out[pid] = basis.T @ np.linalg.inv(J) @ basis
    return out
