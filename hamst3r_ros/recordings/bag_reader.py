"""Reading a rig's cameras from a ROS 2 bag, and playing it against a clock (no ROS needed).

A bag (a folder with ``metadata.yaml``, or a single ``.mcap`` or ``.db3`` file, read with
rosbags) holds ``sensor_msgs/Image`` or ``sensor_msgs/CompressedImage`` topics and their
``sensor_msgs/CameraInfo``. :func:`find_cameras` picks the cameras: the image topics given,
or every image topic of the bag; each paired with its camera_info as image_transport pairs
them (``<ns>/image_raw`` or ``<ns>/image_raw/compressed`` with ``<ns>/camera_info``).
:class:`BagRecording` reads their messages in log-time order, each checked by decoding it
(an undecodable one comes with ``error`` set, for the player to report and skip), and
:class:`BagPlayer` says which are due as wall time passes, at a rate factor, optionally looping.

Time: messages are played at their log (receive) time, as ``ros2 bag play`` does. With
``keep_stamps`` (the default) header stamps are kept and the player's clock reads bag time, to
be published on ``/clock`` for nodes with ``use_sim_time``: stamps and clock then agree, as
they did when recorded. Without it, stamps are rewritten to the wall clock (the recorded
spacing scaled by 1 / rate), for nodes on the system clock.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence

from hamst3r_ros.recordings.bag_types import typestore
from hamst3r_ros.recordings.bag_writer import BagError

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class BagCamera:
    """One camera of a bag.

    ``name`` names it where it is republished (``<name>/image_raw`` or
    ``<name>/image_raw/compressed``, and ``<name>/camera_info``); ``camera_info_topic`` is ''
    when the bag has none for it.
    """

    name: str
    image_topic: str
    compressed: bool
    camera_info_topic: str


@dataclass(frozen=True)
class BagMessage:
    """One message of a bag to play.

    camera: index into the recording's ``cameras``; kind: 'image' or 'camera_info';
    log_ns: log (receive) time, nanoseconds of bag time; stamp_ns: its header stamp,
    nanoseconds; data: the serialized CDR message; error: why it could not be decoded ('' = ok).
    """

    camera: int
    kind: str
    log_ns: int
    stamp_ns: int
    data: bytes
    error: str = ""


def _base_topic(image_topic: str, compressed: bool) -> str:
    """The image_transport base topic ('/a/image_raw/compressed' -> '/a/image_raw')."""
    return image_topic[: -len("/compressed")] if compressed and image_topic.endswith("/compressed") else image_topic


def paired_camera_info(image_topic: str, compressed: bool) -> str:
    """The camera_info topic image_transport pairs with an image topic: its namespace's ``camera_info``."""
    return _base_topic(image_topic, compressed).rsplit("/", 1)[0] + "/camera_info"


def camera_names(image_topics: Sequence[str]) -> list[str]:
    """Short unique camera names from image topics: the fewest trailing namespace components
    that tell them apart ('/rig/front/image_raw', '/rig/left/image_raw' -> 'front', 'left'),
    made valid ROS names (letters, digits, '_', starting with a letter)."""
    spaces = [[p for p in _base_topic(t, t.endswith("/compressed")).split("/")[:-1] if p] or ["camera"]
              for t in image_topics]
    for n in range(1, max(len(s) for s in spaces) + 1):
        names = ["_".join(s[-n:]) for s in spaces]
        if len(set(names)) == len(names):
            break
    else:
        names = [f"{name}_{i}" for i, name in enumerate(names)]
    clean = [re.sub(r"[^A-Za-z0-9_]", "_", name) for name in names]
    return [c if c[:1].isalpha() else f"cam_{c}" for c in clean]


