"""numpy structured arrays <-> sensor_msgs/PointCloud2, and RViz's packed ``rgb`` field.

Layout as sensor_msgs_py (``read_points`` / ``create_cloud``) for unorganised clouds, so the
two give identical messages and arrays: one PointField per structured-array field in dtype
order, offsets from the dtype, ``point_step`` = dtype itemsize, native byte order,
``is_dense`` False. A field with count > 1 reads as sub-fields ``name_0 .. name_{count-1}``.
Unlike sensor_msgs_py, every message is checked first (ConversionError with a reason), row
padding (``row_step`` > ``width * point_step``) is honoured, and organised clouds are
(height, width) in both directions.
"""
from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from .buffers import byte_array
from .errors import ConversionError
from .stamps import make_header

# sensor_msgs/PointField datatype constants (fixed by the message definition).
INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64 = range(1, 9)

#: PointField datatype -> numpy dtype (native byte order).
POINTFIELD_DTYPES: dict[int, np.dtype] = {
    INT8: np.dtype(np.int8), UINT8: np.dtype(np.uint8), INT16: np.dtype(np.int16),
    UINT16: np.dtype(np.uint16), INT32: np.dtype(np.int32), UINT32: np.dtype(np.uint32),
    FLOAT32: np.dtype(np.float32), FLOAT64: np.dtype(np.float64),
}
_DATATYPE_OF = {dt.newbyteorder("="): code for code, dt in POINTFIELD_DTYPES.items()}


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(N,) float32 whose bits are 0x00RRGGBB, from (N, 3) uint8 RGB (RViz's ``rgb`` field)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 2 or rgb.shape[1] != 3:
        raise ValueError(f"colours must be (N, 3) uint8 RGB, got {rgb.dtype} {rgb.shape}")
    c = rgb.astype(np.uint32)
    return ((c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]).view(np.float32)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 RGB from a packed float32 (or uint32) ``rgb`` field."""
    bits = np.ascontiguousarray(packed).view(np.uint32)
    return np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], axis=-1).astype(np.uint8)


def fields_from_dtype(dtype: np.dtype) -> list:
    """sensor_msgs/PointField list describing a structured dtype (sub-arrays become count)."""
    from sensor_msgs.msg import PointField

    dtype = np.dtype(dtype)
    if dtype.names is None:
        raise ValueError(f"points must be a structured array (named fields), got dtype {dtype}")
    fields = []
    for name in dtype.names:
        ft, offset = dtype.fields[name][:2]
        base, shape = (ft.subdtype if ft.subdtype else (ft, ()))
        code = _DATATYPE_OF.get(base.newbyteorder("="))
        if code is None or not base.isnative:
            raise ValueError(f"field {name!r} has dtype {base} (expected a native int8..float64 type)")
        fields.append(PointField(name=name, offset=int(offset), datatype=code, count=int(np.prod(shape, dtype=int))))
    return fields


def dtype_from_fields(fields: Sequence, point_step: int) -> np.dtype:
    """Structured dtype (native order, itemsize ``point_step``) of a PointField list, validated."""
    names, formats, offsets = [], [], []
    for i, f in enumerate(fields):
        base = POINTFIELD_DTYPES.get(int(f.datatype))
        if base is None:
            raise ConversionError("encoding", f"field {f.name!r} has unknown PointField datatype {f.datatype}")
        if f.count < 1:
            raise ConversionError("size", f"field {f.name!r} has count {f.count}")
        end = f.offset + base.itemsize * f.count
        if end > point_step:
            raise ConversionError("size", f"field {f.name!r} ends at byte {end}, past point_step {point_step}")
        name = f.name or f"unnamed_field_{i}"
        for k in range(f.count):
            sub = f"{name}_{k}" if f.count > 1 else name
            if sub in names:
                raise ConversionError("encoding", f"duplicate point field {sub!r}")
            names.append(sub)
            formats.append(base)
            offsets.append(int(f.offset) + k * base.itemsize)
    if not names:
        raise ConversionError("empty", "point cloud has no fields")
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": int(point_step)})


def pointcloud2_to_numpy(msg, organized: bool = False) -> np.ndarray:
    """Points of a PointCloud2 as a new structured array, native byte order.

    Returns (height * width,) points, or (height, width) when ``organized``.

    Raises:
        ConversionError: "encoding" (unknown datatype, duplicate names), "empty" (no fields),
            "size" (fields outside point_step, row_step shorter than a row, extra data),
            "truncated" (less data than height * row_step).
    """
    h, w = int(msg.height), int(msg.width)
    step, row_step = int(msg.point_step), int(msg.row_step)
    native = dtype_from_fields(msg.fields, step)
    if h * w == 0:
        return np.zeros((h, w) if organized else (0,), dtype=native)
    if row_step < w * step:
        raise ConversionError("size", f"row_step {row_step} is shorter than width {w} x point_step {step}")
    n = len(msg.data)
    if n < h * row_step:
        raise ConversionError("truncated", f"data has {n} bytes, height {h} x row_step {row_step} needs {h * row_step}")
    if n > h * row_step:
        raise ConversionError("size", f"data has {n} bytes, more than height {h} x row_step {row_step}")
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(h, row_step)[:, : w * step]
    order = ">" if msg.is_bigendian else "<"
    wire = np.dtype({"names": native.names, "offsets": [native.fields[k][1] for k in native.names],
                     "formats": [native.fields[k][0].newbyteorder(order) for k in native.names],
                     "itemsize": step})
    pts = np.ascontiguousarray(raw).view(wire).reshape(h, w).astype(native)
    return pts if organized else pts.reshape(-1)


def numpy_to_pointcloud2(points: np.ndarray, frame_id: str = "", stamp_ns: int = 0, header=None,
                         is_dense: bool = False):
    """A PointCloud2 holding a structured array: (N,) unorganised or (H, W) organised."""
    from sensor_msgs.msg import PointCloud2

    points = np.asarray(points)
    fields = fields_from_dtype(points.dtype)
    if points.ndim == 1:
        h, w = 1, points.shape[0]
    elif points.ndim == 2:
        h, w = points.shape
    else:
        raise ValueError(f"points must be (N,) or (H, W), got shape {points.shape}")
    msg = PointCloud2()
    msg.header = header if header is not None else make_header(frame_id, stamp_ns)
    msg.height, msg.width = int(h), int(w)
    msg.fields = fields
    msg.is_bigendian = sys.byteorder != "little"
    msg.point_step = int(points.dtype.itemsize)
    msg.row_step = int(points.dtype.itemsize * w)
    msg.is_dense = bool(is_dense)
    msg.data = byte_array(points)
    return msg
