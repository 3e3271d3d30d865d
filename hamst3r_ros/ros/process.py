"""The life cycle of one of our ROS 2 executables: init, build the node, spin, clean exit.

Both ``hamst3r_node`` and ``sim_cameras`` run this way: Ctrl-C and SIGTERM (which rclpy turns
into ExternalShutdownException) exit 0; a configuration error exits 2 with one line and no
traceback; anything else is a real error and propagates. On Fast DDS without a profile of
the user's, both start with a larger shared-memory segment (``transport.py``).
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Callable, Optional, Sequence

#: Seconds the middleware gets to tear down before the process exits regardless.
SHUTDOWN_GRACE_S = 5.0


def run_node(prog: str, make_node: Callable[[], object], args: Optional[Sequence[str]],
             config_errors: tuple[type[BaseException], ...],
             keep_going: Callable[[object], bool] = lambda node: True) -> int:
    """Run ``make_node()`` on a single-threaded executor until shutdown or ``keep_going``
    turns False; returns the process exit code."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from hamst3r_ros.ros.transport import use_large_shm_segment

    use_large_shm_segment()  # bursts of images through Fast DDS's shared memory (see transport.py)
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = make_node()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok() and keep_going(node):
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except config_errors as exc:
        # Wrong parameters, files or pipeline: one clear line, no traceback.
        print(f"{prog}: {exc}", file=sys.stderr)
        code = 2
    except Exception:
        # A SIGTERM between the executor's context check and its wait makes rcl refuse the
        # wait set: that is the shutdown we were asked for, not an error.
        if rclpy.ok():
            raise
    finally:
        # Fast DDS can livelock while destroying a participant: seen once in CI-like runs,
        # sim_cameras spinning at 100% CPU in rcl_node_fini -> DomainParticipant::set_listener
        # for minutes after SIGTERM. A stopped process must still exit, so the teardown gets
        # SHUTDOWN_GRACE_S and then the process leaves without it.
        failing = sys.exc_info()[0] is not None and not isinstance(sys.exc_info()[1], (KeyboardInterrupt,))
        watchdog = threading.Timer(SHUTDOWN_GRACE_S, _exit_now, args=(prog, 1 if failing else code))
        watchdog.daemon = True
        watchdog.start()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        watchdog.cancel()
    return code


def _exit_now(prog: str, code: int) -> None:
    print(f"{prog}: the middleware did not shut down within {SHUTDOWN_GRACE_S:.0f} s; exiting without it",
          file=sys.stderr, flush=True)
    os._exit(code)
