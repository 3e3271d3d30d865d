"""The message types of the bags we read and write (no ROS needed).

Standard messages (sensor_msgs, tf2_msgs, visualization_msgs, diagnostic_msgs, rosgraph_msgs,
...) come from rosbags' ROS 2 Kilted typestore, whose definitions and type hashes (RIHS01) are
those of the ROS packages. The node also publishes messages that store lacks: our own
``hamst3r_msgs`` and the third-party ``people_msgs`` and ``hri_msgs`` (REP-155). They are
registered from their ``.msg`` files, so that a bag written with this typestore carries their
definitions and Foxglove, RViz and ``ros2 bag play`` can decode them.

Where a ``.msg`` file is looked up, in order: ``<prefix>/share/<package>/msg/`` for each
prefix of ``AMENT_PREFIX_PATH`` and this Python's prefix (what the running system built and
uses), then the repository's own copies (``hamst3r_msgs/msg/``, ``third_party_msgs/``).
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

#: Message types the node publishes that are not in rosbags' standard typestore, in
#: dependency order (a type after the types it uses).
EXTRA_TYPES = (
    "hamst3r_msgs/msg/Human",
    "hamst3r_msgs/msg/HumanArray",
    "people_msgs/msg/Person",
    "people_msgs/msg/People",
    "hri_msgs/msg/IdsList",
)

_REPO = Path(__file__).resolve().parents[2]


def msg_file_candidates(msgtype: str) -> list[Path]:
    """Where the ``.msg`` file of ``msgtype`` ('package/msg/Name') may be, in search order."""
    package, _, name = msgtype.split("/")
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    out = [Path(p) / "share" / package / "msg" / f"{name}.msg" for p in prefixes]
    out += [_REPO / package / "msg" / f"{name}.msg", _REPO / "third_party_msgs" / package / "msg" / f"{name}.msg"]
    return out


def find_msg_file(msgtype: str) -> Path:
    """The ``.msg`` file defining ``msgtype``; FileNotFoundError naming where it looked."""
    candidates = msg_file_candidates(msgtype)
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"no message definition for {msgtype} (looked for "
                            f"{', '.join(str(p) for p in candidates)})")


@functools.lru_cache(maxsize=1)
def typestore():
    """rosbags' ROS 2 Kilted typestore with :data:`EXTRA_TYPES` registered (built once)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    extra = {}
    for msgtype in EXTRA_TYPES:
        if msgtype not in store.fielddefs:
            extra.update(get_types_from_msg(find_msg_file(msgtype).read_text(), msgtype))
    store.register(extra)
    return store
