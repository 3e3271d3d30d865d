"""``hamst3r_node``: N camera topics in, a human-aware 3D scene out.

Threads: the ROS executor (one thread) receives images and camera_info, validates and
converts them, synchronises them (:mod:`hamst3r_ros.ros.sync`) and hands each frame set to
the pipeline worker (:mod:`hamst3r_ros.ros.worker`: latest wins, never on the executor). The
worker runs ``pipeline.process(FrameSet) -> SceneResult`` and publishes ``~/points``,
``~/markers``, ``~/humans`` and ``/tf``. A timer publishes ``/diagnostics``. A jump back in
time of the node's clock (``use_sim_time`` with a looping bag or a restarted simulator)
resets the sync and the pipeline's state (``_time_jumped``); a stop request abandons the
frame set in the pipeline (``destroy_node``, ``process.run_node``).

Bad input (wrong or unknown encoding, size disagreeing with step, empty or truncated data,
undecodable compressed data, an image outside sane bounds (a side under 16 px, an aspect
ratio over 8:1, more than ``max_image_pixels``), NaN or unusable camera_info, stale, future
or out-of-order stamps) is logged once per camera and reason, counted in /diagnostics and
skipped; a camera that stops is left out of frame sets (after ``camera_timeout_s`` of stamp
time) until it comes back. A bad camera_info only costs that camera its intrinsics (K unknown), not its
images; an all-zero K is an uncalibrated camera (REP-104), not bad input. Lens distortion
(plumb_bob, rational_polynomial, equidistant) travels with each frame (CameraFrame.distortion)
and the pipeline undistorts; an unknown distortion model or a wrong number of coefficients is
bad camera_info too, and then that camera's images are skipped (their geometry would be
wrong) until a usable camera_info arrives. A pipeline named by the ``pipeline`` parameter gets
the raw images with their ``distortion`` (hamst3r_ros.geometry.distortion.Undistorter undoes it).

The pipeline is, in order of precedence: an object passed to :class:`Hamst3rNode`; the
``pipeline`` parameter ``module:factory`` (the factory is called with the node's parameters as
a dict and returns an object with ``process``); ``hamst3r_ros.pipeline.build_pipeline``.
"""
from __future__ import annotations

import importlib
import sys
import threading
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from rclpy.clock import Clock, ClockChange, ClockType, JumpThreshold
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions

from diagnostic_msgs.msg import DiagnosticArray
from hamst3r_msgs.msg import HumanArray
from hri_msgs.msg import IdsList
from people_msgs.msg import People
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from hamst3r_ros.ros.conversions import (ConversionError, camera_info_to_distortion, camera_info_to_K, camera_transforms,
                                         check_image_dimensions,
                                         clear_markers, compressed_to_rgb8, humans_to_array,
                                         humans_to_ids, humans_to_markers, humans_to_people,
                                         humans_to_transforms, image_to_rgb8,
                                         scene_to_pointcloud2, stamp_to_ns)
from hamst3r_ros.ros.params import ParameterError, declare_params
from hamst3r_ros.ros.diagnostics import NodeDiagnostics, to_diagnostic_array
from hamst3r_ros.ros.sync import ApproximateSync, AddResult
from hamst3r_ros.ros.time_jumps import BackwardJumpDetector
from hamst3r_ros.ros.worker import LatestWinsWorker
from hamst3r_ros.types import CameraFrame, FrameSet, LensDistortion, SceneResult

NODE_NAME = "hamst3r_node"

#: Inputs use sensor-data QoS (best effort: it matches every publisher). Its reliability,
#: depth and history can be overridden per topic with ROS 2's standard parameters, e.g.
#: ``-p qos_overrides./cam0/image_raw.subscription.reliability:=reliable``: with reliable
#: publishers of large raw images, a reliable subscription avoids losing whole images when
#: several arrive at once (measured by bench/bench_node.py).
_QOS_OVERRIDES = QoSOverridingOptions.with_default_policies()


@dataclass(frozen=True)
class _Job:
    """A frame set for the pipeline worker, with the time epoch it belongs to (the epoch
    goes up at every jump back in time: results of an older epoch are not published)."""

    frameset: FrameSet
    epoch: int


