"""config/hamst3r.rviz is kept honest: every display that reads a topic reads one the node
publishes, under the launch file's names (namespace and remappings of launch_spec, the
launch file's single source), with the message type the node publishes there; the fixed
frame, point-cloud channel and marker namespaces it names are ones the node uses.

What the node publishes is read from a real hamst3r_node built as the launch file builds it
(launch_spec.system's node spec, its --ros-args: name, namespace, config/hamst3r.yaml,
remappings), not from a copy of the names."""
from pathlib import Path

import pytest
import yaml

rclpy = pytest.importorskip("rclpy", reason="needs ROS 2 rclpy (wheels or a ROS install)")
pytest.importorskip("hamst3r_msgs", reason="needs hamst3r_msgs built (scripts/build_interfaces.sh)")

from fake_pipeline import FakePipeline  # noqa: E402
from hamst3r_ros.ros import launch_spec  # noqa: E402
from hamst3r_ros.ros.conversions import MARKER_NAMESPACES, SCENE_CLOUD_DTYPE  # noqa: E402

pytestmark = pytest.mark.ros
RVIZ = Path(__file__).resolve().parents[1] / "config" / launch_spec.RVIZ_CONFIG

#: RViz 2 display classes that read a topic, and the message type each reads (RViz's own
#: table, not ours). TF reads /tf (and /tf_static) without a Topic entry. A display class
#: missing here with a Topic entry fails the check: add it when the config gains one.
DISPLAY_TYPES = {
    "rviz_default_plugins/PointCloud2": "sensor_msgs/msg/PointCloud2",
    "rviz_default_plugins/PointCloud": "sensor_msgs/msg/PointCloud",
    "rviz_default_plugins/MarkerArray": "visualization_msgs/msg/MarkerArray",
    "rviz_default_plugins/Marker": "visualization_msgs/msg/Marker",
    "rviz_default_plugins/Image": "sensor_msgs/msg/Image",
    "rviz_default_plugins/Camera": "sensor_msgs/msg/Image",
    "rviz_default_plugins/PoseArray": "geometry_msgs/msg/PoseArray",
    "rviz_default_plugins/TF": "tf2_msgs/msg/TFMessage",
}
IMPLICIT_TOPICS = {"rviz_default_plugins/TF": "/tf"}
#: Displays that read nothing.
NO_TOPIC = {"rviz_default_plugins/Grid", "rviz_default_plugins/Axes"}


def _type_name(msg_class) -> str:
    return f"{msg_class.__module__.split('.')[0]}/msg/{msg_class.__name__}"


def published_by_launched_node(ros) -> tuple[dict[str, str], str]:
    """({resolved topic: message type}, fixed frame) of hamst3r_node as the launch file starts it."""
    from hamst3r_ros.ros.node import Hamst3rNode

    spec = next(s for s in launch_spec.system(sim=False) if s.executable == "hamst3r_node")
    node = Hamst3rNode(FakePipeline(), context=ros.context, cli_args=launch_spec.ros_args(spec))
    try:
        # A managed (lifecycle) node creates its publishers on its transitions.
        for step in ("trigger_configure", "trigger_activate"):
            if callable(getattr(node, step, None)):
                getattr(node, step)()
        assert node.get_namespace() == launch_spec.full_namespace(launch_spec.DEFAULT_NAMESPACE)
        return {p.topic_name: _type_name(p.msg_type) for p in node.publishers}, node.cfg.fixed_frame
    finally:
        node.destroy_node()


def rviz_problems(doc: dict, published: dict[str, str], fixed_frame: str) -> list[str]:
    """What in an RViz config (parsed YAML) disagrees with what the node publishes."""
    problems = []
    vm = doc.get("Visualization Manager") or {}
    if vm.get("Global Options", {}).get("Fixed Frame") != fixed_frame:
        problems.append(f"Fixed Frame {vm.get('Global Options', {}).get('Fixed Frame')!r}, the node's is {fixed_frame!r}")
    displays = vm.get("Displays") or []
    for d in displays:
        cls, name = d.get("Class"), d.get("Name")
        if cls in NO_TOPIC:
            continue
        topic = (d.get("Topic") or {}).get("Value") if isinstance(d.get("Topic"), dict) else d.get("Topic")
        topic = topic or IMPLICIT_TOPICS.get(cls)
        if cls not in DISPLAY_TYPES:
            problems.append(f"display {name!r}: class {cls} is not in DISPLAY_TYPES (what does it read?)")
            continue
        if topic not in published:
            problems.append(f"display {name!r} reads {topic!r}, which the node does not publish "
                            f"(it publishes {sorted(published)})")
        elif published[topic] != DISPLAY_TYPES[cls]:
            problems.append(f"display {name!r} ({cls}) expects {DISPLAY_TYPES[cls]} on {topic}, the node "
                            f"publishes {published[topic]}")
        if cls == "rviz_default_plugins/PointCloud2" and d.get("Channel Name") not in SCENE_CLOUD_DTYPE.names:
            problems.append(f"display {name!r}: channel {d.get('Channel Name')!r} is not a field of the cloud")
        if cls == "rviz_default_plugins/MarkerArray":
            unknown = set(d.get("Namespaces") or {}) - set(MARKER_NAMESPACES)
            if unknown:
                problems.append(f"display {name!r}: marker namespaces {sorted(unknown)} are not the node's")
    if not any(d.get("Class") not in NO_TOPIC for d in displays):
        problems.append("no display reads anything")
    return problems


def test_rviz_config_reads_what_the_launched_node_publishes(ros):
    published, fixed_frame = published_by_launched_node(ros)
    # The remapped outputs are where launch_spec says (a sanity check of the derivation).
    ns = launch_spec.full_namespace(launch_spec.DEFAULT_NAMESPACE)
    assert {f"{ns}/{dst}" for _, dst in launch_spec.OUTPUT_REMAPPINGS} <= set(published)
    doc = yaml.safe_load(RVIZ.read_text())
    assert rviz_problems(doc, published, fixed_frame) == []
    # The check can fail: a renamed topic, a wrong display class and a wrong frame are caught.
    points = next(d for d in doc["Visualization Manager"]["Displays"] if d.get("Name") == "Scene points")
    points["Topic"]["Value"] = "/hamst3r_node/points"
    markers = next(d for d in doc["Visualization Manager"]["Displays"] if d.get("Class", "").endswith("MarkerArray"))
    markers["Class"] = "rviz_default_plugins/PoseArray"
    doc["Visualization Manager"]["Global Options"]["Fixed Frame"] = "map_typo"
    problems = rviz_problems(doc, published, fixed_frame)
    assert len(problems) == 3, problems
    assert "'/hamst3r_node/points', which the node does not publish" in problems[1]
    assert "expects geometry_msgs/msg/PoseArray on /hamst3r/markers" in problems[2]
