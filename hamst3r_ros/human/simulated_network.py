"""Network-like human outputs simulated from synthetic ground truth, for evaluation.

Turns a ``hamst3r_ros.synthetic`` frame set into what the human stage consumes from the
network and the fusion: per ordered pair, instance-query masks whose query numbers are a
*random permutation per pair* (plus a spurious low-score query), DensePose = true template
coordinates + Gaussian noise, a body-mask probability, and per image fused 3D points = true
points + Gaussian noise (plus a fraction of depth outliers). This tests the human stage
(ids, aggregation, fitting, tracking) in isolation from the network's accuracy.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion

from hamst3r_ros.types import PairPrediction


@dataclass
class NoiseConfig:
    """Noise levels of the simulated outputs.

    Attributes:
        point_sigma: 3D point noise, metres (per axis).
        outlier_fraction: fraction of person pixels whose depth is off by 0.2-0.8 m.
        densepose_sigma: template-coordinate noise per pair (coordinate units; 0.01 ~ 1.7 cm).
        mask_flip: probability that a pixel within 2 px of a person's outline is flipped
            (per pair): ragged mask borders.
    """

    point_sigma: float = 0.01
    outlier_fraction: float = 0.05
    densepose_sigma: float = 0.01
    mask_flip: float = 0.3


def simulate_outputs(fs, rng: np.random.Generator, noise: NoiseConfig = NoiseConfig(), queries: int = 8):
    """Simulated network + fusion outputs for one synthetic frame set.

    Args:
        fs: a ``hamst3r_ros.synthetic.scene.FrameSetGT``.
        rng: randomness (noise, query permutations).
        noise: noise levels.
        queries: instance queries per pair (>= people + 1).

    Returns:
        (pairs, points, confidence, images): list of PairPrediction over all ordered pairs;
        image index -> (H, W, 3) float32 noisy fixed-frame points; image index -> (H, W)
        confidence; image index -> (H, W, 3) uint8 RGB.
    """
    from hamst3r_ros.synthetic.pointmaps import points_in_fixed

    people = [p.person_id for p in fs.people]
    if queries < len(people) + 1:
        raise ValueError(f"simulate_outputs: {queries} queries cannot hold {len(people)} people + 1 spurious")
    points, conf, images, dp_true = {}, {}, {}, {}
    for k, cam in enumerate(fs.cameras):
        pts = points_in_fixed(cam).copy()
        pts += rng.normal(0, noise.point_sigma, pts.shape).astype(np.float32)
        person = cam.instance > 0
        bad = person & (rng.random(person.shape) < noise.outlier_fraction)
        ray = pts[bad] - cam.T_fixed_cam[:3, 3]
        ray /= np.maximum(np.linalg.norm(ray, axis=1, keepdims=True), 1e-9)
        pts[bad] += ray * rng.uniform(0.2, 0.8, (bad.sum(), 1)) * rng.choice([-1, 1], (bad.sum(), 1))
        points[k] = pts
        conf[k] = np.where(np.isfinite(pts).all(-1), 2.0, 1.0).astype(np.float32)
        images[k] = cam.image
        dp_true[k] = np.nan_to_num(cam.body_coords, nan=0.0)
    H, W = fs.cameras[0].depth.shape
    zeros = np.zeros((H, W, 3), np.float32)  # pairwise pointmaps: not used by the human stage
    pairs = []
    for i, j in itertools.permutations(range(len(fs.cameras)), 2):
        perm = rng.permutation(queries)
        score = np.full(queries, 0.05, np.float32)
        inst, dps, bodies = {}, {}, {}
        for v in (i, j):
            inst[v] = np.zeros((queries, H, W), np.float32)
            lab = fs.cameras[v].instance
            for n, pid in enumerate(people):
                m = lab == pid
                band = binary_dilation(m, iterations=2) & ~binary_erosion(m, iterations=2)
                flip = band & (rng.random(m.shape) < noise.mask_flip)
                inst[v][perm[n]] = np.where(m ^ flip, rng.uniform(0.6, 1.0), 0.05)
            spurious = perm[len(people)]
            inst[v][spurious, : H // 8, : W // 8] = 0.9  # a confident blob in a corner...
            dps[v] = (dp_true[v] + rng.normal(0, noise.densepose_sigma, dp_true[v].shape)).astype(np.float32)
            bodies[v] = (lab > 0).astype(np.float32)
        for n, pid in enumerate(people):
            score[perm[n]] = rng.uniform(0.8, 1.0)
        score[perm[len(people)]] = 0.3  # ...that the classifier does not believe is a person
        pairs.append(PairPrediction(
            i=i, j=j, pts_i=zeros, pts_j=zeros, conf_i=conf[i], conf_j=conf[j],
            inst_i=inst[i], inst_j=inst[j], inst_score=score, dp_i=dps[i], dp_j=dps[j],
            body_i=bodies[i], body_j=bodies[j],
        ))
    return pairs, points, conf, images
