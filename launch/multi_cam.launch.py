"""Launch hamst3r_node for a multi-camera rig, optionally with simulated cameras and RViz.

    ros2 launch hamst3r_ros multi_cam.launch.py                       # node + synthetic cameras
    ros2 launch hamst3r_ros multi_cam.launch.py sim:=false params_file:=/path/rig.yaml
    ros2 launch hamst3r_ros multi_cam.launch.py sim_folder:=/data/rig rviz:=true
    ros2 launch hamst3r_ros multi_cam.launch.py managed:=true           # for a lifecycle manager

Node names, executables, parameter files and remappings come from
hamst3r_ros.ros.launch_spec, the same definitions tests use to start the processes with
``--ros-args``. Before any process starts, everything they need (packages, executables,
parameter files, RViz's config, the recording folder) is resolved by
``launch_spec.check_system``: a missing one stops the launch with one error naming it
(``rviz:=true`` without rviz2 too), and nothing is left running.
launch / launch_ros are imported inside the functions so that this file can
be loaded (and checked) where they are not installed.
"""
from hamst3r_ros.ros import launch_spec

#: Launch arguments: name -> (default, description).
ARGUMENTS = {
    "namespace": (launch_spec.DEFAULT_NAMESPACE, "namespace of the nodes and their relative topics "
                  "(config/hamst3r.rviz expects the default)"),
    "params_file": ("", "hamst3r_node parameter file ('' = the package's config/hamst3r.yaml)"),
    "sim": ("true", "also start sim_cameras, publishing a synthetic scene (true/false)"),
    "sim_folder": ("", "sim_cameras publishes this recording instead: one sub-folder of images per "
                   "camera, or a dataset written by `hamst3r synth`"),
    "rviz": ("false", "also start RViz with config/hamst3r.rviz (true/false)"),
    "managed": ("false", "start hamst3r_node unconfigured, for a lifecycle manager (nav2_lifecycle_manager, "
                "ros2 lifecycle set) to configure and activate (true); or configure and activate it at start (false)"),
}


def _flag(name: str, text: str) -> bool:
    low = text.strip().lower()
    if low not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"launch argument {name}:={text!r} must be true or false")
    return low in ("true", "1", "yes")


def _specs(context):
    """(namespace, the system's NodeSpecs) from the launch arguments, everything resolved
    (launch_spec.check_system raises LaunchError naming what is missing)."""
    from launch.substitutions import LaunchConfiguration

    value = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    namespace = value["namespace"]
    try:
        specs = launch_spec.system(namespace=namespace, params_file=value["params_file"],
                                   sim=_flag("sim", value["sim"]), sim_folder=value["sim_folder"],
                                   rviz=_flag("rviz", value["rviz"]), managed=_flag("managed", value["managed"]))
    except FileNotFoundError as e:  # the package's own config files
        raise launch_spec.LaunchError(str(e)) from None
    launch_spec.check_system(specs, sim_folder=value["sim_folder"])
    return namespace, specs


def _check(context, *args, **kwargs):
    """First action: resolve everything or stop the launch before any process starts."""
    _specs(context)
    return []


def _nodes(context, *args, **kwargs):
    """Build the Node actions once launch arguments are known (resolved again: cheap)."""
    from launch_ros.actions import Node

    namespace, specs = _specs(context)
    actions = []
    for spec in specs:
        parameters = [*spec.params_files] + ([dict(spec.parameters)] if spec.parameters else [])
        actions.append(Node(
            package=spec.package, executable=spec.executable, name=spec.name,
            namespace=launch_spec.full_namespace(namespace), parameters=parameters,
            remappings=list(spec.remappings), arguments=list(spec.arguments), output="screen"))
    return actions


def generate_launch_description():
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, (default, description) in ARGUMENTS.items()]
        + [OpaqueFunction(function=_check), OpaqueFunction(function=_nodes)])
