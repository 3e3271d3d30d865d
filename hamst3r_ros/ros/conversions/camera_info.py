"""sensor_msgs/CameraInfo -> intrinsics K (hamst3r_ros.types convention: (3, 3) float64,
pixels of the image it belongs to) and lens distortion (hamst3r_ros.types.LensDistortion)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from hamst3r_ros.geometry.distortion import make_distortion
from hamst3r_ros.types import LensDistortion

from .errors import ConversionError


def camera_info_to_K(msg, image_size: Optional[tuple[int, int]] = None) -> Optional[np.ndarray]:
    """(3, 3) float64 K of a CameraInfo, optionally rescaled to another image size; None for
    an uncalibrated camera (all-zero K, as REP-104 specifies).

    Uses ``k`` (the raw camera's intrinsics, right for unrectified images). When
    ``image_size`` = (width, height) differs from the CameraInfo's (a resized or binned
    stream), K is scaled per axis; both axes must scale alike within 1 %.

    Raises:
        ConversionError("nan") for non-finite entries, ("camera_info") for a K without
        positive focal lengths, an unset size, or an image size of another aspect ratio.
    """
    K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3).copy()
    if not K.any():
        return None
    if not np.all(np.isfinite(K)):
        raise ConversionError("nan", f"camera_info {msg.header.frame_id!r} has non-finite K entries")
    if K[0, 0] <= 0 or K[1, 1] <= 0 or K[2, 2] != 1.0:
        raise ConversionError("camera_info", f"camera_info {msg.header.frame_id!r} K has fx={K[0, 0]}, "
                                             f"fy={K[1, 1]}, K[2,2]={K[2, 2]} (expected fx, fy > 0 and 1)")
    if image_size is None:
        return K
    w_img, h_img = int(image_size[0]), int(image_size[1])
    if msg.width == 0 or msg.height == 0:
        raise ConversionError("camera_info", f"camera_info {msg.header.frame_id!r} has no image size")
    if (w_img, h_img) == (msg.width, msg.height):
        return K
    sx, sy = w_img / msg.width, h_img / msg.height
    if abs(sx - sy) > 0.01 * max(sx, sy):
        raise ConversionError("camera_info", f"image is {w_img}x{h_img} but camera_info "
                                             f"{msg.header.frame_id!r} is {msg.width}x{msg.height} (other aspect)")
    # Pixel centres: u' + 0.5 = s (u + 0.5).
    K[0, 0] *= sx
    K[1, 1] *= sy
    K[0, 1] *= sx
    K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return K


def camera_info_to_distortion(msg) -> Optional[LensDistortion]:
    """The lens distortion of a CameraInfo (``distortion_model`` and ``d``), or None for an
    ideal pinhole (empty ``d`` or all zeros, whatever the model name).

    Supported: ``plumb_bob`` (5 coefficients), ``rational_polynomial`` (8) and ``equidistant``
    (4, fisheye); see hamst3r_ros.geometry.distortion. The coefficients act on normalised
    coordinates, so they hold for a resized stream as they are (only K scales). ``r`` and
    ``p`` (rectification of a stereo pair) are not used: the node makes its own pinhole image.

    Raises:
        ConversionError("nan") for non-finite coefficients, ("camera_info") for an unknown
        model or a wrong number of coefficients.
    """
    d = list(msg.d)
    if not np.all(np.isfinite(np.asarray(d, dtype=np.float64))):
        raise ConversionError("nan", f"camera_info {msg.header.frame_id!r} has non-finite distortion coefficients")
    try:
        return make_distortion(msg.distortion_model, d)
    except ValueError as exc:
        raise ConversionError("camera_info", f"camera_info {msg.header.frame_id!r}: {exc}") from None


def K_to_camera_info(K: Optional[np.ndarray], width: int, height: int, frame_id: str = "", stamp_ns: int = 0,
                     distortion_model: str = "plumb_bob", d: Optional[Sequence[float]] = None, header=None):
    """A CameraInfo with intrinsics K (pixels), R = I and P = [K | 0].

    Args:
        K: (3, 3) intrinsics, or None for an uncalibrated camera (all-zero K and P, REP-104).
        width, height: image size, pixels.
        frame_id, stamp_ns: the header's (ignored when ``header`` is given).
        distortion_model, d: the distortion (default: plumb_bob with zero D, no distortion).
        header: a std_msgs/Header to use as it is.
    """
    from sensor_msgs.msg import CameraInfo

    from .stamps import make_header

    K = np.zeros((3, 3)) if K is None else np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)):
        raise ValueError(f"K must be a finite (3, 3) matrix, got shape {K.shape}")
    P = np.zeros((3, 4))
    P[:, :3] = K
    return CameraInfo(header=make_header(frame_id, stamp_ns) if header is None else header,
                      width=int(width), height=int(height), distortion_model=distortion_model,
                      d=[0.0] * 5 if d is None else [float(x) for x in d], k=K.reshape(-1).tolist(),
                      r=np.eye(3).reshape(-1).tolist(), p=P.reshape(-1).tolist())
