"""``hamst3r eval --model M --scenes S``: held-out metrics of a checkpoint on synthetic scenes.

Prints one table: pointmap (median-scaled depth AbsRel and inlier ratio δ<1.03, relative
3D error), person instances (mask IoU, cross-view id consistency), DensePose (template-
coordinate error on body pixels) and body-mask IoU, averaged over all ordered camera pairs
of every frame set. Use scenes whose seeds were not used for training.
"""
from __future__ import annotations

NAME = "eval"
HELP = "held-out metrics of a checkpoint on synthetic scenes (table)"


def add_arguments(parser) -> None:
    parser.add_argument("--model", default=None, help="checkpoint (ours .safetensors, or official); default: the embedded model")
    parser.add_argument("--encoder", default=None, help="DUNE encoder file for a DUNE-MASt3R decoder checkpoint")
    parser.add_argument("--scenes", nargs="+", required=True, help="dataset folder(s) written by `hamst3r synth`")
    parser.add_argument("--size", default=None, help="crop WxH fed to the network (default: the model's training crop)")
    parser.add_argument("--max-framesets", type=int, default=20, help="frame sets per dataset (default 20)")


def run(args) -> int:
    from pathlib import Path

    from hamst3r_ros.train.evaluate import evaluate_checkpoint, metrics_table

    for s in args.scenes:
        if not (Path(s) / "manifest.json").is_file():
            print(f"error: {s}: not a dataset written by `hamst3r synth` (no manifest.json)")
            return 2
    size = None
    if args.size:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
            size = (w, h)
        except ValueError:
            print(f"error: --size {args.size!r}: expected WxH, e.g. 224x160")
            return 2
    rows = evaluate_checkpoint(args.model, args.scenes, size=size, encoder=args.encoder,
                               max_framesets=args.max_framesets)
    print(metrics_table(rows))
    return 0
