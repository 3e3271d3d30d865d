"""``sim_cameras``: publish a multi-camera recording the way real camera drivers do.

Per camera ``<name>``: ``<name>/image_raw`` (sensor_msgs/Image; CompressedImage on
``<name>/image_raw/compressed``) and ``<name>/camera_info``, relative to the node's namespace,
which is where ``hamst3r_node`` (config/hamst3r.yaml) expects them. Parameters:
:mod:`hamst3r_ros.ros.sim_params`; recordings: :mod:`hamst3r_ros.recordings` (no ROS there:
this module only converts and schedules).

- ``source: folder | synthetic``: frame sets published at ``rate_hz``, stamped with the node
  clock at each trigger (plus an optional per-camera jitter, as free-running drivers have),
  ``frame_id`` = ``<name><frame_id_suffix>`` (an optical frame: z forward).
- ``source: bag``: a ROS 2 bag of a real rig (.mcap or .db3), played at its log times times
  ``rate``, looping when ``loop``. Messages go out as recorded (frame ids, encodings,
  calibration). With ``stamps: keep`` (default) their stamps are kept and the bag's time is
  published on ``/clock``, so a node started with ``use_sim_time`` sees stamps and clock agree
  as they did on the rig (a loop sends time back: the node starts over); with ``stamps: now``
  stamps are rewritten to this node's clock and there is no ``/clock``. A message that does
  not decode is skipped, logged once per topic.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from hamst3r_ros.recordings import BagPlayer, BagRecording, FolderRecording, SyntheticRecording
from hamst3r_ros.ros.conversions.camera_info import K_to_camera_info
from hamst3r_ros.ros.conversions.compressed import numpy_to_compressed
from hamst3r_ros.ros.conversions.image import numpy_to_image
from hamst3r_ros.ros.conversions.stamps import make_header, ns_to_stamp
from hamst3r_ros.ros.sim_params import SimParams, declare_sim_params

#: How often a bag's due messages (and /clock) are published, seconds of the steady clock.
BAG_TICK_S = 0.005
#: Before a bag's first message, /clock reads its start for this long (seconds), so that
#: listeners on sim time have the bag's time when its first images arrive.
BAG_LEAD_IN_S = 0.2


def open_recording(p: SimParams):
    """The recording the parameters name (ValueError, one line, when it cannot be opened)."""
    if p.source == "bag":
        return BagRecording(p.bag, p.image_topics, p.camera_info_topics, p.cameras)
    if p.source == "synthetic" or (Path(p.folder) / "manifest.json").is_file():
        return SyntheticRecording(p.folder if p.source == "folder" else "", p.synthetic_cameras, p.synthetic_people,
                                  p.synthetic_frames, p.width, p.height, p.seed, fps=p.rate_hz)
    return FolderRecording(p.folder, p.cameras)


class SimCameras(Node):
    """Publishes a recording (``recording`` injected, or opened from the parameters).

    Other keyword arguments go to ``rclpy.node.Node``. ``done`` is set when a recording that
    does not loop (or ``count``) has been published.
    """

    def __init__(self, recording=None, node_name: str = "sim_cameras", **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        try:
            self.p = declare_sim_params(self)
            self.recording = recording if recording is not None else open_recording(self.p)
            self.published = 0  # frame sets (folder, synthetic) or messages (bag)
            self.done = False
            self._qos = QoSProfile(depth=10)
            self._bag = isinstance(self.recording, BagRecording)
            if self._bag:
                self._start_bag()
            else:
                self._start_frame_sets()
        except BaseException:
            self.destroy_node()  # now, not from the garbage collector (see Hamst3rNode.__init__)
            raise

    # -- frame-set recordings (folder, synthetic) -----------------------------------------------

    def _start_frame_sets(self) -> None:
        p, rec = self.p, self.recording
        self._rng = random.Random(p.seed)
        self._pubs = []
        for cam in rec.cameras:
            if p.compressed:
                img_pub = self.create_publisher(CompressedImage, f"{cam.name}/image_raw/compressed", self._qos)
            else:
                img_pub = self.create_publisher(Image, f"{cam.name}/image_raw", self._qos)
            info_pub = self.create_publisher(CameraInfo, f"{cam.name}/camera_info", self._qos)
            self._pubs.append((cam, img_pub, info_pub))
        self._k = 0
        self._timer = self.create_timer(1.0 / p.rate_hz, self.publish_next)
        self.get_logger().info(f"publishing {len(rec.cameras)} cameras ({', '.join(c.name for c in rec.cameras)}), "
                               f"{rec.num_frames} frames at {p.rate_hz} Hz")

    def image_subscribers(self) -> int:
        """Smallest number of subscribers on any camera's image topic."""
        return min(pub.get_subscription_count() for _, pub, _ in self._pubs)

    def publish_next(self) -> None:
        """Publish one frame set (all cameras) stamped now."""
        if self.done:
            return
        p = self.p
        if self._k >= self.recording.num_frames:
            if not p.loop:
                self._finish()
                return
            self._k = 0
        images = self.recording.frame(self._k)
        now_ns = self.get_clock().now().nanoseconds
        for (cam, img_pub, info_pub), img in zip(self._pubs, images):
            jitter = int(self._rng.uniform(-1, 1) * p.jitter_ms * 1e6)
            header = make_header(cam.name + p.frame_id_suffix, max(0, now_ns + jitter))
            data = np.ascontiguousarray(img[:, :, ::-1] if p.encoding == "bgr8" else img)
            if p.compressed:
                msg = numpy_to_compressed(data, p.encoding, p.compressed, header=header)
            else:
                msg = numpy_to_image(data, p.encoding, header=header)
            info_pub.publish(K_to_camera_info(cam.K, cam.width, cam.height, header=header,
                                              distortion_model=cam.distortion_model, d=cam.D))
            img_pub.publish(msg)
        self._k += 1
        self.published += 1
        if p.count and self.published >= p.count:
            self._finish()

    def _finish(self) -> None:
        self.done = True
        self._timer.cancel()
        self.get_logger().info(f"published {self.published} {'messages' if self._bag else 'frame sets'}; done")

    # -- bags ------------------------------------------------------------------------------------

    def _start_bag(self) -> None:
        p, rec = self.p, self.recording
        self.player = BagPlayer(rec, rate=p.rate, loop=p.loop, keep_stamps=p.stamps == "keep")
        self._bag_pubs = []
        for cam in rec.cameras:
            if cam.compressed:
                img_pub = self.create_publisher(CompressedImage, f"{cam.name}/image_raw/compressed", self._qos)
            else:
                img_pub = self.create_publisher(Image, f"{cam.name}/image_raw", self._qos)
            info_pub = self.create_publisher(CameraInfo, f"{cam.name}/camera_info", self._qos) \
                if cam.camera_info_topic else None
            self._bag_pubs.append((cam, img_pub, info_pub))
        self._clock_pub = self.create_publisher(ClockMsg, "/clock", self._qos) if self.player.keep_stamps else None
        self.bad_messages: dict[str, int] = {}
        # The bag's timing follows the steady clock: this node is the clock (use_sim_time is
        # for its listeners); stamps rewritten to 'now' come from the node's own clock.
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._lead_in_end_ns: Optional[int] = None
        self._timer = self.create_timer(BAG_TICK_S, self.play_due, clock=self._steady)
        names = [c.name for c in rec.cameras]
        mapping = ", ".join(f"{c.image_topic} -> {c.name}/image_raw{'/compressed' if c.compressed else ''}"
                            + (f" + {c.name}/camera_info" if c.camera_info_topic else " (no camera_info)")
                            for c in rec.cameras)
        seconds = (rec.end_ns - rec.start_ns) * 1e-9
        self.get_logger().info(
            f"playing bag {rec.path} ({seconds:.1f} s, {len(names)} cameras) at x{p.rate}"
            f"{', looping' if p.loop else ''}: {mapping}; stamps {p.stamps}"
            f"{' with the bag time on /clock (start hamst3r_node with use_sim_time:=true)' if self._clock_pub else ''}. "
            f"hamst3r_node parameters for it: cameras:={names} camera_info_topics:="
            f"{[f'{c.name}/camera_info' if c.camera_info_topic else '' for c in rec.cameras]}"
            f"{' image_transport:=compressed' if any(c.compressed for c in rec.cameras) else ''}")

    def play_due(self, now_ns: Optional[int] = None) -> int:
        """Publish the bag's messages due by ``now_ns`` (default: now), /clock first; returns how many."""
        if self.done:
            return 0
        steady_ns = self._steady.now().nanoseconds if now_ns is None else now_ns
        if self._lead_in_end_ns is None:
            self._lead_in_end_ns = steady_ns + int(BAG_LEAD_IN_S * 1e9)
            # steady -> node clock, for stamps rewritten to 'now': read once, so that the
            # recorded spacing of stamps is kept exactly.
            self._to_node_clock_ns = self.get_clock().now().nanoseconds - self._steady.now().nanoseconds
        if steady_ns < self._lead_in_end_ns:
            if self._clock_pub is not None:
                self._clock_pub.publish(ClockMsg(clock=ns_to_stamp(self.recording.start_ns)))
            return 0
        due = self.player.due(steady_ns)
        if self._clock_pub is not None:
            self._clock_pub.publish(ClockMsg(clock=ns_to_stamp(self.player.clock_ns(steady_ns))))
        for m in due:
            cam, img_pub, info_pub = self._bag_pubs[m.camera]
            if m.error:
                self._bad_message(cam.name, m.error)
                continue
            pub = img_pub if m.kind == "image" else info_pub
            if self.player.keep_stamps:
                pub.publish(m.data)  # as recorded, byte for byte
            else:
                try:
                    msg = deserialize_message(m.data, pub.msg_type)
                except Exception as exc:  # rosbags decoded it, rclpy does not: still this message's fault
                    self._bad_message(cam.name, f"{type(exc).__name__}: {exc}")
                    continue
                msg.header.stamp = ns_to_stamp(max(0, m.stamp_ns + self._to_node_clock_ns))
                pub.publish(msg)
            self.published += 1
        if self.player.done:
            self._finish()
        return len(due)

    def _bad_message(self, camera: str, error: str) -> None:
        first = camera not in self.bad_messages
        self.bad_messages[camera] = self.bad_messages.get(camera, 0) + 1
        if first:
            self.get_logger().warning(f"bag {self.recording.path}: skipping a message of camera {camera} that does "
                                      f"not decode ({error}); logged once per camera")


def make_node(recording=None, **node_kwargs) -> SimCameras:
    """A SimCameras node (rclpy must be initialised)."""
    return SimCameras(recording, **node_kwargs)


def main(args: Optional[Sequence[str]] = None) -> int:
    """Console script ``sim_cameras``: publish until done (count/loop), Ctrl-C or SIGTERM."""
    from hamst3r_ros.ros.process import run_node

    return run_node("sim_cameras", make_node, args, (ValueError,), keep_going=lambda node: not node.done)


if __name__ == "__main__":
    sys.exit(main())