def find_cameras(topic_types: Mapping[str, str], image_topics: Sequence[str] = (),
                 camera_info_topics: Sequence[str] = (), names: Sequence[str] = ()) -> list[BagCamera]:
    """The cameras of a bag whose topics have the types ``topic_types`` (topic -> type name).

    Args:
        image_topics: the image topics to play (default: every Image / CompressedImage topic,
            a compressed one left out when its raw topic is there too).
        camera_info_topics: one per image topic ('' = none; default: paired by namespace,
            none when the bag has no such CameraInfo topic).
        names: one per image topic (default :func:`camera_names`).

    Raises:
        BagError: a topic missing or of another type, lists of the wrong length, bad names,
            or no image topic at all (the text says what the bag holds).
    """
    listing = ", ".join(f"{t} ({ty})" for t, ty in sorted(topic_types.items())) or "no topics"
    if image_topics:
        bad = [t for t in image_topics if topic_types.get(t) not in IMAGE_TYPES]
        if bad:
            raise BagError(f"image topics {bad} are not sensor_msgs/Image or CompressedImage topics of the bag "
                           f"(it holds {listing})")
        chosen = list(image_topics)
    else:
        found = sorted(t for t, ty in topic_types.items() if ty in IMAGE_TYPES)
        chosen = [t for t in found if not (topic_types[t] == COMPRESSED_IMAGE and
                                           _base_topic(t, True) != t and _base_topic(t, True) in found)]
    if not chosen:
        raise BagError(f"holds no sensor_msgs/Image or sensor_msgs/CompressedImage topic (it holds {listing})")
    if camera_info_topics:
        if len(camera_info_topics) != len(chosen):
            raise BagError(f"camera_info_topics has {len(camera_info_topics)} entries for {len(chosen)} image topics "
                           "(give one per image topic, '' for none)")
        bad = [t for t in camera_info_topics if t and topic_types.get(t) != CAMERA_INFO]
        if bad:
            raise BagError(f"camera_info topics {bad} are not sensor_msgs/CameraInfo topics of the bag "
                           f"(it holds {listing})")
        infos = list(camera_info_topics)
    else:
        infos = []
        for t in chosen:
            info = paired_camera_info(t, topic_types[t] == COMPRESSED_IMAGE)
            infos.append(info if topic_types.get(info) == CAMERA_INFO else "")
    if names:
        if len(names) != len(chosen):
            raise BagError(f"cameras has {len(names)} names for {len(chosen)} image topics {chosen}")
        bad = [n for n in names if not _NAME_RE.match(n)]
        if bad or len(set(names)) != len(names):
            raise BagError(f"camera names must be unique, letters, digits and '_' starting with a letter; got {list(names)}")
    else:
        names = camera_names(chosen)
    return [BagCamera(n, t, topic_types[t] == COMPRESSED_IMAGE, info) for n, t, info in zip(names, chosen, infos)]


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


class BagRecording:
    """The cameras of a ROS 2 bag (see :func:`find_cameras` for the arguments).

    Attributes: ``cameras`` (:class:`BagCamera`), ``start_ns`` / ``end_ns`` (first and last
    log time, ns), ``counts`` (messages per played topic), ``path``.

    Raises:
        BagError: one line naming the file and what was expected, when it cannot be read or
            holds no image topic to play.
    """

    def __init__(self, path: str | Path, image_topics: Sequence[str] = (), camera_info_topics: Sequence[str] = (),
                 cameras: Sequence[str] = ()):
        from rosbags.rosbag2 import Reader

        self.path = Path(path)
        expected = "expected a ROS 2 bag: a folder with metadata.yaml, or a .mcap or .db3 file"
        try:
            self._reader = Reader(self.path)
            self._reader.open()
            topic_types = {t: info.msgtype or "" for t, info in self._reader.topics.items()}
        except Exception as exc:  # rosbags raises many kinds on a file that is not a bag
            raise BagError(f"sim_cameras: cannot read bag {str(self.path)!r} ({_one_line(exc)}); {expected}") from None
        try:
            self.cameras = find_cameras(topic_types, image_topics, camera_info_topics, cameras)
        except BagError as exc:
            self._reader.close()
            raise BagError(f"sim_cameras: bag {str(self.path)!r} {exc}") from None
        topics = self._reader.topics
        self.counts = {t: topics[t].msgcount for c in self.cameras for t in (c.image_topic, c.camera_info_topic) if t}
        empty = [c.image_topic for c in self.cameras if self.counts[c.image_topic] == 0]
        if empty:
            self._reader.close()
            raise BagError(f"sim_cameras: bag {str(self.path)!r} has no messages on {empty}")
        self._route: dict[str, tuple[int, str]] = {}
        for i, c in enumerate(self.cameras):
            self._route[c.image_topic] = (i, "image")
            if c.camera_info_topic:
                self._route[c.camera_info_topic] = (i, "camera_info")
        self._connections = [conn for conn in self._reader.connections if conn.topic in self._route]
        self.start_ns, self.end_ns = self._log_times()
        self._store = typestore()

    def _log_times(self) -> list[int]:
        # The bag's start time covers every topic; playback starts at the first played message.
        it = self._reader.messages(connections=self._connections)
        try:
            first = next(it)[1]
        finally:
            it.close()
        return [first, self._reader.end_time - 1]

    def frame_interval_ns(self) -> int:
        """Mean time between two images of the first camera (ns; 0.1 s when it has one image)."""
        n = self.counts[self.cameras[0].image_topic]
        return int((self.end_ns - self.start_ns) / (n - 1)) if n > 1 else 100_000_000

    def messages(self) -> Iterator[BagMessage]:
        """One pass over the played topics in log-time order. A message that does not decode
        comes with ``error`` set; a bag that breaks off mid-way ends the pass with one such message."""
        it = self._reader.messages(connections=self._connections)
        while True:
            try:
                conn, log_ns, raw = next(it)
            except StopIteration:
                return
            except Exception as exc:  # truncated or corrupt storage
                yield BagMessage(0, "image", self.end_ns, 0, b"", f"the bag breaks off: {_one_line(exc)}")
                return
            camera, kind = self._route[conn.topic]
            try:
                header = self._store.deserialize_cdr(raw, conn.msgtype).header
                stamp_ns = int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
            except Exception as exc:
                yield BagMessage(camera, kind, log_ns, 0, bytes(raw), f"{conn.topic}: {_one_line(exc)}")
                continue
            yield BagMessage(camera, kind, log_ns, stamp_ns, bytes(raw))

    def close(self) -> None:
        if self._reader.is_open:
            self._reader.close()


