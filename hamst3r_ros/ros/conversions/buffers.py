"""numpy arrays -> the byte sequences ROS messages hold."""
from __future__ import annotations

import array

import numpy as np


def byte_array(a: np.ndarray) -> array.array:
    """The bytes of ``a`` (C order) as array('B'), in one copy.

    array('B') is what rclpy keeps in uint8[] fields (Image.data, PointCloud2.data): assigning
    one skips rclpy's per-element checks, and building it from a buffer skips the extra copy
    of ``tobytes()``.
    """
    flat = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    out = array.array("B")
    out.frombytes(flat.data)
    return out
