"""Recording topics to a ROS 2 bag from inside a node, as ``ros2 bag record`` does
(``hamst3r demo --record``, the bag round-trip test).

Messages are taken serialized, as DDS delivers them (``raw=True`` subscriptions: nothing is
decoded or re-encoded), and written with the node clock's time of arrival (bag time: the
system clock, or ``/clock`` with ``use_sim_time``) and each topic's type name and definition
(:class:`hamst3r_ros.recordings.BagWriter`), on a thread of its own.
"""
from __future__ import annotations

import queue
import threading
from typing import Optional, Sequence

from rclpy.qos import QoSProfile

from diagnostic_msgs.msg import DiagnosticArray
from hamst3r_msgs.msg import HumanArray
from hri_msgs.msg import IdsList
from lifecycle_msgs.msg import TransitionEvent
from people_msgs.msg import People
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from hamst3r_ros.recordings import BagWriter


def type_name(msg_class) -> str:
    """The ROS type name of a generated message class ('sensor_msgs/msg/Image')."""
    return f"{msg_class.__module__.split('.')[0]}/msg/{msg_class.__name__}"


def node_output_topics(private: str, node_fqn: Optional[str] = None) -> list[tuple[str, type]]:
    """Every topic ``hamst3r_node`` publishes, with its type.

    Args:
        private: where its private topics (``~/points``, ...) resolve: ``/<ns>/hamst3r_node``,
            or ``/<ns>`` when launched with launch_spec's remappings (``~/points`` -> ``points``).
        node_fqn: the node's full name, where its lifecycle ``transition_event`` topic is (never
            remapped); default ``private``.
    """
    private = private.rstrip("/")
    node_fqn = (node_fqn or private).rstrip("/")
    return [(f"{private}/points", PointCloud2), (f"{private}/markers", MarkerArray),
            (f"{private}/humans", HumanArray), (f"{private}/people", People),
            ("/humans/bodies/tracked", IdsList), ("/tf", TFMessage), ("/diagnostics", DiagnosticArray),
            (f"{node_fqn}/transition_event", TransitionEvent)]


def camera_topics(namespace: str, cameras: Sequence[str], compressed: bool = False) -> list[tuple[str, type]]:
    """The node's inputs: ``<namespace>/<camera>/image_raw`` (or ``/compressed``) and ``camera_info``."""
    ns = namespace.rstrip("/")
    image = ("image_raw/compressed", CompressedImage) if compressed else ("image_raw", Image)
    out = []
    for c in cameras:
        out += [(f"{ns}/{c}/{image[0]}", image[1]), (f"{ns}/{c}/camera_info", CameraInfo)]
    return out


class TopicRecorder:
    """Subscribes ``node`` to ``topics`` (absolute names, with their message classes) and writes
    what arrives to the bag ``path`` (``<name>.mcap`` or ``<name>.db3``) until :meth:`close`.

    The bag is written on a thread of its own: the executor only queues what arrives (it never
    waits on the disk), and the storage (sqlite for .db3) is used from the one thread that opened it.

    Raises:
        BagError: the bag cannot be created (exists, wrong suffix, ...).
    """

    def __init__(self, node, path, topics: Sequence[tuple[str, type]], depth: int = 100):
        self.node = node
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None
        self.bag: Optional[BagWriter] = None
        self._thread = threading.Thread(target=self._write_bag, args=(path, [(t, type_name(c)) for t, c in topics]),
                                        name="bag-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        self._closed = False
        qos = QoSProfile(depth=depth)  # reliable: a recorder should not lose what it can get
        self._subs = [node.create_subscription(msg_class, topic, lambda data, t=topic: self._on(t, data), qos, raw=True)
                      for topic, msg_class in topics]

    def _write_bag(self, path, topics: list[tuple[str, str]]) -> None:
        try:
            bag = BagWriter(path)
            for topic, msgtype in topics:
                bag.add_topic(topic, msgtype)
        except Exception as exc:
            self._error = exc
            self._ready.set()
            return
        self.bag = bag
        self._ready.set()
        try:
            while (item := self._queue.get()) is not None:
                bag.write(*item)
        finally:
            bag.close()

    def _on(self, topic: str, data: bytes) -> None:
        if not self._closed:
            self._queue.put((topic, self.node.get_clock().now().nanoseconds, data))

    @property
    def counts(self):
        """Messages written per topic so far."""
        return self.bag.counts

    def close(self) -> None:
        """Stop recording, write what is queued and finish the bag. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        self._subs = []
        self._queue.put(None)
        self._thread.join()
