"""On-disk synthetic dataset: write and read.

Layout of a dataset directory (everything little-endian, no pickles)::

    manifest.json                   format, version, SceneConfig, cameras, people, frames
    frames/<index:06d>.npz          all ground truth of one frame set (np.savez_compressed)
    images/<index:06d>_<cam>.png    the RGB image of each camera (8-bit RGB PNG)

``manifest.json``::

    {"format": "hamst3r-synthetic", "version": 1, "body_model": "anny",
     "config": {...SceneConfig fields...},
     "cameras": [{"name": "cam0", "frame_id": "cam0_optical_frame", "width": W, "height": H}, ...],
     "people": [{"person_id": 1, "motion": "walk", "shape": [6 floats]}, ...],
     "template": {"centre": [3 floats], "extent": float},   # body-template normalisation
     "frames": [{"index": k, "stamp_ns": int, "file": "frames/000000.npz",
                 "images": ["images/000000_cam0.png", ...]}, ...]}

Arrays in ``frames/<index>.npz`` (N cameras, P people, ``<cam>`` = camera name)::

    stamp_ns                    () int64
    <cam>/depth                 (H, W) float32 metres, optical z, NaN = nothing hit
    <cam>/instance              (H, W) uint16, 0 = background
    <cam>/body_coords           (H, W, 3) float16 body-template coords in [0, 1], NaN off bodies
                                (float16: < 5e-4 error, under 1 mm on the template)
    <cam>/K                     (3, 3) float64
    <cam>/T_fixed_cam           (4, 4) float64
    people/person_id            (P,) int64
    people/joints               (P, 24, 3) float64, fixed frame
    people/joint_rotations      (P, 24, 3, 3) float64
    people/T_fixed_body         (P, 4, 4) float64
    people/shape                (P, 6) float32
    people/pose                 (P, 103, 3) float32
    people/velocity             (P, 3) float64 m/s
    people/visible_pixels       (P, N) int64

The body mask is ``instance > 0``; meshes are not stored (rebuild them from shape, pose and
T_fixed_body with :func:`hamst3r_ros.body.load_anny_body`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator, Optional

import numpy as np

from hamst3r_ros.synthetic.scene import CameraGT, FrameSetGT, PersonGT

FORMAT = "hamst3r-synthetic"
VERSION = 1


def _frame_arrays(fs: FrameSetGT) -> dict[str, np.ndarray]:
    a: dict[str, np.ndarray] = {"stamp_ns": np.int64(fs.stamp_ns)}
    for c in fs.cameras:
        a[f"{c.name}/depth"] = c.depth.astype(np.float32)
        a[f"{c.name}/instance"] = c.instance.astype(np.uint16)
        a[f"{c.name}/body_coords"] = c.body_coords.astype(np.float16)
        a[f"{c.name}/K"] = c.K
        a[f"{c.name}/T_fixed_cam"] = c.T_fixed_cam
    P = len(fs.people)
    N = len(fs.cameras)
    stack = lambda f, shape, dt: np.stack([f(p) for p in fs.people]).astype(dt) if P else np.zeros((0,) + shape, dt)  # noqa: E731
    a["people/person_id"] = stack(lambda p: p.person_id, (), np.int64)
    a["people/joints"] = stack(lambda p: p.joints, (24, 3), np.float64)
    a["people/joint_rotations"] = stack(lambda p: p.joint_rotations, (24, 3, 3), np.float64)
    a["people/T_fixed_body"] = stack(lambda p: p.T_fixed_body, (4, 4), np.float64)
    a["people/shape"] = stack(lambda p: p.shape, (6,), np.float32)
    a["people/pose"] = stack(lambda p: p.pose, (103, 3), np.float32)
    a["people/velocity"] = stack(lambda p: p.velocity, (3,), np.float64)
    a["people/visible_pixels"] = stack(lambda p: p.visible_pixels, (N,), np.int64)
    return a


def write_dataset(out_dir: str | Path, scene, framesets: Iterable[FrameSetGT], preview: Optional[str | Path] = None,
                  progress: bool = True) -> Path:
    """Write ``framesets`` of ``scene`` (a SyntheticScene) under ``out_dir``; returns the
    manifest's path. ``preview``: also save a mosaic per frame set (see preview.py) at this
    path (one frame set) or at ``<stem>_<index:06d><suffix>``. Existing frame files with the
    same names are overwritten."""
    from PIL import Image

    from hamst3r_ros.synthetic.preview import preview_mosaic

    out = Path(out_dir)
    (out / "frames").mkdir(parents=True, exist_ok=True)
    (out / "images").mkdir(parents=True, exist_ok=True)
    framesets = list(framesets) if preview is not None else framesets
    many = preview is not None and len(framesets) > 1
    frames = []
    it = framesets
    if progress:
        from tqdm import tqdm

        it = tqdm(framesets, desc="write", unit="set")
    for fs in it:
        name = f"{fs.index:06d}"
        np.savez_compressed(out / "frames" / f"{name}.npz", **_frame_arrays(fs))
        images = []
        for c in fs.cameras:
            rel = f"images/{name}_{c.name}.png"
            Image.fromarray(c.image).save(out / rel, compress_level=1)  # 3x faster than the default 6
            images.append(rel)
        frames.append({"index": fs.index, "stamp_ns": fs.stamp_ns, "file": f"frames/{name}.npz", "images": images})
        if preview is not None:
            p = Path(preview)
            path = p.with_name(f"{p.stem}_{name}{p.suffix}") if many else p
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(preview_mosaic(fs)).save(path, compress_level=1)
    cfg = scene.config
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "body_model": "anny",
        "config": cfg.to_dict(),
        "cameras": [{"name": f"cam{k}", "frame_id": f"cam{k}_optical_frame", "width": i.width, "height": i.height}
                    for k, i in enumerate(scene.intrinsics)],
        "people": [{"person_id": p.person_id, "motion": p.motion, "shape": [float(x) for x in p.shape]}
                   for p in scene.people],
        "template": {"centre": [float(x) for x in scene.template.centre], "extent": float(scene.template.extent)},
        "frames": frames,
    }
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


class SyntheticDataset:
    """Read a dataset written by :func:`write_dataset` (random access, no pickles).

    ``len(ds)``, ``ds[k]`` -> FrameSetGT (k-th entry of the manifest), iteration in order.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        path = self.root / "manifest.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no manifest.json; expected a dataset written by `hamst3r synth`")
        self.manifest = json.loads(path.read_text())
        if self.manifest.get("format") != FORMAT or self.manifest.get("version") != VERSION:
            raise ValueError(f"{path}: format {self.manifest.get('format')!r} version {self.manifest.get('version')!r}; "
                             f"expected {FORMAT!r} version {VERSION}")
        self.cameras = self.manifest["cameras"]
        self.people = self.manifest["people"]

    def __len__(self) -> int:
        return len(self.manifest["frames"])

    def __iter__(self) -> Iterator[FrameSetGT]:
        for k in range(len(self)):
            yield self[k]

    def __getitem__(self, k: int) -> FrameSetGT:
        from PIL import Image

        entry = self.manifest["frames"][k]
        motions = {p["person_id"]: p["motion"] for p in self.people}
        with np.load(self.root / entry["file"], allow_pickle=False) as z:
            a = {key: z[key] for key in z.files}
        cams = []
        for cam, img_rel in zip(self.cameras, entry["images"]):
            n = cam["name"]
            image = np.asarray(Image.open(self.root / img_rel).convert("RGB"))
            inst = a[f"{n}/instance"]
            cams.append(CameraGT(
                name=n, frame_id=cam["frame_id"], stamp_ns=int(a["stamp_ns"]), image=image, depth=a[f"{n}/depth"],
                instance=inst, body_coords=a[f"{n}/body_coords"].astype(np.float32), body_mask=inst > 0,
                K=a[f"{n}/K"], T_fixed_cam=a[f"{n}/T_fixed_cam"],
            ))
        people = [
            PersonGT(
                person_id=int(pid), motion=motions.get(int(pid), ""), joints=a["people/joints"][i],
                joint_rotations=a["people/joint_rotations"][i], T_fixed_body=a["people/T_fixed_body"][i],
                shape=a["people/shape"][i], pose=a["people/pose"][i], velocity=a["people/velocity"][i],
                visible_pixels=a["people/visible_pixels"][i],
            )
            for i, pid in enumerate(a["people/person_id"])
        ]
        return FrameSetGT(index=int(entry["index"]), stamp_ns=int(entry["stamp_ns"]), cameras=cams, people=people,
                          body_model=self.manifest.get("body_model", "anny"))
