"""The ``oracle`` setting: the network's pointmaps replaced by the true ones.

Wraps a :class:`~hamst3r_ros.model.hamst3r.Hamst3rModel` inside a real pipeline: every
:class:`~hamst3r_ros.types.PairPrediction` keeps the network's human-head outputs, while its
pointmaps become the true points at the network's pixels (metres, in camera i's optical
frame, as the pair convention wants) with a high confidence. Its descriptors are dropped: true
pointmaps already give every correspondence exactly, and the alignment's matching term would
only add the descriptor head's wrong matches (with the embedded model they pulled the posed
cloud from 0.8 to 7 cm median error). What the system then gets wrong is the people stage's
doing (and the fusion's), not the geometry's.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from hamst3r_ros.synthetic.pointmaps import transform_points
from hamst3r_ros.system_eval.truth import true_view_points

#: Confidence given to true points (network confidences are >= 1; the node keeps >= 1.5).
ORACLE_CONFIDENCE = 10.0


class OracleModel:
    """A model whose pointmaps are the truth of the frame set set in :attr:`truth`.

    Args:
        model: the real model; everything but ``decode_pairs`` is its own.
    """

    def __init__(self, model):
        self._model = model
        #: The FrameSetGT of the frame set being processed (its cameras in frame-set order).
        self.truth = None

    def __getattr__(self, name):
        return getattr(self._model, name)

    def decode_pairs(self, feats, pairs, **kwargs):
        preds = self._model.decode_pairs(feats, pairs, **kwargs)
        fs = self.truth
        if fs is None:
            raise RuntimeError("OracleModel: set .truth to the frame set's ground truth before processing it")
        views = [self._model.preprocess(c.image) for c in fs.cameras]
        cam_pts = [true_view_points(c, v) for c, v in zip(fs.cameras, views)]
        for p in preds:
            ci, cj = fs.cameras[p.i], fs.cameras[p.j]
            T_i_j = np.linalg.inv(ci.T_fixed_cam) @ cj.T_fixed_cam
            p.pts_i, p.conf_i = _replace(p.pts_i, p.conf_i, cam_pts[p.i])
            p.pts_j, p.conf_j = _replace(p.pts_j, p.conf_j, transform_points(T_i_j, cam_pts[p.j]))
            p.desc_i = p.desc_j = p.desc_conf_i = p.desc_conf_j = None
        return preds


def _replace(pts: np.ndarray, conf: np.ndarray, true_pts: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """True points with ORACLE_CONFIDENCE where known; the network's point with confidence 1
    (the least there is) where the truth has none (outside a closed room: never here)."""
    if true_pts.shape != pts.shape:
        raise ValueError(f"OracleModel: true pointmap {true_pts.shape} does not match the network's {pts.shape}")
    known = np.isfinite(true_pts).all(-1)
    out = np.where(known[..., None], true_pts, pts).astype(np.float32)
    return out, np.where(known, ORACLE_CONFIDENCE, 1.0).astype(np.float32)
