"""Network configurations: one dataclass that describes every architecture we build.

A :class:`NetConfig` is what official constructor strings are parsed into (see
:mod:`hamst3r_ros.model.checkpoints`), what our own checkpoint's JSON config stores, and
what :func:`hamst3r_ros.model.networks.build_net` builds. Named configs
(:data:`NAMED_CONFIGS`) cover the official full-size models and our small trainable one.

Field defaults are those of the official ``AsymmetricCroCo3DStereo`` / ``AsymmetricMASt3R``
constructors, except ``pos_embed`` (only ``RoPE100``-style RoPE is supported).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Optional

INF = math.inf


@dataclass
class DuneEncoderConfig:
    """DINOv2-with-registers ViT used by DUNE (patch 14, LayerScale, register tokens).

    Attributes:
        embed_dim, depth, num_heads: transformer size (ViT-B/14: 768, 12, 12; ViT-S/14: 384, 12, 6).
        patch_size: pixels per patch side (14).
        num_register_tokens: register tokens inserted after cls (4).
        image_size: training image side; the learned pos-embed covers (image_size/patch)^2 patches.
        mlp_ratio: MLP hidden / embed.
    """

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    patch_size: int = 14
    num_register_tokens: int = 4
    image_size: int = 448
    mlp_ratio: float = 4.0

    @property
    def pos_grid(self) -> int:
        return self.image_size // self.patch_size


@dataclass
class HumanHeadsConfig:
    """Optional human heads (paper section 3.3).

    Attributes:
        num_queries: Q instance queries shared by both views of a pair.
        hidden_dim: query transformer width.
        num_layers: query transformer layers (cross-attn to both views, self-attn, FFN).
        num_heads: attention heads of the query transformer.
        mask_dim: per-pixel / per-query embedding size whose dot product is the mask logit.
        mask_stride: pixels per mask-embedding cell (mask logits are upsampled bilinearly
            from H/mask_stride x W/mask_stride to full resolution); divides the patch size.
        body_model: body template the DensePose coordinates live on (e.g. "anny", "smpl").
        image_refine: channels of the optional image-guided refinement (0 = off, the paper's
            token-only heads). When > 0, a small convolutional stem reads each image once (at
            the mask stride with this many channels, and at stride 2 with half as many), and
            per decoder side its features are fused with the last tokens to add residuals, at
            stride 2, to the DensePose / body-mask outputs and to the instance pixel
            embeddings: sharp person boundaries when people are only 1-3 patches wide. Its output
            layers start at zero, so a trained model extended with it predicts exactly as
            before until fine-tuned.
        fit_pose_prior: pose-prior weight that these heads' DensePose calls for in the
            *published* bodies: a property of the trained weights, like ``body_model``. The
            fit weighs its mean robust data term (at most 1) against ``weight * sum
            |theta|^2`` (radians); the noisier the DensePose, the more the prior must hold
            the limbs. 2e-4, the fit's own weight, suits DensePose within a few centimetres
            (``hamst3r eval-humans``: 6 mm W-MPJPE; 28 mm at 0.2). Above it, the pipeline
            re-solves each fitted pose with this weight before publishing it
            (``FitConfig.publish_pose_weight``); tracking and the plausibility rules keep the
            data-led fit. The embedded model says 0.2: fitted freely its DensePose bent
            every limb after its errors (PA-MPJPE 196-206 mm; the rest pose alone: 107 mm).
    """

    num_queries: int = 16
    hidden_dim: int = 256
    num_layers: int = 3
    num_heads: int = 8
    mask_dim: int = 64
    mask_stride: int = 4
    body_model: str = "anny"
    image_refine: int = 0
    fit_pose_prior: float = 2e-4

    def __post_init__(self) -> None:
        if not (isinstance(self.fit_pose_prior, (int, float)) and 0 <= self.fit_pose_prior < float("inf")):
            raise ValueError(f"HumanHeadsConfig.fit_pose_prior: expected a finite number >= 0, "
                             f"found {self.fit_pose_prior!r}")
        if self.image_refine < 0 or self.image_refine % 2:
            raise ValueError(f"HumanHeadsConfig.image_refine: expected 0 (off) or an even number of channels, "
                             f"found {self.image_refine}")


@dataclass
class NetConfig:
    """The pair network: encoder, two decoders, two heads (+ optional human heads).

    Attributes:
        backbone: "croco" (ViT patch encoder with RoPE, MASt3R/DUSt3R) or "dune" (DUNE ViT
            encoder + LayerNorm, then the MASt3R decoder; ``enc_*`` then describe the unused
            CroCo stub that official DUNE-MASt3R files still carry).
        head_type: "linear" (DUSt3R), "dpt" (DUSt3R DPT) or "catmlp+dpt" (MASt3R).
        output_mode: "pts3d" or "pts3d+descNN" (NN = descriptor size).
        depth_mode, conf_mode, desc_conf_mode: (mode, vmin, vmax) post-processing triples;
            desc_conf_mode None reuses conf_mode (official behaviour).
        two_confs: MASt3R predicts a separate descriptor confidence.
        patch_size: pixels per token side (16 CroCo, 14 DUNE).
        rope_freq: RoPE2D base frequency (100 for "RoPE100").
        dune: DUNE encoder settings when backbone == "dune".
        human: human head settings, or None for a geometry-only network.
        image_size: long side (pixels) the network expects; None = the official default for
            the patch size (512 for 16, 518 for 14).
        conv_widths, conv_blocks: backbone "conv" only: channels and residual blocks of each
            stride-2 stage of the convolutional patch embedding (see :mod:`.conv_embed`); the
            ``enc_*`` ViT blocks then run on its tokens.
    """

    backbone: str = "croco"
    enc_embed_dim: int = 768
    enc_depth: int = 12
    enc_num_heads: int = 12
    dec_embed_dim: int = 512
    dec_depth: int = 8
    dec_num_heads: int = 16
    mlp_ratio: float = 4.0
    patch_size: int = 16
    rope_freq: float = 100.0
    head_type: str = "linear"
    output_mode: str = "pts3d"
    depth_mode: tuple = ("exp", -INF, INF)
    conf_mode: Optional[tuple] = ("exp", 1, INF)
    desc_mode: str = "norm"
    two_confs: bool = False
    desc_conf_mode: Optional[tuple] = None
    dune: Optional[DuneEncoderConfig] = None
    human: Optional[HumanHeadsConfig] = None
    image_size: Optional[int] = None
    conv_widths: Optional[tuple] = None
    conv_blocks: Optional[tuple] = None

    def __post_init__(self) -> None:
        if isinstance(self.dune, dict):
            self.dune = DuneEncoderConfig(**self.dune)
        if isinstance(self.human, dict):
            self.human = HumanHeadsConfig(**self.human)
        for name in ("depth_mode", "conf_mode", "desc_conf_mode", "conv_widths", "conv_blocks"):
            v = getattr(self, name)
            if isinstance(v, list):
                setattr(self, name, tuple(v))
        if self.backbone not in ("croco", "dune", "conv"):
            raise ValueError(f"NetConfig.backbone: expected 'croco', 'dune' or 'conv', found {self.backbone!r}")
        if self.backbone == "conv" and (self.conv_widths is None or self.conv_blocks is None):
            raise ValueError("NetConfig: backbone 'conv' needs conv_widths and conv_blocks")
        if self.backbone == "dune" and self.dune is None:
            raise ValueError("NetConfig: backbone 'dune' needs a 'dune' encoder config")
        if self.head_type not in ("linear", "dpt", "catmlp+dpt"):
            raise ValueError(f"NetConfig.head_type: expected 'linear', 'dpt' or 'catmlp+dpt', found {self.head_type!r}")
        if not (self.output_mode == "pts3d" or self.output_mode.startswith("pts3d+desc")):
            raise ValueError(f"NetConfig.output_mode: expected 'pts3d' or 'pts3d+descNN', found {self.output_mode!r}")
        if self.head_type == "catmlp+dpt" and self.desc_dim is None:
            raise ValueError("NetConfig: head 'catmlp+dpt' needs output_mode 'pts3d+descNN'")
        if self.head_type != "linear" and self.dec_depth <= 9:
            # The official head factories hard-code hooks [0, L/2, 3L/4, L] and assert L > 9.
            raise ValueError(f"NetConfig: DPT heads need dec_depth > 9, found {self.dec_depth}")

    @property
    def desc_dim(self) -> Optional[int]:
        if self.output_mode.startswith("pts3d+desc"):
            return int(self.output_mode[len("pts3d+desc"):])
        return None

    @property
    def encoder_dim(self) -> int:
        """Width of the tokens the decoder and DPT hook 0 receive."""
        return self.dune.embed_dim if self.backbone == "dune" else self.enc_embed_dim

    @property
    def dpt_hooks(self) -> list[int]:
        depth = self.dec_depth
        return [0, depth * 2 // 4, depth * 3 // 4, depth]

    @property
    def has_human_heads(self) -> bool:
        return self.human is not None

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict (infinities as the strings "inf" / "-inf")."""

        def enc(v):
            if isinstance(v, float) and math.isinf(v):
                return "inf" if v > 0 else "-inf"
            if isinstance(v, (list, tuple)):
                return [enc(x) for x in v]
            if isinstance(v, dict):
                return {k: enc(x) for k, x in v.items()}
            return v

        return enc(asdict(self))

    @staticmethod
    def from_json(d: dict[str, Any]) -> "NetConfig":
        """Inverse of :meth:`to_json`; unknown keys are an error naming them."""

        def dec(v):
            if v == "inf":
                return INF
            if v == "-inf":
                return -INF
            if isinstance(v, list):
                return tuple(dec(x) for x in v)
            return v

        known = {f.name for f in fields(NetConfig)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"network config: unknown keys {unknown}; expected some of {sorted(known)}")
        kw = {k: (dec(v) if k in ("depth_mode", "conf_mode", "desc_conf_mode", "conv_widths", "conv_blocks") else v)
              for k, v in d.items()}
        return NetConfig(**kw)


