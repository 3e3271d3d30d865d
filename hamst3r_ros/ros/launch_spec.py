"""Which processes make up a hamst3r_ros system, defined once.

``launch/multi_cam.launch.py`` turns these specs into launch_ros ``Node`` actions on a real
ROS 2 install; tests, the demo and benchmarks turn the same specs into command lines
(``python -m <module> --ros-args -r __node:=... -r __ns:=... --params-file ... -p ... -r ...``)
that rclpy applies exactly as ``ros2 launch`` would. Nothing here imports ROS.

The system (namespace ``/hamst3r`` by default):

    hamst3r_node   config/hamst3r.yaml; its private outputs ~/points, ~/markers, ~/humans,
                   ~/people are remapped to <namespace>/points, /markers, /humans, /people so that consumers
                   (RViz, config/hamst3r.rviz) do not depend on the node's name
    sim_cameras    config/sim_cameras.yaml (a synthetic scene; or a folder recording);
                   publishes <namespace>/<camera>/image_raw and /camera_info, the topics
                   config/hamst3r.yaml subscribes to (optional)
    rviz2          config/hamst3r.rviz (optional; a real ROS install only)
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import yaml

PACKAGE = "hamst3r_ros"
DEFAULT_NAMESPACE = "hamst3r"
NODE_CONFIG = "hamst3r.yaml"
SIM_CONFIG = "sim_cameras.yaml"
RVIZ_CONFIG = "hamst3r.rviz"

#: The node's private outputs and the names the system publishes them under.
OUTPUT_REMAPPINGS: tuple[tuple[str, str], ...] = (
    ("~/points", "points"),
    ("~/markers", "markers"),
    ("~/humans", "humans"),
    ("~/people", "people"),
)


@dataclass(frozen=True)
class NodeSpec:
    """One process of the system.

    Attributes:
        package, executable: what ``ros2 run`` / launch_ros start.
        name: the node name.
        module: Python module whose ``main()`` is the executable (``python -m``), or None for
            programs that are not ours (rviz2).
        params_files: parameter files, absolute paths, applied in order.
        parameters: parameters set after the files (they win).
        remappings: (from, to) topic remappings.
        arguments: extra command-line arguments before ``--ros-args``.
    """

    package: str
    executable: str
    name: str
    module: Optional[str] = None
    params_files: tuple[str, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()


def config_dir() -> Path:
    """config/ of the source tree when running from it, else the installed share directory."""
    src = Path(__file__).resolve().parents[2] / "config"
    if (src / NODE_CONFIG).is_file():
        return src
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory(PACKAGE)) / "config"
    except (ImportError, LookupError) as e:
        raise FileNotFoundError(f"cannot find {PACKAGE}'s config/ (not in a source tree, and no installed "
                                f"share directory: {e})") from None
    if not (share / NODE_CONFIG).is_file():
        raise FileNotFoundError(f"{share} has no {NODE_CONFIG}")
    return share


def config_file(name: str) -> str:
    """Absolute path of a file in config/ (see config_dir)."""
    path = config_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    return str(path)


def system(namespace: str = DEFAULT_NAMESPACE, params_file: str = "", sim: bool = True, sim_folder: str = "",
           rviz: bool = False, node_parameters: Optional[Mapping[str, Any]] = None,
           sim_parameters: Optional[Mapping[str, Any]] = None) -> list[NodeSpec]:
    """The nodes to start, in start order.

    Args:
        namespace: namespace of all our nodes and their relative topics ("" = root).
        params_file: the node's parameter file ("" = config/hamst3r.yaml).
        sim: also start sim_cameras: a synthetic scene rendered at start (config/sim_cameras.yaml),
            or the recording in ``sim_folder`` when given.
        rviz: also start rviz2 with config/hamst3r.rviz.
        node_parameters, sim_parameters: parameters that override the files.
    """
    specs = [NodeSpec(
        package=PACKAGE, executable="hamst3r_node", name="hamst3r_node", module="hamst3r_ros.ros.node",
        params_files=(params_file or config_file(NODE_CONFIG),),
        parameters=dict(node_parameters or {}), remappings=OUTPUT_REMAPPINGS)]
    if sim:
        sp = dict(sim_parameters or {})
        if sim_folder:  # images or a `hamst3r synth` dataset, instead of rendering at start
            sp.update(source="folder", folder=sim_folder)
        specs.append(NodeSpec(package=PACKAGE, executable="sim_cameras", name="sim_cameras",
                              module="hamst3r_ros.ros.sim_cameras", params_files=(config_file(SIM_CONFIG),),
                              parameters=sp))
    if rviz:
        specs.append(NodeSpec(package="rviz2", executable="rviz2", name="rviz2",
                              arguments=("-d", config_file(RVIZ_CONFIG))))
    return specs


def format_param(value: Any) -> str:
    """A parameter value as ``-p name:=<value>`` needs it (YAML, as rcl parses it)."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError("an empty list cannot be passed with -p (rcl cannot type it); leave it unset")
        value = list(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20).strip()
    return text[:-4].strip() if text.endswith("\n...") else text


def full_namespace(namespace: str) -> str:
    """'/' + namespace without trailing slash ('' -> '/')."""
    return "/" + namespace.strip("/")


def ros_args(spec: NodeSpec, namespace: str = DEFAULT_NAMESPACE) -> list[str]:
    """``--ros-args ...`` that give a process the node name, namespace, parameters and
    remappings of ``spec`` (what launch_ros passes)."""
    args = ["--ros-args", "-r", f"__node:={spec.name}", "-r", f"__ns:={full_namespace(namespace)}"]
    for path in spec.params_files:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"parameter file {path} of node {spec.name} does not exist")
        args += ["--params-file", path]
    for name, value in spec.parameters.items():
        args += ["-p", f"{name}:={format_param(value)}"]
    for src, dst in spec.remappings:
        args += ["-r", f"{src}:={dst}"]
    return args


def command(spec: NodeSpec, namespace: str = DEFAULT_NAMESPACE, python: str = sys.executable) -> list[str]:
    """Command line that starts ``spec`` as a process without ``ros2 launch``."""
    if spec.module is None:
        return [spec.executable, *spec.arguments, *ros_args(spec, namespace)]
    return [python, "-m", spec.module, *spec.arguments, *ros_args(spec, namespace)]


def commands(specs: Sequence[NodeSpec], namespace: str = DEFAULT_NAMESPACE) -> list[list[str]]:
    """command() of each spec."""
    return [command(s, namespace) for s in specs]
