"""sim_cameras: recordings (folder of images, synthetic scenes) published like camera drivers."""
import numpy as np
import pytest
import yaml
from PIL import Image as PILImage

from hamst3r_ros.recordings import FolderRecording, read_calibration


def _write_folder(root, cams=("cam0", "cam1"), frames=3, h=24, w=32, calib=True):
    for c, name in enumerate(cams):
        d = root / name
        d.mkdir(parents=True)
        for k in range(frames):
            img = np.zeros((h, w, 3), np.uint8)
            img[..., 0] = 10 * c
            img[..., 1] = k
            img[..., 2] = np.arange(w)[None, :]
            PILImage.fromarray(img).save(d / f"{k:04d}.png")
        if calib:
            (d / "camera_info.yaml").write_text(yaml.safe_dump({
                "image_width": w, "image_height": h, "camera_name": name,
                "camera_matrix": {"rows": 3, "cols": 3,
                                  "data": [30.0 + c, 0, 15.5, 0, 30.0 + c, 11.5, 0, 0, 1]},
                "distortion_model": "plumb_bob",
                "distortion_coefficients": {"rows": 1, "cols": 5, "data": [0.1, 0, 0, 0, 0]}}))
    return root


def test_folder_recording_reads_images_and_calibration(tmp_path):
    rec = FolderRecording(_write_folder(tmp_path), preload=False)
    assert [c.name for c in rec.cameras] == ["cam0", "cam1"] and rec.num_frames == 3
    assert rec.cameras[1].K[0, 0] == 31.0 and rec.cameras[1].D[0] == 0.1
    imgs = rec.frame(2)
    assert imgs[1].shape == (24, 32, 3) and imgs[1][0, 5].tolist() == [10, 2, 5]
    only = FolderRecording(tmp_path, cameras=["cam1"])
    assert [c.name for c in only.cameras] == ["cam1"]


def test_folder_without_calibration_is_uncalibrated(tmp_path):
    rec = FolderRecording(_write_folder(tmp_path, calib=False))
    assert all(c.K is None for c in rec.cameras)


def test_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        FolderRecording(tmp_path / "nope")
    with pytest.raises(ValueError, match="no sub-folder with"):
        FolderRecording(tmp_path)
    _write_folder(tmp_path)
    with pytest.raises(ValueError, match=r"\['camX'\]"):
        FolderRecording(tmp_path, cameras=["camX"])
    (tmp_path / "cam0" / "camera_info.yaml").write_text("image_width: 10\n")
    with pytest.raises(ValueError, match="not a ROS camera calibration file"):
        FolderRecording(tmp_path)
    calib = tmp_path / "c.yaml"
    calib.write_text(yaml.safe_dump({"image_width": 64, "image_height": 48,
                                     "camera_matrix": {"data": [30, 0, 1, 0, 30, 1, 0, 0, 1]}}))
    assert read_calibration(calib, "x").width == 64
    (tmp_path / "cam0" / "camera_info.yaml").write_text(calib.read_text())
    with pytest.raises(ValueError, match="is for 64x48 images but cam0's images are 32x24"):
        FolderRecording(tmp_path)


def test_sim_config_and_parameters_are_checked_without_ros():
    from pathlib import Path

    from hamst3r_ros.ros.params import ParameterError, load_params_file
    from hamst3r_ros.ros.sim_params import validate_sim

    config = load_params_file(str(Path(__file__).resolve().parents[1] / "config" / "sim_cameras.yaml"), "sim_cameras")
    p = validate_sim(config)  # every key of the shipped file is declared and valid
    assert p.source == "synthetic" and p.stamps == "keep" and p.rate == 1.0
    with pytest.raises(ParameterError, match=r"^sim_cameras: unknown parameter 'fps' \(known: source, .*\); "
                                             r"parameter 'rate' = 'x' must be a number$"):
        validate_sim({"fps": 3, "rate": "x"})
    with pytest.raises(ParameterError, match=r"parameter 'stamps' = 'later' must be one of \['keep', 'now'\]"):
        validate_sim({"source": "synthetic", "stamps": "later"})


# ---------------------------------------------------------------------------- with ROS

@pytest.fixture
def sim_ros(ros):
    pytest.importorskip("sensor_msgs", reason="needs ROS 2 sensor_msgs")
    return ros


def _start(ros, params, recording=None):
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    from conftest import unique_name, wait_for
    from hamst3r_ros.ros.sim_cameras import make_node

    ns = "/" + unique_name("sim")
    # Manual triggering (huge period): the test publishes when everyone is listening.
    overrides = [Parameter(k, value=v) for k, v in {"rate_hz": 0.001, **params}.items()]
    sim = make_node(recording, context=ros.context, namespace=ns, parameter_overrides=overrides)
    ros.add_node(sim)
    listener = ros.node("listener", namespace=ns)
    got = {}
    for cam in sim.recording.cameras:
        if params.get("compressed"):
            got[cam.name] = ros.collect(listener, CompressedImage, f"{cam.name}/image_raw/compressed")
        else:
            got[cam.name] = ros.collect(listener, Image, f"{cam.name}/image_raw")
        got[cam.name + "/info"] = ros.collect(listener, CameraInfo, f"{cam.name}/camera_info")
    wait_for(lambda: sim.image_subscribers() >= 1 and all(
        p.get_subscription_count() >= 1 for _, _, p in sim._pubs), what="listener matched")
    return sim, got, wait_for


