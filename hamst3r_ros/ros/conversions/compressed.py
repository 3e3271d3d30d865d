"""sensor_msgs/CompressedImage (JPEG, PNG) <-> numpy, decoded with Pillow.

Reads the ``format`` strings image_transport's compressed plugin writes ("jpeg", "png",
"bgr8; jpeg compressed bgr8", "rgb8; png compressed rgb8", ...). compressedDepth (a
different container) and other codecs raise ConversionError("encoding"). Decoded arrays
follow image.py's layout and are returned with the matching raw encoding: colour as rgb8
(Pillow's order; cv_bridge's OpenCV decode gives the same pixels as bgr8), grey as mono8 or
mono16, with alpha as rgba8.
"""
from __future__ import annotations

import array
import io

import numpy as np

from .errors import ConversionError
from .image import to_rgb8
from .stamps import make_header

#: Pillow format name -> the words a CompressedImage.format may use for it.
_FORMATS = {"JPEG": ("jpeg", "jpg"), "PNG": ("png",)}


def declared_format(fmt: str) -> str:
    """"JPEG" or "PNG" from a CompressedImage.format string; ConversionError otherwise."""
    low = fmt.lower()
    if "compresseddepth" in low:
        raise ConversionError("encoding", f"compressed format {fmt!r} (compressedDepth) is not supported; "
                                          "publish jpeg or png")
    words = low.replace(";", " ").split()
    for name, aliases in _FORMATS.items():
        if any(a in words for a in aliases):
            return name
    raise ConversionError("encoding", f"compressed format {fmt!r} is not supported (expected jpeg or png)")


def _decoded_array(img) -> tuple[np.ndarray, str]:
    """(array, encoding) of a loaded PIL image, converting modes numpy cannot take as is."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img)
        if a.dtype != np.uint16:
            if a.size and (a.min() < 0 or a.max() > 65535):
                raise ConversionError("decode", f"grey image with values outside 16 bits (mode {mode})")
            a = a.astype(np.uint16)
        return np.ascontiguousarray(a), "mono16"
    if mode == "1":
        img = img.convert("L")
    elif mode in ("P", "PA", "LA"):
        img = img.convert("RGBA" if ("transparency" in img.info or mode in ("PA", "LA")) else "RGB")
    elif mode not in ("L", "RGB", "RGBA"):
        img = img.convert("RGB")  # CMYK, YCbCr JPEGs
    enc = {"L": "mono8", "RGB": "rgb8", "RGBA": "rgba8"}[img.mode]
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8)), enc


def compressed_to_numpy(msg) -> tuple[np.ndarray, str]:
    """Decode a CompressedImage: (array, encoding) with encoding rgb8, rgba8, mono8 or mono16.

    Raises:
        ConversionError: "encoding" (format not jpeg/png, or data of another format than
            declared), "empty" (no data), "truncated" (data ends early), "decode" (not an
            image).
    """
    from PIL import Image as PILImage, UnidentifiedImageError

    want = declared_format(msg.format)
    data = bytes(msg.data)
    if not data:
        raise ConversionError("empty", f"{msg.format} image has no data")
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            if img.format != want:
                raise ConversionError("encoding", f"format says {want.lower()} but the data is {img.format}")
            img.load()
            return _decoded_array(img)
    except ConversionError:
        raise
    except UnidentifiedImageError:
        raise ConversionError("decode", f"{len(data)} bytes are not a {want.lower()} image") from None
    except PILImage.DecompressionBombError as e:
        raise ConversionError("size", f"{want.lower()} image is implausibly large: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        reason = "truncated" if "truncat" in str(e).lower() else "decode"
        raise ConversionError(reason, f"{want.lower()} data does not decode: {e}") from None


def compressed_to_rgb8(msg) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a jpeg/png CompressedImage (validated)."""
    img, enc = compressed_to_numpy(msg)
    return to_rgb8(img, enc)


def numpy_to_compressed(img: np.ndarray, encoding: str = "rgb8", fmt: str = "jpeg", quality: int = 90,
                        frame_id: str = "", stamp_ns: int = 0, header=None):
    """Encode an image as a sensor_msgs/CompressedImage.

    Args:
        img: array in ``encoding`` (rgb8, bgr8, rgba8, bgra8, mono8 or mono16; mono16 and
            alpha only with png).
        fmt: "jpeg" or "png".
        quality: JPEG quality 1..95.
    """
    from PIL import Image as PILImage
    from sensor_msgs.msg import CompressedImage

    if fmt not in ("jpeg", "png"):
        raise ValueError(f"compressed format must be 'jpeg' or 'png', got {fmt!r}")
    img = np.asarray(img)
    # encoding -> (Pillow mode, dtype, channels); bgr(a) is reordered to rgb(a) below.
    layouts = {"rgb8": ("RGB", np.uint8, 3), "bgr8": ("RGB", np.uint8, 3), "rgba8": ("RGBA", np.uint8, 4),
               "bgra8": ("RGBA", np.uint8, 4), "mono8": ("L", np.uint8, 1), "mono16": ("I;16", np.uint16, 1)}
    if encoding not in layouts:
        raise ConversionError("encoding", f"cannot compress {encoding!r} (expected one of {sorted(layouts)})")
    mode, dtype, channels = layouts[encoding]
    shape_ok = img.ndim == 2 if channels == 1 else (img.ndim == 3 and img.shape[2] == channels)
    if img.dtype != dtype or not shape_ok:
        want = "(H, W)" if channels == 1 else f"(H, W, {channels})"
        raise ConversionError("size", f"{encoding} needs {np.dtype(dtype)} of shape {want}, "
                                      f"got {img.dtype} {img.shape}")
    if encoding.startswith("bgr"):
        img = img[:, :, [2, 1, 0, 3][:channels]]
    if fmt == "jpeg" and encoding in ("rgba8", "bgra8", "mono16"):
        raise ConversionError("encoding", f"jpeg cannot hold {encoding}; use png")
    if not 1 <= int(quality) <= 95:
        raise ValueError(f"JPEG quality must be in 1..95, got {quality}")
    buf = io.BytesIO()
    pil = PILImage.fromarray(np.ascontiguousarray(img))  # mode follows dtype and channels
    if pil.mode != mode:
        raise ConversionError("encoding", f"Pillow made a {pil.mode} image from {encoding}, expected {mode}")
    pil.save(buf, format=fmt.upper(), **({"quality": int(quality)} if fmt == "jpeg" else {}))
    msg = CompressedImage()
    msg.header = header if header is not None else make_header(frame_id, stamp_ns)
    msg.format = fmt
    msg.data = array.array("B", buf.getvalue())
    return msg
