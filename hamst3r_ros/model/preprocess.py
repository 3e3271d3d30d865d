"""Image preprocessing as the official DUSt3R/MASt3R ``load_images``, and the way back.

Rule (official, reproduced exactly with PIL; checked bit-exact against the fixtures):

- ``size != 224`` (MASt3R 512, DUNE-MASt3R 518): resize so that the *long* side becomes
  ``size``; the other side is ``round(x * size / long)`` (Python rounding). LANCZOS when
  shrinking, BICUBIC when enlarging. Then centre-crop both sides down to multiples of the
  patch size: with ``c = dim // 2``, ``half = ((2c) // p) * p / 2``, box ``(c - half, c + half)``
  (PIL rounds the box). A square image becomes 4:3 unless ``square_ok``.
- ``size == 224``: the *short* side becomes 224, then a central 224 x 224 crop.
- Normalisation: ``(u8 / 255 - 0.5) / 0.5`` into [-1, 1] (no ImageNet statistics; DUNE-MASt3R
  converts to ImageNet statistics inside the network).

Pixel coordinates are continuous with pixel centres at integers (u = column, v = row).
:class:`Preprocessed` maps network pixels back to input pixels: ``u_in = (u + left + 0.5) / sx - 0.5``
(likewise v), where ``sx`` is resized width / input width and ``left`` the crop offset.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image


@dataclass
class Preprocessed:
    """One image ready for the network.

    Attributes:
        tensor: (1, 3, H, W) float32 in [-1, 1].
        image_u8: (H, W, 3) uint8 RGB, the resized and cropped image.
        input_hw: (H0, W0) of the input image.
        scale_xy: (sx, sy) resized / input size per axis.
        crop_xy: (left, top) crop offset in the resized image, pixels.
    """

    tensor: torch.Tensor
    image_u8: np.ndarray
    input_hw: tuple[int, int]
    scale_xy: tuple[float, float]
    crop_xy: tuple[int, int]

    @property
    def hw(self) -> tuple[int, int]:
        return int(self.tensor.shape[-2]), int(self.tensor.shape[-1])

    def input_from_network(self) -> np.ndarray:
        """(3, 3) affine A with ``[u_in, v_in, 1] = A @ [u, v, 1]`` (also ``K_in = A @ K_net``)."""
        sx, sy = self.scale_xy
        left, top = self.crop_xy
        return np.array([[1 / sx, 0, (left + 0.5) / sx - 0.5],
                         [0, 1 / sy, (top + 0.5) / sy - 0.5],
                         [0, 0, 1]], dtype=np.float64)

    def to_input_pixels(self, uv: np.ndarray) -> np.ndarray:
        """(..., 2) network pixel coordinates (u, v) -> input image pixel coordinates."""
        a = self.input_from_network()
        uv = np.asarray(uv, dtype=np.float64)
        return uv * np.diag(a)[:2] + a[:2, 2]

    def to_network_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_input_pixels`."""
        a = self.input_from_network()
        return (np.asarray(uv, dtype=np.float64) - a[:2, 2]) / np.diag(a)[:2]


def _resize_long_side(img: Image.Image, long_side: int) -> Image.Image:
    s = max(img.size)
    interp = Image.LANCZOS if s > long_side else Image.BICUBIC
    new = tuple(int(round(x * long_side / s)) for x in img.size)
    return img.resize(new, interp)


def preprocess_image(image: np.ndarray, size: int = 512, patch_size: int = 16, square_ok: bool = False,
                     square224: bool = True) -> Preprocessed:
    """(H, W, 3) uint8 RGB -> :class:`Preprocessed` at the official network resolution.

    ``size``: 512 for MASt3R, 518 for DUNE-MASt3R (with ``patch_size=14``, ``square_ok=True``
    as its README runs it), 224 for the 224 DUSt3R models. Any other size works the same way.
    ``square224=False`` applies the long-side rule at 224 too (our small models) instead of
    the official 224 x 224 centre crop.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"preprocess_image: expected an (H, W, 3) uint8 RGB image, found {image.dtype} {image.shape}")
    h0, w0 = image.shape[:2]
    img = Image.fromarray(image)
    square = size == 224 and square224
    if square:
        img = _resize_long_side(img, round(size * max(w0 / h0, h0 / w0)))
    else:
        img = _resize_long_side(img, size)
    rw, rh = img.size
    cx, cy = rw // 2, rh // 2
    if square:
        half = min(cx, cy)
        box = (cx - half, cy - half, cx + half, cy + half)
    else:
        halfw = ((2 * cx) // patch_size) * patch_size / 2
        halfh = ((2 * cy) // patch_size) * patch_size / 2
        if not square_ok and rw == rh:
            halfh = 3 * halfw / 4
        box = (cx - halfw, cy - halfh, cx + halfw, cy + halfh)
    box = tuple(int(round(b)) for b in box)
    if box[2] - box[0] < patch_size or box[3] - box[1] < patch_size:
        raise ValueError(f"preprocess_image: a {w0}x{h0} image at size {size} leaves less than one {patch_size}-px patch")
    u8 = np.asarray(img.crop(box))
    t = torch.from_numpy(u8.copy()).permute(2, 0, 1).float().div(255.0)
    t = ((t - 0.5) / 0.5)[None]
    return Preprocessed(t, u8, (h0, w0), (rw / w0, rh / h0), (box[0], box[1]))
