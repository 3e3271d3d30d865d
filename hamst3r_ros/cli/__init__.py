"""The ``hamst3r`` command-line tool.

Each subcommand is a module in this package that defines, at top level and without heavy
imports (so that ``hamst3r --help`` stays fast):

    NAME: str                        # the subcommand, e.g. "conformance"
    HELP: str                        # one line for ``hamst3r --help``
    def add_arguments(parser): ...   # argparse arguments
    def run(args) -> int: ...        # the work; heavy imports go here; returns exit code

Subcommands are discovered from the modules present, so only what exists is listed. One of the
project's own errors (a bad checkpoint, config or parameter: see hamst3r_ros.errors) escaping a
subcommand is printed as one line, ``hamst3r COMMAND: error: ...``, and the exit status is 2.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Optional, Sequence


def _subcommand_modules():
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            yield mod


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hamst3r",
        description="HAMSt3R for ROS 2: human-aware multi-view 3D reconstruction. "
        "Run `hamst3r demo` first: it shows the whole pipeline on a synthetic camera rig.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _subcommand_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    from hamst3r_ros.errors import EXIT_BAD_INPUT, is_project_error, one_line

    try:
        return int(args._run(args) or 0)
    except Exception as exc:  # noqa: BLE001 - only ours are turned into one line
        if not is_project_error(exc):
            raise
        print(f"hamst3r {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
