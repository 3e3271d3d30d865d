"""`hamst3r eval-system` and its metrics: known answers, the oracle setting on a rendered
scene, the one-line yardstick, the demo's live scoring and picture."""
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))


def _wall(n=60, z=0.0):
    """A 3 x 3 m plane z = const, sampled every 5 cm."""
    u, v = np.meshgrid(np.linspace(0, 3, n), np.linspace(0, 3, n))
    return np.stack([u.ravel(), v.ravel(), np.full(u.size, z)], 1)


def test_a_cloud_shifted_by_10_cm_scores_10_cm():
    from hamst3r_ros.geometry.cloud_metrics import cloud_metrics

    true = _wall()
    shifted = true[::3] + [0.0, 0.0, 0.10]  # along the plane's normal
    m = cloud_metrics(shifted, true)
    assert m.acc_median == pytest.approx(0.10, abs=1e-6) and m.acc_p90 == pytest.approx(0.10, abs=1e-6)
    assert m.completeness == 0.0
    fine = _wall(121)  # 2.5 cm spacing
    exact = cloud_metrics(fine[::2], fine)  # a checkerboard of the samples
    assert exact.acc_median == 0.0
    # every true point is 2.5 cm from one of them; 5 cm off the plane, none is within 5 cm
    assert exact.completeness == pytest.approx(1.0)
    assert cloud_metrics(fine[::2] + [0, 0, 0.0501], fine).completeness == 0.0
    assert np.isnan(cloud_metrics(np.zeros((0, 3)), true).acc_median)


def test_cloud_metrics_from_a_sample_of_queries_estimate_the_exact_ones():
    from hamst3r_ros.geometry.cloud_metrics import cloud_metrics

    rng = np.random.default_rng(1)
    true = _wall(400)  # 160k points, 7.5 mm apart
    shown = true[rng.choice(len(true), 3000, replace=False)] + rng.normal(0, 0.08, (3000, 3))
    exact = cloud_metrics(shown, true)
    est = cloud_metrics(shown, true, max_queries=2000, workers=1)
    assert est.acc_median == pytest.approx(exact.acc_median, rel=0.05)
    assert est.acc_p90 == pytest.approx(exact.acc_p90, rel=0.05)
    assert est.completeness == pytest.approx(exact.completeness, abs=0.02)
    assert 0.2 < exact.completeness < 0.9  # a statistic that a wrong sample would move
    assert (est.num_points, est.num_true) == (exact.num_points, exact.num_true)
    assert cloud_metrics(shown, true, max_queries=2000) == est != exact  # deterministic, and sampled


def _person(x, y=0.0):
    j = np.zeros((24, 3))
    j[:, 0], j[:, 1] = x, y
    j[:, 2] = np.linspace(0.0, 1.6, 24)  # a vertical stick, pelvis first
    return j


def test_an_extra_person_is_one_ghost_and_an_id_change_is_one_switch():
    from hamst3r_ros.human.metrics import people_metrics

    gt = [{1: _person(0), 2: _person(2)}] * 3
    pred = [{10: _person(0), 20: _person(2.1), 99: _person(5)},  # 99: nobody there
            {10: _person(0), 20: _person(2.1)},
            {10: _person(0), 21: _person(2.1)}]  # person 2 changes id
    m = people_metrics(gt, pred)
    assert (m.true, m.published, m.matched, m.ghosts) == (6, 7, 6, 1)
    assert m.recall == 1.0 and m.ghosts_per_set == pytest.approx(1 / 3)
    assert m.id_switches == 1 and m.ids_per_person == (1, 2) and m.mean_ids_per_person == 1.5
    assert m.pa_mpjpe == pytest.approx(0.0, abs=1e-9)
    assert m.w_mpjpe == pytest.approx(0.05)  # half the matches are 10 cm off
    # a published person without a body (NaN joints but its pelvis) is matched, not scored
    nobody = _person(0)
    nobody[1:] = np.nan
    m2 = people_metrics([{1: _person(0)}], [{3: nobody}])
    assert m2.matched == 1 and m2.joint_pairs == 0 and np.isnan(m2.pa_mpjpe)
    # sequences pool by adding
    pooled = m + m2
    assert pooled.sets == 4 and pooled.matched == 7 and pooled.ids_per_person == (1, 2, 1)


def test_unposed_output_is_mapped_onto_the_truth_by_the_points():
    from types import SimpleNamespace

    from hamst3r_ros.geometry.sim3 import Sim3, rotation_from_axis_angle
    from hamst3r_ros.system_eval import runner

    rng = np.random.default_rng(0)
    true = [rng.uniform(-2, 2, (20, 30, 3)).astype(np.float32) for _ in range(2)]
    G = Sim3(0.4, rotation_from_axis_angle(np.array([0.3, -1.0, 0.2])), np.array([1.0, -2.0, 0.5]))
    out = [G.apply(t.astype(np.float64)).astype(np.float32) for t in true]
    out[0][:3] += 5.0  # a few wrong points do not move a robust fit
    alignment = SimpleNamespace(points=out, confidence=[np.ones(t.shape[:2], np.float32) for t in true])
    orig = runner.fixed_view_points
    runner.fixed_view_points = lambda fs, views: true
    try:
        T = runner.output_to_truth(alignment, None, None, samples=500, seed=0)
    finally:
        runner.fixed_view_points = orig
    back = T.apply(out[1].reshape(-1, 3).astype(np.float64))
    assert np.abs(back - true[1].reshape(-1, 3)).max() < 1e-4


