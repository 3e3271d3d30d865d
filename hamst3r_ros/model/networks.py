"""Pair networks with the official module layout, so official state dicts load directly.

- :class:`PairNet`: ``AsymmetricCroCo3DStereo`` / ``AsymmetricMASt3R`` (CroCo ViT encoder,
  two decoders, two heads). Keys: ``mask_token, patch_embed, enc_blocks, enc_norm,
  decoder_embed, dec_blocks, dec_blocks2, dec_norm, downstream_head1, downstream_head2``.
- :class:`DunePairNet`: ``AsymmetricMASt3RWithDUNEBackbone``: ``dune_backbone`` (DUNE ViT),
  ``norm`` (LayerNorm eps 1e-5 on the un-normed DUNE patch tokens) and ``mast3r`` (a
  :class:`PairNet` on a 14-px grid whose own CroCo encoder is stored but unused).

Optional ``human_heads`` (see :mod:`.human_heads`) sit on the outermost network.

The work is split into steps so the inference API can share them: ``encode`` (per image),
``embed`` (``decoder_embed``, per image), ``decode`` (per pair), ``run_heads`` (per pair, a
:class:`~.outputs.PairHeadOutputs`; both networks wire their heads through
:func:`run_pair_heads`). Inputs to ``encode`` are (B, 3, H, W) float images normalised to
[-1, 1] (``(u8/255-0.5)/0.5``). ``forward`` is the official pair forward, returning the
official (pred1, pred2) dicts, so our networks can be checked against the official code.
"""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from .config import NetConfig
from .conv_embed import ConvPatchEmbed
from .decoder import run_decoder
from .encoder import DuneViT, PatchEmbed
from .heads import DescRequest, build_head
from .human_heads import HumanHeads
from .layers import Block, DecoderBlock
from .outputs import PairHeadOutputs
from .rope import RopeTable, grid_positions

Grid = tuple[int, int]


def pair_forward(net: "PairHeadsMixin", img1: torch.Tensor, img2: torch.Tensor):
    """The official pair forward of any of our pair networks (encode both images, decode,
    geometry heads): the official (pred1, pred2) dicts of NHWC maps."""
    g1, g2 = net.grid_of(img1.shape[-2:]), net.grid_of(img2.shape[-2:])
    e1, e2 = net.encode(img1), net.encode(img2)
    dec1, dec2 = net.decode(net.embed(e1), g1, net.embed(e2), g2)
    return net.run_heads(e1, dec1, g1, e2, dec2, g2, human=False).official()


def run_pair_heads(head1: nn.Module, head2: nn.Module, human_heads: Optional[HumanHeads],
                   enc1: torch.Tensor, dec1: list, grid1: Grid, enc2: torch.Tensor, dec2: list, grid2: Grid,
                   stem1: Optional[tuple] = None, stem2: Optional[tuple] = None,
                   desc_at1: DescRequest = None, desc_at2: DescRequest = None) -> PairHeadOutputs:
    """The heads of one pair batch, in float32 (as officially, whatever the decoder ran in).

    ``head1``/``head2`` read ``[enc_v] + dec_v`` of their view (blocks the heads do not read
    may be None); ``human_heads`` (None: geometry only) read both views' last decoder blocks
    and, with image refinement, the views' stem features ``stem1``/``stem2``.
    ``desc_at1``/``desc_at2``: which descriptors each view needs (:data:`.heads.DescRequest`;
    None: all).
    """
    d1 = [None if t is None else t.float() for t in [enc1] + dec1]
    d2 = [None if t is None else t.float() for t in [enc2] + dec2]
    with torch.autocast(device_type=d1[0].device.type, enabled=False):
        out = PairHeadOutputs(head1(d1, grid1, desc_at=desc_at1), head2(d2, grid2, desc_at=desc_at2))
        if human_heads is not None:
            out.class_logits, h1, h2 = human_heads(d1[-1], grid1, d2[-1], grid2, stem1, stem2)
            out.view1, out.view2 = out.view1.with_human(h1), out.view2.with_human(h2)
    return out


