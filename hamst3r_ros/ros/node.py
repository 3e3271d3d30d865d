"""``hamst3r_node``: N camera topics in, a human-aware 3D scene out.

Threads: the ROS executor (one thread) receives images and camera_info, validates and
converts them, synchronises them (:mod:`hamst3r_ros.ros.sync`) and hands each frame set to
the pipeline worker (:mod:`hamst3r_ros.ros.worker`: latest wins, never on the executor). The
worker runs ``pipeline.process(FrameSet) -> SceneResult`` and publishes ``~/points``,
``~/markers``, ``~/humans`` and ``/tf``. A timer publishes ``/diagnostics``. A jump back in
time of the node's clock (``use_sim_time`` with a looping bag or a restarted simulator)
resets the sync and the pipeline's state (``_time_jumped``); a stop request abandons the
frame set in the pipeline (``destroy_node``, ``process.run_node``).

A lifecycle node (:class:`Hamst3rNode`): plain (the default) it configures and activates
itself at start; with ``managed:=true`` a lifecycle manager drives configure (parameters,
model), activate (subscriptions, publishing), deactivate, cleanup (model released) and
shutdown. Live parameters (params.py ``ParamSpec.live``) change with ``ros2 param set``, from
the next frame set; the pipeline's through its optional ``update_params(values)``.

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
a dict and returns an object with ``process``, and optionally ``reset()`` and
``update_params(values)``); ``hamst3r_ros.pipeline.build_pipeline``.
"""
from __future__ import annotations

import importlib
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from rclpy.clock import Clock, ClockChange, ClockType, JumpThreshold
from rclpy.duration import Duration
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
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
from hamst3r_ros.errors import is_project_error, one_line
from hamst3r_ros.ros.params import (LIVE_PIPELINE, SPECS, NodeParams, ParameterError, declare_all, read_params,
                                    validate_change)
from hamst3r_ros.ros.diagnostics import NodeDiagnostics, to_diagnostic_array
from hamst3r_ros.ros.sync import ApproximateSync, AddResult
from hamst3r_ros.ros.time_jumps import BackwardJumpDetector
from hamst3r_ros.ros.worker import LatestWinsWorker
from hamst3r_ros.types import CameraFrame, FrameSet, LensDistortion, SceneResult

NODE_NAME = "hamst3r_node"
#: Seconds cleanup waits for the frame set in flight before releasing the pipeline without it.
CLEANUP_WAIT_S = 10.0

#: Inputs use sensor-data QoS (best effort: it matches every publisher). Its reliability,
#: depth and history can be overridden per topic with ROS 2's standard parameters, e.g.
#: ``-p qos_overrides./cam0/image_raw.subscription.reliability:=reliable``: with reliable
#: publishers of large raw images, a reliable subscription avoids losing whole images when
#: several arrive at once (measured by bench/bench_node.py).
_QOS_OVERRIDES = QoSOverridingOptions.with_default_policies()


@dataclass(frozen=True)
class _Job:
    """A frame set for the pipeline worker, with the time epoch it belongs to (the epoch
    goes up at every jump back in time: results of an older epoch are not published) and the
    node's generation (it goes up at every deactivate and cleanup: an older one is dropped)."""

    frameset: FrameSet
    epoch: int
    generation: int = 0


@dataclass(frozen=True)
class _Done:
    """A processed frame set and the parameters it was processed and is published with (a live
    change applies from the next frame set, never half-way through one)."""

    result: SceneResult
    cfg: NodeParams


class PipelineUnavailable(RuntimeError):
    """No pipeline could be built (none injected, none named, the real one not importable)."""


#: Errors of configuration (parameters, files, the pipeline): one line, no traceback; a failed configure.
CONFIG_ERRORS = (ParameterError, PipelineUnavailable, FileNotFoundError, ValueError)


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


