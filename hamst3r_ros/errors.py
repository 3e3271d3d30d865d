"""What counts as the project's own error at an entry point (no heavy imports).

Our error classes (CheckpointError, ConfigValueError, ParameterError, ConversionError,
PipelineUnavailable, ...) carry one line that names the file or parameter, what was expected
and what was found. Entry points (the ``hamst3r`` tool, ``hamst3r_node``, ``sim_cameras``)
print that line and exit 2 instead of a traceback; anything else is a bug and keeps its
traceback.
"""
from __future__ import annotations

#: Exit status of an entry point stopped by one of our errors (as argparse's usage errors).
EXIT_BAD_INPUT = 2


def is_project_error(exc: BaseException) -> bool:
    """True when ``exc`` is an instance of an exception class defined in hamst3r_ros."""
    return isinstance(exc, Exception) and any(
        cls.__module__.split(".")[0] == "hamst3r_ros" for cls in type(exc).__mro__)


def one_line(exc: BaseException) -> str:
    """The error's message on one line (embedded line breaks become '; ')."""
    return "; ".join(part.strip() for part in str(exc).splitlines() if part.strip()) or type(exc).__name__
