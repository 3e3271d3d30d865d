"""Ground truth of a rendered frame set, seen the way the pipeline sees the images.

The network looks at a resized, centre-cropped view of each image
(:class:`hamst3r_ros.model.preprocess.Preprocessed`); the true surface the published cloud is
scored against is what the cameras see *inside those crops*, at the input resolution.
Everything here is in the scene's fixed frame (metres) unless a frame is named.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from hamst3r_ros.synthetic.pointmaps import backproject_depth, crop_mask, sample_nearest, transform_points


def true_surface(fs, views: Sequence, with_colors: bool = False):
    """(T, 3) float32 true surface points: every input pixel inside the network crop of each
    camera, back-projected with its true depth and camera (fixed frame).

    Args:
        fs: a :class:`~hamst3r_ros.synthetic.scene.FrameSetGT`.
        views: one ``Preprocessed`` per camera (the network's view of its image).
        with_colors: also return the (T, 3) uint8 RGB of those pixels.
    """
    out, rgb = [np.zeros((0, 3), np.float32)], [np.zeros((0, 3), np.uint8)]
    for cam, pre in zip(fs.cameras, views):
        inside = crop_mask(cam.depth.shape, pre.input_from_network(), pre.hw) & np.isfinite(cam.depth)
        pts = transform_points(cam.T_fixed_cam, backproject_depth(cam.depth, cam.K))
        out.append(pts[inside])
        rgb.append(cam.image[inside])
    return (np.concatenate(out), np.concatenate(rgb)) if with_colors else np.concatenate(out)


def true_view_points(cam, pre) -> np.ndarray:
    """(h, w, 3) float32 true points of camera ``cam`` at the network pixels of its view
    ``pre``, in the camera's optical frame; NaN where the pixel saw nothing."""
    pts = backproject_depth(cam.depth, cam.K)
    out, ok = sample_nearest(pts, pre.input_from_network(), pre.hw)
    out = out.astype(np.float32, copy=True)
    out[~ok] = np.nan
    return out


def fixed_view_points(fs, views: Sequence) -> list[np.ndarray]:
    """Per camera, (h, w, 3) float32 true points at the network pixels, fixed frame."""
    return [transform_points(cam.T_fixed_cam, true_view_points(cam, pre)) for cam, pre in zip(fs.cameras, views)]


def true_joints(fs) -> dict[int, np.ndarray]:
    """Person id -> (24, 3) true joints of the people visible in at least one camera."""
    return {int(p.person_id): np.asarray(p.joints, np.float64) for p in fs.people
            if int(np.asarray(p.visible_pixels).sum()) > 0}
