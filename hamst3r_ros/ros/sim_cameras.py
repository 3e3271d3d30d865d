"""``sim_cameras``: publish a multi-camera recording the way real camera drivers do.

Per camera ``<name>``: ``<name>/image_raw`` (sensor_msgs/Image, or with ``compressed`` set,
``<name>/image_raw/compressed`` as sensor_msgs/CompressedImage) and ``<name>/camera_info``,
relative to the node's namespace, stamped with the node clock at each trigger (plus an
optional per-camera jitter, as free-running drivers have), ``frame_id`` =
``<name><frame_id_suffix>`` (an optical frame: z forward), at ``rate_hz``.

Sources (parameter ``source``):
- ``folder``: ``folder/<camera>/*.png|*.jpg|*.jpeg``, one sub-folder per camera, frame k is the
  k-th file of each camera in name order. Calibration, when present, comes from
  ``folder/<camera>/camera_info.yaml`` in the ROS calibration format (image_width,
  image_height, camera_matrix, distortion_model, distortion_coefficients); without it,
  CameraInfo carries K = 0 (uncalibrated, as REP-104 specifies). A folder holding a
  ``manifest.json`` is a synthetic dataset (below) and is read as such.
- ``synthetic``: the synthetic multi-camera human scenes of :mod:`hamst3r_ros.synthetic`,
  with their exact intrinsics: a dataset written by ``hamst3r synth`` when ``folder`` is
  given, else a scene rendered at start (``synthetic_*`` parameters, ``width``, ``height``,
  ``seed``; ``synthetic_frames`` frame sets, then looped).
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import yaml

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class SimCamera:
    """One simulated camera: name, optical frame id, intrinsics (3x3, pixels) or None."""

    name: str
    width: int
    height: int
    K: Optional[np.ndarray] = None
    distortion_model: str = "plumb_bob"
    D: tuple[float, ...] = ()


class FolderRecording:
    """A recording stored as one folder of images per camera.

    Args:
        root: the folder holding one sub-folder per camera.
        cameras: camera sub-folders to use (default: every sub-folder with images, sorted).
        preload: decode every image once at start (needed for high rates; shows progress).
    """

    def __init__(self, root: str | Path, cameras: Sequence[str] = (), preload: bool = True):
        from PIL import Image as PILImage

        self._pil = PILImage
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"sim_cameras: folder {str(root)!r} does not exist or is not a "
                             "directory (expected one sub-folder of images per camera)")
        dirs = sorted(d for d in root.iterdir() if d.is_dir() and _images_in(d))
        if cameras:
            missing = [c for c in cameras if not (root / c).is_dir() or not _images_in(root / c)]
            if missing:
                raise ValueError(f"sim_cameras: camera folders {missing} under {str(root)!r} "
                                 f"are missing or hold no {'/'.join(IMAGE_SUFFIXES)} images")
            dirs = [root / c for c in cameras]
        if not dirs:
            raise ValueError(f"sim_cameras: {str(root)!r} has no sub-folder with "
                             f"{'/'.join(IMAGE_SUFFIXES)} images (expected <folder>/<camera>/*.png)")
        self._files = {d.name: _images_in(d) for d in dirs}
        self.num_frames = min(len(f) for f in self._files.values())
        self.cameras: list[SimCamera] = []
        for d in dirs:
            with self._pil.open(self._files[d.name][0]) as im:
                w, h = im.size
            cam = SimCamera(d.name, w, h)
            calib = d / "camera_info.yaml"
            if calib.is_file():
                cam = read_calibration(calib, d.name)
                if (cam.width, cam.height) != (w, h):
                    raise ValueError(f"sim_cameras: {calib} is for {cam.width}x{cam.height} "
                                     f"images but {d.name}'s images are {w}x{h}")
            self.cameras.append(cam)
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        if preload:
            from tqdm import tqdm

            for k in tqdm(range(self.num_frames), desc="sim_cameras: loading images",
                          unit="frame set", disable=self.num_frames < 20):
                self.frame(k)

    def frame(self, k: int) -> list[np.ndarray]:
        """(H, W, 3) uint8 RGB image of every camera at frame ``k``."""
        out = []
        for i, cam in enumerate(self.cameras):
            key = (i, k)
            img = self._cache.get(key)
            if img is None:
                path = self._files[cam.name][k]
                with self._pil.open(path) as im:
                    img = np.asarray(im.convert("RGB"))
                if img.shape[:2] != (cam.height, cam.width):
                    raise ValueError(f"sim_cameras: {path} is {img.shape[1]}x{img.shape[0]}, "
                                     f"camera {cam.name} is {cam.width}x{cam.height}")
                self._cache[key] = img
            out.append(img)
        return out


def _images_in(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_calibration(path: str | Path, name: str) -> SimCamera:
    """A camera from a ROS calibration YAML file (camera_calibration_parsers format)."""
    with open(path) as f:
        data = yaml.safe_load(f)
    try:
        w, h = int(data["image_width"]), int(data["image_height"])
        K = np.array(data["camera_matrix"]["data"], dtype=np.float64).reshape(3, 3)
        model = str(data.get("distortion_model", "plumb_bob"))
        D = tuple(float(x) for x in (data.get("distortion_coefficients") or {}).get("data", []))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"sim_cameras: {path} is not a ROS camera calibration file "
                         f"(needs image_width, image_height, camera_matrix.data with 9 "
                         f"numbers): {exc}") from None
    if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"sim_cameras: {path}: camera_matrix must be finite with positive "
                         f"focal lengths, got {K.tolist()}")
    return SimCamera(name, w, h, K, model, D)


class SyntheticRecording:
    """Frame sets of a synthetic scene: rendered now, or read from a written dataset.

    Args:
        folder: a dataset written by ``hamst3r synth`` (``manifest.json`` inside; its frames
            are played as recorded, at the dataset's own rate), or "" to render ``num_frames``
            frame sets of a new scene (SceneConfig: ``num_cameras``, ``num_people``, ``width``
            x ``height``, ``seed``) at start, with progress.
        fps: scene time per rendered frame set is 1 / ``fps`` seconds: give the publishing rate,
            so that people move as far between two published sets as they would live.
    """

    def __init__(self, folder: str | Path = "", num_cameras: int = 4, num_people: int = 2,
                 num_frames: int = 20, width: int = 512, height: int = 384, seed: int = 0,
                 fps: float = 10.0):
        if folder:
            from hamst3r_ros.synthetic.dataset import SyntheticDataset

            self._ds = SyntheticDataset(folder)
            self.num_frames = len(self._ds)
            if self.num_frames == 0:
                raise ValueError(f"sim_cameras: synthetic dataset {str(folder)!r} has no frames")
            first = self._ds[0]
            self._frames: dict[int, list[np.ndarray]] = {}
        else:
            from tqdm import tqdm

            from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

            if num_frames < 1:
                raise ValueError(f"sim_cameras: synthetic_frames must be >= 1, got {num_frames}")
            scene = SyntheticScene(SceneConfig(seed=seed, num_cameras=num_cameras,
                                               num_people=num_people, width=width,
                                               height=height, fps=fps))
            self._ds = None
            self.num_frames = num_frames
            self._frames = {}
            first = None
            for k in tqdm(range(num_frames), desc="sim_cameras: rendering synthetic scene",
                          unit="frame set"):
                fs = scene.frameset(k, keep_vertices=False)
                self._frames[k] = [c.image for c in fs.cameras]
                if first is None:
                    first = fs
        self.cameras = [SimCamera(c.name, c.image.shape[1], c.image.shape[0],
                                  np.asarray(c.K, np.float64)) for c in first.cameras]

    def frame(self, k: int) -> list[np.ndarray]:
        """(H, W, 3) uint8 RGB image of every camera at frame ``k``."""
        if k not in self._frames:
            self._frames[k] = [c.image for c in self._ds[k].cameras]
        return self._frames[k]


def _make_node_class():
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    from hamst3r_ros.ros.conversions.camera_info import K_to_camera_info
    from hamst3r_ros.ros.conversions.compressed import numpy_to_compressed
    from hamst3r_ros.ros.conversions.image import numpy_to_image
    from hamst3r_ros.ros.conversions.stamps import make_header

    class SimCameras(Node):
        """Publishes a recording (``recording`` injected, or built from parameters)."""

        def __init__(self, recording=None, node_name: str = "sim_cameras", **node_kwargs):
            super().__init__(node_name, **node_kwargs)
            p = {name: self.declare_parameter(name, default).value for name, default in (
                ("source", "folder"), ("folder", ""), ("rate_hz", 10.0), ("loop", True),
                ("count", 0), ("compressed", ""), ("encoding", "rgb8"), ("jitter_ms", 0.0),
                ("frame_id_suffix", "_optical_frame"), ("seed", 0), ("synthetic_cameras", 4),
                ("synthetic_people", 2), ("synthetic_frames", 20), ("width", 512),
                ("height", 384))}
            # Declared by type: an empty-list default would make it a byte array.
            p["cameras"] = self.declare_parameter(
                "cameras", Parameter.Type.STRING_ARRAY, ParameterDescriptor(
                    description="camera sub-folders to publish (default: all)")).value or []
            self.p = p
            if not p["rate_hz"] > 0:
                raise ValueError(f"sim_cameras: rate_hz must be > 0, got {p['rate_hz']}")
            if p["compressed"] not in ("", "jpeg", "png"):
                raise ValueError("sim_cameras: compressed must be '', 'jpeg' or 'png', got "
                                 f"{p['compressed']!r}")
            if p["encoding"] not in ("rgb8", "bgr8"):
                raise ValueError(f"sim_cameras: encoding must be rgb8 or bgr8, got {p['encoding']!r}")
            if p["count"] < 0 or p["jitter_ms"] < 0:
                raise ValueError("sim_cameras: count and jitter_ms must be >= 0")
            if recording is None:
                cams = [c for c in p["cameras"] if c]
                synthetic_dataset = bool(p["folder"]) and (Path(p["folder"]) / "manifest.json").is_file()
                if p["source"] == "synthetic" or (p["source"] == "folder" and synthetic_dataset):
                    recording = SyntheticRecording(
                        p["folder"], p["synthetic_cameras"], p["synthetic_people"],
                        p["synthetic_frames"], p["width"], p["height"], p["seed"],
                        fps=p["rate_hz"])
                elif p["source"] == "folder":
                    if not p["folder"]:
                        raise ValueError("sim_cameras: source 'folder' needs the parameter "
                                         "'folder' (a folder with one sub-folder per camera); "
                                         "for a rendered synthetic scene set source:=synthetic")
                    recording = FolderRecording(p["folder"], cams)
                else:
                    raise ValueError("sim_cameras: source must be 'folder' or 'synthetic', "
                                     f"got {p['source']!r}")
            self.recording = recording
            self._rng = random.Random(p["seed"])
            qos = QoSProfile(depth=10)
            self._pubs = []
            for cam in recording.cameras:
                if p["compressed"]:
                    img_pub = self.create_publisher(
                        CompressedImage, f"{cam.name}/image_raw/compressed", qos)
                else:
                    img_pub = self.create_publisher(Image, f"{cam.name}/image_raw", qos)
                info_pub = self.create_publisher(CameraInfo, f"{cam.name}/camera_info", qos)
                self._pubs.append((cam, img_pub, info_pub))
            self._make_header = make_header
            self._to_image = numpy_to_image
            self._to_compressed = numpy_to_compressed
            self.published = 0
            self._k = 0
            self.done = False
            self._timer = self.create_timer(1.0 / p["rate_hz"], self.publish_next)
            self.get_logger().info(
                f"publishing {len(recording.cameras)} cameras "
                f"({', '.join(c.name for c in recording.cameras)}), {recording.num_frames} "
                f"frames at {p['rate_hz']} Hz")

        def image_subscribers(self) -> int:
            """Smallest number of subscribers on any camera's image topic."""
            return min(pub.get_subscription_count() for _, pub, _ in self._pubs)

        def publish_next(self) -> None:
            """Publish one frame set (all cameras) stamped now."""
            if self.done:
                return
            p = self.p
            if self._k >= self.recording.num_frames:
                if not p["loop"]:
                    self._finish()
                    return
                self._k = 0
            images = self.recording.frame(self._k)
            now_ns = self.get_clock().now().nanoseconds
            for (cam, img_pub, info_pub), img in zip(self._pubs, images):
                jitter = int(self._rng.uniform(-1, 1) * p["jitter_ms"] * 1e6)
                header = self._make_header(cam.name + p["frame_id_suffix"], max(0, now_ns + jitter))
                data = img[:, :, ::-1] if p["encoding"] == "bgr8" else img
                if p["compressed"]:
                    msg = self._to_compressed(np.ascontiguousarray(data), p["encoding"],
                                              p["compressed"], header=header)
                else:
                    msg = self._to_image(np.ascontiguousarray(data), p["encoding"], header=header)
                info_pub.publish(K_to_camera_info(cam.K, cam.width, cam.height, header=header,
                                                  distortion_model=cam.distortion_model, d=cam.D))
                img_pub.publish(msg)
            self._k += 1
            self.published += 1
            if p["count"] and self.published >= p["count"]:
                self._finish()

        def _finish(self) -> None:
            self.done = True
            self._timer.cancel()
            self.get_logger().info(f"published {self.published} frame sets; done")

    return SimCameras


def make_node(recording=None, **node_kwargs):
    """A SimCameras node (rclpy must be initialised)."""
    return _make_node_class()(recording, **node_kwargs)


def main(args: Optional[Sequence[str]] = None) -> int:
    """Console script ``sim_cameras``: publish until done (count/loop), Ctrl-C or SIGTERM."""
    from hamst3r_ros.ros.process import run_node

    return run_node("sim_cameras", make_node, args, (ValueError,), keep_going=lambda node: not node.done)


if __name__ == "__main__":
    sys.exit(main())
