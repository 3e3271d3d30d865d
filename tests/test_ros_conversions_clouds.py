"""PointCloud2 <-> structured arrays, the scene cloud, CameraInfo -> K, camera TFs."""
import array
import struct

import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg", reason="needs ROS 2 sensor_msgs (ROS wheels or a ROS install)")
from helpers_results import scene_result as scene  # noqa: E402
from sensor_msgs.msg import CameraInfo, PointCloud2, PointField  # noqa: E402

from hamst3r_ros.ros.conversions import (OFF_BODY, SCENE_CLOUD_DTYPE, ConversionError,  # noqa: E402
                                         K_to_camera_info, body_coords_of,
                                         camera_info_to_K, camera_transforms, numpy_to_pointcloud2, pack_rgb,
                                         pointcloud2_to_numpy, scene_to_pointcloud2, select_points, stamp_to_ns,
                                         transform_to_matrix, unpack_rgb)

F32, U8, I32 = PointField.FLOAT32, PointField.UINT8, PointField.INT32


def cloud(fields, point_step, data, h=1, w=None, row_step=None, big=False):
    w = w if w is not None else len(data) // point_step // h
    return PointCloud2(height=h, width=w, fields=[PointField(name=n, offset=o, datatype=t, count=c)
                                                  for n, o, t, c in fields],
                       is_bigendian=big, point_step=point_step, row_step=row_step or point_step * w,
                       data=array.array("B", data), is_dense=False)


def test_hand_built_cloud_with_padding_between_points():
    # x y z float32, intensity uint8 at 12, 3 bytes of padding: 16-byte points.
    data = struct.pack("<3fB3x", 1.0, 2.0, 3.0, 7) + struct.pack("<3fB3x", -1.0, 0.5, 9.0, 200)
    pts = pointcloud2_to_numpy(cloud([("x", 0, F32, 1), ("y", 4, F32, 1), ("z", 8, F32, 1),
                                      ("intensity", 12, U8, 1)], 16, data))
    assert pts.dtype.names == ("x", "y", "z", "intensity") and pts.dtype.itemsize == 16
    assert pts.shape == (2,)
    assert pts[1]["x"] == -1.0 and pts[1]["z"] == 9.0 and pts[1]["intensity"] == 200
    assert pts[0]["intensity"] == 7


def test_big_endian_cloud_reads_in_native_order():
    data = struct.pack(">fi", 2.5, -3)
    pts = pointcloud2_to_numpy(cloud([("x", 0, F32, 1), ("id", 4, I32, 1)], 8, data, big=True))
    assert pts.dtype["x"].isnative and pts[0]["x"] == 2.5 and pts[0]["id"] == -3


def test_organized_cloud_with_row_padding():
    row = struct.pack("<2f", 1.0, 2.0) + b"\0" * 4
    row2 = struct.pack("<2f", 3.0, 4.0) + b"\0" * 4
    msg = cloud([("x", 0, F32, 1)], 4, row + row2, h=2, w=2, row_step=12)
    pts = pointcloud2_to_numpy(msg, organized=True)
    assert pts.shape == (2, 2)
    np.testing.assert_array_equal(pts["x"], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(pointcloud2_to_numpy(msg)["x"], [1, 2, 3, 4])


def test_field_with_count_reads_as_numbered_subfields():
    pts = pointcloud2_to_numpy(cloud([("n", 0, F32, 3)], 12, struct.pack("<3f", 1, 2, 3)))
    assert pts.dtype.names == ("n_0", "n_1", "n_2") and pts[0]["n_2"] == 3


def test_structured_round_trip_flat_and_organized():
    dt = np.dtype([("x", np.float32), ("y", np.float32), ("z", np.float32), ("rgb", np.float32),
                   ("instance", np.int32), ("w", np.float64)])
    a = np.zeros(7, dt)
    a["x"] = np.arange(7)
    a["instance"] = -np.arange(7)
    a["w"] = np.pi
    msg = numpy_to_pointcloud2(a, frame_id="map", stamp_ns=3_000_000_001)
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 7, dt.itemsize, 7 * dt.itemsize)
    assert [f.name for f in msg.fields] == list(dt.names) and msg.fields[4].datatype == I32
    assert msg.header.frame_id == "map" and stamp_to_ns(msg.header.stamp) == 3_000_000_001
    np.testing.assert_array_equal(pointcloud2_to_numpy(msg), a)
    grid = a[:6].reshape(2, 3)
    m2 = numpy_to_pointcloud2(grid)
    assert (m2.height, m2.width) == (2, 3)
    np.testing.assert_array_equal(pointcloud2_to_numpy(m2, organized=True), grid)


