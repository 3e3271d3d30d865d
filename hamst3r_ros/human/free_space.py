"""Nobody stands where cameras see no one: a person checked against the other views.

A camera that sees the place where a person would stand, or sees past it, and labels no person
there, says that nobody stands there: a person standing there would fill those pixels, and the
network would have segmented them. Counted per camera: ``seen`` (its label map has this person
where the place projects), ``unseen`` (no person labelled there, and its depth there is at
least the place's distance over ``min_ratio``: it sees the place or past it), otherwise
nothing (occluded by something well in front, someone else labelled in front, or out of
view). A person that at least two cameras do not see there, and more cameras do not see than
see, is no person (``PeopleEstimator`` rejects it as 'free_space').

The band is wide because the network's depth is: with the embedded model it is 17% too far on
people (median) and errs as much on walls, so "at the place" is anything from the place's
distance / ``min_ratio`` on.

Measured with the embedded model, posed (eval-system seeds 3000-3002, every person reaching
this rule, at their robust centre): 47 of 62 ghosts (a wall patch or a box that one camera
segments, seen by two others as plain surface there) but 3 of 70 real people (whom only one
camera's mask caught) have at least two cameras not seeing them and more than see them; when
only cameras that see *past* the place counted (background >= 1.3x farther), 25% of ghosts
did. Units: metres, fixed frame. The views' pixels are found by the direction of their points
from the camera (no intrinsics needed: the points lie on the pixels' rays).
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
    """(seen, unseen): how many views label ``person`` where ``place`` (3,) projects, and how
    many see that place, or past it, with no person labelled there (module docstring).

    Args:
        place: (3,) where the person would stand (their robust centre), fixed frame.
        person: the person's id in ``labels``.
        labels: image index -> (H, W) person id per pixel, 0 = background.
        rays: image index -> ``view_rays`` of that image.
        centres: image index -> (3,) camera centre.
        min_ratio: a view sees the place when its depth there is at least the place's
            distance / this (nearer: something occludes it, no evidence).
        max_angle_deg: pixels whose rays pass within this angle of the place are where it
            projects; fewer than ``min_pixels`` of them: out of view.
    """
    seen = unseen = 0
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
        elif np.mean(lab > 0) < 0.2 and float(np.median(ranges[near])) >= dist / min_ratio:
            unseen += 1
    return seen, unseen
