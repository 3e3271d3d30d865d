"""Seeded multi-camera scenes of moving people with full ground truth.

``SyntheticScene(SceneConfig(seed=..., ...)).frameset(k)`` renders frame set k (time
``k / fps`` s). Everything follows from the seed: the same config gives bit-identical
output, and any frame can be rendered in any order.

Coordinates: the REP-103 fixed frame of :mod:`hamst3r_ros.synthetic.world` (floor z = 0);
cameras as in :mod:`hamst3r_ros.synthetic.cameras` (optical frames, ``T_fixed_cam``);
people as in :mod:`hamst3r_ros.body` (``T_fixed_body``: pelvis origin, x forward, z up).
Instance id of person k is k + 1 in every camera and every frame (0 = background).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterator, Optional, Sequence

import numpy as np

from hamst3r_ros.synthetic.cameras import Intrinsics, robot_rig, wall_placements
from hamst3r_ros.synthetic.effects import apply_camera_effects
from hamst3r_ros.synthetic.motion import MOTIONS, PersonSpec, PoseBuilder, pelvis_velocity, person_state, sitting_pose
from hamst3r_ros.synthetic.render import BodyMesh, RaycastRenderer
from hamst3r_ros.synthetic.textures import body_vertex_colors
from hamst3r_ros.synthetic.world import Room, add_box, make_room
from hamst3r_ros.types import CameraFrame, FrameSet

PLACEMENTS = ("wall", "robot")


@dataclass
class SceneConfig:
    """What to generate. All randomness comes from ``seed``.

    Attributes:
        seed: the scene's seed.
        num_cameras: 1-8 (2-8 for multi-view use).
        num_people: 0-8 (the issue asks for 1-5; more is allowed, they may collide).
        width, height, hfov_deg: default intrinsics of every camera (pixels, degrees).
        intrinsics: optional per-camera Intrinsics overriding the defaults (len num_cameras).
        placement: "wall" (wall-mounted) or "robot" (a rig on a robot).
        rig_speed: robot rig speed along its heading, m/s (0 = static); it drives back and
            forth over 1.5 m from its start 0.6 m in front of the -x wall.
        fps: frame-set rate; frame set k is at t = k / fps seconds.
        start_stamp_ns: stamp of frame set 0, integer nanoseconds.
        motions: optional motion per person (from MOTIONS); default: seeded mix.
        exposure_jitter, blur_sigma, noise_sigma: camera effects (see effects.py); 0 = off.
        nthreads: ray-casting threads (0 = all cores).
    """

    seed: int = 0
    num_cameras: int = 4
    num_people: int = 3
    width: int = 512
    height: int = 384
    hfov_deg: float = 70.0
    intrinsics: Optional[list[Intrinsics]] = None
    placement: str = "wall"
    rig_speed: float = 0.0
    fps: float = 10.0
    start_stamp_ns: int = 1_700_000_000_000_000_000
    motions: Optional[list[str]] = None
    exposure_jitter: float = 0.0
    blur_sigma: float = 0.0
    noise_sigma: float = 0.0
    nthreads: int = 0

    def validate(self) -> None:
        if not 1 <= self.num_cameras <= 8:
            raise ValueError(f"num_cameras must be 1-8, got {self.num_cameras}")
        if not 0 <= self.num_people <= 8:
            raise ValueError(f"num_people must be 0-8, got {self.num_people}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.intrinsics is not None and len(self.intrinsics) != self.num_cameras:
            raise ValueError(f"intrinsics: expected {self.num_cameras} entries, got {len(self.intrinsics)}")
        if self.motions is not None:
            bad = [m for m in self.motions if m not in MOTIONS]
            if bad or len(self.motions) != self.num_people:
                raise ValueError(f"motions must list {self.num_people} of {MOTIONS}, got {self.motions}")

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.intrinsics is not None:
            d["intrinsics"] = [asdict(i) for i in self.intrinsics]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SceneConfig":
        d = dict(d)
        if d.get("intrinsics") is not None:
            d["intrinsics"] = [Intrinsics(**i) for i in d["intrinsics"]]
        return cls(**d)


@dataclass
class CameraGT:
    """One camera's image and ground truth at one frame set.

    Attributes:
        name: "cam<k>".
        frame_id: "cam<k>_optical_frame".
        stamp_ns: acquisition time, ns.
        image: (H, W, 3) uint8 RGB (effects applied).
        depth: (H, W) float32 optical-frame z, metres; NaN where nothing was hit (never
            inside the closed room).
        instance: (H, W) uint16 person instance id, 0 = background; stable over views/time.
        body_coords: (H, W, 3) float32 body-template coordinates in [0, 1]
            (hamst3r_ros.body.template), NaN off bodies.
        body_mask: (H, W) bool, instance > 0.
        K: (3, 3) float64 intrinsics.
        T_fixed_cam: (4, 4) float64 optical frame -> fixed frame.
    """

    name: str
    frame_id: str
    stamp_ns: int
    image: np.ndarray
    depth: np.ndarray
    instance: np.ndarray
    body_coords: np.ndarray
    body_mask: np.ndarray
    K: np.ndarray
    T_fixed_cam: np.ndarray


@dataclass
class PersonGT:
    """One person's ground truth at one frame set (fixed frame, metres).

    Attributes:
        person_id: instance id (>= 1).
        motion: the motion kind (MOTIONS).
        joints: (24, 3) float64 SMPL-named joints (hamst3r_ros.types.SMPL_JOINT_NAMES).
        joint_rotations: (24, 3, 3) float64 global joint orientations relative to the zero
            pose (hamst3r_ros.body).
        T_fixed_body: (4, 4) float64 pelvis/body frame in the fixed frame.
        shape: (6,) float32 Anny phenotypes (hamst3r_ros.body.PHENOTYPE_NAMES).
        pose: (103, 3) float32 Anny pose parameters (axis-angle per non-root bone).
        velocity: (3,) float64 pelvis velocity, m/s.
        visible_pixels: (N,) int64 pixels of this person in each camera (0 = out of view or
            fully occluded).
        vertices: (V, 3) float32 posed mesh, or None (not stored on disk).
    """

    person_id: int
    motion: str
    joints: np.ndarray
    joint_rotations: np.ndarray
    T_fixed_body: np.ndarray
    shape: np.ndarray
    pose: np.ndarray
    velocity: np.ndarray
    visible_pixels: np.ndarray
    vertices: Optional[np.ndarray] = None


@dataclass
class FrameSetGT:
    """A synchronised multi-camera frame set with all ground truth.

    Attributes:
        index: frame-set number k (t = k / fps).
        stamp_ns: the set's stamp, ns (all cameras share it: synchronous capture).
        cameras: one CameraGT per camera, in camera order.
        people: one PersonGT per person, ordered by person_id.
        body_model: "anny" (what shape/pose/body_coords refer to).
    """

    index: int
    stamp_ns: int
    cameras: list[CameraGT]
    people: list[PersonGT]
    body_model: str = "anny"

    def to_frameset(self, with_intrinsics: bool = True, with_extrinsics: bool = False) -> FrameSet:
        """The pipeline's input: images (and optionally K / known extrinsics)."""
        frames = [CameraFrame(c.name, c.image, c.stamp_ns, c.frame_id, c.K.copy() if with_intrinsics else None)
                  for c in self.cameras]
        T = {c.name: c.T_fixed_cam.copy() for c in self.cameras} if with_extrinsics else {}
        return FrameSet(frames=frames, stamp_ns=self.stamp_ns, T_fixed_cam=T)


