"""Lens distortion (hamst3r_ros.geometry.distortion): the models, the inverse maps, the cache,
and undistortion of images rendered through a distorting lens against the pinhole render."""
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

from hamst3r_ros.geometry.distortion import (MODELS, Undistorter, build_undistort_map, make_distortion,  # noqa: E402
                                             project, remap, undistort_points, undistorted_camera_matrix)
from hamst3r_ros.types import CameraFrame, LensDistortion  # noqa: E402

#: Lenses of real robot cameras, roughly: a wide-angle plumb_bob (barrel), a rational model
#: (as Azure Kinect / some drivers publish), and a fisheye (equidistant; with K_RAW about 60
#: degrees across; WIDE_FISHEYE_HFOV_DEG below renders it at about 110 degrees).
LENSES = {
    "plumb_bob": LensDistortion("plumb_bob", (-0.28, 0.09, 0.0012, -0.0009, -0.012)),
    "rational_polynomial": LensDistortion("rational_polynomial", (0.45, -0.05, 0.0008, -0.0006, 0.01, 0.75, 0.02, 0.01)),
    "equidistant": LensDistortion("equidistant", (0.02, -0.01, 0.004, -0.001)),
}
WIDE_FISHEYE_HFOV_DEG = 106.0  # of the raw K: past 120 degrees once the lens is undone
K_RAW = np.array([[140.0, 0.0, 80.3], [0.0, 138.0, 63.2], [0.0, 0.0, 1.0]])
SIZE = (160, 128)


