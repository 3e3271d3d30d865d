"""Health counters of the live node and their conversion to diagnostic_msgs.

Counting is pure Python (thread-safe: the executor and the pipeline worker both report here);
only :func:`to_diagnostic_array` imports ROS messages. One status per camera (rate, frames
received, bad inputs by reason, frames dropped, presence) and one for the pipeline (synced
sets, sets replaced while busy, processed sets, errors, jumps back in time, rate, latency
from image stamp to publication, pipeline time).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

#: Every reason the node rejects an input for (the keys of the ``bad_*`` counters).
BAD_INPUT_REASONS: tuple[str, ...] = (
    "encoding",      # unknown or unsupported encoding / compressed format
    "size",          # width, height, step and data length disagree
    "empty",         # no pixels or no data
    "truncated",     # fewer bytes than the header promises
    "nan",           # non-finite values (float images, camera_info)
    "decode",        # a compressed image that does not decode
    "stale",         # stamp too old: older than the node's max_age, or than what was emitted
    "future",        # stamp ahead of the node's clock by more than its max_age
    "out_of_order",  # stamp not newer than the camera's previous one
    "camera_info",   # camera_info unusable (size mismatch, singular K)
    "dimensions",    # image smaller, narrower or larger than the node takes (check_image_dimensions)
)

# diagnostic_msgs/DiagnosticStatus levels (bytes in the message).
OK, WARN, ERROR, STALE = 0, 1, 2, 3


@dataclass
class Status:
    """One diagnostic_msgs/DiagnosticStatus, without ROS types."""

    name: str
    level: int
    message: str
    hardware_id: str
    values: dict[str, str] = field(default_factory=dict)


class RateMeter:
    """Events per second over a sliding window of ``window_s`` seconds (monotonic clock)."""

    def __init__(self, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque()

    def tick(self) -> None:
        self._times.append(self._clock())
        self._trim()

    def rate(self) -> float:
        self._trim()
        if len(self._times) < 2:
            return 0.0
        span = self._clock() - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self) -> None:
        cutoff = self._clock() - self.window_s
        while self._times and self._times[0] < cutoff:
            self._times.popleft()


@dataclass
class _Camera:
    topic: str
    rate: RateMeter
    received: int = 0
    used: int = 0
    dropped: int = 0
    bad: dict[str, int] = field(default_factory=lambda: {r: 0 for r in BAD_INPUT_REASONS})
    absent: bool = False
    absent_count: int = 0
    last_bad: Optional[str] = None
    last_bad_t: float = float("-inf")


class NodeDiagnostics:
    """Counters of one node; every ``record_*`` is cheap and thread-safe.

    Args:
        node_name: prefix of every status name.
        cameras: camera name -> input topic (the hardware id of the camera's status).
        window_s: window of rates and latency statistics, seconds.
        hardware_id: hardware id of the pipeline status (default: ``node_name``).
        clock: monotonic clock for rates (injectable for tests).
    """

    def __init__(self, node_name: str, cameras: dict[str, str], window_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, hardware_id: str = ""):
        self.node_name = node_name
        self.hardware_id = hardware_id or node_name
        self.window_s = window_s
        self._lock = threading.Lock()
        self._clock = clock
        self._cams = {n: _Camera(topic, RateMeter(window_s, clock)) for n, topic in cameras.items()}
        self._logged: set[tuple[str, str]] = set()
        self._set_rate = RateMeter(window_s, clock)
        self._out_rate = RateMeter(window_s, clock)
        self._latency_s: deque[float] = deque(maxlen=200)
        self._pipeline_s: deque[float] = deque(maxlen=200)
        self.synced = 0
        self.replaced = 0
        self.processed = 0
        self.published = 0
        self.pipeline_errors = 0
        self.last_error: Optional[str] = None
        self.time_jumps = 0
        self.last_time_jump_s = 0.0
        self._stages: dict[str, float] = {}
        self._rejected: dict[str, int] = {}  # ghost person segments rejected, by reason, in total
        self._rig_state = ""
        self._depth_refine = ""

    # -- recording -------------------------------------------------------------------------

    def record_received(self, camera: str) -> None:
        """An image message arrived on this camera's topic (good or bad)."""
        with self._lock:
            c = self._cams[camera]
            c.received += 1
            c.rate.tick()

    def record_bad(self, camera: str, reason: str) -> bool:
        """Count one rejected input; True the first time this (camera, reason) happens, so the
        caller logs it exactly once."""
        if reason not in BAD_INPUT_REASONS:
            raise ValueError(f"unknown bad-input reason {reason!r}; expected one of "
                             f"{BAD_INPUT_REASONS}")
        with self._lock:
            c = self._cams[camera]
            c.bad[reason] += 1
            c.last_bad = reason
            c.last_bad_t = self._clock()
            return self._first((camera, reason))

    def record_dropped(self, camera: str, count: int = 1) -> None:
        """Valid frames that never made it into a set (unmatched or superseded)."""
        with self._lock:
            self._cams[camera].dropped += count

    def record_presence(self, camera: str, absent: bool) -> None:
        with self._lock:
            c = self._cams[camera]
            if absent and not c.absent:
                c.absent_count += 1
            c.absent = absent

    def record_synced(self, cameras: Iterable[str]) -> None:
        """A frame set was formed from these cameras."""
        with self._lock:
            self.synced += 1
            self._set_rate.tick()
            for n in cameras:
                self._cams[n].used += 1

    def record_replaced(self) -> None:
        """A waiting frame set was replaced by a newer one while the pipeline was busy."""
        with self._lock:
            self.replaced += 1

    def record_processed(self, pipeline_s: float, stages: Optional[dict[str, float]] = None,
                         rejected_people: Optional[dict[str, int]] = None, rig_state: str = "",
                         depth_refine: str = "") -> None:
        """One frame set went through the pipeline in ``pipeline_s`` seconds; ``stages``:
        the pipeline's own stage timings of that set (SceneResult.timings_s), seconds;
        ``rejected_people``: person segments it rejected as ghosts, by reason (added up);
        ``rig_state``: the camera rig's state after it (converging, stable, ...);
        ``depth_refine``: what the depth refinement from matches did (SceneResult.depth_refine)."""
        with self._lock:
            self.processed += 1
            self._pipeline_s.append(pipeline_s)
            if stages:
                self._stages = dict(stages)
            if rig_state:
                self._rig_state = rig_state
            if depth_refine:
                self._depth_refine = depth_refine
            for reason, n in (rejected_people or {}).items():
                self._rejected[reason] = self._rejected.get(reason, 0) + int(n)

    def record_published(self, stamp_ns: int, now_ns: int) -> None:
        """Outputs of the set stamped ``stamp_ns`` went out at ``now_ns`` (same clock)."""
        with self._lock:
            self.published += 1
            self._out_rate.tick()
            self._latency_s.append((now_ns - stamp_ns) * 1e-9)

    def record_time_jump(self, jump_s: float) -> bool:
        """Count a jump back in time of the node's clock (``jump_s`` < 0, seconds), or a change
        of its time source (``jump_s``: the step it made); True the first time, so the caller
        logs it once."""
        with self._lock:
            self.time_jumps += 1
            self.last_time_jump_s = jump_s
            return self._first(("time", "jump_back"))

    def record_pipeline_error(self, message: str) -> bool:
        """Count a pipeline failure; True the first time this message is seen."""
        with self._lock:
            self.pipeline_errors += 1
            self.last_error = message
            return self._first(("pipeline", message))

    def first_time(self, *key: str) -> bool:
        """True the first time ``key`` is seen (for log-once of other events)."""
        with self._lock:
            return self._first(tuple(key))

    def _first(self, key: tuple) -> bool:
        if key in self._logged:
            return False
        self._logged.add(key)
        return True

    # -- reading ---------------------------------------------------------------------------

    def received(self, camera: str) -> int:
        """Image messages received on this camera's topic so far."""
        with self._lock:
            return self._cams[camera].received

    def bad_counts(self, camera: str) -> dict[str, int]:
        with self._lock:
            return dict(self._cams[camera].bad)

    def statuses(self) -> list[Status]:
        """The current state, one Status per camera then one for the pipeline."""
        out = []
        with self._lock:
            for name, c in self._cams.items():
                bad_total = sum(c.bad.values())
                if c.received == 0:
                    level, msg = STALE, "no image received yet"
                elif c.absent:
                    level, msg = WARN, "absent: stopped publishing, left out of frame sets"
                elif self._clock() - c.last_bad_t <= self.window_s:
                    # Warn while bad inputs are recent; the counters keep the history.
                    level, msg = WARN, f"{bad_total} bad inputs (last: {c.last_bad})"
                else:
                    level, msg = OK, "ok"
                values = {
                    "topic": c.topic,
                    "rate_hz": f"{c.rate.rate():.2f}",
                    "received": str(c.received),
                    "used_in_sets": str(c.used),
                    "dropped_unmatched": str(c.dropped),
                    "bad_total": str(bad_total),
                    "absent": str(c.absent).lower(),
                    "times_absent": str(c.absent_count),
                }
                values.update({f"bad_{r}": str(k) for r, k in c.bad.items()})
                out.append(Status(f"{self.node_name}: camera {name}", level, msg, c.topic, values))
            lat = sorted(self._latency_s)
            pipe = list(self._pipeline_s)
            if self.pipeline_errors and self.processed == 0:
                level, msg = ERROR, f"pipeline failing: {self.last_error}"
            elif self.pipeline_errors:
                level, msg = WARN, f"{self.pipeline_errors} pipeline errors (last: {self.last_error})"
            elif self.published == 0:
                level, msg = STALE, "no output published yet"
            else:
                level, msg = OK, "ok"
            values = {
                "frame_sets_synced": str(self.synced),
                "frame_sets_replaced_while_busy": str(self.replaced),
                "frame_sets_processed": str(self.processed),
                "frame_sets_published": str(self.published),
                "pipeline_errors": str(self.pipeline_errors),
                "time_jumps": str(self.time_jumps),
                "last_time_jump_s": f"{self.last_time_jump_s:.3f}",
                "sync_rate_hz": f"{self._set_rate.rate():.2f}",
                "output_rate_hz": f"{self._out_rate.rate():.2f}",
                "latency_median_s": f"{lat[len(lat) // 2]:.4f}" if lat else "nan",
                "latency_max_s": f"{lat[-1]:.4f}" if lat else "nan",
                "pipeline_mean_s": f"{sum(pipe) / len(pipe):.4f}" if pipe else "nan",
            }
            values.update({f"last_stage_{k}_s": f"{v:.4f}" for k, v in self._stages.items()})
            values["people_rejected_total"] = str(sum(self._rejected.values()))
            if self._rig_state:
                values["rig_state"] = self._rig_state
            if self._depth_refine:
                values["depth_refine"] = self._depth_refine
            values.update({f"people_rejected_{k}": str(v) for k, v in sorted(self._rejected.items())})
            out.append(Status(f"{self.node_name}: pipeline", level, msg, self.hardware_id, values))
        return out


def to_diagnostic_array(statuses: list[Status], stamp_msg):
    """Statuses -> diagnostic_msgs/DiagnosticArray stamped with ``stamp_msg``
    (builtin_interfaces/Time)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    arr = DiagnosticArray()
    arr.header.stamp = stamp_msg
    for s in statuses:
        st = DiagnosticStatus()
        st.level = bytes([s.level])
        st.name = s.name
        st.message = s.message
        st.hardware_id = s.hardware_id
        st.values = [KeyValue(key=k, value=v) for k, v in s.values.items()]
        arr.status.append(st)
    return arr


def values_of(array_msg, name_suffix: str) -> Optional[dict[str, str]]:
    """The key/values of the status whose name ends with ``name_suffix`` in a
    DiagnosticArray message, or None (for tests and tools reading /diagnostics)."""
    for st in array_msg.status:
        if st.name.endswith(name_suffix):
            return {kv.key: kv.value for kv in st.values}
    return None
