"""``hamst3r eval-alignment``: multi-view alignment checked against ground truth, without
the network. Ground-truth pairwise pointmaps (synthetic rendered rooms with people, or the
analytic box room) get depth noise, outliers and an unknown per-pair scale, go through
global alignment (frame 0) and incremental alignment (later frames), then the depth
refinement from matches (as the pipeline runs it), and the camera metrics, fused-point error
(before and after the refinement) and incremental-vs-cold gap are printed.

``--depth-error A`` gives every view a smooth systematic depth error (up to A in log-depth,
the same in every prediction of that view, so the pointmaps agree on it), and ``--matches``
gives the pairs descriptors whose mutual nearest neighbours are true matches, except for the
``--desc-outliers`` share of pixels whose descriptor is another pixel's: the setting in which
the refinement has something to correct."""
from __future__ import annotations

NAME = "eval-alignment"
HELP = "evaluate global/incremental alignment on ground-truth pointmaps with noise and outliers"


def add_arguments(parser) -> None:
    parser.add_argument("--cameras", type=int, default=4, help="number of cameras (synthetic scenes: up to 8)")
    parser.add_argument("--noise", type=float, default=0.01, help="relative depth noise (0.01 = 1%%)")
    parser.add_argument("--outliers", type=float, default=0.05, help="fraction of outlier points per pointmap")
    parser.add_argument("--scale-jitter", type=float, default=1.25,
                        help="each pair's pointmaps are scaled by a log-uniform factor in [1/x, x]")
    parser.add_argument("--scene", choices=("synthetic", "box"), default="synthetic",
                        help="synthetic: hamst3r_ros.synthetic room with people; box: analytic box room")
    parser.add_argument("--width", type=int, default=128, help="network-resolution width, pixels")
    parser.add_argument("--height", type=int, default=96, help="network-resolution height, pixels")
    parser.add_argument("--pairs", default="auto", help="pair strategy: auto, complete, reference, sliding_window")
    parser.add_argument("--known-intrinsics", action="store_true", help="give every camera its true K")
    parser.add_argument("--known-extrinsics", type=int, default=0, metavar="N",
                        help="give the first N cameras their true pose as a hard prior (N >= 2: metric)")
    parser.add_argument("--frames", type=int, default=3, help="frame sets in all: 1 global + incremental ones")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--depth-error", type=float, default=0.0, metavar="A",
                        help="smooth per-view log-depth error of up to A in every pointmap (0.2 = up to 22%%)")
    parser.add_argument("--matches", action="store_true",
                        help="descriptors whose mutual nearest neighbours are true matches (see --desc-outliers)")
    parser.add_argument("--desc-outliers", type=float, default=0.3,
                        help="with --matches: share of pixels whose descriptor is another pixel's (wrong matches)")
    parser.add_argument("--no-refine", action="store_true", help="skip the depth refinement from matches")


def _synthetic_views(n: int, width: int, height: int, seed: int, frames: int):
    """Ground-truth views of a synthetic scene, one BoxRoomScene-like record per frame set."""
    import numpy as np

    from hamst3r_ros.geometry.box_room import BoxRoomScene
    from hamst3r_ros.synthetic.pointmaps import points_in_fixed
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    scene = SyntheticScene(SceneConfig(seed=seed, num_cameras=n, num_people=2, width=width, height=height))
    out = []
    for fs in scene.framesets(frames, progress=True):
        cams = fs.cameras
        body = [np.where(c.body_mask[..., None], c.body_coords, np.nan).astype(np.float32) for c in cams]
        out.append(BoxRoomScene(np.stack([c.T_fixed_cam for c in cams]), np.stack([c.K for c in cams]), width, height,
                                np.stack([points_in_fixed(c) for c in cams]).astype(np.float64),
                                np.stack([c.image for c in cams]), np.stack([c.instance.astype(np.int32) for c in cams]),
                                np.stack(body)))
    return out