class BagPlayer:
    """Plays a :class:`BagRecording` against a clock in nanoseconds (the caller's: no ROS).

    Args:
        recording: the bag.
        rate: bag seconds per clock second (1 = as recorded, 2 = twice as fast).
        loop: start over after the last message (one frame interval later).
        keep_stamps: keep header stamps (and run :meth:`clock_ns` on bag time, for ``/clock``),
            or rewrite them to the caller's clock (see the module doc).
    """

    def __init__(self, recording: BagRecording, rate: float = 1.0, loop: bool = False, keep_stamps: bool = True):
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.recording, self.rate, self.loop, self.keep_stamps = recording, rate, loop, keep_stamps
        self.passes = 0  # passes started
        self.done = False
        self._pass_start: Optional[int] = None  # caller's clock when the current pass started
        self._it: Optional[Iterator[BagMessage]] = None
        self._next: Optional[BagMessage] = None

    def _start_pass(self, now_ns: int) -> None:
        self._pass_start = now_ns
        self.passes += 1
        self._it = self.recording.messages()
        self._next = next(self._it, None)

    def _wall_of(self, bag_ns: int) -> int:
        return self._pass_start + int((bag_ns - self.recording.start_ns) / self.rate)

    def due(self, now_ns: int) -> list[BagMessage]:
        """The messages due by ``now_ns`` (the caller's clock), in order, stamps as played."""
        if self.done:
            return []
        if self._pass_start is None:
            self._start_pass(now_ns)
        out = []
        while True:
            while self._next is not None and self._wall_of(self._next.log_ns) <= now_ns:
                m = self._next
                if not self.keep_stamps and not m.error:
                    m = BagMessage(m.camera, m.kind, m.log_ns, self._wall_of(m.stamp_ns), m.data)
                out.append(m)
                self._next = next(self._it, None)
            if self._next is not None:  # the next message is not due yet
                return out
            if not self.loop:
                self.done = True
                return out
            # The pass is over: the next one starts a frame interval after its last message.
            rec = self.recording
            next_start = self._wall_of(rec.end_ns) + int(rec.frame_interval_ns() / self.rate)
            if next_start > now_ns:
                return out
            self._start_pass(next_start)

    def clock_ns(self, now_ns: int) -> int:
        """Bag time at ``now_ns`` (for ``/clock``): the recording's start plus the time played
        times the rate; it goes back to the start when a loop starts over."""
        if self._pass_start is None:
            return self.recording.start_ns
        played = max(0, now_ns - self._pass_start)
        return min(self.recording.start_ns + int(played * self.rate), self.recording.end_ns + self.recording.frame_interval_ns())
