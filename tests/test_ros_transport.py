"""Our executables' Fast DDS default: a larger shared-memory segment, and only when the user
has not configured Fast DDS or chosen another middleware (no ROS needed)."""
import xml.etree.ElementTree as ET

from hamst3r_ros.ros.transport import SHM_SEGMENT_BYTES, fastdds_profile, use_large_shm_segment

NS = {"d": "http://www.eprosima.com"}


def test_profile_keeps_shm_and_udp_with_a_large_segment():
    root = ET.fromstring(fastdds_profile(1 << 20))
    kinds = [t.find("d:type", NS).text for t in root.iter("{http://www.eprosima.com}transport_descriptor")]
    assert kinds == ["SHM", "UDPv4"]
    assert root.find(".//d:segment_size", NS).text == str(1 << 20)
    participant = root.find(".//d:participant", NS)
    assert participant.get("is_default_profile") == "true"
    assert participant.find(".//d:useBuiltinTransports", NS).text == "false"
    assert SHM_SEGMENT_BYTES >= 8 * 1280 * 720 * 3  # a burst of 8 HD RGB images


def test_profile_file_is_used_only_when_fast_dds_is_not_configured(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    monkeypatch.chdir(tmp_path)
    env = {}
    path = use_large_shm_segment(env, 4096)
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == path and path.startswith(str(tmp_path))
    assert open(path).read() == fastdds_profile(4096)
    assert use_large_shm_segment(dict(env), 4096) is None  # the user's (or our earlier) profile stays
    mine = {"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/my_dds.xml"}
    assert use_large_shm_segment(mine) is None and mine == {"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/my_dds.xml"}
    other = {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}
    assert use_large_shm_segment(other) is None and "FASTDDS_DEFAULT_PROFILES_FILE" not in other
    explicit = {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}
    assert use_large_shm_segment(explicit, 4096) == path
    assert use_large_shm_segment({"FASTRTPS_DEFAULT_PROFILES_FILE": "/etc/old.xml"}) is None
    assert use_large_shm_segment({"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}) is None
    (tmp_path / "DEFAULT_FASTDDS_PROFILES.xml").write_text("<dds/>")  # Fast DDS reads this one by itself
    assert use_large_shm_segment({}) is None
