"""End to end on a tiny synthetic sequence: PeopleEstimator and `hamst3r eval-humans`.

Uses the Anny body model and the synthetic renderer (both need their optional packages).
"""
import numpy as np
import pytest
from scipy.ndimage import binary_erosion

pytest.importorskip("anny", reason="the Anny body model needs the anny package")
pytest.importorskip("open3d", reason="the synthetic renderer needs open3d")

from hamst3r_ros.types import SMPL_JOINT_NAMES, TrackState  # noqa: E402


@pytest.fixture(scope="module")
def sequence():
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    scene = SyntheticScene(SceneConfig(seed=3, num_cameras=3, num_people=2, width=128, height=96))
    return list(scene.framesets(3))


def test_estimator_ids_fits_and_track_labels(sequence):
    from hamst3r_ros.human.body_fit import BodyFitter, FitConfig
    from hamst3r_ros.body.fit_interface import AnnyFitBody
    from hamst3r_ros.human.metrics import match_people, w_mpjpe
    from hamst3r_ros.human.people import PeopleEstimator
    from hamst3r_ros.human.simulated_network import simulate_outputs
    from hamst3r_ros.human.people import PeopleConfig
    from hamst3r_ros.human.tracking import PersonTracker, TrackerConfig

    est = PeopleEstimator(BodyFitter(AnnyFitBody(), FitConfig(cold_iterations=60, warm_iterations=15, cpu_threads=1)),
                          PersonTracker(TrackerConfig(confirm_hits=2)), PeopleConfig(fit_after_sets=0))
    rng = np.random.default_rng(0)
    ids_over_time = []
    for k, fs in enumerate(sequence):
        pairs, points, conf, images = simulate_outputs(fs, rng)
        res = est.update(pairs, points, fs.stamp_ns, conf, images)
        visible = [p for p in fs.people if p.visible_pixels.sum() > 0]
        # Permuted per-pair ids collapse to one person each; the spurious query is dropped.
        assert len(res.identities.person_ids) == len(visible)
        assert len(res.humans) == len(visible)
        for h in res.humans:
            assert h.joints.shape == (len(SMPL_JOINT_NAMES), 3) and h.joint_rotations.shape == (24, 4)
            np.testing.assert_allclose(np.linalg.norm(h.joint_rotations, axis=1), 1.0, atol=1e-6)
            assert h.body_model == "anny" and h.shape.shape == (6,) and h.pose.shape == (309,)
            assert h.state == (TrackState.TENTATIVE if k == 0 else TrackState.TRACKED)
            assert (h.num_points > 0) and h.residual < 0.05
            assert h.velocity.shape == (3,) and np.isfinite(h.velocity).all()
            if k == 0:
                np.testing.assert_array_equal(h.velocity, 0.0)  # one observation: no velocity yet
        gt = {p.person_id: p.joints for p in visible}
        pred = {h.track_id: h.joints for h in res.humans}
        m = match_people(gt, pred)
        assert len(m) == len(visible)
        err = w_mpjpe(np.stack([pred[m[g]] for g in m]), np.stack([gt[g] for g in m]))
        assert err < 0.08  # tiny 128x96 images; accuracy targets: eval-humans
        ids_over_time.append(m)
        # Point labels carry track ids inside the person (borders are simulated ragged).
        for img, cam in enumerate(fs.cameras):
            for g, tid in m.items():
                on = binary_erosion(cam.instance == g, iterations=2)
                if on.sum() > 20:
                    assert (res.labels[img][on] == tid).mean() > 0.8
    assert ids_over_time[0] == ids_over_time[-1]


def test_cli_eval_humans_small(capsys):
    from hamst3r_ros.cli import main

    rc = main(["eval-humans", "--people", "2", "--frames", "3", "--cameras", "3", "--width", "128",
               "--height", "96", "--seed", "1"])
    out = capsys.readouterr().out
    assert "PA-MPJPE" in out and "id switches" in out and "velocity error" in out
    assert rc == 0, out


def test_cli_rejects_bad_arguments(capsys):
    from hamst3r_ros.cli import main

    assert main(["eval-humans", "--cameras", "1"]) == 2
    assert "--cameras must be >= 2" in capsys.readouterr().out
    assert main(["eval-humans", "--frames", "0"]) == 2
    assert "--frames must be >= 1" in capsys.readouterr().out
