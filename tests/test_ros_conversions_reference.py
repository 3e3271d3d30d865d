"""Identical results to ROS's own converters, where a ROS install provides them.

sensor_msgs_py (point clouds) and cv_bridge (images) are not installable from PyPI; these
tests skip, saying so, unless a ROS 2 install puts them on the path.
"""
import array
import struct

import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg", reason="needs ROS 2 sensor_msgs (ROS wheels or a ROS install)")
from sensor_msgs.msg import PointCloud2, PointField  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from hamst3r_ros.ros.conversions import (ENCODINGS, fields_from_dtype, image_to_numpy,  # noqa: E402
                                         compressed_to_numpy, numpy_to_compressed, numpy_to_image,
                                         numpy_to_pointcloud2, pointcloud2_to_numpy, scene_points_array)


def same_fields(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    for name in a.dtype.names:
        np.testing.assert_array_equal(a[name], b[name])  # NaN == NaN here


def hand_built_clouds():
    f = PointField
    padded = PointCloud2(height=1, width=2, point_step=16, row_step=32, is_bigendian=False, fields=[
        f(name="x", offset=0, datatype=f.FLOAT32, count=1), f(name="y", offset=4, datatype=f.FLOAT32, count=1),
        f(name="z", offset=8, datatype=f.FLOAT32, count=1), f(name="i", offset=12, datatype=f.UINT8, count=1)],
        data=array.array("B", struct.pack("<3fB3x", 1, 2, 3, 4) + struct.pack("<3fB3x", 5, float("nan"), 7, 8)))
    counted = PointCloud2(height=1, width=1, point_step=20, row_step=20, fields=[
        f(name="n", offset=0, datatype=f.FLOAT32, count=3), f(name="", offset=12, datatype=f.FLOAT64, count=1)],
        data=array.array("B", struct.pack("<3fd", 1, 2, 3, 4.5)))
    return [padded, counted]


def test_reading_matches_sensor_msgs_py():
    pc2 = pytest.importorskip("sensor_msgs_py.point_cloud2", reason="sensor_msgs_py comes with a ROS 2 install")
    for msg in hand_built_clouds():
        same_fields(pointcloud2_to_numpy(msg), pc2.read_points(msg))


def test_writing_matches_sensor_msgs_py():
    pc2 = pytest.importorskip("sensor_msgs_py.point_cloud2", reason="sensor_msgs_py comes with a ROS 2 install")
    from helpers_results import scene_result as scene

    pts = scene_points_array(scene(np.random.default_rng(0).random((100, 3)), np.full(100, 2.0)))
    header = Header(frame_id="world")
    ours = numpy_to_pointcloud2(pts, header=header)
    theirs = pc2.create_cloud(header, fields_from_dtype(pts.dtype), pts)
    assert ours == theirs
    same_fields(pointcloud2_to_numpy(ours), pc2.read_points(theirs))


def _bridge():
    pytest.importorskip("cv2", reason="cv_bridge needs OpenCV (comes with a ROS 2 install)")
    cv_bridge = pytest.importorskip("cv_bridge", reason="cv_bridge comes with a ROS 2 install")
    return cv_bridge.CvBridge()


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_images_match_cv_bridge(encoding):
    bridge = _bridge()
    dtype, ch = ENCODINGS[encoding]
    a = (np.random.default_rng(3).random((4, 6) if ch == 1 else (4, 6, ch)) * 200).astype(dtype)
    ours = numpy_to_image(a, encoding)
    theirs = bridge.cv2_to_imgmsg(a, encoding)
    assert (ours.height, ours.width, ours.encoding, ours.step, ours.is_bigendian) == \
        (theirs.height, theirs.width, theirs.encoding, theirs.step, theirs.is_bigendian)
    assert bytes(ours.data) == bytes(theirs.data)
    # Reading a padded message (step longer than a row by two pixels: cv_bridge computes the
    # row length as step / pixel size, so it misreads padding that is not whole pixels, which
    # image_to_numpy reads correctly; test_rgb8_with_row_padding covers that case).
    pad_bytes = 2 * ch * dtype.itemsize
    pad = numpy_to_image(a, encoding)
    pad.step += pad_bytes
    rows = np.frombuffer(bytes(ours.data), np.uint8).reshape(4, -1)
    pad.data = array.array("B", np.hstack([rows, np.zeros((4, pad_bytes), np.uint8)]).tobytes())
    for msg in (ours, pad):
        mine, ref = image_to_numpy(msg), bridge.imgmsg_to_cv2(msg, "passthrough")
        assert mine.dtype == ref.dtype and mine.shape == ref.shape
        np.testing.assert_array_equal(mine, ref)


@pytest.mark.parametrize("encoding,fmt", [("rgb8", "png"), ("mono8", "png"), ("mono16", "png"), ("rgba8", "png"),
                                          ("rgb8", "jpeg"), ("mono8", "jpeg")])
def test_decoding_matches_cv_bridge(encoding, fmt):
    bridge = _bridge()
    shape = {"rgb8": (48, 64, 3), "rgba8": (48, 64, 4)}.get(encoding, (48, 64))
    dtype = np.uint16 if encoding == "mono16" else np.uint8
    v, u = np.mgrid[0:48, 0:64]
    smooth = (u * 3 + v * 2)[..., None] if len(shape) == 3 else u * 3 + v * 2
    noise = np.random.default_rng(4).integers(0, 20, shape)
    a = np.clip(smooth + noise, 0, 255).astype(dtype) * (257 if encoding == "mono16" else 1)
    msg = numpy_to_compressed(a.astype(dtype), encoding, fmt)
    mine, _ = compressed_to_numpy(msg)
    ref = bridge.compressed_imgmsg_to_cv2(msg, "passthrough")  # OpenCV order: BGR(A)
    if mine.ndim == 3:
        ref = ref[:, :, [2, 1, 0, 3][: mine.shape[2]]]
    np.testing.assert_array_equal(mine, ref)


def test_read_points_skip_nans_keeps_every_published_point():
    pc2 = pytest.importorskip("sensor_msgs_py.point_cloud2", reason="sensor_msgs_py comes with a ROS 2 install")
    from helpers_results import scene_result as scene

    from hamst3r_ros.ros.conversions import scene_to_pointcloud2

    r = scene(np.random.default_rng(0).random((100, 3)), np.full(100, 2.0))  # one point on a body
    cloud = scene_to_pointcloud2(r, "world")
    assert len(pc2.read_points(cloud, skip_nans=True)) == len(pc2.read_points(cloud)) == 100