def test_packed_rgb_has_rviz_bit_layout():
    packed = pack_rgb(np.array([[255, 0, 0], [1, 2, 3]], np.uint8))
    assert packed.dtype == np.float32
    assert packed.view(np.uint32).tolist() == [0x00FF0000, 0x00010203]
    np.testing.assert_array_equal(unpack_rgb(packed), [[255, 0, 0], [1, 2, 3]])


@pytest.mark.parametrize("msg,why", [
    (cloud([("x", 0, 9, 1)], 4, b"\0" * 4), "encoding"),            # unknown datatype
    (cloud([("x", 0, F32, 1), ("x", 0, F32, 1)], 4, b"\0" * 4), "encoding"),  # duplicate
    (cloud([("x", 4, F32, 1)], 4, b"\0" * 4), "size"),              # field past point_step
    (cloud([("x", 0, F32, 1)], 4, b"\0" * 8, w=3), "truncated"),
    (cloud([("x", 0, F32, 1)], 4, b"\0" * 12, w=2), "size"),        # extra bytes
    (cloud([("x", 0, F32, 1)], 4, b"\0" * 8, w=2, row_step=4), "size"),
    (cloud([], 4, b"\0" * 4, w=1), "empty"),
])
def test_bad_clouds_are_rejected_with_a_reason(msg, why):
    with pytest.raises(ConversionError) as e:
        pointcloud2_to_numpy(msg)
    assert e.value.reason == why


# --- scene cloud ----------------------------------------------------------------------------

def test_scene_cloud_fields_and_values():
    r = scene([[0, 0, 1], [1, 1, 1], [np.nan, 0, 0], [2, 2, 2]], [5, 1.5, 9, 3], instance=[4, 0, 4, 0])
    r.views_agree = np.array([3, 0, 1, 2], np.uint8)
    msg = scene_to_pointcloud2(r, "world", min_confidence=2.0)
    assert [f.name for f in msg.fields] == ["x", "y", "z", "rgb", "confidence", "instance", "u", "v", "w", "views"]
    assert [f.datatype for f in msg.fields] == [F32] * 5 + [I32] + [F32] * 3 + [PointField.UINT32]
    assert msg.point_step == SCENE_CLOUD_DTYPE.itemsize == 40
    assert msg.header.frame_id == "world" and stamp_to_ns(msg.header.stamp) == 42_000_000_000
    pts = pointcloud2_to_numpy(msg)
    # NaN point and the low-confidence one are gone; order is kept.
    np.testing.assert_array_equal(pts["confidence"], [5, 3])
    np.testing.assert_array_equal(pts["instance"], [4, 0])
    np.testing.assert_array_equal(pts["views"], [3, 2])  # how many other cameras agree
    np.testing.assert_array_equal(unpack_rgb(pts["rgb"]), [[10, 20, 30]] * 2)
    np.testing.assert_allclose([pts["u"][0], pts["v"][0], pts["w"][0]], [0.1, 0.2, 0.3], rtol=1e-6)
    assert [pts["u"][1], pts["v"][1], pts["w"][1]] == [OFF_BODY] * 3 == [-1.0] * 3
    uvw = body_coords_of(pts)
    np.testing.assert_allclose(uvw[0], [0.1, 0.2, 0.3], rtol=1e-6)
    assert np.isnan(uvw[1]).all()


def test_no_field_of_the_cloud_is_nan_so_skip_nans_keeps_every_point():
    # sensor_msgs_py's read_points(skip_nans=True) drops a point if ANY of its fields is NaN.
    body = np.full((4, 3), np.nan, np.float32)
    body[1] = (0.5, 0.0, 1.0)
    body[2] = (0.5, np.nan, 1.0)  # a partly unknown body coordinate is off the body too
    r = scene([[0, 0, 1], [1, 1, 1], [2, 2, 2], [3, 3, 3]], [5, 5, 5, 5])
    r.body_coords = body
    pts = pointcloud2_to_numpy(scene_to_pointcloud2(r, "world"))
    assert len(pts) == 4
    assert not any(np.isnan(pts[name]).any() for name in pts.dtype.names)
    assert np.isnan(body_coords_of(pts)).all(axis=1).tolist() == [True, False, True, True]


