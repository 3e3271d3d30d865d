"""builtin_interfaces/Time and std_msgs/Header <-> integer nanoseconds."""
from __future__ import annotations


def stamp_to_ns(stamp) -> int:
    """Integer nanoseconds of a builtin_interfaces/Time."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int):
    """A builtin_interfaces/Time for integer nanoseconds (>= 0)."""
    from builtin_interfaces.msg import Time

    ns = int(ns)
    if ns < 0:
        raise ValueError(f"a ROS stamp cannot be negative, got {ns} ns")
    sec, nanosec = divmod(ns, 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def make_header(frame_id: str, stamp_ns: int):
    """A std_msgs/Header with ``frame_id`` and a stamp of ``stamp_ns`` nanoseconds."""
    from std_msgs.msg import Header

    return Header(frame_id=frame_id, stamp=ns_to_stamp(stamp_ns))
