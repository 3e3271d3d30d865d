"""The life cycle of one of our ROS 2 executables: init, build the node, spin, clean exit.

Both ``hamst3r_node`` and ``sim_cameras`` run this way: Ctrl-C and SIGTERM (which rclpy turns
into ExternalShutdownException) exit 0; a configuration error exits 2 with one line and no
traceback; anything else is a real error and propagates. On Fast DDS without a profile of
the user's, both start with a larger shared-memory segment (``transport.py``).
"""
from __future__ import annotations

import sys
from typing import Callable, Optional, Sequence


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
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code