def test_select_points_voxel_keeps_most_confident_and_budget_spreads():
    pts = np.array([[0.01, 0.01, 0.01], [0.02, 0.02, 0.02], [0.5, 0.5, 0.5], [0.51, 0.5, 0.5]])
    conf = np.array([1.0, 3.0, 2.0, 1.0])
    np.testing.assert_array_equal(select_points(pts, conf, voxel_size=0.1), [1, 2])
    many = np.random.default_rng(1).random((1000, 3))
    idx = select_points(many, np.ones(1000), max_points=100)
    assert len(idx) == 100 and len(np.unique(idx)) == 100 and idx[0] == 0 and idx[-1] == 999
    with pytest.raises(ValueError):
        select_points(many, np.ones(3))


def test_camera_transforms_match_the_poses():
    r = scene([[0, 0, 1]], [5])
    tfs = camera_transforms(r, "world", ["cam0_optical", "cam1_optical"])
    assert [t.child_frame_id for t in tfs] == ["cam0_optical", "cam1_optical"]
    assert all(t.header.frame_id == "world" for t in tfs)
    np.testing.assert_allclose(transform_to_matrix(tfs[1].transform), r.T_fixed_cam[1], atol=1e-12)
    q = tfs[1].transform.rotation
    np.testing.assert_allclose([q.x, q.y, q.z, q.w], [0, 0, np.sqrt(0.5), np.sqrt(0.5)], atol=1e-12)
    with pytest.raises(ValueError):
        camera_transforms(r, "world", ["only_one"])


# --- camera_info ------------------------------------------------------------------------------

def test_camera_info_K_and_rescaling():
    K = np.array([[500.0, 0, 319.5], [0, 510.0, 239.5], [0, 0, 1]])
    msg = K_to_camera_info(K, 640, 480, "cam0_optical", 5)
    np.testing.assert_array_equal(camera_info_to_K(msg), K)
    np.testing.assert_array_equal(camera_info_to_K(msg, (640, 480)), K)
    half = camera_info_to_K(msg, (320, 240))
    np.testing.assert_allclose(half, [[250, 0, 159.5], [0, 255, 119.5], [0, 0, 1]])
    assert msg.header.frame_id == "cam0_optical" and msg.d.tolist() == [0.0] * 5 and msg.p[3] == 0.0
    # An uncalibrated camera (all-zero K, REP-104) with its own distortion and header.
    raw = K_to_camera_info(None, 64, 48, distortion_model="equidistant", d=(0.1, 0.2, 0.0, 0.0), header=msg.header)
    assert camera_info_to_K(raw) is None and not any(raw.p)
    assert raw.distortion_model == "equidistant" and raw.d.tolist() == [0.1, 0.2, 0.0, 0.0]
    assert raw.header.frame_id == "cam0_optical" and (raw.width, raw.height) == (64, 48)


def test_bad_camera_info_is_rejected():
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    msg = K_to_camera_info(K, 640, 480)
    with pytest.raises(ConversionError) as e:
        camera_info_to_K(msg, (640, 360))
    assert e.value.reason == "camera_info" and "aspect" in e.value.detail
    assert camera_info_to_K(CameraInfo(k=[0.0] * 9)) is None  # uncalibrated (REP-104), not an error
    no_fx = CameraInfo(k=[0.0, 0, 320, 0, 500, 240, 0, 0, 1])
    with pytest.raises(ConversionError) as e:
        camera_info_to_K(no_fx)
    assert e.value.reason == "camera_info"
    nan = K_to_camera_info(K, 640, 480)
    nan.k[0] = float("nan")
    with pytest.raises(ConversionError) as e:
        camera_info_to_K(nan)
    assert e.value.reason == "nan"
    unsized = CameraInfo(k=K.reshape(-1).tolist())
    with pytest.raises(ConversionError):
        camera_info_to_K(unsized, (640, 480))