class PipelineUnavailable(RuntimeError):
    """No pipeline could be built (none injected, none named, the real one not importable)."""


def load_pipeline(spec: str, params: dict[str, Any]):
    """Build a pipeline from ``"module:factory"``: ``factory(params)`` must return an object
    with a ``process(FrameSet) -> SceneResult`` method."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise PipelineUnavailable(
            f"parameter 'pipeline' must look like 'package.module:factory', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PipelineUnavailable(f"parameter 'pipeline': cannot import {module_name!r}: {exc}")
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise PipelineUnavailable(
            f"parameter 'pipeline': {module_name!r} has no callable {attr!r}")
    pipeline = factory(params)
    if not callable(getattr(pipeline, "process", None)):
        raise PipelineUnavailable(
            f"parameter 'pipeline': {spec} returned {type(pipeline).__name__}, which has no "
            "process(FrameSet) -> SceneResult method")
    return pipeline


def build_default_pipeline(params: dict[str, Any]):
    """The real pipeline, ``hamst3r_ros.pipeline.build_pipeline(params)``."""
    try:
        module = importlib.import_module("hamst3r_ros.pipeline")
    except ModuleNotFoundError as exc:
        if exc.name != "hamst3r_ros.pipeline":
            raise
        raise PipelineUnavailable(
            "the HAMSt3R pipeline (hamst3r_ros.pipeline) is not available in this install; "
            "set the parameter 'pipeline' to 'module:factory' of a pipeline to run") from None
    return module.build_pipeline(params)


class Hamst3rNode(Node):
    """The live node. ``pipeline``: inject a pipeline object (tests); otherwise see module doc.

    Other keyword arguments go to ``rclpy.node.Node`` (``context``, ``cli_args``,
    ``parameter_overrides``, ``namespace``...).
    """

    def __init__(self, pipeline=None, node_name: str = NODE_NAME, **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        self.cfg = declare_params(self)
        cams = self.cfg.cameras
        self.camera_names = [c.name for c in cams]
        self.sync = ApproximateSync(
            self.camera_names, slop_s=self.cfg.sync_slop_s, queue_size=self.cfg.sync_queue_size,
            camera_timeout_s=self.cfg.camera_timeout_s, min_cameras=self.cfg.min_cameras)
        self._camera_info: dict[str, CameraInfo] = {}
        # Lens distortion of the usable camera_info, and a camera_info whose distortion is
        # unusable (its images are then skipped), per camera.
        self._lens: dict[str, Optional[LensDistortion]] = {}
        self._lens_error: dict[str, ConversionError] = {}
        self._shutdown = threading.Event()
        # Held while the worker publishes a result; destroy_node takes it to stop publishing.
        self._publish_lock = threading.Lock()
        # Jumps back in time (see time_jumps.py): each one starts a new epoch; the worker
        # resets the pipeline before its first frame set of a new epoch.
        self._jumps = BackwardJumpDetector()
        self._epoch = 0
        self._pipeline_epoch = 0
        if pipeline is None:
            params = dict(self.cfg.values)
            if self.cfg.pipeline:
                pipeline = load_pipeline(self.cfg.pipeline, params)
            else:
                pipeline = build_default_pipeline(params)
        self.pipeline = pipeline

        reliable = QoSProfile(depth=10)
        self.pub_points = self.create_publisher(PointCloud2, "~/points", reliable)
        self.pub_markers = self.create_publisher(MarkerArray, "~/markers", reliable)
        self.pub_humans = self.create_publisher(HumanArray, "~/humans", reliable)
        self.pub_tf = self.create_publisher(TFMessage, "/tf", reliable)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", reliable)
        # For Nav2 social costmap layers (people_msgs/People) and ros4hri / REP-155 consumers
        # (hri_msgs/IdsList of the body_<id> frames).
        self.pub_people = self.create_publisher(People, "~/people", reliable)
        self.pub_bodies = self.create_publisher(IdsList, "/humans/bodies/tracked", reliable)
        self._last_points_ns = 0

        # Forget markers a previous run left in RViz.
        self.pub_markers.publish(clear_markers(self.cfg.fixed_frame))

        resolved = {}
        for cam in cams:
            msg_type = CompressedImage if cam.compressed else Image
            sub = self.create_subscription(
                msg_type, cam.image_topic,
                lambda msg, name=cam.name, c=cam.compressed: self._on_image(name, msg, c),
                qos_profile_sensor_data, qos_overriding_options=_QOS_OVERRIDES)
            resolved[cam.name] = sub.topic_name
            if cam.camera_info_topic:
                self.create_subscription(
                    CameraInfo, cam.camera_info_topic,
                    lambda msg, name=cam.name: self._on_camera_info(name, msg),
                    qos_profile_sensor_data, qos_overriding_options=_QOS_OVERRIDES)

        self.diag = NodeDiagnostics(self.get_name(), resolved,
                                    hardware_id=self.get_fully_qualified_name())
        self.worker = LatestWinsWorker(self._run_pipeline, self._on_result, self._on_error,
                                       name="hamst3r-pipeline")
        self._watch_clock()
        # On the steady clock: /diagnostics keeps coming while a simulator is paused or its
        # clock starts over (use_sim_time); the statuses are stamped with the node's clock.
        self.create_timer(self.cfg.diagnostics_period_s, self._publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(
            f"{len(cams)} cameras ({', '.join(self.camera_names)}), slop "
            f"{self.cfg.sync_slop_s * 1e3:.0f} ms, fixed frame '{self.cfg.fixed_frame}', "
            f"pipeline {type(self.pipeline).__name__}")

    # -- time (executor thread) ---------------------------------------------------------------

    def _watch_clock(self) -> None:
        """Register for jumps of the node's clock as tf2_ros::Buffer does: any jump back
        (threshold 1 ns) and a change of time source (use_sim_time switched)."""
        self._jump_handle = self.get_clock().create_jump_callback(
            JumpThreshold(min_forward=None, min_backward=Duration(nanoseconds=-1),
                          on_clock_change=True),
            post_callback=self._on_clock_jump)

    def _on_clock_jump(self, jump) -> None:
        """rclpy's post-jump callback: the clock was set back, or its source changed."""
        if jump.clock_change in (ClockChange.ROS_TIME_ACTIVATED, ClockChange.ROS_TIME_DEACTIVATED):
            self._jumps.forget()  # the new readings are not comparable with the old ones
            self._time_jumped(jump.delta.nanoseconds, "the time source changed")
            self._jumps.observe(self.get_clock().now().nanoseconds)
            return
        self._check_clock(self.get_clock().now().nanoseconds)

    def _check_clock(self, now_ns: int) -> None:
        """Feed one reading of the node's clock (nanoseconds) to the jump detector."""
        jump_ns = self._jumps.observe(now_ns)
        if jump_ns is not None:
            self._time_jumped(jump_ns, "detected jump back in time")

    def _time_jumped(self, jump_ns: int, what: str) -> None:
        """Start over in time (a jump of ``jump_ns`` nanoseconds, or a new time source): the
        sync forgets its stamps, and the pipeline's people tracker and alignment warm start
        are reset before its next frame set (on its own thread); results of frame sets from
        before the jump are not published."""
        self.sync.reset()
        self._epoch += 1
        if self.diag.record_time_jump(jump_ns * 1e-9):
            self.get_logger().warning(
                f"{what} ({jump_ns * 1e-9:+.3f} s): resetting the sync, the people tracker and "
                "the alignment's warm start (logged once; counted in /diagnostics as time_jumps)")

    # -- input (executor thread) --------------------------------------------------------------

    def _bad(self, camera: str, reason: str, detail: str) -> None:
        if self.diag.record_bad(camera, reason):
            self.get_logger().warning(
                f"camera {camera}: skipping input ({reason}): {detail} "
                "(logged once; counted in /diagnostics)")

    def _on_camera_info(self, name: str, msg: CameraInfo) -> None:
        """Keep the newest usable CameraInfo and its lens distortion; a bad one is counted once
        per message and the camera's images are used without intrinsics until a good one
        arrives (skipped instead when its distortion is what is bad)."""
        self._lens_error.pop(name, None)
        self._lens.pop(name, None)
        if not any(msg.k):
            # All-zero K is an uncalibrated camera (REP-104): intrinsics unknown, not bad input.
            self._camera_info.pop(name, None)
            return
        try:
            camera_info_to_K(msg)
        except ConversionError as exc:
            self._camera_info.pop(name, None)
            self._bad(name, exc.reason, exc.detail)
            return
        try:
            self._lens[name] = camera_info_to_distortion(msg)
        except ConversionError as exc:
            self._camera_info.pop(name, None)
            self._lens_error[name] = exc
            self._bad(name, exc.reason, exc.detail + "; this camera's images are skipped until a usable camera_info")
            return
        self._camera_info[name] = msg

    def _on_image(self, name: str, msg, compressed: bool) -> None:
        try:
            self._handle_image(name, msg, compressed)
        finally:
            # Counted once handled, so "received" also means "synced and handed over".
            self.diag.record_received(name)

    def _handle_image(self, name: str, msg, compressed: bool) -> None:
        stamp_ns = stamp_to_ns(msg.header.stamp)
        now_ns = self.get_clock().now().nanoseconds
        self._check_clock(now_ns)
        age_limit_ns = self.cfg.max_input_age_s * 1e9
        if now_ns - stamp_ns > age_limit_ns:
            self._bad(name, "stale", f"stamp {stamp_ns * 1e-9:.3f} s is "
                      f"{(now_ns - stamp_ns) * 1e-9:.2f} s old (max_input_age_s "
                      f"{self.cfg.max_input_age_s})")
            return
        if stamp_ns - now_ns > age_limit_ns:
            # One camera with a clock far ahead would make every other camera look absent
            # and every later frame look stale: refuse it instead.
            self._bad(name, "future", f"stamp {stamp_ns * 1e-9:.3f} s is "
                      f"{(stamp_ns - now_ns) * 1e-9:.2f} s ahead of this node's clock "
                      f"(max_input_age_s {self.cfg.max_input_age_s})")
            return
        lens_error = self._lens_error.get(name)
        if lens_error is not None:
            self._bad(name, lens_error.reason, lens_error.detail)
            return
        try:
            image = self._to_rgb8(msg, compressed)
        except ConversionError as exc:
            self._bad(name, exc.reason, exc.detail)
            return
        K = None
        info = self._camera_info.get(name)
        if info is not None:
            try:
                K = camera_info_to_K(info, (image.shape[1], image.shape[0]))
            except ConversionError as exc:
                # The image itself is fine: use it without intrinsics (unless its lens
                # distorts: without K it cannot be undistorted, and its geometry is wrong).
                self._bad(name, exc.reason, exc.detail)
                if self._lens.get(name) is not None:
                    return
        frame = CameraFrame(name=name, image=image, stamp_ns=stamp_ns, frame_id=msg.header.frame_id, K=K,
                            distortion=self._lens.get(name) if K is not None else None)
        self._handle_sync(name, self.sync.add(name, stamp_ns, frame))

    def _to_rgb8(self, msg, compressed: bool):
        """(H, W, 3) uint8 RGB of an image message within the node's size bounds (checked
        from the header before decoding a raw image); ConversionError otherwise."""
        limit = self.cfg.max_image_pixels
        if compressed:
            image = compressed_to_rgb8(msg)
            check_image_dimensions(image.shape[1], image.shape[0], limit)
            return image
        check_image_dimensions(msg.width, msg.height, limit)
        return image_to_rgb8(msg)

    def _handle_sync(self, name: str, r: AddResult) -> None:
        if not r.accepted:
            self._bad(name, r.reason, "stamp not newer than this camera's previous one"
                      if r.reason == "out_of_order" else
                      "stamp older than the frame sets already produced")
            return
        for cam, _ in r.dropped:
            self.diag.record_dropped(cam)
        for cam in r.went_absent:
            self.diag.record_presence(cam, True)
            self.get_logger().warning(
                f"camera {cam}: no image for {self.cfg.camera_timeout_s} s; continuing without it")
        for cam in r.came_back:
            self.diag.record_presence(cam, False)
            self.get_logger().info(f"camera {cam}: back")
        if r.synced is None:
            return
        s = r.synced
        self.diag.record_synced(s.items)
        frames = [payload for _, payload in s.items.values()]
        frameset = FrameSet(frames=frames, stamp_ns=s.stamp_ns)
        if self.worker.submit(_Job(frameset, self._epoch)) is not None:
            self.diag.record_replaced()

    # -- output (worker thread) -----------------------------------------------------------------

    def _run_pipeline(self, job: _Job) -> Optional[SceneResult]:
        """The worker's work: reset the pipeline first when time jumped back since its last
        frame set (``reset()`` when it has one: injected pipelines may not), then run it.
        A frame set from before the latest jump is skipped (None)."""
        epoch = self._epoch
        if job.epoch != epoch:
            return None
        if self._pipeline_epoch != epoch:
            reset = getattr(self.pipeline, "reset", None)
            if callable(reset):
                reset()
            self._pipeline_epoch = epoch
        return self.pipeline.process(job.frameset)

    def _on_result(self, job: _Job, result: Optional[SceneResult], seconds: float) -> None:
        if result is None:
            return
        self.diag.record_processed(seconds, getattr(result, "timings_s", None),
                                   getattr(result, "rejected_people", None), getattr(result, "rig_state", ""))
        with self._publish_lock:
            if self._shutdown.is_set() or not self.context.ok() or job.epoch != self._epoch:
                return
            self._publish_result(job.frameset, result)

    def _publish_result(self, frameset: FrameSet, result: SceneResult) -> None:
        frame, stamp = self.cfg.fixed_frame, result.stamp_ns
        transforms = humans_to_transforms(result.humans, frame, stamp)
        if self.cfg.publish_camera_tf:
            frame_ids = {f.name: f.frame_id for f in frameset.frames}
            transforms = camera_transforms(result, frame, [
                frame_ids.get(n) or f"{n}_optical_frame" for n in result.camera_names]) + transforms
        if transforms:
            self.pub_tf.publish(TFMessage(transforms=transforms))
        self.pub_humans.publish(humans_to_array(result.humans, frame, stamp))
        self.pub_people.publish(humans_to_people(result.humans, frame, stamp))
        self.pub_bodies.publish(humans_to_ids(result.humans, frame, stamp))
        self.pub_markers.publish(humans_to_markers(result.humans, frame, stamp,
                                                   self.cfg.marker_lifetime_s))
        # ~/points last: its arrival means everything of this set is out.
        if self.cfg.points_min_period_s <= 0 or \
                stamp - self._last_points_ns >= self.cfg.points_min_period_s * 1e9:
            # The pipeline filtered the cloud where it fused it (min_confidence, voxel_size,
            # max_points, min_views_agree): published as it comes.
            self.pub_points.publish(scene_to_pointcloud2(result, frame))
            self._last_points_ns = stamp
        self.diag.record_published(result.stamp_ns, self.get_clock().now().nanoseconds)

    def _on_error(self, job: _Job, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if self.diag.record_pipeline_error(message):
            self.get_logger().error(f"pipeline failed on the frame set at "
                                    f"{job.frameset.stamp_ns * 1e-9:.3f} s: {message} "
                                    "(logged once; counted in /diagnostics)")

    def _publish_diagnostics(self) -> None:
        stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(to_diagnostic_array(self.diag.statuses(), stamp))

    def destroy_node(self):
        """Stop publishing and destroy the node without waiting for the frame set in flight.

        The pipeline may be seconds into a frame set: it is abandoned (its result is never
        published), so that shutdown takes milliseconds. Publishing that already started
        finishes first (``_publish_lock``). Safe on a node whose ``__init__`` failed half-way.
        """
        shutdown = getattr(self, "_shutdown", None)
        lock = getattr(self, "_publish_lock", None)
        if shutdown is not None and lock is not None:
            with lock:
                shutdown.set()
        worker = getattr(self, "worker", None)
        if worker is not None:
            worker.stop(timeout=0.0)
        return super().destroy_node()


def main(args: Optional[Sequence[str]] = None) -> int:
    """Console script ``hamst3r_node``: spin until Ctrl-C or SIGTERM, then exit cleanly."""
    from hamst3r_ros.ros.process import run_node

    return run_node("hamst3r_node", Hamst3rNode, args,
                    (ParameterError, PipelineUnavailable, FileNotFoundError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
