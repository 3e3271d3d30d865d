"""``hamst3r demo``: the synthetic multi-camera demo through the real node.

Starts, as separate processes and exactly as ``launch/multi_cam.launch.py`` would (same
names, parameter files and remappings, from hamst3r_ros.ros.launch_spec):

- ``sim_cameras``: renders a synthetic room with people and publishes N cameras
  (Image + CameraInfo, real stamps and frame ids) at a chosen rate;
- ``hamst3r_node``: synchronises them, runs the HAMSt3R pipeline (the embedded model unless
  ``--checkpoint`` is given) and publishes points, humans, markers, TF and diagnostics.

This process subscribes to the outputs like any consumer would and prints one line per frame
set (latency, points, people with track ids and positions). It also renders the same seeded
scene itself, recognises which scene frame each output belongs to (by the first camera's
image), and prints how right the output is, as ``hamst3r eval-system`` measures it: cloud
error and completeness against the true surface, true vs shown people, ids so far; a
summary at the end; and a picture of the last cloud beside the ground truth (top and front
views, published and true skeletons with their ids: ``hamst3r_ros/system_eval/picture.py``).
With ``--record out.mcap`` it also writes the node's inputs and outputs to the bag ``out/``
(:mod:`hamst3r_ros.ros.bag_record`), to replay with ``sim_cameras``' bag mode.
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
                        help="multi-view consensus confidence a point needs (node parameter min_confidence; default 0: "
                        "show everything, each point carries its confidence; "
                        "the embedded model is young and its confidences are low)")
    parser.add_argument("--out", default="demo_out", help="folder for the picture of the last cloud (default demo_out)")
    parser.add_argument("--unposed", action="store_true",
                        help="do not tell the node where the cameras are: the rig is aligned from the images alone, "
                        "in the first camera's frame and the network's scale (default: the simulated rig's poses "
                        "are given, as a robot's TF would, so the output is metric and z-up)")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: from the environment, else 77)")
    parser.add_argument("--record", default="", metavar="OUT.mcap",
                        help="also record the node's inputs (images, camera_info) and every output (points, markers, "
                        "humans, people, bodies, tf, diagnostics) to a ROS 2 bag: OUT.mcap or OUT.db3 makes the bag "
                        "folder OUT/ (as `ros2 bag record -o OUT`), for Foxglove, RViz and `ros2 bag play`")


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

    from hamst3r_ros.pipeline import extrinsics_document
    from hamst3r_ros.synthetic.scene import SyntheticScene

    scene = SyntheticScene(_scene_config(args))
    path.write_text(yaml.safe_dump(extrinsics_document(dict(zip(cams, scene.camera_poses(0.0))))))


#: Frame sets sim_cameras renders before it loops (the demo renders the same ones as truth).
SCENE_FRAMES = 64


def _scene_config(args):
    """The scene sim_cameras renders from the demo's parameters (scene time follows the rate)."""
    from hamst3r_ros.synthetic.scene import SceneConfig

    return SceneConfig(seed=args.seed, num_cameras=args.cameras, num_people=args.people, width=args.width,
                       height=args.height, fps=args.rate)


def _frame_at(frame_of_stamp: dict, stamp_ns: int, tolerance_s: float):
    """The scene frame of the first camera's image nearest to an output's stamp (a frame set's
    stamp is its newest image's, a few ms from the first camera's), or None."""
    if not frame_of_stamp:
        return None
    best = min(frame_of_stamp, key=lambda s: abs(s - stamp_ns))
    return frame_of_stamp[best] if abs(best - stamp_ns) <= tolerance_s * 1e9 else None


def _published_joints(msg):
    """HumanArray -> track id -> (24, 3) joints of the people shown (tentative or tracked)."""
    import numpy as np

    out = {}
    for h in msg.humans:
        if h.state not in (0, 1):
            continue
        J = np.array([[p.position.x, p.position.y, p.position.z] for p in h.joints], np.float64).reshape(-1, 3)
        if len(J) != 24:
            continue
        if not np.isfinite(J[0]).all():
            J[0] = (h.root.position.x, h.root.position.y, h.root.position.z)
        out[int(h.id)] = J
    return out


