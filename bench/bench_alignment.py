"""Alignment time and accuracy against the number of cameras, ours vs MASt3R's sparse GA,
each with its depth refinement from matches.

For each rig size, the same degraded ground-truth pair predictions (box room, depth noise,
outliers, unknown per-pair scale, and a smooth per-view depth error that every prediction of
a view shares, as a network's systematic error) and the same pixel matches (every visible,
unoccluded pixel of a grid of ``--match-stride`` in the first view of a pair and where it truly
lands in the second, ``--match-outliers`` of them replaced by random pixels) go through
  - our global alignment (cold start), then our depth refinement from the matches
    (hamst3r_ros.geometry.depth_refine), and our incremental alignment (warm start from the
    previous frame set's solution), in this process;
  - MASt3R's sparse global alignment from an upstream checkout, in a separate venv
    (bench/mast3r_sparse_ga_runner.py), given the matches in place of its own: its first stage
    alone (coarse, 3D matching loss; ``--niter2 0``) and both stages (coarse + refine: 2D
    reprojection loss over poses, intrinsics and anchor depths);
and one table prints times, camera errors and the dense depth error for each.

    .venv/bin/python bench/bench_alignment.py --cameras 2 4 8 16 \\
        --mast3r /tmp/up/mr --mast3r-python /tmp/mast3r_venv/bin/python

Without --mast3r only our side runs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from hamst3r_ros.geometry.alignment import PixelMatches, global_alignment, incremental_alignment
from hamst3r_ros.geometry.box_room import BoxRoomScene, make_scene, pair_predictions, smooth_log_depth_error, true_matches
from hamst3r_ros.geometry.depth_refine import refine_depth
from hamst3r_ros.geometry.metrics import camera_metrics
from hamst3r_ros.geometry.pair_graph import make_pairs
from hamst3r_ros.geometry.sim3 import umeyama


def depth_error(depth: np.ndarray, T_est: np.ndarray, sc: BoxRoomScene) -> float:
    """Median |s d / d_true - 1| over every pixel of every view, s the scale of the Sim(3) that
    best maps the estimated camera centres onto the true ones (1 for a single camera)."""
    s = umeyama(T_est[:, :3, 3], sc.T_world_cam[:, :3, 3]).s if len(T_est) > 1 else 1.0
    truth = np.stack([sc.depth(k) for k in range(sc.n)])
    ok = np.isfinite(truth) & (truth > 0) & np.isfinite(depth)
    return float(np.median(np.abs(s * depth[ok] / truth[ok] - 1)))


def run_mast3r(args, sc: BoxRoomScene, preds, pairs, matches, niter2: int) -> dict:
    """MASt3R's sparse GA on our pair predictions and the pixel matches (one set per unordered
    pair; a match's conf: its weight times the geometric mean of its two pixels' confidences):
    its time, poses, focals and dense depth."""
    data = dict(n=sc.n, height=sc.height, width=sc.width, pairs=np.array(pairs))
    for p in preds:
        for k in ("pts_i", "pts_j", "conf_i", "conf_j"):
            data[f"{k}_{p.i}_{p.j}"] = getattr(p, k)
    by = {(p.i, p.j): p for p in preds}
    for m in matches:
        a, b = min(m.view_a, m.view_b), max(m.view_a, m.view_b)
        uva, uvb = (m.uv_a, m.uv_b) if m.view_a == a else (m.uv_b, m.uv_a)
        xy1, xy2 = np.rint(uva).astype(np.int32), np.rint(uvb).astype(np.int32)
        w = m.weight if m.weight is not None else np.ones(len(xy1))
        c1 = by[(a, b)].conf_i[xy1[:, 1], xy1[:, 0]]
        c2 = by[(a, b)].conf_j[xy2[:, 1], xy2[:, 0]]
        data[f"xy1_{a}_{b}"], data[f"xy2_{a}_{b}"] = xy1, xy2
        data[f"mconf_{a}_{b}"] = (w * np.sqrt(c1 * c2)).astype(np.float32)
    for a, b in {(min(i, j), max(i, j)) for i, j in pairs}:  # pairs without matches: none
        if f"xy1_{a}_{b}" not in data:
            data[f"xy1_{a}_{b}"] = data[f"xy2_{a}_{b}"] = np.zeros((0, 2), np.int32)
            data[f"mconf_{a}_{b}"] = np.zeros(0, np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path, out_path = os.path.join(tmp, "pairs.npz"), os.path.join(tmp, "depth.npz")
        np.savez(path, **data)
        cmd = [args.mast3r_python, os.path.join(os.path.dirname(__file__), "mast3r_sparse_ga_runner.py"),
               "--mast3r", args.mast3r, "--data", path, "--subsample", str(args.subsample),
               "--niter1", str(args.niter1), "--niter2", str(niter2), "--out", out_path]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if out.returncode != 0 or line is None:
            raise RuntimeError(f"MASt3R runner failed ({out.returncode}):\n{out.stderr[-3000:]}")
        res = json.loads(line[len("RESULT "):])
        res["depth"] = np.load(out_path)["depth"]
    return res


COLUMNS = ("cams", "pairs", "method", "time s", "RRA@5", "RTA@5", "max rot err deg", "s-TE m", "AE deg",
           "focal err", "depth err")


def print_row(n: int, pairs: int, method: str, t: float, cam, focal_err: float, depth_err: float) -> None:
    cells = [str(n), str(pairs), method, f"{t:.2f}"]
    if cam is None:
        cells += ["-"] * 5
    else:
        cells += [f"{cam.rra[5.0]:.2f}", f"{cam.rta[5.0]:.2f}", f"{cam.max_rot_err_deg:.3f}", f"{cam.s_te:.4f}",
                  f"{cam.ae:.3f}"]
    cells += [f"{focal_err:.4f}" if np.isfinite(focal_err) else "-", f"{100 * depth_err:.2f} %" if np.isfinite(depth_err)
              else "-"]
    print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, nargs="+", default=[2, 4, 8, 16])
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--height", type=int, default=96)
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--outliers", type=float, default=0.05)
    ap.add_argument("--depth-error", type=float, default=0.2,
                    help="smooth per-view log-depth error of up to this much in every pointmap (0 = none)")
    ap.add_argument("--match-outliers", type=float, default=0.3, help="share of the matches replaced by random pixels")
    ap.add_argument("--match-stride", type=int, default=4, help="grid stride of the matched pixels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layout", choices=("circle", "arc"), default="circle",
                    help="cameras around the room (relative rotations to 180 deg) or on a 90-degree arc")
    ap.add_argument("--mast3r", default="", help="upstream naver/mast3r checkout (dust3r inside); empty: ours only")
    ap.add_argument("--mast3r-python", default="/tmp/mast3r_venv/bin/python", help="python of the upstream's venv")
    ap.add_argument("--subsample", type=int, default=8, help="MASt3R anchor grid stride")
    ap.add_argument("--niter1", type=int, default=300, help="MASt3R coarse iterations (its default)")
    ap.add_argument("--niter2", type=int, default=300, help="MASt3R refine iterations (its default)")
    ap.add_argument("--timeout", type=float, default=540, help="seconds allowed to one MASt3R run")
    args = ap.parse_args()

    print(f"\nalignment on CPU ({os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}), box "
          f"room, '{args.layout}' layout, {args.width}x{args.height} pointmaps, noise {args.noise:g}, outliers "
          f"{args.outliers:g}, smooth depth error up to {args.depth_error:g} (log), matches: true on a {args.match_stride}-px "
          f"grid, {args.match_outliers:g} of them random; pair graph 'auto' (complete <= 8 cameras, sliding window beyond); "
          f"MASt3R sparse GA: subsample {args.subsample}, {args.niter1} coarse + {args.niter2} refine iterations")
    print("s-TE in metres of the ground truth after Sim(3) alignment; depth err: median |s d / d_true - 1| over all "
          "pixels, s from that Sim(3)\n")
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for n in args.cameras:
        sc = make_scene(n, args.width, args.height, seed=args.seed + n, layout=args.layout)
        pairs = make_pairs(n, "auto")
        field = smooth_log_depth_error(n, args.width, args.height, args.depth_error, seed=args.seed + n) \
            if args.depth_error > 0 else None
        kw = dict(depth_error=field)
        rng = np.random.default_rng(args.seed + n)
        matches = []
        for a, b in sorted({(min(i, j), max(i, j)) for i, j in pairs}):
            xy1, xy2 = true_matches(sc, a, b, args.match_stride, args.match_outliers, rng)
            matches.append(PixelMatches(a, b, xy1.astype(np.float64), xy2.astype(np.float64)))
        prev = pair_predictions(sc, pairs, args.noise, args.outliers, (0.8, 1.25), seed=args.seed * 100 + n, **kw)
        preds = pair_predictions(sc, pairs, args.noise, args.outliers, (0.8, 1.25), seed=args.seed * 100 + n + 50, **kw)
        names = [f"cam{k}" for k in range(n)]
        cold = global_alignment(preds, names)
        refined = refine_depth(cold, matches)
        state = global_alignment(prev, names).state
        t0 = time.perf_counter()
        warm = incremental_alignment(preds, names, state)
        t_warm = time.perf_counter() - t0
        f_ours = float(np.abs(cold.K_net[:, 0, 0] / sc.K[:, 0, 0] - 1).max())
        cam = camera_metrics(cold.T_fixed_cam, sc.T_world_cam)
        print_row(n, len(pairs), "ours: align", cold.time_s, cam, f_ours, depth_error(np.stack(cold.depth), cold.T_fixed_cam, sc))
        print_row(n, len(pairs), f"ours: align + depth refine ({refined.summary})", cold.time_s + refined.time_s, cam,
                  f_ours, depth_error(np.stack(refined.result.depth), cold.T_fixed_cam, sc))
        print_row(n, len(pairs), "ours: incremental (warm start)" + ("" if warm.mode == "incremental" else f" [{warm.mode}]"),
                  t_warm, camera_metrics(warm.T_fixed_cam, sc.T_world_cam), float("nan"),
                  depth_error(np.stack(warm.depth), warm.T_fixed_cam, sc))
        if args.mast3r:
            for label, niter2 in (("MASt3R: coarse", 0), ("MASt3R: coarse + refine", args.niter2)):
                try:
                    up = run_mast3r(args, sc, preds, pairs, matches, niter2)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    print(f"| {n} | {len(pairs)} | {label} | failed: {str(exc).strip().splitlines()[-1][:120]} |")
                    continue
                T_up = np.array(up["cam2w"])
                print_row(n, len(pairs), label, up["time_s"], camera_metrics(T_up, sc.T_world_cam),
                          float(np.abs(np.array(up["focals"]) / sc.K[:, 0, 0] - 1).max()), depth_error(up["depth"], T_up, sc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
