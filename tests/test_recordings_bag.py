"""Bags without ROS: cameras found by type and paired by namespace, messages read in order and
checked, playback timing (rate, loop, stamps kept or rewritten), bag writing, clear errors."""
import numpy as np
import pytest

pytest.importorskip("rosbags", reason="bags are read and written with rosbags (requirements.txt)")

from helpers_bags import S, pattern_frames, write_camera_bag  # noqa: E402
from hamst3r_ros.recordings import BagError, BagPlayer, BagRecording, BagWriter, find_cameras  # noqa: E402
from hamst3r_ros.recordings.bag_reader import camera_names, paired_camera_info  # noqa: E402
from hamst3r_ros.recordings.bag_types import EXTRA_TYPES, find_msg_file, typestore  # noqa: E402

K = np.array([[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]])
IMG, CIMG, INFO = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/CameraInfo"


def test_cameras_found_by_type_and_paired_by_namespace():
    topics = {"/rig/front/image_raw": IMG, "/rig/front/camera_info": INFO,
              "/rig/left/image_raw/compressed": CIMG, "/rig/left/camera_info": INFO,
              # the raw topic is there too: its compressed twin is the same camera, left out
              "/rig/front/image_raw/compressed": CIMG,
              "/back/color/image_raw": IMG, "/imu": "sensor_msgs/msg/Imu"}
    cams = find_cameras(topics)
    assert [(c.name, c.image_topic, c.compressed, c.camera_info_topic) for c in cams] == [
        ("color", "/back/color/image_raw", False, ""),  # no camera_info in the bag: none
        ("front", "/rig/front/image_raw", False, "/rig/front/camera_info"),
        ("left", "/rig/left/image_raw/compressed", True, "/rig/left/camera_info")]
    chosen = find_cameras(topics, ["/rig/front/image_raw/compressed"], ["/rig/front/camera_info"], ["f"])
    assert [(c.name, c.compressed, c.camera_info_topic) for c in chosen] == [("f", True, "/rig/front/camera_info")]
    assert paired_camera_info("/a/b/image_rect", False) == "/a/b/camera_info"
    # the fewest trailing components that tell cameras apart, made valid names
    assert camera_names(["/r1/color/image_raw", "/r2/color/image_raw", "/image_raw", "/3d/x/image_raw"]) == [
        "r1_color", "r2_color", "camera", "cam_3d_x"]
    assert camera_names(["/0cam/image_raw"]) == ["cam_0cam"]


def test_camera_choice_errors_name_the_problem():
    topics = {"/a/image_raw": IMG, "/a/camera_info": INFO, "/imu": "sensor_msgs/msg/Imu"}
    with pytest.raises(BagError, match=r"holds no sensor_msgs/Image or sensor_msgs/CompressedImage topic \(it holds "
                                       r"/imu \(sensor_msgs/msg/Imu\)\)"):
        find_cameras({"/imu": "sensor_msgs/msg/Imu"})
    with pytest.raises(BagError, match=r"image topics \['/imu'\] are not"):
        find_cameras(topics, ["/imu"])
    with pytest.raises(BagError, match="camera_info_topics has 2 entries for 1 image topics"):
        find_cameras(topics, camera_info_topics=["/a/camera_info", ""])
    with pytest.raises(BagError, match=r"camera_info topics \['/a/image_raw'\] are not"):
        find_cameras(topics, camera_info_topics=["/a/image_raw"])
    with pytest.raises(BagError, match="cameras has 2 names for 1 image topics"):
        find_cameras(topics, names=["a", "b"])
    with pytest.raises(BagError, match="camera names must be unique"):
        find_cameras(topics, names=["1a"])


@pytest.mark.parametrize("suffix", [".mcap", ".db3"])
def test_a_rig_bag_reads_back_in_log_order(tmp_path, suffix):
    frames = pattern_frames(3, 2)
    bag = write_camera_bag(tmp_path / f"rig{suffix}", frames, [K, None], ["cam0", "cam1"], rate_hz=10.0)
    assert bag.file == tmp_path / "rig" / f"rig{suffix}" and (tmp_path / "rig" / "metadata.yaml").is_file()
    # the folder and the storage file alone both open
    for path in (bag.folder, bag.file):
        rec = BagRecording(path)
        assert [(c.name, c.camera_info_topic) for c in rec.cameras] == [("cam0", "/rig/cam0/camera_info"), ("cam1", "")]
        msgs = list(rec.messages())
        assert [(m.camera, m.kind) for m in msgs[:3]] == [(0, "camera_info"), (0, "image"), (1, "image")]
        assert len(msgs) == 9 and not any(m.error for m in msgs)
        assert [m.log_ns for m in msgs] == sorted(m.log_ns for m in msgs)
        assert msgs[3].stamp_ns == 1000 * S + S // 10 and msgs[3].log_ns == msgs[3].stamp_ns + 3_000_000
        assert rec.start_ns == 1000 * S + 3_000_000 and rec.end_ns == 1000 * S + 2 * S // 10 + 4_000_000
        image = typestore().deserialize_cdr(msgs[2].data, IMG)
        assert image.width == 32 and np.array_equal(image.data.reshape(24, 32, 3), frames[0][1])
        rec.close()


