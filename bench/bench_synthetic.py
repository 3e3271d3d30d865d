"""Render time of synthetic frame sets with all ground truth (CPU).

Prints a table: configuration, threads, wall-clock seconds of the first set (which also
renders each fixed camera's static room once), mean/min wall-clock seconds per later set,
their mean *process CPU* seconds (with one thread: the time on one core, robust to other
jobs competing for the machine's cores), and the seconds spent posing the bodies.
The issue's target: 4 cameras at 512x384 in < 0.5 s on one core.

    ANNY_CACHE_DIR=$PWD/.cache/anny .venv/bin/python bench/bench_synthetic.py [--sets 5]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", type=int, default=5, help="timed frame sets per row (default 5)")
    args = ap.parse_args()

    import numpy as np
    import torch

    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    rows = [
        # (label, config kwargs, threads)
        ("4 wall cams 512x384, 3 people", dict(num_cameras=4, num_people=3), 1),
        ("4 wall cams 512x384, 5 people", dict(num_cameras=4, num_people=5), 1),
        ("4 robot cams 512x384, 3 people, moving rig", dict(num_cameras=4, num_people=3, placement="robot",
                                                           rig_speed=0.5), 1),
        ("8 wall cams 512x384, 5 people", dict(num_cameras=8, num_people=5), 1),
        ("4 wall cams 512x384, 3 people, noise+blur", dict(num_cameras=4, num_people=3, noise_sigma=3.0,
                                                           blur_sigma=0.8, exposure_jitter=0.2), 1),
        ("4 wall cams 512x384, 3 people", dict(num_cameras=4, num_people=3), 0),
    ]
    print(f"{'configuration':<46} {'threads':>7} {'first s':>8} {'mean s':>8} {'min s':>8} {'cpu s':>7} {'pose s':>7}")
    for label, kw, threads in rows:
        torch.set_num_threads(max(1, threads) if threads else os.cpu_count())
        scene = SyntheticScene(SceneConfig(seed=0, nthreads=threads, **kw))
        t0 = time.perf_counter()
        scene.frameset(0, keep_vertices=False)
        first = time.perf_counter() - t0
        times, cpu, pose_times = [], [], []
        for k in range(1, args.sets + 1):
            t0 = time.perf_counter()
            scene.pose_people(scene.time_of(k))
            pose_times.append(time.perf_counter() - t0)
            t0, c0 = time.perf_counter(), time.process_time()
            scene.frameset(k, keep_vertices=False)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        tl = "all" if threads == 0 else str(threads)
        print(f"{label:<46} {tl:>7} {first:8.3f} {np.mean(times):8.3f} {np.min(times):8.3f} {np.mean(cpu):7.3f} "
              f"{np.mean(pose_times):7.3f}", flush=True)

    # writing the on-disk dataset (npz + PNGs), with and without the preview mosaic
    import tempfile

    from hamst3r_ros.synthetic.dataset import write_dataset

    torch.set_num_threads(1)
    scene = SyntheticScene(SceneConfig(seed=0, nthreads=1))
    sets = [scene.frameset(k) for k in range(args.sets)]
    print(f"\n{'dataset writing (4 cams 512x384)':<46} {'s/set':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, preview in (("npz + PNGs", None), ("npz + PNGs + preview mosaic", Path(tmp) / "p.png")):
            t0 = time.perf_counter()
            write_dataset(Path(tmp) / "ds", scene, sets, preview=preview, progress=False)
            print(f"{label:<46} {(time.perf_counter() - t0) / len(sets):8.3f}", flush=True)


if __name__ == "__main__":
    main()
