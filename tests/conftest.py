"""Shared test set-up: an isolated ROS 2 environment and helpers for real rclpy tests.

Every test process gets its own ROS_DOMAIN_ID (HAMST3R_TEST_ROS_DOMAIN_ID overrides it),
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a private ROS_LOG_DIR, set here before any test
imports rclpy, so that several people (and CI jobs) testing on one machine do not hear each
other. Tests marked ``@pytest.mark.ros`` are skipped, saying why, only when rclpy is not
importable.

Helpers for ROS tests (import them: ``from conftest import RosHarness, wait_for, ...``):
    ros            fixture: a RosHarness on a fresh rclpy context, torn down after the test
    RosHarness     nodes on one context spun by a background executor; collect() and
                   wait_matched() for round trips
    wait_for       poll a condition until true or a deadline (never a bare sleep)
    unique_name    a topic/node name unique to this process and test
    ros_subprocess_env   environment for a child process that runs ROS (keeps the wheels'
                   bootstrap variables consistent)
"""
from __future__ import annotations

import gc
import importlib.util
import itertools
import os
import shutil
import tempfile
import threading
import time
from typing import Any, Callable, Optional

import pytest


def _test_domain_id() -> int:
    # 1..100 (valid on Linux with default port mapping), spread by pid so that concurrent
    # test runs on one machine rarely share a domain; tests also use unique topic names.
    forced = os.environ.get("HAMST3R_TEST_ROS_DOMAIN_ID")
    if forced:
        return int(forced)
    return 1 + os.getpid() % 100


ROS_TEST_ENV = {
    "ROS_DOMAIN_ID": str(_test_domain_id()),
    "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    "ROS_LOG_DIR": tempfile.mkdtemp(prefix="hamst3r_test_roslog_"),
}
os.environ.update(ROS_TEST_ENV)
os.environ.pop("ROS_STATIC_PEERS", None)

HAVE_RCLPY = importlib.util.find_spec("rclpy") is not None


def pytest_report_header(config):
    return "ROS test env: " + ", ".join(f"{k}={v}" for k, v in ROS_TEST_ENV.items())


def pytest_sessionfinish(session, exitstatus):
    # ROS logs of a passing run are noise; keep them when something failed.
    if exitstatus == 0:
        shutil.rmtree(ROS_TEST_ENV["ROS_LOG_DIR"], ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    if HAVE_RCLPY:
        return
    skip = pytest.mark.skip(reason="needs rclpy (the ROS 2 Kilted wheels from requirements.txt, or a ROS 2 install)")
    for item in items:
        if "ros" in item.keywords:
            item.add_marker(skip)


def ros_subprocess_env(extra: Optional[dict] = None) -> dict:
    """Environment for a child process that uses ROS: this process's env (which carries the
    test domain, discovery range, log dir and the wheels' LD_LIBRARY_PATH together with
    _ROS_WHEELS_BOOTSTRAP_COMPLETE), plus ``extra``."""
    env = dict(os.environ)
    env.update(ROS_TEST_ENV)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


_counter = itertools.count()


def unique_name(base: str) -> str:
    """``base`` made unique to this process (pid) and call, valid as a ROS name."""
    return f"{base}_{os.getpid()}_{next(_counter)}"


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition",
             poll: float = 0.005) -> Any:
    """Return condition()'s first truthy value; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(poll)


class RosHarness:
    """Nodes on one private rclpy context, spun by an executor on a background thread.

    Callbacks run on the executor thread; tests read what they collected through
    :func:`wait_for`. Close with :meth:`close` (the ``ros`` fixture does).
    """

    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self._rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="ros-test-executor", daemon=True)
        self._thread.start()

    def _spin(self):
        from rclpy.executors import ExternalShutdownException

        try:
            while not self._stop.is_set() and self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except (ExternalShutdownException, Exception):  # context torn down under us
            pass

    def node(self, name: str, **kwargs):
        """A new node on this context, spun by the harness's executor."""
        from rclpy.node import Node

        n = Node(name, context=self.context, **kwargs)
        self.nodes.append(n)
        self.executor.add_node(n)
        return n

    def add_node(self, node) -> None:
        """Spin a node created elsewhere (it must use ``self.context``)."""
        self.nodes.append(node)
        self.executor.add_node(node)

    def collect(self, node, msg_type, topic: str, qos=10) -> list:
        """Subscribe and return the list every received message is appended to."""
        got: list = []
        node.create_subscription(msg_type, topic, got.append, qos)
        return got

    @staticmethod
    def wait_matched(publisher, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``publisher`` sees ``count`` subscriptions (discovery done)."""
        wait_for(lambda: publisher.get_subscription_count() >= count, timeout,
                 f"{count} subscriber(s) on {publisher.topic_name}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        for n in self.nodes:
            self.executor.remove_node(n)
            n.destroy_node()
        self.nodes.clear()
        self.executor.shutdown(timeout_sec=1.0)
        # Whatever the test leaked (a node that failed half-way, a publisher) is collected now,
        # while its context lives: destroyed by the GC after the shutdown, a Fast DDS publisher
        # can deadlock (rcl_publisher_fini waiting on a timer thread that is gone).
        gc.collect()
        if self.context.ok():
            self._rclpy.shutdown(context=self.context)


@pytest.fixture
def ros():
    """A RosHarness for one test (real rclpy, isolated domain)."""
    if not HAVE_RCLPY:
        pytest.skip("needs rclpy (the ROS 2 Kilted wheels from requirements.txt, or a ROS 2 install)")
    harness = RosHarness()
    try:
        yield harness
    finally:
        harness.close()