def test_bad_bags_are_one_clear_line(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    for path, what in ((tmp_path / "none.mcap", "does not exist"), (tmp_path / "x.txt", "Unrecognized storage")):
        with pytest.raises(BagError, match=f"cannot read bag '{path}' .*{what}.*expected a ROS 2 bag") as e:
            BagRecording(path)
        assert "\n" not in str(e.value)
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"not an mcap file at all" * 10)
    with pytest.raises(BagError, match="cannot read bag .*junk.mcap.*expected a ROS 2 bag") as e:
        BagRecording(junk)
    assert "\n" not in str(e.value)
    with BagWriter(tmp_path / "empty.mcap") as w:
        w.add_topic("/imu", "sensor_msgs/msg/Imu")
    with pytest.raises(BagError, match=r"sim_cameras: bag .*empty' holds no sensor_msgs/Image"):
        BagRecording(tmp_path / "empty")
    with pytest.raises(BagError, match="exists already; not overwriting"):
        BagWriter(tmp_path / "empty.mcap")
    with pytest.raises(BagError, match="name it <name>.mcap or <name>.db3"):
        BagWriter(tmp_path / "out.bag")


def test_an_undecodable_message_is_reported_and_the_rest_plays(tmp_path):
    with BagWriter(tmp_path / "b.mcap") as w:
        w.add_topic("/c/image_raw", IMG)
        w.write("/c/image_raw", 5 * S, b"\x00\x01\x00\x00\x01")  # truncated CDR
    write = typestore()
    img = write.types[IMG](header=write.types["std_msgs/msg/Header"](
        stamp=write.types["builtin_interfaces/msg/Time"](sec=1, nanosec=0), frame_id="c"), height=16, width=16,
        encoding="mono8", is_bigendian=0, step=16, data=np.zeros(256, np.uint8))
    with BagWriter(tmp_path / "ok.mcap") as w:
        w.add_topic("/c/image_raw", IMG)
        w.write("/c/image_raw", 5 * S, b"\x00\x01\x00\x00\x01")
        w.write_message("/c/image_raw", 6 * S, img)
    msgs = list(BagRecording(tmp_path / "ok").messages())
    assert msgs[0].error.startswith("/c/image_raw: ") and not msgs[1].error and msgs[1].stamp_ns == S


def _player_bag(tmp_path, sets=3):
    write_camera_bag(tmp_path / "p.mcap", pattern_frames(sets, 2), [K, K], ["a", "b"], rate_hz=10.0,
                     extra_topics=False)
    return BagRecording(tmp_path / "p")


def test_player_keeps_the_recorded_timing_at_a_rate(tmp_path):
    rec = _player_bag(tmp_path)
    t0 = 5 * S  # the caller's clock
    player = BagPlayer(rec, rate=2.0, keep_stamps=True)
    first = player.due(t0)
    assert [(m.camera, m.kind) for m in first] == [(0, "camera_info"), (0, "image")]  # a, at the start
    assert player.clock_ns(t0) == rec.start_ns
    # b is logged 1 ms after a: due 0.5 ms later at rate 2
    assert player.due(t0 + 400_000) == [] and len(player.due(t0 + 500_000)) == 2
    # the second set (0.1 s of bag time later) comes 50 ms later; its stamps are kept
    second = player.due(t0 + 50_000_000)
    assert len(second) == 2 and second[1].stamp_ns == 1000 * S + S // 10
    assert player.clock_ns(t0 + 50_000_000) == rec.start_ns + 100_000_000
    rest = player.due(t0 + 10 * S)
    assert len(rest) == 6 and player.done and player.due(t0 + 20 * S) == []


def test_player_loops_and_rewrites_stamps(tmp_path):
    rec = _player_bag(tmp_path, sets=2)
    t0 = 7 * S
    player = BagPlayer(rec, rate=1.0, loop=True, keep_stamps=False)
    got = player.due(t0)  # the pass starts at the first call
    got += player.due(t0 + 150_000_000)  # the whole first pass (2 sets, 0.1 s apart)
    assert len(got) == 8 and player.passes == 1 and not player.done
    # rewritten stamps: the caller's clock at the start plus the recorded spacing (stamp 3 ms before log)
    assert got[1].stamp_ns == t0 - 3_000_000 and got[5].stamp_ns == t0 - 3_000_000 + S // 10
    # the next pass starts one frame interval (0.1 s) after the last message: clock and stamps go on
    again = player.due(t0 + 250_000_000)
    assert player.passes == 2 and len(again) == 4 and again[1].stamp_ns > got[-1].stamp_ns
    assert player.clock_ns(t0 + 250_000_000) < rec.start_ns + 100_000_000  # bag time starts over
    with pytest.raises(ValueError, match="rate must be > 0"):
        BagPlayer(rec, rate=0.0)


def _built_definition(pkg: str, name: str):
    """rosidl's generated ``share/<pkg>/msg/<name>.json`` of the package this Python imports (found
    by walking up from the package's module: a venv, /opt/ros/<distro> or a colcon install)."""
    import importlib
    from pathlib import Path

    here = Path(importlib.import_module(pkg).__file__).resolve()
    for prefix in here.parents:
        candidate = prefix / "share" / pkg / "msg" / f"{name}.json"
        if candidate.is_file():
            return candidate
    raise AssertionError(f"{pkg} is importable from {here} but no share/{pkg}/msg/{name}.json lies above it")


def test_our_message_definitions_match_the_built_packages():
    """The definitions bags carry for our own and third-party types are the ones the node is
    built with: same RIHS01 type hash as rosidl generated."""
    import json

    store = typestore()
    for msgtype in EXTRA_TYPES:
        assert find_msg_file(msgtype).is_file()
        pkg, _, name = msgtype.split("/")
        want = json.loads(_built_definition(pkg, name).read_text())["type_hashes"][0]["hash_string"]
        assert store.hash_rihs01(msgtype) == want, msgtype
