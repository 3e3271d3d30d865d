"""The life cycle of one of our ROS 2 executables: init, build the node, spin, clean exit.

Both ``hamst3r_node`` and ``sim_cameras`` run this way: Ctrl-C and SIGTERM (which rclpy turns
into ExternalShutdownException) exit 0; a configuration error (``config_errors``, or any of
the project's own errors: a bad checkpoint, parameter file, ...) exits 2 with one line and no
traceback; anything else is a real error and propagates. On Fast DDS without a profile of
the user's, both start with a larger shared-memory segment (``transport.py``).

Leaving quickly. A stop request must end the process within 2 s even while the pipeline is
seconds into a frame set (on its own thread, maybe inside torch). So once the node is
destroyed (its DDS participant with it: that also releases Fast DDS's shared-memory
segments) and rclpy is shut down, :func:`run_node` flushes stdout/stderr and leaves with
``os._exit``: the interpreter's own finalisation would wait for, or tear down under, the
abandoned pipeline thread (a daemon thread inside C++ code at interpreter exit is how a
process ends in "terminate called without an active exception", exit -6).

The middleware teardown itself can hang while holding the GIL (seen once: Fast DDS spinning
in participant teardown after SIGTERM), so no Python timer can guard it. The guard is
``faulthandler``'s watchdog, a C thread that needs no GIL: if teardown takes longer than
:data:`TEARDOWN_GRACE_S`, it prints where each thread is and exits with status 1.

One Ctrl-C, one stop. Under ``ros2 launch`` a Ctrl-C reaches each process twice (the terminal
signals the process group, then launch signals each child), and the second used to land
while the first was still unwinding (a start-up busy loading the model): a KeyboardInterrupt
traceback from the teardown. So only the first SIGINT interrupts (:func:`stop_on_first_interrupt`),
and the console scripts (:func:`hamst3r_node_main`, :func:`sim_cameras_main`) install that before
their imports (a second or more of numpy, rclpy, torch): a Ctrl-C then exits 0 without a traceback.
"""
from __future__ import annotations

import faulthandler
import importlib
import os
import sys
from typing import Callable, Optional, Sequence

#: Seconds destroying the node and shutting rclpy down may take before the process leaves
#: without them (exit status 1, thread stacks on stderr). Normal teardown takes ~10 ms, but on
#: a loaded 2-core machine sim_cameras' ``destroy_node`` after SIGTERM took longer than 1.5 s
#: in about 1 of 15 runs of ``test_camera_rig_to_points_humans_and_diagnostics_across_processes``
#: (CI failed on it once), and never longer than a few seconds (0 of 12 with a 10 s grace):
#: slow, not hung. 5 s still ends a real hang.
TEARDOWN_GRACE_S = 5.0


def run_node(prog: str, make_node: Callable[[], object], args: Optional[Sequence[str]],
             config_errors: tuple[type[BaseException], ...],
             keep_going: Callable[[object], bool] = lambda node: True,
             exit_process: bool = True) -> int:
    """Run ``make_node()`` on a single-threaded executor until shutdown or ``keep_going``
    turns False, then tear down.

    Returns the process exit code when ``exit_process`` is False; otherwise the process ends
    here with that code (``os._exit`` after flushing, see the module doc). A real error
    (not a stop request, not one of ``config_errors``) propagates either way.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from hamst3r_ros.errors import EXIT_BAD_INPUT, is_project_error, one_line
    from hamst3r_ros.ros.transport import use_large_shm_segment

    use_large_shm_segment()  # bursts of images through Fast DDS's shared memory (see transport.py)
    from rclpy.utilities import get_default_context

    stop_on_first_interrupt()  # before rclpy.init: rclpy's SIGINT handler calls the one it finds
    rclpy.init(args=args)
    context = get_default_context()
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
    except Exception as exc:  # noqa: BLE001 - sorted below; real errors propagate
        if isinstance(exc, config_errors) or is_project_error(exc):
            # Wrong parameters, files or pipeline: one clear line, no traceback.
            print(f"{prog}: {one_line(exc)}", file=sys.stderr)
            code = EXIT_BAD_INPUT
        elif rclpy.ok():
            # (A SIGTERM between the executor's context check and its wait makes rcl refuse
            # the wait set: that is the shutdown we were asked for, not an error.)
            _teardown(node, context)
            raise
    _teardown(node, context)
    if exit_process:
        _leave(code)
    return code


def _teardown(node, context) -> None:
    """Destroy the node and shut rclpy down, under the GIL-free watchdog.

    A stop was requested (or the node is done): more SIGINT/SIGTERM are ignored from here on.
    Ctrl-C under ``ros2 launch`` delivers two (the terminal's to the process group, then
    launch's own), and the second must not interrupt the teardown with a KeyboardInterrupt.
    """
    _ignore_stop_signals()
    faulthandler.dump_traceback_later(TEARDOWN_GRACE_S, exit=True, file=sys.__stderr__)
    try:
        if node is not None:
            node.destroy_node()
        import rclpy

        rclpy.try_shutdown()
        _ignore_stop_signals()  # try_shutdown put back the handlers rclpy found at init
        _finish_logging(context)
    finally:
        faulthandler.cancel_dump_traceback_later()


def stop_on_first_interrupt() -> None:
    """Make the first SIGINT raise KeyboardInterrupt and ignore every later one: the stop was asked
    for, and a repeat (Ctrl-C under ``ros2 launch`` comes twice) must not interrupt the way out.

    Replaces the Python-level handler only; install it before ``rclpy.init`` (rclpy's own handler
    chains to it, and a handler installed after init would replace rclpy's). Main thread only,
    as Python requires; elsewhere it does nothing."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    stopping = False

    def on_sigint(signum, frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)


def hamst3r_node_main() -> int:
    """Console script ``hamst3r_node`` (:func:`hamst3r_ros.ros.node.main`)."""
    return _console_main("hamst3r_ros.ros.node")


def sim_cameras_main() -> int:
    """Console script ``sim_cameras`` (:func:`hamst3r_ros.ros.sim_cameras.main`)."""
    return _console_main("hamst3r_ros.ros.sim_cameras")


def _console_main(module: str) -> int:
    """Run ``module.main()`` with Ctrl-C handled from the first moment: a stop requested during the
    imports or before :func:`run_node` took over exits 0 at once, as one requested later does."""
    stop_on_first_interrupt()
    try:
        return importlib.import_module(module).main()
    except KeyboardInterrupt:
        _leave(0)


def _ignore_stop_signals() -> None:
    """Ignore SIGINT and SIGTERM (this replaces rclpy's handlers, which would raise
    KeyboardInterrupt through Python's); only from the main thread, as Python requires."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)


def _finish_logging(context) -> None:
    """Flush ROS's log files (rcl's spdlog sink buffers info lines until logging ends).

    After a signal, rclpy has shut the context down without ending logging (that would
    happen during interpreter finalisation, which ``os._exit`` skips), so end it here.
    """
    try:
        with context._lock:  # rclpy's own shutdown path takes it too
            context._logging_fini()
    except Exception:  # noqa: BLE001 - private API of rclpy: losing log lines is not fatal
        pass


def _leave(code: int) -> None:
    """Flush what was printed and end the process now, without interpreter finalisation."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed pipe must not stop the exit
            pass
    os._exit(code)
