"""numpy / hamst3r_ros.types <-> ROS 2 messages.

Every function that reads a message validates it and raises :class:`ConversionError`
(``.reason`` one of :data:`REASONS`, the keys the node counts in /diagnostics) for input it
cannot convert. Message classes are imported inside the functions, so importing this
package needs the ROS message packages only when a conversion is called.

Images (image.py, compressed.py):
    image_to_numpy(Image) -> (H, W[, C]) array in the encoding's dtype
    image_to_rgb8(Image) -> (H, W, 3) uint8 RGB; to_rgb8(array, encoding)
    check_image_dimensions(width, height, max_pixels): the node's bounds on image size
    numpy_to_image(array, encoding, frame_id, stamp_ns) -> Image
    compressed_to_numpy(CompressedImage) -> (array, encoding); compressed_to_rgb8
    numpy_to_compressed(array, encoding, fmt="jpeg"|"png") -> CompressedImage
Point clouds (pointcloud.py, scene.py):
    pointcloud2_to_numpy(PointCloud2) -> structured array; numpy_to_pointcloud2(array, ...)
    pack_rgb / unpack_rgb (RViz's float rgb field)
    scene_to_pointcloud2(SceneResult, fixed_frame, min_confidence, voxel_size, max_points)
    body_coords_of(points) -> (M, 3) u, v, w with NaN off bodies (the cloud carries OFF_BODY = -1)
    camera_transforms(SceneResult, fixed_frame, child_frames) -> [TransformStamped]
Cameras and time (camera_info.py, stamps.py, geometry.py):
    camera_info_to_K(CameraInfo, image_size) -> (3, 3); K_to_camera_info
    camera_info_to_distortion(CameraInfo) -> LensDistortion | None (plumb_bob, rational_polynomial, equidistant)
    stamp_to_ns / ns_to_stamp / make_header; matrix_to_pose / matrix_to_transform_stamped ...
Humans (humans.py):
    humans_to_array (hamst3r_msgs/HumanArray), humans_to_markers (+ clear_markers),
    humans_to_transforms (TF body_<id>), humans_to_ids (hri_msgs/IdsList),
    humans_to_people (people_msgs/People)
"""
from .camera_info import K_to_camera_info, camera_info_to_distortion, camera_info_to_K
from .compressed import compressed_to_numpy, compressed_to_rgb8, declared_format, numpy_to_compressed
from .errors import REASONS, ConversionError
from .geometry import (matrix_to_pose, matrix_to_quaternion, matrix_to_transform_stamped, pose_to_matrix,
                       position_quaternion_to_pose, quaternion_to_matrix, transform_to_matrix)
from .humans import (MARKER_NAMESPACES, PEOPLE_STATES, VISIBLE_STATES, body_frame, clear_markers, human_to_msg,
                     humans_to_array, humans_to_ids, humans_to_markers, humans_to_people, humans_to_transforms,
                     track_color)
from .image import (COLOUR_ENCODINGS, ENCODINGS, MAX_ASPECT_RATIO, MIN_IMAGE_SIDE, check_image_dimensions,
                    encoding_layout, image_to_numpy, image_to_rgb8, numpy_to_image, to_rgb8)
from .pointcloud import (dtype_from_fields, fields_from_dtype, numpy_to_pointcloud2, pack_rgb, pointcloud2_to_numpy,
                         unpack_rgb)
from .scene import (OFF_BODY, SCENE_CLOUD_DTYPE, body_coords_of, camera_transforms, scene_points_array,
                    scene_to_pointcloud2, select_points)
from .stamps import make_header, ns_to_stamp, stamp_to_ns

__all__ = [
    "K_to_camera_info", "camera_info_to_K", "camera_info_to_distortion", "compressed_to_numpy", "compressed_to_rgb8",
    "declared_format", "numpy_to_compressed", "REASONS", "ConversionError", "matrix_to_pose",
    "matrix_to_quaternion", "matrix_to_transform_stamped", "pose_to_matrix",
    "position_quaternion_to_pose", "quaternion_to_matrix", "transform_to_matrix",
    "MARKER_NAMESPACES", "PEOPLE_STATES", "VISIBLE_STATES", "body_frame", "clear_markers",
    "human_to_msg", "humans_to_array", "humans_to_ids", "humans_to_markers", "humans_to_people",
    "humans_to_transforms", "track_color", "COLOUR_ENCODINGS", "ENCODINGS", "MAX_ASPECT_RATIO",
    "MIN_IMAGE_SIDE", "check_image_dimensions", "encoding_layout",
    "image_to_numpy", "image_to_rgb8", "numpy_to_image", "to_rgb8", "dtype_from_fields",
    "fields_from_dtype", "numpy_to_pointcloud2", "pack_rgb", "pointcloud2_to_numpy", "unpack_rgb",
    "OFF_BODY", "SCENE_CLOUD_DTYPE", "body_coords_of", "camera_transforms", "scene_points_array", "scene_to_pointcloud2",
    "select_points", "make_header", "ns_to_stamp", "stamp_to_ns",
]
