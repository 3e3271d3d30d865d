"""hamst3r_node parameters: defaults, coercion, validation messages, YAML files, real rclpy."""
from pathlib import Path

import pytest

from hamst3r_ros.ros.params import (NODE_PARAMETERS, SPECS, ParameterError, defaults, load_params_file,
                                    validate)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "hamst3r.yaml"


def problems(**overrides) -> str:
    with pytest.raises(ParameterError) as e:
        validate(overrides)
    return str(e.value)


def test_every_parameter_is_described_and_its_default_has_its_type():
    for s in NODE_PARAMETERS:
        assert s.description and s.name.islower()
    assert len(SPECS) == len(NODE_PARAMETERS)
    # Defaults are valid once cameras are given (the only required parameter).
    p = validate({"cameras": ["cam0"]})
    assert p.values == {**defaults(), "cameras": ["cam0"]}


def test_camera_topics_default_from_names_and_transport():
    p = validate({"cameras": ["a", "b"]})
    assert [(c.name, c.image_topic, c.camera_info_topic, c.compressed) for c in p.cameras] == \
        [("a", "a/image_raw", "", False), ("b", "b/image_raw", "", False)]
    p = validate({"cameras": ["a"], "image_transport": "compressed", "camera_info_topics": ["/rig/a/info"]})
    assert p.cameras[0].image_topic == "a/image_raw/compressed" and p.cameras[0].compressed
    assert p.cameras[0].camera_info_topic == "/rig/a/info"


def test_integers_are_accepted_for_doubles_but_not_the_reverse():
    p = validate({"cameras": ["a"], "sync_slop_s": 1, "max_points": 5.0})
    assert p.sync_slop_s == 1.0 and isinstance(p.sync_slop_s, float) and p.max_points == 5
    assert "'max_points' = 2.5 must be an integer" in problems(cameras=["a"], max_points=2.5)
    assert "'publish_camera_tf' = 1 must be true or false" in problems(cameras=["a"], publish_camera_tf=1)
    assert "'sync_slop_s' = True must be a number" in problems(cameras=["a"], sync_slop_s=True)


@pytest.mark.parametrize("overrides,expected", [
    ({}, "'cameras' = [] must list at least one camera"),
    ({"cameras": ["a", "a"]}, "must be unique"),
    ({"cameras": ["cam 0"]}, "bad: ['cam 0']"),
    ({"cameras": ["a", "b"], "image_topics": ["x"]}, "'image_topics' = ['x'] has 1 entries for 2 cameras"),
    ({"cameras": ["a"], "image_topics": ["bad topic"]}, "not valid topic names"),
    ({"cameras": ["a"], "image_transport": "theora"}, "must be one of ['raw', 'compressed']"),
    ({"cameras": ["a"], "fixed_frame": "/world"}, "must not start with '/'"),
    ({"cameras": ["a"], "sync_slop_s": 0.0}, "'sync_slop_s' = 0.0 must be > 0"),
    ({"cameras": ["a"], "min_cameras": 2}, "'min_cameras' = 2 must be in [1, 1]"),
    ({"cameras": ["a"], "device": "tpu"}, "'device' = 'tpu' must be 'auto', 'cpu', 'cuda'"),
    ({"cameras": ["a"], "precision": "fp8"}, "'precision' = 'fp8' must be one of ['auto', 'fp32', 'bf16']"),
    ({"cameras": ["a"], "checkpoint": "/nonexistent/model.safetensors"}, "does not exist"),
    ({"cameras": ["a"], "pipeline": "not a spec"}, "'package.module:factory'"),
    ({"cameras": ["a"], "voxel_size": -1.0}, "'voxel_size' = -1.0 must be >= 0"),
    ({"cameras": ["a"], "frobnicate": 3}, "unknown parameter 'frobnicate'"),
    ({"cameras": ["a"], "fusion_min_confidence": 1.5}, "'fusion_min_confidence' is now 'min_confidence"),
    ({"cameras": ["a"], "min_views_agree": -1}, "'min_views_agree' = -1 must be >= 0"),
    ({"cameras": ["a"], "refine_depth_min_matches": 2}, "'refine_depth_min_matches' = 2 must be >= 3"),
    ({"cameras": ["a"], "refine_depth": "yes"}, "'refine_depth' = 'yes' must be true or false"),
])
def test_wrong_values_name_the_parameter_and_what_was_expected(overrides, expected):
    assert expected in problems(**overrides)


def test_all_problems_are_reported_at_once():
    msg = problems(cameras=["a"], sync_slop_s=-1.0, device="gpu")
    assert "sync_slop_s" in msg and "device" in msg


def test_checkpoint_and_device_accept_real_values(tmp_path):
    ckpt = tmp_path / "model.safetensors"
    ckpt.write_bytes(b"x")
    p = validate({"cameras": ["a"], "checkpoint": str(ckpt), "device": "cuda:1", "precision": "bf16"})
    assert (p.checkpoint, p.device, p.precision) == (str(ckpt), "cuda:1", "bf16")


def test_shipped_config_is_complete_and_valid():
    values = load_params_file(str(CONFIG), "hamst3r_node", "/hamst3r")
    assert set(values) == set(SPECS), "config/hamst3r.yaml should set every parameter, and only those"
    p = validate(values)
    assert [c.name for c in p.cameras] == ["cam0", "cam1", "cam2", "cam3"]
    assert load_params_file(str(CONFIG), "hamst3r_node", "/") == values  # '/**/' matches the root too
    assert load_params_file(str(CONFIG), "other_node") == {}