@pytest.mark.ros
def test_publishes_each_camera_like_a_driver(sim_ros, tmp_path):
    from hamst3r_ros.ros.conversions import camera_info_to_K, image_to_rgb8, stamp_to_ns

    sim, got, wait_for = _start(sim_ros, {"folder": str(_write_folder(tmp_path)), "count": 4,
                                         "encoding": "bgr8"})
    for k in range(4):
        sim.publish_next()
        wait_for(lambda: all(len(got[c]) == k + 1 for c in ("cam0", "cam1", "cam0/info")),
                 what=f"frame set {k}")
    assert sim.done and sim.published == 4
    sim.publish_next()  # done: nothing more
    for c, idx in (("cam0", 0), ("cam1", 1)):
        imgs, infos = got[c], got[c + "/info"]
        assert [m.header.frame_id for m in imgs] == [f"{c}_optical_frame"] * 4
        assert all(m.encoding == "bgr8" for m in imgs)
        # The recording loops: frame 3 is frame 0 again; pixels survive bgr8 and back.
        assert [int(image_to_rgb8(m)[0, 0, 1]) for m in imgs] == [0, 1, 2, 0]
        assert image_to_rgb8(imgs[1])[0, 7].tolist() == [10 * idx, 1, 7]
        assert [i.header.stamp for i in infos] == [m.header.stamp for m in imgs]
        assert camera_info_to_K(infos[0])[0, 0] == 30.0 + idx and infos[0].d[0] == 0.1
    # Stamps: one trigger instant per set, shared by both cameras, increasing.
    stamps = [stamp_to_ns(m.header.stamp) for m in got["cam0"]]
    assert stamps == sorted(set(stamps))
    assert stamps == [stamp_to_ns(m.header.stamp) for m in got["cam1"]]


@pytest.mark.ros
def test_compressed_png_with_jitter(sim_ros, tmp_path):
    from hamst3r_ros.ros.conversions import compressed_to_rgb8, stamp_to_ns

    sim, got, wait_for = _start(sim_ros, {"folder": str(_write_folder(tmp_path, calib=False)),
                                         "compressed": "png", "jitter_ms": 5.0, "loop": False})
    for k in range(4):
        sim.publish_next()
    wait_for(lambda: sim.done and len(got["cam1"]) == 3, what="3 sets then done (no loop)")
    assert got["cam1"][2].format.startswith("png")
    assert compressed_to_rgb8(got["cam1"][2])[0, 3].tolist() == [10, 2, 3]
    spread = [abs(stamp_to_ns(a.header.stamp) - stamp_to_ns(b.header.stamp))
              for a, b in zip(got["cam0"], got["cam1"])]
    assert max(spread) <= 10_000_000 and max(spread) > 0
    assert list(got["cam0/info"][0].k) == [0.0] * 9  # uncalibrated (REP-104)


@pytest.mark.ros
def test_synthetic_scene_source(sim_ros):
    pytest.importorskip("open3d", reason="synthetic scenes need open3d-cpu")
    pytest.importorskip("anny", reason="synthetic scenes need anny")
    from hamst3r_ros.ros.conversions import camera_info_to_K, image_to_rgb8

    sim, got, wait_for = _start(sim_ros, {"source": "synthetic", "synthetic_cameras": 2,
                                         "synthetic_people": 1, "synthetic_frames": 2,
                                         "width": 64, "height": 48, "count": 2})
    for k in range(2):
        sim.publish_next()
    wait_for(lambda: len(got["cam1"]) == 2 and len(got["cam1/info"]) == 2, what="2 sets")
    assert [c.name for c in sim.recording.cameras] == ["cam0", "cam1"]
    assert np.allclose(camera_info_to_K(got["cam1/info"][0]), sim.recording.cameras[1].K)
    assert np.array_equal(image_to_rgb8(got["cam0"][1]), sim.recording.frame(1)[0])
    # A rendered room with a person is not a blank picture.
    assert image_to_rgb8(got["cam0"][0]).std() > 5


@pytest.mark.ros
def test_bad_parameters_are_clear_errors(tmp_path):
    pytest.importorskip("rclpy", reason="needs ROS 2 rclpy")
    import rclpy
    from rclpy.parameter import Parameter

    from hamst3r_ros.ros.sim_cameras import make_node

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        for params, match in (({"source": "video"}, r"sim_cameras: parameter 'source' = 'video' must be one of "
                                                    r"\['folder', 'synthetic', 'bag'\]"),
                              ({"folder": ""}, "needs the parameter 'folder'"),
                              ({"source": "bag"}, "needs the parameter 'bag'"),
                              ({"source": "bag", "bag": str(tmp_path / "no.mcap")}, "'bag' = .* names nothing"),
                              ({"folder": str(tmp_path), "rate_hz": 0.0}, "'rate_hz' = 0.0 must be > 0"),
                              ({"folder": str(tmp_path), "compressed": "gif"}, "'compressed' = 'gif' must be one of"),
                              ({"folder": str(tmp_path), "rate": "fast"}, "'rate' = 'fast' must be a number")):
            with pytest.raises(ValueError, match=match):
                make_node(context=ctx, parameter_overrides=[
                    Parameter(k, value=v) for k, v in params.items()])
    finally:
        rclpy.try_shutdown(context=ctx)