def test_make_distortion_validates_and_knows_a_pinhole():
    assert make_distortion("plumb_bob", []) is None
    assert make_distortion("plumb_bob", [0.0] * 5) is None
    assert make_distortion("", []) is None  # drivers that leave the model empty with no D
    assert make_distortion("plumb_bob", [0.1, 0, 0, 0, 0]) == LensDistortion("plumb_bob", (0.1, 0.0, 0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="'kannala' is not supported"):
        make_distortion("kannala", [0.1, 0, 0, 0])
    with pytest.raises(ValueError, match="'plumb_bob' takes 5 coefficients, got 4"):
        make_distortion("plumb_bob", [0.1, 0, 0, 0])
    with pytest.raises(ValueError, match="'equidistant' takes 4 coefficients, got 5"):
        make_distortion("equidistant", [0.1, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="finite"):
        make_distortion("plumb_bob", [float("nan"), 0, 0, 0, 0])
    assert set(MODELS) == set(LENSES)


@pytest.mark.parametrize("model", list(LENSES))
def test_inverse_and_forward_models_agree(model):
    d = LENSES[model]
    rng = np.random.default_rng(1)
    uv = rng.uniform([0, 0], [SIZE[0] - 1, SIZE[1] - 1], (500, 2))
    xy, ok = undistort_points(uv, K_RAW, d)
    assert ok.all()
    assert np.abs(project(xy, K_RAW, d) - uv).max() < 1e-6
    # and the map built from the forward model lands where the inverse says
    m = build_undistort_map(K_RAW, SIZE, d)
    v = np.isfinite(m.map_x)
    src = np.stack([m.map_x[v], m.map_y[v]], 1).astype(np.float64)
    xy, ok = undistort_points(src, K_RAW, d)
    uu, vv = np.meshgrid(np.arange(SIZE[0]), np.arange(SIZE[1]))
    want = np.stack([uu[v], vv[v]], 1)
    got = xy @ m.K[:2, :2].T + m.K[:2, 2]
    err = np.linalg.norm(got - want, axis=1)
    # float32 map coordinates: ~1e-5 px of rounding
    assert ok.all() and np.percentile(err, 99) < 1e-3, (np.median(err), np.percentile(err, 99))


def test_new_camera_matrix_keeps_K_or_the_fisheye_field_of_view():
    assert np.array_equal(undistorted_camera_matrix(K_RAW, SIZE, LENSES["plumb_bob"]), K_RAW)
    assert np.array_equal(undistorted_camera_matrix(K_RAW, SIZE, None), K_RAW)
    Kf = undistorted_camera_matrix(K_RAW, SIZE, LENSES["equidistant"])
    assert Kf[0, 0] < K_RAW[0, 0] and np.isclose(Kf[0, 0] / K_RAW[0, 0], Kf[1, 1] / K_RAW[1, 1])
    assert np.array_equal(Kf[:2, 2], K_RAW[:2, 2])
    # the ray at the output's horizontal edge is the ray at the raw image's edge
    half = SIZE[0] / 2
    theta_out = np.arctan(half / Kf[0, 0])
    edge, ok = undistort_points(np.array([[K_RAW[0, 2] + half, K_RAW[1, 2]]]), K_RAW, LENSES["equidistant"])
    assert ok.all() and abs(np.arctan(np.linalg.norm(edge)) - theta_out) < 2e-3
    # a strong fisheye (> 120 degrees across) is capped at 120 degrees
    wide = np.array([[40.0, 0, 80], [0, 40.0, 64], [0, 0, 1]])
    Kw = undistorted_camera_matrix(wide, SIZE, LensDistortion("equidistant", (0.0, 0.0, 0.0, 1e-9)))
    assert np.isclose(np.degrees(2 * np.arctan(half / Kw[0, 0])), 120.0, atol=0.1)


@pytest.mark.parametrize("model", list(LENSES))
def test_maps_match_opencv(model):
    cv2 = pytest.importorskip("cv2", reason="the cross-check needs opencv-python-headless (requirements.txt)")
    d = LENSES[model]
    m = build_undistort_map(K_RAW, SIZE, d)
    D = np.array(d.coeffs)
    if model == "equidistant":
        mx, my = cv2.fisheye.initUndistortRectifyMap(K_RAW, D, np.eye(3), m.K, SIZE, cv2.CV_32FC1)
    else:
        mx, my = cv2.initUndistortRectifyMap(K_RAW, D, np.eye(3), m.K, SIZE, cv2.CV_32FC1)
    v = np.isfinite(m.map_x)
    assert v.mean() > 0.9
    assert np.hypot(mx - m.map_x, my - m.map_y)[v].max() < 1e-3
    img = np.random.default_rng(0).integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
    ref = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    # inside the source (OpenCV blends the outer half pixel with the border constant; we
    # read the edge pixel there)
    inner = (m.map_x >= 0) & (m.map_x <= SIZE[0] - 1) & (m.map_y >= 0) & (m.map_y <= SIZE[1] - 1)
    assert np.abs(remap(img, m).astype(int) - ref)[inner].max() <= 1  # rounding


def test_undistorter_caches_one_map_per_camera_size_and_coefficients():
    und = Undistorter(max_maps=2)
    img = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    f = CameraFrame("cam0", img, 0, "cam0_optical_frame", K=K_RAW.copy(), distortion=LENSES["plumb_bob"])
    out = und.frame(f)
    assert out.distortion is None and out.image.shape == img.shape and np.array_equal(out.K, K_RAW)
    und.frame(CameraFrame("cam0", img.copy(), 1, "cam0_optical_frame", K=K_RAW.copy(), distortion=LENSES["plumb_bob"]))
    assert und.maps_built == 1
    und.frame(CameraFrame("cam0", img, 2, "f", K=K_RAW, distortion=LENSES["rational_polynomial"]))
    und.frame(CameraFrame("cam0", img[:64, :80], 3, "f", K=K_RAW / 2, distortion=LENSES["rational_polynomial"]))
    assert und.maps_built == 3 and len(und._maps) == 2  # bounded
    pinhole = CameraFrame("cam1", img, 0, "f", K=K_RAW)
    assert und.frame(pinhole) is pinhole
    no_K = CameraFrame("cam1", img, 0, "f", distortion=LENSES["plumb_bob"])
    assert und.frame(no_K) is no_K  # nothing to undistort with
    with pytest.raises(ValueError, match="map is for"):
        remap(img[:10], und.map_for(K_RAW, SIZE, LENSES["plumb_bob"]))


def _scene(hfov_deg):
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    return SyntheticScene(SceneConfig(seed=5, num_cameras=2, num_people=1, width=SIZE[0], height=SIZE[1],
                                      hfov_deg=hfov_deg, nthreads=1))


@pytest.fixture(scope="module")
def scene():
    return _scene(70.0)


def render_raw(scene, d: LensDistortion, index: int = 0):
    """The raw images the scene's cameras take through lens ``d`` (same K as the scene's
    pinhole cameras), rendered directly: each pixel's ray is the lens model's inverse."""
    from hamst3r_ros.synthetic.cameras import lens_directions
    from hamst3r_ros.synthetic.effects import apply_camera_effects
    from hamst3r_ros.synthetic.render import BodyMesh, RaycastRenderer

    renderer = RaycastRenderer(scene.room, nthreads=1)
    for intr in set(scene.intrinsics):
        renderer.set_ray_directions(intr, lens_directions(intr, d))
    out, _ = scene.pose_people(scene.time_of(index))
    bodies = [BodyMesh(p.person_id, v, scene._faces, p.vertex_colors, scene.template.coords)
              for p, v in zip(scene.people, out.vertices.numpy())] if out is not None else []
    views = renderer.render(bodies, list(zip(scene.intrinsics, scene.camera_poses(scene.time_of(index)))))
    return [apply_camera_effects(v.color, np.random.default_rng(0), 0.0, 0.0, 0.0) for v in views], bodies


def _pinhole_render(scene, bodies, K, T):
    from hamst3r_ros.synthetic.cameras import Intrinsics
    from hamst3r_ros.synthetic.effects import apply_camera_effects

    intr = Intrinsics(SIZE[0], SIZE[1], K[0, 0], K[1, 1], K[0, 2], K[1, 2])
    return apply_camera_effects(scene.renderer.render(bodies, [(intr, T)])[0].color, np.random.default_rng(0), 0.0, 0.0, 0.0)


def _errors(image, reference, valid):
    """Per-pixel intensity error (0-255, the largest over R, G, B) where ``valid``."""
    return np.abs(image.astype(int) - reference).max(-1)[valid]


@pytest.fixture(scope="module")
def resampling_floor(scene):
    """What bilinear resampling alone costs on these renders (one ray per pixel of a finely
    tiled texture aliases): the pinhole render at K, rebuilt by resampling a render whose
    principal point is shifted by (0.37, 0.61) px. Undistortion resamples the same way, so
    its error should be of this size, not more."""
    K = scene.intrinsics[0].K
    K_shift = K.copy()
    K_shift[:2, 2] += (0.37, 0.61)
    T = scene.camera_poses(0.0)
    errs = []
    for k in range(len(T)):
        m = build_undistort_map(K_shift, SIZE, None, K_new=K)
        back = remap(_pinhole_render(scene, [], K_shift, T[k]), m)
        errs.append(_errors(back, _pinhole_render(scene, [], K, T[k]), np.isfinite(m.map_x)))
    e = np.concatenate(errs)
    return {"median": float(np.median(e)), "p90": float(np.percentile(e, 90)), "p99": float(np.percentile(e, 99))}


@pytest.mark.parametrize("model", [*LENSES, "wide_fisheye"])
def test_undistorted_render_matches_the_pinhole_render(scene, resampling_floor, model):
    """Render through the lens, undistort, compare with the pinhole render at the undistorted
    K: the error is that of bilinear resampling alone (``resampling_floor``); ignoring the lens
    is far worse (so the test can fail). ``wide_fisheye``: the fisheye lens behind a raw K of
    WIDE_FISHEYE_HFOV_DEG, whose undistorted image is capped at 120 degrees across."""
    d = LENSES["equidistant" if model == "wide_fisheye" else model]
    if model == "wide_fisheye":
        scene = _scene(WIDE_FISHEYE_HFOV_DEG)
    raws, bodies = render_raw(scene, d)
    intr = scene.intrinsics[0]
    und = Undistorter()
    T = scene.camera_poses(0.0)
    errs, raw_errs = [], []
    for k, raw in enumerate(raws):
        f = und.frame(CameraFrame(f"cam{k}", raw, 0, "f", K=intr.K, distortion=d))
        pin = _pinhole_render(scene, bodies, f.K, T[k])
        valid = np.isfinite(und.map_for(intr.K, SIZE, d).map_x)
        errs.append(_errors(f.image, pin, valid))
        raw_errs.append(_errors(raw, pin, valid))
    e, e_raw = np.concatenate(errs), np.concatenate(raw_errs)
    stats = dict(valid=float(valid.mean()), median=float(np.median(e)), p90=float(np.percentile(e, 90)),
                 p99=float(np.percentile(e, 99)), lens_ignored_median=float(np.median(e_raw)),
                 lens_ignored_p90=float(np.percentile(e_raw, 90)))
    print(f"\n{model}: undistorted vs pinhole render, intensity error 0-255 (max over RGB): {stats}; "
          f"resampling alone: {resampling_floor}")
    assert stats["valid"] > (0.9 if model == "wide_fisheye" else 0.95)
    if model == "wide_fisheye":
        assert np.isclose(np.degrees(2 * np.arctan(SIZE[0] / 2 / f.K[0, 0])), 120.0, atol=0.1)
    assert stats["median"] <= 1.5 * resampling_floor["median"] + 1
    assert stats["p90"] <= 1.5 * resampling_floor["p90"] + 1
    assert stats["lens_ignored_p90"] > 3 * stats["p90"]
