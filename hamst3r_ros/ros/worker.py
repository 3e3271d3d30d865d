"""A single worker thread with a one-slot, latest-wins input (pure Python, no rclpy).

The pipeline is far slower than the cameras, and it must never run on the ROS executor (the
executor keeps receiving images, publishing diagnostics and answering SIGTERM while the
pipeline works). While the worker is busy, at most one job waits; a newer job replaces the
waiting one, which is returned to the caller so that it can be counted as dropped. Nothing
queues without bound and the worker always works on the freshest data available.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Generic, Optional, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class LatestWinsWorker(Generic[T, R]):
    """Runs ``process(job)`` on its own thread, for the newest submitted job.

    Args:
        process: the work; called on the worker thread, one job at a time.
        on_result: called on the worker thread as ``on_result(job, result, seconds)`` after a
            job succeeded (``seconds``: wall time spent in ``process``).
        on_error: called on the worker thread as ``on_error(job, exception)`` when ``process``
            raised; the worker keeps going with the next job.
        name: thread name (shows in stack dumps and profilers).
    """

    def __init__(self, process: Callable[[T], R],
                 on_result: Callable[[T, R, float], None],
                 on_error: Callable[[T, BaseException], None],
                 name: str = "hamst3r-worker"):
        self._process = process
        self._on_result = on_result
        self._on_error = on_error
        self._cond = threading.Condition()
        self._pending: Optional[T] = None
        self._has_pending = False
        self._busy = False
        self._stopping = False
        self.submitted = 0
        self.replaced = 0
        self.processed = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """True while ``process`` runs."""
        with self._cond:
            return self._busy

    def submit(self, job: T) -> Optional[T]:
        """Hand a job to the worker; never blocks.

        Returns the job it replaced (that job will never run) or None.
        Raises RuntimeError after :meth:`stop`.
        """
        with self._cond:
            if self._stopping:
                raise RuntimeError("LatestWinsWorker: submit() after stop()")
            replaced = self._pending if self._has_pending else None
            if self._has_pending:
                self.replaced += 1
            self._pending = job
            self._has_pending = True
            self.submitted += 1
            self._cond.notify_all()
            return replaced

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        """Block until nothing runs and nothing waits; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._busy or self._has_pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def stop(self, timeout: Optional[float] = 5.0) -> bool:
        """Discard the waiting job, let the running one finish, end the thread.

        Returns False when the running job did not finish within ``timeout`` seconds (the
        thread is a daemon, so it cannot keep the process alive).
        """
        with self._cond:
            self._stopping = True
            self._pending = None
            self._has_pending = False
            self._cond.notify_all()
        if threading.current_thread() is self._thread:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._has_pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._pending
                self._pending = None
                self._has_pending = False
                self._busy = True
            try:
                t0 = time.perf_counter()
                result = self._process(job)
                seconds = time.perf_counter() - t0
                self.processed += 1
                self._on_result(job, result, seconds)
            except BaseException as exc:  # noqa: BLE001 - reported to the owner, never lost
                self.errors += 1
                try:
                    self._on_error(job, exc)
                except Exception:  # noqa: BLE001 - a failing error handler must not kill us
                    pass
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
