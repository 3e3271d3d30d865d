"""Image / CompressedImage <-> numpy against hand-built messages, and every rejection reason."""
import array
import struct

import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg", reason="needs ROS 2 sensor_msgs (ROS wheels or a ROS install)")
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from hamst3r_ros.ros.conversions import (ENCODINGS, ConversionError, compressed_to_numpy,  # noqa: E402
                                         compressed_to_rgb8, image_to_numpy, image_to_rgb8, numpy_to_compressed,
                                         numpy_to_image, stamp_to_ns, to_rgb8)


def raw(encoding, h, w, step, data, big=False):
    return Image(height=h, width=w, encoding=encoding, is_bigendian=int(big), step=step,
                 data=array.array("B", bytes(data)))


def reason(fn, *args):
    with pytest.raises(ConversionError) as e:
        fn(*args)
    return e.value.reason


def test_rgb8_with_row_padding_reads_pixels_in_row_major_order():
    # 2 rows x 2 pixels, 6 bytes of pixels + 2 padding bytes per row.
    data = [1, 2, 3, 4, 5, 6, 99, 99,
            7, 8, 9, 10, 11, 12, 99, 99]
    img = image_to_numpy(raw("rgb8", 2, 2, 8, data))
    assert img.dtype == np.uint8 and img.shape == (2, 2, 3)
    np.testing.assert_array_equal(img[0, 1], [4, 5, 6])
    np.testing.assert_array_equal(img[1, 0], [7, 8, 9])
    assert img.flags.c_contiguous


@pytest.mark.parametrize("big,expected", [(False, 0x0201), (True, 0x0102)])
def test_mono16_honours_the_message_byte_order(big, expected):
    img = image_to_numpy(raw("mono16", 1, 1, 2, [1, 2], big=big))
    assert img.dtype == np.uint16 and img.dtype.isnative and img.shape == (1, 1)
    assert img[0, 0] == expected


def test_32fc1_and_16uc1_values():
    f = image_to_numpy(raw("32FC1", 1, 2, 8, struct.pack("<2f", 1.5, float("nan"))))
    assert f.dtype == np.float32 and f[0, 0] == 1.5 and np.isnan(f[0, 1])
    d = image_to_numpy(raw("16UC1", 1, 2, 4, struct.pack(">2H", 1000, 65535), big=True))
    np.testing.assert_array_equal(d, [[1000, 65535]])


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_numpy_round_trip_and_message_fields(encoding):
    dtype, ch = ENCODINGS[encoding]
    rng = np.random.default_rng(0)
    shape = (3, 5) if ch == 1 else (3, 5, ch)
    a = (rng.random(shape) * 1000).astype(dtype)
    msg = numpy_to_image(a, encoding, frame_id="cam0_optical", stamp_ns=1_500_000_123)
    assert (msg.height, msg.width, msg.encoding) == (3, 5, encoding)
    assert msg.step == 5 * ch * dtype.itemsize and len(msg.data) == 3 * msg.step
    assert msg.is_bigendian == 0 and msg.header.frame_id == "cam0_optical"
    assert stamp_to_ns(msg.header.stamp) == 1_500_000_123
    np.testing.assert_array_equal(image_to_numpy(msg), a)


def test_to_rgb8_for_each_colour_encoding():
    px = np.array([[[10, 20, 30, 40]]], np.uint8)
    assert to_rgb8(px[:, :, :3], "rgb8")[0, 0].tolist() == [10, 20, 30]
    assert to_rgb8(px[:, :, :3], "bgr8")[0, 0].tolist() == [30, 20, 10]
    assert to_rgb8(px, "rgba8")[0, 0].tolist() == [10, 20, 30]
    assert to_rgb8(px, "bgra8")[0, 0].tolist() == [30, 20, 10]
    assert to_rgb8(px[:, :, 0], "mono8")[0, 0].tolist() == [10, 10, 10]
    assert to_rgb8(np.array([[0xAB12]], np.uint16), "mono16")[0, 0].tolist() == [0xAB] * 3
    msg = numpy_to_image(np.array([[[1, 2, 3]]], np.uint8), "bgr8")
    assert image_to_rgb8(msg).tolist() == [[[3, 2, 1]]]


@pytest.mark.parametrize("msg,why", [
    (raw("yuv422", 1, 2, 4, [0] * 4), "encoding"),
    (raw("bayer_rggb8", 1, 1, 1, [0]), "encoding"),
    (raw("rgb8", 0, 2, 6, []), "empty"),
    (raw("rgb8", 2, 2, 6, []), "empty"),
    (raw("rgb8", 2, 2, 5, [0] * 10), "size"),       # step shorter than a row
    (raw("mono16", 1, 1, 3, [0] * 3), "size"),      # step not a multiple of 2 bytes
    (raw("rgb8", 2, 2, 6, [0] * 11), "truncated"),
    (raw("rgb8", 2, 2, 6, [0] * 13), "size"),
])
def test_bad_images_are_rejected_with_a_reason(msg, why):
    assert reason(image_to_numpy, msg) == why


def test_depth_images_are_not_colour_pictures():
    msg = numpy_to_image(np.zeros((2, 2), np.float32), "32FC1")
    assert reason(image_to_rgb8, msg) == "encoding"
    assert "depth" in str(pytest.raises(ConversionError, image_to_rgb8, msg).value)


def test_numpy_to_image_checks_dtype_and_shape():
    assert reason(numpy_to_image, np.zeros((2, 2, 3), np.float32), "rgb8") == "encoding"
    assert reason(numpy_to_image, np.zeros((2, 2), np.uint8), "rgb8") == "size"
    assert reason(numpy_to_image, np.zeros((2, 2, 3), np.uint8), "mono8") == "size"
    assert reason(numpy_to_image, np.zeros((2, 2), np.uint8), "nv12") == "encoding"


