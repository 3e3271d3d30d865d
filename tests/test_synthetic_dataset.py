"""Synthetic dataset on disk, the `hamst3r synth` command, camera rigs, effects and config errors."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("anny", reason="synthetic people need the 'anny' package")
pytest.importorskip("open3d", reason="synthetic rendering needs 'open3d-cpu'")
os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

from hamst3r_ros.synthetic.cameras import Intrinsics, look_at  # noqa: E402
from hamst3r_ros.synthetic.dataset import SyntheticDataset, write_dataset  # noqa: E402
from hamst3r_ros.synthetic.effects import apply_camera_effects  # noqa: E402
from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene  # noqa: E402


@pytest.fixture(scope="module")
def robot_scene():
    return SyntheticScene(SceneConfig(seed=3, num_cameras=3, num_people=3, width=96, height=64, placement="robot",
                                      motions=["walk", "walk", "pace"], fps=2.0))


def test_dataset_roundtrip(tmp_path, robot_scene):
    sets = [robot_scene.frameset(k) for k in (0, 3)]
    manifest = write_dataset(tmp_path / "ds", robot_scene, sets, progress=False)
    m = json.loads(manifest.read_text())
    assert m["format"] == "hamst3r-synthetic" and len(m["frames"]) == 2
    assert SceneConfig.from_dict(m["config"]) == robot_scene.config
    ds = SyntheticDataset(tmp_path / "ds")
    assert len(ds) == 2
    for orig, back in zip(sets, ds):
        assert back.index == orig.index and back.stamp_ns == orig.stamp_ns
        for a, b in zip(orig.cameras, back.cameras):
            assert (a.name, a.frame_id, a.stamp_ns) == (b.name, b.frame_id, b.stamp_ns)
            np.testing.assert_array_equal(a.image, b.image)
            np.testing.assert_array_equal(a.depth, b.depth)
            np.testing.assert_array_equal(a.instance, b.instance)
            np.testing.assert_array_equal(a.body_mask, b.body_mask)
            np.testing.assert_allclose(a.body_coords, b.body_coords, atol=5e-4, equal_nan=True)
            np.testing.assert_array_equal(a.K, b.K)
            np.testing.assert_array_equal(a.T_fixed_cam, b.T_fixed_cam)
        for a, b in zip(orig.people, back.people):
            assert (a.person_id, a.motion) == (b.person_id, b.motion)
            for f in ("joints", "joint_rotations", "T_fixed_body", "shape", "pose", "velocity", "visible_pixels"):
                np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
            assert b.vertices is None
    assert ds[1].to_frameset().frames[2].image.shape == (64, 96, 3)


def test_dataset_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        SyntheticDataset(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(ValueError, match="hamst3r-synthetic"):
        SyntheticDataset(tmp_path)


def test_cli_writes_dataset_and_previews(tmp_path):
    from hamst3r_ros.cli import main

    rc = main(["synth", "--seed", "1", "--cameras", "2", "--people", "1", "--frames", "2", "--width", "64",
               "--height", "48", "--out", str(tmp_path / "out"), "--preview", str(tmp_path / "prev.png")])
    assert rc == 0
    ds = SyntheticDataset(tmp_path / "out")
    assert len(ds) == 2 and len(ds[0].cameras) == 2 and len(ds[0].people) == 1
    from PIL import Image

    for k in range(2):
        im = np.asarray(Image.open(tmp_path / f"prev_{k:06d}.png"))
        assert im.shape == (16 + 2 * 48, 4 * 64, 3)
    assert main(["synth", "--cameras", "9", "--out", str(tmp_path / "bad")]) == 2


def test_robot_rig_cameras_overlap_and_people_enter_and_leave_views(robot_scene):
    poses = robot_scene.camera_poses(0.0)
    # neighbouring rig cameras look 40 degrees apart, all from ~1.2 m high
    for a, b in zip(poses, poses[1:]):
        ang = np.degrees(np.arccos(np.clip(a[:3, 2] @ b[:3, 2], -1, 1)))
        assert 35 < ang < 45
        assert abs(a[2, 3] - 1.2) < 1e-9
    vis = np.stack([robot_scene.frameset(k, keep_vertices=False).people[0].visible_pixels for k in range(0, 24, 2)])
    seen = vis > 0
    # someone is seen by a camera at one time and not at another: entering/leaving views
    assert (seen.any(0) & ~seen.all(0)).any()


def test_moving_rig_moves_cameras_and_renders_like_a_fixed_one():
    sc = SyntheticScene(SceneConfig(seed=2, num_cameras=2, num_people=0, width=32, height=24, placement="robot",
                                    rig_speed=0.5))
    a, b = sc.camera_poses(0.0), sc.camera_poses(1.0)
    np.testing.assert_allclose(b[0][:3, 3] - a[0][:3, 3], [0.5, 0.0, 0.0], atol=1e-9)
    for k in (3, 4):
        fs = sc.frameset(k)
        assert fs.people == [] and all((c.instance == 0).all() for c in fs.cameras)
    # a camera that moved since the last frame is cast against room + bodies at once; a new
    # (first-seen) pose renders room and bodies in layers: the ground truth must not differ
    cfg = SceneConfig(seed=5, num_cameras=2, num_people=2, width=64, height=48, placement="robot", rig_speed=0.8,
                      motions=["walk", "stand"])
    moving = SyntheticScene(cfg)
    moving.frameset(1)
    combined = moving.frameset(2)
    layered = SyntheticScene(cfg).frameset(2)
    assert sum((x.instance > 0).sum() for x in combined.cameras) > 20
    for x, y in zip(combined.cameras, layered.cameras):
        np.testing.assert_allclose(x.depth, y.depth, rtol=1e-6)
        np.testing.assert_array_equal(x.instance, y.instance)
        np.testing.assert_allclose(x.body_coords, y.body_coords, atol=1e-6)
        assert np.abs(x.image.astype(int) - y.image.astype(int)).max() <= 1


def test_camera_effects_change_images_not_ground_truth():
    base = dict(seed=4, num_cameras=2, num_people=1, width=64, height=48)
    clean = SyntheticScene(SceneConfig(**base)).frameset(1)
    noisy = SyntheticScene(SceneConfig(**base, noise_sigma=4.0, blur_sigma=1.0, exposure_jitter=0.3)).frameset(1)
    for a, b in zip(clean.cameras, noisy.cameras):
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() > 1.0
        np.testing.assert_array_equal(a.depth, b.depth)
        np.testing.assert_array_equal(a.instance, b.instance)
    rng = np.random.default_rng(0)
    img = np.full((8, 8, 3), 0.5, np.float32)
    assert apply_camera_effects(img, rng).max() == 128
    with pytest.raises(ValueError, match="exposure_jitter"):
        apply_camera_effects(img, rng, exposure_jitter=1.5)


def test_config_and_camera_errors():
    with pytest.raises(ValueError, match="num_cameras"):
        SceneConfig(num_cameras=0).validate()
    with pytest.raises(ValueError, match="placement"):
        SceneConfig(placement="ceiling").validate()
    with pytest.raises(ValueError, match="motions"):
        SceneConfig(num_people=1, motions=["dance"]).validate()
    with pytest.raises(ValueError, match="hfov"):
        Intrinsics.from_hfov(64, 48, 200.0)
    with pytest.raises(ValueError, match="parallel"):
        look_at((0, 0, 1), (0, 0, 0))
    K = Intrinsics.from_hfov(640, 480, 90.0).K
    assert K[0, 0] == pytest.approx(320.0) and K[0, 2] == pytest.approx(319.5)


def test_per_camera_intrinsics(tmp_path):
    from hamst3r_ros.synthetic.preview import preview_mosaic

    intr = [Intrinsics.from_hfov(64, 48, 60.0), Intrinsics.from_hfov(80, 40, 90.0)]
    sc = SyntheticScene(SceneConfig(seed=6, num_cameras=2, num_people=1, intrinsics=intr))
    fs = sc.frameset(0)
    assert fs.cameras[0].depth.shape == (48, 64) and fs.cameras[1].image.shape == (40, 80, 3)
    np.testing.assert_allclose(fs.cameras[1].K, intr[1].K)
    assert preview_mosaic(fs).shape == (16 + 48 + 40, 4 * 80, 3)
    write_dataset(tmp_path, sc, [fs], progress=False)
    back = SyntheticDataset(tmp_path)[0]
    assert back.cameras[1].depth.shape == (40, 80)
    with pytest.raises(ValueError, match="intrinsics"):
        SceneConfig(num_cameras=3, intrinsics=intr).validate()
