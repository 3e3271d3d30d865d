"""Our interface packages: structure colcon relies on, generated types, wire compatibility,
and scripts/build_interfaces.sh being idempotent."""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [ROOT / "hamst3r_msgs"] + sorted(p for p in (ROOT / "third_party_msgs").iterdir() if p.is_dir())

#: Official type hashes (RIHS01) of the third-party types we may generate ourselves. tf2_msgs'
#: is the one `ros2 topic info --verbose /tf` shows on a ROS 2 install; people_msgs' and
#: hri_msgs' were computed independently (rosbags' hash_rihs01) from the upstream .msg files
#: (wg-perception/people ros2 branch, ros4hri/hri_msgs humble-devel).
OFFICIAL_HASHES = {
    ("tf2_msgs.msg", "TFMessage"): "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087",
    ("people_msgs.msg", "People"): "RIHS01_9ea98a5e58f833a9532957bca23a6b8006a12885d5a16c8ca41dd901d10c33b6",
    ("hri_msgs.msg", "IdsList"): "RIHS01_7e0812d1ac945c98fd3e393568d581ad0ab567f37b24eff633eab778c1bfe62d",
}


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_interface_package_is_a_plain_rosidl_package(pkg):
    xml = ET.parse(pkg / "package.xml").getroot()
    assert xml.get("format") == "3" and xml.findtext("name") == pkg.name
    assert xml.findtext("export/build_type") == "ament_cmake"
    assert xml.findtext("member_of_group") == "rosidl_interface_packages"
    assert {"ament_cmake", "rosidl_default_generators"} <= {e.text for e in xml.findall("buildtool_depend")}
    cmake = (pkg / "CMakeLists.txt").read_text()
    assert f"project({pkg.name})" in cmake and "ament_package()" in cmake
    listed = set(re.findall(r'"(msg/\w+\.msg)"', cmake))
    assert listed == {f"msg/{m.name}" for m in (pkg / "msg").glob("*.msg")}, "CMakeLists must list every .msg"
    # Message dependencies are declared both ways colcon/rosdep and CMake need them.
    deps = {e.text for e in xml.findall("depend")}
    for dep in set(re.findall(r"^(\w+_msgs)/\w+", "\n".join(m.read_text() for m in (pkg / "msg").glob("*.msg")),
                              re.M)) - {pkg.name}:
        assert dep in deps and f"find_package({dep} REQUIRED)" in cmake, dep


def test_human_messages_follow_types():
    msgs = pytest.importorskip("hamst3r_msgs.msg", reason="needs hamst3r_msgs (run scripts/build_interfaces.sh)")
    from hamst3r_ros.types import SMPL_JOINT_NAMES, TrackState

    h = msgs.Human()
    assert len(h.joints) == len(h.joint_names) == len(SMPL_JOINT_NAMES)
    assert {s.name: s.value for s in TrackState} == {n: getattr(msgs.Human, n) for n in TrackState.__members__}
    assert set(msgs.HumanArray.get_fields_and_field_types()) == {"header", "humans"}
    assert msgs.Human.get_fields_and_field_types() == {
        "id": "uint32", "state": "uint8", "confidence": "float", "joint_names": "string[24]",
        "joints": "geometry_msgs/Pose[24]", "root": "geometry_msgs/Pose", "velocity": "geometry_msgs/Vector3",
        "body_model": "string", "shape": "sequence<float>", "pose": "sequence<float>", "residual": "float",
        "num_points": "uint32"}


@pytest.mark.ros
@pytest.mark.parametrize("module,name", list(OFFICIAL_HASHES), ids=lambda v: str(v))
def test_third_party_types_are_wire_compatible(ros, module, name):
    """Whoever provides the type (a ROS install or our build), rclpy must see the official hash."""
    mod = pytest.importorskip(module, reason=f"needs {module} (ROS install or scripts/build_interfaces.sh)")
    from conftest import unique_name

    node = ros.node(unique_name("hash"))
    topic = "/" + unique_name("hash")
    node.create_publisher(getattr(mod, name), topic, 1)
    (info,) = node.get_publishers_info_by_topic(topic)
    assert str(info.topic_type_hash) == OFFICIAL_HASHES[(module, name)]


def test_build_script_is_idempotent():
    stamp = Path(sys.prefix) / "share" / "hamst3r_msgs" / "hamst3r_build.sha256"
    if not stamp.is_file():
        pytest.skip(f"hamst3r_msgs in {sys.prefix} was not built by scripts/build_interfaces.sh "
                    "(a ROS workspace provides it)")
    env = {**os.environ, "VENV": sys.prefix}
    out = subprocess.run(["bash", str(ROOT / "scripts" / "build_interfaces.sh")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert "[interfaces] hamst3r_msgs: up to date" in lines
    assert not any("generating" in line for line in lines), out.stdout
    for pkg in ("tf2_msgs", "people_msgs", "hri_msgs"):
        assert any(line.startswith(f"[interfaces] {pkg}: ") for line in lines), out.stdout


def test_build_script_explains_a_missing_venv(tmp_path):
    out = subprocess.run(["bash", str(ROOT / "scripts" / "build_interfaces.sh")],
                         env={**os.environ, "VENV": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no Python at" in out.stderr
