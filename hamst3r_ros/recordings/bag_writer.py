"""Writing ROS 2 bags (no ROS needed): what ``hamst3r demo --record`` uses.

A bag is written as ``ros2 bag record -o <name>`` writes it: a folder ``<name>/`` holding
``metadata.yaml`` and one storage file ``<name>/<name>.mcap`` (or ``.db3``), chosen by the
suffix of the name given. Each topic is written with its type name and definition (from
:func:`hamst3r_ros.recordings.bag_types.typestore`), so that Foxglove, RViz (through
``ros2 bag play``) and rosbags open it. Messages are written as serialized CDR, exactly as
received from DDS (a subscription with ``raw=True``), with their log time in nanoseconds.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hamst3r_ros.recordings.bag_types import typestore

#: Storage formats by file suffix.
STORAGE_SUFFIXES = (".mcap", ".db3")


class BagError(ValueError):
    """A bag that cannot be read or written (the message names the file and what was expected)."""


def bag_folder(path: str | Path) -> tuple[Path, str]:
    """The bag folder and storage suffix for the name ``path`` ('out.mcap' -> ('out', '.mcap'))."""
    path = Path(path)
    if path.suffix not in STORAGE_SUFFIXES:
        raise BagError(f"bag {str(path)!r}: name it <name>.mcap or <name>.db3 (the suffix chooses the storage format)")
    return path.with_suffix(""), path.suffix


class BagWriter:
    """A ROS 2 bag being written. Use as a context manager, or call :meth:`close`.

    Args:
        path: ``<name>.mcap`` or ``<name>.db3``; the bag is the folder ``<name>/`` (which must
            not exist yet: a bag is never overwritten).
    """

    def __init__(self, path: str | Path):
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.folder, suffix = bag_folder(path)
        if self.folder.exists():
            raise BagError(f"bag {str(self.folder)!r} exists already; not overwriting it (give a new name)")
        #: The storage file inside the bag folder (what Foxglove opens).
        self.file = self.folder / f"{self.folder.name}{suffix}"
        plugin = StoragePlugin.MCAP if suffix == ".mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self.folder, version=9, storage_plugin=plugin)
        try:
            self._writer.open()
        except Exception as exc:  # a read-only place, a missing parent folder, ...
            raise BagError(f"bag {str(self.folder)!r}: cannot create it ({exc})") from None
        self._store = typestore()
        self._connections: dict[str, Any] = {}
        #: Messages written per topic.
        self.counts: Counter[str] = Counter()
        self.closed = False

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare ``topic`` with its type ('sensor_msgs/msg/Image'); its definition goes in the bag."""
        if topic in self._connections:
            raise BagError(f"bag {str(self.folder)!r}: topic {topic} added twice")
        if msgtype not in self._store.fielddefs:
            raise BagError(f"bag {str(self.folder)!r}: no definition of {msgtype} for topic {topic}")
        self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self._store)

    def write(self, topic: str, log_ns: int, data: bytes) -> None:
        """Write one serialized (CDR) message of ``topic`` received at ``log_ns`` (nanoseconds)."""
        self._writer.write(self._connections[topic], int(log_ns), data)
        self.counts[topic] += 1

    def write_message(self, topic: str, log_ns: int, msg) -> None:
        """Write a rosbags message object (from ``typestore().types``) of ``topic``."""
        conn = self._connections[topic]
        self.write(topic, log_ns, bytes(self._store.serialize_cdr(msg, conn.msgtype)))

    def close(self) -> None:
        """Finish the bag (metadata.yaml, indexes). Idempotent."""
        if not self.closed:
            self.closed = True
            self._writer.close()

    def __enter__(self) -> "BagWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
