"""Image encoders: the CroCo/MASt3R patch-16 ViT with RoPE2D and the DUNE ViT/14.

CroCo encoder (parameters live on the pair network, see :mod:`.networks`, so that official
key names ``patch_embed.*``, ``enc_blocks.*``, ``enc_norm.*`` load unchanged): Conv2d patch
embedding (no absolute position embedding), pre-norm blocks with RoPE2D on each image's own
token grid, final LayerNorm (eps 1e-6).

DUNE encoder (:class:`DuneViT`, DINOv2-with-registers layout, keys ``cls_token``,
``pos_embed``, ``register_tokens``, ``mask_token``, ``patch_embed.proj``, ``blocks.0.<i>``,
``norm``): patch-14 Conv2d, cls token, learned absolute position embedding for cls + a
square grid (bicubic-resized to other grids with DINOv2's +0.1 scale-factor rule), then 4
register tokens (no position embedding), LayerScale blocks, final LayerNorm (eps 1e-6).
Token order: ``[cls, reg_0..reg_3, patches row-major]``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import DuneEncoderConfig
from .layers import Block


def check_patch_multiple(img: torch.Tensor, patch: int) -> None:
    """ValueError unless the (..., H, W) image splits into whole ``patch``-pixel patches."""
    h, w = img.shape[-2:]
    if h % patch or w % patch:
        raise ValueError(f"image size {h}x{w} (HxW) is not a multiple of the patch size {patch}")


class PatchEmbed(nn.Module):
    """Conv2d(3, dim, p, stride p); tokens row-major. Key: ``proj``."""

    def __init__(self, patch_size: int, dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, dim, patch_size, stride=patch_size)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, N, dim); H and W must be multiples of the patch size."""
        check_patch_multiple(img, self.patch_size)
        return self.proj(img).flatten(2).transpose(1, 2)


class _BlockChunk(nn.ModuleList):
    """DINOv2 wraps all blocks in one chunk: keys ``blocks.0.<i>.*``."""


def interpolate_pos_embed(pos_embed: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """DINOv2 pos-embed resize: (1, 1+M*M, C) -> (1, 1+h*w, C) for an h x w token grid.

    Bicubic, antialias off, align_corners False, called with ``scale_factor=((h+0.1)/M,
    (w+0.1)/M)`` rather than ``size=`` (the source sampling positions depend on the scale
    factor, so this is what trained DUNE weights expect). Skipped when the grid is M x M.
    """
    n = pos_embed.shape[1] - 1
    m = int(math.sqrt(n))
    h, w = grid
    if h * w == n and h == w:
        return pos_embed
    pe = pos_embed.float()
    cls, patch = pe[:, :1], pe[:, 1:]
    dim = pe.shape[-1]
    patch = F.interpolate(patch.reshape(1, m, m, dim).permute(0, 3, 1, 2), mode="bicubic", antialias=False,
                          scale_factor=((h + 0.1) / m, (w + 0.1) / m))
    if tuple(patch.shape[-2:]) != (h, w):
        raise RuntimeError(f"pos-embed interpolation gave {tuple(patch.shape[-2:])}, expected {(h, w)}")
    patch = patch.permute(0, 2, 3, 1).reshape(1, -1, dim)
    return torch.cat([cls, patch], dim=1).to(pos_embed.dtype)


class DuneViT(nn.Module):
    """DUNE encoder (DINOv2 ViT with registers). Inputs are ImageNet-normalised (B, 3, H, W)."""

    def __init__(self, cfg: DuneEncoderConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.pos_grid ** 2 + 1, d))
        self.register_tokens = nn.Parameter(torch.zeros(1, cfg.num_register_tokens, d))
        self.mask_token = nn.Parameter(torch.zeros(1, d))  # training only
        self.patch_embed = PatchEmbed(cfg.patch_size, d)
        self.blocks = nn.ModuleList([_BlockChunk(
            [Block(d, cfg.num_heads, cfg.mlp_ratio, eps=1e-6, layerscale=True) for _ in range(cfg.depth)])])
        self.norm = nn.LayerNorm(d, eps=1e-6)

    @property
    def num_prefix_tokens(self) -> int:
        return 1 + self.cfg.num_register_tokens

    def forward_prenorm(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 1 + R + N, C): last block output, before ``norm``."""
        b = img.shape[0]
        grid = (img.shape[-2] // self.cfg.patch_size, img.shape[-1] // self.cfg.patch_size)
        x = self.patch_embed(img)
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1)
        x = x + interpolate_pos_embed(self.pos_embed, grid)
        x = torch.cat([x[:, :1], self.register_tokens.expand(b, -1, -1), x[:, 1:]], dim=1)
        for blk in self.blocks[0]:
            x = blk(x)
        return x

    def forward(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        """DINOv2-style outputs: normed cls (B, C), registers (B, R, C), patches (B, N, C), prenorm."""
        x = self.forward_prenorm(img)
        xn = self.norm(x)
        r = self.num_prefix_tokens
        return {"x_norm_clstoken": xn[:, 0], "x_norm_regtokens": xn[:, 1:r],
                "x_norm_patchtokens": xn[:, r:], "x_prenorm": x}


class TransformerProjector(nn.Module):
    """DUNE teacher projector: one LayerScale block + Linear(C, out). Keys ``blocks.0``, ``linear``."""

    def __init__(self, dim: int, num_heads: int, out_dim: int = 1024):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim, num_heads, 4.0, eps=1e-6, layerscale=True)])
        self.linear = nn.Linear(dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return self.linear(x)


class DuneModel(nn.Module):
    """Full DUNE file content: encoder + per-teacher projectors (distillation outputs).

    ``teacher_norms.*`` in DUNE files are training statistics and are not needed here.
    """

    def __init__(self, cfg: DuneEncoderConfig, teachers: list[str], proj_heads: int):
        super().__init__()
        self.encoder = DuneViT(cfg)
        self.projectors = nn.ModuleDict({t: TransformerProjector(cfg.embed_dim, proj_heads) for t in teachers})

    def encoder_output(self, img: torch.Tensor) -> torch.Tensor:
        """Un-normed ``[cls, patches]`` (registers dropped), the projectors' input."""
        x = self.encoder.forward_prenorm(img)
        return torch.cat([x[:, :1], x[:, self.encoder.num_prefix_tokens:]], dim=1)

    def projector_output(self, img: torch.Tensor, teacher: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(cls (B, 1024), patches (B, N, 1024)) as distilled towards ``teacher``."""
        if teacher not in self.projectors:
            raise ValueError(f"unknown DUNE teacher {teacher!r}; expected one of {list(self.projectors)}")
        out = self.projectors[teacher](self.encoder_output(img))
        return out[:, 0], out[:, 1:]