def _mast3r_large() -> NetConfig:
    return NetConfig(enc_embed_dim=1024, enc_depth=24, enc_num_heads=16, dec_embed_dim=768, dec_depth=12,
                     dec_num_heads=12, head_type="catmlp+dpt", output_mode="pts3d+desc24", two_confs=True,
                     desc_conf_mode=("exp", 0, INF))


def _dust3r_large_linear() -> NetConfig:
    return NetConfig(enc_embed_dim=1024, enc_depth=24, enc_num_heads=16, dec_embed_dim=768, dec_depth=12,
                     dec_num_heads=12, head_type="linear", output_mode="pts3d")


def _dune_mast3r(embed_dim: int, heads: int) -> NetConfig:
    return NetConfig(backbone="dune", enc_embed_dim=embed_dim, enc_depth=0, enc_num_heads=heads,
                     dec_embed_dim=768, dec_depth=12, dec_num_heads=12, patch_size=14,
                     head_type="catmlp+dpt", output_mode="pts3d+desc24", two_confs=True,
                     desc_conf_mode=("exp", 0, INF),
                     dune=DuneEncoderConfig(embed_dim=embed_dim, depth=12, num_heads=heads))


def _hamst3r_small() -> NetConfig:
    # Sized for training our own model and running a 4-camera, 12-pair set at low resolution
    # (224x160) on 2 CPU cores at >= 2 sets/s: a narrow ViT encoder (256-d, 6 layers), narrow
    # decoders (128-d, 4 layers), linear heads; ~19 GFLOP per 12-pair set (9.4 M parameters).
    return NetConfig(enc_embed_dim=256, enc_depth=6, enc_num_heads=4, dec_embed_dim=128, dec_depth=4,
                     dec_num_heads=4, head_type="linear", output_mode="pts3d+desc16",
                     two_confs=True, desc_conf_mode=("exp", 0, INF), image_size=224, human=HumanHeadsConfig(
                         num_queries=8, hidden_dim=128, num_layers=2, num_heads=4, mask_dim=32))


