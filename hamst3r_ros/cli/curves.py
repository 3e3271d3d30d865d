"""``hamst3r curves RUN...``: held-out metrics of training runs against CPU time (table, PNG)."""
from __future__ import annotations

NAME = "curves"
HELP = "training curves of runs: held-out metrics against process CPU time (table, optional PNG)"


def add_arguments(parser) -> None:
    parser.add_argument("runs", nargs="+", help="run folders (the `out` of a training recipe) or history.json files")
    parser.add_argument("--png", default=None, help="also draw the curves into this PNG")


def run(args) -> int:
    from hamst3r_ros.train.curves import curves_picture, curves_table, read_curve

    try:
        curves = [read_curve(r) for r in args.runs]
    except ValueError as e:
        print(f"hamst3r curves: error: {e}")
        return 2
    print(curves_table(curves))
    if args.png:
        curves_picture(curves, args.png)
        print(f"picture: {args.png}")
    return 0
