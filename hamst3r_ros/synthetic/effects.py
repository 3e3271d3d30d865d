"""Camera effects applied to a rendered colour image: exposure, blur, sensor noise.

Ground truth (depth, instances, template coordinates) is never altered: only the image.
"""
from __future__ import annotations

import numpy as np


def apply_camera_effects(
    color: np.ndarray,
    rng: np.random.Generator,
    exposure_jitter: float = 0.0,
    blur_sigma: float = 0.0,
    noise_sigma: float = 0.0,
) -> np.ndarray:
    """Turn a (H, W, 3) float image in [0, ~1] into (H, W, 3) uint8 RGB.

    Args:
        exposure_jitter: the gain is drawn uniformly in [1 - j, 1 + j] (auto-exposure drift).
        blur_sigma: Gaussian blur standard deviation, pixels (defocus/motion); 0 = off.
        noise_sigma: additive Gaussian noise standard deviation in 8-bit levels; 0 = off.
    """
    if not (0.0 <= exposure_jitter < 1.0):
        raise ValueError(f"exposure_jitter must be in [0, 1), got {exposure_jitter}")
    if blur_sigma < 0 or noise_sigma < 0:
        raise ValueError(f"blur_sigma and noise_sigma must be >= 0, got {blur_sigma}, {noise_sigma}")
    img = np.nan_to_num(color.astype(np.float32), nan=0.0)
    if exposure_jitter > 0:
        img = img * np.float32(rng.uniform(1.0 - exposure_jitter, 1.0 + exposure_jitter))
    if blur_sigma > 0:
        from scipy import ndimage

        img = ndimage.gaussian_filter(img, sigma=(blur_sigma, blur_sigma, 0))
    img = img * 255.0
    if noise_sigma > 0:
        img = img + rng.normal(0.0, noise_sigma, img.shape).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
