"""Approximate time synchronisation of N camera streams (pure Python, no rclpy).

Semantics follow ROS's ``message_filters.ApproximateTimeSynchronizer`` (Python):

- every camera has a bounded queue of pending messages keyed by stamp; when it overflows the
  oldest message is dropped;
- a set is formed when a message arrives (the *trigger*) and every other camera that is
  expected has a queued message whose stamp is within ``slop`` of the trigger; the set's
  spread (newest stamp minus oldest stamp) must be strictly below ``slop``;
- the messages of an emitted set leave their queues.

Where the upstream class leaves things open, this one decides, because a live node needs it:

- among all candidate sets that contain the trigger, the one with the smallest spread wins
  (upstream takes the first product combination that fits);
- output is monotonic: an emitted set is always newer than the previous one, and no camera
  ever goes back in time. Queued messages that could only form an older set are discarded
  (reported in ``AddResult.dropped``), and arriving messages that are too old for any future
  set are rejected as ``stale``; a message not newer than the last one of its own camera is
  rejected as ``out_of_order``;
- a camera that stops delivering does not stop the output: when its newest stamp falls more
  than ``camera_timeout_s`` behind the newest stamp seen on any camera, it is *absent* and sets
  are formed from the others (at least ``min_cameras``). It is expected again as soon as it
  delivers a fresh message. A camera that has never delivered is waited for during
  ``camera_timeout_s`` after the first message of any camera.

Time is message time (stamps, integer nanoseconds), never wall time, so the behaviour is the
same live, from a recording, and in tests.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

#: Reasons a message is rejected by :meth:`ApproximateSync.add`.
REJECT_OUT_OF_ORDER = "out_of_order"
REJECT_STALE = "stale"


@dataclass
class SyncedSet:
    """One synchronised set of messages.

    Attributes:
        stamp_ns: the newest stamp in the set, nanoseconds (the FrameSet's reference time).
        items: camera name -> (stamp_ns, payload), for the cameras present in this set.
        absent: cameras that were expected but considered absent when the set was formed.
    """

    stamp_ns: int
    items: dict[str, tuple[int, Any]]
    absent: list[str] = field(default_factory=list)

    @property
    def spread_ns(self) -> int:
        stamps = [s for s, _ in self.items.values()]
        return max(stamps) - min(stamps)


@dataclass
class AddResult:
    """What one :meth:`ApproximateSync.add` call did.

    Attributes:
        accepted: False when the message was rejected (then ``reason`` says why).
        reason: ``"out_of_order"`` or ``"stale"`` for a rejected message, else None.
        synced: the set this message completed, if any.
        dropped: (camera, stamp_ns) of queued messages discarded without ever being part of
            a set (queue overflow, or superseded by a newer emitted set).
        went_absent: cameras that became absent with this message.
        came_back: cameras that were absent and are expected again since this message.
    """

    accepted: bool
    reason: Optional[str] = None
    synced: Optional[SyncedSet] = None
    dropped: list[tuple[str, int]] = field(default_factory=list)
    went_absent: list[str] = field(default_factory=list)
    came_back: list[str] = field(default_factory=list)


class ApproximateSync:
    """Approximate time synchroniser of a fixed list of named cameras; thread-safe.

    Args:
        names: camera names, in output order.
        slop_s: largest allowed spread of the stamps in one set, seconds (> 0).
        queue_size: pending messages kept per camera (>= 1).
        camera_timeout_s: a camera whose newest stamp lags the newest stamp of any camera by
            more than this is absent (> 0), seconds.
        min_cameras: smallest number of cameras in an emitted set (1 <= min_cameras <= N).
    """

    def __init__(self, names: Sequence[str], slop_s: float, queue_size: int = 10,
                 camera_timeout_s: float = 1.0, min_cameras: int = 1):
        names = list(names)
        if not names:
            raise ValueError("ApproximateSync: at least one camera name is required")
        if len(set(names)) != len(names):
            raise ValueError(f"ApproximateSync: camera names must be unique, got {names}")
        if not slop_s > 0:
            raise ValueError(f"ApproximateSync: slop_s must be > 0 seconds, got {slop_s}")
        if int(queue_size) < 1:
            raise ValueError(f"ApproximateSync: queue_size must be >= 1, got {queue_size}")
        if not camera_timeout_s > 0:
            raise ValueError(
                f"ApproximateSync: camera_timeout_s must be > 0 seconds, got {camera_timeout_s}")
        if not 1 <= int(min_cameras) <= len(names):
            raise ValueError(
                f"ApproximateSync: min_cameras must be in [1, {len(names)}], got {min_cameras}")
        self.names = names
        self.slop_ns = int(round(slop_s * 1e9))
        self.queue_size = int(queue_size)
        self.timeout_ns = int(round(camera_timeout_s * 1e9))
        self.min_cameras = int(min_cameras)
        self._lock = threading.Lock()
        self._queues: dict[str, dict[int, Any]] = {n: {} for n in names}
        self._last_in: dict[str, Optional[int]] = {n: None for n in names}
        self._first_ns: Optional[int] = None
        self._newest_ns: Optional[int] = None
        self._last_out_ns: Optional[int] = None
        self._absent: set[str] = set()

    # -- queries ---------------------------------------------------------------------------

    def absent(self) -> list[str]:
        """Cameras currently considered absent, in camera order."""
        with self._lock:
            return [n for n in self.names if n in self._absent]

    def pending(self) -> dict[str, int]:
        """Number of queued messages per camera."""
        with self._lock:
            return {n: len(q) for n, q in self._queues.items()}

    @property
    def last_emitted_ns(self) -> Optional[int]:
        return self._last_out_ns

    # -- input -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every queued message, stamp and presence, as if just created.

        For a jump back in time (a bag played in a loop, a simulator's clock reset): stamps
        older than those already seen are then the present, not out of order.
        """
        with self._lock:
            for queue in self._queues.values():
                queue.clear()
            self._last_in = {n: None for n in self.names}
            self._first_ns = None
            self._newest_ns = None
            self._last_out_ns = None
            self._absent = set()

    def add(self, name: str, stamp_ns: int, payload: Any) -> AddResult:
        """Offer one message of camera ``name`` with stamp ``stamp_ns`` (nanoseconds).

        Returns what happened (see :class:`AddResult`). Raises KeyError for an unknown camera.
        """
        if name not in self._queues:
            raise KeyError(f"ApproximateSync: unknown camera {name!r}; known: {self.names}")
        stamp_ns = int(stamp_ns)
        with self._lock:
            last = self._last_in[name]
            if last is not None and stamp_ns <= last:
                return AddResult(False, REJECT_OUT_OF_ORDER)
            if self._last_out_ns is not None and stamp_ns <= self._last_out_ns - self.slop_ns:
                # Any set holding it would have to be older than the one already emitted.
                return AddResult(False, REJECT_STALE)
            result = AddResult(True)
            self._last_in[name] = stamp_ns
            if self._first_ns is None:
                self._first_ns = stamp_ns
            if self._newest_ns is None or stamp_ns > self._newest_ns:
                self._newest_ns = stamp_ns
            queue = self._queues[name]
            queue[stamp_ns] = payload
            while len(queue) > self.queue_size:
                oldest = min(queue)
                del queue[oldest]
                result.dropped.append((name, oldest))
            self._update_presence(result)
            chosen = self._best_set(name, stamp_ns)
            if chosen is not None:
                result.synced = self._emit(chosen, result)
            return result

    # -- internals (called with the lock held) ------------------------------------------------

    def _update_presence(self, result: AddResult) -> None:
        for n in self.names:
            last = self._last_in[n]
            reference = last if last is not None else self._first_ns
            is_absent = self._newest_ns - reference > self.timeout_ns
            if is_absent and n not in self._absent:
                self._absent.add(n)
                result.went_absent.append(n)
            elif not is_absent and n in self._absent:
                self._absent.discard(n)
                result.came_back.append(n)

    def _best_set(self, trigger: str, t: int) -> Optional[dict[str, int]]:
        """The smallest-spread set (camera -> stamp) holding the trigger, or None."""
        expected = [n for n in self.names if n not in self._absent]
        if trigger not in expected or len(expected) < self.min_cameras:
            return None
        candidates: dict[str, list[int]] = {}
        for n in expected:
            if n == trigger:
                continue
            near = sorted(s for s in self._queues[n] if abs(s - t) < self.slop_ns)
            if not near:
                return None
            candidates[n] = near
        # The window's lowest stamp is one of the candidates (or the trigger); for a given
        # lowest stamp, each camera's smallest stamp at or above it minimises the newest one.
        lows = sorted({t} | {s for near in candidates.values() for s in near if s <= t})
        best: Optional[tuple[int, int, dict[str, int]]] = None
        for lo in lows:
            picks = {trigger: t}
            for n, near in candidates.items():
                above = [s for s in near if s >= lo]
                if not above:
                    picks = None
                    break
                picks[n] = above[0]
            if picks is None:
                continue
            hi = max(picks.values())
            spread = hi - min(picks.values())
            if spread >= self.slop_ns:
                continue
            if self._last_out_ns is not None and hi <= self._last_out_ns:
                continue
            # Smallest spread first; on a tie, the newer set.
            key = (spread, -hi)
            if best is None or key < best[:2]:
                best = (spread, -hi, picks)
        return None if best is None else best[2]

    def _emit(self, picks: dict[str, int], result: AddResult) -> SyncedSet:
        items = {}
        for n in self.names:
            if n in picks:
                items[n] = (picks[n], self._queues[n].pop(picks[n]))
        stamp = max(picks.values())
        self._last_out_ns = stamp
        # Monotonic output: drop what can only build older sets or send a camera backwards.
        for n, queue in self._queues.items():
            used = picks.get(n)
            for s in sorted(queue):
                if s <= stamp - self.slop_ns or (used is not None and s <= used):
                    del queue[s]
                    result.dropped.append((n, s))
        return SyncedSet(stamp_ns=stamp, items=items,
                         absent=[n for n in self.names if n in self._absent])
