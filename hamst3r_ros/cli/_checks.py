"""Argument checks shared by the evaluation subcommands (not a subcommand: the name starts with '_')."""
from __future__ import annotations

from typing import Optional, Sequence


def rig_args_problem(args, names: Sequence[str], two_cameras_because: str) -> Optional[str]:
    """The first problem of a synthetic rig's arguments, or None: every ``names`` attribute of
    ``args`` must be >= 1 (named as its flag) and ``args.cameras`` >= 2, for the reason given."""
    for name in names:
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}"
    if args.cameras < 2:
        return f"--cameras must be >= 2 ({two_cameras_because})"
    return None
