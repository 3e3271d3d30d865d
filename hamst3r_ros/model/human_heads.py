"""Human heads of HAMSt3R (paper section 3.3), on the decoder tokens of one image pair.

Instance head (Mask2Former-style, pair-consistent): Q learned queries attend jointly to the
tokens of *both* views (each view's tokens get a learned view embedding), then self-attend,
over a few layers. Each query yields a class logit pair (person, no-object) and one mask
embedding; its mask logits in view v are the dot product of that embedding with view v's
per-pixel embeddings. One query therefore describes one person in both views, which is what
gives pair-consistent person IDs.

DensePose head: linear + pixel shuffle on the last decoder tokens (like DUSt3R's linear
head): 3 channels of body-template coordinates (rest-pose template of ``body_model``,
metres) and 1 body-mask logit per pixel.

Image-guided refinement (optional, ``HumanHeadsConfig.image_refine`` > 0; not in the paper):
an :class:`ImageStem` turns each image, once, into low-level features at the mask stride s and
at stride 2; per decoder side a :class:`PixelRefiner` fuses them with that side's last tokens
and adds residuals, at stride 2, to the DensePose / body logits and to the instance pixel
embeddings (mask logits then come at stride 2). A patch is
16 px (14 for DUNE), about a person's width at the embedded model's 224-px input, so
token-only heads can place a person but not their outline; the stem sees the outline.

Shapes: decoder tokens (B, N_v, C) per view on an (h_v, w_v) token grid; outputs at
(H_v, W_v) = (h_v*p, w_v*p) pixels; stem features (B, C, H_v/s, W_v/s) and
(B, C/2, H_v/2, W_v/2), C = image_refine.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .config import HumanHeadsConfig, NetConfig
from .heads import tokens_to_pixels, tokens_to_pixels_nhwc
from .layers import Mlp
from .outputs import HumanView


class _QueryLayer(nn.Module):
    """Cross-attention to both views' memory, self-attention among queries, FFN (pre-norm)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_mem = nn.LayerNorm(dim)
        self.cross = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_s = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_f = nn.LayerNorm(dim)
        self.ffn = Mlp(dim, 4 * dim)

    def forward(self, q: torch.Tensor, qpos: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        m = self.norm_mem(mem)
        h = self.norm_q(q)
        q = q + self.cross(h + qpos, m, m, need_weights=False)[0]
        h = self.norm_s(q)
        q = q + self.self_attn(h + qpos, h + qpos, h, need_weights=False)[0]
        return q + self.ffn(self.norm_f(q))


class InstanceHead(nn.Module):
    """Pair-consistent instance segmentation (see module docstring)."""

    def __init__(self, net: NetConfig, cfg: HumanHeadsConfig):
        super().__init__()
        if net.patch_size % cfg.mask_stride:
            raise ValueError(f"human head: mask_stride {cfg.mask_stride} must divide the patch size {net.patch_size}")
        self.cfg = cfg
        self.patch_size = net.patch_size
        d = cfg.hidden_dim
        self.input_proj = nn.Linear(net.dec_embed_dim, d)
        self.view_embed = nn.Parameter(torch.zeros(2, d))
        self.query_feat = nn.Parameter(torch.randn(cfg.num_queries, d) * 0.02)
        self.query_pos = nn.Parameter(torch.randn(cfg.num_queries, d) * 0.02)
        self.layers = nn.ModuleList([_QueryLayer(d, cfg.num_heads) for _ in range(cfg.num_layers)])
        self.norm = nn.LayerNorm(d)
        self.class_embed = nn.Linear(d, 2)  # column 0 = person, 1 = no-object
        self.mask_embed = Mlp(d, d, cfg.mask_dim)
        r = net.patch_size // cfg.mask_stride
        self.pixel_embed = nn.Linear(net.dec_embed_dim, cfg.mask_dim * r * r)

    def _pixel_embeddings(self, tok: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        return tokens_to_pixels(self.pixel_embed(tok), grid, self.patch_size // self.cfg.mask_stride)

    def forward(self, tok1: torch.Tensor, grid1: tuple[int, int], tok2: torch.Tensor, grid2: tuple[int, int],
                pix_delta: tuple = (None, None)) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Last decoder tokens of both views -> ``class_logits`` (B, Q, 2) and per view the mask
        logits (B, Q, H_v/s, W_v/s) at the mask-embedding resolution (s = mask_stride).
        ``pix_delta``: per view, None or (B, mask_dim, H', W') added to the pixel embeddings
        after resampling them to (H', W'); that view's mask logits then come at (H', W')."""
        b = tok1.shape[0]
        mem = torch.cat([self.input_proj(tok1) + self.view_embed[0], self.input_proj(tok2) + self.view_embed[1]], 1)
        q = self.query_feat[None].expand(b, -1, -1)
        qpos = self.query_pos[None].expand(b, -1, -1)
        for layer in self.layers:
            q = layer(q, qpos, mem)
        q = self.norm(q)
        emb = self.mask_embed(q)
        masks = []
        for (tok, grid), delta in zip(((tok1, grid1), (tok2, grid2)), pix_delta):
            pix = self._pixel_embeddings(tok, grid)  # (B, mask_dim, H/s, W/s)
            if delta is not None:  # the refiner's finer grid
                pix = F.interpolate(pix, size=delta.shape[-2:], mode="bilinear", align_corners=False) + delta
            masks.append(torch.einsum("bqc,bchw->bqhw", emb, pix))
        return self.class_embed(q), (masks[0], masks[1])


def upsample_masks(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, Q, h, w) mask logits or probabilities -> (B, Q, H, W), bilinear."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class DensePoseHead(nn.Module):
    """Linear pixel-shuffle head: (B, N, C) tokens -> (``dp`` (B, H, W, 3), ``body_logits`` (B, H, W))."""

    def __init__(self, net: NetConfig):
        super().__init__()
        self.patch_size = net.patch_size
        self.proj = nn.Linear(net.dec_embed_dim, 4 * net.patch_size ** 2)

    def forward(self, tok: torch.Tensor, grid: tuple[int, int],
                delta: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``delta``: None or (B, 4, H', W') residual (dp xyz, body logit) from the refiner,
        upsampled bilinearly to the image."""
        fmap = tokens_to_pixels_nhwc(self.proj(tok), grid, self.patch_size)
        if delta is not None:
            fmap = fmap + F.interpolate(delta, size=fmap.shape[1:3], mode="bilinear",
                                        align_corners=False).permute(0, 2, 3, 1)
        return fmap[..., :3], fmap[..., 3]


class ImageStem(nn.Module):
    """(B, 3, H, W) image in [-1, 1] -> ``(coarse, fine)`` features: (B, C, H/s, W/s) at the
    mask stride s and (B, C/2, H/2, W/2); C = ``image_refine``. Per image, shared by every
    pair the image is in. Two independent branches, so any s works (7 for DUNE's 14-px patch)."""

    def __init__(self, cfg: HumanHeadsConfig):
        super().__init__()
        c, s = cfg.image_refine, cfg.mask_stride
        self.coarse_patch = nn.Conv2d(3, c, s, stride=s)
        self.coarse_conv = nn.Conv2d(c, c, 3, padding=1)
        self.fine_patch = nn.Conv2d(3, c // 2, 2, stride=2)
        self.fine_conv = nn.Conv2d(c // 2, c // 2, 3, padding=1)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        coarse = F.gelu(self.coarse_conv(F.gelu(self.coarse_patch(img))))
        fine = F.gelu(self.fine_conv(F.gelu(self.fine_patch(img))))
        return coarse, fine


class PixelRefiner(nn.Module):
    """One decoder side: last tokens (B, N, C_dec) + the view's stem features -> residuals at
    half resolution: ``dense`` (B, 4, H/2, W/2) for DensePose/body logits and ``embed``
    (B, mask_dim, H/2, W/2) for the instance pixel embeddings.

    Tokens and coarse stem features are fused at the mask stride (where the tokens' patch
    shuffle lands), upsampled, and fused again with the fine stem features at stride 2: at
    the embedded model's 224 px, masks of our synthetic people resampled from stride 16 / 4 /
    2 reach at most 0.30 / 0.82 / 0.94 instance IoU. Both output layers start at zero (see
    :class:`HumanHeadsConfig`)."""

    def __init__(self, net: NetConfig, cfg: HumanHeadsConfig):
        super().__init__()
        c, cf = cfg.image_refine, cfg.image_refine // 2
        self.r = net.patch_size // cfg.mask_stride
        self.tok = nn.Linear(net.dec_embed_dim, c * self.r * self.r)
        self.fuse1 = nn.Conv2d(c, c, 3, padding=1)
        self.fuse2 = nn.Conv2d(c, c, 3, padding=1)
        self.to_fine = nn.Conv2d(c, cf, 1)
        self.fuse_fine = nn.Conv2d(cf, cf, 3, padding=1)
        self.to_dense = nn.Conv2d(cf, 4, 1)
        self.to_embed = nn.Conv2d(cf, cfg.mask_dim, 1)
        for layer in (self.to_dense, self.to_embed):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, tok: torch.Tensor, grid: tuple[int, int],
                stem: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        coarse, fine = stem
        x = tokens_to_pixels(self.tok(tok), grid, self.r)
        if x.shape[-2:] != coarse.shape[-2:]:
            raise ValueError(f"human heads: stem features {tuple(coarse.shape[-2:])} do not match the token grid "
                             f"{grid} at mask stride ({tuple(x.shape[-2:])})")
        x = F.gelu(self.fuse1(x + coarse))
        x = x + F.gelu(self.fuse2(x))
        x = F.interpolate(self.to_fine(x), size=fine.shape[-2:], mode="bilinear", align_corners=False)
        x = F.gelu(self.fuse_fine(x + fine))
        return self.to_dense(x), self.to_embed(x)


class HumanHeads(nn.Module):
    """Both human heads; DensePose has one head per decoder side (``densepose1``, ``densepose2``),
    and so has the optional refiner (``refine1``, ``refine2``, fed by one ``stem``)."""

    def __init__(self, net: NetConfig):
        super().__init__()
        if net.human is None:
            raise ValueError("HumanHeads needs NetConfig.human")
        self.instances = InstanceHead(net, net.human)
        self.densepose1 = DensePoseHead(net)
        self.densepose2 = DensePoseHead(net)
        self.uses_image = net.human.image_refine > 0
        if self.uses_image:
            self.stem = ImageStem(net.human)
            self.refine1 = PixelRefiner(net, net.human)
            self.refine2 = PixelRefiner(net, net.human)

    def image_features(self, img: torch.Tensor) -> Optional[tuple[torch.Tensor, torch.Tensor]]:
        """(B, 3, H, W) in [-1, 1] -> stem features (coarse, fine), or None when the heads
        read tokens only."""
        return self.stem(img) if self.uses_image else None

    def forward(self, tok1: torch.Tensor, grid1: tuple[int, int], tok2: torch.Tensor, grid2: tuple[int, int],
                stem1: Optional[tuple] = None,
                stem2: Optional[tuple] = None) -> tuple[torch.Tensor, HumanView, HumanView]:
        """Last decoder tokens (B, N_v, C) of both views (+ their stem features with image
        refinement) -> (``class_logits`` (B, Q, 2), view 1's outputs, view 2's outputs)."""
        dense: tuple = (None, None)
        embed: tuple = (None, None)
        if self.uses_image:
            if stem1 is None or stem2 is None:
                raise ValueError("human heads with image_refine > 0 need both views' stem features "
                                 "(HumanHeads.image_features of each image)")
            (dn1, em1), (dn2, em2) = self.refine1(tok1, grid1, stem1), self.refine2(tok2, grid2, stem2)
            dense, embed = (dn1, dn2), (em1, em2)
        class_logits, (m1, m2) = self.instances(tok1, grid1, tok2, grid2, embed)
        d1, d2 = self.densepose1(tok1, grid1, dense[0]), self.densepose2(tok2, grid2, dense[1])
        return class_logits, HumanView(m1, *d1), HumanView(m2, *d2)
