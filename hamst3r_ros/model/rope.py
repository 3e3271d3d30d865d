"""2D rotary position embedding (RoPE2D) as used by CroCo / DUSt3R / MASt3R.

Token positions are integer patch coordinates ``(y, x)`` (row, column) on each image's own
token grid. The attention head dimension ``Dh`` is split in halves: the first half is
rotated by ``y``, the second by ``x``. Within a half of size ``D``, frequencies are
``base ** (-arange(0, D, 2) / D)`` and pairs are ``(i, i + D/2)`` (rotate-half, not
interleaved). Angles are computed in float32 whatever the activation dtype.

Because the tables depend only on positions, they are computed once per token grid
(:class:`RopeTable`) and reused by every attention layer of the encoder and decoder.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def grid_positions(h: int, w: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(h*w, 2) int64 ``(y, x)`` patch coordinates of an h x w grid, row-major."""
    ys = torch.arange(h, device=device)
    xs = torch.arange(w, device=device)
    return torch.cartesian_prod(ys, xs)


def _cos_sin_1d(pos: torch.Tensor, dim: int, base: float, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables (..., N, dim/2) for integer positions (..., N) on one axis (one entry per
    rotated pair; the official table repeats it for both halves)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, device=pos.device).float() / dim))
    # The official code tabulates t * inv_freq for t = 0..max and looks rows up; computing
    # the product directly on the float32 positions gives the same float32 values.
    freqs = (pos.float()[..., None] * inv_freq).to(dtype)
    return freqs.cos(), freqs.sin()


@dataclass
class RopeTable:
    """Precomputed rotations for one set of positions.

    With the head vector split in quarters ``[y1, y2, x1, x2]`` (y half, x half, each split
    for rotate-half), RoPE2D rotates each pair ``(a, b) = (y1, y2)`` and ``(x1, x2)`` by its
    position's angle: ``a' = a cos - b sin``, ``b' = b cos + a sin`` (the official
    ``x * cos + rotate_half(x) * sin``, with the same two products and one sum per value).

    Tables are token-major, to match the projections' natural (B, N, heads, Dh) layout: the
    rotated tokens come out in that layout, attention reads them as strided (B, heads, N, Dh)
    views, and its output is then already (B, N, heads, Dh), so merging the heads is free
    (with head-major tokens, SDPA returns head-major output and the merge was a full copy).

    Attributes:
        cos, sin: (B or 1, N, Dh/2) per-quarter tables, ``[y, x]`` halves (each Dh/4 wide).
    """

    cos: torch.Tensor
    sin: torch.Tensor

    @staticmethod
    def build(pos: torch.Tensor, head_dim: int, base: float = 100.0, dtype: torch.dtype = torch.float32) -> "RopeTable":
        """Tables for positions ``pos`` ((N, 2) or (B, N, 2) int64 (y, x)) and head size ``head_dim``."""
        if head_dim % 4:
            raise ValueError(f"RoPE2D needs a head dimension divisible by 4, got {head_dim}")
        if pos.dim() == 2:
            pos = pos[None]
        half = head_dim // 2
        cy, sy = _cos_sin_1d(pos[..., 0], half, base, dtype)
        cx, sx = _cos_sin_1d(pos[..., 1], half, base, dtype)
        cos = torch.cat([cy, cx], dim=-1)
        sin = torch.cat([sy, sx], dim=-1)
        return RopeTable(cos.contiguous(), sin.contiguous())


def apply_rope(tokens: torch.Tensor, table: RopeTable) -> torch.Tensor:
    """Rotate ``tokens`` (B, N, ..., Dh) (token-major: any head dimensions between N and Dh,
    e.g. (B, N, heads, Dh), or (B, N, 2, heads, Dh) for queries and keys at once): the first
    half of Dh by the token's y, the second by its x. Returns a new contiguous tensor of the
    same shape and layout.

    Low-precision tokens (bf16 autocast) are rotated in float32 and cast back.
    """
    t = tokens.float() if tokens.dtype != table.cos.dtype else tokens
    dh = t.shape[-1]
    # tables (B|1, N, 2, 1, Dh/4) against tokens viewed as (B, N, ..., 2 [y|x], 2 [a|b], Dh/4)
    mid = (1,) * (t.dim() - 3)
    cos = table.cos.reshape(table.cos.shape[0], table.cos.shape[1], *mid, 2, 1, dh // 4)
    sin = table.sin.reshape(cos.shape)
    t4 = t.unflatten(-1, (2, 2, dh // 4))
    a, b = t4.narrow(-2, 0, 1), t4.narrow(-2, 1, 1)
    if torch.is_grad_enabled() and (t.requires_grad or cos.requires_grad):
        # training: out= writes are not differentiable
        out = torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-2)
    else:
        # Four passes over half the values into one output, no temporaries (before: a swapped
        # copy, two products and a sum); products rounded as officially, the sum fused (<= 1 ulp).
        out = torch.empty(t4.shape, dtype=t.dtype, device=t.device)
        oa, ob = out.narrow(-2, 0, 1), out.narrow(-2, 1, 1)
        torch.mul(a, cos, out=oa)
        oa.addcmul_(b, sin, value=-1)
        torch.mul(b, cos, out=ob)
        ob.addcmul_(a, sin)
    out = out.flatten(-3)
    return out.to(tokens.dtype) if out.dtype != tokens.dtype else out
