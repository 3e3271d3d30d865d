"""Training pairs from synthetic datasets: sampling, augmentation, supervision targets.

A pair is two cameras of one frame set, or two cameras of nearby frame sets (``max_frame_gap``)
of the same recording, as in the paper (multi-camera setups and closely spaced video
frames). Augmentation: a random crop whose size is drawn per batch from ``crop_sizes``
(landscape and portrait aspect ratios; each a multiple of the patch size), colour jitter
(brightness, contrast, saturation) per image, optional hue rotation per pair. Intrinsics follow the crop.

Each dataset is flagged human-centric (all heads supervised) or geometry-only (pointmap and
matching only); ``human_ratio`` sets how often a batch is drawn from the human-centric ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from hamst3r_ros.synthetic.dataset import SyntheticDataset
from hamst3r_ros.train.targets import pair_targets


@dataclass
class PairBatch:
    """A batch of B pairs at one size (H, W); tensors on CPU.

    Attributes:
        img1, img2: (B, 3, H, W) float32 in [-1, 1].
        pts1, pts2: (B, H, W, 3) float32 true points of both views in view 1's frame, metres.
        valid1, valid2: (B, H, W) bool.
        matches: per pair, (M, 2) int64 flat pixel indices of correspondences.
        inst1, inst2: (B, H, W) int64 person ids (0 = background), same id in both views.
        dp1, dp2: (B, H, W, 3) float32 body-template coordinates (0 off bodies).
        body1, body2: (B, H, W) bool body masks.
        human: (B,) bool, True where the human heads are supervised.
        depth1: (B, H, W) float32 true depth of view 1 (NaN = none), for metrics.
    """

    img1: torch.Tensor
    img2: torch.Tensor
    pts1: torch.Tensor
    pts2: torch.Tensor
    valid1: torch.Tensor
    valid2: torch.Tensor
    matches: list[torch.Tensor]
    inst1: torch.Tensor
    inst2: torch.Tensor
    dp1: torch.Tensor
    dp2: torch.Tensor
    body1: torch.Tensor
    body2: torch.Tensor
    human: torch.Tensor
    depth1: torch.Tensor


_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def hue_rotation(angle: float) -> np.ndarray:
    """(3, 3) matrix M rotating hue by ``angle`` radians (about the YIQ luma axis): rgb @ M.T."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    return (np.linalg.inv(_RGB_TO_YIQ) @ rot @ _RGB_TO_YIQ).astype(np.float32)


def _jitter(img: np.ndarray, rng: np.random.Generator, strength: float,
            hue: Optional[np.ndarray] = None) -> np.ndarray:
    """Colour jitter on a uint8 image -> float32 in [0, 1]; ``hue``: a :func:`hue_rotation`."""
    x = img.astype(np.float32) / 255.0
    if hue is not None:
        x = np.clip(x @ hue.T, 0, 1)
    if strength <= 0:
        return x
    b = 1 + rng.uniform(-strength, strength)
    c = 1 + rng.uniform(-strength, strength)
    s = 1 + rng.uniform(-strength, strength)
    x = x * b
    mean = x.mean()
    x = (x - mean) * c + mean
    grey = x.mean(-1, keepdims=True)
    x = (x - grey) * s + grey
    return np.clip(x, 0, 1)


def _crop(cam, x0: int, y0: int, w: int, h: int):
    sl = (slice(y0, y0 + h), slice(x0, x0 + w))
    K = cam.K.copy()
    K[0, 2] -= x0
    K[1, 2] -= y0
    return (cam.image[sl], cam.depth[sl], cam.instance[sl].astype(np.int64), cam.body_coords[sl],
            cam.body_mask[sl], K)