def _hamst3r_conv() -> NetConfig:
    # Design-study candidate (issue 22): hamst3r_small with its 6-layer ViT encoder replaced by a
    # residual CNN to stride 16 (channels 24/48/96/192) and 2 ViT blocks on its tokens; same
    # decoders and heads. About the small model's encoder cost at 224x160.
    cfg = _hamst3r_small()
    cfg.backbone, cfg.enc_depth = "conv", 2
    cfg.conv_widths, cfg.conv_blocks = (24, 48, 96, 192), (1, 1, 2, 2)
    return cfg


def _hamst3r_tiny() -> NetConfig:
    # For unit tests: every part present, milliseconds per pair.
    return NetConfig(enc_embed_dim=64, enc_depth=2, enc_num_heads=2, dec_embed_dim=48, dec_depth=2,
                     dec_num_heads=2, head_type="linear", output_mode="pts3d+desc8", two_confs=True,
                     desc_conf_mode=("exp", 0, INF), human=HumanHeadsConfig(
                         num_queries=4, hidden_dim=32, num_layers=1, num_heads=2, mask_dim=16))


#: Named architectures. Full-size ones match the official releases' constructor strings.
NAMED_CONFIGS = {
    "mast3r_vitl_512_catmlpdpt": _mast3r_large,
    "dust3r_vitl_linear": _dust3r_large_linear,
    "dune_mast3r_vitb14": lambda: _dune_mast3r(768, 12),
    "dune_mast3r_vits14": lambda: _dune_mast3r(384, 6),
    "hamst3r_small": _hamst3r_small,
    "hamst3r_conv": _hamst3r_conv,
    "hamst3r_tiny": _hamst3r_tiny,
}


def named_config(name: str) -> NetConfig:
    """A fresh :class:`NetConfig` by name (see :data:`NAMED_CONFIGS`)."""
    try:
        return NAMED_CONFIGS[name]()
    except KeyError:
        raise ValueError(f"unknown network config {name!r}; expected one of {sorted(NAMED_CONFIGS)}") from None