def test_params_file_errors_name_the_file(tmp_path):
    with pytest.raises(ParameterError, match="cannot read parameter file"):
        load_params_file(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("hamst3r_node:\n  cameras: [a]\n")
    with pytest.raises(ParameterError, match="needs a 'ros__parameters' mapping"):
        load_params_file(str(bad))


@pytest.mark.ros
def test_declared_on_a_real_node_from_ros_args(ros):
    from conftest import unique_name

    from hamst3r_ros.ros.params import declare_params

    node = ros.node("hamst3r_node", namespace=unique_name("ns"), cli_args=[
        "--ros-args", "--params-file", str(CONFIG), "-p", "sync_slop_s:=1", "-p", "min_cameras:=3"])
    p = declare_params(node)
    assert p.sync_slop_s == 1.0 and p.min_cameras == 3 and len(p.cameras) == 4
    assert p.cameras[0].camera_info_topic == "cam0/camera_info"
    desc = node.describe_parameter("voxel_size")
    assert "voxel" in desc.description and not desc.read_only and "live" in desc.additional_constraints
    assert "configure" in node.describe_parameter("device").additional_constraints


@pytest.mark.ros
def test_bad_ros_args_raise_a_clear_error(ros):
    from conftest import unique_name

    from hamst3r_ros.ros.params import declare_params

    node = ros.node(unique_name("params"), cli_args=["--ros-args", "-p", "cameras:=[a, b]", "-p", "device:=tpu",
                                                     "-p", "max_points:=[1, 2]"])
    with pytest.raises(ParameterError) as e:
        declare_params(node)
    assert "'max_points' = [1, 2] must be an integer" in str(e.value)


# --- live parameters ------------------------------------------------------------------------

def test_live_parameters_are_the_output_ones():
    from hamst3r_ros.ros.params import LIVE_NODE, LIVE_PIPELINE, live_parameters

    assert set(live_parameters(LIVE_NODE)) == {"max_input_age_s", "max_image_pixels", "diagnostics_period_s",
                                               "points_min_period_s", "publish_camera_tf", "marker_lifetime_s"}
    assert set(live_parameters(LIVE_PIPELINE)) == {"min_confidence", "min_views_agree", "view_agreement_tolerance",
                                                   "voxel_size", "max_points", "body_fit_every", "refine_depth",
                                                   "refine_depth_min_matches"}
    # What sets up subscriptions, the synchroniser or the model is never live.
    for name in ("cameras", "image_topics", "image_transport", "fixed_frame", "sync_slop_s", "min_cameras",
                 "pipeline", "checkpoint", "device", "precision", "fit_bodies", "extrinsics_file", "managed"):
        assert not SPECS[name].live, name


def test_a_live_change_is_checked_as_at_start_and_keeps_the_rest():
    from hamst3r_ros.ros.params import validate_change

    cur = validate({"cameras": ["a", "b"], "voxel_size": 0.1})
    new = validate_change(cur, {"voxel_size": 0.25, "body_fit_every": 3, "marker_lifetime_s": 1})
    assert (new.voxel_size, new.body_fit_every, new.marker_lifetime_s) == (0.25, 3, 1.0)
    assert isinstance(new.marker_lifetime_s, float)  # coerced as at start
    assert {k: v for k, v in new.values.items() if k not in ("voxel_size", "body_fit_every", "marker_lifetime_s")} \
        == {k: v for k, v in cur.values.items() if k not in ("voxel_size", "body_fit_every", "marker_lifetime_s")}
    assert cur.voxel_size == 0.1  # the old one is untouched (the worker may still use it)


@pytest.mark.parametrize("change, expected", [
    ({"voxel_size": -1.0}, "parameter 'voxel_size' = -1.0 must be >= 0"),
    ({"body_fit_every": 0}, "parameter 'body_fit_every' = 0 must be > 0"),
    ({"max_points": 2.5}, "parameter 'max_points' = 2.5 must be an integer"),
    ({"min_confidence": "high"}, "parameter 'min_confidence' = 'high' must be a number"),
])
def test_a_wrong_live_value_gets_the_same_message_as_at_start(change, expected):
    from hamst3r_ros.ros.params import validate_change

    cur = validate({"cameras": ["a"]})
    with pytest.raises(ParameterError) as e:
        validate_change(cur, change)
    assert expected in str(e.value)
    assert expected in problems(cameras=["a"], **change)  # one implementation: the same text at start


def test_a_parameter_that_is_not_live_is_refused_with_the_reason():
    from hamst3r_ros.ros.params import validate_change

    cur = validate({"cameras": ["a"]})
    with pytest.raises(ParameterError) as e:
        validate_change(cur, {"device": "cpu", "voxel_size": 0.1, "cameras": ["a", "b"]})
    msg = str(e.value)
    assert "'device' cannot change while the node is configured: it is read once, at configure" in msg
    assert "'cameras' cannot change" in msg and "voxel_size" in msg.split("live parameters:")[1]
    with pytest.raises(ParameterError, match="unknown parameter 'frobnicate'"):
        validate_change(cur, {"frobnicate": 1})


def test_readme_lists_the_live_parameters():
    from hamst3r_ros.ros.params import live_parameters

    text = (ROOT / "README.md").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("Live parameters:"))
    listed = [w.strip("`,. ") for w in line.split(":", 1)[1].split()]
    assert [w for w in listed if w] == live_parameters()
