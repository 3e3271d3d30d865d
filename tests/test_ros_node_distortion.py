"""hamst3r_node with lens distortion in CameraInfo (real rclpy): the distortion travels with
each camera's frames to the pipeline; an unknown model or a wrong coefficient count is bad
camera_info of that camera only, logged once, counted, and its images are skipped until a
usable camera_info arrives."""
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="needs ROS 2 rclpy (wheels or a ROS install)")
pytest.importorskip("hamst3r_msgs", reason="needs hamst3r_msgs built (scripts/build_interfaces.sh)")

from conftest import wait_for  # noqa: E402
from hamst3r_ros.ros.conversions import K_to_camera_info, numpy_to_image  # noqa: E402
from hamst3r_ros.types import LensDistortion  # noqa: E402
from test_ros_node import Rig  # noqa: E402

pytestmark = pytest.mark.ros
K = np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]])
FISHEYE = (0.02, -0.01, 0.004, -0.001)
PLUMB_BOB = (-0.2, 0.05, 0.001, 0.0, 0.0)


def test_camera_info_distortion_reaches_the_pipeline_and_bad_models_drop_that_camera(ros):
    rig = Rig(ros, min_cameras=2, camera_timeout_s=0.5)
    infos = {
        "cam0": K_to_camera_info(K, 64, 48, "cam0_optical_frame", distortion_model="equidistant", d=FISHEYE),
        "cam1": K_to_camera_info(K, 64, 48, "cam1_optical_frame", distortion_model="plumb_bob", d=PLUMB_BOB),
        "cam2": K_to_camera_info(K, 64, 48, "cam2_optical_frame"),  # zero D: an ideal pinhole
    }
    for c, info in infos.items():
        rig.info_pubs[c].publish(info)
    wait_for(lambda: len(rig.node._camera_info) == 3, what="camera_info")
    rig.send_set_paced(0)
    wait_for(lambda: len(rig.pipeline.seen) >= 1, what="a frame set")
    frames = {f.name: f for f in rig.pipeline.seen[-1].frames}
    assert frames["cam0"].distortion == LensDistortion("equidistant", FISHEYE)
    assert frames["cam1"].distortion == LensDistortion("plumb_bob", PLUMB_BOB)
    assert frames["cam2"].distortion is None
    assert all(np.allclose(f.K, K) for f in frames.values())  # raw K: the pipeline undistorts

    # An unknown model on cam2: counted, logged once, cam2's images skipped; the others go on.
    rig.info_pubs["cam2"].publish(K_to_camera_info(K, 64, 48, "cam2_optical_frame",
                                                   distortion_model="kannala_brandt", d=FISHEYE))
    wait_for(lambda: rig.node.diag.bad_counts("cam2")["camera_info"] == 1, what="bad model counted")
    n = len(rig.pipeline.seen)
    k = 1
    # cam2 goes absent after camera_timeout_s of stamp time (sets are 50 ms apart)
    while k < 40 and not (len(rig.pipeline.seen) > n and "cam2" not in rig.pipeline.seen[-1].names):
        rig.send_set_paced(k)
        k += 1
    assert "cam2" not in rig.pipeline.seen[-1].names, "no frame set without cam2"
    assert rig.node.diag.bad_counts("cam2")["camera_info"] >= 2  # the info and each skipped image
    # A wrong coefficient count on cam1 is the same kind of bad input.
    rig.info_pubs["cam1"].publish(K_to_camera_info(K, 64, 48, "cam1_optical_frame", distortion_model="plumb_bob",
                                                   d=PLUMB_BOB[:4]))
    wait_for(lambda: rig.node.diag.bad_counts("cam1")["camera_info"] == 1, what="wrong count counted")
    lines = [m for lvl, m in rig.logs.lines if lvl == "warning" and "camera_info" in m]
    assert len([m for m in lines if "cam2" in m]) == 1 and "'kannala_brandt' is not supported" in lines[0]
    assert any("cam1" in m and "takes 5 coefficients, got 4" in m for m in lines)
    # A usable camera_info brings cam2 back.
    rig.info_pubs["cam2"].publish(infos["cam2"])
    rig.info_pubs["cam1"].publish(infos["cam1"])
    wait_for(lambda: "cam2" not in rig.node._lens_error and "cam1" not in rig.node._lens_error, what="good info")
    for k in range(k, k + 20):
        rig.send_set_paced(k)
        if set(rig.pipeline.seen[-1].names) == {"cam0", "cam1", "cam2"}:
            break
    assert set(rig.pipeline.seen[-1].names) == {"cam0", "cam1", "cam2"}, "cam2 did not come back"
    assert rig.pipeline.seen[-1].frames[1].distortion == LensDistortion("plumb_bob", PLUMB_BOB)

    # An image whose size disagrees with cam0's calibration (another aspect ratio): its K is
    # unusable, and a fisheye image without K cannot be undistorted: skipped, counted.
    before = rig.node.diag.bad_counts("cam0")["camera_info"]
    n = len(rig.pipeline.seen)
    odd = numpy_to_image(np.zeros((64, 64, 3), np.uint8), "rgb8")
    k += 1
    rig.send("cam0", k, msg=odd)
    rig.send_set_paced(k, cams=["cam1", "cam2"])
    rig.send_set_paced(k + 1)
    wait_for(lambda: rig.node.diag.bad_counts("cam0")["camera_info"] == before + 1, what="odd size counted")
    wait_for(lambda: len(rig.pipeline.seen) > n, what="the next frame set")
    assert all(f.image.shape == (48, 64, 3) for fs in rig.pipeline.seen for f in fs.frames)
