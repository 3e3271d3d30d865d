"""The held-out scenes ``hamst3r eval-system`` runs on: rendered once into a cache folder.

A scene is a seeded :class:`~hamst3r_ros.synthetic.scene.SceneConfig` written as a dataset
(``hamst3r_ros/synthetic/dataset.py``); the folder name holds every setting, so a cached
scene is reused only when it is exactly the one asked for.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

#: Held-out seeds of the default run: disjoint from every training seed (1000-1595) and from
#: the network's own held-out scenes (2000-2005) of the embedded model's recipe.
DEFAULT_SEEDS: tuple[int, ...] = (3000, 3001, 3002)


@dataclass(frozen=True)
class SceneSpec:
    """A scene like the demo's (defaults): 4 wall cameras 320x240, 70 deg, 2 walking people,
    frame sets at 2 Hz.

    Attributes:
        seed: scene seed.
        frames: frame sets (scene time k / fps for set k).
        people, cameras: counts.
        width, height: image size, pixels.
        hfov_deg: horizontal field of view, degrees.
        fps: frame-set rate, Hz.
        motion: one motion for every person (``synthetic.motion.MOTIONS``), or "mixed"
            (the scene's seeded mix).
    """

    seed: int
    frames: int = 12
    people: int = 2
    cameras: int = 4
    width: int = 320
    height: int = 240
    hfov_deg: float = 70.0
    fps: float = 2.0
    motion: str = "walk"

    def folder_name(self) -> str:
        return (f"seed{self.seed}_c{self.cameras}_p{self.people}_{self.motion}_{self.width}x{self.height}"
                f"_hfov{self.hfov_deg:g}_fps{self.fps:g}_n{self.frames}")

    def scene_config(self):
        from hamst3r_ros.synthetic.scene import SceneConfig

        motions = None if self.motion == "mixed" else [self.motion] * self.people
        cfg = SceneConfig(seed=self.seed, num_cameras=self.cameras, num_people=self.people, width=self.width,
                          height=self.height, hfov_deg=self.hfov_deg, fps=self.fps, motions=motions)
        cfg.validate()
        return cfg


def ensure_scene(spec: SceneSpec, cache: str | Path, progress: bool = True) -> Path:
    """The dataset folder of ``spec`` under ``cache``, rendered first when it is missing."""
    from hamst3r_ros.synthetic.dataset import write_dataset
    from hamst3r_ros.synthetic.scene import SyntheticScene

    root = Path(cache) / spec.folder_name()
    if (root / "manifest.json").is_file():
        return root
    cfg = spec.scene_config()
    scene = SyntheticScene(cfg)
    tmp = root.with_name(root.name + ".partial")
    write_dataset(tmp, scene, scene.framesets(spec.frames, progress=progress), progress=False)
    tmp.rename(root)  # a run stopped half-way never leaves a scene that looks complete
    return root


def scene_label(root: str | Path, manifest: Optional[dict] = None) -> str:
    """A short name for tables: the seed when the dataset records one, else the folder name."""
    cfg = (manifest or {}).get("config", {})
    return f"seed {cfg['seed']}" if "seed" in cfg else Path(root).name
