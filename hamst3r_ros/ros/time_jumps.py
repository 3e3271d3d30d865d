"""Detecting a jump back in time of the node's clock, as tf2 does (pure Python, no rclpy).

tf2 clears its buffer when time goes backwards: ROS 1's TransformListener compared
``ros::Time::now()`` with the time of its previous update on every message ("Detected jump
back in time"), ROS 2's tf2_ros::Buffer registers a clock jump callback with a backward
threshold of 1 ns (and also reacts to the time source changing). The node does both: the
jump callback catches a /clock reset under ``use_sim_time`` as soon as it happens, and the
check on every image also catches a system clock stepped backwards, which has no callback.
Both go through one :class:`BackwardJumpDetector`, so a jump is counted once.
"""
from __future__ import annotations

import threading
from typing import Optional


class BackwardJumpDetector:
    """Remembers the newest clock reading; reports a reading older than it. Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._last_ns: Optional[int] = None

    def observe(self, now_ns: int) -> Optional[int]:
        """Offer a clock reading (nanoseconds). Returns the jump (negative nanoseconds) when
        it is older than the newest reading so far, else None; either way it becomes the
        reference for the next reading."""
        with self._lock:
            last, self._last_ns = self._last_ns, int(now_ns)
            if last is not None and now_ns < last:
                return int(now_ns) - last
            return None

    def forget(self) -> None:
        """Start over (the time source changed: readings are not comparable)."""
        with self._lock:
            self._last_ns = None
