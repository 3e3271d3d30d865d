"""Depth refined from pixel matches: the second stage of a sparse global alignment.

After :mod:`hamst3r_ros.geometry.alignment`, every view has a dense depth map (the consensus
of the network's pointmaps) and a camera (pose ``T_fixed_cam``, intrinsics ``K_net``). A
network's depth carries smooth, view-wide errors (a wrong scale, a tilt, a bulge) that the
pointmaps agree on, so the alignment cannot see them. Matches can: a pixel correspondence
between two views, triangulated with the cameras, gives the depth of that pixel in both
views independently of any predicted depth. MASt3R's sparse GA uses them in a second stage
that minimises a 2D reprojection loss over per-anchor depths by gradient descent; here the
same evidence is used in closed form:

1. **Triangulate** every match (midpoint of the two rays' closest approach) and keep it only
   when it is in front of both cameras (cheirality), reprojects within ``max_reproj_px`` in
   both images, is seen under a triangulation angle of at least ``min_angle_deg`` (depth is
   ill-conditioned below), and agrees with the current depth of at least one of its two
   views within a robust bound (a wrong match lands far from both; a true match on a view
   with a depth error still agrees with the other view). A pair's matches count only when
   they pass the geometric tests clearly more often than the same pixels paired at random
   (a chance test: random pixels land near an epipolar line by luck, 1-10 % of the time at
   512-64 px).
2. **Fit a correction per view**, multiplicative, in log-depth:
   ``log d_new(u, v) = log d(u, v) + c(u, v)`` with ``c`` bilinear over a coarse grid of
   control points, its values regularised towards zero and towards their neighbours
   (a Gaussian prior: ``prior_sigma``, ``smooth_sigma``), fitted by IRLS with a Cauchy loss to
   ``log(d_triangulated / d)`` at the matched pixels. With fewer inliers than
   ``field_min_matches`` the field degenerates to a per-view scale (and a shift when the
   matched depths span a wide range): ``d_new = s d + t``.
3. **Gate**: a view with fewer than ``min_matches`` inliers, or an inlier share of its
   counted matches below ``min_inlier_ratio``, is left exactly as it was. Random matches (an
   untrained descriptor head) do no better than chance, so nothing changes. Wrong matches
   that beat chance (a weak head matching pixels of similar rows lands near epipolar lines)
   triangulate at random depths that no smooth correction fits: a view changes only when its
   inliers agree with the corrected depth to ``max_fit_residual``. Nor does a view whose depth
   already agrees with its matches: the correction must cut the median log-depth gap of its
   inliers by ``min_gain``.

Units: the alignment's (metres when it is metric, else the network's scale); points in the
alignment's fixed frame; cameras are optical frames (x right, y down, z forward); pixels at
the network's resolution, (u, v) = (column, row), pixel centres at integers.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np

from hamst3r_ros.geometry.alignment import AlignmentResult, PixelMatches
from hamst3r_ros.geometry.focal import pixel_rays


@dataclass
class DepthRefineOptions:
    """Settings of the depth refinement (defaults suit network-resolution views of ~128-512 px).

    Attributes:
        enabled: False returns the alignment unchanged.
        grid: (columns, rows) of the correction field's control points (>= 2 each).
        min_matches: inlier matches a view needs to be corrected at all.
        min_inlier_ratio: share of a pair's matches that must pass the geometric tests for the
            pair to count, and inlier share (of the counted pairs' matches) a view needs.
        chance_factor: a pair counts only when its matches pass the geometric tests this many
            times as often as the same pixels of view a paired with random pixels of view b do.
        field_min_matches: below this many inliers the correction is a scale (+ shift), not a field.
        max_reproj_px: largest reprojection error of a triangulated match in either image, pixels.
        min_angle_deg: smallest triangulation angle, degrees.
        max_log_gap: largest |log(d_triangulated / d)| a match may show against the view it
            agrees best with (the robust bound never exceeds it).
        robust_k: the robust bound is ``robust_k`` x the median absolute log-depth gap (at least
            0.02), capped by ``max_log_gap``; the Cauchy scale of the fit is the same multiple
            of its residuals' median.
        min_gain: a view is corrected only when the correction cuts the median |log-depth gap| of
            its inlier matches by at least this share (else its depth already agrees with the
            matches, up to noise, and the correction would only fit the noise).
        max_fit_residual: a view is corrected only when the median |log-depth gap| of its inlier
            matches after the fit is at most this: true matches triangulated with the right
            cameras agree with the corrected depth to the network's pixel noise (~1 %), wrong
            matches near epipolar lines do not (the embedded model's: ~20 %).
        prior_sigma: prior standard deviation of each control point's log-correction.
        smooth_sigma: prior standard deviation of the difference between neighbouring control points.
        iters: IRLS iterations.
    """

    enabled: bool = True
    grid: tuple[int, int] = (4, 3)
    min_matches: int = 30
    min_inlier_ratio: float = 0.1
    chance_factor: float = 3.0
    field_min_matches: int = 120
    max_reproj_px: float = 2.0
    min_angle_deg: float = 1.0
    max_log_gap: float = 0.5
    robust_k: float = 4.0
    min_gain: float = 0.5
    max_fit_residual: float = 0.06
    prior_sigma: float = 0.3
    smooth_sigma: float = 0.1
    iters: int = 6

    def check(self) -> None:
        """Raise ValueError naming the first setting out of range."""
        gx, gy = self.grid
        if gx < 2 or gy < 2:
            raise ValueError(f"DepthRefineOptions.grid {self.grid}: expected at least 2 x 2 control points")
        if self.min_matches < 3:
            raise ValueError(f"DepthRefineOptions.min_matches {self.min_matches}: expected >= 3")
        if not 0.0 <= self.min_gain < 1.0:
            raise ValueError(f"DepthRefineOptions.min_gain {self.min_gain}: expected in [0, 1)")
        if not 0.0 <= self.min_inlier_ratio <= 1.0:
            raise ValueError(f"DepthRefineOptions.min_inlier_ratio {self.min_inlier_ratio}: expected in [0, 1]")
        for name in ("max_reproj_px", "max_log_gap", "robust_k", "prior_sigma", "smooth_sigma", "chance_factor",
                     "max_fit_residual"):
            if not getattr(self, name) > 0:
                raise ValueError(f"DepthRefineOptions.{name} {getattr(self, name)}: expected > 0")


@dataclass
class ViewRefinement:
    """What the refinement did to one view.

    Attributes:
        matches: matches touching this view (after de-duplication).
        inliers: those that passed every test and fit the correction.
        model: "field", "scale", "scale+shift" or "unchanged: <reason>".
        median_correction: median |d_new / d - 1| over the view's valid pixels (0 when unchanged).
    """

    matches: int
    inliers: int
    model: str
    median_correction: float = 0.0

    @property
    def corrected(self) -> bool:
        return not self.model.startswith("unchanged")


@dataclass
class DepthRefinement:
    """The refined alignment and a report.

    Attributes:
        result: the alignment with refined ``depth`` and ``points`` (the input object itself
            when no view changed; otherwise a copy sharing every other field).
        views: one ViewRefinement per camera, in the alignment's order.
        matches_used: inlier matches over all views (a match counts once per view it corrects).
        time_s: wall time.
    """

    result: AlignmentResult
    views: list[ViewRefinement]
    matches_used: int
    time_s: float = 0.0

    @property
    def summary(self) -> str:
        """One line for /diagnostics: "corrected 3/4 views (1520 matches used)"."""
        n = sum(v.corrected for v in self.views)
        return f"corrected {n}/{len(self.views)} views ({self.matches_used} matches used)"


# --------------------------------------------------------------------------------------
# geometry


def project(T_fixed_cam: np.ndarray, K: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (M, 2) and z-depths (M,) of fixed-frame points X (M, 3) in a camera."""
    pc = (X - T_fixed_cam[:3, 3]) @ T_fixed_cam[:3, :3]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.stack([K[0, 0] * pc[:, 0] / pc[:, 2] + K[0, 2], K[1, 1] * pc[:, 1] / pc[:, 2] + K[1, 2]], 1)
    return uv, pc[:, 2]


@dataclass
class Triangulation:
    """Matches triangulated between cameras a and b (M matches).

    Attributes:
        X: (M, 3) fixed-frame points (midpoint of the rays' closest approach).
        depth_a, depth_b: (M,) z-depths in each camera.
        reproj_px: (M,) larger of the two reprojection errors, pixels.
        angle_deg: (M,) angle between the two rays at X, degrees.
        ok: (M,) in front of both cameras, reprojection and angle within the limits.
    """

    X: np.ndarray
    depth_a: np.ndarray
    depth_b: np.ndarray
    reproj_px: np.ndarray
    angle_deg: np.ndarray
    ok: np.ndarray


def triangulate(T_a: np.ndarray, K_a: np.ndarray, uv_a: np.ndarray, T_b: np.ndarray, K_b: np.ndarray,
                uv_b: np.ndarray, max_reproj_px: float = 2.0, min_angle_deg: float = 1.0) -> Triangulation:
    """Triangulate pixel matches uv_a (M, 2) <-> uv_b (M, 2) seen by cameras with optical-frame
    poses T_a, T_b (4, 4, in the fixed frame) and intrinsics K_a, K_b. Exact for exact
    correspondences (the two rays then meet)."""
    Ca, Cb = T_a[:3, 3], T_b[:3, 3]
    da = pixel_rays(K_a, uv_a) @ T_a[:3, :3].T
    db = pixel_rays(K_b, uv_b) @ T_b[:3, :3].T
    w0 = Ca - Cb
    a, b, c = (da * da).sum(1), (da * db).sum(1), (db * db).sum(1)
    d, e = da @ w0, db @ w0
    den = a * c - b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        la = (b * e - c * d) / den
        lb = (a * e - b * d) / den
    X = 0.5 * ((Ca + la[:, None] * da) + (Cb + lb[:, None] * db))
    pa, za = project(T_a, K_a, X)
    pb, zb = project(T_b, K_b, X)
    err = np.maximum(np.linalg.norm(pa - uv_a, axis=1), np.linalg.norm(pb - uv_b, axis=1))
    ra, rb = X - Ca, X - Cb
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = (ra * rb).sum(1) / (np.linalg.norm(ra, axis=1) * np.linalg.norm(rb, axis=1))
    ang = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    with np.errstate(invalid="ignore"):
        ok = (np.isfinite(X).all(1) & (la > 0) & (lb > 0) & (za > 0) & (zb > 0)
              & (err <= max_reproj_px) & (ang >= min_angle_deg))
    return Triangulation(X, za, zb, err, ang, ok)


# --------------------------------------------------------------------------------------
# the correction model


def bilinear_basis(uv: np.ndarray, width: int, height: int, grid: tuple[int, int]) -> np.ndarray:
    """(M, gx * gy) bilinear weights of pixels uv (M, 2) on a gx x gy grid of control points
    spanning the image corners (row-major: index = row * gx + column). Rows sum to 1."""
    gx, gy = grid
    x = np.clip(np.asarray(uv[:, 0], np.float64) / max(width - 1, 1), 0, 1) * (gx - 1)
    y = np.clip(np.asarray(uv[:, 1], np.float64) / max(height - 1, 1), 0, 1) * (gy - 1)
    x0 = np.minimum(np.floor(x).astype(int), gx - 2)
    y0 = np.minimum(np.floor(y).astype(int), gy - 2)
    fx, fy = x - x0, y - y0
    B = np.zeros((len(x), gx * gy))
    rows = np.arange(len(x))
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(B, (rows, (y0 + dy) * gx + x0 + dx), wy * wx)
    return B


def _difference_operator(grid: tuple[int, int]) -> np.ndarray:
    """(E, G) first differences between horizontally and vertically neighbouring control points."""
    gx, gy = grid
    rows = []
    for r in range(gy):
        for c in range(gx):
            for rr, cc in ((r, c + 1), (r + 1, c)):
                if rr < gy and cc < gx:
                    d = np.zeros(gx * gy)
                    d[r * gx + c], d[rr * gx + cc] = -1.0, 1.0
                    rows.append(d)
    return np.array(rows)


def _cauchy(r: np.ndarray, k: float) -> np.ndarray:
    sigma = k * max(float(np.median(np.abs(r))) if r.size else 0.0, 0.005)
    return 1.0 / (1.0 + (r / sigma) ** 2)


def fit_log_field(uv: np.ndarray, r: np.ndarray, w: np.ndarray, width: int, height: int,
                  opts: DepthRefineOptions) -> tuple[np.ndarray, np.ndarray]:
    """Control-point values (gx * gy,) of the smooth log-depth correction fitted robustly
    (Cauchy IRLS) to log-ratios r (M,) with weights w (M,) at pixels uv (M, 2), and the final
    robust weights (M,). Data precision is the weights over the squared robust residual scale,
    so the prior matters only where matches are few."""
    B = bilinear_basis(uv, width, height, opts.grid)
    D = _difference_operator(opts.grid)
    P = np.eye(B.shape[1]) / opts.prior_sigma ** 2 + D.T @ D / opts.smooth_sigma ** 2
    c = np.zeros(B.shape[1])
    rw = np.ones(len(r))
    for _ in range(opts.iters):
        res = r - B @ c
        rw = _cauchy(res, opts.robust_k)
        scale = max(1.4826 * float(np.median(np.abs(res))), 0.005)
        W = w * rw / scale ** 2
        c = np.linalg.solve(B.T @ (W[:, None] * B) + P, B.T @ (W * r))
    return c, _cauchy(r - B @ c, opts.robust_k)


def fit_scale_shift(d: np.ndarray, d_tri: np.ndarray, w: np.ndarray, opts: DepthRefineOptions,
                    with_shift: bool) -> tuple[float, float, np.ndarray]:
    """Scale s and shift t (output units) with s d + t ~ d_tri, robust (Cauchy IRLS on the
    relative error), and the final robust weights. Without ``with_shift`` t is 0."""
    s, t = 1.0, 0.0
    rw = np.ones(len(d))
    for _ in range(opts.iters):
        rel = (s * d + t) / d_tri - 1.0
        rw = _cauchy(rel, opts.robust_k)
        W = w * rw / d_tri ** 2  # relative error: every match counts alike whatever its depth
        if with_shift:
            A = np.stack([d, np.ones_like(d)], 1)
            s, t = np.linalg.solve(A.T @ (W[:, None] * A) + 1e-9 * np.eye(2), A.T @ (W * d_tri))
        else:
            s = float((W * d * d_tri).sum() / max((W * d * d).sum(), 1e-300))
    return float(s), float(t), _cauchy((s * d + t) / d_tri - 1.0, opts.robust_k)


# --------------------------------------------------------------------------------------
# the stage


def _sample_depth(depth: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Depth at the nearest pixel (NaN outside the image or where the depth is not > 0).
    Nearest, not bilinear: matches sit on depth edges as often as anywhere."""
    H, W = depth.shape
    fin = np.isfinite(uv).all(1)
    u = np.where(fin, np.rint(np.where(fin, uv[:, 0], -1)), -1).astype(np.int64)
    v = np.where(fin, np.rint(np.where(fin, uv[:, 1], -1)), -1).astype(np.int64)
    inside = (u >= 0) & (u < W) & (v >= 0) & (v < H)
    out = np.full(len(uv), np.nan)
    out[inside] = depth[v[inside], u[inside]]
    with np.errstate(invalid="ignore"):
        out[~(out > 0)] = np.nan
    return out


def refine_depth(alignment: AlignmentResult, matches: Sequence[PixelMatches],
                 options: Optional[DepthRefineOptions] = None) -> DepthRefinement:
    """Correct each view's dense depth (and its points) from triangulated matches.

    Args:
        alignment: a solved frame set (its poses, ``K_net``, ``depth`` and ``points`` are used).
        matches: pixel correspondences between its views, at network resolution (for example
            ``alignment.matches``: the descriptor head's mutual nearest neighbours).
        options: settings; see DepthRefineOptions.

    Returns:
        DepthRefinement; views that fail the gate keep their depth and points bit for bit.
    """
    t0 = time.perf_counter()
    opts = options or DepthRefineOptions()
    opts.check()
    n = len(alignment.camera_names)
    T, K = np.asarray(alignment.T_fixed_cam, np.float64), np.asarray(alignment.K_net, np.float64)
    # per view, per pair: its matched pixels, current depth there, triangulated depth, weight,
    # log(triangulated / current) depth in this view and in the other view of the match
    obs: list[list[tuple[np.ndarray, ...]]] = [[] for _ in range(n)]
    touched = np.zeros(n, dtype=np.int64)  # matches of trusted pairs touching each view
    distrusted = np.zeros(n, dtype=np.int64)  # pairs touching each view whose matches do not beat chance
    rng = np.random.default_rng(0)  # the chance test's random pixels: fixed, so results repeat
    if opts.enabled:
        for m in matches:
            a, b = int(m.view_a), int(m.view_b)
            if not (0 <= a < n and 0 <= b < n) or a == b or len(m.uv_a) == 0:
                continue
            uva, uvb = np.asarray(m.uv_a, np.float64), np.asarray(m.uv_b, np.float64)
            w = np.asarray(m.weight, np.float64) if m.weight is not None else np.ones(len(uva))
            if uva.ndim != 2 or uva.shape[1] != 2 or uvb.shape != uva.shape or w.shape != (len(uva),):
                raise ValueError(f"PixelMatches ({a}, {b}): uv_a, uv_b must be (M, 2) and weight (M,), got "
                                 f"{uva.shape}, {uvb.shape} and {w.shape}")
            tri = triangulate(T[a], K[a], uva, T[b], K[b], uvb, opts.max_reproj_px, opts.min_angle_deg)
            # Chance test: view a's pixels paired with random pixels of view b pass the geometric
            # tests at some rate (a pixel lands within max_reproj_px of an epipolar line by
            # luck); a pair's matches are evidence only when they pass clearly more often.
            Hb, Wb = np.shape(alignment.depth[b])
            k = rng.integers(0, len(uva), max(len(uva), 256))  # enough samples for a steady rate
            rand_b = np.stack([rng.uniform(0, Wb - 1, len(k)), rng.uniform(0, Hb - 1, len(k))], 1)
            chance = float(triangulate(T[a], K[a], uva[k], T[b], K[b], rand_b, opts.max_reproj_px,
                                       opts.min_angle_deg).ok.mean())
            share = float(tri.ok.mean())
            if share < max(opts.min_inlier_ratio, opts.chance_factor * chance):
                distrusted[[a, b]] += 1
                continue
            touched[a] += len(uva)
            touched[b] += len(uva)
            da, db = _sample_depth(alignment.depth[a], uva), _sample_depth(alignment.depth[b], uvb)
            with np.errstate(invalid="ignore", divide="ignore"):
                ra, rb = np.log(tri.depth_a / da), np.log(tri.depth_b / db)
            ok = tri.ok & np.isfinite(ra) & np.isfinite(rb) & np.isfinite(w) & (w > 0)
            obs[a].append((uva[ok], da[ok], tri.depth_a[ok], w[ok], ra[ok], rb[ok]))
            obs[b].append((uvb[ok], db[ok], tri.depth_b[ok], w[ok], rb[ok], ra[ok]))
    views: list[ViewRefinement] = []
    new_depth: list[Optional[np.ndarray]] = [None] * n
    used = 0
    for v in range(n):
        if not opts.enabled:
            views.append(ViewRefinement(0, 0, "unchanged: disabled"))
            continue
        if not obs[v] or sum(len(o[0]) for o in obs[v]) == 0:
            why = (f"the matches of its {distrusted[v]} pairs do not beat chance (inlier share below "
                   f"{opts.chance_factor:g} x that of random pixel pairs, or {opts.min_inlier_ratio:g})"
                   if distrusted[v] else "no triangulated match")
            views.append(ViewRefinement(int(touched[v]), 0, f"unchanged: {why}"))
            continue
        uv, d, dt, w, r_own, r_other = (np.concatenate([o[k] for o in obs[v]]) for k in range(6))
        # A wrong match lands far from both views' surfaces; a true one agrees with at least
        # one (the view with the smaller depth error), within a bound robust to the view's error.
        best = np.minimum(np.abs(r_own), np.abs(r_other))
        bound = min(opts.max_log_gap, opts.robust_k * max(float(np.median(best)), 0.02))
        keep = best <= bound
        uv, d, dt, w = uv[keep], d[keep], dt[keep], w[keep] / max(float(np.median(w[keep])) if keep.any() else 1.0, 1e-12)
        r = np.log(dt / d)
        H, W = alignment.depth[v].shape
        reason = _gate(len(r), touched[v], opts)
        if reason:
            views.append(ViewRefinement(int(touched[v]), int(len(r)), f"unchanged: {reason}"))
            continue
        dense = np.asarray(alignment.depth[v], np.float64)
        if len(r) >= opts.field_min_matches:
            c, rw = fit_log_field(uv, r, w, W, H, opts)
            inl = rw >= 0.5
            fitted = bilinear_basis(uv, W, H, opts.grid) @ c
            model = "field"
            vv, uu = np.mgrid[0:H, 0:W]
            Bd = bilinear_basis(np.stack([uu.ravel(), vv.ravel()], 1), W, H, opts.grid)
            corr = np.exp(Bd @ c).reshape(H, W)
            nd = dense * corr
        else:
            spread = float(np.percentile(d, 90) / max(np.percentile(d, 10), 1e-12))
            with_shift = spread > 1.5
            s, t, rw = fit_scale_shift(d, dt, w, opts, with_shift)
            lo = float(np.nanmin(np.where(dense > 0, dense, np.nan))) if np.any(dense > 0) else 1.0
            if with_shift and not (s > 0 and s * lo + t > 0.2 * lo):  # a shift that would flip near depths
                s, t, rw = fit_scale_shift(d, dt, w, opts, False)
                with_shift = False
            if not s > 0:
                views.append(ViewRefinement(int(touched[v]), int(len(r)), "unchanged: no positive scale fits"))
                continue
            inl = rw >= 0.5
            fitted = np.log((s * d + t) / d)
            model = "scale+shift" if with_shift else "scale"
            nd = s * dense + t
        reason = _gate(int(inl.sum()), touched[v], opts)
        if reason:
            views.append(ViewRefinement(int(touched[v]), int(inl.sum()), f"unchanged: {reason} after the fit"))
            continue
        before, after = float(np.median(np.abs(r[inl]))), float(np.median(np.abs(r[inl] - fitted[inl])))
        if after > opts.max_fit_residual:
            # True matches, triangulated with the right cameras, agree with the corrected depth up
            # to the network's pixel noise; wrong ones that happen to lie near epipolar lines (an
            # untrained descriptor head matching similar rows) land at random depths.
            views.append(ViewRefinement(int(touched[v]), int(inl.sum()), "unchanged: its matches fit no smooth "
                                        f"correction (median log-depth gap {before:.4f} -> {after:.4f} after the fit, "
                                        f"> {opts.max_fit_residual:g})"))
            continue
        if after > (1.0 - opts.min_gain) * before:
            # The matches agree with the depth already (up to noise): a correction would fit noise.
            views.append(ViewRefinement(int(touched[v]), int(inl.sum()), "unchanged: the correction explains too "
                                        f"little (median log-depth gap {before:.4f} -> {after:.4f})"))
            continue
        valid = np.isfinite(dense) & (dense > 0)
        nd = np.where(valid, nd, dense)
        new_depth[v] = nd.astype(np.float32)
        med = float(np.median(np.abs(nd[valid] / dense[valid] - 1.0))) if valid.any() else 0.0
        views.append(ViewRefinement(int(touched[v]), int(inl.sum()), model, med))
        used += int(inl.sum())
    if all(nd is None for nd in new_depth):
        return DepthRefinement(alignment, views, 0, time.perf_counter() - t0)
    depth, points = list(alignment.depth), list(alignment.points)
    for v, nd in enumerate(new_depth):
        if nd is None:
            continue
        old = np.asarray(alignment.depth[v], np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(old > 0, nd / old, 1.0)
        C = T[v][:3, 3]
        # every point moves along its own camera ray: its direction, hence its pixel, is kept
        points[v] = (C + (np.asarray(alignment.points[v], np.float64) - C) * ratio[..., None]).astype(np.float32)
        depth[v] = nd
    return DepthRefinement(replace(alignment, depth=depth, points=points), views, used, time.perf_counter() - t0)


def _gate(inliers: int, touched: int, opts: DepthRefineOptions) -> str:
    """Why a view with ``inliers`` of ``touched`` matches stays unchanged ('' = it may change)."""
    if inliers < opts.min_matches:
        return f"{inliers} inlier matches (< {opts.min_matches})"
    ratio = inliers / max(int(touched), 1)
    if ratio < opts.min_inlier_ratio:
        return f"inlier share {ratio:.2f} (< {opts.min_inlier_ratio:.2f})"
    return ""


__all__ = ["DepthRefineOptions", "DepthRefinement", "ViewRefinement", "Triangulation", "bilinear_basis",
           "fit_log_field", "fit_scale_shift", "project", "refine_depth", "triangulate"]
