"""Scoring a running node against the scene it is shown (``hamst3r demo``).

``sim_cameras`` renders a seeded scene and publishes it (looping); the demo renders the same
scene here, recognises which frame set a published output belongs to by the first camera's
image (bit-identical renders), and scores the published cloud and people as
``hamst3r eval-system`` does (same metric functions, same truth within the network's crop).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional

import numpy as np

from hamst3r_ros.geometry.cloud_metrics import CloudMetrics, cloud_metrics
from hamst3r_ros.human.metrics import PeopleMetrics, match_people, people_metrics
from hamst3r_ros.system_eval.truth import true_joints, true_surface


def image_key(image: np.ndarray) -> str:
    """A digest identifying one rendered image exactly."""
    a = np.ascontiguousarray(image)
    return hashlib.blake2b(a.tobytes() + str(a.shape).encode(), digest_size=16).hexdigest()


def view_rule(checkpoint: str = "") -> Callable[[np.ndarray], object]:
    """The network's resize/crop rule of a checkpoint, without loading its weights:
    image -> ``Preprocessed``. Our checkpoints' JSON names the input size and patch; other
    files (official MASt3R) follow the official 512-px rule."""
    import json

    from hamst3r_ros.model.preprocess import preprocess_image

    size, patch, official = 512, 16, True
    if not checkpoint:
        from hamst3r_ros.model.embedded import embedded_checkpoint

        checkpoint = str(embedded_checkpoint())
    meta = Path(checkpoint).with_suffix(".json")
    if meta.is_file():
        net = json.loads(meta.read_text()).get("network", {})
        patch = int(net.get("patch_size", 16))
        official = not net.get("image_size")
        size = int(net.get("image_size") or (518 if patch == 14 else 512))
    return lambda image: preprocess_image(image, size, patch, square_ok=patch == 14, square224=official)


@dataclass
class SetScore:
    """One published frame set against the truth."""

    frame: int
    cloud: Optional[CloudMetrics]
    true: int
    published: int
    matched: int

    @property
    def ghosts(self) -> int:
        return self.published - self.matched


@dataclass
class SceneTruth:
    """Ground truth of the frames of a scene, by frame index.

    Attributes:
        keys: image_key of the first camera's image -> frame index.
        surface: frame index -> (T, 3) true surface within the network's crop (fixed frame).
        colors: frame index -> (T, 3) uint8 colours of those points.
        people: frame index -> person id -> (24, 3) true joints of the visible people.
    """

    keys: dict[str, int] = field(default_factory=dict)
    surface: dict[int, np.ndarray] = field(default_factory=dict)
    colors: dict[int, np.ndarray] = field(default_factory=dict)
    people: dict[int, dict[int, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def render(cls, scene_config, frames: int, rule: Callable[[np.ndarray], object],
               progress: bool = True) -> "SceneTruth":
        """Render frames 0 .. frames-1 of the scene (what sim_cameras publishes, in a loop)."""
        from hamst3r_ros.synthetic.scene import SyntheticScene

        scene = SyntheticScene(scene_config)
        out = cls()
        it = range(frames)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc="demo: ground truth", unit="set")
        for k in it:
            fs = scene.frameset(k, keep_vertices=False)
            out.keys[image_key(fs.cameras[0].image)] = k
            out.surface[k], out.colors[k] = true_surface(fs, [rule(c.image) for c in fs.cameras], with_colors=True)
            out.people[k] = true_joints(fs)
        return out


class LiveScore:
    """Scores published frame sets one by one and keeps the sequence's people numbers."""

    def __init__(self, truth: SceneTruth, score_cloud: bool = True, match_distance: float = 0.5,
                 threshold: float = 0.05):
        self.truth = truth
        self.score_cloud = score_cloud
        self.match_distance = match_distance
        self.threshold = threshold
        self.sets: list[SetScore] = []
        self._gt: list[dict] = []
        self._pub: list[dict] = []

    def add(self, frame: int, xyz: np.ndarray, published: Mapping[int, np.ndarray]) -> SetScore:
        """Score the cloud ``xyz`` (M, 3) and ``published`` (track id -> (24, 3) joints; the
        people a consumer is shown) of one output of frame ``frame``."""
        gt = self.truth.people[frame]
        # Estimated from 20k queries on one core: exact scoring on both cores took more CPU
        # than the node it watches (which then ran at half speed).
        cloud = (cloud_metrics(xyz, self.truth.surface[frame], self.threshold, max_queries=20000, workers=1)
                 if self.score_cloud else None)
        m = match_people({g: j[0] for g, j in gt.items()}, {p: np.asarray(j)[0] for p, j in published.items()},
                         self.match_distance)
        self._gt.append(gt)
        self._pub.append(dict(published))
        s = SetScore(frame, cloud, len(gt), len(published), len(m))
        self.sets.append(s)
        return s

    def people(self) -> PeopleMetrics:
        """The people numbers over every set so far."""
        return people_metrics(self._gt, self._pub, self.match_distance)

    def line(self, s: SetScore) -> str:
        """One line for the set just added."""
        p = self.people()
        cloud = (f"cloud err {100 * s.cloud.acc_median:.0f} cm, compl@5cm {s.cloud.completeness:.2f}"
                 if s.cloud is not None else "cloud not scored (unposed)")
        return (f"scene frame {s.frame:2d}: {cloud}; people {s.true} true / {s.published} shown, "
                f"{s.matched} found, {s.ghosts} ghost(s); ids per person so far {p.mean_ids_per_person:.1f}")

    def summary(self) -> str:
        """The sequence's numbers, with what they mean."""
        if not self.sets:
            return "no frame set could be scored"
        p = self.people()
        out = [f"{len(self.sets)} frame sets scored against the scene's ground truth:"]
        clouds = [s.cloud for s in self.sets if s.cloud is not None]
        if clouds:
            out.append(f"  cloud: median error {100 * np.mean([c.acc_median for c in clouds]):.1f} cm "
                       f"(p90 {100 * np.mean([c.acc_p90 for c in clouds]):.1f} cm), completeness@5cm "
                       f"{np.mean([c.completeness for c in clouds]):.2f} (share of the true surface shown)")
        out.append(f"  people: recall {p.recall:.2f}, ghosts per set {p.ghosts_per_set:.2f}, "
                   f"ids per true person {p.mean_ids_per_person:.2f}, id switches {p.id_switches}, "
                   f"PA-MPJPE {1000 * p.pa_mpjpe:.0f} mm")
        return "\n".join(out)