class PairHeadsMixin:
    """What both pair networks do the same way once they have a pair of geometry heads and maybe
    ``human_heads``: run the heads, compute the human heads' per-image features, the official
    forward. A network using it defines ``geometry_heads() -> (head of view 1, head of view 2)``."""

    @property
    def has_human_heads(self) -> bool:
        return hasattr(self, "human_heads")

    def image_features(self, img: torch.Tensor) -> Optional[tuple[torch.Tensor, torch.Tensor]]:
        """(B, 3, H, W) in [-1, 1] -> the human heads' stem features (coarse, fine) (see
        ``ImageStem``), computed in float32, once per image; None when the network has no
        human heads or they read tokens only."""
        if not self.has_human_heads or not self.human_heads.uses_image:
            return None
        with torch.autocast(device_type=img.device.type, enabled=False):
            return self.human_heads.image_features(img.float())

    def run_heads(self, enc1: torch.Tensor, dec1: list[torch.Tensor], grid1: Grid,
                  enc2: torch.Tensor, dec2: list[torch.Tensor], grid2: Grid,
                  human: bool = True, stem1: Optional[tuple] = None,
                  stem2: Optional[tuple] = None, desc_at1: DescRequest = None,
                  desc_at2: DescRequest = None) -> PairHeadOutputs:
        """Heads on ``[enc] + dec`` per view (see :func:`run_pair_heads`); human outputs only
        with ``human`` and human heads. ``stem1``/``stem2``: :meth:`image_features` of each
        view's image, needed by human heads with ``image_refine`` > 0. ``desc_at1``/``desc_at2``:
        the descriptors needed (:data:`.heads.DescRequest`; None: all)."""
        head1, head2 = self.geometry_heads()
        hh = self.human_heads if (human and self.has_human_heads) else None
        return run_pair_heads(head1, head2, hh, enc1, dec1, grid1, enc2, dec2, grid2, stem1, stem2, desc_at1, desc_at2)

    def forward(self, img1: torch.Tensor, img2: torch.Tensor):
        """Official pair forward: the official (pred1, pred2) dicts of NHWC maps."""
        return pair_forward(self, img1, img2)


