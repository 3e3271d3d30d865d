"""FrameSet -> SceneResult: the HAMSt3R pipeline the node runs on every synchronised frame set.

Stages (timed in ``SceneResult.timings_s``):

0. ``undistort`` (only when a camera has lens distortion): its image is undistorted to an ideal
   pinhole (hamst3r_ros.geometry.distortion; one map per camera, size and coefficients, cached),
   and every later stage, the intrinsics prior and ``SceneResult.K`` included, uses the
   undistorted image and its K.
1. ``preprocess``: each image resized/cropped to the network's input rule (the model's).
2. ``encode``: every image through the encoder once.
3. ``decode``: the chosen ordered pairs (complete graph up to 8 cameras) in one batch.
4. ``align``: global alignment on the first frame set, incremental (warm-started, with its
   own drift / rig-change checks) afterwards; CameraInfo intrinsics and known extrinsics are
   priors, and any extrinsic prior makes the output metric.
4b. ``depth_refine`` (when ``refine_depth`` is on): the descriptor head's matches, triangulated
   with the solved cameras, correct each view's depth by a smooth field
   (hamst3r_ros.geometry.depth_refine); views whose matches do not beat chance (an untrained
   descriptor head) or already agree with their depth are left as they are.
5. ``humans``: cross-view person ids, DensePose aggregation, tracking, body fit (only when
   the model has human heads and fitting is enabled).
6. ``fuse``: one bounded cloud with colour, confidence, track id and template coordinates.

Owns the model, the device, the warm-start state of the alignment and the people tracker.
Nothing here imports ROS.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch

from hamst3r_ros.geometry.distortion import Undistorter
from hamst3r_ros.geometry.alignment import (
    AlignmentOptions, AlignmentState, CameraPrior, alignment_grid, incremental_alignment,
)
from hamst3r_ros.geometry.depth_refine import DepthRefineOptions, refine_depth
from hamst3r_ros.geometry.fusion import FusionOptions, fuse
from hamst3r_ros.human.densepose import aggregate_densepose, body_coord_maps
from hamst3r_ros.geometry.pair_graph import make_pairs
from hamst3r_ros.types import FrameSet, SceneResult


@dataclass
class PipelineConfig:
    """What the pipeline needs beyond the images.

    Attributes:
        checkpoint: model file ('' = the embedded default model).
        encoder: DUNE encoder file when ``checkpoint`` is a DUNE-MASt3R decoder file.
        device: 'auto', 'cpu', 'cuda' or 'cuda:<index>'.
        precision: 'auto' (bf16 autocast where the device makes it fast: CUDA with bf16, CPUs
            with AMX / AVX512-BF16; fp32 elsewhere, see model.precision), 'fp32' or 'bf16'.
        pair_strategy: see hamst3r_ros.geometry.pair_graph.make_pairs; 'auto' and
            'confidence' choose a large rig's pairs by how well each agreed with the previous
            frame sets' solutions (the first set uses a sliding window).
        fit_bodies: fit a body model per person (needs a model with human heads).
        body_model: 'anny' (default, free) or 'smpl' (needs ``smpl_model``).
        smpl_model: path of the licensed SMPL model file (.npz) when body_model is 'smpl'.
        body_fit_every: fit bodies on every n-th frame set (see PeopleConfig.fit_every).
        extrinsics: camera name -> (4, 4) known pose of its optical frame in the fixed frame.
        extrinsics_fixed: hold known extrinsics exactly (True) or as soft priors.
        min_confidence, voxel_size, max_points, min_views, agree_rel_tol: the fused cloud's
            one filter (see FusionOptions; max_points 0 = no limit).
        refine_depth: correct each view's depth from triangulated descriptor matches after the
            alignment (see hamst3r_ros.geometry.depth_refine).
        refine_depth_min_matches: inlier matches a view needs before its depth is corrected.
    """

    checkpoint: str = ""
    encoder: str = ""
    device: str = "auto"
    precision: str = "auto"
    pair_strategy: str = "auto"
    fit_bodies: bool = True
    body_model: str = "anny"
    smpl_model: str = ""
    body_fit_every: int = 1
    extrinsics: dict[str, np.ndarray] = field(default_factory=dict)
    extrinsics_fixed: bool = True
    min_confidence: float = 1.5
    voxel_size: float = 0.0
    max_points: int = 0
    min_views: int = 0
    agree_rel_tol: float = 0.05
    refine_depth: bool = True
    refine_depth_min_matches: int = 30


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available in this torch build / machine; use 'cpu' or 'auto'")
    return dev


def _build_people(cfg: PipelineConfig, device: torch.device, model_body: Optional[str],
                  fit_pose_prior: Optional[float] = None):
    """The people stage for a model whose DensePose lives on ``model_body``'s template;
    ``fit_pose_prior``: the pose-prior weight its heads call for (``HumanHeadsConfig``), None
    for the fit's default."""
    from hamst3r_ros.body.fit_interface import AnnyFitBody, SmplFitBody
    from hamst3r_ros.human.body_fit import BodyFitter, FitConfig
    from hamst3r_ros.human.people import PeopleConfig, PeopleEstimator

    if model_body and model_body != cfg.body_model:
        # DensePose coordinates live on the template the heads were trained with: fitting
        # another body model to them would pair points with the wrong vertices.
        raise ValueError(f"body_model {cfg.body_model!r}: the checkpoint's DensePose head was trained on the "
                         f"{model_body!r} template; set body_model to {model_body!r}")
    if cfg.body_model == "anny":
        body = AnnyFitBody(device=device)
    elif cfg.body_model == "smpl":
        if not cfg.smpl_model or not Path(cfg.smpl_model).is_file():
            raise ValueError(f"body_model 'smpl' needs smpl_model: the licensed SMPL model file (.npz), "
                             f"got {cfg.smpl_model!r}")
        body = SmplFitBody(cfg.smpl_model, device=device)
    else:
        raise ValueError(f"body_model {cfg.body_model!r}: expected 'anny' or 'smpl'")
    if cfg.body_fit_every < 1:
        raise ValueError(f"body_fit_every {cfg.body_fit_every!r}: expected an integer >= 1")
    # A model whose DensePose calls for a stronger pose prior than the fit's default gets it
    # on the published pose only (FitConfig.publish_pose_weight): tracking and the body
    # plausibility rules stay on the data-led fit.
    default = FitConfig().pose_weight
    fit = FitConfig(publish_pose_weight=float(fit_pose_prior)
                    if fit_pose_prior is not None and fit_pose_prior > default else None)
    return PeopleEstimator(BodyFitter(body, fit), config=PeopleConfig(fit_every=cfg.body_fit_every))


