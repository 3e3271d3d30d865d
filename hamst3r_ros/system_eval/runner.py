"""Run the real pipeline on rendered scenes and score what a user would get.

For every scene and setting, a fresh :class:`~hamst3r_ros.pipeline.Hamst3rPipeline` is built
exactly as ``hamst3r_node`` builds it (``ros.params.validate`` of the node's defaults plus the
camera names, the model and, when posed, an ``extrinsics_file``, then
``pipeline.build_pipeline``), and fed the scene's frame sets in time order (stamps advance
1/fps per set).

Settings:
    unposed  no intrinsics, no extrinsics (the paper's setting). The output lives in the first
             camera's frame and the network's scale; before scoring, the cloud and the people
             are mapped by the robust Sim(3) from the aligned points of every view to the true
             points of the same pixels.
    posed    the exact intrinsics on every frame (as CameraInfo gives them) and the rig's poses
             as the node's ``extrinsics_file`` (what the demo gives the node).
    oracle   posed, with the network's pointmaps replaced by the true ones and its human-head
             outputs kept (:mod:`.oracle`): separates geometry from people.

Metrics: :mod:`hamst3r_ros.geometry.metrics` (cameras, unposed), :mod:`hamst3r_ros.geometry.cloud_metrics`
(every published point, ``SceneResult.points``, against the true surface within the network's
crop), :func:`hamst3r_ros.human.metrics.people_metrics` (published = TENTATIVE or TRACKED
people), stage times.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from hamst3r_ros.geometry.cloud_metrics import CloudMetrics, cloud_metrics
from hamst3r_ros.geometry.sim3 import Sim3, robust_umeyama
from hamst3r_ros.human.metrics import PeopleMetrics, people_metrics
from hamst3r_ros.system_eval.truth import fixed_view_points, true_joints, true_surface
from hamst3r_ros.types import TrackState

SETTINGS: tuple[str, ...] = ("unposed", "posed", "oracle")


@dataclass
class SystemEvalConfig:
    """What to run.

    Attributes:
        model, encoder: checkpoint files ('' = the embedded model), as the node's parameters.
        settings: any of :data:`SETTINGS`, in the order to run.
        cloud_threshold: completeness radius, metres.
        match_distance: people matching gate on the pelvis, metres.
        sim3_samples: points per view used to fit the unposed Sim(3).
    """

    model: str = ""
    encoder: str = ""
    settings: tuple[str, ...] = SETTINGS
    cloud_threshold: float = 0.05
    match_distance: float = 0.5
    sim3_samples: int = 4000


@dataclass
class RunResult:
    """One scene in one setting (per-set lists in time order).

    Attributes:
        scene, setting: what ran.
        cloud: per frame set, the published cloud against the true surface.
        people: the published people over the sequence.
        rot_err_deg, trans_err_deg: pairwise relative rotation / translation-direction
            errors of every frame set, pooled (unposed only; empty otherwise).
        s_te: per frame set, mean camera-centre error after Sim(3), in the scene's units
            (metres; unposed only).
        focal_rel_err: per frame set, mean |f - f_true| / f_true over cameras (unposed only).
        reinits: later frame sets whose alignment re-initialised (started over cold).
        stage_s: stage name -> per-set seconds (``SceneResult.timings_s``).
        wall_s, cpu_s: per-set wall and process CPU seconds of ``pipeline.process``.
    """

    scene: str
    setting: str
    cloud: list[CloudMetrics] = field(default_factory=list)
    people: PeopleMetrics = field(default_factory=PeopleMetrics)
    rot_err_deg: list[float] = field(default_factory=list)
    trans_err_deg: list[float] = field(default_factory=list)
    s_te: list[float] = field(default_factory=list)
    focal_rel_err: list[float] = field(default_factory=list)
    reinits: int = 0
    stage_s: dict[str, list[float]] = field(default_factory=dict)
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)

    @property
    def sets(self) -> int:
        return len(self.wall_s)


def node_pipeline(camera_names: Sequence[str], setting: str, cfg: SystemEvalConfig, extrinsics_file: str = ""):
    """A pipeline built as the node builds it from its validated default parameters."""
    from hamst3r_ros.pipeline import build_pipeline
    from hamst3r_ros.ros.params import validate

    overrides = {"cameras": list(camera_names), "checkpoint": cfg.model, "encoder": cfg.encoder}
    if setting != "unposed":
        overrides["extrinsics_file"] = extrinsics_file
    return build_pipeline(validate(overrides).values)


def published_joints(humans) -> dict[int, np.ndarray]:
    """Track id -> (24, 3) joints of the people a consumer is shown (TENTATIVE or TRACKED);
    the pelvis falls back to the root pose when a person is published without joints."""
    out = {}
    for h in humans:
        if h.state not in (TrackState.TENTATIVE, TrackState.TRACKED):
            continue
        j = np.array(h.joints, np.float64, copy=True)
        if not np.isfinite(j[0]).all():
            j[0] = np.asarray(h.T_fixed_root, np.float64)[:3, 3]
        out[int(h.track_id)] = j
    return out


def output_to_truth(alignment, fs, views, samples: int, seed: int) -> Sim3:
    """Robust Sim(3) mapping the unposed output frame onto the scene's fixed frame, from the
    aligned points of every view to the true points of the same network pixels."""
    truth = fixed_view_points(fs, views)
    rng = np.random.default_rng(seed)
    src, dst = [], []
    for pts, conf, true in zip(alignment.points, alignment.confidence, truth):
        ok = np.flatnonzero((np.isfinite(pts).all(-1) & np.isfinite(true).all(-1) & (conf > 0)).ravel())
        if len(ok) > samples:
            ok = rng.choice(ok, samples, replace=False)
        src.append(pts.reshape(-1, 3)[ok])
        dst.append(true.reshape(-1, 3)[ok])
    src, dst = np.concatenate(src), np.concatenate(dst)
    if len(src) < 3:
        return Sim3.identity()
    return lmeds_sim3(src, dst, rng)


def lmeds_sim3(src: np.ndarray, dst: np.ndarray, rng: np.random.Generator, hypotheses: int = 300) -> Sim3:
    """Sim(3) ``dst ~ s R src + t`` that survives a large share of gross outliers: the 3-point
    hypothesis with the least median residual (LMedS), then a robust (Cauchy IRLS) fit over the
    points within 2.5 times that median. A plain robust fit starts from the least-squares one,
    which a few far-off points (common in a young network's pointmaps) drag to a wrong minimum."""
    from hamst3r_ros.geometry.sim3 import norm3, umeyama

    best, best_med = None, np.inf
    for _ in range(hypotheses):
        idx = rng.choice(len(src), 3, replace=False)
        try:
            T = umeyama(src[idx], dst[idx])
        except (ValueError, np.linalg.LinAlgError):
            continue
        if not (np.isfinite(T.s) and T.s > 0):
            continue
        med = float(np.median(norm3(T.apply(src) - dst)))
        if med < best_med:
            best, best_med = T, med
    if best is None:
        return robust_umeyama(src, dst)[0]
    inliers = (norm3(best.apply(src) - dst) <= 2.5 * max(best_med, 1e-12)).astype(np.float64)
    return robust_umeyama(src, dst, inliers)[0]


def _apply_to_joints(T: Sim3, joints: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    return {k: T.apply(v) for k, v in joints.items()}


def run_scene(dataset, scene: str, setting: str, cfg: SystemEvalConfig, workdir: Path,
              on_set: Optional[Callable[[], None]] = None) -> RunResult:
    """One scene (a :class:`~hamst3r_ros.synthetic.dataset.SyntheticDataset`) in one setting."""
    from hamst3r_ros.geometry.metrics import centre_errors, relative_pose_errors
    from hamst3r_ros.pipeline import extrinsics_document
    from hamst3r_ros.system_eval.oracle import OracleModel

    import yaml

    if setting not in SETTINGS:
        raise ValueError(f"setting {setting!r}: expected one of {list(SETTINGS)}")
    first = dataset[0]
    names = [c.name for c in first.cameras]
    extr = workdir / "extrinsics.yaml"  # read once, when the pipeline is built
    # The cameras of these scenes are static: the rig's poses at the first frame set hold.
    extr.write_text(yaml.safe_dump(extrinsics_document({c.name: c.T_fixed_cam for c in first.cameras})))
    pipe = node_pipeline(names, setting, cfg, str(extr))
    if setting == "oracle":
        pipe.model = OracleModel(pipe.model)
    out = RunResult(scene, setting)
    gt_people, pred_people = [], []
    for k in range(len(dataset)):
        fs = dataset[k]
        frameset = fs.to_frameset(with_intrinsics=setting != "unposed", with_extrinsics=False)
        if setting == "oracle":
            pipe.model.truth = fs
        t0, c0 = time.perf_counter(), time.process_time()
        res = pipe.process(frameset)
        out.wall_s.append(time.perf_counter() - t0)
        out.cpu_s.append(time.process_time() - c0)
        for name, s in res.timings_s.items():
            out.stage_s.setdefault(name, []).append(float(s))
        if k > 0 and "re-initialised" in pipe.last_alignment.mode:
            out.reinits += 1

        views = [pipe.model.preprocess(c.image) for c in fs.cameras]
        T = Sim3.identity()
        if setting == "unposed":
            T = output_to_truth(pipe.last_alignment, fs, views, cfg.sim3_samples, seed=k)
            T_gt = np.stack([c.T_fixed_cam for c in fs.cameras])
            rot, tra = relative_pose_errors(res.T_fixed_cam, T_gt)
            out.rot_err_deg += rot.tolist()
            out.trans_err_deg += tra.tolist()
            out.s_te.append(float(centre_errors(res.T_fixed_cam, T_gt, with_scale=True).mean()))
            f_gt = np.array([c.K[0, 0] for c in fs.cameras])
            out.focal_rel_err.append(float(np.mean(np.abs(res.K[:, 0, 0] - f_gt) / f_gt)))
        out.cloud.append(cloud_metrics(T.apply(np.asarray(res.points, np.float64)), true_surface(fs, views),
                                       cfg.cloud_threshold))
        gt_people.append(true_joints(fs))
        pred_people.append(_apply_to_joints(T, published_joints(res.humans)))
        if on_set is not None:
            on_set()
    out.people = people_metrics(gt_people, pred_people, cfg.match_distance)
    return out


def evaluate_system(scenes: Sequence[str | Path], cfg: SystemEvalConfig, progress: bool = True) -> list[RunResult]:
    """Every scene folder (written datasets) in every setting of ``cfg``."""
    from hamst3r_ros.synthetic.dataset import SyntheticDataset
    from hamst3r_ros.system_eval.scenes import scene_label

    datasets = [SyntheticDataset(s) for s in scenes]
    for s, ds in zip(scenes, datasets):
        if len(ds) == 0:
            raise ValueError(f"{s}: the dataset has no frame sets")
        if len(ds.cameras) < 2:
            raise ValueError(f"{s}: {len(ds.cameras)} camera(s); the pipeline needs at least 2")
    total = sum(len(ds) for ds in datasets) * len(cfg.settings)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="eval-system", unit="set")
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="hamst3r_eval_system_") as tmp:
            for s, ds in zip(scenes, datasets):
                label = scene_label(s, ds.manifest)
                for setting in cfg.settings:
                    if bar is not None:
                        bar.set_postfix_str(f"{label}, {setting}")
                    results.append(run_scene(ds, label, setting, cfg, Path(tmp),
                                             on_set=(lambda: bar.update(1)) if bar is not None else None))
    finally:
        if bar is not None:
            bar.close()
    return results