def _check_args(args) -> str:
    """'' when the arguments can run, else one line saying what is wrong."""
    from pathlib import Path

    if args.cameras < 2:
        return "--cameras must be >= 2 (multi-view reconstruction needs two views)"
    if args.checkpoint and not Path(args.checkpoint).is_file():
        return f"--checkpoint {args.checkpoint}: no such file"
    if args.record:
        from hamst3r_ros.recordings.bag_writer import BagError, bag_folder

        try:
            folder, _ = bag_folder(args.record)
        except BagError as e:
            return f"--record {e}"
        if folder.exists():
            return f"--record {args.record}: the bag folder {folder} exists already; give a new name"
    if not args.checkpoint:
        from hamst3r_ros.model.embedded import embedded_checkpoint

        try:
            embedded_checkpoint()
        except FileNotFoundError as e:
            return str(e)
    return ""


def _parameters(args, cams, out):
    """The node's and sim_cameras' parameters for the demo."""
    from hamst3r_ros.ros import launch_spec

    node_params = {
        "cameras": cams,
        "image_topics": [f"{c}/image_raw" for c in cams],
        "camera_info_topics": [f"{c}/camera_info" for c in cams],
        "min_cameras": 2, "checkpoint": args.checkpoint, "device": args.device,
        # A camera counts as gone after three missed frames at the simulated rate.
        "camera_timeout_s": max(1.0, 3.0 / args.rate),
        "min_confidence": args.min_confidence,
    }
    # On one machine, best-effort delivery drops most large images of a burst; the simulated
    # driver publishes reliably, so subscribe reliably too (ROS 2's standard QoS overrides).
    for c in cams:
        node_params[f"qos_overrides./{launch_spec.DEFAULT_NAMESPACE}/{c}/image_raw.subscription.reliability"] = "reliable"
    sim_params = {"source": "synthetic", "synthetic_cameras": args.cameras, "synthetic_people": args.people, "width": args.width,
                  "height": args.height, "rate_hz": args.rate, "seed": args.seed, "cameras": cams,
                  "synthetic_frames": SCENE_FRAMES}
    if not args.unposed:
        extr = out / "rig_extrinsics.yaml"
        _write_rig_extrinsics(args, cams, extr)
        node_params["extrinsics_file"] = str(extr.resolve())
    return node_params, sim_params


