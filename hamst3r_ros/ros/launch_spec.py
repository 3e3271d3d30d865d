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

Before anything starts, :func:`check_system` resolves everything the system needs, as
launch_ros will (``<package prefix>/lib/<package>/<executable>`` through the ament index),
plus each parameter file, the files passed as arguments (RViz's config) and the recording
folder, and raises :class:`LaunchError` naming the first one missing. The launch file runs it
first, so a missing rviz2 or params file stops the launch with nothing left running.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

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
           sim_parameters: Optional[Mapping[str, Any]] = None, managed: bool = False) -> list[NodeSpec]:
    """The nodes to start, in start order.

    Args:
        namespace: namespace of all our nodes and their relative topics ("" = root).
        params_file: the node's parameter file ("" = config/hamst3r.yaml).
        sim: also start sim_cameras: a synthetic scene rendered at start (config/sim_cameras.yaml),
            or the recording in ``sim_folder`` when given.
        rviz: also start rviz2 with config/hamst3r.rviz.
        node_parameters, sim_parameters: parameters that override the files.
        managed: start hamst3r_node as a managed lifecycle node (parameter ``managed``): it waits,
            unconfigured, for a lifecycle manager; otherwise it configures and activates itself.
    """
    node_params = dict(node_parameters or {})
    if managed:
        node_params["managed"] = True
    specs = [NodeSpec(
        package=PACKAGE, executable="hamst3r_node", name="hamst3r_node", module="hamst3r_ros.ros.node",
        params_files=(params_file or config_file(NODE_CONFIG),),
        parameters=node_params, remappings=OUTPUT_REMAPPINGS)]
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


class LaunchError(RuntimeError):
    """Something the system needs is missing or unreadable (the message names it)."""


#: What to install when a package of another project is missing.
_INSTALL_HINTS = {"rviz2": "install RViz (apt install ros-$ROS_DISTRO-rviz2), or launch with rviz:=false"}


def package_prefix(package: str) -> str:
    """Install prefix of a ROS package from the ament index (as launch_ros looks it up).

    Raises:
        LookupError: the package is not in the ament index (or there is no ament index).
    """
    try:
        from ament_index_python.packages import get_package_prefix
    except ImportError:
        raise LookupError("ament_index_python is not installed (no ROS 2 environment sourced)") from None
    try:
        return get_package_prefix(package)
    except OSError as e:  # AMENT_PREFIX_PATH unset: no workspace or ROS install sourced
        raise LookupError(str(e)) from None


def executable_path(spec: NodeSpec, prefix_of: Optional[Callable[[str], str]] = None) -> str:
    """Path launch_ros will run for ``spec``: ``<prefix>/lib/<package>/<executable>``.

    Raises:
        LaunchError: the package is not installed, or has no such executable.
    """
    prefix_of = prefix_of or package_prefix
    hint = _INSTALL_HINTS.get(spec.package, "build and source the workspace (README: On a real ROS 2 install)")
    try:
        prefix = prefix_of(spec.package)
    except LookupError as e:  # KeyError's str() quotes its message: use the message itself
        why = e.args[0] if e.args else e
        raise LaunchError(f"node {spec.name}: package '{spec.package}' is not installed ({why}); {hint}") from None
    path = os.path.join(prefix, "lib", spec.package, spec.executable)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise LaunchError(f"node {spec.name}: package '{spec.package}' has no executable '{spec.executable}' "
                          f"(expected {path}); {hint}")
    return path


def check_params_file(path: str, node: str) -> None:
    """A parameter file must exist, be readable and hold a YAML mapping.

    Raises:
        LaunchError: naming the node, the file and what is wrong with it.
    """
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        raise LaunchError(f"node {node}: parameter file {path}: cannot read it ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise LaunchError(f"node {node}: parameter file {path}: not valid YAML ({' '.join(str(e).split())})") from None
    if not isinstance(doc, dict):
        raise LaunchError(f"node {node}: parameter file {path}: expected a mapping of node names to "
                          f"{{ros__parameters: ...}}, found {type(doc).__name__}")


def check_system(specs: Sequence[NodeSpec], sim_folder: str = "",
                 prefix_of: Optional[Callable[[str], str]] = None) -> None:
    """Resolve everything ``specs`` need before any process starts (see the module doc).

    Args:
        specs: the system (see :func:`system`).
        sim_folder: the recording sim_cameras publishes ('' = none): must be a folder.
        prefix_of: package -> install prefix (default: the ament index, :func:`package_prefix`).

    Raises:
        LaunchError: one line naming the first missing package, executable, file or folder.
    """
    for spec in specs:
        executable_path(spec, prefix_of)
        for path in spec.params_files:
            check_params_file(path, spec.name)
        for arg in spec.arguments:
            if os.path.isabs(arg) and not (os.path.isfile(arg) and os.access(arg, os.R_OK)):
                raise LaunchError(f"node {spec.name}: file {arg} does not exist or is not readable")
    if sim_folder and not os.path.isdir(sim_folder):
        raise LaunchError(f"sim_folder {sim_folder}: not a folder (expected one sub-folder of images per "
                          "camera, or a dataset written by `hamst3r synth`)")


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
