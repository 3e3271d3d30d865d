"""`hamst3r demo` end to end: simulated cameras and the real node as processes, the real
pipeline (a tiny random-weight checkpoint here, so that the test does not depend on the
embedded model's quality), outputs received and summarised."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "anny"))

pytest.importorskip("rclpy", reason="the demo runs ROS 2 nodes (rclpy)")


@pytest.mark.ros
def test_demo_runs_the_node_on_simulated_cameras(tmp_path, capsys):
    from hamst3r_ros.cli import main
    from hamst3r_ros.model.checkpoints import save_hamst3r
    from hamst3r_ros.model.hamst3r import build_model

    ckpt = tmp_path / "tiny"
    save_hamst3r(build_model("hamst3r_tiny", seed=0).net, ckpt)
    rc = main(["demo", "--checkpoint", str(ckpt) + ".safetensors", "--framesets", "2", "--cameras", "2",
               "--people", "1", "--width", "96", "--height", "64", "--rate", "2", "--timeout", "240",
               "--device", "cpu", "--out", str(tmp_path / "out"), "--record", str(tmp_path / "rec.mcap")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "[demo] set   2" in out
    # every output was recognised as a frame of the scene sim_cameras renders, and scored
    assert "not scored" not in out and out.count("scene frame") >= 2
    assert "how right it is: 2 frame sets scored" in out and "ids per true person" in out
    assert "pipeline: ok" in out and "pipeline_errors=0" in out
    assert (tmp_path / "out" / "last_cloud.png").is_file()
    # --record: inputs and every output in a bag, with their types
    from rosbags.rosbag2 import Reader

    assert f"to the bag {tmp_path / 'rec'}" in out
    reader = Reader(tmp_path / "rec" / "rec.mcap")
    reader.open()
    topics = {t: (i.msgtype, i.msgcount) for t, i in reader.topics.items()}
    reader.close()
    assert topics["/hamst3r/points"][0] == "sensor_msgs/msg/PointCloud2" and topics["/hamst3r/points"][1] >= 2
    assert topics["/hamst3r/humans"][0] == "hamst3r_msgs/msg/HumanArray" and topics["/hamst3r/humans"][1] >= 2
    assert topics["/hamst3r/cam1/image_raw"][0] == "sensor_msgs/msg/Image" and topics["/hamst3r/cam1/image_raw"][1] >= 2
    assert topics["/hamst3r/cam0/camera_info"][1] >= 2 and topics["/diagnostics"][1] >= 1
    assert {"/hamst3r/markers", "/hamst3r/people", "/humans/bodies/tracked", "/tf"} <= set(topics)


def test_demo_refuses_a_missing_checkpoint(tmp_path, capsys):
    from hamst3r_ros.cli import main

    assert main(["demo", "--checkpoint", str(tmp_path / "none.safetensors")]) == 2
    assert "none.safetensors" in capsys.readouterr().out
    assert main(["demo", "--record", str(tmp_path / "out.bag")]) == 2
    assert "--record bag" in capsys.readouterr().out
    (tmp_path / "taken").mkdir()
    assert main(["demo", "--record", str(tmp_path / "taken.mcap")]) == 2
    assert "exists already" in capsys.readouterr().out
