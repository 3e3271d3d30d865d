"""Global and incremental alignment of pairwise pointmaps into one fixed frame.

Problem (the objective of DUSt3R's global alignment, with MASt3R's per-image
parametrisation): every prediction e = (i, j) gives the points of views i and j in camera
i's frame, at its own unknown scale. We look for

* one pose per camera, T_fixed_cam[v] = (R_v, t_v) (shared by all predictions e with
  e.i = v, so a pair's frame *is* its first camera's frame),
* one scale s_e per prediction (the network's scale of that pair; the per-view depth
  scale reported is the geometric mean of s_e over e.i = v); when both cameras of e are
  held at known poses, s_e is measured once from their known baseline instead
  (``AlignmentOptions.baseline_scale``: least squares shrinks it under noisy predictions),
* one consensus point per (subsampled) pixel of every view, X_v, on the camera's pixel
  rays once its intrinsics are known or estimated (so X_v is a per-view depth map),

minimising  sum_e sum_{v in e} w * rho(|| X_v - (s_e R_{e.i} Y_e^v + t_{e.i}) ||)
with w the network confidence and rho a Cauchy loss (IRLS), plus, when descriptors are
given, MASt3R's 3D matching term: a pixel and its mutual-nearest-neighbour match in the
other image of a pair should be the same 3D point. Pixel-aligned pointmaps give
dense correspondences for free, so every block has a closed form: poses and pair scales
by weighted Procrustes/Umeyama, consensus points by weighted averages, depths by
projection on the rays, focals by Weiszfeld. Block-coordinate descent then decreases the
objective monotonically (for fixed IRLS weights) without learning rates, which is what
makes the warm start cheap: a few sweeps from the previous frame's solution.

Initialisation (cold start): a maximum spanning tree over pairs scored by robust
Procrustes inlier mass, each edge's relative Sim(3) in closed form (robust Umeyama of a
view's points seen from two predictions), chained from the anchor camera.

Gauge: with no extrinsic prior, the anchor camera (first camera; in incremental mode the
previous anchor) sits at its previous pose (identity on a cold start) and the scale is
that of the anchor's pairs (cold) or the previous solution's (incremental). Priors on
extrinsics (hard or soft) replace the pose gauge; two or more with distinct centres fix the
scale, and only then is the output metric.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import numpy as np

from hamst3r_ros.geometry.focal import estimate_focal_from_pixels, pinhole, pixel_rays, rescale_intrinsics, unscale_intrinsics
from hamst3r_ros.geometry.pair_graph import maximum_spanning_tree
from hamst3r_ros.geometry.rig_memory import pose_gap, update_rig
from hamst3r_ros.geometry.sim3 import Sim3, norm3, robust_umeyama, rotate, rotation_angle_deg, umeyama
from hamst3r_ros.types import PairPrediction


@dataclass
class CameraPrior:
    """What is known about one camera before alignment.

    Attributes:
        K: (3, 3) intrinsics at ``image_size`` (CameraInfo), or None when unknown.
        image_size: (width, height) of the image K belongs to; None means K is already at
            the network's resolution. The network input is assumed to be that image
            resized to cover and centre-cropped (MASt3R's preprocessing).
        T_fixed_cam: (4, 4) camera optical-frame pose in the fixed frame (TF or YAML),
            metres, or None.
        fixed: True: T_fixed_cam is held exactly; False: it is a soft prior.
        weight: strength of a soft prior relative to the camera's own data term.
    """

    K: Optional[np.ndarray] = None
    image_size: Optional[tuple[int, int]] = None
    T_fixed_cam: Optional[np.ndarray] = None
    fixed: bool = True
    weight: float = 1.0


@dataclass
class AlignmentOptions:
    """Tuning of the solver (defaults suit 2-16 cameras at network resolution).

    Attributes:
        n_subsample: pixels per view (on a regular grid) used by the iterations; the
            dense output uses every pixel.
        iters_global: block-coordinate sweeps of a cold start.
        iters_incremental: sweeps of a warm start.
        robust_c: Cauchy scale as a multiple of the median residual.
        min_conf: confidences below this get zero weight.
        moved_rot_deg, moved_trans_rel: a camera whose warm-solve pose deviates more than
            this (degrees; fraction of the rig's size) from its running estimate, in two
            consecutive frame sets that agree with each other, moved: it is re-localised,
            the others keep their poses (``rig_memory``). Smaller deviations are noise,
            fused into the running estimate.
        fuse_window: frame sets the running pose estimate averages over (see rig_memory).
        relaxation: over-relaxation factor of the pose block (1 = plain block descent).
        match_weight: weight of one descriptor match relative to one pointmap prediction
            of typical confidence (0 ignores descriptors).
        min_match_similarity: descriptor dot product below which a mutual match is dropped.
        match_max_gap: a match whose two pixels' points (in the pair's own pointmaps) lie
            further apart than this fraction of their distance from the camera is dropped.
        baseline_scale: the scale of a prediction whose two cameras are held at known poses
            is measured once, as the known baseline over the baseline the prediction implies
            (see ``_known_baseline_scales``), instead of by least squares against the consensus
            in every sweep. Least squares shrinks every scale when the network's two views
            disagree (residuals shrink with the scale): with the embedded model, posed, it
            put every surface 20-50% too close to its camera (cloud error 43-57 cm vs 14-17 cm).
        min_baseline_rel: below this implied baseline / median depth (both in the prediction's
            units) a baseline cannot measure the scale, and least squares is kept.
    """

    n_subsample: int = 2048
    iters_global: int = 40
    iters_incremental: int = 4
    robust_c: float = 2.5
    min_conf: float = 1.0
    moved_rot_deg: float = 5.0
    moved_trans_rel: float = 0.1
    fuse_window: int = 10
    relaxation: float = 1.8
    match_weight: float = 1.0
    min_match_similarity: float = 0.5
    match_max_gap: float = 0.1
    baseline_scale: bool = True
    min_baseline_rel: float = 0.05


@dataclass
class PixelMatches:
    """Pixel correspondences between two views of one frame set (M matches).

    Attributes:
        view_a, view_b: camera indices (into the alignment's cameras).
        uv_a, uv_b: (M, 2) float64 pixels (u = column, v = row) at network resolution.
        weight: (M,) float64 >= 0 relative weights (median about 1), or None for equal weights.
    """

    view_a: int
    view_b: int
    uv_a: np.ndarray
    uv_b: np.ndarray
    weight: Optional[np.ndarray] = None


@dataclass
class AlignmentState:
    """Warm-start memory between frame sets, keyed by camera name.

    Attributes:
        T_fixed_cam: camera name -> (4, 4) pose of the last solve.
        K_net: camera name -> (3, 3) intrinsics at network resolution.
        residual: camera name -> relative residual (median distance / median depth).
        anchor: camera holding the gauge when there is no extrinsic prior.
        rig_size: RMS distance of camera centres from the anchor, output units.
        metric: whether the last solve was metric.
        frames_since_init: warm solves since the last cold one.
        fused: camera name -> pose measurements fused into its running estimate
            (``T_fixed_cam`` is that estimate; see rig_memory).
        pending: camera name -> a deviating pose measurement awaiting confirmation.
    """

    T_fixed_cam: dict[str, np.ndarray] = field(default_factory=dict)
    K_net: dict[str, np.ndarray] = field(default_factory=dict)
    residual: dict[str, float] = field(default_factory=dict)
    anchor: str = ""
    rig_size: float = 0.0
    metric: bool = False
    frames_since_init: int = 0
    fused: dict[str, int] = field(default_factory=dict)
    pending: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class AlignmentResult:
    """One solve. N = number of cameras in this frame set, in the given order.

    Attributes:
        camera_names: N names.
        T_fixed_cam: (N, 4, 4) float64 camera optical-frame poses in the fixed frame.
        K_net: (N, 3, 3) intrinsics at network resolution.
        K: (N, 3, 3) intrinsics at each camera's input resolution (equal to K_net when
            the input size is unknown).
        depth: N arrays (H_v, W_v) float32 z-depth in output units.
        points: N arrays (H_v, W_v, 3) float32 consensus points in the fixed frame.
        confidence: N arrays (H_v, W_v) float32 consensus confidence (mean over the
            predictions of confidence times robust agreement weight; 0 = no support).
        view_scale: (N,) per-view depth scale (output units per network unit).
        pair_scale: (i, j) -> scale of that prediction.
        pair_score: (N, N) float64 agreement of each pair with the solution (mean of
            confidence x robust weight over both directions and both views; -inf where no
            pair was run): feed it to pair_graph.confidence_pairs to choose the next pairs.
        metric: True when the scale is metric (>= 2 extrinsic priors with distinct centres).
        scale_note: human-readable statement of the scale.
        residual: (N,) relative residual (median point distance / median depth).
        mode: "global", "incremental", "incremental (re-localised: <cameras> moved)" or
            "global (re-initialised: <reason>)".
        rig_state: "initialised" (a cold solve), "converging" (poses still being averaged),
            "stable", "deviating: <cameras>" (a deviation awaiting confirmation),
            "re-localised: <cameras>", or "given" (every pose held by a prior).
        iterations: sweeps done.
        time_s: wall time of the solve.
        state: warm-start state for the next frame set.
        matches: the descriptor head's mutual nearest neighbours of every pair (similarity
            >= min_match_similarity, on the solver's pixel grid), *before* the check against
            the pair's own pointmaps that the solver applies: for
            :func:`hamst3r_ros.geometry.depth_refine.refine_depth`, which tests them with the
            solved cameras instead. Empty without descriptors.
    """

    camera_names: list[str]
    T_fixed_cam: np.ndarray
    K_net: np.ndarray
    K: np.ndarray
    depth: list[np.ndarray]
    points: list[np.ndarray]
    confidence: list[np.ndarray]
    view_scale: np.ndarray
    pair_scale: dict[tuple[int, int], float]
    pair_score: np.ndarray
    metric: bool
    scale_note: str
    residual: np.ndarray
    mode: str
    iterations: int
    time_s: float
    state: AlignmentState
    rig_state: str = "initialised"
    matches: list[PixelMatches] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# problem set-up


class _Problem:
    """Subsampled data of one frame set (internal; arrays float64)."""

    def __init__(self, preds: Sequence[PairPrediction], n: int, opts: AlignmentOptions):
        if not preds:
            raise ValueError("alignment needs at least one PairPrediction")
        self.n = n
        self.preds = list(preds)
        self.sizes: list[Optional[tuple[int, int]]] = [None] * n  # (H, W)
        for e, p in enumerate(preds):
            if not (0 <= p.i < n and 0 <= p.j < n) or p.i == p.j:
                raise ValueError(f"PairPrediction {e} has views ({p.i}, {p.j}); expected two different indices < {n}")
            for v, pts, conf in ((p.i, p.pts_i, p.conf_i), (p.j, p.pts_j, p.conf_j)):
                pts = np.asarray(pts)
                if pts.ndim != 3 or pts.shape[2] != 3 or np.asarray(conf).shape != pts.shape[:2]:
                    raise ValueError(f"PairPrediction ({p.i}, {p.j}): pointmap of view {v} must be (H, W, 3) with "
                                     f"(H, W) confidences, got {pts.shape} and {np.asarray(conf).shape}")
                if self.sizes[v] is None:
                    self.sizes[v] = pts.shape[:2]
                elif self.sizes[v] != pts.shape[:2]:
                    raise ValueError(f"view {v} has pointmaps of sizes {self.sizes[v]} and {pts.shape[:2]} in different pairs")
        missing = [v for v in range(n) if self.sizes[v] is None]
        if missing:
            raise ValueError(f"cameras {missing} appear in no PairPrediction")
        self.first = [[e for e, p in enumerate(preds) if p.i == v] for v in range(n)]
        no_first = [v for v in range(n) if not self.first[v]]
        if no_first:
            raise ValueError(f"cameras {no_first} are never the first view of a pair; run pairs in both directions")
        self.involving = [[(e, 0 if p.i == v else 1) for e, p in enumerate(preds) if v in (p.i, p.j)] for v in range(n)]
        # a fixed regular pixel grid per view, shared by every prediction of that view
        self.idx, self.uv = [], []
        for v in range(n):
            idx = alignment_grid(self.sizes[v], opts.n_subsample)
            W = self.sizes[v][1]
            self.idx.append(idx)
            self.uv.append(np.stack([idx % W, idx // W], 1).astype(np.float64))
        self.Y: list[list[np.ndarray]] = []  # [e][side] (S_v, 3)
        self.C: list[list[np.ndarray]] = []  # [e][side] (S_v,)
        for p in preds:
            ys, cs = [], []
            for v, pts, conf in ((p.i, p.pts_i, p.conf_i), (p.j, p.pts_j, p.conf_j)):
                y = np.asarray(pts).reshape(-1, 3)[self.idx[v]].astype(np.float64)
                c = np.asarray(conf).reshape(-1)[self.idx[v]].astype(np.float64)
                c = np.where(np.isfinite(y).all(1) & np.isfinite(c) & (c >= opts.min_conf), c, 0.0)
                ys.append(np.nan_to_num(y))
                cs.append(c)
            self.Y.append(ys)
            self.C.append(cs)
        self.view_of = [(p.i, p.j) for p in preds]
        # descriptor matches between the two images of a pair (once per unordered pair)
        self.matches: list[tuple[int, np.ndarray, int, np.ndarray, np.ndarray]] = []
        self.pixel_matches: list[PixelMatches] = []  # before the pointmap check (AlignmentResult.matches)
        seen = set()
        for p in preds:
            key = (min(p.i, p.j), max(p.i, p.j))
            if p.desc_i is None or p.desc_j is None or key in seen:
                continue
            seen.add(key)
            da = np.asarray(p.desc_i, dtype=np.float32).reshape(-1, np.shape(p.desc_i)[-1])[self.idx[p.i]]
            db = np.asarray(p.desc_j, dtype=np.float32).reshape(-1, np.shape(p.desc_j)[-1])[self.idx[p.j]]
            ia, ib = mutual_nearest_neighbours(da, db, opts.min_match_similarity)
            wq = _match_weights(p, self.idx, ia, ib)
            if len(ia):
                self.pixel_matches.append(PixelMatches(p.i, p.j, self.uv[p.i][ia], self.uv[p.j][ib], wq))
            # A match must agree with the pair's own pointmaps (both pixels' points, in
            # frame i, within match_max_gap of the depth): MASt3R's heads are trained together,
            # so a good model's matches do; a weak descriptor head's random matches would
            # otherwise pull the geometry off (the embedded model's: 99% were metres off).
            ya = np.asarray(p.pts_i).reshape(-1, 3)[self.idx[p.i]][ia].astype(np.float64)
            yb = np.asarray(p.pts_j).reshape(-1, 3)[self.idx[p.j]][ib].astype(np.float64)
            with np.errstate(invalid="ignore"):
                agree = norm3(ya - yb) <= opts.match_max_gap * norm3(ya)
            ia, ib = ia[agree], ib[agree]
            if len(ia) == 0:  # e.g. an untrained descriptor head: no mutual matches at all
                continue
            self.matches.append((p.i, ia, p.j, ib, _match_weights(p, self.idx, ia, ib)))


def _match_weights(p: PairPrediction, idx: list[np.ndarray], ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """(M,) weights of matches ia <-> ib (grid indices): the geometric mean of the two pixels'
    descriptor confidences over its median, or ones without confidences."""
    w = np.ones(len(ia))
    if len(ia) and p.desc_conf_i is not None and p.desc_conf_j is not None:
        qa = np.asarray(p.desc_conf_i, dtype=np.float64).reshape(-1)[idx[p.i]][ia]
        qb = np.asarray(p.desc_conf_j, dtype=np.float64).reshape(-1)[idx[p.j]][ib]
        w = np.sqrt(np.maximum(qa, 0) * np.maximum(qb, 0))
        w = w / max(float(np.median(w)), 1e-12)
    return w


def alignment_grid(hw: tuple[int, int], n_subsample: int) -> np.ndarray:
    """Flat indices ``y * W + x`` of the regular grid of about ``n_subsample`` pixels the
    alignment samples in an (H, W) view (the pipeline asks the network for descriptors there)."""
    h, w = hw
    stride = max(1, int(np.floor(np.sqrt(h * w / max(n_subsample, 1)))))
    vv, uu = np.mgrid[stride // 2:h:stride, stride // 2:w:stride]
    return (vv * w + uu).ravel()


def mutual_nearest_neighbours(da: np.ndarray, db: np.ndarray, min_similarity: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ia, ib) of reciprocal nearest neighbours between two sets of L2-normalised
    descriptors (M_a, D) and (M_b, D) by dot product, keeping similarity >= min_similarity."""
    if len(da) == 0 or len(db) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    # Two products, each reduced along its rows: numpy's argmax down the columns of one
    # (M_a, M_b) product is strided and was half of an incremental alignment's time.
    ab = (da @ db.T).argmax(1)
    ba = (db @ da.T).argmax(1)
    ia = np.nonzero(ba[ab] == np.arange(len(da)))[0]
    ib = ab[ia]
    keep = (da[ia] * db[ib]).sum(1) >= min_similarity
    return ia[keep], ib[keep]


class _Solver:
    """Block-coordinate descent state over one _Problem (internal)."""

    def __init__(self, prob: _Problem, opts: AlignmentOptions, K_net: list[Optional[np.ndarray]],
                 priors: list[Optional[CameraPrior]]):
        self.p, self.o = prob, opts
        n = prob.n
        self.R = [np.eye(3) for _ in range(n)]
        self.t = [np.zeros(3) for _ in range(n)]
        self.s = np.ones(len(prob.preds))
        self.X: list[np.ndarray] = [np.zeros((len(i), 3)) for i in prob.idx]
        # consensus before projection on the rays: what the focal estimate is read from
        self.Xbar: list[np.ndarray] = [x.copy() for x in self.X]
        self.rw = [[np.ones(len(y)) for y in ys] for ys in prob.Y]
        self.K_known = [k is not None for k in K_net]
        self.K = [k.copy() if k is not None else None for k in K_net]
        self.priors = priors
        self.hard = [pr is not None and pr.T_fixed_cam is not None and pr.fixed for pr in priors]
        self.soft = [pr is not None and pr.T_fixed_cam is not None and not pr.fixed for pr in priors]
        self.known_scale = _known_baseline_scales(prob, priors, self.hard, opts) if opts.baseline_scale else {}

    # -- blocks ---------------------------------------------------------------------
    def solve_poses(self, pinned: Optional[int] = None) -> None:
        """Per camera: pose and the scales of the pairs it is first in, given X."""
        p = self.p
        for v in range(p.n):
            es = p.first[v]
            seg = np.concatenate([np.full(len(p.Y[e][0]) + len(p.Y[e][1]), k) for k, e in enumerate(es)])
            Y = np.concatenate([y for e in es for y in p.Y[e]])
            D = np.concatenate([self.X[p.view_of[e][side]] for e in es for side in (0, 1)])
            W = np.concatenate([p.C[e][side] * self.rw[e][side] for e in es for side in (0, 1)])
            fixed_pose = self.hard[v] or v == pinned
            for _ in range(1 if fixed_pose else 2):
                if not fixed_pose:
                    S, Dp, Wp = self.s[es][seg][:, None] * Y, D, W
                    if self.soft[v]:
                        S, Dp, Wp = self._with_soft_prior(v, S, D, W)
                    T = umeyama(S, Dp, Wp, with_scale=False)
                    self.R[v], self.t[v] = T.R, T.t
                ry = rotate(Y, self.R[v])
                num = np.bincount(seg, W * ((D - self.t[v]) * ry).sum(1), minlength=len(es))
                den = np.bincount(seg, W * (ry * ry).sum(1), minlength=len(es))
                ok = (den > 0) & (num > 0)
                self.s[es] = np.where(ok, num / np.where(ok, den, 1.0), self.s[es])
            for e in es:
                if e in self.known_scale:
                    self.s[e] = self.known_scale[e]

    def _with_soft_prior(self, v, S, D, W):
        """Append the prior camera's centre and axis tips (length = median depth) as
        pseudo-correspondences weighted ``prior.weight`` times the data's mean weight
        per point times the number of points / 4 (so weight 1 balances data and prior)."""
        pr = self.priors[v]
        L = float(np.median(np.linalg.norm(S, axis=1))) or 1.0
        q = np.array([[0, 0, 0], [L, 0, 0], [0, L, 0], [0, 0, L]], dtype=np.float64)
        T = pr.T_fixed_cam
        qd = q @ T[:3, :3].T + T[:3, 3]
        wq = np.full(4, pr.weight * W.sum() / 4.0)
        return np.concatenate([S, q]), np.concatenate([D, qd]), np.concatenate([W, wq])

    def targets(self, v: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """(P, S_v, 3) transformed predictions of view v and (P, S_v) weights."""
        p = self.p
        ys, ws = [], []
        for e, side in p.involving[v]:
            i = p.view_of[e][0]
            ys.append(self.s[e] * rotate(p.Y[e][side], self.R[i]) + self.t[i])
            ws.append(p.C[e][side])
        return np.stack(ys), np.stack(ws), p.involving[v]

    def solve_points(self, update_weights: bool = True) -> None:
        """Consensus points (robust weighted mean), projected on rays when K is set."""
        for v in range(self.p.n):
            Ys, Cs, inv = self.targets(v)
            rw = np.stack([self.rw[e][side] for e, side in inv])
            if update_weights:
                mean = (Ys * (Cs * rw)[..., None]).sum(0) / np.maximum((Cs * rw).sum(0), 1e-12)[:, None]
                r = norm3(Ys - mean)
                good = Cs > 0
                sigma = self.o.robust_c * max(float(np.median(r[good])) if good.any() else 0.0, 1e-9)
                rw = 1.0 / (1.0 + (r / sigma) ** 2)
                for k, (e, side) in enumerate(inv):
                    self.rw[e][side] = rw[k]
            W = Cs * rw
            num = (Ys * W[..., None]).sum(0)
            den = W.sum(0)
            if self.p.matches and self.o.match_weight > 0:
                self._add_match_targets(v, num, den, Cs)
            Xbar = num / np.maximum(den, 1e-12)[:, None]
            self.Xbar[v] = Xbar
            if self.K[v] is not None:
                Xbar = self._on_rays(v, Xbar)
            self.X[v] = Xbar

    def _add_match_targets(self, v: int, num: np.ndarray, den: np.ndarray, Cs: np.ndarray) -> None:
        """Descriptor matches pull a pixel of view v towards the current 3D point of the
        matched pixel in the other view (Cauchy-weighted, as MASt3R's 3D matching loss)."""
        good = Cs > 0
        cscale = float(np.median(Cs[good])) if good.any() else 1.0
        cur = num / np.maximum(den, 1e-12)[:, None]
        r_all = []
        tg = []
        for a, ia, b, ib, w in self.p.matches:
            for x, ix, y, iy in ((a, ia, b, ib), (b, ib, a, ia)):
                if x == v:
                    tgt = self.X[y][iy]
                    r_all.append(norm3(tgt - cur[ix]))
                    tg.append((ix, tgt, w))
        if not tg:
            return
        sigma = self.o.robust_c * max(float(np.median(np.concatenate(r_all))), 1e-9)
        for (ix, tgt, w), r in zip(tg, r_all):
            ww = self.o.match_weight * cscale * w / (1.0 + (r / sigma) ** 2)
            np.add.at(num, ix, tgt * ww[:, None])
            np.add.at(den, ix, ww)

    def _on_rays(self, v: int, Xw: np.ndarray) -> np.ndarray:
        r = pixel_rays(self.K[v], self.p.uv[v])
        pc = rotate(Xw - self.t[v], self.R[v].T)
        d = (pc * r).sum(1) / (r * r).sum(1)
        return rotate(d[:, None] * r, self.R[v]) + self.t[v]

    def solve_focals(self) -> None:
        """Weiszfeld focal per camera whose intrinsics are unknown (pp at image centre)."""
        for v in range(self.p.n):
            if self.K_known[v]:
                continue
            H, W = self.p.sizes[v]
            Xbar = self.Xbar[v]
            pc = rotate(Xbar - self.t[v], self.R[v].T)
            uv = self.p.uv[v] - [(W - 1) / 2.0, (H - 1) / 2.0]
            _, Cs, inv = self.targets(v)
            w = np.stack([Cs[k] * self.rw[e][side] for k, (e, side) in enumerate(inv)]).sum(0)
            try:
                f = estimate_focal_from_pixels(uv, pc, w)
            except ValueError:
                continue
            self.K[v] = pinhole(f, W, H)

    def residuals(self) -> np.ndarray:
        """(N,) median distance of predictions to consensus / median depth, per view."""
        out = np.zeros(self.p.n)
        for v in range(self.p.n):
            Ys, Cs, _ = self.targets(v)
            r = norm3(Ys - self.X[v])[Cs > 0]
            depth = np.median(rotate(self.X[v] - self.t[v], self.R[v].T)[:, 2])
            out[v] = float(np.median(r)) / max(abs(float(depth)), 1e-9) if r.size else np.inf
        return out

    # -- gauge ------------------------------------------------------------------------
    def apply_similarity(self, G: Sim3) -> None:
        """Move the whole solution by G (a gauge change; the objective only scales)."""
        for v in range(self.p.n):
            self.R[v] = G.R @ self.R[v]
            self.t[v] = G.apply(self.t[v][None])[0]
            self.X[v] = G.apply(self.X[v])
        self.s *= G.s

    def rescale_about(self, v: int, g: float) -> None:
        c = self.t[v].copy()
        self.apply_similarity(Sim3(g, np.eye(3), c - g * c))

    def rig_size(self, anchor: int) -> float:
        c = np.stack(self.t)
        return float(np.sqrt(np.mean(np.sum((c - c[anchor]) ** 2, 1))))


# --------------------------------------------------------------------------------------
# initialisation


def _reference_predictions(p: _Problem) -> list[int]:
    """Per view, the prediction whose first-view pointmap fixes that view's own frame (the
    most confident one)."""
    return [max(p.first[v], key=lambda e: float(p.C[e][0].mean())) for v in range(p.n)]


def _second_view_in_pair(p: _Problem, e: int, own: int) -> tuple[Sim3, np.ndarray]:
    """Robust Sim(3) from view j's own frame (the first-view pointmap of prediction ``own``)
    to prediction e's frame (camera i, e's scale), j = e's second view; and its robust
    weights. Its translation is camera j's centre as prediction e sees it."""
    return robust_umeyama(p.Y[own][0], p.Y[e][1], np.minimum(p.C[own][0], p.C[e][1]), True)


def _known_baseline_scales(p: _Problem, priors: Sequence[Optional[CameraPrior]], hard: Sequence[bool],
                           opts: AlignmentOptions) -> dict[int, float]:
    """Prediction index -> its scale (output units per network unit), measured for each
    prediction e = (i, j) whose two cameras are held at known poses: the known distance
    between the camera centres over the distance prediction e implies (camera j's centre in
    e's frame, from view j's own-frame pointmap, preferably of the reverse pair (j, i)).
    A ratio of two lengths is not biased towards zero by noisy predictions the way a least-
    squares scale is. Pairs whose implied baseline is too short against their depth (cameras
    at one spot) are left out: there the baseline measures nothing."""
    ref = _reference_predictions(p)
    out: dict[int, float] = {}
    for e, (i, j) in enumerate(p.view_of):
        if not (hard[i] and hard[j]):
            continue
        known = float(np.linalg.norm(np.asarray(priors[j].T_fixed_cam)[:3, 3] - np.asarray(priors[i].T_fixed_cam)[:3, 3]))
        good = p.C[e][1] > 0
        if known <= 0 or good.sum() < 16:
            continue
        own = next((k for k in p.first[j] if p.view_of[k][1] == i), ref[j])
        implied = float(np.linalg.norm(_second_view_in_pair(p, e, own)[0].t))
        depth = float(np.median(norm3(p.Y[e][1][good])))
        if implied > opts.min_baseline_rel * depth and np.isfinite(implied):
            out[e] = known / implied
    return out


def _mst_init(sol: _Solver, anchor: int, anchor_pose: np.ndarray) -> None:
    """Spanning tree over the most reliable pairs, relative Sim(3)s in closed form."""
    p = sol.p
    n = p.n
    ref = _reference_predictions(p)
    best: dict[tuple[int, int], tuple[float, Sim3]] = {}
    for e, (i, j) in enumerate(p.view_of):
        # j's reference frame -> this pair's frame (camera i, scale of e)
        Te, rw = _second_view_in_pair(p, e, ref[j])
        # i's reference frame -> this pair's frame: a pure scale (same camera)
        if e == ref[i]:
            sig = 1.0
        else:
            Ti, _ = robust_umeyama(p.Y[ref[i]][0], p.Y[e][0], np.minimum(p.C[ref[i]][0], p.C[e][0]), True)
            sig = Ti.s
        M = Sim3(1.0 / sig, np.eye(3), np.zeros(3)).compose(Te)  # ref(j) frame -> ref(i) frame
        w = np.minimum(p.C[ref[j]][0], p.C[e][1])
        score = float((w * rw).sum() / max(w.sum(), 1e-12)) * float(np.log1p(w.mean()))
        key = (min(i, j), max(i, j))
        if key not in best or score > best[key][0]:
            best[key] = (score, M if i < j else M.inverse())
    S = np.full((n, n), -np.inf)
    for (a, b), (score, _) in best.items():
        S[a, b] = S[b, a] = score
    W = [None] * n
    W[anchor] = Sim3(1.0, anchor_pose[:3, :3].copy(), anchor_pose[:3, 3].copy())
    for a, b in maximum_spanning_tree(S, root=anchor):
        # best[(lo, hi)] maps ref(hi) -> ref(lo); for the edge a -> b we need ref(b) -> ref(a)
        M_ba = best[(min(a, b), max(a, b))][1] if a < b else best[(min(a, b), max(a, b))][1].inverse()
        W[b] = W[a].compose(M_ba)
    for v in range(n):
        sol.R[v], sol.t[v] = W[v].R, W[v].t
        sol.X[v] = W[v].apply(p.Y[ref[v]][0])
        sol.Xbar[v] = sol.X[v]
        for e in p.first[v]:
            sol.s[e] = W[v].s


def _warm_init(sol: _Solver, state_poses: list[Optional[np.ndarray]]) -> None:
    """Poses from the previous solve; pair scales by linear least squares.

    With poses known, every view seen by two predictions gives a constraint linear in
    their scales:  s_e R_{e.i} Y_e^v + t_{e.i} ≈ s_f R_{f.i} Y_f^v + t_{f.i};  the camera
    baselines on the right-hand side make it absolute. Each prediction is tied to the
    view's best-confidence prediction, so the system has one equation block per
    (prediction, view) and costs linear time.
    """
    p = sol.p
    for v, T in enumerate(state_poses):
        sol.R[v], sol.t[v] = T[:3, :3].copy(), T[:3, 3].copy()
    m = len(p.preds)
    # one block per (prediction e, view v): s_e pe - s_0 q = tq - te, with q from the
    # view's most confident prediction e0
    blocks = []
    for v in range(p.n):
        inv = p.involving[v]
        if len(inv) < 2:
            continue
        e0, s0 = max(inv, key=lambda es: float(p.C[es[0]][es[1]].mean()))
        q = rotate(p.Y[e0][s0], sol.R[p.view_of[e0][0]])
        tq = sol.t[p.view_of[e0][0]]
        for e, side in inv:
            if e == e0:
                continue
            pe = rotate(p.Y[e][side], sol.R[p.view_of[e][0]])
            rhs = tq - sol.t[p.view_of[e][0]]
            blocks.append((e, e0, pe, q, rhs, np.minimum(p.C[e][side], p.C[e0][s0])))
    rws = [np.ones(len(b[5])) for b in blocks]
    s = np.ones(m)
    for it in range(4):  # IRLS (Cauchy) so that outlier points do not bias the scales
        A = np.zeros((m, m))
        b = np.zeros(m)
        for (e, e0, pe, q, rhs, w0), rw in zip(blocks, rws):
            w = w0 * rw
            pq = float((w * (pe * q).sum(1)).sum())
            A[e, e] += float((w * (pe * pe).sum(1)).sum())
            A[e0, e0] += float((w * (q * q).sum(1)).sum())
            A[e, e0] -= pq
            A[e0, e] -= pq
            b[e] += float((w * (pe * rhs).sum(1)).sum())
            b[e0] -= float((w * (q * rhs).sum(1)).sum())
        A += np.eye(m) * 1e-9 * max(np.trace(A) / m, 1e-12)
        s = np.linalg.solve(A, b)
        if it < 3:
            res = [norm3(s[e] * pe - s[e0] * q - rhs) for (e, e0, pe, q, rhs, _) in blocks]
            sigma = sol.o.robust_c * max(float(np.median(np.concatenate(res))) if res else 0.0, 1e-12)
            rws = [1.0 / (1.0 + (r / sigma) ** 2) for r in res]
    sol.s = np.where(s > 0, s, np.median(s[s > 0]) if (s > 0).any() else 1.0)


# --------------------------------------------------------------------------------------
# public API


def _resolve_priors(prob: _Problem, priors: Optional[Sequence[Optional[CameraPrior]]]) -> tuple[list, list]:
    n = prob.n
    priors = list(priors) if priors is not None else [None] * n
    if len(priors) != n:
        raise ValueError(f"got {len(priors)} camera priors for {n} cameras")
    K_net: list[Optional[np.ndarray]] = []
    for v, pr in enumerate(priors):
        if pr is None or pr.K is None:
            K_net.append(None)
            continue
        K = np.asarray(pr.K, dtype=np.float64)
        if K.shape != (3, 3):
            raise ValueError(f"camera {v}: intrinsics must be (3, 3), got {K.shape}")
        H, W = prob.sizes[v]
        K_net.append(rescale_intrinsics(K, pr.image_size, (W, H)) if pr.image_size else K)
        if pr.T_fixed_cam is not None and np.asarray(pr.T_fixed_cam).shape != (4, 4):
            raise ValueError(f"camera {v}: T_fixed_cam must be (4, 4), got {np.asarray(pr.T_fixed_cam).shape}")
    return priors, K_net


def _metric(priors) -> bool:
    c = [np.asarray(pr.T_fixed_cam)[:3, 3] for pr in priors if pr is not None and pr.T_fixed_cam is not None]
    return len(c) >= 2 and float(np.max(np.linalg.norm(np.stack(c) - c[0], axis=1))) > 0.01


def _prior_gauge(sol: _Solver) -> None:
    """Move a cold-start solution onto the extrinsic priors (closed form)."""
    idx = [v for v, pr in enumerate(sol.priors) if pr is not None and pr.T_fixed_cam is not None]
    if not idx:
        return
    if len(idx) == 1 or not _metric(sol.priors):
        v = idx[0]
        T = sol.priors[v].T_fixed_cam
        cur = Sim3(1.0, sol.R[v], sol.t[v])
        G = Sim3(1.0, T[:3, :3], T[:3, 3]).compose(cur.inverse())
    else:
        L = max(float(np.linalg.norm(sol.t[idx[0]] - sol.t[idx[1]])), 1e-9)
        # centres determine the scale; orientations enter through axis tips of matching length
        Gc = umeyama(np.stack([sol.t[v] for v in idx]), np.stack([sol.priors[v].T_fixed_cam[:3, 3] for v in idx]),
                     with_scale=True)
        src = np.concatenate([np.stack([sol.t[v], sol.t[v] + L * sol.R[v][:, 0], sol.t[v] + L * sol.R[v][:, 1],
                                        sol.t[v] + L * sol.R[v][:, 2]]) for v in idx])
        Ls = L * Gc.s
        dst = np.concatenate([np.stack([T[:3, 3], T[:3, 3] + Ls * T[:3, 0], T[:3, 3] + Ls * T[:3, 1],
                                        T[:3, 3] + Ls * T[:3, 2]]) for T in (sol.priors[v].T_fixed_cam for v in idx)])
        G = umeyama(src, dst, with_scale=True)
    sol.apply_similarity(G)
    for v in idx:  # hard priors hold exactly from here on
        if sol.hard[v]:
            sol.R[v] = sol.priors[v].T_fixed_cam[:3, :3].astype(np.float64).copy()
            sol.t[v] = sol.priors[v].T_fixed_cam[:3, 3].astype(np.float64).copy()


def _iterate(sol: _Solver, iters: int, pinned: Optional[int], scale_gauge: Optional[tuple[int, float]],
             size_gauge: Optional[tuple[int, float]]) -> None:
    omega = sol.o.relaxation
    for it in range(iters):
        R0, t0, s0 = [r.copy() for r in sol.R], [t.copy() for t in sol.t], sol.s.copy()
        sol.solve_poses(pinned=pinned)
        if omega != 1.0 and it > 0:
            _over_relax(sol, R0, t0, s0, omega)
        if scale_gauge is not None:
            v, target = scale_gauge
            g = target / float(np.exp(np.mean(np.log(sol.s[sol.p.first[v]]))))
            sol.rescale_about(v, g)
        if size_gauge is not None:
            v, target = size_gauge
            cur = sol.rig_size(v)
            if cur > 0 and target > 0:
                sol.rescale_about(v, target / cur)
        sol.solve_points()
        if it % 3 == 2 or it == iters - 1:
            sol.solve_focals()


def _over_relax(sol: _Solver, R0, t0, s0, omega: float) -> None:
    """Successive over-relaxation of the pose/scale block: step ``omega`` times as far as
    the closed-form update went (on the rotation manifold for R, in log space for s).
    Block-coordinate descent crawls along the weakly-constrained scale/translation
    directions; over-relaxation speeds that up several fold."""
    from hamst3r_ros.geometry.sim3 import rotation_from_axis_angle
    for v in range(sol.p.n):
        if sol.hard[v]:
            continue
        dR = R0[v].T @ sol.R[v]
        ang = np.radians(float(rotation_angle_deg(dR)))
        if ang > 1e-12:
            axis = np.array([dR[2, 1] - dR[1, 2], dR[0, 2] - dR[2, 0], dR[1, 0] - dR[0, 1]]) / (2 * np.sin(ang))
            sol.R[v] = R0[v] @ rotation_from_axis_angle(axis * ang * omega)
        sol.t[v] = t0[v] + omega * (sol.t[v] - t0[v])
    ok = (s0 > 0) & (sol.s > 0)
    sol.s = np.where(ok, s0 * np.exp(omega * np.log(np.where(ok, sol.s / s0, 1.0))), sol.s)


def _dense_output(sol: _Solver, prob: _Problem) -> tuple[list, list, list]:
    """Full-resolution consensus points, depth and confidence per view."""
    pts_out, depth_out, conf_out = [], [], []
    res_med = []
    for v in range(prob.n):
        Ys, Cs, _ = sol.targets(v)
        res_med.append(float(np.median(norm3(Ys - sol.X[v])[Cs > 0])) if (Cs > 0).any() else 0.0)
    for v in range(prob.n):
        H, W = prob.sizes[v]
        Ys, Cs = [], []
        for e, side in prob.involving[v]:
            pr = prob.preds[e]
            i = prob.view_of[e][0]
            y = np.asarray(pr.pts_i if side == 0 else pr.pts_j, dtype=np.float32).reshape(-1, 3)
            c = np.asarray(pr.conf_i if side == 0 else pr.conf_j, dtype=np.float32).reshape(-1)
            ok = np.isfinite(y).all(1) & np.isfinite(c) & (c >= sol.o.min_conf)
            Ys.append(np.float32(sol.s[e]) * rotate(np.nan_to_num(y), sol.R[i]) + sol.t[i].astype(np.float32))
            Cs.append(np.where(ok, c, 0.0).astype(np.float32))
        Ys, Cs = np.stack(Ys), np.stack(Cs)
        sigma = np.float32(sol.o.robust_c * max(res_med[v], 1e-9))
        # two IRLS passes per pixel: mean -> Cauchy weights -> mean
        rw = np.ones_like(Cs)
        for _ in range(2):
            w = Cs * rw
            X = (Ys * w[..., None]).sum(0) / np.maximum(w.sum(0), 1e-12)[:, None]
            r = norm3(Ys - X)
            rw = 1.0 / (1.0 + (r / sigma) ** 2)
        w = Cs * rw
        X = (Ys * w[..., None]).sum(0) / np.maximum(w.sum(0), 1e-12)[:, None]
        if sol.K[v] is not None:
            vv, uu = np.mgrid[0:H, 0:W]
            r = pixel_rays(sol.K[v], np.stack([uu.ravel(), vv.ravel()], 1).astype(np.float64)).astype(np.float32)
            pc = rotate(X - sol.t[v].astype(np.float32), sol.R[v].T)
            d = (pc * r).sum(1) / (r * r).sum(1)
            X = rotate(d[:, None] * r, sol.R[v]) + sol.t[v].astype(np.float32)
        else:
            d = rotate(X - sol.t[v].astype(np.float32), sol.R[v].T)[:, 2]
        pts_out.append(X.reshape(H, W, 3).astype(np.float32))
        depth_out.append(d.reshape(H, W).astype(np.float32))
        conf_out.append((w.sum(0) / len(Cs)).reshape(H, W).astype(np.float32))
    return pts_out, depth_out, conf_out


def _pair_scores(sol: _Solver, prob: _Problem) -> np.ndarray:
    acc = np.zeros((prob.n, prob.n))
    cnt = np.zeros((prob.n, prob.n))
    for e, (i, j) in enumerate(prob.view_of):
        val = np.mean([float(np.mean(prob.C[e][k] * sol.rw[e][k])) for k in (0, 1)])
        for a, b in ((i, j), (j, i)):
            acc[a, b] += val
            cnt[a, b] += 1
    return np.where(cnt > 0, acc / np.maximum(cnt, 1), -np.inf)


def _finish(sol: _Solver, prob: _Problem, names: list[str], priors, mode: str, iters: int, t0: float,
            anchor: int, frames_since_init: int) -> AlignmentResult:
    n = prob.n
    pts, depth, conf = _dense_output(sol, prob)
    for v in range(n):  # cameras whose focal could not be estimated still get one
        if sol.K[v] is None:
            H, W = prob.sizes[v]
            sol.K[v] = pinhole(float(max(H, W)), W, H)
    T = np.stack([np.block([[sol.R[v], sol.t[v][:, None]], [np.zeros((1, 3)), np.ones((1, 1))]]) for v in range(n)])
    K_net = np.stack(sol.K)
    K_in = np.stack([unscale_intrinsics(K_net[v], priors[v].image_size, prob.sizes[v][::-1])
                     if priors[v] is not None and priors[v].image_size else K_net[v] for v in range(n)])
    metric = _metric(priors)
    note = ("metric: scale fixed by known extrinsics of cameras "
            + ", ".join(names[v] for v, pr in enumerate(priors) if pr is not None and pr.T_fixed_cam is not None)
            if metric else "network scale: no metric prior (needs >= 2 known camera extrinsics with distinct centres)")
    res = sol.residuals()
    view_scale = np.array([float(np.exp(np.mean(np.log(sol.s[prob.first[v]])))) for v in range(n)])
    state = AlignmentState(
        T_fixed_cam={names[v]: T[v].copy() for v in range(n)},
        K_net={names[v]: K_net[v].copy() for v in range(n)},
        residual={names[v]: float(res[v]) for v in range(n)},
        anchor=names[anchor], rig_size=sol.rig_size(anchor), metric=metric,
        frames_since_init=frames_since_init, fused={nm: 1 for nm in names})
    return AlignmentResult(
        camera_names=list(names), T_fixed_cam=T, K_net=K_net, K=K_in, depth=depth, points=pts,
        confidence=conf, view_scale=view_scale,
        pair_scale={prob.view_of[e]: float(sol.s[e]) for e in range(len(prob.preds))},
        pair_score=_pair_scores(sol, prob),
        metric=metric, scale_note=note, residual=res, mode=mode, iterations=iters,
        time_s=time.perf_counter() - t0, state=state, matches=list(prob.pixel_matches))


def global_alignment(preds: Sequence[PairPrediction], camera_names: Sequence[str],
                     priors: Optional[Sequence[Optional[CameraPrior]]] = None,
                     options: Optional[AlignmentOptions] = None, _mode: str = "global") -> AlignmentResult:
    """Cold-start alignment of one frame set.

    Args:
        preds: pair predictions; view indices index ``camera_names``. Every camera must be
            the first view of at least one prediction (run pairs in both directions).
        camera_names: N camera names (stable across frame sets).
        priors: N CameraPrior or None entries.
        options: solver settings.
    """
    t0 = time.perf_counter()
    opts = options or AlignmentOptions()
    names = list(camera_names)
    prob = _Problem(preds, len(names), opts)
    priors, K_net = _resolve_priors(prob, priors)
    sol = _Solver(prob, opts, K_net, priors)
    has_prior = [pr is not None and pr.T_fixed_cam is not None for pr in priors]
    anchor = next((v for v in range(prob.n) if sol.hard[v]), next((v for v in range(prob.n) if has_prior[v]), 0))
    _mst_init(sol, anchor, np.eye(4))
    _prior_gauge(sol)
    pinned = anchor if not any(has_prior) else None
    scale_gauge = None if _metric(priors) else (anchor, float(np.exp(np.mean(np.log(sol.s[prob.first[anchor]])))))
    sol.solve_points()
    _iterate(sol, opts.iters_global, pinned, scale_gauge, None)
    return _finish(sol, prob, names, priors, _mode, opts.iters_global, t0, anchor, 0)


def incremental_alignment(preds: Sequence[PairPrediction], camera_names: Sequence[str], state: Optional[AlignmentState],
                          priors: Optional[Sequence[Optional[CameraPrior]]] = None,
                          options: Optional[AlignmentOptions] = None) -> AlignmentResult:
    """Warm-started alignment of a later frame set of the same rig.

    Starts from ``state`` (the previous result's ``.state``) and runs a few sweeps: that is
    this set's measurement of every camera's pose. A static rig accumulates evidence
    (``rig_memory``): the measurements are fused into running pose estimates, and the output
    is solved with the cameras held at those estimates, so that poses converge instead of
    jumping. A camera whose deviation persists over two sets moved: it alone is re-localised
    (a cold solve with the others held). A cold start (mode says why) only happens without a
    usable state, when a new camera appears, or when every camera moved at once. Cameras
    absent from this frame set are not in the result; the state keeps their last pose.
    """
    t0 = time.perf_counter()
    opts = options or AlignmentOptions()
    names = list(camera_names)
    if state is None or not state.T_fixed_cam:
        return global_alignment(preds, names, priors, opts, _mode="global")
    new = [nm for nm in names if nm not in state.T_fixed_cam]
    if new:
        mode = f"global (re-initialised: new cameras {new})"
        return _keep_absent(global_alignment(preds, names, priors, opts, _mode=mode), state)
    res, hard, anchor = _warm_solve(preds, names, state, priors, opts, t0, "incremental")
    movable = [nm for v, nm in enumerate(names) if not hard[v] and v != anchor]
    if not movable:  # every pose held by a prior: nothing to accumulate
        res.rig_state = "given"
        return _keep_absent(res, state)
    size = max(state.rig_size, 1e-9)
    upd = update_rig(state.T_fixed_cam, state.fused, state.pending,
                     {nm: res.T_fixed_cam[v] for v, nm in enumerate(names)}, movable,
                     opts.moved_rot_deg, opts.moved_trans_rel * size, opts.fuse_window)
    if len(upd.moved) == len(movable) and len(movable) >= 2:
        return _keep_absent(global_alignment(preds, names, priors, opts,
                                             _mode=f"global (re-initialised: every camera moved: {upd.moved})"), state)
    poses = {**state.T_fixed_cam, **upd.poses}
    moved = []
    if upd.moved:
        # Re-localise the cameras that seem to have moved: a cold solve with every other
        # camera held. A moved camera's wrong start also drags its neighbours' warm
        # measurements along, so a camera re-localised to where it was did not move.
        reloc = global_alignment(preds, names, _held_priors(priors, names, poses, keep_free=upd.moved), opts)
        for nm in upd.moved:
            T_new = reloc.T_fixed_cam[names.index(nm)]
            dr, dt = pose_gap(T_new, state.T_fixed_cam[nm])
            if dr > opts.moved_rot_deg or dt > opts.moved_trans_rel * size:
                moved.append(nm)
                poses[nm] = T_new
            else:
                poses[nm] = state.T_fixed_cam[nm]
                upd.fused[nm] = state.fused.get(nm, 1)
    mode = f"incremental (re-localised: {', '.join(moved)} moved)" if moved else "incremental"
    out, _, _ = _warm_solve(preds, names, replace(state, T_fixed_cam=poses), _held_priors(priors, names, poses),
                            opts, t0, mode)
    if moved:
        rig_state = f"re-localised: {', '.join(moved)}"
    else:
        rig_state = (f"deviating: {', '.join(upd.deviating)}" if upd.deviating else
                     "converging" if min(upd.fused.get(nm, 1) for nm in movable) < opts.fuse_window else "stable")
    # Holding poses is a device of this solve, not a prior of the user's: scale and note are
    # those of the user's priors.
    out.metric, out.scale_note, out.state.metric = res.metric, res.scale_note, res.metric
    out.state.anchor, out.state.rig_size = res.state.anchor, res.state.rig_size
    out.state.frames_since_init = state.frames_since_init + 1
    out.state.fused = {**upd.fused, **{nm: 1 for nm in moved}}
    out.state.pending = upd.pending
    out.rig_state = rig_state
    out.time_s = time.perf_counter() - t0
    return _keep_absent(out, state)


def _held_priors(priors: Optional[Sequence[Optional[CameraPrior]]], names: Sequence[str],
                 poses: dict[str, np.ndarray], keep_free: Sequence[str] = ()) -> list[CameraPrior]:
    """The user's priors with every camera's pose held (fixed) at ``poses``, except the
    cameras in ``keep_free`` (which keep the user's prior, or none)."""
    out = []
    for v, nm in enumerate(names):
        pr = priors[v] if priors is not None else None
        if nm in keep_free:
            out.append(pr)
        else:
            out.append(CameraPrior(K=pr.K if pr is not None else None, image_size=pr.image_size if pr is not None else None,
                                   T_fixed_cam=poses[nm], fixed=True))
    return out


def _warm_solve(preds: Sequence[PairPrediction], names: list[str], state: AlignmentState,
                priors: Optional[Sequence[Optional[CameraPrior]]], opts: AlignmentOptions, t0: float, mode: str
                ) -> tuple[AlignmentResult, list[bool], int]:
    """A few sweeps from ``state``: (result, which cameras a prior holds, anchor index)."""
    prob = _Problem(preds, len(names), opts)
    priors, K_net = _resolve_priors(prob, priors)
    # cameras whose focal was estimated before keep it as a starting point
    K_start = [K_net[v] if K_net[v] is not None else state.K_net.get(names[v]) for v in range(prob.n)]
    sol = _Solver(prob, opts, K_start, priors)
    sol.K_known = [k is not None for k in K_net]
    has_prior = [pr is not None and pr.T_fixed_cam is not None for pr in priors]
    poses = [np.asarray(priors[v].T_fixed_cam) if sol.hard[v] else state.T_fixed_cam[names[v]] for v in range(prob.n)]
    _warm_init(sol, poses)
    anchor = names.index(state.anchor) if state.anchor in names else 0
    if any(has_prior):
        anchor = next((v for v in range(prob.n) if sol.hard[v]), next(v for v in range(prob.n) if has_prior[v]))
    pinned = anchor if not any(has_prior) else None
    # the world scale of the previous solve, measured on the cameras present now
    prev_c = np.stack([state.T_fixed_cam[nm][:3, 3] for nm in names])
    prev_size = float(np.sqrt(np.mean(np.sum((prev_c - prev_c[anchor]) ** 2, 1))))
    size_gauge = None if _metric(priors) else (anchor, prev_size)
    sol.solve_points()
    _iterate(sol, opts.iters_incremental, pinned, None, size_gauge)
    res = _finish(sol, prob, names, priors, mode, opts.iters_incremental, t0, anchor, state.frames_since_init + 1)
    return res, list(sol.hard), anchor


def _keep_absent(res: AlignmentResult, prev: AlignmentState) -> AlignmentResult:
    """Carry cameras absent from this frame set over in the state (last known pose)."""
    for nm, T in prev.T_fixed_cam.items():
        if nm not in res.state.T_fixed_cam:
            res.state.T_fixed_cam[nm] = T
            if nm in prev.K_net:
                res.state.K_net[nm] = prev.K_net[nm]
            if nm in prev.residual:
                res.state.residual[nm] = prev.residual[nm]
    return res
