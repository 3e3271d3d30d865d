"""The pipeline honours lens distortion: its output on raw images through a distorting lens
(with their LensDistortion) matches its output on the pinhole renders of the same scene, and
ignoring the lens does not. Tiny randomly initialised network, as tests/test_pipeline.py."""
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

from hamst3r_ros.model.hamst3r import build_model  # noqa: E402
from hamst3r_ros.pipeline import Hamst3rPipeline, PipelineConfig  # noqa: E402
from hamst3r_ros.types import CameraFrame, FrameSet  # noqa: E402
from test_geometry_distortion import LENSES, render_raw  # noqa: E402


def _relative_poses(res):
    """(N, 4, 4) poses of every camera in camera 0's frame, translations divided by the rig's
    size (the unposed output's scale is arbitrary)."""
    T0inv = np.linalg.inv(res.T_fixed_cam[0])
    rel = np.einsum("ij,njk->nik", T0inv, res.T_fixed_cam)
    size = np.linalg.norm(rel[:, :3, 3], axis=1).max()
    rel[:, :3, 3] /= size
    return rel


def _difference(a, b):
    """How far apart two runs' outputs are: the largest rotation (deg) and camera centre (m)
    difference, the largest relative focal difference, and the median over every pixel of
    every view of the distance between the two runs' 3D points of that pixel (the aligned
    pointmaps the cloud is fused from, fixed frame), relative to the median depth."""
    (ra, pa), (rb, pb) = a, b
    cos = (np.einsum("nij,nij->n", ra.T_fixed_cam[:, :3, :3], rb.T_fixed_cam[:, :3, :3]) - 1) / 2
    rot = np.degrees(np.arccos(np.clip(cos, -1, 1))).max()
    centre = np.linalg.norm(ra.T_fixed_cam[:, :3, 3] - rb.T_fixed_cam[:, :3, 3], axis=1).max()
    focal = np.abs(ra.K[:, 0, 0] / rb.K[:, 0, 0] - 1).max()
    dist, depth = [], []
    for v in range(len(ra.camera_names)):
        P, Q = np.asarray(pa.points[v]).reshape(-1, 3), np.asarray(pb.points[v]).reshape(-1, 3)
        dist.append(np.linalg.norm(P - Q, axis=1))
        depth.append(np.linalg.norm(Q - rb.T_fixed_cam[v, :3, 3], axis=1))
    points = float(np.median(np.concatenate(dist)) / np.median(np.concatenate(depth)))
    return dict(rot_deg=float(rot), centre_m=float(centre), focal=float(focal), points=points)


@pytest.fixture(scope="module")
def scene():
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    return SyntheticScene(SceneConfig(seed=3, num_cameras=3, num_people=0, width=160, height=128, nthreads=1))


@pytest.mark.parametrize("model", ["plumb_bob", "equidistant"])
def test_pipeline_output_with_distorted_input_matches_undistorted_input(scene, model):
    d = LENSES[model]
    raws, _ = render_raw(scene, d)
    names = [f"cam{k}" for k in range(len(raws))]
    K = scene.intrinsics[0].K
    stamp = scene.stamp_of(0)
    raw_set = FrameSet([CameraFrame(n, im, stamp, f"{n}_optical_frame", K=K.copy(), distortion=d)
                        for n, im in zip(names, raws)], stamp)
    ignored = FrameSet([CameraFrame(n, im, stamp, f"{n}_optical_frame", K=K.copy()) for n, im in zip(names, raws)], stamp)

    # A posed rig (known extrinsics, as on a calibrated robot): the randomly initialised
    # network's unposed pose solution swings with any change of its input, the cloud (its
    # depths through each camera's intrinsics) is what the lens changes.
    extrinsics = {n: T for n, T in zip(names, scene.camera_poses(0.0))}

    def run(fs):
        pipe = Hamst3rPipeline(build_model("hamst3r_tiny", seed=0), PipelineConfig(min_confidence=0.0, extrinsics=extrinsics))
        return pipe.process(fs), pipe.last_alignment

    got = run(raw_set)
    assert "undistort" in got[0].timings_s
    # The pinhole renders at the intrinsics the pipeline used for the undistorted images.
    K_new = got[0].K[0]
    from test_geometry_distortion import _pinhole_render

    T = scene.camera_poses(0.0)
    pinhole = FrameSet([CameraFrame(n, _pinhole_render(scene, [], K_new, T[k]), stamp, f"{n}_optical_frame",
                                    K=K_new.copy()) for k, n in enumerate(names)], stamp)
    want = run(pinhole)
    lens_ignored = run(ignored)
    assert np.allclose(got[0].K, want[0].K, rtol=1e-6)  # the prior is the undistorted K, honoured
    diff = _difference(got, want)
    control = _difference(lens_ignored, want)
    print(f"\n{model}: pipeline output, distorted input vs pinhole input: {diff}; lens ignored: {control}")
    assert diff["rot_deg"] < 1e-3 and diff["centre_m"] < 1e-6  # the rig is posed (arccos rounding)
    assert diff["points"] < 0.5 * control["points"]
