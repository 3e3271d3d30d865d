"""``hamst3r synth``: write a synthetic multi-camera human dataset (+ preview mosaics).

Example::

    hamst3r synth --seed 0 --cameras 4 --people 3 --frames 10 --out data/synth0 --preview synth0.png

writes ``data/synth0/manifest.json``, ``frames/*.npz`` and ``images/*.png`` (layout in
``hamst3r_ros/synthetic/dataset.py``) and one mosaic per frame set (``synth0.png`` for a
single frame set, else ``synth0_<index>.png``).
"""
from __future__ import annotations

NAME = "synth"
HELP = "write a seeded synthetic multi-camera human dataset with full ground truth"


def add_arguments(parser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="scene seed (same seed = identical output)")
    parser.add_argument("--cameras", type=int, default=4, help="number of cameras, 1-8 (default 4)")
    parser.add_argument("--people", type=int, default=3, help="number of people, 0-8 (default 3)")
    parser.add_argument("--frames", type=int, default=5, help="number of frame sets (default 5)")
    parser.add_argument("--start", type=int, default=0, help="first frame-set index (default 0)")
    parser.add_argument("--out", required=True, help="output dataset directory")
    parser.add_argument("--preview", default=None, help="PNG path for the mosaic(s) of each frame set")
    parser.add_argument("--width", type=int, default=512, help="image width, pixels (default 512)")
    parser.add_argument("--height", type=int, default=384, help="image height, pixels (default 384)")
    parser.add_argument("--hfov", type=float, default=70.0, help="horizontal field of view, degrees (default 70)")
    parser.add_argument("--placement", choices=["wall", "robot"], default="wall",
                        help="wall-mounted cameras or a robot-mounted rig (default wall)")
    parser.add_argument("--rig-speed", type=float, default=0.0, help="robot rig speed, m/s (default 0: static)")
    parser.add_argument("--fps", type=float, default=10.0, help="frame-set rate, Hz (default 10)")
    parser.add_argument("--noise", type=float, default=0.0, help="image noise sigma, 8-bit levels (default 0)")
    parser.add_argument("--blur", type=float, default=0.0, help="Gaussian blur sigma, pixels (default 0)")
    parser.add_argument("--exposure", type=float, default=0.0, help="exposure jitter, relative (default 0)")
    parser.add_argument("--motions", default=None,
                        help="comma-separated motion per person (walk, pace, stand, sit); default: seeded mix")


def run(args) -> int:
    import os
    import time
    from pathlib import Path

    if not os.environ.get("ANNY_CACHE_DIR"):
        print("note: ANNY_CACHE_DIR is not set; Anny caches its blend shapes in ~/.cache/anny "
              "(the first build takes about a minute)")
    from hamst3r_ros.synthetic.dataset import write_dataset
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    if args.frames < 1:
        print(f"error: --frames must be >= 1, got {args.frames}")
        return 2
    cfg = SceneConfig(
        seed=args.seed, num_cameras=args.cameras, num_people=args.people, width=args.width, height=args.height,
        hfov_deg=args.hfov, placement=args.placement, rig_speed=args.rig_speed, fps=args.fps,
        noise_sigma=args.noise, blur_sigma=args.blur, exposure_jitter=args.exposure,
        motions=args.motions.split(",") if args.motions else None,
    )
    try:
        cfg.validate()
    except ValueError as e:
        print(f"error: {e}")
        return 2
    t0 = time.perf_counter()
    scene = SyntheticScene(cfg)
    t1 = time.perf_counter()
    framesets = scene.framesets(args.frames, start=args.start, progress=True)
    manifest = write_dataset(args.out, scene, framesets, preview=args.preview, progress=False)
    t2 = time.perf_counter()
    print(f"scene: room {scene.room.size[0]:.1f} x {scene.room.size[1]:.1f} m, "
          f"people: {', '.join(f'{p.person_id}:{p.motion}' for p in scene.people) or 'none'}")
    print(f"wrote {args.frames} frame sets to {manifest.parent} (manifest {manifest}); "
          f"setup {t1 - t0:.1f} s, render+write {t2 - t1:.1f} s")
    if args.preview:
        p = Path(args.preview)
        first = p if args.frames == 1 else p.with_name(f"{p.stem}_{args.start:06d}{p.suffix}")
        print(f"preview: {first}" + (f" (+{args.frames - 1} more)" if args.frames > 1 else ""))
    return 0
