"""launch/multi_cam.launch.py against launch_spec, without ROS's launch package.

`launch` and `launch_ros` are not installable from PyPI, so the launch file is loaded with
small stand-ins for the few classes it uses, injected into sys.modules; they record the
actions. The recorded Node actions must carry exactly what launch_spec defines, and the
command lines launch_spec gives tests must carry the same; test_ros_node_process.py starts
the system from those command lines and checks what it publishes.
"""
import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest
import yaml

from hamst3r_ros.ros import launch_spec
from hamst3r_ros.ros.params import load_params_file

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "multi_cam.launch.py"


class _Recorded:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def _stub_modules():
    launch = types.ModuleType("launch")
    actions = types.ModuleType("launch.actions")
    substitutions = types.ModuleType("launch.substitutions")
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")

    class LaunchDescription(_Recorded):
        @property
        def entities(self):
            return list(self.args[0])

    class DeclareLaunchArgument(_Recorded):
        pass

    class OpaqueFunction(_Recorded):
        pass

    class LaunchConfiguration(_Recorded):
        def perform(self, context):
            return context.launch_configurations[self.args[0]]

    class Node(_Recorded):
        pass

    launch.LaunchDescription = LaunchDescription
    actions.DeclareLaunchArgument, actions.OpaqueFunction = DeclareLaunchArgument, OpaqueFunction
    substitutions.LaunchConfiguration = LaunchConfiguration
    ros_actions.Node = Node
    launch.actions, launch.substitutions, launch_ros.actions = actions, substitutions, ros_actions
    return {"launch": launch, "launch.actions": actions, "launch.substitutions": substitutions,
            "launch_ros": launch_ros, "launch_ros.actions": ros_actions}


