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

Shapes: decoder tokens (B, N_v, C) per view on an (h_v, w_v) token grid; outputs at
(H_v, W_v) = (h_v*p, w_v*p) pixels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import HumanHeadsConfig, NetConfig
from .heads import tokens_to_pixels, tokens_to_pixels_nhwc
from .layers import Mlp


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

    def forward(self, tok1: torch.Tensor, grid1: tuple[int, int], tok2: torch.Tensor,
                grid2: tuple[int, int], full_res: bool = True) -> dict[str, torch.Tensor]:
        """Last decoder tokens of both views -> ``class_logits`` (B, Q, 2), ``mask_logits1``
        (B, Q, H1, W1), ``mask_logits2`` (B, Q, H2, W2); with ``full_res=False`` the mask
        logits stay at the mask-embedding resolution (H/mask_stride, W/mask_stride)."""
        b = tok1.shape[0]
        mem = torch.cat([self.input_proj(tok1) + self.view_embed[0], self.input_proj(tok2) + self.view_embed[1]], 1)
        q = self.query_feat[None].expand(b, -1, -1)
        qpos = self.query_pos[None].expand(b, -1, -1)
        for layer in self.layers:
            q = layer(q, qpos, mem)
        q = self.norm(q)
        emb = self.mask_embed(q)
        out = {"class_logits": self.class_embed(q)}
        for k, (tok, grid) in enumerate(((tok1, grid1), (tok2, grid2)), start=1):
            pix = self._pixel_embeddings(tok, grid)  # (B, mask_dim, H/s, W/s)
            logits = torch.einsum("bqc,bchw->bqhw", emb, pix)
            if full_res:
                logits = upsample_masks(logits, (grid[0] * self.patch_size, grid[1] * self.patch_size))
            out[f"mask_logits{k}"] = logits
        return out


def upsample_masks(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, Q, h, w) mask logits or probabilities -> (B, Q, H, W), bilinear."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class DensePoseHead(nn.Module):
    """Linear pixel-shuffle head: (B, N, C) tokens -> ``dp`` (B, H, W, 3), ``body_logits`` (B, H, W)."""

    def __init__(self, net: NetConfig):
        super().__init__()
        self.patch_size = net.patch_size
        self.proj = nn.Linear(net.dec_embed_dim, 4 * net.patch_size ** 2)

    def forward(self, tok: torch.Tensor, grid: tuple[int, int]) -> dict[str, torch.Tensor]:
        fmap = tokens_to_pixels_nhwc(self.proj(tok), grid, self.patch_size)
        return {"dp": fmap[..., :3], "body_logits": fmap[..., 3]}


class HumanHeads(nn.Module):
    """Both human heads; DensePose has one head per decoder side (``densepose1``, ``densepose2``)."""

    def __init__(self, net: NetConfig):
        super().__init__()
        if net.human is None:
            raise ValueError("HumanHeads needs NetConfig.human")
        self.instances = InstanceHead(net, net.human)
        self.densepose1 = DensePoseHead(net)
        self.densepose2 = DensePoseHead(net)

    def forward(self, tok1: torch.Tensor, grid1: tuple[int, int], tok2: torch.Tensor,
                grid2: tuple[int, int], full_res: bool = True) -> dict[str, torch.Tensor]:
        out = self.instances(tok1, grid1, tok2, grid2, full_res)
        d1, d2 = self.densepose1(tok1, grid1), self.densepose2(tok2, grid2)
        out.update(dp1=d1["dp"], body_logits1=d1["body_logits"], dp2=d2["dp"], body_logits2=d2["body_logits"])
        return out
