"""Camera pose metrics, as used by the paper (following DUSt3R/PoseDiffusion, RelPose++
and HSfM). Poses are (N, 4, 4) T_world_cam (camera -> world); metres and degrees.

Pairwise (gauge-free, over all unordered pairs i < j, relative pose of j in i's frame):
    RRA@t   fraction of pairs whose relative-rotation angle error is below t degrees.
    RTA@t   fraction of pairs whose relative-translation *direction* error is below t
            degrees (the direction R_i^T (c_j - c_i) is signed: no sign flip allowed).
    mAA(30) mean over t = 1..30 degrees of the fraction of pairs with
            max(rotation error, translation-direction error) < t (PoseDiffusion's area
            under the accuracy curve).
    AE      mean relative-rotation angle error over pairs, degrees.
Camera centres (need an alignment of the prediction's gauge onto the ground truth):
    TE      mean camera-centre distance after rigid (SE(3), no scale) least-squares
            alignment of the predicted centres onto the ground-truth ones, metres:
            only good when the prediction is metric.
    s-TE    the same after similarity (Sim(3)) alignment.
    CCA@t   fraction of cameras whose SE(3)-aligned centre error is below t percent of
            the scene scale (largest distance of a ground-truth centre from their centroid,
            RelPose++'s convention).
    s-CCA@t the same after Sim(3) alignment.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hamst3r_ros.geometry.sim3 import rotation_angle_deg, umeyama


def _check(T_pred: np.ndarray, T_gt: np.ndarray) -> None:
    if T_pred.shape != T_gt.shape or T_pred.ndim != 3 or T_pred.shape[1:] != (4, 4):
        raise ValueError(f"camera poses must be two (N, 4, 4) arrays, got {T_pred.shape} and {T_gt.shape}")


def relative_pose_errors(T_pred: np.ndarray, T_gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rotation errors, translation-direction errors) in degrees, one per pair i < j."""
    T_pred, T_gt = np.asarray(T_pred, np.float64), np.asarray(T_gt, np.float64)
    _check(T_pred, T_gt)
    n = len(T_gt)
    rot, tra = [], []
    for i in range(n):
        for j in range(i + 1, n):
            rp = T_pred[i, :3, :3].T @ T_pred[j, :3, :3]
            rg = T_gt[i, :3, :3].T @ T_gt[j, :3, :3]
            rot.append(float(rotation_angle_deg(rg.T @ rp)))
            tp = T_pred[i, :3, :3].T @ (T_pred[j, :3, 3] - T_pred[i, :3, 3])
            tg = T_gt[i, :3, :3].T @ (T_gt[j, :3, 3] - T_gt[i, :3, 3])
            c = float(tp @ tg / max(np.linalg.norm(tp) * np.linalg.norm(tg), 1e-15))
            tra.append(float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))))
    return np.array(rot), np.array(tra)


def mean_average_accuracy(rot_err: np.ndarray, trans_err: np.ndarray, max_threshold: int = 30) -> float:
    """mAA(max_threshold): mean over t = 1..max_threshold of P(max(errors) < t)."""
    err = np.maximum(rot_err, trans_err)
    if err.size == 0:
        return float("nan")
    return float(np.mean([(err < t).mean() for t in range(1, max_threshold + 1)]))


def centre_errors(T_pred: np.ndarray, T_gt: np.ndarray, with_scale: bool) -> np.ndarray:
    """(N,) camera-centre distances after SE(3) or Sim(3) alignment onto the ground truth."""
    _check(np.asarray(T_pred), np.asarray(T_gt))
    cp, cg = np.asarray(T_pred)[:, :3, 3], np.asarray(T_gt)[:, :3, 3]
    if len(cp) == 1:
        def G_apply(x):
            return x - cp.mean(0) + cg.mean(0)
    else:
        G = umeyama(cp, cg, with_scale=with_scale)
        G_apply = G.apply
    return np.linalg.norm(G_apply(cp) - cg, axis=1)


def scene_scale(T_gt: np.ndarray) -> float:
    """Largest distance of a ground-truth camera centre from the centres' centroid."""
    c = np.asarray(T_gt)[:, :3, 3]
    return float(np.max(np.linalg.norm(c - c.mean(0), axis=1)))


@dataclass
class CameraMetrics:
    """All metrics of one prediction (see the module docstring)."""

    rra: dict[float, float]
    rta: dict[float, float]
    cca: dict[float, float]
    s_cca: dict[float, float]
    te: float
    s_te: float
    ae: float
    maa30: float
    max_rot_err_deg: float

    def rows(self) -> list[tuple[str, float]]:
        out = []
        for t, v in self.rra.items():
            out.append((f"RRA@{t:g}", v))
        for t, v in self.rta.items():
            out.append((f"RTA@{t:g}", v))
        for t, v in self.cca.items():
            out.append((f"CCA@{t:g}", v))
        for t, v in self.s_cca.items():
            out.append((f"s-CCA@{t:g}", v))
        out += [("TE", self.te), ("s-TE", self.s_te), ("AE", self.ae), ("mAA(30)", self.maa30),
                ("max rel. rot. err (deg)", self.max_rot_err_deg)]
        return out


def camera_metrics(T_pred: np.ndarray, T_gt: np.ndarray, thresholds: tuple[float, ...] = (5.0, 10.0, 15.0),
                   cca_thresholds: tuple[float, ...] = (10.0,)) -> CameraMetrics:
    """Every camera metric of the paper for one set of predicted poses."""
    rot, tra = relative_pose_errors(T_pred, T_gt)
    e_rigid = centre_errors(T_pred, T_gt, with_scale=False)
    e_sim = centre_errors(T_pred, T_gt, with_scale=True)
    scale = max(scene_scale(T_gt), 1e-12)
    return CameraMetrics(
        rra={t: float((rot < t).mean()) for t in thresholds},
        rta={t: float((tra < t).mean()) for t in thresholds},
        cca={t: float((e_rigid < t / 100.0 * scale).mean()) for t in cca_thresholds},
        s_cca={t: float((e_sim < t / 100.0 * scale).mean()) for t in cca_thresholds},
        te=float(e_rigid.mean()), s_te=float(e_sim.mean()), ae=float(rot.mean()) if rot.size else 0.0,
        maa30=mean_average_accuracy(rot, tra), max_rot_err_deg=float(rot.max()) if rot.size else 0.0)
