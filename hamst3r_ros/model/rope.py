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
    """cos/sin tables (..., N, dim) for integer positions (..., N) on one axis."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, device=pos.device).float() / dim))
    # The official code tabulates t * inv_freq for t = 0..max and looks rows up; computing
    # the product directly on the float32 positions gives the same float32 values.
    freqs = pos.float()[..., None] * inv_freq
    freqs = torch.cat((freqs, freqs), dim=-1).to(dtype)
    return freqs.cos(), freqs.sin()


@dataclass
class RopeTable:
    """Precomputed rotations for one set of positions, over the whole head dimension.

    With the head vector split in quarters ``[y1, y2, x1, x2]`` (y half, x half, each split
    for rotate-half), RoPE2D is ``t * cos + swap(t) * sin_signed`` where ``swap`` exchanges
    the quarters within each half (``[y2, y1, x2, x1]``) and ``sin_signed`` carries the
    rotate-half sign (``[-sin, +sin]`` per half). This is the official formula with the sign
    moved onto the table (exact in floating point), in 4 elementwise ops instead of ~10.

    Attributes:
        cos, sin_signed: (B or 1, 1, N, Dh) tables broadcast over heads.
    """

    cos: torch.Tensor
    sin_signed: torch.Tensor

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
        q = half // 2
        sign = torch.cat([-torch.ones(q), torch.ones(q)]).to(dtype=dtype, device=pos.device)
        cos = torch.cat([cy, cx], dim=-1)[:, None]
        sin = torch.cat([sy * sign, sx * sign], dim=-1)[:, None]
        return RopeTable(cos.contiguous(), sin.contiguous())


def _swap_quarters(t: torch.Tensor) -> torch.Tensor:
    """[y1, y2, x1, x2] -> [y2, y1, x2, x1] along the last dimension."""
    return t.unflatten(-1, (2, 2, t.shape[-1] // 4)).flip(-2).flatten(-3)


def apply_rope(tokens: torch.Tensor, table: RopeTable) -> torch.Tensor:
    """Rotate ``tokens`` (B, heads, N, Dh): first half of Dh by y, second half by x.

    Low-precision tokens (bf16 autocast) are rotated in float32 and cast back.
    """
    if tokens.dtype != table.cos.dtype:
        t = tokens.float()
        return (t * table.cos + _swap_quarters(t) * table.sin_signed).to(tokens.dtype)
    return tokens * table.cos + _swap_quarters(tokens) * table.sin_signed
