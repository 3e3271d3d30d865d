"""Evaluate the human stage on synthetic sequences (``hamst3r eval-humans``).

A seeded ``hamst3r_ros.synthetic`` scene is rendered frame set by frame set; simulated,
noisy network outputs (``simulated_network``) go through ``PeopleEstimator``; fitted
joints are compared with the ground truth (W-/GA-/PA-MPJPE, ``metrics``) and identities
over the sequence (id switches, fragmentations).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from hamst3r_ros.human.metrics import TrackingMetrics, ga_mpjpe, match_people, pa_mpjpe, tracking_metrics, w_mpjpe
from hamst3r_ros.human.simulated_network import NoiseConfig, simulate_outputs
from hamst3r_ros.types import TrackState


@dataclass
class EvalConfig:
    """What to evaluate.

    Attributes:
        people, frames, cameras: sequence size.
        width, height: rendered image size (the network resolution the human stage sees).
        fps: frame sets per second.
        seed: scene and noise seed.
        noise: simulated output noise.
        device: torch device of the fit ("cpu", "cuda").
        cpu_threads: torch threads for the fit on CPU.
        body_model: must be "anny" (the synthetic DensePose targets are Anny's template).
        match_distance: ground truth <-> estimate gate, metres (mean joint distance).
        cold_iterations, warm_iterations, warm_learning_rate: body-fit overrides (None:
            ``FitConfig``'s defaults).
        fit_every: fit bodies on every n-th frame set (``PeopleConfig.fit_every``).
        warm_solver, warm_lm_iterations, warm_lm_max_points, cold_solver: ``FitConfig``
            overrides (None: defaults).
    """

    people: int = 3
    frames: int = 100
    cameras: int = 4
    width: int = 192
    height: int = 144
    fps: float = 10.0
    seed: int = 0
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    device: str = "cpu"
    cpu_threads: Optional[int] = 1
    body_model: str = "anny"
    match_distance: float = 0.5
    cold_iterations: Optional[int] = None
    warm_iterations: Optional[int] = None
    warm_learning_rate: Optional[float] = None
    fit_every: int = 1
    warm_solver: Optional[str] = None
    warm_lm_iterations: Optional[int] = None
    warm_lm_max_points: Optional[int] = None
    cold_solver: Optional[str] = None


@dataclass
class EvalReport:
    """Sequence metrics (metres, counts, seconds).

    Attributes:
        w_mpjpe, ga_mpjpe, pa_mpjpe: means over matched (frame, person) estimates.
        tracking: id switches, fragmentations, matched / missed / false positives.
        velocity_error: mean |v_est - v_gt| of matched people, m/s (from the 3rd frame set on:
            velocity needs two observations and one more to smooth).
        num_tracks: distinct track ids published.
        fit_time_s: body-fit time per frame set; cold: the first set with a cold fit (people
            are fitted from the second set they are seen in); warm: mean over sets whose
            fits were all warm; mean: over all sets (what throughput sees).
        frames: frame sets evaluated.
    """

    w_mpjpe: float
    ga_mpjpe: float
    pa_mpjpe: float
    tracking: TrackingMetrics
    velocity_error: float
    num_tracks: int
    fit_time_cold_s: float
    fit_time_warm_s: float
    fit_time_mean_s: float
    frames: int


def evaluate_humans(cfg: EvalConfig, progress: bool = True) -> EvalReport:
    """Run the sequence and compute the metrics (see the module docstring)."""
    from hamst3r_ros.human.body_fit import BodyFitter, FitConfig
    from hamst3r_ros.human.people import PeopleConfig, PeopleEstimator
    from hamst3r_ros.human.tracking import PersonTracker, TrackerConfig
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    if cfg.body_model != "anny":
        # The renderer's DensePose targets are Anny-template coordinates; another model's
        # template would read them as its own and the comparison would be meaningless.
        raise ValueError(f"body model {cfg.body_model!r} cannot be evaluated on the synthetic scenes: their "
                         f"DensePose coordinates are Anny-template coordinates; use 'anny'")
    from hamst3r_ros.body.fit_interface import AnnyFitBody

    body = AnnyFitBody(device=cfg.device)
    scene = SyntheticScene(SceneConfig(seed=cfg.seed, num_cameras=cfg.cameras, num_people=cfg.people,
                                       width=cfg.width, height=cfg.height, fps=cfg.fps))
    tracker = PersonTracker(TrackerConfig(confirm_hits=2))
    overrides = {k: getattr(cfg, k) for k in ("cold_iterations", "warm_iterations", "warm_learning_rate", "warm_solver",
                                            "warm_lm_iterations", "warm_lm_max_points", "cold_solver")
                 if getattr(cfg, k) is not None}
    est = PeopleEstimator(BodyFitter(body, FitConfig(cpu_threads=cfg.cpu_threads, **overrides)), tracker,
                          PeopleConfig(fit_every=cfg.fit_every))
    rng = np.random.default_rng([cfg.seed, 0x4E01])
    w, ga, pa = [], [], []
    gt_frames, pred_frames = [], []
    fit_times = []
    vel_err = []
    track_ids = set()
    for fs in scene.framesets(cfg.frames, progress=progress):
        pairs, points, conf, images = simulate_outputs(fs, rng, cfg.noise)
        res = est.update(pairs, points, fs.stamp_ns, conf, images)
        kinds = {f.warm for f in res.fits.values()}
        fit_times.append((res.timings_s["body_fit"], kinds))
        gt = {p.person_id: p.joints for p in fs.people if p.visible_pixels.sum() > 0}
        # What is published for the people seen now (refitted, or moved with their points
        # between fits); LOST / REMOVED tracks repeat an old body and are not scored.
        pred = {h.track_id: h.joints for h in res.humans if h.state in (TrackState.TENTATIVE, TrackState.TRACKED)}
        vel = {h.track_id: h.velocity for h in res.humans}
        gt_vel = {p.person_id: p.velocity for p in fs.people}
        track_ids.update(pred)
        m = match_people(gt, pred, cfg.match_distance)
        gt_frames.append(gt)
        pred_frames.append(pred)
        if len(fit_times) >= 3:
            vel_err += [float(np.linalg.norm(vel[m[g]] - gt_vel[g])) for g in m]
        if m:
            P = np.stack([pred[m[g]] for g in m])
            G = np.stack([gt[g] for g in m])
            w.append(w_mpjpe(P, G) * len(m))
            pa.append(pa_mpjpe(P, G) * len(m))
            ga.append(ga_mpjpe(P, G) * len(m) if len(m) > 1 else pa[-1])
    n = sum(len(match_people(g, p, cfg.match_distance)) for g, p in zip(gt_frames, pred_frames))
    nan = float("nan")
    return EvalReport(
        w_mpjpe=sum(w) / n if n else nan, ga_mpjpe=sum(ga) / n if n else nan, pa_mpjpe=sum(pa) / n if n else nan,
        tracking=tracking_metrics(gt_frames, pred_frames, cfg.match_distance),
        velocity_error=float(np.mean(vel_err)) if vel_err else nan, num_tracks=len(track_ids),
        fit_time_cold_s=next((t for t, k in fit_times if False in k), nan),
        fit_time_warm_s=float(np.mean(warm)) if (warm := [t for t, k in fit_times if k == {True}]) else nan,
        fit_time_mean_s=float(np.mean([t for t, _ in fit_times])),
        frames=len(fit_times),
    )
