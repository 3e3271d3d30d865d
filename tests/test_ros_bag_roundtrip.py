"""The bag round trip with real rclpy: a bag of synthetic camera frame sets, played by
sim_cameras (bag mode, /clock) into hamst3r_node (use_sim_time; the fake pipeline), inputs
and outputs recorded to a second bag, read back and checked (.mcap and .db3)."""
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="needs ROS 2 rclpy (wheels or a ROS install)")
pytest.importorskip("hamst3r_msgs", reason="needs hamst3r_msgs built (scripts/build_interfaces.sh)")
pytest.importorskip("rosbags", reason="bags are read and written with rosbags (requirements.txt)")

from rclpy.parameter import Parameter  # noqa: E402

from conftest import unique_name, wait_for  # noqa: E402
from fake_pipeline import FakePipeline  # noqa: E402
from helpers_bags import S, pattern_frames, write_camera_bag  # noqa: E402

pytestmark = pytest.mark.ros
SETS, RATE_HZ = 4, 5.0


@pytest.fixture(scope="module")
def rendered():
    """Four frame sets of a synthetic room with a person, three cameras (exact intrinsics)."""
    pytest.importorskip("open3d", reason="synthetic scenes need open3d-cpu")
    pytest.importorskip("anny", reason="synthetic scenes need anny")
    from hamst3r_ros.recordings import SyntheticRecording

    rec = SyntheticRecording(num_cameras=3, num_people=1, num_frames=SETS, width=64, height=48, seed=0, fps=RATE_HZ)
    return [rec.frame(k) for k in range(SETS)], [c.K for c in rec.cameras], [c.name for c in rec.cameras]


def _read(path):
    """topic -> (type name, [(log_ns, message)]) of a bag, decoded with the definitions it carries."""
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.EMPTY)  # only what the bag itself says
    out = {}
    with_defs = {}
    reader = Reader(path)
    reader.open()
    for conn in reader.connections:
        with_defs.update(get_types_from_msg(conn.msgdef.data, conn.msgtype))
    store.register(with_defs)
    for conn, log_ns, raw in reader.messages():
        out.setdefault(conn.topic, (conn.msgtype, []))[1].append((log_ns, store.deserialize_cdr(raw, conn.msgtype)))
    reader.close()
    return out


@pytest.mark.parametrize("suffix", [".mcap", ".db3"])
def test_a_bag_replayed_through_the_node_is_recorded_back(ros, rendered, tmp_path, suffix):
    from hamst3r_ros.ros.bag_record import TopicRecorder, camera_topics, node_output_topics
    from hamst3r_ros.ros.node import Hamst3rNode
    from hamst3r_ros.ros.sim_cameras import SimCameras

    frames, Ks, names = rendered
    write_camera_bag(tmp_path / f"rig{suffix}", frames, Ks, names, rate_hz=RATE_HZ)
    ns = "/" + unique_name("bag_trip")
    sim_time = [Parameter("use_sim_time", value=True)]
    node = Hamst3rNode(FakePipeline(), context=ros.context, namespace=ns, parameter_overrides=sim_time + [
        Parameter("cameras", value=names), Parameter("camera_info_topics", value=[f"{n}/camera_info" for n in names]),
        Parameter("fixed_frame", value="world" + ns.replace("/", "_")), Parameter("diagnostics_period_s", value=0.1)])
    ros.add_node(node)
    recorder_node = ros.node("recorder", namespace=ns, parameter_overrides=sim_time)
    outputs = node_output_topics(f"{ns}/hamst3r_node")
    recorder = TopicRecorder(recorder_node, tmp_path / f"out{suffix}", camera_topics(ns, names) + outputs)
    # Outputs as the node declares them: the recorder's list is every topic it publishes.
    published = wait_for(lambda: {t: ty for t, ty in node.get_publisher_names_and_types_by_node("hamst3r_node", ns)
                                  if t not in ("/rosout", "/parameter_events")}, what="node publishers")
    assert {t: [f"{c.__module__.split('.')[0]}/msg/{c.__name__}"] for t, c in outputs} == published

    sim = SimCameras(context=ros.context, namespace=ns, parameter_overrides=[
        Parameter("source", value="bag"), Parameter("bag", value=str(tmp_path / "rig")),
        Parameter("rate", value=2.0), Parameter("loop", value=False)])
    assert [c.name for c in sim.recording.cameras] == names
    # Play once the node and the recorder listen to every camera, and the node to /clock.
    wait_for(lambda: all(p.get_subscription_count() >= 2 for _, img, info in sim._bag_pubs for p in (img, info))
             and sim._clock_pub.get_subscription_count() >= 2, what="node and recorder matched")
    ros.add_node(sim)
    points = f"{ns}/hamst3r_node/points"
    wait_for(lambda: sim.done and recorder.counts[points] == SETS, timeout=30.0,
             what=f"{SETS} clouds (got {dict(recorder.counts)}, sim done {sim.done}, {node.diag.statuses()})")
    wait_for(lambda: recorder.counts["/diagnostics"] >= 1, what="diagnostics")
    recorder.close()
    assert sim.published == SETS * 2 * len(names) and not sim.bad_messages

    bag = _read(tmp_path / "out")
    types = {t: ty for t, (ty, _) in bag.items()}
    assert types[points] == "sensor_msgs/msg/PointCloud2" and types[f"{ns}/hamst3r_node/humans"] == "hamst3r_msgs/msg/HumanArray"
    assert types[f"{ns}/hamst3r_node/people"] == "people_msgs/msg/People"
    assert types["/humans/bodies/tracked"] == "hri_msgs/msg/IdsList" and types["/tf"] == "tf2_msgs/msg/TFMessage"
    # Inputs: every image and camera_info of the bag, stamps kept, pixels intact.
    set_stamps = [1000 * S + int(k * S / RATE_HZ) for k in range(SETS)]
    for i, name in enumerate(names):
        images = [m for _, m in bag[f"{ns}/{name}/image_raw"][1]]
        assert [m.header.stamp.sec * S + m.header.stamp.nanosec for m in images] == set_stamps
        assert np.array_equal(images[2].data.reshape(48, 64, 3), frames[2][i])
        infos = [m for _, m in bag[f"{ns}/{name}/camera_info"][1]]
        assert len(infos) == SETS and np.allclose(np.reshape(infos[0].k, (3, 3)), Ks[i])
    # Outputs: one of each per frame set, stamped with its set's stamp, logged in bag time.
    for topic in (points, f"{ns}/hamst3r_node/humans", f"{ns}/hamst3r_node/people", "/humans/bodies/tracked"):
        got = bag[topic][1]
        assert [m.header.stamp.sec * S + m.header.stamp.nanosec for _, m in got] == set_stamps, topic
        assert all(set_stamps[0] <= log < set_stamps[-1] + 2 * S for log, _ in got), topic
    clouds = [m for _, m in bag[points][1]]
    assert all(c.width * c.height == FakePipeline().points_per_camera * len(names) for c in clouds)
    assert {"x", "y", "z", "rgb", "instance"} <= {f.name for f in clouds[0].fields}
    assert len(bag[f"{ns}/hamst3r_node/humans"][1][0][1].humans) == 1
    assert len(bag["/tf"][1]) >= SETS and len(bag[f"{ns}/hamst3r_node/markers"][1]) >= SETS
    assert len(bag["/diagnostics"][1]) >= 1


