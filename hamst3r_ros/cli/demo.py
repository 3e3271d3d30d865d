"""``hamst3r demo``: the synthetic multi-camera demo through the real node.

Starts, as separate processes and exactly as ``launch/multi_cam.launch.py`` would (same
names, parameter files and remappings, from hamst3r_ros.ros.launch_spec):

- ``sim_cameras``: renders a synthetic room with people and publishes N cameras
  (Image + CameraInfo, real stamps and frame ids) at a chosen rate;
- ``hamst3r_node``: synchronises them, runs the HAMSt3R pipeline (the embedded model unless
  ``--checkpoint`` is given) and publishes points, humans, markers, TF and diagnostics.

This process subscribes to the outputs like any consumer would, prints one line per frame set
(latency, points, people with track ids and positions), a summary, and writes a picture of
the last fused cloud (top view and front view, people in their track colours).
"""
from __future__ import annotations

NAME = "demo"
HELP = "run the synthetic multi-camera demo through the real ROS 2 node and print what comes out"


def add_arguments(parser) -> None:
    parser.add_argument("--framesets", type=int, default=10, help="stop after this many outputs (default 10)")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds (default 300)")
    parser.add_argument("--cameras", type=int, default=4, help="simulated cameras (default 4)")
    parser.add_argument("--people", type=int, default=2, help="simulated people (default 2)")
    parser.add_argument("--rate", type=float, default=2.0, help="camera rate, Hz (default 2)")
    parser.add_argument("--width", type=int, default=320, help="camera image width (default 320)")
    parser.add_argument("--height", type=int, default=240, help="camera image height (default 240)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic scene seed (default 0)")
    parser.add_argument("--checkpoint", default="", help="model file (default: the embedded model)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    parser.add_argument("--min-confidence", type=float, default=0.0,
                        help="multi-view consensus confidence a point needs (node parameters fusion_min_confidence "
                        "and min_confidence; default 0: show everything, each point carries its confidence; "
                        "the embedded model is young and its confidences are low)")
    parser.add_argument("--out", default="demo_out", help="folder for the picture of the last cloud (default demo_out)")
    parser.add_argument("--unposed", action="store_true",
                        help="do not tell the node where the cameras are: the rig is aligned from the images alone, "
                        "in the first camera's frame and the network's scale (default: the simulated rig's poses "
                        "are given, as a robot's TF would, so the output is metric and z-up)")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: from the environment, else 77)")


def _env(domain_id, log_dir):
    import os

    env = dict(os.environ)
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    env.setdefault("ROS_DOMAIN_ID", "77")
    # The demo stays on this machine. Large images and clouds cross processes through Fast
    # DDS's shared memory, with the segment our executables size for them (ros/transport.py).
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.setdefault("ROS_LOG_DIR", str(log_dir))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _write_rig_extrinsics(args, cams, path) -> None:
    """The simulated cameras' poses (the same seeded scene sim_cameras renders) as the
    node's extrinsics YAML, like the TF of a calibrated robot."""
    import yaml
    from scipy.spatial.transform import Rotation

    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    scene = SyntheticScene(SceneConfig(seed=args.seed, num_cameras=args.cameras, num_people=args.people,
                                       width=args.width, height=args.height))
    doc = {}
    for name, T in zip(cams, scene.camera_poses(0.0)):
        doc[name] = {"translation": [float(v) for v in T[:3, 3]],
                     "rotation": [float(v) for v in Rotation.from_matrix(T[:3, :3]).as_quat()]}
    path.write_text(yaml.safe_dump(doc))