class PairNet(PairHeadsMixin, nn.Module):
    """CroCo-style pair network (MASt3R / DUSt3R); with backbone "conv" its patch embedding is
    a residual CNN (:mod:`.conv_embed`), everything else unchanged."""

    def __init__(self, cfg: NetConfig, with_human: bool = True):
        super().__init__()
        self.cfg = cfg
        e, d = cfg.enc_embed_dim, cfg.dec_embed_dim
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))  # pre-training only; kept for key parity
        self.patch_embed = (ConvPatchEmbed(cfg.patch_size, e, cfg.conv_widths, cfg.conv_blocks)
                            if cfg.backbone == "conv" else PatchEmbed(cfg.patch_size, e))
        self.enc_blocks = nn.ModuleList([Block(e, cfg.enc_num_heads, cfg.mlp_ratio) for _ in range(cfg.enc_depth)])
        self.enc_norm = nn.LayerNorm(e, eps=1e-6)
        self.decoder_embed = nn.Linear(cfg.encoder_dim, d)
        self.dec_blocks = nn.ModuleList([DecoderBlock(d, cfg.dec_num_heads, cfg.mlp_ratio) for _ in range(cfg.dec_depth)])
        self.dec_blocks2 = nn.ModuleList([DecoderBlock(d, cfg.dec_num_heads, cfg.mlp_ratio) for _ in range(cfg.dec_depth)])
        self.dec_norm = nn.LayerNorm(d, eps=1e-6)
        self.downstream_head1 = build_head(cfg)
        self.downstream_head2 = build_head(cfg)
        if with_human and cfg.human is not None:
            self.human_heads = HumanHeads(cfg)

    def grid_of(self, img_hw: tuple[int, int]) -> Grid:
        p = self.cfg.patch_size
        return img_hw[0] // p, img_hw[1] // p

    def rope(self, grid: Grid, head_dim: int, device) -> RopeTable:
        return RopeTable.build(grid_positions(*grid, device=device), head_dim, self.cfg.rope_freq)

    def encode(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, N, enc_dim) tokens after ``enc_norm``."""
        x = self.patch_embed(img)
        if len(self.enc_blocks):
            rope = self.rope(self.grid_of(img.shape[-2:]), self.cfg.enc_embed_dim // self.cfg.enc_num_heads, x.device)
            for blk in self.enc_blocks:
                x = blk(x, rope)
        return self.enc_norm(x)

    def embed(self, enc: torch.Tensor) -> torch.Tensor:
        """Encoder tokens -> decoder width (``decoder_embed``), (B, N, dec_dim)."""
        return self.decoder_embed(enc)

    def head_layers(self) -> set[int]:
        """Decoder block numbers (1-based) the heads read: DPT hooks and the last block."""
        keep = {self.cfg.dec_depth}
        if self.cfg.head_type != "linear":
            keep |= {h for h in self.cfg.dpt_hooks if h > 0}
        return keep

    def decode(self, x1: torch.Tensor, grid1: Grid, x2: torch.Tensor, grid2: Grid,
               keep: Optional[set[int]] = None) -> tuple[list, list]:
        """Embedded tokens of view 1 and view 2 -> per-view decoder block outputs.

        ``keep``: block numbers to return (others None); default all.
        """
        hd = self.cfg.dec_embed_dim // self.cfg.dec_num_heads
        r1 = self.rope(grid1, hd, x1.device)
        r2 = r1 if grid2 == grid1 else self.rope(grid2, hd, x1.device)
        return run_decoder(self.dec_blocks, self.dec_blocks2, self.dec_norm, x1, x2, r1, r2, keep)

    def geometry_heads(self) -> tuple[nn.Module, nn.Module]:
        return self.downstream_head1, self.downstream_head2


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DunePairNet(PairHeadsMixin, nn.Module):
    """DUNE-MASt3R: DUNE encoder + LayerNorm + MASt3R decoder and heads on a 14-px grid."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        if cfg.dune is None:
            raise ValueError("DunePairNet needs NetConfig.dune")
        if cfg.enc_embed_dim != cfg.dune.embed_dim:
            raise ValueError(f"DUNE-MASt3R: enc_embed_dim ({cfg.enc_embed_dim}) must equal the DUNE width "
                             f"({cfg.dune.embed_dim}); it sizes decoder_embed and DPT hook 0")
        if cfg.patch_size != cfg.dune.patch_size:
            raise ValueError(f"DUNE-MASt3R: patch_size {cfg.patch_size} != DUNE patch {cfg.dune.patch_size}")
        self.cfg = cfg
        self.dune_backbone = DuneViT(cfg.dune)
        self.norm = nn.LayerNorm(cfg.dune.embed_dim, eps=1e-5)
        inner = copy.copy(cfg)
        inner.backbone, inner.dune, inner.human = "croco", None, None
        self.mast3r = PairNet(inner, with_human=False)
        self.register_buffer("imagenet_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("imagenet_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if cfg.human is not None:
            self.human_heads = HumanHeads(cfg)

    def grid_of(self, img_hw: tuple[int, int]) -> Grid:
        return self.mast3r.grid_of(img_hw)

    def encode(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, N, C) normed DUNE patch tokens (decoder input, hook 0)."""
        x = (img * 0.5 + 0.5 - self.imagenet_mean) / self.imagenet_std
        x = self.dune_backbone.forward_prenorm(x)[:, self.dune_backbone.num_prefix_tokens:]
        return self.norm(x)

    def embed(self, enc: torch.Tensor) -> torch.Tensor:
        return self.mast3r.embed(enc)

    def head_layers(self) -> set[int]:
        return self.mast3r.head_layers()

    def decode(self, x1, grid1, x2, grid2, keep: Optional[set[int]] = None):
        return self.mast3r.decode(x1, grid1, x2, grid2, keep)

    def geometry_heads(self) -> tuple[nn.Module, nn.Module]:
        return self.mast3r.downstream_head1, self.mast3r.downstream_head2


def build_net(cfg: NetConfig) -> nn.Module:
    """The network for ``cfg`` (random init; load weights with :mod:`.checkpoints`)."""
    return DunePairNet(cfg) if cfg.backbone == "dune" else PairNet(cfg)
