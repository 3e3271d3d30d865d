"""Benchmark of hamst3r_node as a live system: image stamp -> ~/points latency and sustained
frame sets per second, with a pipeline of fixed cost, for 2/4/8 cameras at 640x480.

Three processes, as deployed: ``sim_cameras`` (raw rgb8 Image + CameraInfo per camera at
``--rate`` Hz, stamped at publication), ``hamst3r_node`` (the real executable, with the
stand-in pipeline from tests/ whose ``process`` takes ``--cost`` seconds), and this process,
which listens to ``points`` and ``/diagnostics``. Both executables are started with
launch_spec's command lines. Latency = arrival of the cloud here - its header stamp (the newest
image's stamp), on one machine and one clock: sync wait + conversion + pipeline + publication
+ two DDS hops.

Each camera count runs twice: with the node's default sensor-data QoS (best effort) and with
its input subscriptions overridden to reliable (ROS 2's qos_overrides parameters), since
best-effort delivery of several ~1 MB images at once loses whole images.

Usage:
    .venv/bin/python bench/bench_node.py [--cameras 2 4 8] [--rate 15] [--cost 0.03]
                                         [--seconds 8] [--reliability best_effort reliable]
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_recording(root: Path, cameras: list[str], frames: int = 4, h: int = 480, w: int = 640):
    from PIL import Image

    for i, c in enumerate(cameras):
        (root / c).mkdir(parents=True, exist_ok=True)
        for k in range(frames):
            img = np.zeros((h, w, 3), np.uint8)
            img[..., 0] = (np.arange(w)[None, :] + 30 * i) % 256
            img[..., 1] = (np.arange(h)[:, None] + 40 * k) % 256
            img[..., 2] = 20 * i
            Image.fromarray(img).save(root / c / f"{k:03d}.png")


def run_one(n_cams: int, rate: float, cost: float, seconds: float, domain: int,
            reliability: str = "best_effort") -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import PointCloud2

    from hamst3r_ros.ros import launch_spec

    cams = [f"cam{i}" for i in range(n_cams)]
    namespace = f"bench_{os.getpid()}_{n_cams}_{reliability}"
    qos = {} if reliability == "best_effort" else {
        f"qos_overrides./{namespace}/{c}/{t}.subscription.reliability": "reliable"
        for c in cams for t in ("image_raw", "camera_info")}
    with tempfile.TemporaryDirectory(prefix="hamst3r_bench_") as tmp:
        write_recording(Path(tmp), cams)
        specs = launch_spec.system(
            namespace=namespace, sim_folder=tmp,
            node_parameters={"pipeline": "fake_pipeline:FakePipeline", "cameras": cams,
                             "image_topics": [f"{c}/image_raw" for c in cams],
                             "camera_info_topics": [f"{c}/camera_info" for c in cams],
                             "min_cameras": n_cams, "min_confidence": 0.0,
                             "diagnostics_period_s": 0.5, **qos},
            sim_parameters={"cameras": cams, "rate_hz": rate, "jitter_ms": 2.0})
        # One transport and discovery setting for all three processes (this one included).
        os.environ.update({"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA",
                           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"})
        env = dict(os.environ)
        env.update({"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tests"), env.get("PYTHONPATH")])),
                    "FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA", "ROS_DOMAIN_ID": str(domain),
                    "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "FAKE_PIPELINE_COST_S": str(cost),
                    "ROS_LOG_DIR": os.path.join(tmp, "log")})
        ctx = rclpy.Context()
        rclpy.init(context=ctx, domain_id=domain)
        node = rclpy.create_node("bench_observer", context=ctx)
        arrivals: list[tuple[int, int]] = []  # (arrival ns, stamp ns)
        diag: dict = {}

        def on_cloud(msg):
            arrivals.append((time.time_ns(), msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec))

        def on_diag(msg):
            for st in msg.status:
                if st.hardware_id.startswith(f"/{namespace}/") and st.name.endswith("pipeline"):
                    diag.update({kv.key: kv.value for kv in st.values})
                elif st.hardware_id.startswith(f"/{namespace}/"):
                    values = {kv.key: kv.value for kv in st.values}
                    diag[st.name] = (int(values["received"]), float(values["rate_hz"]))

        node.create_subscription(PointCloud2, f"/{namespace}/points", on_cloud, QoSProfile(depth=50))
        node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, QoSProfile(depth=10))
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(node)
        stop = threading.Event()
        spinner = threading.Thread(target=lambda: [ex.spin_once(0.05) for _ in iter(stop.is_set, True)],
                                   daemon=True)
        spinner.start()
        # Children log to files: an unread pipe could fill up and stall them.
        logs = [open(os.path.join(tmp, f"{s.name}.log"), "w+") for s in specs]
        procs = [subprocess.Popen(launch_spec.command(s, namespace), env=env, stdout=log,
                                  stderr=subprocess.STDOUT, text=True) for s, log in zip(specs, logs)]
        try:
            # Warm-up: until clouds flow (discovery, imports; 20 s at most: with lossy input
            # complete sets may never form, which is a result, not a failure).
            deadline = time.monotonic() + 20
            while len(arrivals) < 3 and time.monotonic() < deadline:
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError("a process exited:\n" + "\n".join(
                        open(log.name).read() for log in logs))
                time.sleep(0.05)
            start = len(arrivals)
            before = dict(diag)
            t0 = time.monotonic()
            time.sleep(seconds)
            window = arrivals[start:]
            elapsed = time.monotonic() - t0
            time.sleep(0.6)  # one more diagnostics period
            after = dict(diag)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p, log in zip(procs, logs):
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                log.close()
            stop.set()
            spinner.join(2)
            node.destroy_node()
            rclpy.try_shutdown(context=ctx)
    lat = np.array([(a - s) * 1e-9 for a, s in window]) * 1e3
    delta = lambda k: int(after.get(k, 0)) - int(before.get(k, 0))  # noqa: E731
    cam_keys = [k for k in after if ": camera " in k]
    rx = [(after[k][0] - before.get(k, (0, 0))[0]) / (elapsed + 0.6) for k in cam_keys]
    return {"cameras": n_cams, "reliability": reliability, "rate": rate, "cost_ms": cost * 1e3,
            "sets_per_s": len(window) / elapsed,
            "lat_p50": float(np.median(lat)) if lat.size else float("nan"),
            "lat_p90": float(np.percentile(lat, 90)) if lat.size else float("nan"),
            "lat_max": float(lat.max()) if lat.size else float("nan"),
            "synced": delta("frame_sets_synced"), "replaced": delta("frame_sets_replaced_while_busy"),
            "images_per_s": float(np.mean(rx)) if rx else float("nan")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--rate", type=float, default=15.0, help="camera rate, Hz")
    ap.add_argument("--cost", type=float, default=0.03, help="pipeline cost per frame set, seconds")
    ap.add_argument("--seconds", type=float, default=8.0, help="measurement window per row")
    ap.add_argument("--reliability", nargs="+", default=["best_effort", "reliable"],
                    choices=["best_effort", "reliable"],
                    help="input subscriptions: sensor-data QoS as is, or overridden to reliable")
    ap.add_argument("--domain", type=int, default=100 + os.getpid() % 100, help="ROS_DOMAIN_ID")
    args = ap.parse_args(argv)
    from tqdm import tqdm

    configs = [(n, r) for n in args.cameras for r in args.reliability]
    rows = [run_one(n, args.rate, args.cost, args.seconds, args.domain, r)
            for n, r in tqdm(configs, desc="bench_node", unit="config")]
    print(f"\nhamst3r_node, 640x480 rgb8, cameras at {args.rate:g} Hz, fixed pipeline cost "
          f"{args.cost * 1e3:g} ms, {args.seconds:g} s window, {os.cpu_count()} CPUs")
    head = (f"{'cameras':>7} | {'input QoS':>11} | {'img/s/cam in':>12} | {'sets/s out':>10} | {'lat p50 ms':>10} | "
            f"{'lat p90 ms':>10} | {'lat max ms':>10} | {'synced':>6} | {'replaced':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['cameras']:>7} | {r['reliability']:>11} | {r['images_per_s']:>12.2f} | {r['sets_per_s']:>10.2f} | "
              f"{r['lat_p50']:>10.1f} | "
              f"{r['lat_p90']:>10.1f} | {r['lat_max']:>10.1f} | {r['synced']:>6} | {r['replaced']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