class Hamst3rPipeline:
    """The pipeline with its state (model, alignment warm start, people tracks).

    Args:
        model: a :class:`hamst3r_ros.model.hamst3r.Hamst3rModel`.
        config: see :class:`PipelineConfig`.
        people: a PeopleEstimator, or None to skip the human stages.
    """

    def __init__(self, model, config: PipelineConfig, people=None):
        self.model = model
        self.config = config
        self.people = people
        self.align_options = AlignmentOptions()
        self.fusion_options = _fusion_options(config)
        self.state: Optional[AlignmentState] = None
        self.last_alignment = None
        # (camera a, camera b) -> how well that decoded pair agreed with the solutions so far:
        # chooses the pairs of large rigs (pair_strategy 'confidence', or 'auto' beyond 8 cameras)
        self._pair_scores: dict[tuple[str, str], float] = {}
        self.undistorter = Undistorter()

    @classmethod
    def from_config(cls, config: PipelineConfig) -> "Hamst3rPipeline":
        from hamst3r_ros.model.hamst3r import Hamst3rModel
        from hamst3r_ros.model.embedded import embedded_checkpoint

        from hamst3r_ros.model.precision import resolve_precision

        device = resolve_device(config.device)
        precision = resolve_precision(config.precision, device)
        path = config.checkpoint or str(embedded_checkpoint())
        model = Hamst3rModel.from_checkpoint(path, config.encoder or None, device=device,
                                             autocast_bf16=precision == "bf16")
        people = None
        if config.fit_bodies and model.has_human_heads:
            people = _build_people(config, device, model.body_model, model.cfg.human.fit_pose_prior)
        return cls(model, config, people)

    def _scores_for(self, names: list[str]) -> Optional[np.ndarray]:
        """(N, N) pair scores of the previous frame sets for these cameras (by name), for the
        ``confidence`` pair strategy; pairs never decoded get the median known score, so they
        can still be chosen. None before any alignment (the strategies then fall back)."""
        if not self._pair_scores:
            return None
        fill = float(np.median(list(self._pair_scores.values())))
        return np.array([[self._pair_scores.get((a, b), fill) if a != b else -np.inf for b in names] for a in names])

    def _remember_pair_scores(self, names: list[str], score: np.ndarray) -> None:
        """Keep each decoded pair's agreement with the solution (AlignmentResult.pair_score),
        a running mean over frame sets, keyed by camera names."""
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                v = float(score[i, j])
                if i != j and np.isfinite(v):
                    old = self._pair_scores.get((a, b))
                    self._pair_scores[(a, b)] = v if old is None else 0.7 * old + 0.3 * v

    def update_params(self, params: Mapping[str, Any]) -> None:
        """Apply the node's live parameters (node parameter names, validated: params.py's LIVE_PIPELINE
        ones) from the next frame set on. Called by the node between frame sets, on the thread
        that runs :meth:`process`; names it does not know are ignored."""
        fields = {cfg_name: cast(params[name]) for name, (cfg_name, cast) in _LIVE_FIELDS.items() if name in params}
        if not fields:
            return
        self.config = dataclasses.replace(self.config, **fields)
        self.fusion_options = _fusion_options(self.config)
        if self.people is not None and "body_fit_every" in fields:
            self.people.config = dataclasses.replace(self.people.config, fit_every=self.config.body_fit_every)

    def reset(self) -> None:
        """Forget the rig and the people (next frame set aligns from scratch)."""
        self.state = None
        self._pair_scores = {}
        if self.people is not None:
            old = self.people
            self.people = type(old)(old.fitter, type(old.tracker)(old.tracker.config), old.config)

    def process(self, frameset: FrameSet) -> SceneResult:
        """Run all stages on one synchronised frame set (at least 2 cameras)."""
        frames = frameset.frames
        if len(frames) < 2:
            raise ValueError(f"a frame set needs at least 2 cameras, got {len(frames)}")
        t: dict[str, float] = {}
        if any(f.distortion is not None for f in frames):
            t0 = time.perf_counter()
            frames = [self.undistorter.frame(f) for f in frames]
            t["undistort"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        pre = [self.model.preprocess(f.image) for f in frames]
        t["preprocess"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        feats = self.model.encode([p.tensor for p in pre])
        t["encode"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        pairs = make_pairs(len(frames), self.config.pair_strategy, scores=self._scores_for(frameset.names))
        # descriptors only where the alignment reads them (see descriptor_pixels); a stand-in
        # model whose preprocessing reports no network size gets the plain call
        sizes = [getattr(p, "hw", None) for p in pre]
        if all(hw is not None for hw in sizes):
            desc_at = descriptor_pixels(pairs, sizes, self.align_options.n_subsample)
            preds = self.model.decode_pairs(feats, pairs, desc_at=desc_at)
        else:
            preds = self.model.decode_pairs(feats, pairs)
        t["decode"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        names = frameset.names
        priors = []
        for f in frames:
            h, w = f.image.shape[:2]
            T = frameset.T_fixed_cam.get(f.name, self.config.extrinsics.get(f.name))
            priors.append(CameraPrior(K=f.K, image_size=(w, h), T_fixed_cam=T, fixed=self.config.extrinsics_fixed))
        res = incremental_alignment(preds, names, self.state, priors, self.align_options)
        self.state = res.state
        self._remember_pair_scores(names, res.pair_score)
        t["align"] = time.perf_counter() - t0

        depth_refine = ""
        if self.config.refine_depth:
            t0 = time.perf_counter()
            refined = refine_depth(res, res.matches, DepthRefineOptions(min_matches=self.config.refine_depth_min_matches))
            res, depth_refine = refined.result, refined.summary
            t["depth_refine"] = time.perf_counter() - t0
        self.last_alignment = res

        instance_maps = None
        densepose = None
        humans = []
        rejected: dict[str, int] = {}
        moved: dict[int, np.ndarray] = {}  # view -> points with people moved onto their rays' crossing
        if self.people is not None:
            t0 = time.perf_counter()
            posed = any(p.T_fixed_cam is not None for p in priors)
            up = _up_direction(res, posed)
            # known cameras: people are placed where their rays cross (human.ray_triangulation)
            centres = {v: np.asarray(res.T_fixed_cam[v])[:3, 3] for v in range(len(frames))} if posed else None
            out = self.people.update(
                preds, points={v: res.points[v] for v in range(len(frames))}, stamp_ns=frameset.stamp_ns,
                confidence={v: res.confidence[v] for v in range(len(frames))},
                images={v: pre[v].image_u8 for v in range(len(frames))}, up=up, camera_centres=centres,
                depth_error={v: float(res.residual[v]) for v in range(len(frames))})
            humans = out.humans
            rejected = out.rejected
            instance_maps = [out.labels.get(v) for v in range(len(frames))]
            densepose = out.densepose
            moved = out.moved_points
            t["humans"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        body_maps = None
        if self.model.has_human_heads:
            body_maps = body_coord_maps(densepose if densepose is not None else aggregate_densepose(preds), len(frames))
        shown = res if not moved else with_points(res, moved)
        cloud = fuse(shown, [p.image_u8 for p in pre], instance_maps, body_maps, self.fusion_options)
        t["fuse"] = time.perf_counter() - t0
        return SceneResult(
            stamp_ns=frameset.stamp_ns, camera_names=names, T_fixed_cam=res.T_fixed_cam, K=res.K,
            metric=res.metric, points=cloud.points, colors=cloud.colors, confidence=cloud.confidence,
            instance=cloud.instance, body_coords=cloud.body_coords, humans=humans, timings_s=t,
            rejected_people=rejected, views_agree=cloud.views_agree, rig_state=res.rig_state,
            depth_refine=depth_refine)


def with_points(alignment, points: Mapping[int, np.ndarray]):
    """A copy of an AlignmentResult whose views ``points`` (view -> (H, W, 3), fixed frame) are
    replaced, their z-depth recomputed from the view's pose (the people stage moves segments
    along their rays; the cloud and its view agreement should see them there)."""
    new_points, new_depth = list(alignment.points), list(alignment.depth)
    for v, p in points.items():
        T = np.asarray(alignment.T_fixed_cam[v], np.float64)
        new_points[v] = np.asarray(p, np.float32)
        z = ((np.asarray(p, np.float64) - T[:3, 3]) @ T[:3, 2]).astype(np.float32)
        new_depth[v] = np.where(np.isfinite(z), z, alignment.depth[v])
    return dataclasses.replace(alignment, points=new_points, depth=new_depth)


def descriptor_pixels(pairs: list[tuple[int, int]], sizes: list[tuple[int, int]],
                      n_subsample: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Which descriptors the alignment reads, as ``Hamst3rModel.decode_pairs``'s ``desc_at``:
    both views of the first pair of each unordered pair, at the alignment's grid pixels (``geometry.alignment.alignment_grid``)
    (``sizes``: (H, W) network input of each view). Why: MASt3R's descriptor head computes 25
    channels at every pixel of both views of every ordered pair; the alignment matches ~2k grid
    pixels once per unordered pair."""
    grids = {}
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    seen = set()
    for e, (i, j) in enumerate(pairs):
        key = (min(i, j), max(i, j))
        if key in seen:
            continue
        seen.add(key)
        for v in (i, j):
            if v not in grids:
                grids[v] = alignment_grid(tuple(sizes[v]), n_subsample)
        out[e] = (grids[i], grids[j])
    return out


#: Live node parameters -> (PipelineConfig field, type).
_LIVE_FIELDS = {"min_confidence": ("min_confidence", float), "voxel_size": ("voxel_size", float),
                "max_points": ("max_points", int), "min_views_agree": ("min_views", int),
                "view_agreement_tolerance": ("agree_rel_tol", float), "body_fit_every": ("body_fit_every", int),
                "refine_depth": ("refine_depth", bool), "refine_depth_min_matches": ("refine_depth_min_matches", int)}


def _fusion_options(config: PipelineConfig) -> FusionOptions:
    return FusionOptions(min_conf=config.min_confidence, voxel_size=config.voxel_size, max_points=config.max_points,
                         min_views=config.min_views, agree_rel_tol=config.agree_rel_tol)


def _up_direction(alignment, has_extrinsics: bool) -> np.ndarray:
    """Up in the output frame: z when extrinsics define the frame (REP-103 world frames are
    z up); else, in the anchor camera's frame, that camera's "up" (its optical y axis points
    down; a camera's roll is usually small)."""
    if has_extrinsics:
        return np.array([0.0, 0.0, 1.0])
    names = list(alignment.camera_names)
    a = names.index(alignment.state.anchor) if alignment.state.anchor in names else 0
    return -np.asarray(alignment.T_fixed_cam[a])[:3, 1]


def _load_extrinsics(path: str) -> dict[str, np.ndarray]:
    """YAML ``{camera_name: {translation: [x, y, z], rotation: [qx, qy, qz, qw]}}`` (metres;
    pose of the camera's optical frame in the fixed frame) -> name -> (4, 4)."""
    import yaml
    from scipy.spatial.transform import Rotation

    raw = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping camera_name -> {{translation, rotation}}")
    out = {}
    for name, v in raw.items():
        try:
            tr = np.asarray(v["translation"], float).reshape(3)
            q = np.asarray(v["rotation"], float).reshape(4)
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: camera {name!r}: expected translation [x, y, z] and rotation "
                             f"[qx, qy, qz, qw], found {v!r}") from None
        T = np.eye(4)
        T[:3, :3] = Rotation.from_quat(q).as_matrix()
        T[:3, 3] = tr
        out[str(name)] = T
    return out


def extrinsics_document(poses: Mapping[str, np.ndarray]) -> dict:
    """Camera name -> (4, 4) optical-frame pose in the fixed frame, as the YAML mapping that
    ``extrinsics_file`` holds (the inverse of :func:`_load_extrinsics`)."""
    from scipy.spatial.transform import Rotation

    return {str(name): {"translation": [float(v) for v in np.asarray(T)[:3, 3]],
                        "rotation": [float(v) for v in Rotation.from_matrix(np.asarray(T)[:3, :3]).as_quat()]}
            for name, T in poses.items()}


def build_pipeline(params: Mapping[str, Any]) -> Hamst3rPipeline:
    """The node's factory: a pipeline from the node's validated parameters (a dict)."""
    extr = params.get("extrinsics_file", "") or ""
    cfg = PipelineConfig(
        checkpoint=params.get("checkpoint", "") or "",
        encoder=params.get("encoder", "") or "",
        device=params.get("device", "auto"),
        precision=params.get("precision", "auto"),
        pair_strategy=params.get("pair_strategy", "auto"),
        fit_bodies=bool(params.get("fit_bodies", True)),
        body_model=params.get("body_model", "anny"),
        smpl_model=params.get("smpl_model", "") or "",
        body_fit_every=int(params.get("body_fit_every", 1)),
        extrinsics=_load_extrinsics(extr) if extr else {},
        extrinsics_fixed=bool(params.get("extrinsics_fixed", True)),
        min_confidence=float(params.get("min_confidence", 1.5)),
        voxel_size=float(params.get("voxel_size", 0.0)),
        max_points=int(params.get("max_points", 0)),
        min_views=int(params.get("min_views_agree", 0)),
        agree_rel_tol=float(params.get("view_agreement_tolerance", 0.05)),
        refine_depth=bool(params.get("refine_depth", True)),
        refine_depth_min_matches=int(params.get("refine_depth_min_matches", 30)),
    )
    return Hamst3rPipeline.from_config(cfg)
