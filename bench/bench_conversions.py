"""Cost of the ROS message conversions the node runs per image and per frame set (CPU).

Prints a table: conversion, size, median and min milliseconds over ``--repeat`` runs (after
one warm-up). The node converts every incoming image (image_to_rgb8 / compressed_to_rgb8)
on the executor thread and builds ~/points (scene_to_pointcloud2) on the worker, so these
bound the rate one executor thread can take in. Machine load is printed with the table: on
a shared machine, repeat when it is high.

    .venv/bin/python bench/bench_conversions.py [--repeat 20] [--points 200000]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _time_ms(fn, repeat: int) -> tuple[float, float]:
    fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(runs)), float(np.min(runs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="timed runs per row (default 20)")
    ap.add_argument("--points", type=int, default=200_000, help="points in the scene cloud (default 200000)")
    args = ap.parse_args()

    from hamst3r_ros.ros.conversions import (compressed_to_rgb8, image_to_rgb8, numpy_to_compressed,
                                             numpy_to_image, pointcloud2_to_numpy, scene_to_pointcloud2)
    from hamst3r_ros.types import SceneResult

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    raw = numpy_to_image(rgb[:, :, ::-1], "bgr8")
    jpeg = numpy_to_compressed(rgb, "rgb8", "jpeg", quality=90)
    m = args.points
    scene = SceneResult(
        stamp_ns=0, camera_names=["cam0"], T_fixed_cam=np.eye(4)[None], K=np.eye(3)[None], metric=True,
        points=(rng.random((m, 3)) * 5).astype(np.float32), colors=rng.integers(0, 256, (m, 3), dtype=np.uint8),
        confidence=(1 + rng.random(m) * 5).astype(np.float32), instance=rng.integers(0, 3, m).astype(np.int32),
        body_coords=np.full((m, 3), np.nan, np.float32))
    cloud = scene_to_pointcloud2(scene, "world")

    rows = [
        ("numpy_to_image", "640x480 bgr8", lambda: numpy_to_image(rgb, "bgr8")),
        ("image_to_rgb8", "640x480 bgr8", lambda: image_to_rgb8(raw)),
        ("numpy_to_compressed", "640x480 jpeg q90", lambda: numpy_to_compressed(rgb, "rgb8", "jpeg", 90)),
        ("compressed_to_rgb8", "640x480 jpeg q90", lambda: compressed_to_rgb8(jpeg)),
        ("scene_to_pointcloud2", f"{m} pts", lambda: scene_to_pointcloud2(scene, "world")),
        ("scene_to_pointcloud2", f"{m} pts, conf >= 2", lambda: scene_to_pointcloud2(scene, "world", 2.0)),
        ("scene_to_pointcloud2", f"{m} pts, voxel 5 cm", lambda: scene_to_pointcloud2(scene, "world",
                                                                                        voxel_size=0.05)),
        ("pointcloud2_to_numpy", f"{m} pts", lambda: pointcloud2_to_numpy(cloud)),
    ]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.repeat} runs per row")
    print(f"{'conversion':22s} {'input':24s} {'median ms':>10s} {'min ms':>8s}")
    for name, size, fn in rows:
        med, best = _time_ms(fn, args.repeat)
        print(f"{name:22s} {size:24s} {med:10.2f} {best:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
