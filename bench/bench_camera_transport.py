"""Delivery lag of simulated camera images through ROS 2, with and without our Fast DDS profile.

Starts ``sim_cameras`` (4 cameras, 320x240 RGB, 2 Hz: each frame set is one burst of four
230 KB images from one process) twice, first with Fast DDS's default participant (512 KB
shared-memory segment), then with the profile our executables use by default
(``hamst3r_ros/ros/transport.py``: 32 MB segment), and subscribes reliably from this process.
Prints, per camera, the median and maximum lag (receive time - stamp) and how many images
arrived. Loopback only (ROS_DOMAIN_ID of its own).

    .venv/bin/python bench/bench_camera_transport.py [--seconds 15] [--domain-id 93]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULTS_XML = """<?xml version="1.0" encoding="UTF-8" ?>
<dds xmlns="http://www.eprosima.com"><profiles>
  <participant profile_name="fastdds_defaults" is_default_profile="true"><rtps/></participant>
</profiles></dds>
"""
CAMERAS = ["cam0", "cam1", "cam2", "cam3"]


def measure(profile: str, seconds: float, domain: int) -> dict[str, list[float]]:
    """Lags (ms) per camera while a sim_cameras process runs with FASTDDS_DEFAULT_PROFILES_FILE=profile."""
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), FASTDDS_DEFAULT_PROFILES_FILE=profile)
    sim = subprocess.Popen(
        [sys.executable, "-m", "hamst3r_ros.ros.sim_cameras", "--ros-args", "-r", "__node:=sim_cameras",
         "-r", "__ns:=/bench", "-p", "source:=synthetic", "-p", "synthetic_cameras:=4", "-p", "synthetic_people:=2",
         "-p", "width:=320", "-p", "height:=240", "-p", "rate_hz:=2.0", "-p", f"cameras:=[{','.join(CAMERAS)}]"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    rclpy.init()
    lags: dict[str, list[float]] = {c: [] for c in CAMERAS}
    try:
        node = Node("transport_probe", namespace="/bench")

        def on_image(msg, cam):
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            lags[cam].append((node.get_clock().now().nanoseconds - stamp) * 1e-6)

        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        for cam in CAMERAS:
            node.create_subscription(Image, f"{cam}/image_raw", lambda m, c=cam: on_image(m, c), qos)
        t_end = time.monotonic() + seconds + 15.0  # the simulator renders its scene first
        started = None
        while time.monotonic() < t_end:
            rclpy.spin_once(node, timeout_sec=0.1)
            if started is None and any(lags.values()):
                started = time.monotonic()
                t_end = started + seconds
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
        sim.terminate()
        sim.wait(timeout=10)
    return lags


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0, help="listening time per configuration")
    ap.add_argument("--domain-id", type=int, default=93, help="ROS_DOMAIN_ID used by this benchmark")
    args = ap.parse_args()
    from hamst3r_ros.ros.transport import use_large_shm_segment

    with tempfile.TemporaryDirectory() as tmp:
        defaults = Path(tmp) / "fastdds_defaults.xml"
        defaults.write_text(DEFAULTS_XML)
        ours = use_large_shm_segment(env={})
        rows = []
        for name, profile in (("Fast DDS default (512 KB segment)", str(defaults)), ("hamst3r profile (32 MB)", ours)):
            lags = measure(profile, args.seconds, args.domain_id)
            for cam in CAMERAS:
                v = np.asarray(lags[cam])
                rows.append((name, cam, len(v), np.median(v) if len(v) else float("nan"), v.max() if len(v) else float("nan")))
    print(f"\nsim_cameras -> subscriber, 4 x 320x240 RGB at 2 Hz, reliable, {args.seconds:.0f} s each")
    print(f"{'participant profile of sim_cameras':<36} {'camera':>6} {'images':>6} {'median lag ms':>14} {'max lag ms':>11}")
    for name, cam, n, med, mx in rows:
        print(f"{name:<36} {cam:>6} {n:>6} {med:>14.1f} {mx:>11.1f}")


if __name__ == "__main__":
    main()
