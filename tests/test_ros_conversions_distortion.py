"""CameraInfo -> LensDistortion (hamst3r_ros.ros.conversions.camera_info_to_distortion)."""
import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg", reason="needs ROS 2 sensor_msgs (ROS wheels or a ROS install)")

from sensor_msgs.msg import CameraInfo  # noqa: E402

from hamst3r_ros.ros.conversions import ConversionError, K_to_camera_info, camera_info_to_distortion  # noqa: E402
from hamst3r_ros.types import LensDistortion  # noqa: E402

K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])


@pytest.mark.parametrize("model,d", [("plumb_bob", [-0.3, 0.1, 0.001, -0.002, -0.02]),
                                     ("rational_polynomial", [0.4, -0.1, 0.001, 0.0, 0.01, 0.7, 0.0, 0.02]),
                                     ("equidistant", [0.02, -0.01, 0.004, -0.001])])
def test_supported_models_convert(model, d):
    msg = K_to_camera_info(K, 640, 480, "cam_optical_frame", distortion_model=model, d=d)
    assert camera_info_to_distortion(msg) == LensDistortion(model, tuple(d))


def test_pinholes_are_none():
    assert camera_info_to_distortion(CameraInfo()) is None  # empty model and D
    assert camera_info_to_distortion(K_to_camera_info(K, 640, 480)) is None  # plumb_bob, zero D
    assert camera_info_to_distortion(K_to_camera_info(K, 640, 480, distortion_model="whatever", d=[0.0] * 3)) is None


@pytest.mark.parametrize("model,d,reason,text", [
    ("kannala_brandt", [0.1, 0, 0, 0], "camera_info", "'kannala_brandt' is not supported (expected one of plumb_bob"),
    ("", [0.1, 0, 0, 0, 0], "camera_info", "'' is not supported"),
    ("plumb_bob", [0.1, 0, 0, 0], "camera_info", "'plumb_bob' takes 5 coefficients, got 4"),
    ("rational_polynomial", [0.1, 0, 0, 0, 0], "camera_info", "'rational_polynomial' takes 8 coefficients, got 5"),
    ("equidistant", [0.1, 0, 0, 0, 0], "camera_info", "'equidistant' takes 4 coefficients, got 5"),
    ("plumb_bob", [float("inf"), 0, 0, 0, 0], "nan", "non-finite distortion"),
])
def test_bad_distortion_is_one_clear_conversion_error(model, d, reason, text):
    msg = K_to_camera_info(K, 640, 480, "cam3_optical_frame", distortion_model=model, d=d)
    with pytest.raises(ConversionError) as e:
        camera_info_to_distortion(msg)
    assert e.value.reason == reason and text in e.value.detail and "cam3_optical_frame" in e.value.detail
    assert "\n" not in str(e.value)
