"""The network reproduces the official code's golden outputs (fixtures in ../shared/fixtures)."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from hamst3r_ros.cli import main
from hamst3r_ros.model.checkpoints import load_checkpoint
from hamst3r_ros.model.conformance import check_mast3r_outputs, default_fixtures_dir

FIX = default_fixtures_dir()


def _need_fixtures():
    assert (FIX / "mast3r").is_dir() and (FIX / "dune").is_dir(), (
        f"fixtures not found at {FIX}: expected ../shared/fixtures beside the repository or $HAMST3R_FIXTURES")


@pytest.mark.slow
def test_conformance_command_passes_on_all_fixtures(capsys):
    _need_fixtures()
    rc = main(["conformance", str(FIX), "--quiet"])
    out = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"max_abs_err=\d\.\d+e[-+]\d+", out[-1]), out[-3:]
    assert rc == 0, "\n".join(out[-20:])
    n = int(re.match(r"(\d+) tensors compared, 0 outside tolerance", out[-2]).group(1))
    assert n > 400  # every fixture output was compared, not just a few


def test_conformance_catches_layernorm_eps_mistake(monkeypatch):
    """The subtle mistake of the README (LayerNorm eps 1e-5 instead of 1e-6) must fail."""
    _need_fixtures()
    import hamst3r_ros.model.conformance as conf

    real = conf.load_checkpoint

    def wrong_eps(path):
        net = real(path)
        for m in net.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.eps = 1e-5
        return net

    monkeypatch.setattr(conf, "load_checkpoint", wrong_eps)
    m = FIX / "mast3r"
    checks = list(check_mast3r_outputs(m / "tiny_dust3r_linear.pth.xz", m / "outputs_dust3r_linear_224.npz",
                                       m / "inputs.npz"))
    assert any(not c.ok for c in checks if "enc_img" in c.name or "_dec_" in c.name)


def test_conformance_exit_code_on_missing_fixtures(tmp_path, capsys):
    rc = main(["conformance", str(tmp_path)])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 2 and out[-1] == "max_abs_err=inf"


def test_linear_224_pair_matches_golden_directly():
    """A direct numeric check independent of the conformance machinery."""
    _need_fixtures()
    m = FIX / "mast3r"
    net = load_checkpoint(m / "tiny_dust3r_linear.pth.xz")
    zin, z = np.load(m / "inputs.npz"), np.load(m / "outputs_dust3r_linear_224.npz")
    with torch.inference_mode():
        p1, p2 = net(torch.from_numpy(zin["img0_224"]), torch.from_numpy(zin["img1_224"]))
    np.testing.assert_allclose(p1["pts3d"][0].numpy()[1::4, 2::4], z["p01_v1_pts3d_sub"], atol=3e-4, rtol=1e-5)
    np.testing.assert_allclose(p2["conf"][0].numpy()[1::4, 2::4], z["p01_v2_conf_sub"], atol=3e-4, rtol=1e-5)
