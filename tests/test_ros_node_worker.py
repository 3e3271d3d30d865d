"""The latest-wins worker thread that runs the pipeline off the executor (no ROS needed)."""
import threading

import pytest

from hamst3r_ros.ros.worker import LatestWinsWorker


class _Recorder:
    def __init__(self):
        self.results, self.errors = [], []
        self.done = threading.Event()

    def on_result(self, job, result, seconds):
        assert seconds >= 0
        self.results.append((job, result))

    def on_error(self, job, exc):
        self.errors.append((job, str(exc)))


def test_latest_wins_while_busy():
    gate = threading.Event()
    started = threading.Event()
    rec = _Recorder()
    threads = []

    def process(job):
        threads.append(threading.current_thread().name)
        if job == 0:
            started.set()
            assert gate.wait(5)
        return job * 10

    w = LatestWinsWorker(process, rec.on_result, rec.on_error, name="pipeline-test")
    assert w.submit(0) is None
    assert started.wait(5)
    assert w.busy
    # While job 0 runs, 1..5 arrive: each replaces the one waiting before it.
    replaced = [w.submit(k) for k in range(1, 6)]
    assert replaced == [None, 1, 2, 3, 4]
    gate.set()
    assert w.wait_idle(5)
    assert rec.results == [(0, 0), (5, 50)]
    assert (w.submitted, w.replaced, w.processed, w.errors) == (6, 4, 2, 0)
    assert set(threads) == {"pipeline-test"} and threading.current_thread().name not in threads
    assert w.stop()


def test_errors_are_reported_and_the_worker_goes_on():
    rec = _Recorder()

    def process(job):
        if job == "bad":
            raise ValueError("broken frame set")
        return job

    w = LatestWinsWorker(process, rec.on_result, rec.on_error)
    w.submit("bad")
    assert w.wait_idle(5)
    w.submit("good")
    assert w.wait_idle(5)
    assert rec.errors == [("bad", "broken frame set")]
    assert rec.results == [("good", "good")]
    assert w.errors == 1 and w.stop()


def test_stop_discards_waiting_job_and_refuses_new_ones():
    gate = threading.Event()
    started = threading.Event()
    rec = _Recorder()

    def process(job):
        started.set()
        gate.wait(5)
        return job

    w = LatestWinsWorker(process, rec.on_result, rec.on_error)
    w.submit(1)
    assert started.wait(5)
    w.submit(2)
    # stop() discards job 2 at once, whatever the timeout; job 1 is still held at the gate, so
    # it cannot be done within 0 s. Only then is job 1 let go: no timing decides the outcome.
    assert w.stop(timeout=0) is False
    gate.set()
    assert w.stop(timeout=5)
    assert rec.results == [(1, 1)] and w.processed == 1
    with pytest.raises(RuntimeError, match="after stop"):
        w.submit(3)


def test_wait_idle_times_out_while_busy():
    gate = threading.Event()
    w = LatestWinsWorker(lambda job: gate.wait(5), lambda *a: None, lambda *a: None)
    w.submit(1)
    assert w.wait_idle(0.05) is False
    gate.set()
    assert w.wait_idle(5) and w.stop()