def test_the_scene_time_of_sim_cameras_follows_its_rate():
    from hamst3r_ros.recordings import SyntheticRecording
    from hamst3r_ros.synthetic.scene import SceneConfig, SyntheticScene

    rec = SyntheticRecording("", num_cameras=2, num_people=1, num_frames=2, width=96, height=72, seed=5, fps=2.0)
    at = {fps: SyntheticScene(SceneConfig(seed=5, num_cameras=2, num_people=1, width=96, height=72, fps=fps))
          .frameset(1, keep_vertices=False).cameras[0].image for fps in (2.0, 10.0)}
    assert np.array_equal(rec.frame(1)[0], at[2.0])
    assert not np.array_equal(rec.frame(1)[0], at[10.0])  # people moved five times further


def test_eval_system_end_to_end_oracle_is_exact_and_the_last_line_is_the_yardstick(tmp_path, capsys):
    """Through the CLI on one small rendered scene: the oracle's cloud lies on the true
    surface, every setting reports, the JSON holds the numbers and the last line parses."""
    from hamst3r_ros.cli import main

    js = tmp_path / "out.json"
    rc = main(["eval-system", "--seed", "7", "--frames", "2", "--cameras", "2", "--people", "1",
               "--width", "160", "--height", "120", "--settings", "posed", "oracle", "unposed",
               "--cache", str(tmp_path / "scenes"), "--threads", "2", "--json", str(js)])
    out = capsys.readouterr().out
    assert rc == 0, out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"system: rra15=\S+ cloud_acc_cm=\S+ cloud_compl5=\S+ recall=\S+ ghosts_per_set=\S+ "
                        r"ids_per_person=\S+ pa_mpjpe_mm=\S+ sets_per_s=\S+", last), last
    doc = json.loads(js.read_text())
    pooled = {s["setting"]: s for s in doc["summaries"] if s["scene"] == "all"}
    assert set(pooled) == {"posed", "oracle", "unposed"}
    oracle = pooled["oracle"]
    # true pointmaps: the cloud lies on the true surface (half a pixel's spacing at most)
    assert oracle["cloud_acc_cm"] < 1.5 and oracle["cloud_compl5"] > 0.9, oracle
    assert pooled["unposed"]["rra15"] is not None and 0 <= pooled["unposed"]["rra15"] <= 1
    assert pooled["posed"]["rra15"] is None  # cameras are given when posed
    assert pooled["posed"]["sets"] == 2 and pooled["posed"]["sets_per_s"] > 0
    assert f"cloud_acc_cm={pooled['posed']['cloud_acc_cm']:.1f}" in last
    # the scene is cached: a second run renders nothing new
    assert len(list((tmp_path / "scenes").iterdir())) == 1


def test_eval_system_refuses_bad_arguments(tmp_path, capsys):
    from hamst3r_ros.cli import main

    assert main(["eval-system", "--cameras", "1"]) == 2
    assert main(["eval-system", "--model", str(tmp_path / "none.safetensors")]) == 2
    assert main(["eval-system", "--scenes", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "--cameras must be >= 2" in out and "none.safetensors: no such file" in out and "manifest.json" in out


def test_live_scoring_and_the_comparison_picture(tmp_path):
    from PIL import Image

    from hamst3r_ros.system_eval.live import LiveScore, SceneTruth, image_key
    from hamst3r_ros.system_eval.picture import compare_picture

    truth = SceneTruth(keys={image_key(np.zeros((4, 4, 3), np.uint8)): 0}, surface={0: _wall()},
                       colors={0: np.full((3600, 3), 90, np.uint8)}, people={0: {1: _person(1.0)}})
    assert truth.keys[image_key(np.zeros((4, 4, 3), np.uint8))] == 0
    assert image_key(np.ones((4, 4, 3), np.uint8)) not in truth.keys
    score = LiveScore(truth)
    s = score.add(0, _wall()[::2] + [0, 0, 0.1], {4: _person(1.05), 5: _person(2.5)})
    assert (s.true, s.published, s.matched, s.ghosts) == (1, 2, 1, 1)
    assert s.cloud.acc_median == pytest.approx(0.1, abs=1e-6)
    assert "1 ghost(s)" in score.line(s) and "recall 1.00" in score.summary()
    pic = tmp_path / "p.png"
    xyz = _wall()[::2]
    compare_picture(pic, xyz, np.full((len(xyz), 3), 200, np.uint8), np.zeros(len(xyz), np.int32),
                    {4: _person(1.05)}, true_xyz=_wall(), true_people={1: _person(1.0)}, title="t")
    w, h = Image.open(pic).size
    assert w == 2 * 360 + 1 and h == 2 * 360 + 1 + 18
    compare_picture(pic, xyz, np.full((len(xyz), 3), 200, np.uint8), np.zeros(len(xyz), np.int32), {})
    assert Image.open(pic).size == (360, 2 * 360 + 1)