class _Listener:
    """The demo's own node: subscribes to the outputs (and the first camera, to recognise scene
    frames) like any consumer, and records inputs and outputs to a bag with ``--record``."""

    def __init__(self, ns: str, cams, truth, record: str = ""):
        import threading

        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from diagnostic_msgs.msg import DiagnosticArray
        from hamst3r_msgs.msg import HumanArray
        from sensor_msgs.msg import Image, PointCloud2

        rclpy.init(args=[])
        self.node = rclpy.create_node("hamst3r_demo_listener")
        self.truth = truth
        self.lock = threading.Lock()
        self.clouds: list = []  # (arrival time, PointCloud2) not yet printed
        self.humans: dict = {}  # stamp -> HumanArray
        self.frame_of_stamp: dict = {}  # first camera's stamp (ns) -> scene frame
        self.diag = None
        self.diag_t = 0.0
        self._own = f"/{ns}/hamst3r_node"
        self.recorder = None
        if record:
            from hamst3r_ros.ros.bag_record import TopicRecorder, camera_topics, node_output_topics

            # Launched with launch_spec's remappings: the node's ~/points is /<ns>/points.
            topics = camera_topics(f"/{ns}", cams) + node_output_topics(f"/{ns}", self._own)
            self.recorder = TopicRecorder(self.node, record, topics)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(PointCloud2, f"/{ns}/points", self._on_points, qos)
        self.node.create_subscription(HumanArray, f"/{ns}/humans", self._on_humans, qos)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, qos)
        self.node.create_subscription(Image, f"/{ns}/{cams[0]}/image_raw", self._on_image, qos)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def _on_points(self, msg):
        import time

        with self.lock:
            self.clouds.append((time.time(), msg))

    def _on_humans(self, msg):
        with self.lock:
            self.humans[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = msg

    def _on_image(self, msg):
        from hamst3r_ros.ros.conversions.image import image_to_rgb8
        from hamst3r_ros.system_eval.live import image_key

        k = self.truth.keys.get(image_key(image_to_rgb8(msg)))
        with self.lock:
            self.frame_of_stamp[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = k

    def _on_diag(self, msg):
        import time

        # /diagnostics is shared by every node of the graph: keep only our node's messages.
        if not any(st.hardware_id == self._own for st in msg.status):
            return
        with self.lock:
            self.diag, self.diag_t = msg, time.time()

    def take(self):
        """The clouds not printed yet, and copies of the humans and scene frames so far."""
        with self.lock:
            clouds, self.clouds = self.clouds, []
            return clouds, dict(self.humans), dict(self.frame_of_stamp)

    def close(self) -> None:
        import rclpy

        if self.recorder is not None:
            self.recorder.close()
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown()


def _start_processes(specs, ns, env):
    """Start sim_cameras and the node as processes; their output lines are kept (and errors printed)."""
    import subprocess
    import sys
    import threading

    from hamst3r_ros.ros import launch_spec

    procs = []
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
    return procs, logs


def _stop_processes(procs) -> None:
    import signal
    import subprocess

    for _, p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for _, p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()


def _print_set(args, printed, t_recv, msg, hum, frames, score):
    """One output line (and its score when its scene frame is known); returns (shown people, frame or None)."""
    import numpy as np

    from hamst3r_ros.ros.conversions.pointcloud import pointcloud2_to_numpy

    stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    arr = pointcloud2_to_numpy(msg)
    people = []
    if hum is not None:
        for h in hum.humans:
            p = h.root.position
            people.append(f"#{h.id} {['tentative', 'tracked', 'lost', 'removed'][h.state]} "
                          f"({p.x:+.2f}, {p.y:+.2f}, {p.z:+.2f})")
    n_person = int((arr["instance"] > 0).sum()) if "instance" in arr.dtype.names else 0
    print(f"[demo] set {printed:3d}  stamp {stamp:.3f}  latency {1000 * (t_recv - stamp):7.0f} ms  "
          f"points {len(arr):6d} ({n_person} on people)  people: {', '.join(people) or 'none'}")
    k = _frame_at(frames, msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec, 0.25 / args.rate)
    if k is None:
        print("[demo]          (not scored: its images were not recognised as the scene's)")
        return {}, None
    xyz = np.stack([arr["x"], arr["y"], arr["z"]], 1)
    shown = _published_joints(hum) if hum is not None else {}
    print(f"[demo]          {score.line(score.add(k, xyz, shown))}")
    return shown, k


def _watch(args, procs, logs, listener, score):
    """Print outputs until ``--framesets`` came, a process died or the timeout; then wait for a
    diagnostics message after the last set. Returns (printed, rc, last cloud, last scored)."""
    import time

    t_start = time.time()
    printed, rc, last_msg, last_scored = 0, 0, None, None
    while printed < args.framesets:
        if time.time() - t_start > args.timeout:
            print(f"[demo] timeout after {args.timeout:.0f} s with {printed} outputs")
            return printed, 1, last_msg, last_scored
        dead = [(n, p.returncode) for n, p in procs if p.poll() is not None]
        if dead:
            for n, code in dead:
                print(f"[demo] {n} exited with code {code}; its last lines:")
                for line in logs[n][-15:]:
                    print(f"    {line}")
            return printed, 1, last_msg, last_scored
        clouds, humans, frames = listener.take()
        for t_recv, msg in clouds[:max(0, args.framesets - printed)]:
            printed += 1
            hum = humans.get((msg.header.stamp.sec, msg.header.stamp.nanosec))
            shown, k = _print_set(args, printed, t_recv, msg, hum, frames, score)
            if k is not None:
                last_scored = (msg, shown, k)
            last_msg = msg
        time.sleep(0.05)
    # The node publishes /diagnostics on its own timer: on a fast machine the sets can all
    # arrive before the first diagnostics message, so wait for one that follows the last set.
    t_last = time.time()
    while time.time() - t_last < 10.0:
        with listener.lock:
            if listener.diag_t > t_last:
                break
        time.sleep(0.05)
    return printed, rc, last_msg, last_scored


def _print_diagnostics(diag) -> None:
    print("[demo] diagnostics:")
    for st in diag.status:
        # cameras: their first values say enough; the pipeline: all (output rate, latency,
        # time per stage, people rejected by rule)
        shown = st.values if st.name.endswith(": pipeline") else st.values[:8]
        vals = ", ".join(f"{kv.key}={kv.value}" for kv in shown)
        print(f"    [{st.level if isinstance(st.level, int) else int.from_bytes(st.level, 'little')}] "
              f"{st.name}: {st.message} {vals}")


def _picture(args, out, truth, last_msg, last_scored) -> None:
    """The last scored cloud beside the ground truth (top and front views)."""
    import numpy as np

    from hamst3r_ros.ros.conversions.pointcloud import pointcloud2_to_numpy, unpack_rgb
    from hamst3r_ros.system_eval.picture import compare_picture

    msg, shown, k = last_scored if last_scored is not None else (last_msg, {}, None)
    arr = pointcloud2_to_numpy(msg)
    xyz = np.stack([arr["x"], arr["y"], arr["z"]], 1)
    rgb = unpack_rgb(arr["rgb"]) if "rgb" in arr.dtype.names else np.full((len(arr), 3), 200, np.uint8)
    inst = arr["instance"].astype(np.int64) if "instance" in arr.dtype.names else np.zeros(len(arr), np.int64)
    pic = out / "last_cloud.png"
    # Unposed output is in the first camera's frame and the network's scale: no truth beside it.
    with_truth = k is not None and not args.unposed
    compare_picture(pic, xyz, rgb, inst, shown, true_xyz=truth.surface[k] if with_truth else None,
                    true_people=truth.people[k] if with_truth else None,
                    true_rgb=truth.colors[k] if with_truth else None,
                    max_height=None if args.unposed else 2.0,
                    title=f"scene frame {k}: published (left) vs ground truth (right); "
                          "white skeletons P<n>: true people, coloured #<id>: published")
    print(f"[demo] picture of the last scored cloud beside the ground truth (top and front views): {pic}")


def _print_recording(recorder) -> None:
    bag = recorder.bag
    total = sum(bag.counts.values())
    print(f"[demo] recorded {total} messages on {len(bag.counts)} topics to the bag {bag.folder} "
          f"({bag.file}: open it in Foxglove; replay it with `ros2 bag play {bag.folder}`, or through the node "
          f"with `sim_cameras --ros-args -p source:=bag -p bag:={bag.folder}`)")


def run(args) -> int:
    import os
    import tempfile
    import time
    from pathlib import Path

    from hamst3r_ros.ros import launch_spec

    problem = _check_args(args)
    if problem:
        print(f"error: {problem}")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="hamst3r_demo_logs_"))
    env = _env(args.domain_id, log_dir)
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOG_DIR")})
    cams = [f"cam{k}" for k in range(args.cameras)]
    node_params, sim_params = _parameters(args, cams, out)
    specs = launch_spec.system(node_parameters=node_params, sim_parameters=sim_params)
    ns = launch_spec.DEFAULT_NAMESPACE

    from hamst3r_ros.system_eval.live import LiveScore, SceneTruth, view_rule

    # The same scene sim_cameras renders, to score what the node publishes against.
    truth = SceneTruth.render(_scene_config(args), SCENE_FRAMES, view_rule(args.checkpoint))
    score = LiveScore(truth, score_cloud=not args.unposed)
    listener = _Listener(ns, cams, truth, args.record)
    print(f"[demo] {args.cameras} simulated cameras ({args.width}x{args.height} at {args.rate} Hz), "
          f"{args.people} people; model: {args.checkpoint or 'embedded default'}")
    t_start = time.time()
    procs, logs = _start_processes(specs, ns, env)
    printed, rc, last_msg, last_scored = 0, 0, None, None
    try:
        printed, rc, last_msg, last_scored = _watch(args, procs, logs, listener, score)
    except KeyboardInterrupt:
        print("[demo] interrupted")
    finally:
        _stop_processes(procs)
        with listener.lock:
            diag = listener.diag
        listener.close()

    if diag is not None:
        _print_diagnostics(diag)
    print("[demo] how right it is: " + score.summary().replace("\n", "\n[demo] "))
    if last_msg is not None:
        _picture(args, out, truth, last_msg, last_scored)
    if listener.recorder is not None:
        _print_recording(listener.recorder)
    print(f"[demo] {printed} frame sets in {time.time() - t_start:.1f} s; node logs in {log_dir}")
    return rc if printed else 1