class PairSampler:
    """Draws random pair batches from one or more synthetic datasets.

    Args:
        datasets: (path, human_centric) per dataset directory written by ``hamst3r synth``.
        crop_sizes: (W, H) crop sizes, each no larger than the rendered images and a
            multiple of the network's patch size; one is drawn per batch.
        human_ratio: probability that a batch comes from the human-centric datasets (when
            both kinds exist).
        max_frame_gap: pairs may join frame sets up to this many frames apart.
        colour_jitter: strength of brightness/contrast/saturation jitter (0 = off).
        hue_jitter: a pair's two images get one hue rotation, uniform in +-hue_jitter turns
            (0 = off, 0.5 = any hue): our synthetic people wear a few hundred random
            clothing colours in all, and a small network learns those colours instead of
            the human shape. One rotation per pair keeps the views consistent.
        seed: random seed (batches are reproducible).
        cache: keep decoded frame sets in memory (datasets are small).
        max_matches: correspondences sampled per pair for the matching loss.
    """

    def __init__(self, datasets: Sequence[tuple[str | Path, bool]], crop_sizes: Sequence[tuple[int, int]],
                 human_ratio: float = 0.5, max_frame_gap: int = 2, colour_jitter: float = 0.2, seed: int = 0,
                 cache: bool = True, max_matches: int = 1024, hue_jitter: float = 0.0):
        if not datasets:
            raise ValueError("PairSampler: no datasets given")
        self.sets = [(SyntheticDataset(p), bool(h)) for p, h in datasets]
        self.crop_sizes = [tuple(int(v) for v in c) for c in crop_sizes]
        for ds, _ in self.sets:
            for cam in ds.cameras:
                for w, h in self.crop_sizes:
                    if w > cam["width"] or h > cam["height"]:
                        raise ValueError(f"{ds.root}: crop {w}x{h} is larger than camera {cam['name']} "
                                         f"({cam['width']}x{cam['height']})")
        self.human_ratio = float(human_ratio)
        self.max_frame_gap = int(max_frame_gap)
        self.colour_jitter = float(colour_jitter)
        self.hue_jitter = float(hue_jitter)
        self.rng = np.random.default_rng(seed)
        self.max_matches = int(max_matches)
        self._cache: dict[tuple[int, int], object] | None = {} if cache else None

    def _frameset(self, d: int, k: int):
        if self._cache is None:
            return self.sets[d][0][k]
        key = (d, k)
        if key not in self._cache:
            self._cache[key] = self.sets[d][0][k]
        return self._cache[key]

    def _pick_dataset(self) -> int:
        human = [d for d, (_, h) in enumerate(self.sets) if h]
        geo = [d for d, (_, h) in enumerate(self.sets) if not h]
        if human and geo:
            pool = human if self.rng.random() < self.human_ratio else geo
        else:
            pool = human or geo
        return int(self.rng.choice(pool))

    def sample(self, batch_size: int) -> PairBatch:
        """One batch of ``batch_size`` pairs from one dataset kind, at one crop size."""
        w, h = self.crop_sizes[self.rng.integers(len(self.crop_sizes))]
        d = self._pick_dataset()
        ds, human = self.sets[d]
        return collate([self._one(d, ds, w, h) for _ in range(batch_size)], human)

    def _one(self, d: int, ds: SyntheticDataset, w: int, h: int):
        n = len(ds)
        k1 = int(self.rng.integers(n))
        k2 = int(np.clip(k1 + self.rng.integers(-self.max_frame_gap, self.max_frame_gap + 1), 0, n - 1))
        fs1, fs2 = self._frameset(d, k1), self._frameset(d, k2)
        n_cam = len(fs1.cameras)
        c1 = int(self.rng.integers(n_cam))
        c2 = int(self.rng.integers(n_cam - 1)) if k1 == k2 else int(self.rng.integers(n_cam))
        if k1 == k2 and c2 >= c1:
            c2 += 1  # two different cameras of one frame set
        if k1 != k2 and c1 == c2 and n_cam > 1 and self.rng.random() < 0.5:
            c2 = (c1 + 1 + int(self.rng.integers(n_cam - 1))) % n_cam
        offsets = []
        for cam in (fs1.cameras[c1], fs2.cameras[c2]):
            H, W = cam.depth.shape
            offsets.append((int(self.rng.integers(W - w + 1)), int(self.rng.integers(H - h + 1))))
        return pair_item(fs1.cameras[c1], fs2.cameras[c2], offsets, (w, h), self.rng, self.colour_jitter,
                         self.max_matches, self.hue_jitter)


def pair_item(cam1, cam2, offsets, size, rng: np.random.Generator, colour_jitter: float = 0.0,
              max_matches: int = 1024, hue_jitter: float = 0.0) -> tuple:
    """Arrays of one pair (the fields of :class:`PairBatch`, unbatched) from two CameraGT.

    ``offsets``: ((x0, y0) of view 1, (x0, y0) of view 2) crop corners; ``size``: (w, h).
    """
    w, h = size
    (im1, d1, i1, b1, m1, K1), (im2, d2, i2, b2, m2, K2) = (
        _crop(cam, x0, y0, w, h) for cam, (x0, y0) in zip((cam1, cam2), offsets))
    t = pair_targets(d1, d2, K1, K2, cam1.T_fixed_cam, cam2.T_fixed_cam, max_matches=max_matches, rng=rng)

    hue = hue_rotation(2 * np.pi * rng.uniform(-hue_jitter, hue_jitter)) if hue_jitter > 0 else None

    def norm(im):
        return ((_jitter(im, rng, colour_jitter, hue).transpose(2, 0, 1) - 0.5) / 0.5).astype(np.float32)

    def dp(b):
        return np.nan_to_num(b, nan=0.0).astype(np.float32)

    return (norm(im1), norm(im2), np.nan_to_num(t.pts_i), np.nan_to_num(t.pts_j), t.valid_i, t.valid_j, t.matches,
            i1, i2, dp(b1), dp(b2), m1, m2, d1.astype(np.float32))


def collate(items: list[tuple], human: bool) -> PairBatch:
    """Stack :func:`pair_item` tuples (all of one size) into a :class:`PairBatch`."""
    cols = list(zip(*items))

    def stack(k):
        return torch.from_numpy(np.stack(cols[k]))

    return PairBatch(
        img1=stack(0), img2=stack(1), pts1=stack(2), pts2=stack(3), valid1=stack(4), valid2=stack(5),
        matches=[torch.from_numpy(m) for m in cols[6]], inst1=stack(7), inst2=stack(8),
        dp1=stack(9), dp2=stack(10), body1=stack(11), body2=stack(12),
        human=torch.full((len(items),), bool(human)), depth1=stack(13),
    )
