"""``hamst3r eval-system``: the whole system, end to end, against ground truth."""
from __future__ import annotations

NAME = "eval-system"
HELP = "score what the node publishes (cloud, cameras, people, speed) on held-out synthetic scenes"
DESCRIPTION = (
    "Runs the real pipeline, built as hamst3r_node builds it from its default parameters, on "
    "held-out synthetic scenes like the demo's (rendered into --cache on first use), in three "
    "settings: unposed (no intrinsics, no extrinsics), posed (exact intrinsics + the rig's poses as "
    "extrinsics_file) and oracle (posed, with true pointmaps and the network's human outputs). "
    "Prints per-scene and pooled tables of cloud accuracy / completeness, camera pose errors, "
    "people recall / ghosts / ids / MPJPE and speed; the last line is the one-line yardstick. "
    "Metric definitions: hamst3r_ros/system_eval/ and the README."
)


def add_arguments(parser) -> None:
    from hamst3r_ros.system_eval.runner import SETTINGS
    from hamst3r_ros.system_eval.scenes import DEFAULT_SEEDS, SceneSpec

    d = SceneSpec(seed=0)
    parser.add_argument("--seed", type=int, action="append", default=None,
                        help=f"scene seed, repeatable (default {' '.join(map(str, DEFAULT_SEEDS))}: held out from "
                        "every training recipe)")
    parser.add_argument("--scenes", nargs="+", default=None,
                        help="dataset folders written by `hamst3r synth` instead of seeds")
    parser.add_argument("--frames", type=int, default=d.frames, help=f"frame sets per scene (default {d.frames})")
    parser.add_argument("--people", type=int, default=d.people, help=f"people per scene (default {d.people})")
    parser.add_argument("--cameras", type=int, default=d.cameras, help=f"cameras (default {d.cameras})")
    parser.add_argument("--width", type=int, default=d.width, help=f"image width, pixels (default {d.width})")
    parser.add_argument("--height", type=int, default=d.height, help=f"image height, pixels (default {d.height})")
    parser.add_argument("--hfov", type=float, default=d.hfov_deg, help=f"horizontal field of view, degrees "
                        f"(default {d.hfov_deg:g})")
    parser.add_argument("--fps", type=float, default=d.fps, help=f"frame sets per second (default {d.fps:g}, "
                        "the demo's rate)")
    parser.add_argument("--motion", default=d.motion, choices=("walk", "pace", "stand", "sit", "mixed"),
                        help=f"what every person does (default {d.motion}; mixed: the scene's seeded mix)")
    parser.add_argument("--model", default="", help="checkpoint (default: the embedded model)")
    parser.add_argument("--encoder", default="", help="DUNE encoder file for a DUNE-MASt3R --model")
    parser.add_argument("--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS),
                        help="settings to run (default: all three)")
    parser.add_argument("--cache", default="data/eval_system",
                        help="folder of rendered scenes (default data/eval_system)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default 0: torch's default)")
    parser.add_argument("--json", default=None, help="also write every number to this JSON file")


def run(args) -> int:
    import json
    import os
    import platform
    from pathlib import Path

    from hamst3r_ros.system_eval.scenes import DEFAULT_SEEDS, SceneSpec, ensure_scene

    from hamst3r_ros.cli._checks import rig_args_problem

    problem = rig_args_problem(args, ("frames", "people", "cameras", "width", "height"), "the pipeline needs two views")
    if problem:
        print(f"eval-system: {problem}")
        return 2
    if not args.fps > 0 or not 10 <= args.hfov <= 170:
        print(f"eval-system: --fps must be > 0 and --hfov in [10, 170], got {args.fps} and {args.hfov}")
        return 2
    for path in (args.model, args.encoder):
        if path and not Path(path).is_file():
            print(f"eval-system: {path}: no such file")
            return 2
    if args.seed and args.scenes:
        print("eval-system: give --seed or --scenes, not both")
        return 2
    if not os.environ.get("ANNY_CACHE_DIR"):
        os.environ["ANNY_CACHE_DIR"] = str(Path(".cache/anny").resolve())
    import torch

    from hamst3r_ros.model.checkpoints import CheckpointError
    from hamst3r_ros.ros.params import ParameterError
    from hamst3r_ros.system_eval.report import summaries, system_line, tables, to_json
    from hamst3r_ros.system_eval.runner import SystemEvalConfig, evaluate_system

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        if args.scenes:
            missing = [s for s in args.scenes if not (Path(s) / "manifest.json").is_file()]
            if missing:
                print(f"eval-system: {', '.join(missing)}: no manifest.json (expected folders written by "
                      "`hamst3r synth`)")
                return 2
            scenes = [Path(s) for s in args.scenes]
        else:
            seeds = args.seed or list(DEFAULT_SEEDS)
            specs = [SceneSpec(seed=s, frames=args.frames, people=args.people, cameras=args.cameras,
                               width=args.width, height=args.height, hfov_deg=args.hfov, fps=args.fps,
                               motion=args.motion) for s in seeds]
            scenes = [ensure_scene(s, args.cache) for s in specs]
        cfg = SystemEvalConfig(model=args.model, encoder=args.encoder, settings=tuple(args.settings))
        runs = evaluate_system(scenes, cfg)
    except (ValueError, FileNotFoundError, CheckpointError, ParameterError) as e:
        print(f"eval-system: {e}")
        return 2
    sums = summaries(runs)
    print()
    print(tables(sums))
    print(f"\nmodel: {args.model or 'embedded default'}; {len(scenes)} scene(s); torch threads "
          f"{torch.get_num_threads()}; {platform.processor() or platform.machine()}")
    if args.json:
        meta = {"model": args.model or "embedded", "scenes": [str(s) for s in scenes], "settings": args.settings,
                "threads": torch.get_num_threads()}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(to_json(sums, meta), indent=1, allow_nan=False))
        print(f"wrote {args.json}")
    print(system_line(sums))
    return 0