def _plot_cloud(xyz, rgb, inst, path, max_height=None) -> None:
    """Top view (x-y) and front view (y-z) of a cloud, people drawn in track colours.

    ``max_height``: in a z-up metric frame, leave points above it (the ceiling) out of the
    top view so that the room and the people show."""
    import numpy as np
    from PIL import Image

    size = 360
    panels = []
    if len(xyz) == 0:
        Image.new("RGB", (2 * size, size), (30, 30, 30)).save(path)
        return
    lo, hi = np.percentile(xyz, 1, axis=0), np.percentile(xyz, 99, axis=0)
    span = float(max(hi - lo)) + 1e-6
    colours = rgb.copy()
    person = inst > 0
    palette = np.array([[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180],
                        [70, 240, 240], [240, 50, 230], [210, 245, 60]], np.uint8)
    colours[person] = palette[(inst[person] - 1) % len(palette)]
    for a, b, depth_axis, flip in ((0, 1, 2, True), (1, 2, 0, False)):
        img = np.full((size, size, 3), 30, np.uint8)
        u = ((xyz[:, a] - lo[a]) / span * (size - 1)).astype(int)
        v = ((xyz[:, b] - lo[b]) / span * (size - 1)).astype(int)
        v = size - 1 - v
        ok = (u >= 0) & (u < size) & (v >= 0) & (v < size)
        if flip and max_height is not None:
            ok &= xyz[:, 2] <= max_height
        order = np.argsort(xyz[ok, depth_axis] * (1 if flip else -1))  # nearer points drawn last
        uu, vv, cc = u[ok][order], v[ok][order], colours[ok][order]
        img[vv, uu] = cc
        panels.append(img)
    Image.fromarray(np.concatenate(panels, 1)).save(path)