# --- compressed ---------------------------------------------------------------------------

def _smooth_rgb(h=48, w=64):
    v, u = np.mgrid[0:h, 0:w]
    return np.stack([u * 4, v * 5, (u + v) * 2], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("encoding,array", [
    ("rgb8", _smooth_rgb()),
    ("rgba8", np.dstack([_smooth_rgb(), np.full((48, 64), 128, np.uint8)])),
    ("mono8", _smooth_rgb()[:, :, 0]),
    ("mono16", (np.arange(48 * 64, dtype=np.uint16) * 13).reshape(48, 64)),
])
def test_png_round_trip_is_exact(encoding, array):
    msg = numpy_to_compressed(array, encoding, "png", frame_id="c", stamp_ns=7)
    assert msg.format == "png" and msg.header.frame_id == "c"
    out, enc = compressed_to_numpy(msg)
    assert enc == encoding and out.dtype == array.dtype
    np.testing.assert_array_equal(out, array)


def test_bgr8_is_stored_as_colour_and_decodes_to_rgb():
    rgb = _smooth_rgb()
    out, enc = compressed_to_numpy(numpy_to_compressed(rgb[:, :, ::-1], "bgr8", "png"))
    assert enc == "rgb8"
    np.testing.assert_array_equal(out, rgb)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    out, enc = compressed_to_numpy(numpy_to_compressed(rgba[:, :, [2, 1, 0, 3]], "bgra8", "png"))
    assert enc == "rgba8"
    np.testing.assert_array_equal(out, rgba)


def test_jpeg_round_trip_is_close_and_accepts_image_transport_format_strings():
    rgb = _smooth_rgb()
    msg = numpy_to_compressed(rgb, "rgb8", "jpeg", quality=95)
    msg.format = "bgr8; jpeg compressed bgr8"
    out = compressed_to_rgb8(msg)
    assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).mean() < 3.0


def _compressed(fmt, data):
    return CompressedImage(format=fmt, data=array.array("B", data))


def test_bad_compressed_images_are_rejected_with_a_reason():
    jpeg = bytes(numpy_to_compressed(_smooth_rgb(), "rgb8", "jpeg").data)
    png = bytes(numpy_to_compressed(_smooth_rgb(), "rgb8", "png").data)
    assert reason(compressed_to_numpy, _compressed("tiff", png)) == "encoding"
    assert reason(compressed_to_numpy, _compressed("16UC1; compressedDepth png", png)) == "encoding"
    assert reason(compressed_to_numpy, _compressed("jpeg", png)) == "encoding"  # data is PNG
    assert reason(compressed_to_numpy, _compressed("jpeg", b"")) == "empty"
    assert reason(compressed_to_numpy, _compressed("jpeg", jpeg[: len(jpeg) // 2])) == "truncated"
    assert reason(compressed_to_numpy, _compressed("png", png[: len(png) // 2])) in ("truncated", "decode")
    assert reason(compressed_to_numpy, _compressed("png", b"\x89PNG not really" * 4)) == "decode"
    assert reason(compressed_to_numpy, _compressed("jpeg", b"hello world" * 10)) == "decode"


def test_compressing_checks_arguments():
    with pytest.raises(ConversionError):
        numpy_to_compressed(np.zeros((4, 4), np.uint16), "mono16", "jpeg")
    with pytest.raises(ConversionError):
        numpy_to_compressed(np.zeros((4, 4), np.uint8), "rgb8", "png")
    assert reason(numpy_to_compressed, np.zeros((4, 4), np.uint8), "bgr8", "png") == "size"
    assert reason(numpy_to_compressed, np.zeros((4, 4, 4), np.uint8), "bgra8", "jpeg") == "encoding"
    with pytest.raises(ValueError):
        numpy_to_compressed(_smooth_rgb(), "rgb8", "webp")


def test_decompression_bombs_are_rejected(monkeypatch):
    from PIL import Image as PILImage

    msg = numpy_to_compressed(np.zeros((20, 20), np.uint8), "mono8", "png")
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 100)  # 400 px > 2 x limit: Pillow refuses
    assert reason(compressed_to_numpy, msg) == "size"


def test_every_rejection_reason_is_counted_by_the_node():
    from hamst3r_ros.ros.conversions import REASONS
    from hamst3r_ros.ros.diagnostics import BAD_INPUT_REASONS

    assert set(REASONS) <= set(BAD_INPUT_REASONS)
    with pytest.raises(ValueError):
        ConversionError("bogus", "not a reason")


@pytest.mark.parametrize("w, h, words", [
    (4000, 2, "at least 16 px"), (16, 15, "at least 16 px"), (1700, 200, "aspect ratio 8.5:1"),
    (8000, 8000, "more than max_image_pixels 33177600"),
])
def test_image_dimensions_outside_bounds_are_refused(w, h, words):
    from hamst3r_ros.ros.conversions import ConversionError, check_image_dimensions

    with pytest.raises(ConversionError) as e:
        check_image_dimensions(w, h, 7680 * 4320)
    assert e.value.reason == "dimensions" and words in str(e.value) and f"{w}x{h}" in str(e.value)


def test_image_dimensions_within_bounds_pass():
    from hamst3r_ros.ros.conversions import check_image_dimensions

    for w, h in [(16, 16), (640, 480), (1600, 200), (7680, 4320), (0, 0)]:  # 0: the 'empty' check's
        check_image_dimensions(w, h, 7680 * 4320)
