"""The two cross-attending CroCo decoders (view 1: ``dec_blocks``, view 2: ``dec_blocks2``).

Both sides advance in lockstep from the previous layer's tokens of both views:
``f1' = blk1(f1, f2)``, ``f2' = blk2(f2, f1)``. ``dec_norm`` is applied to the last layer only.

Views may have different token grids (e.g. a landscape and a portrait image): self-attention
runs within each view, cross-attention takes N1 queries against N2 keys, and RoPE rotates
queries with their own grid's positions and keys with the other view's, so nothing requires
equal shapes. (The official code fails here only because it concatenates both views into
one encoder batch.)
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .rope import RopeTable


def run_decoder(blocks1: nn.ModuleList, blocks2: nn.ModuleList, dec_norm: nn.Module,
                f1: torch.Tensor, f2: torch.Tensor, rope1: RopeTable, rope2: RopeTable,
                keep: Optional[set[int]] = None) -> tuple[list, list]:
    """Run both decoders on embedded tokens f1 (B, N1, C), f2 (B, N2, C).

    Returns per view the list of block outputs [dec_1, ..., dec_L] (dec_L normed). With
    ``keep`` (1-based block numbers), other entries are None so their memory is freed early.
    """
    out1, out2 = [], []
    n = len(blocks1)
    for k, (blk1, blk2) in enumerate(zip(blocks1, blocks2), start=1):
        f1, f2 = blk1(f1, f2, rope1, rope2), blk2(f2, f1, rope2, rope1)
        store = keep is None or k in keep or k == n
        out1.append(f1 if store else None)
        out2.append(f2 if store else None)
    out1[-1] = dec_norm(out1[-1])
    out2[-1] = dec_norm(out2[-1])
    return out1, out2