def _sample_phenotype(rng: np.random.Generator) -> np.ndarray:
    """(6,) phenotype: gender, age, muscle, weight, height, proportions. Anny's age axis is
    0 baby, 1/3 child, 2/3 young adult, 1 elderly: 85 % teens to elderly, 15 % children."""
    lo = np.array([0.0, 0.5, 0.2, 0.15, 0.15, 0.3])
    hi = np.array([1.0, 1.0, 0.8, 0.85, 0.9, 0.7])
    ph = rng.uniform(lo, hi)
    if rng.random() < 0.15:
        ph[1] = rng.uniform(0.25, 0.45)
    return ph.astype(np.float32)


class SyntheticScene:
    """A seeded scene: room, people, cameras; renders frame sets on demand.

    Args:
        config: what to generate.
        body: the AnnyBody to use (default: the shared float32 CPU model).
    """

    def __init__(self, config: SceneConfig, body=None):
        import torch

        from hamst3r_ros.body import anny_template, load_anny_body

        config.validate()
        self.config = config
        self.body = body if body is not None else load_anny_body()
        self.template = anny_template() if body is None else None
        if self.template is None:
            from hamst3r_ros.body import build_template

            self.template = build_template(self.body)
        self._torch = torch
        self._faces = self.body.faces.cpu().numpy().astype(np.int32)
        self._pb = PoseBuilder(self.body.pose_bone_names)
        ss = np.random.SeedSequence(config.seed)
        room_rng, people_rng, cam_rng = [np.random.default_rng(s) for s in ss.spawn(3)]
        self.room: Room = make_room(room_rng, keep_clear_wall_minus_x=1.3 if config.placement == "robot" else 0.0)
        self.intrinsics = config.intrinsics or [
            Intrinsics.from_hfov(config.width, config.height, config.hfov_deg) for _ in range(config.num_cameras)
        ]
        self._make_cameras(cam_rng)
        self.people: list[PersonSpec] = self._make_people(people_rng)
        self.renderer = RaycastRenderer(self.room, nthreads=config.nthreads)

    # ---------------------------------------------------------------- construction
    def _posed_at_origin(self, shape: np.ndarray, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vertices (V, 3) and joints (24, 3) in the body frame (T_world_body = I)."""
        with self._torch.no_grad():
            out = self.body(self._torch.as_tensor(shape[None]), self._torch.as_tensor(pose[None], dtype=self._torch.float32))
        return out.vertices[0].numpy().astype(np.float64), out.joints[0].numpy().astype(np.float64)

    def _free_box(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) xy corners of the floor area people use: 1.1 m clear of the walls (where
        the furniture stands) and, with a robot rig, 1.5 m ahead of the farthest point of its drive."""
        lx, ly = self.room.size
        lo = np.array([-lx / 2 + 1.1, -ly / 2 + 1.1])
        hi = -lo
        if self._rig_start is not None:
            lo[0] = max(lo[0], self._rig_start[0] + self._rig_travel + 1.5)
        return lo, hi

    def _make_people(self, rng: np.random.Generator) -> list[PersonSpec]:
        cfg = self.config
        lo, hi = self._free_box()
        mid, half_ext = (lo + hi) / 2, np.maximum((hi - lo) / 2, 0.3)
        motions = cfg.motions or list(rng.choice(MOTIONS, size=cfg.num_people, p=[0.35, 0.25, 0.2, 0.2]))
        people: list[PersonSpec] = []
        spots: list[np.ndarray] = []  # occupied stand/sit positions
        paths: list[np.ndarray] = []  # (K, 2) samples of the walkers' paths
        # walkers first, so that standing and sitting people can keep off their paths
        order = sorted(range(len(motions)), key=lambda i: motions[i] not in ("walk", "pace"))
        for k in order:
            motion = motions[k]
            shape = _sample_phenotype(rng)
            verts, _ = self._posed_at_origin(shape, np.zeros((len(self._pb.index), 3), np.float32))
            pelvis_h = -float(verts[:, 2].min())
            centre, radii, heading = np.zeros(2), np.zeros(2), float(rng.uniform(-np.pi, np.pi))
            speed = float(rng.uniform(0.8, 1.4))
            if motion == "walk":
                a = float(rng.uniform(min(1.2, half_ext[0]), half_ext[0]))
                b = float(rng.uniform(min(1.0, half_ext[1]), half_ext[1]))
                radii = np.array([a, b])
                centre = mid + rng.uniform(-1, 1, 2) * (half_ext - radii)
                speed *= float(rng.choice([-1.0, 1.0]))
            elif motion == "pace":
                heading = float(rng.choice([0.0, np.pi / 2]))
                axis = int(round(abs(np.sin(heading))))
                half = float(rng.uniform(min(1.0, half_ext[axis]), min(2.0, half_ext[axis])))
                lim = half_ext.copy()
                lim[axis] -= half
                centre = mid + rng.uniform(-1, 1, 2) * np.maximum(lim, 0.0)
                radii = np.array([half, 0.0])
            else:
                # the candidate farthest from the others (enough: > 1.2 m from spots, > 0.8 m from paths)
                best, best_score = None, -np.inf
                for _ in range(50):
                    c = rng.uniform(lo, hi)
                    score = min([np.linalg.norm(c - q) - 1.2 for q in spots]
                                + [np.linalg.norm(p - c, axis=1).min() - 0.8 for p in paths] + [1.0])
                    if score > best_score:
                        best, best_score = c, score
                    if score >= 0:
                        break
                centre = best
                spots.append(centre)
            spec = PersonSpec(k + 1, shape, str(motion), centre, radii, heading, speed, float(rng.uniform(0, 2 * np.pi)),
                              pelvis_h, bool(rng.random() < 0.5))
            if motion == "sit":
                heading = float(rng.integers(0, 4)) * np.pi / 2  # axis-aligned stool
                spec.heading = heading
                self._seat(spec, rng)
            spec.vertex_colors = body_vertex_colors(self.template.vertices, rng)
            if motion in ("walk", "pace"):
                paths.append(np.array([person_state(spec, t, self._pb)[1][:2, 3] for t in np.linspace(0, 30, 121)]))
            people.append(spec)
        return sorted(people, key=lambda p: p.person_id)

    def _seat(self, spec: PersonSpec, rng: np.random.Generator) -> None:
        """Put a sitting person's feet on the floor and a stool under the buttocks."""
        verts, joints = self._posed_at_origin(spec.shape, sitting_pose(self._pb).astype(np.float32))
        spec.pelvis_height = -float(verts[:, 2].min())
        knee_x = float(joints[4, 0])  # left_knee, body frame
        behind = verts[:, 0] < knee_x - 0.15
        seat_top = spec.pelvis_height + float(verts[behind, 2].min()) - 0.005
        x0, x1 = float(verts[behind, 0].min()) - 0.02, knee_x - 0.12
        corners = np.array([[x0, -0.22], [x1, -0.22], [x1, 0.22], [x0, 0.22]])
        c, s = np.cos(spec.heading), np.sin(spec.heading)
        world = corners @ np.array([[c, s], [-s, c]]) + spec.centre
        lo, hi = world.min(0), world.max(0)
        add_box(self.room, f"stool{spec.person_id}", (lo[0], lo[1], 0.0), (hi[0], hi[1], seat_top), rng)

    def _make_cameras(self, rng: np.random.Generator) -> None:
        cfg = self.config
        if cfg.placement == "wall":
            self._cam_poses = wall_placements(cfg.num_cameras, self.room.size, rng)
            self._rig_start = None
        else:
            lx, _ = self.room.size
            self._rig_local = robot_rig(cfg.num_cameras)
            # backed against the middle of the -x wall (kept free of furniture), facing +x
            self._rig_start = np.array([-lx / 2 + 0.6, float(rng.uniform(-0.5, 0.5)), 1.2])
        self._rig_travel = 1.5 if cfg.rig_speed > 0 else 0.0

    def camera_poses(self, t: float) -> list[np.ndarray]:
        """(4, 4) T_fixed_cam of every camera at time t (s)."""
        if self._rig_start is None:
            return [T.copy() for T in self._cam_poses]
        x = self._rig_start.copy()
        if self.config.rig_speed > 0:
            period = 2 * self._rig_travel / self.config.rig_speed
            f = (t % period) / period
            x[0] += self._rig_travel * (2 * f if f < 0.5 else 2 - 2 * f)
        T_fixed_rig = np.eye(4)
        T_fixed_rig[:3, 3] = x
        return [T_fixed_rig @ T for T in self._rig_local]

    # ---------------------------------------------------------------- rendering
    def time_of(self, index: int) -> float:
        return index / self.config.fps

    def stamp_of(self, index: int) -> int:
        return int(self.config.start_stamp_ns + round(index * 1e9 / self.config.fps))

    def pose_people(self, t: float):
        """Batched body output and per-person (pose, T_fixed_body) at time t."""
        torch = self._torch
        states = [person_state(p, t, self._pb) for p in self.people]
        if not states:
            return None, states
        shape = torch.as_tensor(np.stack([p.shape for p in self.people]))
        pose = torch.as_tensor(np.stack([s[0] for s in states]), dtype=torch.float32)
        T = torch.as_tensor(np.stack([s[1] for s in states]), dtype=torch.float32)
        with torch.no_grad():
            out = self.body(shape, pose, T)
        return out, states

    def frameset(self, index: int, keep_vertices: bool = True) -> FrameSetGT:
        """Render frame set ``index`` with all ground truth."""
        if index < 0:
            raise ValueError(f"frame-set index must be >= 0, got {index}")
        cfg = self.config
        t = self.time_of(index)
        stamp = self.stamp_of(index)
        out, states = self.pose_people(t)
        bodies = []
        if out is not None:
            V = out.vertices.numpy()
            for p, v in zip(self.people, V):
                bodies.append(BodyMesh(p.person_id, v, self._faces, p.vertex_colors, self.template.coords))
        poses = self.camera_poses(t)
        views = self.renderer.render(bodies, list(zip(self.intrinsics, poses)))
        cams = []
        for k, (view, intr, T) in enumerate(zip(views, self.intrinsics, poses)):
            # per (frame, camera) stream: any frame renders identically in any order
            rng = np.random.default_rng([cfg.seed, 0xEFFEC7, index, k])
            image = apply_camera_effects(view.color, rng, cfg.exposure_jitter, cfg.blur_sigma, cfg.noise_sigma)
            cams.append(CameraGT(
                name=f"cam{k}", frame_id=f"cam{k}_optical_frame", stamp_ns=stamp, image=image, depth=view.depth,
                instance=view.instance, body_coords=view.body_coords, body_mask=view.instance > 0,
                K=intr.K, T_fixed_cam=T,
            ))
        people = []
        for i, p in enumerate(self.people):
            visible = np.array([int((c.instance == p.person_id).sum()) for c in cams], np.int64)
            people.append(PersonGT(
                person_id=p.person_id, motion=p.motion,
                joints=out.joints[i].numpy().astype(np.float64),
                joint_rotations=out.joint_rotations[i].numpy().astype(np.float64),
                T_fixed_body=states[i][1].copy(), shape=p.shape.copy(), pose=states[i][0].astype(np.float32),
                velocity=pelvis_velocity(p, t, self._pb), visible_pixels=visible,
                vertices=out.vertices[i].numpy().copy() if keep_vertices else None,
            ))
        return FrameSetGT(index=index, stamp_ns=stamp, cameras=cams, people=people)

    def framesets(self, count: int, start: int = 0, progress: bool = False) -> Iterator[FrameSetGT]:
        """Frame sets start .. start + count - 1, in order (a tqdm bar when ``progress``)."""
        it: Sequence[int] = range(start, start + count)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc="synth", unit="set")
        for k in it:
            yield self.frameset(k)
