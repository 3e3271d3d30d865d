"""Per-stage time of the pipeline the node runs, on a synthetic multi-camera scene.

The same ``Hamst3rPipeline`` as ``hamst3r_node`` (no ROS): the demo's scene (seeded room,
people walking) rendered at ``--fps``, the cameras' known poses given as fixed extrinsics
(as ``hamst3r demo`` does), every frame set processed in order. Prints, per stage, the median,
mean and 90th percentile over the frame sets after ``--warmup``, the sets/s that the sum allows,
and how many people the pipeline tracked against how many are visible.

    .venv/bin/python bench/bench_pipeline.py [--checkpoint FILE] [--cameras 4] [--people 3]
        [--width 320] [--height 240] [--fps 2] [--sets 16] [--warmup 4] [--threads 2]

Without ``--checkpoint`` it runs the embedded default model. ``--compare FILE`` runs a
second checkpoint on the same frame sets, after the first, and prints both tables.
``--fit-solvers adam/adam lm/lm`` (``FitConfig.cold_solver`` / ``warm_solver``) and ``--body-fit-every 1 2`` (the node's
``body_fit_every``: bodies fitted on every n-th frame set) run each value in turn, likewise on
the same frame sets.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hamst3r_ros.pipeline import Hamst3rPipeline, PipelineConfig
from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

STAGES = ("preprocess", "encode", "decode", "align", "humans", "fuse")


def run(checkpoint: str, framesets, extrinsics, warmup: int, body_fit_every: int = 1,
        solvers: str = "lm/lm") -> tuple[dict[str, np.ndarray], np.ndarray, list]:
    pipe = Hamst3rPipeline.from_config(PipelineConfig(checkpoint=checkpoint, device="cpu", extrinsics=extrinsics,
                                                      body_fit_every=body_fit_every))
    if pipe.people is not None:
        cold, _, warm = solvers.partition("/")
        pipe.people.fitter.config.cold_solver, pipe.people.fitter.config.warm_solver = cold, warm or cold
    timings: dict[str, list[float]] = {s: [] for s in STAGES + ("total",)}
    tracked = []
    for k, (fs, gt) in enumerate(framesets):
        t0 = time.perf_counter()
        res = pipe.process(fs)
        total = time.perf_counter() - t0
        tracked.append((len(res.humans), sum(int((p.visible_pixels > 0).sum() >= 2) for p in gt.people)))
        if k < warmup:
            continue
        for s in STAGES:
            timings[s].append(res.timings_s.get(s, 0.0))
        timings["total"].append(total)
    return {s: np.asarray(v) for s, v in timings.items()}, np.asarray(tracked[warmup:]), tracked


def table(name: str, t: dict[str, np.ndarray], tracked: np.ndarray) -> str:
    rows = [f"{name}", f"{'stage':>10}  {'median s':>9}  {'mean s':>7}  {'p90 s':>7}"]
    for s, v in t.items():
        rows.append(f"{s:>10}  {np.median(v):9.3f}  {np.mean(v):7.3f}  {np.percentile(v, 90):7.3f}")
    # The mean is what throughput sees (a cold body fit of a newcomer is one slow set).
    rows.append(f"sets/s from the median total: {1.0 / np.median(t['total']):.2f}, from the mean: "
                f"{1.0 / np.mean(t['total']):.2f}; "
                f"people published / seen by >= 2 cameras, median: {np.median(tracked[:, 0]):.0f} / "
                f"{np.median(tracked[:, 1]):.0f} (max {tracked[:, 0].max()})")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="", help="model file ('' = the embedded default model)")
    ap.add_argument("--compare", default=None, help="a second model file, run on the same frame sets")
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--people", type=int, default=3)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--fps", type=float, default=2.0, help="frame-set rate of the scene (people move between sets)")
    ap.add_argument("--sets", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=4, help="first sets left out of the table (cold start)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fit-solvers", nargs="+", default=["lm/lm"], choices=("lm/lm", "adam/adam", "adam/lm", "lm/adam"),
                    help="cold/warm body-fit solvers (FitConfig.cold_solver / warm_solver; default lm/lm); "
                         "several run one after the other")
    ap.add_argument("--body-fit-every", type=int, nargs="+", default=[1],
                    help="node parameter body_fit_every; several values run one after the other (default 1)")
    args = ap.parse_args()
    if args.sets <= args.warmup:
        ap.error(f"--sets ({args.sets}) must exceed --warmup ({args.warmup})")
    torch.set_num_threads(args.threads)
    scene = SyntheticScene(SceneConfig(seed=args.seed, num_cameras=args.cameras, num_people=args.people,
                                       width=args.width, height=args.height, fps=args.fps))
    gts = list(scene.framesets(args.sets, progress=True))
    framesets = [(g.to_frameset(), g) for g in gts]
    extrinsics = {f"cam{k}": T for k, T in enumerate(scene.camera_poses(0.0))}
    print(f"{args.cameras} cameras {args.width}x{args.height}, {args.people} people at {args.fps} sets/s, "
          f"{args.sets - args.warmup} timed sets, {args.threads} threads")
    for name in [args.checkpoint] + ([args.compare] if args.compare is not None else []):
        for solvers in args.fit_solvers:
            for every in args.body_fit_every:
                t, tracked, _ = run(name, framesets, extrinsics, args.warmup, every, solvers)
                print(table(f"{name or 'embedded'}, cold/warm fits {solvers}, body_fit_every {every}", t, tracked))


if __name__ == "__main__":
    main()
