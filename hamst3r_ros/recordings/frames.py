"""Frame-set recordings: a folder of images per camera, or a synthetic scene (no ROS).

Both give ``cameras`` (:class:`SimCamera`: name, size, intrinsics) and ``frame(k)``: the
(H, W, 3) uint8 RGB images of every camera at frame set ``k`` of ``num_frames``.
``sim_cameras`` publishes them at a chosen rate, stamped when published.

- :class:`FolderRecording`: ``folder/<camera>/*.png|*.jpg|*.jpeg``, one sub-folder per camera,
  frame k is the k-th file of each camera in name order. Calibration, when present, comes from
  ``folder/<camera>/camera_info.yaml`` in the ROS calibration format (image_width,
  image_height, camera_matrix, distortion_model, distortion_coefficients); without it the
  camera is uncalibrated (K None; published as K = 0, as REP-104 specifies).
- :class:`SyntheticRecording`: the synthetic multi-camera human scenes of
  :mod:`hamst3r_ros.synthetic` with their exact intrinsics: a dataset written by
  ``hamst3r synth``, or a scene rendered at start.
"""
from __future__ import annotations

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
