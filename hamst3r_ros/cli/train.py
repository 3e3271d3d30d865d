"""``hamst3r train CONFIG.yaml``: train the human heads (and decoders) on synthetic scenes.

The YAML holds the fields of :class:`hamst3r_ros.train.loop.TrainConfig`; paths in it are
relative to the YAML's folder; ``extends:`` and seed ranges are resolved first (see
:mod:`hamst3r_ros.train.recipe`). Training resumes from ``<out>/last.*`` when present.
Example: ``config/train_embedded.yaml`` (the shipped default model's recipe).
"""
from __future__ import annotations

NAME = "train"
HELP = "train the human heads / a small HAMSt3R model from a YAML config (resumable)"


def add_arguments(parser) -> None:
    parser.add_argument("config", help="training config YAML (see config/train_embedded.yaml)")
    parser.add_argument("--steps", type=int, default=None, help="override the number of steps")
    parser.add_argument("--out", default=None, help="override the output folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")


def run(args) -> int:
    from pathlib import Path

    from hamst3r_ros.train.loop import TrainConfig, check_start_files, format_metrics, train
    from hamst3r_ros.train.recipe import load_recipe

    path = Path(args.config)
    try:
        raw = load_recipe(path)
    except ValueError as e:
        print(f"error: {e}")
        return 2
    if args.steps is not None:
        raw["steps"] = args.steps
    if args.out is not None:
        raw["out"] = str(Path(args.out).resolve())
    try:
        cfg = TrainConfig.from_dict(raw, base_dir=path.parent)
        check_start_files(cfg)
    except (TypeError, ValueError) as e:
        print(f"error: {path}: {e}")
        return 2
    result = train(cfg, progress=not args.no_progress)
    print(f"done in {result['seconds']:.0f} s; checkpoint {Path(cfg.out) / 'last.safetensors'}")
    if result["metrics"] is not None:
        print(f"held-out: {format_metrics(result['metrics'])}")
    return 0
