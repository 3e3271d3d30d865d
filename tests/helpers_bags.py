"""Test helper: a rig's camera bag written with rosbags' own message types (no ROS needed).

The messages are built field by field from the sensor_msgs definitions, independently of the
project's ROS conversions, so that reading them back tests our reader against the format.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from hamst3r_ros.recordings.bag_types import typestore
from hamst3r_ros.recordings.bag_writer import BagWriter

S = 1_000_000_000


def write_camera_bag(path: str | Path, frames: Sequence[Sequence[np.ndarray]], Ks: Sequence[Optional[np.ndarray]],
                     names: Sequence[str], rate_hz: float = 10.0, start_ns: int = 1000 * S, namespace: str = "/rig",
                     compressed: bool = False, stamp_lag_ns: int = 3_000_000, extra_topics: bool = True) -> BagWriter:
    """Frame sets (``frames[k][i]``: (H, W, 3) uint8 RGB of camera ``names[i]``) as
    ``<namespace>/<name>/image_raw`` (or ``/image_raw/compressed``, png) + ``<namespace>/<name>/camera_info``
    (none where ``Ks[i]`` is None), one set every 1 / rate_hz s from ``start_ns``; each
    message logged ``stamp_lag_ns`` after its stamp, camera i another i ms later (as
    received from free-running drivers). ``extra_topics`` adds a topic that is no camera's
    (/rosout-like strings)."""
    ts = typestore()
    T = ts.types
    with BagWriter(path) as bag:
        for name, K in zip(names, Ks):
            if compressed:
                bag.add_topic(f"{namespace}/{name}/image_raw/compressed", "sensor_msgs/msg/CompressedImage")
            else:
                bag.add_topic(f"{namespace}/{name}/image_raw", "sensor_msgs/msg/Image")
            if K is not None:
                bag.add_topic(f"{namespace}/{name}/camera_info", "sensor_msgs/msg/CameraInfo")
        if extra_topics:
            bag.add_topic("/notes", "std_msgs/msg/String")
        for k, images in enumerate(frames):
            for i, (name, K, img) in enumerate(zip(names, Ks, images)):
                stamp = start_ns + int(k * S / rate_hz)
                log = stamp + stamp_lag_ns + i * 1_000_000
                header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=stamp // S, nanosec=stamp % S),
                                                  frame_id=f"{name}_optical_frame")
                h, w = img.shape[:2]
                if K is not None:
                    P = np.zeros(12)
                    P[[0, 1, 2, 4, 5, 6, 8, 9, 10]] = np.asarray(K, np.float64).ravel()
                    info = T["sensor_msgs/msg/CameraInfo"](
                        header=header, height=h, width=w, distortion_model="plumb_bob", d=np.zeros(5),
                        k=np.asarray(K, np.float64).ravel(), r=np.eye(3).ravel(), p=P, binning_x=0, binning_y=0,
                        roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                                  do_rectify=False))
                    bag.write_message(f"{namespace}/{name}/camera_info", log, info)
                if compressed:
                    from PIL import Image as PILImage

                    buf = io.BytesIO()
                    PILImage.fromarray(img).save(buf, format="PNG")
                    msg = T["sensor_msgs/msg/CompressedImage"](header=header, format="rgb8; png compressed rgb8",
                                                               data=np.frombuffer(buf.getvalue(), np.uint8))
                    bag.write_message(f"{namespace}/{name}/image_raw/compressed", log, msg)
                else:
                    msg = T["sensor_msgs/msg/Image"](header=header, height=h, width=w, encoding="rgb8", is_bigendian=0,
                                                     step=3 * w, data=np.ascontiguousarray(img).reshape(-1))
                    bag.write_message(f"{namespace}/{name}/image_raw", log, msg)
            if extra_topics:
                bag.write_message("/notes", start_ns + int(k * S / rate_hz), T["std_msgs/msg/String"](data=f"set {k}"))
    return bag


def pattern_frames(num_sets: int, num_cameras: int, h: int = 24, w: int = 32) -> list[list[np.ndarray]]:
    """Small images that say which camera (red = 10 * i) and set (green = k) they are."""
    out = []
    for k in range(num_sets):
        row = []
        for i in range(num_cameras):
            img = np.zeros((h, w, 3), np.uint8)
            img[..., 0], img[..., 1] = 10 * i, k
            img[..., 2] = np.arange(w)[None, :]
            row.append(img)
        out.append(row)
    return out
