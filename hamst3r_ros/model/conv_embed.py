"""Convolutional patch embedding: a small residual CNN in place of the ViT's patch projection.

``NetConfig.backbone == "conv"``. A ViT trained from scratch has to learn locality from data;
a CNN has it built in, which is what dense tasks (depth, masks, matching) need first and what a
few CPU hours of synthetic data can teach. The CNN downsamples by 2 per stage to the patch
size (16 px: stages at strides 2, 4, 8, 16), each stage a strided 3x3 convolution then residual
blocks, and a 1x1 projection to the token width; the ViT blocks that follow
(``enc_depth``, usually 2) add image-wide context, and the decoders and heads are unchanged, so
the network's outputs and the pipeline are those of :class:`.networks.PairNet`.

No normalisation layers: BatchNorm statistics would tie inference to training batches, and the
residual branches start at zero instead (SkipInit), so every stage starts as an identity.

Shapes: (B, 3, H, W) in [-1, 1] -> (B, (H/16) * (W/16), dim) tokens, row-major.
"""
from __future__ import annotations

import torch
from torch import nn

from .encoder import check_patch_multiple


class _ResBlock(nn.Module):
    """x + conv3x3(gelu(conv3x3(x))) * gain, gain starting at 0."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.act = nn.GELU()
        self.gain = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gain * self.conv2(self.act(self.conv1(x)))


class ConvPatchEmbed(nn.Module):
    """Residual CNN to stride ``patch_size`` (a power of two), then 1x1 to ``dim`` channels.

    Args:
        patch_size: output stride in pixels (16).
        dim: token width (``enc_embed_dim``).
        widths: channels per stage, one per factor 2 of the stride (len = log2(patch_size)).
        blocks: residual blocks per stage (same length as ``widths``).
    """

    def __init__(self, patch_size: int, dim: int, widths: tuple[int, ...], blocks: tuple[int, ...]):
        super().__init__()
        stages = patch_size.bit_length() - 1
        if 1 << stages != patch_size:
            raise ValueError(f"conv backbone: patch_size {patch_size} must be a power of two")
        if len(widths) != stages or len(blocks) != stages:
            raise ValueError(f"conv backbone: conv_widths {list(widths)} and conv_blocks {list(blocks)} need "
                             f"{stages} entries each (one per stride 2 ... {patch_size})")
        self.patch_size = patch_size
        layers: list[nn.Module] = []
        cin = 3
        for w, n in zip(widths, blocks):
            layers += [nn.Conv2d(cin, w, 3, stride=2, padding=1), nn.GELU()]
            layers += [_ResBlock(w) for _ in range(n)]
            cin = w
        self.stages = nn.Sequential(*layers)
        self.proj = nn.Conv2d(cin, dim, 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, N, dim); H and W must be multiples of the patch size."""
        check_patch_multiple(img, self.patch_size)
        return self.proj(self.stages(img)).flatten(2).transpose(1, 2)