def run(args) -> int:
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    import threading
    import time
    from pathlib import Path

    import numpy as np

    from hamst3r_ros.ros import launch_spec

    if args.cameras < 2:
        print("error: --cameras must be >= 2 (multi-view reconstruction needs two views)")
        return 2
    if args.checkpoint and not Path(args.checkpoint).is_file():
        print(f"error: --checkpoint {args.checkpoint}: no such file")
        return 2
    if not args.checkpoint:
        from hamst3r_ros.model.embedded import embedded_checkpoint

        try:
            embedded_checkpoint()
        except FileNotFoundError as e:
            print(f"error: {e}")
            return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="hamst3r_demo_logs_"))
    env = _env(args.domain_id, log_dir)
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOG_DIR")})
    cams = [f"cam{k}" for k in range(args.cameras)]
    node_params = {
        "cameras": cams,
        "image_topics": [f"{c}/image_raw" for c in cams],
        "camera_info_topics": [f"{c}/camera_info" for c in cams],
        "min_cameras": 2, "checkpoint": args.checkpoint, "device": args.device,
        # A camera counts as gone after three missed frames at the simulated rate.
        "camera_timeout_s": max(1.0, 3.0 / args.rate),
        "fusion_min_confidence": args.min_confidence, "min_confidence": args.min_confidence,
    }
    # On one machine, best-effort delivery drops most large images of a burst; the simulated
    # driver publishes reliably, so subscribe reliably too (ROS 2's standard QoS overrides).
    for c in cams:
        node_params[f"qos_overrides./{launch_spec.DEFAULT_NAMESPACE}/{c}/image_raw.subscription.reliability"] = "reliable"
    sim_params = {"source": "synthetic", "synthetic_cameras": args.cameras, "synthetic_people": args.people, "width": args.width,
                  "height": args.height, "rate_hz": args.rate, "seed": args.seed, "cameras": cams}
    if not args.unposed:
        extr = out / "rig_extrinsics.yaml"
        _write_rig_extrinsics(args, cams, extr)
        node_params["extrinsics_file"] = str(extr.resolve())
    specs = launch_spec.system(node_parameters=node_params, sim_parameters=sim_params)
    ns = launch_spec.DEFAULT_NAMESPACE

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from diagnostic_msgs.msg import DiagnosticArray
    from hamst3r_msgs.msg import HumanArray
    from sensor_msgs.msg import PointCloud2

    from hamst3r_ros.ros.conversions.pointcloud import pointcloud2_to_numpy, unpack_rgb

    rclpy.init(args=[])
    node = rclpy.create_node("hamst3r_demo_listener")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    lock = threading.Lock()
    state = {"clouds": [], "humans": {}, "diag": None, "diag_t": 0.0}

    def on_points(msg):
        with lock:
            state["clouds"].append((time.time(), msg))

    def on_humans(msg):
        with lock:
            state["humans"][(msg.header.stamp.sec, msg.header.stamp.nanosec)] = msg

    def on_diag(msg):
        with lock:
            state["diag"] = msg
            state["diag_t"] = time.time()

    node.create_subscription(PointCloud2, f"/{ns}/points", on_points, qos)
    node.create_subscription(HumanArray, f"/{ns}/humans", on_humans, qos)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, qos)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()

    procs = []
    print(f"[demo] {args.cameras} simulated cameras ({args.width}x{args.height} at {args.rate} Hz), "
          f"{args.people} people; model: {args.checkpoint or 'embedded default'}")
    for spec in specs:
        cmd = launch_spec.command(spec, ns, python=sys.executable)
        print(f"[demo] starting {spec.name}: {' '.join(cmd[:3])} ... ({len(cmd)} args)")
        procs.append((spec.name, subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                  text=True)))
    logs = {name: [] for name, _ in procs}

    def pump(name, p):
        for line in p.stdout:
            logs[name].append(line.rstrip())
            if "error" in line.lower() or "warn" in line.lower():
                print(f"[{name}] {line.rstrip()}")

    for name, p in procs:
        threading.Thread(target=pump, args=(name, p), daemon=True).start()

    t_start = time.time()
    printed = 0
    last_msg = None
    rc = 0
    try:
        while printed < args.framesets:
            if time.time() - t_start > args.timeout:
                print(f"[demo] timeout after {args.timeout:.0f} s with {printed} outputs")
                rc = 1
                break
            dead = [(n, p.returncode) for n, p in procs if p.poll() is not None]
            if dead:
                for n, code in dead:
                    print(f"[demo] {n} exited with code {code}; its last lines:")
                    for line in logs[n][-15:]:
                        print(f"    {line}")
                rc = 1
                break
            with lock:
                clouds, state["clouds"] = state["clouds"], []
                humans = dict(state["humans"])
            for t_recv, msg in clouds:
                stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
                arr = pointcloud2_to_numpy(msg)
                hum = humans.get((msg.header.stamp.sec, msg.header.stamp.nanosec))
                people = []
                if hum is not None:
                    for h in hum.humans:
                        p = h.root.position
                        people.append(f"#{h.id} {['tentative', 'tracked', 'lost', 'removed'][h.state]} "
                                      f"({p.x:+.2f}, {p.y:+.2f}, {p.z:+.2f})")
                n_person = int((arr["instance"] > 0).sum()) if "instance" in arr.dtype.names else 0
                printed += 1
                print(f"[demo] set {printed:3d}  stamp {stamp:.3f}  latency {1000 * (t_recv - stamp):7.0f} ms  "
                      f"points {len(arr):6d} ({n_person} on people)  people: {', '.join(people) or 'none'}")
                last_msg = msg
            time.sleep(0.05)
        # The node publishes /diagnostics on its own timer: on a fast machine the sets can all
        # arrive before the first diagnostics message, so wait for one that follows the last set.
        t_last = time.time()
        while rc == 0 and time.time() - t_last < 10.0:
            with lock:
                if state["diag_t"] > t_last:
                    break
            time.sleep(0.05)
    except KeyboardInterrupt:
        print("[demo] interrupted")
    finally:
        for name, p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        with lock:
            diag = state["diag"]
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()

    if diag is not None:
        print("[demo] diagnostics:")
        for st in diag.status:
            vals = ", ".join(f"{kv.key}={kv.value}" for kv in st.values[:8])
            print(f"    [{st.level if isinstance(st.level, int) else int.from_bytes(st.level, 'little')}] "
                  f"{st.name}: {st.message} {vals}")
    if last_msg is not None:
        arr = pointcloud2_to_numpy(last_msg)
        xyz = np.stack([arr["x"], arr["y"], arr["z"]], 1)
        rgb = unpack_rgb(arr["rgb"]) if "rgb" in arr.dtype.names else np.full((len(arr), 3), 200, np.uint8)
        inst = arr["instance"].astype(np.int64) if "instance" in arr.dtype.names else np.zeros(len(arr), np.int64)
        pic = out / "last_cloud.png"
        _plot_cloud(xyz, rgb, inst, pic, max_height=None if args.unposed else 2.0)
        print(f"[demo] picture of the last cloud (top view | front view): {pic}")
    print(f"[demo] {printed} frame sets in {time.time() - t_start:.1f} s; node logs in {log_dir}")
    return rc if printed else 1
