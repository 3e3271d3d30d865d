"""`hamst3r export`: float16 storage halves the file and loads back to the same network."""
import torch

from hamst3r_ros.cli import main
from hamst3r_ros.model.checkpoints import load_hamst3r, save_hamst3r
from hamst3r_ros.model.hamst3r import build_model


def test_export_fp16_round_trip(tmp_path):
    net = build_model("hamst3r_tiny", seed=0).net
    save_hamst3r(net, tmp_path / "src", extra={"training": {"step": 3}})
    assert main(["export", str(tmp_path / "src"), str(tmp_path / "dst"), "--fp16"]) == 0
    small = (tmp_path / "dst.safetensors").stat().st_size
    assert small < 0.6 * (tmp_path / "src.safetensors").stat().st_size
    back = load_hamst3r(tmp_path / "dst")
    for (k, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items()):
        assert b.dtype == torch.float32 and torch.allclose(a, b, atol=1e-3 * (1 + a.abs().max().item())), k
    import json
    meta = json.loads((tmp_path / "dst.json").read_text())
    assert meta["storage_dtype"] == "float16" and meta["training"]["step"] == 3


def test_export_names_a_bad_source(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), str(tmp_path / "dst")]) == 2
    assert "nope" in capsys.readouterr().out
