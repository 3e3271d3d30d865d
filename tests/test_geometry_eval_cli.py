"""`hamst3r eval-alignment` end to end on the analytic box room (fast)."""
import re

from hamst3r_ros.cli import main


def test_eval_alignment_prints_acceptance_metrics(capsys):
    rc = main(["eval-alignment", "--scene", "box", "--cameras", "3", "--width", "48", "--height", "36",
               "--noise", "0.01", "--outliers", "0.05", "--frames", "2", "--known-intrinsics", "--known-extrinsics", "3"])
    out = capsys.readouterr().out
    assert rc == 0
    values = {k: float(v) for k, v in re.findall(r"^\s+(RRA@5|RTA@5|max rel\. rot\. err \(deg\))\s+([\d.]+)", out, re.M)}
    assert values["RRA@5"] == 1.0 and values["RTA@5"] == 1.0 and values["max rel. rot. err (deg)"] < 1.0
    err = float(re.search(r"fused points: median err\s+([\d.]+)", out).group(1))
    assert err < 0.02
    assert "incremental, 4 sweeps" in out and "incremental vs cold" in out and "metric: scale fixed" in out


def test_eval_alignment_rejects_bad_arguments(capsys):
    assert main(["eval-alignment", "--scene", "box", "--cameras", "1"]) == 2
    assert "--cameras must be >= 2" in capsys.readouterr().out
