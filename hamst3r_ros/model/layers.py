"""Transformer building blocks with the official CroCo / DINOv2 parameter names.

Every block is pre-norm with LayerNorm (eps given by the caller: 1e-6 in CroCo, MASt3R and
DUNE) and exact (erf) GELU MLPs. Attention uses ``F.scaled_dot_product_attention``: on CPU
float32 it matches the official explicit softmax to ~1e-6 (see the conformance command), on
GPU it selects fused kernels.

Tensor shapes: tokens (B, N, C); RoPE tables from :mod:`hamst3r_ros.model.rope`.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .rope import RopeTable, apply_rope


class Mlp(nn.Module):
    """fc1 -> GELU (erf) -> fc2. Keys: ``fc1``, ``fc2``."""

    def __init__(self, in_features: int, hidden_features: int, out_features: Optional[int] = None):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, out_features or in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Self-attention with a fused ``qkv`` projection (keys ``qkv``, ``proj``), optional RoPE2D."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rope: Optional[RopeTable] = None) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        qk, v = qkv[:, :, :2], qkv[:, :, 2]
        if rope is not None:
            qk = apply_rope(qk, rope)  # queries and keys in one pass, token-major (see rope.RopeTable)
        # (B, heads, N, Dh) views of token-major tensors: SDPA then returns token-major output,
        # so merging the heads below is a view, not a copy.
        x = F.scaled_dot_product_attention(qk[:, :, 0].transpose(1, 2), qk[:, :, 1].transpose(1, 2), v.transpose(1, 2))
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class CrossAttention(nn.Module):
    """Cross-attention with separate ``projq``, ``projk``, ``projv`` and output ``proj``.

    RoPE: queries are rotated with their own positions, keys with the other view's.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.projq = nn.Linear(dim, dim, bias=qkv_bias)
        self.projk = nn.Linear(dim, dim, bias=qkv_bias)
        self.projv = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mem: torch.Tensor,
                rope_q: Optional[RopeTable] = None, rope_k: Optional[RopeTable] = None) -> torch.Tensor:
        b, nq, c = x.shape
        nk = mem.shape[1]
        h = self.num_heads
        q = self.projq(x).reshape(b, nq, h, c // h)
        k = self.projk(mem).reshape(b, nk, h, c // h)
        v = self.projv(mem).reshape(b, nk, h, c // h)
        if rope_q is not None:
            q = apply_rope(q, rope_q)
        if rope_k is not None:
            k = apply_rope(k, rope_k)
        # token-major in, token-major out (see Attention.forward)
        x = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.proj(x.transpose(1, 2).reshape(b, nq, c))


class LayerScale(nn.Module):
    """Per-channel scale (DINOv2). Key: ``gamma``."""

    def __init__(self, dim: int, init: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm ViT block: ``x += attn(norm1(x)); x += mlp(norm2(x))``, optional LayerScale.

    Keys: ``norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2`` (+ ``ls1.gamma, ls2.gamma``).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, eps: float = 1e-6,
                 layerscale: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim) if layerscale else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim) if layerscale else nn.Identity()

    def forward(self, x: torch.Tensor, rope: Optional[RopeTable] = None) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), rope))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DecoderBlock(nn.Module):
    """CroCo decoder block: self-attn, cross-attn to the (``norm_y``-normed) other view, MLP.

    Keys: ``norm1, attn, norm2, cross_attn, norm_y, norm3, mlp``.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads)
        self.cross_attn = CrossAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.norm3 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm_y = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, y: torch.Tensor, rope_x: Optional[RopeTable],
                rope_y: Optional[RopeTable]) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), rope_x)
        y_ = self.norm_y(y)
        x = x + self.cross_attn(self.norm2(x), y_, rope_x, rope_y)
        return x + self.mlp(self.norm3(x))
