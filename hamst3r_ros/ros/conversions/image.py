"""sensor_msgs/Image <-> numpy, with validation.

Behaves like cv_bridge's ``imgmsg_to_cv2(msg, "passthrough")`` / ``cv2_to_imgmsg(array,
encoding)`` for the encodings below (same array shapes, dtypes and message fields), but
checks every message first and raises :class:`ConversionError` with a reason instead of
returning garbage or crashing on a bad one.

Array layout: (H, W) for one channel, (H, W, C) for several; the encoding's dtype in native
byte order; row v, column u.
"""
from __future__ import annotations

import sys

import numpy as np

from .buffers import byte_array
from .errors import ConversionError
from .stamps import make_header

#: encoding -> (numpy dtype, channels). Channel order is part of the encoding name.
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "8UC3": (np.dtype(np.uint8), 3),
    "8UC4": (np.dtype(np.uint8), 4),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}

#: Encodings that carry a colour or grey picture the pipeline can use (see :func:`to_rgb8`).
COLOUR_ENCODINGS: tuple[str, ...] = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "8UC1")


#: Smallest image side the node takes, pixels: the network resizes the long side to its
#: input size (224-518 px) and needs at least one patch (14-16 px) on the short side.
MIN_IMAGE_SIDE = 16
#: Largest long side / short side ratio the node takes (panoramas up to 8:1); beyond it the
#: short side vanishes when the long side is resized to the network's input.
MAX_ASPECT_RATIO = 8.0


def check_image_dimensions(width: int, height: int, max_pixels: int) -> None:
    """Refuse an image of sane encoding but insane size before it reaches the pipeline.

    Args:
        width, height: image size, pixels (0 is left to the "empty" check of the converters).
        max_pixels: most pixels (width * height) accepted (node parameter max_image_pixels).

    Raises:
        ConversionError: reason "dimensions", naming the bound and the image's size.
    """
    w, h = int(width), int(height)
    if w <= 0 or h <= 0:
        return
    if min(w, h) < MIN_IMAGE_SIDE:
        raise ConversionError("dimensions", f"image is {w}x{h} pixels; each side must be at "
                              f"least {MIN_IMAGE_SIDE} px")
    if max(w, h) > MAX_ASPECT_RATIO * min(w, h):
        raise ConversionError("dimensions", f"image is {w}x{h} pixels, aspect ratio "
                              f"{max(w, h) / min(w, h):.1f}:1; at most {MAX_ASPECT_RATIO:g}:1")
    if w * h > max_pixels:
        raise ConversionError("dimensions", f"image is {w}x{h} = {w * h} pixels, more than "
                              f"max_image_pixels {max_pixels}")


def encoding_layout(encoding: str) -> tuple[np.dtype, int]:
    """(dtype, channels) of a supported encoding; ConversionError("encoding") otherwise."""
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ConversionError(
            "encoding", f"image encoding {encoding!r} is not supported (expected one of {sorted(ENCODINGS)})"
        ) from None


def image_to_numpy(msg) -> np.ndarray:
    """Pixels of a sensor_msgs/Image as a new array (see the module docstring for layout).

    Raises:
        ConversionError: reason "encoding" (unknown encoding), "empty" (zero width, height
            or data), "size" (step shorter than a row, not a multiple of the sample size,
            or more data than height * step), "truncated" (less data than height * step).
    """
    dtype, channels = encoding_layout(msg.encoding)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    n = len(msg.data)
    if h == 0 or w == 0:
        raise ConversionError("empty", f"image is {w}x{h} pixels")
    if n == 0:
        raise ConversionError("empty", f"{w}x{h} {msg.encoding} image has no data")
    row_bytes = w * channels * dtype.itemsize
    if step < row_bytes:
        raise ConversionError(
            "size", f"step {step} is shorter than one row of {w} {msg.encoding} pixels ({row_bytes} bytes)")
    if step % dtype.itemsize:
        raise ConversionError("size", f"step {step} is not a multiple of the {dtype.itemsize}-byte sample size")
    if n < h * step:
        raise ConversionError("truncated", f"data has {n} bytes, height {h} x step {step} needs {h * step}")
    if n > h * step:
        raise ConversionError("size", f"data has {n} bytes, more than height {h} x step {step} = {h * step}")
    # Samples on the wire in the message's byte order; astype copies into native order.
    wire = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(h, step)[:, :row_bytes]
    img = np.ascontiguousarray(rows).view(wire).astype(dtype)
    return img.reshape((h, w) if channels == 1 else (h, w, channels))


def numpy_to_image(img: np.ndarray, encoding: str, frame_id: str = "", stamp_ns: int = 0, header=None):
    """A sensor_msgs/Image holding ``img`` with ``encoding`` (rows packed, native byte order).

    ``img`` must have the encoding's dtype and shape (H, W) or (H, W, 1) for one channel,
    (H, W, C) for C channels. ``header`` (std_msgs/Header), when given, is used as is;
    otherwise one is made from ``frame_id`` and ``stamp_ns``.
    """
    from sensor_msgs.msg import Image

    dtype, channels = encoding_layout(encoding)
    img = np.asarray(img)
    if img.dtype != dtype:
        raise ConversionError("encoding", f"{encoding} needs a {dtype} array, got {img.dtype}")
    if img.ndim == 3 and channels == 1 and img.shape[2] == 1:
        img = img[:, :, 0]
    want = "(H, W)" if channels == 1 else f"(H, W, {channels})"
    if (channels == 1 and img.ndim != 2) or (channels > 1 and (img.ndim != 3 or img.shape[2] != channels)):
        raise ConversionError("size", f"{encoding} needs an array of shape {want}, got {img.shape}")
    h, w = img.shape[:2]
    if h == 0 or w == 0:
        raise ConversionError("empty", f"image array has shape {img.shape}")
    msg = Image()
    msg.header = header if header is not None else make_header(frame_id, stamp_ns)
    msg.height, msg.width = int(h), int(w)
    msg.encoding = encoding
    msg.is_bigendian = int(sys.byteorder == "big")
    msg.step = int(w * channels * dtype.itemsize)
    msg.data = byte_array(img)
    return msg


def _check_colour(encoding: str) -> None:
    if encoding not in COLOUR_ENCODINGS:
        why = ("a depth/measurement image" if encoding in ("16UC1", "32FC1")
               else "without a known channel order" if encoding in ENCODINGS else "not supported")
        raise ConversionError(
            "encoding", f"{encoding!r} is {why}, not a colour picture (expected one of {COLOUR_ENCODINGS})")


def to_rgb8(img: np.ndarray, encoding: str) -> np.ndarray:
    """An (H, W, 3) uint8 RGB picture from an array in ``encoding`` (as image_to_numpy gives).

    Grey images are replicated over the three channels; mono16 keeps its 8 high bits; alpha
    is dropped. Depth-like encodings (16UC1, 32FC1) and 8UC3/8UC4 (whose channel order is
    unknown) raise ConversionError("encoding").
    """
    _check_colour(encoding)
    if encoding in ("mono8", "8UC1", "mono16"):
        grey = (img >> 8).astype(np.uint8) if encoding == "mono16" else img
        return np.repeat(grey[:, :, None], 3, axis=2)
    rgb = img[:, :, :3]
    if encoding.startswith("bgr"):
        rgb = rgb[:, :, ::-1]
    return np.ascontiguousarray(rgb)


def image_to_rgb8(msg) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a colour or grey sensor_msgs/Image (validated)."""
    _check_colour(msg.encoding)
    return to_rgb8(image_to_numpy(msg), msg.encoding)

