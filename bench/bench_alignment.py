"""Alignment time and accuracy against the number of cameras, ours vs MASt3R's sparse GA.

For each rig size, the same degraded ground-truth pair predictions (box room, depth noise,
outliers, unknown per-pair scale) go through
  - our global alignment (cold start) and our incremental alignment (warm start from the
    previous frame set's solution), in this process;
  - MASt3R's sparse global alignment from an upstream checkout, in a separate venv
    (bench/mast3r_sparse_ga_runner.py), given ground-truth correspondences with the same
    outlier rate in place of descriptor matches;
and one table prints times and camera errors for both.

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

from hamst3r_ros.geometry.alignment import global_alignment, incremental_alignment
from hamst3r_ros.geometry.box_room import BoxRoomScene, make_scene, pair_predictions
from hamst3r_ros.geometry.metrics import camera_metrics
from hamst3r_ros.geometry.pair_graph import make_pairs


def gt_matches(sc: BoxRoomScene, a: int, b: int, stride: int, outliers: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of view a on a grid and where they truly land in view b (visible ones only),
    a fraction ``outliers`` of them replaced by random pixels. (x, y) int32."""
    H, W = sc.height, sc.width
    v, u = np.mgrid[stride // 2:H:stride, stride // 2:W:stride]
    u, v = u.ravel(), v.ravel()
    P = sc.points[a][v, u]
    T = np.linalg.inv(sc.T_world_cam[b])
    q = P @ T[:3, :3].T + T[:3, 3]
    z = q[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        ub = np.round(sc.K[b][0, 0] * q[:, 0] / z + sc.K[b][0, 2])
        vb = np.round(sc.K[b][1, 1] * q[:, 1] / z + sc.K[b][1, 2])
    ok = np.isfinite(ub) & np.isfinite(vb) & (z > 0) & (ub >= 0) & (ub < W) & (vb >= 0) & (vb < H)
    ub, vb = np.where(ok, ub, 0).astype(int), np.where(ok, vb, 0).astype(int)
    ok &= np.abs(sc.depth(b)[vb, ub] - z) < 0.02 * z  # not occluded
    xy1 = np.stack([u[ok], v[ok]], 1).astype(np.int32)
    xy2 = np.stack([ub[ok], vb[ok]], 1).astype(np.int32)
    bad = rng.random(len(xy2)) < outliers
    xy2[bad] = np.stack([rng.integers(0, W, bad.sum()), rng.integers(0, H, bad.sum())], 1)
    return xy1, xy2


def run_mast3r(args, sc: BoxRoomScene, preds, pairs, rng) -> dict:
    data = dict(n=sc.n, height=sc.height, width=sc.width, pairs=np.array(pairs))
    for p in preds:
        for k in ("pts_i", "pts_j", "conf_i", "conf_j"):
            data[f"{k}_{p.i}_{p.j}"] = getattr(p, k)
    by = {(p.i, p.j): p for p in preds}
    for a, b in {(min(i, j), max(i, j)) for i, j in pairs}:
        xy1, xy2 = gt_matches(sc, a, b, args.subsample, args.outliers, rng)
        c1 = by[(a, b)].conf_i[xy1[:, 1], xy1[:, 0]]
        c2 = by[(a, b)].conf_j[xy2[:, 1], xy2[:, 0]]
        data[f"xy1_{a}_{b}"], data[f"xy2_{a}_{b}"], data[f"mconf_{a}_{b}"] = xy1, xy2, np.sqrt(c1 * c2).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pairs.npz")
        np.savez(path, **data)
        cmd = [args.mast3r_python, os.path.join(os.path.dirname(__file__), "mast3r_sparse_ga_runner.py"),
               "--mast3r", args.mast3r, "--data", path, "--subsample", str(args.subsample),
               "--niter1", str(args.niter1), "--niter2", str(args.niter2)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"MASt3R runner failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def print_row(r: dict) -> None:
    o, oi, u = r["ours"], r["ours_inc"], r.get("up")
    fmt = lambda a, b, f: f"{a:{f}}/{b:{f}}" if b is not None else f"{a:{f}}/-"  # noqa: E731
    print(" | ".join([
        f"{r['n']:4d}", f"{r['pairs']:5d}", f"{r['t_glob']:11.2f}", f"{r['t_inc']:11.2f}",
        f"{r['t_up']:8.2f}" if "t_up" in r else "       -",
        fmt(o.rra[5.0], u.rra[5.0] if u else None, ".2f"), fmt(o.rta[5.0], u.rta[5.0] if u else None, ".2f"),
        f"{o.max_rot_err_deg:.3f}/{oi.max_rot_err_deg:.3f}/" + (f"{u.max_rot_err_deg:.3f}" if u else "-"),
        fmt(o.s_te, u.s_te if u else None, ".4f"), fmt(o.ae, u.ae if u else None, ".3f"),
        fmt(r["f_ours"], r.get("f_up"), ".4f")]))
    if r["inc_mode"] != "incremental":
        print(f"     note: warm start fell back to {r['inc_mode']}")
    if "up_error" in r:
        print(f"     MASt3R failed: {r['up_error']}")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, nargs="+", default=[2, 4, 8, 16])
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--height", type=int, default=96)
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--outliers", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layout", choices=("circle", "arc"), default="circle",
                    help="cameras around the room (relative rotations to 180 deg) or on a 90-degree arc")
    ap.add_argument("--mast3r", default="", help="upstream naver/mast3r checkout (dust3r inside); empty: ours only")
    ap.add_argument("--mast3r-python", default="/tmp/mast3r_venv/bin/python", help="python of the upstream's venv")
    ap.add_argument("--subsample", type=int, default=8, help="MASt3R anchor/match grid stride")
    ap.add_argument("--niter1", type=int, default=300, help="MASt3R coarse iterations (its default)")
    ap.add_argument("--niter2", type=int, default=300, help="MASt3R fine iterations (its default)")
    ap.add_argument("--timeout", type=float, default=540, help="seconds allowed to one MASt3R run")
    args = ap.parse_args()

    print(f"\nalignment on CPU ({os.cpu_count()} cores), box room, '{args.layout}' layout, {args.width}x{args.height} pointmaps, "
          f"noise {args.noise:g}, outliers {args.outliers:g}, pair graph 'auto' (complete <= 8 cameras, "
          f"sliding window beyond); MASt3R sparse GA: subsample {args.subsample}, {args.niter1}+{args.niter2} iterations")
    hdr = ("cams", "pairs", "ours glob s", "ours incr s", "MASt3R s", "RRA@5 o/M", "RTA@5 o/M", "maxRotErr° o/i/M",
           "s-TE o/M", "AE° o/M", "focal err o/M")
    print(" | ".join(hdr))
    print("s-TE in metres of the ground truth after Sim(3) alignment; o = ours global, i = ours incremental, "
          "M = MASt3R sparse GA")
    for n in args.cameras:
        rng = np.random.default_rng(args.seed + n)
        sc = make_scene(n, args.width, args.height, seed=args.seed + n, layout=args.layout)
        pairs = make_pairs(n, "auto")
        prev = pair_predictions(sc, pairs, args.noise, args.outliers, (0.8, 1.25), seed=args.seed * 100 + n)
        preds = pair_predictions(sc, pairs, args.noise, args.outliers, (0.8, 1.25), seed=args.seed * 100 + n + 50)
        names = [f"cam{k}" for k in range(n)]
        cold = global_alignment(preds, names)
        state = global_alignment(prev, names).state
        t0 = time.perf_counter()
        warm = incremental_alignment(preds, names, state)
        t_warm = time.perf_counter() - t0
        row = dict(n=n, pairs=len(pairs), t_glob=cold.time_s, t_inc=t_warm, inc_mode=warm.mode,
                   ours=camera_metrics(cold.T_fixed_cam, sc.T_world_cam),
                   ours_inc=camera_metrics(warm.T_fixed_cam, sc.T_world_cam),
                   f_ours=float(np.abs(cold.K_net[:, 0, 0] / sc.K[:, 0, 0] - 1).max()))
        if args.mast3r:
            try:
                up = run_mast3r(args, sc, preds, pairs, rng)
                row["t_up"] = up["time_s"]
                row["up"] = camera_metrics(np.array(up["cam2w"]), sc.T_world_cam)
                row["f_up"] = float(np.abs(np.array(up["focals"]) / sc.K[:, 0, 0] - 1).max())
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                row["up_error"] = str(exc).strip().splitlines()[-1][:120]
        print_row(row)

    return 0


if __name__ == "__main__":
    sys.exit(main())
