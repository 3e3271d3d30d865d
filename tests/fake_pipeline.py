"""A stand-in pipeline for node tests (lives in tests/ only, never in the product).

It honours the pipeline boundary ``process(FrameSet) -> SceneResult`` with results that are
a deterministic function of the input, so tests can check what the node published: every
camera contributes ``points_per_camera`` points, back-projected at depth 2 m along a row of
its image and placed in a fixed frame where camera i sits at x = i metres; colours are the
image's pixels; the instance id of a point is 1 + the camera's index in the FrameSet; one
person per frame set stands at the origin. ``cost_s`` makes each call take that long (a
slow pipeline for latest-wins tests and the bench).

Loadable by the node's ``pipeline`` parameter as ``fake_pipeline:FakePipeline`` (with tests/
on PYTHONPATH); keyword arguments come from the ``FAKE_PIPELINE_COST_S`` environment variable
when created that way.
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np

from hamst3r_ros.types import FrameSet, HumanEstimate, SceneResult, TrackState


class FakePipeline:
    """Deterministic FrameSet -> SceneResult with a configurable cost (seconds per call)."""

    def __init__(self, params=None, cost_s: float | None = None, points_per_camera: int = 16,
                 fail_when=None):
        if cost_s is None:
            cost_s = float(os.environ.get("FAKE_PIPELINE_COST_S", "0"))
        self.cost_s = cost_s
        self.points_per_camera = points_per_camera
        self.fail_when = fail_when
        self.params = params
        self.seen: list[FrameSet] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def process(self, frameset: FrameSet) -> SceneResult:
        t0 = time.perf_counter()
        with self.lock:
            self.seen.append(frameset)
            self.threads.add(threading.current_thread().name)
        if self.fail_when is not None and self.fail_when(frameset):
            raise RuntimeError("fake pipeline asked to fail on this frame set")
        n = len(frameset.frames)
        k = self.points_per_camera
        pts, cols, inst, poses, Ks = [], [], [], [], []
        for i, f in enumerate(frameset.frames):
            h, w = f.image.shape[:2]
            u = np.linspace(0, w - 1, k).astype(int)
            v = np.full(k, h // 2)
            K = f.K if f.K is not None else np.array(
                [[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], dtype=np.float64)
            x = (u - K[0, 2]) / K[0, 0] * 2.0
            y = (v - K[1, 2]) / K[1, 1] * 2.0
            T = np.eye(4)
            T[0, 3] = float(i)
            pts.append(np.stack([x + i, y, np.full(k, 2.0)], 1))
            cols.append(f.image[v, u])
            inst.append(np.full(k, i + 1))
            poses.append(T)
            Ks.append(K)
        m = n * k
        joints = np.zeros((24, 3))
        joints[:, 2] = np.linspace(0.0, 1.7, 24)
        rot = np.tile([0.0, 0.0, 0.0, 1.0], (24, 1))
        human = HumanEstimate(
            track_id=7, state=TrackState.TRACKED, confidence=0.9, joints=joints,
            joint_rotations=rot, T_fixed_root=np.eye(4), shape=np.zeros(10, np.float32),
            pose=np.zeros(0, np.float32), body_model="anny", velocity=np.zeros(3),
            residual=0.01, num_points=m)
        spent = time.perf_counter() - t0
        if self.cost_s > spent:
            time.sleep(self.cost_s - spent)
        return SceneResult(
            stamp_ns=frameset.stamp_ns, camera_names=frameset.names,
            T_fixed_cam=np.stack(poses), K=np.stack(Ks), metric=False,
            points=np.concatenate(pts).astype(np.float32),
            colors=np.concatenate(cols).astype(np.uint8),
            confidence=np.ones(m, np.float32), instance=np.concatenate(inst).astype(np.int32),
            body_coords=np.full((m, 3), np.nan, np.float32), humans=[human],
            timings_s={"fake": time.perf_counter() - t0})


def make_slow(params=None) -> FakePipeline:
    """Factory with a 0.3 s cost, for ``pipeline:=fake_pipeline:make_slow``."""
    return FakePipeline(params, cost_s=0.3)


class AnnouncingPipeline(FakePipeline):
    """A FakePipeline that prints ``fake pipeline: started <stamp_ns>`` (flushed) when it
    starts on a frame set, so that a test driving a node process knows a set is in flight."""

    def process(self, frameset: FrameSet) -> SceneResult:
        print(f"fake pipeline: started {frameset.stamp_ns}", flush=True)
        return super().process(frameset)


def make_stuck(params=None) -> AnnouncingPipeline:
    """Factory for ``pipeline:=fake_pipeline:make_stuck``: each frame set takes 60 s (cost
    from ``FAKE_PIPELINE_COST_S`` when set), and its start is printed."""
    return AnnouncingPipeline(params, cost_s=float(os.environ.get("FAKE_PIPELINE_COST_S", "60")))
