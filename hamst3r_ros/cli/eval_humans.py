"""``hamst3r eval-humans``: the human stage on a synthetic sequence, with metrics."""
from __future__ import annotations

NAME = "eval-humans"
HELP = "evaluate ids, body fits and tracking on a synthetic multi-camera sequence"
DESCRIPTION = (
    "Renders a seeded synthetic scene (Anny people, room, cameras), simulates noisy network "
    "outputs from its ground truth (instance masks with ids permuted per pair, DensePose, "
    "body masks, fused points with depth outliers), runs cross-view ids -> DensePose "
    "aggregation -> tracking -> warm-started body fits, and prints W-/GA-/PA-MPJPE (mm), "
    "id switches and fragmentations against the targets (PA < 30 mm, W < 50 mm, 0 switches)."
)


def add_arguments(parser) -> None:
    parser.add_argument("--people", type=int, default=3, help="people in the scene (default 3)")
    parser.add_argument("--frames", type=int, default=100, help="frame sets (default 100)")
    parser.add_argument("--cameras", type=int, default=4, help="cameras (default 4)")
    parser.add_argument("--width", type=int, default=192, help="image width, pixels (default 192)")
    parser.add_argument("--height", type=int, default=144, help="image height, pixels (default 144)")
    parser.add_argument("--fps", type=float, default=10.0, help="frame sets per second (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="scene and noise seed (default 0)")
    parser.add_argument("--point-noise", type=float, default=0.01, help="3D point noise, m (default 0.01)")
    parser.add_argument("--outliers", type=float, default=0.05, help="fraction of person pixels with "
                        "wrong depth (default 0.05)")
    parser.add_argument("--densepose-noise", type=float, default=0.01,
                        help="template-coordinate noise per pair (default 0.01, ~1.7 cm)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--cold-iterations", type=int, default=None, help="body-fit steps without a previous fit")
    parser.add_argument("--warm-iterations", type=int, default=None, help="body-fit steps from the previous fit")
    parser.add_argument("--warm-lr", type=float, default=None, help="Adam step of warm fits")
    parser.add_argument("--warm-solver", choices=("lm", "adam"), default=None,
                        help="warm fits with the shape held: Levenberg-Marquardt (default) or Adam")
    parser.add_argument("--warm-lm-iterations", type=int, default=None, help="LM steps of warm fits")
    parser.add_argument("--cold-solver", choices=("lm", "adam"), default=None,
                        help="cold fits: Levenberg-Marquardt on pose and shape (default) or Adam")
    parser.add_argument("--warm-lm-max-points", type=int, default=None, help="observations per person of an LM fit")
    parser.add_argument("--fit-every", type=int, default=1,
                        help="fit bodies on every n-th frame set; between fits bodies follow their points (default 1)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for the fit (default 1: fastest on a busy CPU; 0 = torch's default)")


def run(args) -> int:
    import torch

    from hamst3r_ros.human.evaluation import EvalConfig, evaluate_humans
    from hamst3r_ros.human.simulated_network import NoiseConfig

    from hamst3r_ros.cli._checks import rig_args_problem

    problem = rig_args_problem(args, ("people", "frames", "cameras", "width", "height", "fit_every"),
                               "ids are unified across image pairs")
    if problem:
        print(f"eval-humans: {problem}")
        return 2
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cfg = EvalConfig(
        people=args.people, frames=args.frames, cameras=args.cameras, width=args.width, height=args.height,
        fps=args.fps, seed=args.seed, device=device, cpu_threads=args.threads or None,
        noise=NoiseConfig(point_sigma=args.point_noise, outlier_fraction=args.outliers,
                          densepose_sigma=args.densepose_noise),
        cold_iterations=args.cold_iterations,
        warm_iterations=args.warm_iterations, warm_learning_rate=args.warm_lr, fit_every=args.fit_every,
        warm_solver=args.warm_solver, warm_lm_iterations=args.warm_lm_iterations,
        warm_lm_max_points=args.warm_lm_max_points, cold_solver=args.cold_solver,
    )
    try:
        r = evaluate_humans(cfg, progress=True)
    except ValueError as e:
        print(f"eval-humans: {e}")
        return 2
    t = r.tracking
    rows = [
        ("PA-MPJPE", f"{r.pa_mpjpe * 1000:.1f} mm", "< 30 mm", r.pa_mpjpe < 0.030),
        ("W-MPJPE", f"{r.w_mpjpe * 1000:.1f} mm", "< 50 mm", r.w_mpjpe < 0.050),
        ("GA-MPJPE", f"{r.ga_mpjpe * 1000:.1f} mm", "", None),
        ("id switches", str(t.id_switches), "0", t.id_switches == 0),
        ("fragmentations", str(t.fragmentations), "", None),
        ("velocity error", f"{r.velocity_error:.2f} m/s", "", None),
        ("tracks", f"{r.num_tracks} for {args.people} people", "", None),
        ("matched / missed / false pos.", f"{t.matched} / {t.missed} / {t.false_positives}", "", None),
        ("fit time, cold (first fit)", f"{r.fit_time_cold_s * 1000:.0f} ms", "", None),
        ("fit time, warm (per set)", f"{r.fit_time_warm_s * 1000:.0f} ms", "", None),
        ("fit time, mean over all sets", f"{r.fit_time_mean_s * 1000:.0f} ms", "", None),
    ]
    print(f"\neval-humans: {args.people} people, {r.frames} frame sets, {args.cameras} cameras "
          f"{args.width}x{args.height}, body model anny, device {device}")
    print(f"{'metric':<30} {'value':>18} {'target':>9}  ok")
    for name, value, target, ok in rows:
        print(f"{name:<30} {value:>18} {target:>9}  {'' if ok is None else ('yes' if ok else 'NO')}")
    return 0 if all(ok for *_, ok in rows if ok is not None) else 1