def run(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from hamst3r_ros.geometry.alignment import CameraPrior, global_alignment, incremental_alignment
    from hamst3r_ros.geometry.box_room import make_scene, pair_predictions, smooth_log_depth_error
    from hamst3r_ros.geometry.depth_refine import refine_depth
    from hamst3r_ros.geometry.fusion import FusionOptions, fuse
    from hamst3r_ros.geometry.metrics import camera_metrics
    from hamst3r_ros.geometry.pair_graph import make_pairs
    from hamst3r_ros.geometry.sim3 import rotation_angle_deg, umeyama

    n = args.cameras
    if n < 2:
        print(f"--cameras must be >= 2, got {n}")
        return 2
    if args.frames < 1:
        print(f"--frames must be >= 1, got {args.frames}")
        return 2
    if not 0 <= args.known_extrinsics <= n:
        print(f"--known-extrinsics must be in 0..{n}, got {args.known_extrinsics}")
        return 2
    if not 0 <= args.depth_error <= 1:
        print(f"--depth-error must be in [0, 1] (log-depth), got {args.depth_error}")
        return 2
    if not 0 <= args.desc_outliers < 1:
        print(f"--desc-outliers must be in [0, 1), got {args.desc_outliers}")
        return 2
    scene_kind = args.scene
    if scene_kind == "synthetic" and n > 8:
        print(f"synthetic scenes have at most 8 cameras; using the box room for {n}")
        scene_kind = "box"
    if scene_kind == "synthetic":
        try:
            views = _synthetic_views(n, args.width, args.height, args.seed, args.frames)
        except ImportError as exc:
            print(f"synthetic scene unavailable ({exc}); using the box room")
            scene_kind = "box"
    if scene_kind == "box":
        views = [make_scene(n, args.width, args.height, seed=args.seed)] * args.frames
    names = [f"cam{k}" for k in range(n)]
    pairs = make_pairs(n, args.pairs)
    jitter = max(args.scale_jitter, 1.0)
    priors = [CameraPrior(K=views[0].K[v] if args.known_intrinsics else None,
                          T_fixed_cam=views[0].T_world_cam[v] if v < args.known_extrinsics else None)
              for v in range(n)]
    print(f"scene: {scene_kind}, {n} cameras, {args.width}x{args.height}, {len(pairs)} ordered pairs ({args.pairs}), "
          f"noise {args.noise:.3f}, outliers {args.outliers:.3f}, per-pair scale in [1/{jitter:g}, {jitter:g}], "
          f"known K: {args.known_intrinsics}, known extrinsics: {args.known_extrinsics}, smooth depth error "
          f"{args.depth_error:g}, matches: " + (f"true, {args.desc_outliers:g} wrong" if args.matches else "none")
          + f", depth refine: {'off' if args.no_refine else 'on'}")
    depth_error = smooth_log_depth_error(n, args.width, args.height, args.depth_error, seed=args.seed + 17) \
        if args.depth_error > 0 else None
    state = None
    rows = []
    for f in tqdm(range(args.frames), desc="frame sets", disable=args.frames < 2):
        gt = views[f]
        preds = pair_predictions(gt, pairs, noise=args.noise, outliers=args.outliers,
                                 scale_range=(1.0 / jitter, jitter), seed=args.seed * 1000 + f + 1,
                                 desc_dim=32 if args.matches else 0, depth_error=depth_error,
                                 desc_outliers=args.desc_outliers if args.matches else 0.0)
        res = global_alignment(preds, names, priors) if state is None else \
            incremental_alignment(preds, names, state, priors)
        state = res.state
        m = camera_metrics(res.T_fixed_cam, gt.T_world_cam)
        refined = None if args.no_refine else refine_depth(res, res.matches)
        point_err, npts = _fused_error(res, gt, args.width, fuse, FusionOptions, umeyama)
        refine_note = ""
        if refined is not None:
            before = point_err
            point_err, npts = _fused_error(refined.result, gt, args.width, fuse, FusionOptions, umeyama)
            refine_note = f"{refined.summary}, {refined.time_s:.3f} s; fused points {before:.4f} -> {point_err:.4f}"
        gap = ""
        if f > 0 and res.mode == "incremental":
            cold = global_alignment(preds, names, priors)
            A, B = res.T_fixed_cam, cold.T_fixed_cam
            if not res.metric:  # compare in the ground truth's gauge
                A, B = [_to_gt(T, gt.T_world_cam, umeyama) for T in (A, B)]
            dr = max(float(rotation_angle_deg(a[:3, :3].T @ b[:3, :3])) for a, b in zip(A, B))
            dt = float(np.max(np.linalg.norm(A[:, :3, 3] - B[:, :3, 3], axis=1)))
            gap = f"{dr:.4f} deg / {dt * 100:.2f} cm (cold {cold.time_s:.2f} s)"
        rows.append((f, res, m, point_err, npts, gap, refine_note))
    for f, res, m, point_err, npts, gap, refine_note in rows:
        print(f"\nframe set {f}: {res.mode}, {res.iterations} sweeps, {res.time_s:.2f} s, {res.scale_note}")
        for name, value in m.rows():
            print(f"  {name:<26}{value:10.4f}")
        unit = "m" if res.metric else "m after Sim(3) to ground truth"
        print(f"  {'fused points: median err':<26}{point_err:10.4f}  ({unit}, {npts} points)")
        f_err = np.abs(res.K_net[:, 0, 0] / views[f].K[:, 0, 0] - 1).max()
        print(f"  {'focal max rel. err':<26}{f_err:10.4f}")
        if gap:
            print(f"  {'incremental vs cold':<26}{gap}")
        if refine_note:
            print(f"  {'depth refine':<26}{refine_note}")
    return 0


def _fused_error(res, gt, width, fuse, FusionOptions, umeyama) -> tuple[float, int]:
    """Median distance (output units; after the cameras' Sim(3) to the truth when not metric)
    of the fused cloud's points to the true points of their pixels, and the number of points."""
    import numpy as np

    cloud = fuse(res, list(gt.colors), list(gt.instance), list(gt.body_coords), FusionOptions(min_conf=1.0))
    r, c = cloud.pixel // width, cloud.pixel % width
    truth = gt.points[cloud.view, r, c]
    if res.metric:
        pts = cloud.points
    else:  # network scale: compare after the Sim(3) that best maps the cameras onto the truth
        G = umeyama(res.T_fixed_cam[:, :3, 3], gt.T_world_cam[:, :3, 3])
        pts = G.apply(cloud.points)
    ok = np.isfinite(truth).all(1)
    return float(np.median(np.linalg.norm(pts[ok] - truth[ok], axis=1))), len(cloud)


def _to_gt(T, T_gt, umeyama):
    G = umeyama(T[:, :3, 3], T_gt[:, :3, 3])
    out = T.copy()
    out[:, :3, :3] = G.R @ T[:, :3, :3]
    out[:, :3, 3] = G.apply(T[:, :3, 3])
    return out
