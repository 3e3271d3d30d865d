"""``hamst3r conformance FIXTURES``: our network vs the official code's golden outputs.

Prints one row per compared tensor (max abs / max rel error, tolerance, status) and, as the
last line, ``max_abs_err=<value>``. Exit status 1 when any tensor is outside the tolerance
of the fixtures' README, 2 when the fixtures cannot be read.
"""
from __future__ import annotations

NAME = "conformance"
HELP = "compare the network with the official MASt3R/DUSt3R/DUNE golden outputs"


def add_arguments(parser) -> None:
    parser.add_argument("fixtures", nargs="?", default=None,
                        help="fixtures directory with mast3r/ and dune/ (default: $HAMST3R_FIXTURES or ../shared/fixtures)")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch CPU threads (the fixtures were made with 2; default 2)")
    parser.add_argument("--quiet", action="store_true", help="print failing rows only (and the summary)")


def run(args) -> int:
    from pathlib import Path

    import torch

    from hamst3r_ros.model.checkpoints import CheckpointError
    from hamst3r_ros.model.conformance import default_fixtures_dir, run_conformance

    torch.set_num_threads(max(1, args.threads))
    fixtures = Path(args.fixtures) if args.fixtures else default_fixtures_dir()
    print(f"{'tensor':<72} {'max_abs':>10} {'max_rel':>10} {'atol':>8} {'rtol':>8}  status")
    worst, n, failed = 0.0, 0, 0
    try:
        for c in run_conformance(fixtures):
            n += 1
            worst = max(worst, c.max_abs)
            failed += not c.ok
            if c.ok and args.quiet:
                continue
            status = "ok" if c.ok else f"FAIL {c.note}".rstrip()
            print(f"{c.name:<72} {c.max_abs:10.3e} {c.max_rel:10.3e} {c.atol:8.1e} {c.rtol:8.1e}  {status}", flush=True)
    except (FileNotFoundError, CheckpointError) as e:
        print(f"error: {e}")
        print(f"max_abs_err={float('inf')}")
        return 2
    print(f"{n} tensors compared, {failed} outside tolerance")
    print(f"max_abs_err={worst:.6e}")
    return 1 if failed else 0