def _install(prefix, package, *executables):
    """A fake install prefix as colcon makes it: <prefix>/lib/<package>/<executable>."""
    d = prefix / "lib" / package
    d.mkdir(parents=True, exist_ok=True)
    for exe in executables:
        (d / exe).write_text("#!/bin/sh\n")
        (d / exe).chmod(0o755)
    return str(prefix)


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The ament index as a real install has it: hamst3r_ros's executables (rviz2 not
    installed unless a test adds it to the returned dict)."""
    prefixes = {launch_spec.PACKAGE: _install(tmp_path / "install", launch_spec.PACKAGE, "hamst3r_node",
                                              "sim_cameras")}

    def prefix_of(package):
        if package not in prefixes:
            raise LookupError(f"package '{package}' not found")
        return prefixes[package]

    monkeypatch.setattr(launch_spec, "package_prefix", prefix_of)
    return prefixes


@pytest.fixture
def launch_file(monkeypatch, installed):
    for name, mod in _stub_modules().items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("multi_cam_launch", LAUNCH_FILE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def launch(mod, **overrides):
    """Run the launch description as `ros2 launch` would: declared defaults + overrides, every
    OpaqueFunction in order (an exception stops the launch there, as in launch)."""
    entities = mod.generate_launch_description().entities
    declared = {e.args[0]: e.kwargs for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    context = types.SimpleNamespace(launch_configurations={
        **{k: v["default_value"] for k, v in declared.items()}, **overrides})
    actions = []
    for e in entities:
        if type(e).__name__ == "OpaqueFunction":
            actions += e.kwargs["function"](context)
    return declared, actions


def test_launch_file_imports_launch_lazily():
    # Loading it must not need launch/launch_ros (they are only imported when launching).
    spec = importlib.util.spec_from_file_location("multi_cam_launch_plain", LAUNCH_FILE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert callable(mod.generate_launch_description)


def test_arguments_are_declared_with_descriptions(launch_file):
    declared, _ = launch(launch_file)
    assert set(declared) == {"namespace", "params_file", "sim", "sim_folder", "rviz", "managed"}
    assert declared["managed"]["default_value"] == "false"  # plain stays the default
    assert all(v["description"] for v in declared.values())
    assert declared["namespace"]["default_value"] == launch_spec.DEFAULT_NAMESPACE


@pytest.mark.parametrize("overrides", [
    {},
    {"rviz": "true", "sim_folder": "<rig>", "namespace": "lab"},
    {"sim": "false", "params_file": str(ROOT / "config" / "hamst3r.yaml")},
    {"managed": "true"},
])
def test_nodes_match_launch_spec(launch_file, installed, tmp_path, overrides):
    installed["rviz2"] = _install(tmp_path / "ros", "rviz2", "rviz2")
    if overrides.get("sim_folder"):
        (tmp_path / "rig").mkdir()
        overrides = dict(overrides, sim_folder=str(tmp_path / "rig"))
    declared, nodes = launch(launch_file, **overrides)
    args = {**{k: v["default_value"] for k, v in declared.items()}, **overrides}
    specs = launch_spec.system(namespace=args["namespace"], params_file=args["params_file"],
                               sim=args["sim"] == "true", sim_folder=args["sim_folder"], rviz=args["rviz"] == "true",
                               managed=args["managed"] == "true")
    assert [n.kwargs["name"] for n in nodes] == [s.name for s in specs]
    for node, spec in zip(nodes, specs):
        k = node.kwargs
        assert (k["package"], k["executable"]) == (spec.package, spec.executable)
        assert k["namespace"] == "/" + args["namespace"]
        assert k["parameters"] == list(spec.params_files) + ([dict(spec.parameters)] if spec.parameters else [])
        assert k["remappings"] == list(spec.remappings)
        assert k["arguments"] == list(spec.arguments)
        assert all(os.path.isfile(p) for p in spec.params_files)
    names = [n.kwargs["name"] for n in nodes]
    assert ("sim_cameras" in names) == (args["sim"] == "true")
    assert ("rviz2" in names) == (args["rviz"] == "true")
    if args["sim_folder"]:
        assert nodes[1].kwargs["parameters"][-1] == {"source": "folder", "folder": args["sim_folder"]}
    # managed:=true reaches the node as its parameter 'managed' (after the file, so it wins); plain sets nothing
    assert (nodes[0].kwargs["parameters"][1:] == [{"managed": True}]) == (args["managed"] == "true")


def test_bad_flag_is_a_clear_error(launch_file):
    with pytest.raises(ValueError, match="rviz"):
        launch(launch_file, rviz="maybe")


@pytest.mark.parametrize("overrides, message", [
    ({"rviz": "true"}, "node rviz2: package 'rviz2' is not installed (package 'rviz2' not found); install RViz "
                       "(apt install ros-$ROS_DISTRO-rviz2), or launch with rviz:=false"),
    ({"params_file": "/missing/my_rig.yaml"}, "node hamst3r_node: parameter file /missing/my_rig.yaml: "
                                              "cannot read it (No such file or directory)"),
    ({"params_file": "<a folder>"}, "cannot read it (Is a directory)"),
    ({"params_file": "<not yaml>"}, "not valid YAML"),
    ({"params_file": "<a list>"}, "expected a mapping of node names to {ros__parameters: ...}, found list"),
    ({"sim_folder": "/missing/rig"}, "sim_folder /missing/rig: not a folder"),
])
def test_what_is_missing_stops_the_launch_before_any_process(launch_file, tmp_path, monkeypatch,
                                                              overrides, message):
    created = []
    monkeypatch.setattr(sys.modules["launch_ros.actions"], "Node",
                        lambda *a, **k: created.append(k) or _Recorded(*a, **k))
    files = {"<a folder>": tmp_path, "<not yaml>": tmp_path / "bad.yaml", "<a list>": tmp_path / "list.yaml"}
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    overrides = {k: str(files.get(v, v)) for k, v in overrides.items()}
    entities = launch_file.generate_launch_description().entities
    first = [e for e in entities if type(e).__name__ == "OpaqueFunction"][0]
    assert first.kwargs["function"].__name__ == "_check"  # the first action resolves, then _nodes
    with pytest.raises(launch_spec.LaunchError) as e:
        launch(launch_file, **overrides)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert created == []  # no Node action, so no process


def test_a_missing_executable_of_ours_is_named(installed, tmp_path):
    installed[launch_spec.PACKAGE] = _install(tmp_path / "half", launch_spec.PACKAGE, "hamst3r_node")
    with pytest.raises(launch_spec.LaunchError, match="node sim_cameras: package 'hamst3r_ros' has no executable "
                                                      "'sim_cameras' \\(expected .*half/lib/hamst3r_ros/sim_cameras\\)"):
        launch_spec.check_system(launch_spec.system())
    launch_spec.check_system(launch_spec.system(sim=False))  # the node alone is complete


def test_without_an_ament_index_the_package_is_not_found():
    # This venv (no colcon install): the real lookup says so instead of failing obscurely.
    with pytest.raises(launch_spec.LaunchError, match="package 'no_such_pkg_xyz' is not installed"):
        launch_spec.executable_path(launch_spec.NodeSpec("no_such_pkg_xyz", "exe", "n"))


def _parse_ros_args(argv):
    """(node, ns, params files, {param: text}, [(from, to)]) from a --ros-args command line."""
    i = argv.index("--ros-args")
    node = ns = None
    files, params, remaps = [], {}, []
    it = iter(argv[i + 1:])
    for flag in it:
        val = next(it)
        if flag == "--params-file":
            files.append(val)
        elif flag == "-p":
            k, v = val.split(":=", 1)
            params[k] = v
        elif flag == "-r":
            k, v = val.split(":=", 1)
            if k == "__node":
                node = v
            elif k == "__ns":
                ns = v
            else:
                remaps.append((k, v))
        else:
            raise AssertionError(f"unexpected {flag}")
    return node, ns, files, params, remaps


def test_command_lines_carry_what_the_launch_file_does(launch_file, tmp_path):
    _, nodes = launch(launch_file, sim_folder=str(tmp_path))
    specs = launch_spec.system(sim_folder=str(tmp_path), sim_parameters={"rate_hz": 5.0, "cameras": ["cam0", "cam1"]})
    for node, spec in zip(nodes, specs):
        cmd = launch_spec.command(spec)
        assert cmd[:3] == [sys.executable, "-m", spec.module]
        name, ns, files, params, remaps = _parse_ros_args(cmd)
        k = node.kwargs
        assert (name, ns, remaps) == (k["name"], k["namespace"], k["remappings"])
        assert files == [p for p in k["parameters"] if isinstance(p, str)]
        # -p values are YAML, as rcl parses them.
        assert {n: yaml.safe_load(v) for n, v in params.items()} == dict(spec.parameters)
    assert launch_spec.format_param(["", "x"]) == "['', x]" and launch_spec.format_param("") == "''"
    assert launch_spec.format_param("0.5") == "'0.5'" and launch_spec.format_param(True) == "true"


def test_rviz_config_shows_what_the_system_publishes():
    rviz = yaml.safe_load((ROOT / "config" / "hamst3r.rviz").read_text())
    manager = rviz["Visualization Manager"]
    topics = {d["Class"].split("/")[-1]: d.get("Topic", {}).get("Value") for d in manager["Displays"]}
    ns = "/" + launch_spec.DEFAULT_NAMESPACE
    published = {f"{ns}/{dst}" for _, dst in launch_spec.OUTPUT_REMAPPINGS}
    assert topics["PointCloud2"] in published and topics["MarkerArray"] in published
    node_params = load_params_file(str(ROOT / "config" / "hamst3r.yaml"), "hamst3r_node", ns)
    assert manager["Global Options"]["Fixed Frame"] == node_params["fixed_frame"]


def test_sim_config_feeds_the_node_config():
    ns = "/" + launch_spec.DEFAULT_NAMESPACE
    node = load_params_file(str(ROOT / "config" / "hamst3r.yaml"), "hamst3r_node", ns)
    sim = load_params_file(str(ROOT / "config" / "sim_cameras.yaml"), "sim_cameras", ns)
    assert sim["cameras"] == node["cameras"]
    # The synthetic scene names its cameras cam0 .. cam<N-1>.
    assert sim["source"] == "synthetic" and node["cameras"] == [f"cam{k}" for k in range(sim["synthetic_cameras"])]
    # sim_cameras publishes <camera>/image_raw and <camera>/camera_info in the shared namespace.
    assert node["image_topics"] == [f"{c}/image_raw" for c in sim["cameras"]]
    assert node["camera_info_topics"] == [f"{c}/camera_info" for c in sim["cameras"]]
