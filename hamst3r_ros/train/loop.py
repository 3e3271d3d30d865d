"""The training loop: config, loss assembly, validation, resumable checkpoints.

Regime (paper section 3.3-3.4): the encoder is frozen by default (``train_encoder`` trains
everything); decoders and all heads train. Batches mix human-centric samples (all heads
supervised) and geometry-only samples (pointmap + matching only) at ``human_ratio``.
Checkpoints are our format (safetensors + JSON config, see hamst3r_ros.model.checkpoints),
plus a ``<stem>.state.pt`` optimizer state (tensors only, loaded with weights_only=True)
so that ``hamst3r train`` resumes where it stopped.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

import torch

from hamst3r_ros.model.outputs import PairHeadOutputs
from hamst3r_ros.train import losses as L
from hamst3r_ros.train.data import PairBatch, PairSampler
from hamst3r_ros.train.metrics import PairMetrics, evaluate_batch, mean_metrics


#: Parameter-name prefixes of the encoders (CroCo/MASt3R ViT, DUNE), frozen by default.
#: DUNE-MASt3R nests the MASt3R model under ``mast3r.``; its CroCo encoder stub is unused.
ENCODER_PREFIXES = ("patch_embed", "enc_blocks", "enc_norm", "dune_backbone",
                    "mast3r.patch_embed", "mast3r.enc_blocks", "mast3r.enc_norm")


@dataclass
class TrainConfig:
    """Everything ``hamst3r train CONFIG.yaml`` reads (unknown keys are an error).

    Paths are relative to the config file's folder.
    """

    out: str = "runs/train"
    network: Any = "hamst3r_small"            # named config, or a dict (see model.build_model)
    init: Optional[str] = None                # checkpoint to start from (ours or official)
    init_encoder: Optional[str] = None        # DUNE encoder file when ``init`` is DUNE-MASt3R
    # Datasets: [{path: DIR, human: true, synth: {seed: .., num_cameras: .., ...}}, ...]. With a
    # ``synth`` entry (SceneConfig fields + ``frames``) a missing dataset is generated first.
    train_sets: list = field(default_factory=list)
    val_sets: list = field(default_factory=list)     # held-out scenes (seeds disjoint from training)
    crop_sizes: list = field(default_factory=lambda: [[224, 160]])
    steps: int = 2000
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup: int = 100
    human_ratio: float = 0.5
    max_frame_gap: int = 2
    max_matches: int = 1024                   # correspondences per pair for InfoNCE
    colour_jitter: float = 0.2
    hue_jitter: float = 0.0                   # one hue rotation per pair, +- turns (see PairSampler)
    train_encoder: bool = False
    lambda_seg: float = 1.0                   # λ1
    lambda_dp: float = 4.0                    # λ2 (template coords in [0, 1]: small L2 values)
    lambda_mask: float = 1.0                  # λ3
    body_mask_dice: float = 0.0               # dice weight added to L_mask (0 = the paper's BCE only)
    lambda_match: float = 1.0                 # weight of InfoNCE inside L_MASt3R
    conf_alpha: float = 0.2
    val_every: int = 250
    val_batches: int = 8
    ckpt_every: int = 250
    seed: int = 0
    threads: int = 0                          # torch CPU threads (0 = torch default)
    device: str = "auto"
    # 'auto': bf16 autocast where the hardware makes it fast (CUDA with bf16, CPUs with AMX /
    # AVX512-BF16; see model.precision), else fp32. Master weights and AdamW state stay float32.
    precision: str = "auto"
    # Process CPU seconds this recipe may spend training (summed over resumes; 0 = no limit):
    # stops early and anneals the learning rate over the budget instead of over `steps`, so that
    # candidates of a design study get the same compute whatever else the machine is doing.
    cpu_budget_s: float = 0.0

    @staticmethod
    def from_dict(d: dict, base_dir: Path = Path(".")) -> "TrainConfig":
        known = {f.name for f in fields(TrainConfig)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"training config: unknown keys {unknown}; expected some of {sorted(known)}")
        cfg = TrainConfig(**d)
        from hamst3r_ros.model.precision import PRECISIONS

        if cfg.precision not in PRECISIONS:
            raise ValueError(f"training config: precision {cfg.precision!r}: expected one of {', '.join(PRECISIONS)}")
        if cfg.cpu_budget_s < 0:
            raise ValueError(f"training config: cpu_budget_s {cfg.cpu_budget_s}: expected >= 0 seconds (0 = no limit)")

        def rel(p):
            return None if p is None else str((base_dir / p).resolve()) if not Path(p).is_absolute() else p

        cfg.out = rel(cfg.out)
        cfg.init = rel(cfg.init)
        cfg.init_encoder = rel(cfg.init_encoder)
        for s in cfg.train_sets + cfg.val_sets:
            if not isinstance(s, dict) or "path" not in s:
                raise ValueError(f"training config: each dataset entry needs a 'path', found {s!r}")
            s["path"] = rel(s["path"])
        if not cfg.train_sets:
            raise ValueError("training config: train_sets is empty; give at least one dataset written by `hamst3r synth`")
        return cfg


def check_start_files(cfg: TrainConfig) -> None:
    """A clear error when a checkpoint to start from is missing (before any work starts)."""
    for key in ("init", "init_encoder"):
        p = getattr(cfg, key)
        if p is not None and not Path(p).is_file():
            raise ValueError(f"training config: {key} {p}: no such file (the checkpoint to start from; "
                             f"a staged recipe needs its earlier stages trained first)")


def ensure_dataset(entry: dict, log=print) -> None:
    """Generate the dataset of a ``{path, synth: {...}}`` entry when its folder has none."""
    path = Path(entry["path"])
    if (path / "manifest.json").is_file() or "synth" not in entry:
        return
    from hamst3r_ros.synthetic.dataset import write_dataset
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    spec = dict(entry["synth"])
    frames = int(spec.pop("frames", 8))
    scene_cfg = SceneConfig.from_dict(spec)
    scene_cfg.validate()
    log(f"generating {path} ({frames} frame sets, seed {scene_cfg.seed})")
    scene = SyntheticScene(scene_cfg)
    write_dataset(path, scene, scene.framesets(frames), progress=True)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_network(cfg: TrainConfig) -> torch.nn.Module:
    """The network to train: fresh from ``network``, or ``init`` + human heads from ``network``.

    When ``init`` is an official MASt3R / DUNE-MASt3R checkpoint (no human heads), its
    weights fill every part they have and the human heads start fresh: the full-scale recipe.
    """
    from hamst3r_ros.model.checkpoints import load_checkpoint
    from hamst3r_ros.model.config import HumanHeadsConfig, NetConfig
    from hamst3r_ros.model.hamst3r import build_model
    from hamst3r_ros.model.networks import build_net

    if cfg.init is None:
        return build_model(cfg.network, seed=cfg.seed).net
    base = load_checkpoint(cfg.init, cfg.init_encoder)
    net_cfg: NetConfig = base.cfg
    # ``network: {human: {...}}`` sizes new heads (else HumanHeadsConfig's defaults), or
    # overrides fields of the start checkpoint's heads, e.g. ``image_refine`` to add the
    # refinement to a trained model (its new layers start fresh, see HumanHeadsConfig).
    spec = cfg.network.get("human", {}) if isinstance(cfg.network, dict) else {}
    human = asdict(net_cfg.human) if net_cfg.human is not None else {}
    if net_cfg.human is not None and all(human.get(k) == v for k, v in spec.items()):
        return base
    try:
        human = asdict(HumanHeadsConfig(**{**human, **spec}))
    except TypeError as e:
        raise ValueError(f"{cfg.init}: network.human: {e}; expected fields of HumanHeadsConfig") from None
    net_cfg = NetConfig.from_json({**net_cfg.to_json(), "human": human})
    torch.manual_seed(cfg.seed)
    net = build_net(net_cfg)
    missing, unexpected = net.load_state_dict(base.state_dict(), strict=False)
    bad = [k for k in missing if not k.startswith("human_heads.")]
    if bad or unexpected:
        raise ValueError(f"{cfg.init}: cannot extend with human heads {spec}: missing {bad[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return net


@dataclass
class StepLosses:
    """Scalar losses of one step (floats), for logging."""

    total: float
    regr: float
    regr_err: float
    match: float
    seg: float
    dp: float
    mask: float


def forward(net: torch.nn.Module, img1: torch.Tensor, img2: torch.Tensor, train_encoder: bool) -> PairHeadOutputs:
    """Pair forward with gradients (through the encoder only with ``train_encoder``): every
    head's output, the human heads' included."""
    g = net.grid_of(img1.shape[-2:])
    g2 = net.grid_of(img2.shape[-2:])
    with torch.set_grad_enabled(train_encoder and torch.is_grad_enabled()):
        if img1.shape == img2.shape:
            e = net.encode(torch.cat([img1, img2]))  # one encoder batch for both views
            e1, e2 = e[: len(img1)], e[len(img1):]
        else:
            e1, e2 = net.encode(img1), net.encode(img2)
    dec1, dec2 = net.decode(net.embed(e1), g, net.embed(e2), g2)
    return net.run_heads(e1, dec1, g, e2, dec2, g2, human=True,
                         stem1=net.image_features(img1), stem2=net.image_features(img2))


def _ids_at(ids: torch.Tensor, hw) -> torch.Tensor:
    """(B, H, W) ids sampled at the centres of an (h, w) grid of equal cells."""
    H, W = ids.shape[-2:]
    sy, sx = H // hw[0], W // hw[1]
    return ids[:, sy // 2::sy, sx // 2::sx][:, : hw[0], : hw[1]]


def compute_losses(net, batch: PairBatch, cfg: TrainConfig, device) -> tuple[torch.Tensor, StepLosses, PairHeadOutputs]:
    """Eq. (1): L_MASt3R + λ1 L_seg + λ2 L_dp + λ3 L_mask, human terms on human samples only."""
    img1, img2 = batch.img1.to(device), batch.img2.to(device)
    out = forward(net, img1, img2, cfg.train_encoder)
    v1, v2 = out.views
    regr, regr_err = L.pointmap_regression_loss(
        [v1.pts3d, v2.pts3d], [v1.conf, v2.conf], [batch.pts1.to(device), batch.pts2.to(device)],
        [batch.valid1.to(device), batch.valid2.to(device)], alpha=cfg.conf_alpha)
    total = regr
    match = torch.zeros((), device=device)
    if v1.desc is not None and cfg.lambda_match > 0:
        match = L.matching_infonce_loss(v1.desc, v2.desc, [m.to(device) for m in batch.matches])
        total = total + cfg.lambda_match * match
    seg = dp = mask = torch.zeros((), device=device)
    h = batch.human.to(device)
    if out.has_human and bool(h.any()):
        idx = torch.nonzero(h).flatten()
        hum = out.take(idx)
        # The instance head predicts masks at 1/mask_stride resolution: supervise them there,
        # against the ids at the centres of the stride cells (Mask2Former likewise supervises
        # sampled points, not every pixel).
        ids1 = _ids_at(batch.inst1.to(device)[idx], hum.view1.mask_logits.shape[-2:])
        ids2 = _ids_at(batch.inst2.to(device)[idx], hum.view2.mask_logits.shape[-2:])
        seg, _ = L.two_view_instance_loss(hum.class_logits, hum.view1.mask_logits, hum.view2.mask_logits, ids1, ids2)
        body1, body2 = batch.body1.to(device)[idx], batch.body2.to(device)[idx]
        dp = 0.5 * (L.densepose_l2_loss(hum.view1.dp, batch.dp1.to(device)[idx], body1)
                    + L.densepose_l2_loss(hum.view2.dp, batch.dp2.to(device)[idx], body2))
        mask = 0.5 * (L.body_mask_loss(hum.view1.body_logits, body1, cfg.body_mask_dice)
                      + L.body_mask_loss(hum.view2.body_logits, body2, cfg.body_mask_dice))
        total = total + cfg.lambda_seg * seg + cfg.lambda_dp * dp + cfg.lambda_mask * mask
    logs = StepLosses(*(float(x.detach()) for x in (total, regr, regr_err, match, seg, dp, mask)))
    return total, logs, out


def validate(net, sampler: PairSampler, cfg: TrainConfig, device, batches: int) -> PairMetrics:
    """Mean held-out metrics over ``batches`` batches drawn from ``sampler`` (fixed seed)."""
    rows: list[PairMetrics] = []
    was_training = net.training
    net.eval()
    with torch.no_grad():
        for _ in range(batches):
            batch = sampler.sample(cfg.batch_size)
            rows += evaluate_batch(batch, forward(net, batch.img1.to(device), batch.img2.to(device), False))
    net.train(was_training)
    return mean_metrics(rows)


def _lr_at(step: int, cfg: TrainConfig, cpu_used: float = 0.0) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine to 0 at ``steps`` or at the CPU budget,
    whichever comes first."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    if cfg.cpu_budget_s > 0:
        t = max(t, cpu_used / cfg.cpu_budget_s)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def format_metrics(m: PairMetrics) -> str:
    return (f"depth AbsRel {m.depth_abs_rel:.3f} inlier<1.03 {m.depth_inlier:.3f} | pointmap rel {m.pointmap_rel:.3f} | "
            f"inst IoU {m.instance_iou:.3f} id-consistency {m.id_consistency:.3f} | "
            f"DP err {m.densepose_err:.3f} | body IoU {m.body_iou:.3f}")


def _write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so a reader (``hamst3r curves`` during training)
    never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def train(cfg: TrainConfig, log=print, progress: bool = True) -> dict:
    """Run (or resume) training; returns the last validation metrics and timings."""
    from tqdm import tqdm

    from hamst3r_ros.model.checkpoints import save_hamst3r

    from hamst3r_ros.model.precision import autocast, resolve_precision

    check_start_files(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    log(f"training on {device} in {precision} (precision: {cfg.precision}), {torch.get_num_threads()} threads")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    net = build_network(cfg).to(device).train()
    if not net.has_human_heads:
        raise ValueError("training needs a network with human heads: give `network` a config with a 'human' entry")
    params = [p for n, p in net.named_parameters() if cfg.train_encoder or not n.startswith(ENCODER_PREFIXES)]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    start, cpu_before = 0, 0.0
    state_path = out / "last.state.pt"
    if state_path.is_file() and (out / "last.safetensors").is_file():
        from safetensors.torch import load_model

        load_model(net, str(out / "last.safetensors"), strict=False)
        st = torch.load(state_path, weights_only=True, map_location=device)
        opt.load_state_dict(st["optimizer"])
        start = int(st["step"])
        cpu_before = float(st["cpu_s"]) if "cpu_s" in st else 0.0
        log(f"resumed from {out / 'last.safetensors'} at step {start}")
    for entry in cfg.train_sets + cfg.val_sets:
        ensure_dataset(entry, log)
    train_sampler = PairSampler([(s["path"], s.get("human", True)) for s in cfg.train_sets], cfg.crop_sizes,
                                cfg.human_ratio, cfg.max_frame_gap, cfg.colour_jitter, seed=cfg.seed + start,
                                max_matches=cfg.max_matches, hue_jitter=cfg.hue_jitter)
    val_sets = cfg.val_sets or cfg.train_sets

    def val_sampler():
        return PairSampler([(s["path"], s.get("human", True)) for s in val_sets], cfg.crop_sizes[:1],
                           1.0, 0, 0.0, seed=12345, max_matches=cfg.max_matches)

    history: list[dict] = []
    if (out / "history.json").is_file() and start > 0:
        history = [h for h in json.loads((out / "history.json").read_text()) if h.get("step", 0) <= start]
    metrics: Optional[PairMetrics] = None
    extra = {"training": {"config": {k: v for k, v in asdict(cfg).items()}, "step": 0}}

    def save(step: int):
        extra["training"]["step"] = step
        if metrics is not None:
            extra["training"]["val_metrics"] = asdict(metrics)
        save_hamst3r(net, out / "last", extra=extra)
        torch.save({"optimizer": opt.state_dict(), "step": step, "cpu_s": torch.tensor(cpu_used())}, state_path)
        _write_atomic(out / "history.json", json.dumps(history))

    t0, c0 = time.time(), time.process_time()

    def cpu_used() -> float:
        """Process CPU seconds spent on this recipe so far (all runs; data loading included)."""
        return cpu_before + time.process_time() - c0

    bar = tqdm(range(start, cfg.steps), desc="train", disable=not progress, initial=start, total=cfg.steps)
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, cfg, cpu_used())
        batch = train_sampler.sample(cfg.batch_size)
        with autocast(device, precision):
            loss, logs, _ = compute_losses(net, batch, cfg, device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        history.append({"step": step + 1, "cpu_s": round(cpu_used(), 2), "wall_s": round(time.time() - t0, 2),
                        **asdict(logs)})
        bar.set_postfix(loss=f"{logs.total:.3f}", regr=f"{logs.regr_err:.3f}", seg=f"{logs.seg:.3f}", dp=f"{logs.dp:.4f}")
        done = step + 1
        out_of_budget = cfg.cpu_budget_s > 0 and cpu_used() >= cfg.cpu_budget_s
        last = done == cfg.steps or out_of_budget
        if done % cfg.val_every == 0 or last:
            with autocast(device, precision):
                metrics = validate(net, val_sampler(), cfg, device, cfg.val_batches)
            history[-1]["val"] = asdict(metrics)
            log(f"step {done}: {format_metrics(metrics)}")
            net.train()
        if done % cfg.ckpt_every == 0 or last:
            save(done)
        if out_of_budget:
            log(f"CPU budget of {cfg.cpu_budget_s:.0f} s spent at step {done}")
            break
    _write_atomic(out / "history.json", json.dumps(history))
    return {"metrics": metrics, "seconds": time.time() - t0, "history": history}