def test_stamps_rewritten_to_now_keep_the_recorded_spacing(ros, tmp_path):
    """stamps:=now: no /clock; each message stamped on the player's clock with the recorded
    spacing (scaled by 1 / rate); a compressed topic is played as CompressedImage."""
    from sensor_msgs.msg import CameraInfo, CompressedImage

    from hamst3r_ros.ros.conversions import compressed_to_rgb8, stamp_to_ns
    from hamst3r_ros.ros.sim_cameras import SimCameras

    frames = pattern_frames(3, 2)
    K = np.array([[30.0, 0, 16], [0, 30.0, 12], [0, 0, 1]])
    write_camera_bag(tmp_path / "c.db3", frames, [K, K], ["a", "b"], rate_hz=10.0, compressed=True)
    ns = "/" + unique_name("bag_now")
    sim = SimCameras(context=ros.context, namespace=ns, parameter_overrides=[
        Parameter("source", value="bag"), Parameter("bag", value=str(tmp_path / "c" / "c.db3")),
        Parameter("rate", value=4.0), Parameter("stamps", value="now"), Parameter("loop", value=False)])
    assert sim._clock_pub is None and [c.compressed for c in sim.recording.cameras] == [True, True]
    listener = ros.node("listener", namespace=ns)
    got = ros.collect(listener, CompressedImage, "b/image_raw/compressed")
    infos = ros.collect(listener, CameraInfo, "b/camera_info")
    wait_for(lambda: all(p.get_subscription_count() >= 1 for _, img, info in sim._bag_pubs[1:] for p in (img, info)),
             what="listener matched")
    t_start = sim.get_clock().now().nanoseconds
    ros.add_node(sim)
    wait_for(lambda: sim.done and len(got) == 3 and len(infos) == 3, what="3 sets then done")
    stamps = [stamp_to_ns(m.header.stamp) for m in got]
    assert stamps[0] >= t_start - 10_000_000 and stamps[-1] <= sim.get_clock().now().nanoseconds
    assert np.allclose(np.diff(stamps), S / 10 / 4, atol=1000)  # 0.1 s apart in the bag, played x4
    assert [stamp_to_ns(m.header.stamp) for m in infos] == stamps
    assert np.array_equal(compressed_to_rgb8(got[1]), frames[1][1])
