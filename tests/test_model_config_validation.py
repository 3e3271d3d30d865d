"""A checkpoint's JSON config is validated before anything is built: every malformed value
is one line naming the file, the key, what was expected and what was found; every entry
point prints that line and exits 2, never a traceback."""
from __future__ import annotations

import json
import time

import pytest

from hamst3r_ros.model.checkpoints import CheckpointError, load_checkpoint, save_hamst3r
from hamst3r_ros.model.config import NAMED_CONFIGS
from hamst3r_ros.model.config_schema import check_network_json
from hamst3r_ros.model.hamst3r import build_model


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A valid checkpoint of ours (safetensors + JSON) and its JSON content."""
    d = tmp_path_factory.mktemp("ckpt")
    st, js = save_hamst3r(build_model("hamst3r_tiny", seed=0).net, d / "tiny")
    return st, js, json.loads(js.read_text())


def _broken(tmp_path, tiny_checkpoint, network=None, meta=None):
    """A copy of the tiny checkpoint whose JSON has ``network`` keys replaced (or is ``meta``)."""
    st, _, good = tiny_checkpoint
    dst = tmp_path / "broken.safetensors"
    dst.write_bytes(st.read_bytes())
    if meta is None:
        meta = dict(good, network={**good["network"], **(network or {})})
    (tmp_path / "broken.json").write_text(json.dumps(meta))
    return dst


MALFORMED = [
    ({"dec_depth": "four"}, "key 'network.dec_depth': expected an integer in [1, 64], found 'four' (str)"),
    ({"enc_embed_dim": 10 ** 9}, "key 'network.enc_embed_dim': expected an integer in [1, 4096], "
                                 "found 1000000000 (int)"),
    ({"dec_num_heads": -2}, "key 'network.dec_num_heads': expected an integer in [1, 64], found -2 (int)"),
    ({"two_confs": "yes"}, "key 'network.two_confs': expected true or false, found 'yes' (str)"),
    ({"mlp_ratio": -1.0}, "key 'network.mlp_ratio': expected a number in (0, 16], found -1.0 (float)"),
    ({"output_mode": "pts3d+descXL"}, "key 'network.output_mode': expected 'pts3d' or 'pts3d+descNN'"),
    ({"depth_mode": ["exp", 0]}, "key 'network.depth_mode': expected [kind, vmin, vmax]"),
    ({"image_size": True}, "key 'network.image_size': expected an integer in [1, 4096], or null, found True"),
    ({"human": {"num_queries": 8.5}}, "key 'network.human.num_queries': expected an integer in [1, 1024], "
                                      "found 8.5 (float)"),
    ({"human": [1, 2]}, "key 'network.human': expected an object, found [1, 2] (list)"),
    ({"human": {"fit_pose_prior": -0.1}}, "key 'network.human.fit_pose_prior': expected a number in [0, 1e+06], "
                                          "found -0.1 (float)"),
    ({"dec_embed_dim": 49}, "key 'network.dec_embed_dim': expected a multiple of dec_num_heads (2), found 49"),
    # Every size within its own bounds, together far too big to allocate.
    ({"enc_embed_dim": 4096, "enc_depth": 64, "enc_num_heads": 64},
     "key 'network': expected a network of at most 2.0e+09 parameters, found sizes that make about 1.3e+10"),
]


@pytest.mark.parametrize("network, message", MALFORMED, ids=[next(iter(n)) for n, _ in MALFORMED])
def test_each_malformed_network_config_is_one_clear_line(tmp_path, tiny_checkpoint, network, message):
    path = _broken(tmp_path, tiny_checkpoint, network)
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    text = str(e.value)
    assert text.startswith(str(tmp_path / "broken.json") + ": ") and message in text, text
    assert "\n" not in text and time.perf_counter() - t0 < 5  # refused before building anything


@pytest.mark.parametrize("meta, message", [
    ([1, 2, 3], "expected a JSON object with 'format', 'version' and 'network', found a list"),
    ("just text", "found a str"),
])
def test_a_config_that_is_not_an_object_is_one_clear_line(tmp_path, tiny_checkpoint, meta, message):
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(_broken(tmp_path, tiny_checkpoint, meta=meta))


def test_every_named_config_and_the_embedded_model_pass():
    from hamst3r_ros.model.embedded import embedded_checkpoint

    for name, make in NAMED_CONFIGS.items():
        check_network_json(make().to_json())
    check_network_json(json.loads(embedded_checkpoint().with_suffix(".json").read_text())["network"])


def _cli(argv, capsys):
    from hamst3r_ros.cli import main

    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_eval_and_export_print_one_line_and_exit_2(tmp_path, tiny_checkpoint, capsys):
    path = _broken(tmp_path, tiny_checkpoint, {"dec_depth": -1})
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "manifest.json").write_text("{}")  # the model is loaded first
    for argv in (["eval", "--model", str(path), "--scenes", str(scenes)],
                 ["export", str(path), str(tmp_path / "out")]):
        code, out, err = _cli(argv, capsys)
        assert code == 2, (argv, out, err)
        lines = [line for line in (out + err).splitlines() if line.strip()]
        assert len(lines) == 1 and "key 'network.dec_depth'" in lines[0] and "broken.json" in lines[0], lines


def test_train_from_a_malformed_checkpoint_prints_one_line_and_exits_2(tmp_path, tiny_checkpoint, capsys):
    path = _broken(tmp_path, tiny_checkpoint, {"enc_embed_dim": 10 ** 9})
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"network: hamst3r_tiny\ninit: {path}\nsteps: 1\nout: {tmp_path / 'run'}\n"
                   f"train_sets: [{{path: {tmp_path / 'none'}}}]\n")
    code, out, err = _cli(["train", str(cfg), "--no-progress"], capsys)
    assert code == 2, out + err
    assert "hamst3r train: error: " in err and "key 'network.enc_embed_dim'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_errors_that_are_not_ours_keep_their_traceback():
    from hamst3r_ros.errors import is_project_error, one_line

    assert is_project_error(CheckpointError("x")) and not is_project_error(ValueError("x"))
    assert one_line(CheckpointError("a\n  b\n")) == "a; b"