class Hamst3rNode(LifecycleNode):
    """The live node, a lifecycle (managed) node. ``pipeline``: inject a pipeline object (tests);
    otherwise see module doc.

    Plain (parameter ``managed`` false, the default) it configures and activates itself in
    ``__init__``, and a configuration error raises (one clear line: :func:`main` exits 2). Managed,
    it waits in 'unconfigured' for a lifecycle manager (``nav2_lifecycle_manager``, ``ros2
    lifecycle set``):

    - configure: validate the parameters, build the pipeline (load the model), the synchroniser,
      the publishers and the worker; a bad parameter or file is FAILURE with one error line.
    - activate: subscribe to the cameras, publish (outputs and /diagnostics).
    - deactivate: unsubscribe and stop publishing; a frame set in flight finishes on the worker,
      its result is dropped (no output after deactivate).
    - cleanup: the worker ends (after the frame set in flight, at most ``CLEANUP_WAIT_S``) and the
      pipeline (its model) is released; the parameters may then change before the next configure.
    - shutdown, from any state: as deactivate and cleanup, without waiting for the frame set in flight.

    Outputs go through plain publishers gated by ``_active`` under ``_publish_lock`` rather than
    rclpy's LifecyclePublisher: that gate is per ``publish()`` call, so a deactivate while the
    worker publishes a frame set could cut the set in half (TF out, points not); ours makes each
    frame set's outputs all or nothing, and serves plain mode too.

    Live parameters (params.py, ``ParamSpec.live``) change with ``ros2 param set`` while the node
    is configured; a change is checked as at start, and applies from the next frame set
    (:meth:`_on_set_parameters`). Other keyword arguments go to ``rclpy.node.Node``
    (``context``, ``cli_args``, ``parameter_overrides``, ``namespace``...).
    """

    def __init__(self, pipeline=None, node_name: str = NODE_NAME, **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        try:
            self._init(pipeline)
        except BaseException:
            # A node that cannot start is destroyed now, not by the garbage collector later:
            # rclpy already made its publishers and services, and destroying them after the
            # context has shut down can deadlock inside Fast DDS (seen in CI: a test hung in
            # rcl_publisher_fini, called by the GC, minutes after the failed node's test).
            self.destroy_node()
            raise

    def _init(self, pipeline) -> None:
        """The node's own state and parameters (plain mode: configured and activated too)."""
        self._injected_pipeline = pipeline
        self._plain_start = False
        self._config_error: Optional[BaseException] = None
        # What exists only while configured (on_configure builds it, _release drops it).
        self.cfg: Optional[NodeParams] = None
        self.pipeline = None
        self.worker = None
        self.diag = None
        self.sync = None
        self._publishers: list = []
        self._subscriptions_active: list = []
        self._diag_timer = None
        self._jump_handle = None
        self._camera_info: dict[str, CameraInfo] = {}
        # Lens distortion of the usable camera_info, and a camera_info whose distortion is
        # unusable (its images are then skipped), per camera.
        self._lens: dict[str, Optional[LensDistortion]] = {}
        self._lens_error: dict[str, ConversionError] = {}
        self._shutdown = threading.Event()
        # Held while the worker publishes a result; deactivate, cleanup and destroy_node take it
        # to stop publishing between two frame sets, never inside one.
        self._publish_lock = threading.Lock()
        self._active = False
        # Goes up at every deactivate and cleanup: jobs and results of an older generation are dropped.
        self._generation = 0
        # Live parameter changes for the pipeline, handed over on the worker thread (_run_pipeline).
        self._live_lock = threading.Lock()
        self._pipeline_changes: dict[str, Any] = {}
        # Jumps back in time (see time_jumps.py): each one starts a new epoch; the worker
        # resets the pipeline before its first frame set of a new epoch.
        self._jumps = BackwardJumpDetector()
        self._epoch = 0
        self._pipeline_epoch = 0
        self._last_points_ns = 0
        declare_all(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._after_set_parameters)
        if not self.get_parameter("managed").value:
            self._start_plain()

    def _start_plain(self) -> None:
        """Plain mode: configure and activate now; a failed configure raises its error (the caller
        reports it: main() prints its one line and exits 2, so on_configure does not log it too)."""
        self._plain_start = True
        try:
            configured = self.trigger_configure()
        finally:
            self._plain_start = False
        if configured != TransitionCallbackReturn.SUCCESS:
            raise self._config_error or RuntimeError("hamst3r_node: configure failed")
        if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            raise RuntimeError("hamst3r_node: activate failed (see the log)")

    # -- lifecycle (executor thread, or __init__ in plain mode) --------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Validate the parameters and build everything but the subscriptions (loads the model)."""
        self._config_error = None
        try:
            self._configure()
        except Exception as exc:  # noqa: BLE001 - sorted: configuration errors are one line, bugs a traceback
            self._config_error = exc
            self._release(wait_s=0.0)
            if isinstance(exc, CONFIG_ERRORS) or is_project_error(exc):
                if not self._plain_start:
                    self.get_logger().error(f"configure failed: {one_line(exc)}")
                return TransitionCallbackReturn.FAILURE
            if not self._plain_start:  # a bug: its traceback (plain, the caller raises it)
                self.get_logger().error(f"configure failed:\n{traceback.format_exc()}")
            return TransitionCallbackReturn.ERROR
        return TransitionCallbackReturn.SUCCESS

    def _configure(self) -> None:
        cfg = read_params(self)
        cams = cfg.cameras
        pipeline = self._injected_pipeline
        if pipeline is None:
            params = dict(cfg.values)
            pipeline = load_pipeline(cfg.pipeline, params) if cfg.pipeline else build_default_pipeline(params)
        self.pipeline = pipeline
        self.cfg = cfg
        self.camera_names = [c.name for c in cams]
        self.sync = ApproximateSync(
            self.camera_names, slop_s=cfg.sync_slop_s, queue_size=cfg.sync_queue_size,
            camera_timeout_s=cfg.camera_timeout_s, min_cameras=cfg.min_cameras)
        self._camera_info = {}
        self._pipeline_changes = {}
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
        self._publishers = [self.pub_points, self.pub_markers, self.pub_humans, self.pub_tf, self.pub_diag,
                            self.pub_people, self.pub_bodies]
        self._last_points_ns = 0
        resolved = {c.name: self.resolve_topic_name(c.image_topic) for c in cams}
        self.diag = NodeDiagnostics(self.get_name(), resolved, hardware_id=self.get_fully_qualified_name())
        self.worker = LatestWinsWorker(self._run_pipeline, self._on_result, self._on_error,
                                       name="hamst3r-pipeline")
        self._watch_clock()
        self.get_logger().info(
            f"configured: {len(cams)} cameras ({', '.join(self.camera_names)}), slop "
            f"{cfg.sync_slop_s * 1e3:.0f} ms, fixed frame '{cfg.fixed_frame}', "
            f"pipeline {type(self.pipeline).__name__}")

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the cameras and start publishing."""
        for cam in self.cfg.cameras:
            msg_type = CompressedImage if cam.compressed else Image
            self._subscriptions_active.append(self.create_subscription(
                msg_type, cam.image_topic,
                lambda msg, name=cam.name, c=cam.compressed: self._on_image(name, msg, c),
                qos_profile_sensor_data, qos_overriding_options=_QOS_OVERRIDES))
            if cam.camera_info_topic:
                self._subscriptions_active.append(self.create_subscription(
                    CameraInfo, cam.camera_info_topic,
                    lambda msg, name=cam.name: self._on_camera_info(name, msg),
                    qos_profile_sensor_data, qos_overriding_options=_QOS_OVERRIDES))
        # On the steady clock: /diagnostics keeps coming while a simulator is paused or its
        # clock starts over (use_sim_time); the statuses are stamped with the node's clock.
        self._diag_timer = self.create_timer(self.cfg.diagnostics_period_s, self._publish_diagnostics,
                                             clock=Clock(clock_type=ClockType.STEADY_TIME))
        # Forget markers a previous run left in RViz.
        self.pub_markers.publish(clear_markers(self.cfg.fixed_frame))
        with self._publish_lock:
            self._active = True
        self.get_logger().info("active")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop publishing, unsubscribe; the frame set in flight finishes and is not published."""
        self._stop_activity()
        self.get_logger().info("inactive")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release what configure built; the model goes once the frame set in flight is done."""
        self._release(wait_s=CLEANUP_WAIT_S)
        self.get_logger().info("unconfigured")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """From any state: stop and release everything without waiting for the frame set in flight."""
        self._release(wait_s=0.0)
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """A transition raised: release everything and go back to 'unconfigured'."""
        self._release(wait_s=0.0)
        return TransitionCallbackReturn.SUCCESS

    def _stop_activity(self) -> None:
        """Gate off publishing (between two frame sets), drop subscriptions, the diagnostics timer and
        the synchroniser's queued images."""
        with self._publish_lock:
            self._active = False
            self._generation += 1
        for sub in self._subscriptions_active:
            self.destroy_subscription(sub)
        self._subscriptions_active = []
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        if self.sync is not None:
            self.sync.reset()

    def _release(self, wait_s: float) -> None:
        """Undo activate and configure (whatever of them happened). The worker gets ``wait_s`` seconds
        to finish its frame set; after that it is abandoned (its result is dropped, and the pipeline
        is freed when it returns)."""
        self._stop_activity()
        if self.worker is not None:
            if not self.worker.stop(timeout=wait_s) and wait_s > 0:
                self.get_logger().warning(
                    f"the frame set in flight did not finish within {wait_s:.0f} s; the model is freed when it does")
            self.worker = None
        if self._jump_handle is not None:
            self._jump_handle.unregister()
            self._jump_handle = None
        for pub in self._publishers:
            self.destroy_publisher(pub)
        self._publishers = []
        with self._live_lock:
            self.cfg = None
            self._pipeline_changes = {}
        self.pipeline = None
        self.sync = None
        self._camera_info = {}
        self._lens, self._lens_error = {}, {}

    # -- live parameters (executor thread) ------------------------------------------------------------

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Accept or refuse a parameter change (``ros2 param set``): while configured only live
        parameters may change, checked as at start (params.validate_change); unconfigured, anything
        goes (configure validates it all)."""
        ours = {p.name: p.value for p in params if p.name in SPECS}
        if not ours or self.cfg is None:
            return SetParametersResult(successful=True)
        try:
            validate_change(self.cfg, ours)
        except ParameterError as exc:
            # The way back to 'unconfigured' from where the node is (inactive: cleanup; deactivate would be refused).
            first = "deactivate, then cleanup" if self._active else "cleanup"
            hint = "" if all(SPECS[k].live for k in ours) else (
                f"; to change it: ros2 lifecycle set {self.get_fully_qualified_name()} {first}, "
                "set it, configure, activate" if self.get_parameter("managed").value else "; restart the node to change it")
            return SetParametersResult(successful=False, reason=str(exc) + hint)
        fixed = [k for k in ours if SPECS[k].live == LIVE_PIPELINE]
        if fixed and not callable(getattr(self.pipeline, "update_params", None)):
            return SetParametersResult(successful=False, reason=(
                f"hamst3r_node: the pipeline {type(self.pipeline).__name__} cannot change {fixed} while it runs "
                "(it has no update_params)"))
        return SetParametersResult(successful=True)

    def _after_set_parameters(self, params: list[Parameter]) -> None:
        """Apply an accepted change: the node reads its live parameters from ``cfg`` (the worker takes
        a copy per frame set); the pipeline's wait for the worker's next frame set."""
        ours = {p.name: p.value for p in params if p.name in SPECS}
        if not ours or self.cfg is None:
            return
        cfg = validate_change(self.cfg, ours)
        with self._live_lock:
            self.cfg = cfg
            self._pipeline_changes.update({k: cfg.values[k] for k in ours if SPECS[k].live == LIVE_PIPELINE})
        if "diagnostics_period_s" in ours and self._diag_timer is not None:
            self._diag_timer.timer_period_ns = int(cfg.diagnostics_period_s * 1e9)
        self.get_logger().info("parameters changed: " + ", ".join(f"{k}={cfg.values[k]!r}" for k in ours))

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
        if self.worker.submit(_Job(frameset, self._epoch, self._generation)) is not None:
            self.diag.record_replaced()

    # -- output (worker thread) -----------------------------------------------------------------

    def _run_pipeline(self, job: _Job) -> Optional[_Done]:
        """The worker's work: take the live parameter changes made since the last frame set (the
        pipeline's go to its ``update_params``), reset the pipeline first when time jumped back
        since its last frame set (``reset()`` when it has one: injected pipelines may not), then
        run it. A frame set from before the latest jump, deactivate or cleanup is skipped (None)."""
        pipeline = self.pipeline
        epoch = self._epoch
        if job.epoch != epoch or job.generation != self._generation or pipeline is None:
            return None
        with self._live_lock:
            cfg, changes, self._pipeline_changes = self.cfg, self._pipeline_changes, {}
        if cfg is None:
            return None
        if changes:
            pipeline.update_params(changes)
        if self._pipeline_epoch != epoch:
            reset = getattr(pipeline, "reset", None)
            if callable(reset):
                reset()
            self._pipeline_epoch = epoch
        return _Done(pipeline.process(job.frameset), cfg)

    def _on_result(self, job: _Job, done: Optional[_Done], seconds: float) -> None:
        if done is None or job.generation != self._generation:
            return
        result = done.result
        self.diag.record_processed(seconds, getattr(result, "timings_s", None),
                                   getattr(result, "rejected_people", None), getattr(result, "rig_state", ""),
                                   getattr(result, "depth_refine", ""))
        with self._publish_lock:
            if self._shutdown.is_set() or not self._active or not self.context.ok() \
                    or job.epoch != self._epoch or job.generation != self._generation:
                return
            self._publish_result(job.frameset, result, done.cfg)

    def _publish_result(self, frameset: FrameSet, result: SceneResult, cfg: NodeParams) -> None:
        frame, stamp = cfg.fixed_frame, result.stamp_ns
        transforms = humans_to_transforms(result.humans, frame, stamp)
        if cfg.publish_camera_tf:
            frame_ids = {f.name: f.frame_id for f in frameset.frames}
            transforms = camera_transforms(result, frame, [
                frame_ids.get(n) or f"{n}_optical_frame" for n in result.camera_names]) + transforms
        if transforms:
            self.pub_tf.publish(TFMessage(transforms=transforms))
        self.pub_humans.publish(humans_to_array(result.humans, frame, stamp))
        self.pub_people.publish(humans_to_people(result.humans, frame, stamp))
        self.pub_bodies.publish(humans_to_ids(result.humans, frame, stamp))
        self.pub_markers.publish(humans_to_markers(result.humans, frame, stamp, cfg.marker_lifetime_s))
        # ~/points last: its arrival means everything of this set is out.
        if cfg.points_min_period_s <= 0 or stamp - self._last_points_ns >= cfg.points_min_period_s * 1e9:
            # The pipeline filtered the cloud where it fused it (min_confidence, voxel_size,
            # max_points, min_views_agree): published as it comes.
            self.pub_points.publish(scene_to_pointcloud2(result, frame))
            self._last_points_ns = stamp
        self.diag.record_published(result.stamp_ns, self.get_clock().now().nanoseconds)

    def _on_error(self, job: _Job, exc: BaseException) -> None:
        if job.generation != self._generation:
            return
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

    return run_node("hamst3r_node", Hamst3rNode, args, CONFIG_ERRORS)


if __name__ == "__main__":
    sys.exit(main())
