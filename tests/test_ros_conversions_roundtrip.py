"""Converted messages through real rclpy publish/subscribe: in-process and across processes."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ros_subprocess_env, unique_name, wait_for

pytestmark = pytest.mark.ros

# Sensor-data-like QoS is the node's input; tests use reliable depth 10 so nothing is lost.
QOS = 10


def same_on_the_wire(got, sent) -> bool:
    """``got`` equals ``sent`` as it looks after serialization (float32 fields rounded).
    Compares messages, not bytes: CDR alignment padding need not be deterministic."""
    from rclpy.serialization import deserialize_message, serialize_message

    return type(got) is type(sent) and got == deserialize_message(serialize_message(sent), type(sent))


def _round_trip(ros, msg_type, msg, topic_base):
    node = ros.node(unique_name("rt"))
    topic = "/" + unique_name(topic_base)
    got = ros.collect(node, msg_type, topic, QOS)
    pub = node.create_publisher(msg_type, topic, QOS)
    ros.wait_matched(pub)
    pub.publish(msg)
    return wait_for(lambda: got[0] if got else None, 10.0, f"a {msg_type.__name__} on {topic}")


def test_images_survive_publish_subscribe(ros):
    from sensor_msgs.msg import CompressedImage, Image

    from hamst3r_ros.ros.conversions import (compressed_to_numpy, image_to_numpy, numpy_to_compressed,
                                             numpy_to_image, stamp_to_ns)

    rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    out = _round_trip(ros, Image, numpy_to_image(rgb, "rgb8", "cam0_optical", 1_234_567_890_123), "img")
    np.testing.assert_array_equal(image_to_numpy(out), rgb)
    assert out.header.frame_id == "cam0_optical" and stamp_to_ns(out.header.stamp) == 1_234_567_890_123
    depth = np.random.default_rng(1).random((120, 160)).astype(np.float32)
    np.testing.assert_array_equal(image_to_numpy(_round_trip(ros, Image, numpy_to_image(depth, "32FC1"), "depth")),
                                  depth)
    out = _round_trip(ros, CompressedImage, numpy_to_compressed(rgb, "rgb8", "png"), "png")
    np.testing.assert_array_equal(compressed_to_numpy(out)[0], rgb)


def test_scene_cloud_and_humans_survive_publish_subscribe(ros):
    from hamst3r_msgs.msg import HumanArray
    from sensor_msgs.msg import PointCloud2
    from visualization_msgs.msg import MarkerArray

    from hamst3r_ros.ros.conversions import (humans_to_array, humans_to_markers, pointcloud2_to_numpy,
                                             scene_points_array, scene_to_pointcloud2)
    from helpers_results import scene_result as scene
    from helpers_results import human_estimate as human

    r = scene(np.random.default_rng(2).random((50_000, 3)), np.full(50_000, 2.0))
    out = _round_trip(ros, PointCloud2, scene_to_pointcloud2(r, "world"), "points")
    assert pointcloud2_to_numpy(out).tobytes() == scene_points_array(r).tobytes()  # NaN-safe
    hs = [human(1), human(2)]
    sent = humans_to_array(hs, "world", 77)
    assert same_on_the_wire(_round_trip(ros, HumanArray, sent, "humans"), sent)
    markers = humans_to_markers(hs, "world", 77)
    assert same_on_the_wire(_round_trip(ros, MarkerArray, markers, "markers"), markers)


def test_tf_people_and_ids_survive_publish_subscribe(ros):
    from hri_msgs.msg import IdsList
    from people_msgs.msg import People
    from tf2_msgs.msg import TFMessage

    from hamst3r_ros.ros.conversions import humans_to_ids, humans_to_people, humans_to_transforms
    from helpers_results import human_estimate as human

    hs = [human(11), human(12)]
    tf = TFMessage(transforms=humans_to_transforms(hs, "world", 5))
    assert same_on_the_wire(_round_trip(ros, TFMessage, tf, "tf"), tf)
    people = humans_to_people(hs, "world", 5)
    assert same_on_the_wire(_round_trip(ros, People, people, "people"), people)
    ids = humans_to_ids(hs, "world", 5)
    assert same_on_the_wire(_round_trip(ros, IdsList, ids, "ids"), ids)


def test_human_array_and_tf_cross_process(ros, tmp_path):
    """Another process publishes our generated types; this one receives them intact."""
    from hamst3r_msgs.msg import HumanArray
    from tf2_msgs.msg import TFMessage

    humans_topic = "/" + unique_name("xp_humans")
    tf_topic = "/" + unique_name("xp_tf")
    script = textwrap.dedent(f"""
        import select, sys, time
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
        import rclpy
        from hamst3r_msgs.msg import HumanArray
        from tf2_msgs.msg import TFMessage
        from hamst3r_ros.ros.conversions import humans_to_array, humans_to_transforms
        from helpers_results import human_estimate as human
        rclpy.init()
        node = rclpy.create_node("xp_publisher")
        ph = node.create_publisher(HumanArray, {humans_topic!r}, 10)
        pt = node.create_publisher(TFMessage, {tf_topic!r}, 10)
        hs = [human(21), human(22)]
        deadline = time.monotonic() + 20
        while (ph.get_subscription_count() < 1 or pt.get_subscription_count() < 1) and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.02)
        # Publish until the test process says it has both (it writes to our stdin).
        while time.monotonic() < deadline:
            ph.publish(humans_to_array(hs, "world", 123))
            pt.publish(TFMessage(transforms=humans_to_transforms(hs, "world", 123)))
            rclpy.spin_once(node, timeout_sec=0.1)
            if select.select([sys.stdin], [], [], 0)[0]:
                break
        node.destroy_node()
        rclpy.shutdown()
    """)
    node = ros.node(unique_name("xp_sub"))
    got_h = ros.collect(node, HumanArray, humans_topic, 10)
    got_t = ros.collect(node, TFMessage, tf_topic, 10)
    proc = subprocess.Popen([sys.executable, "-c", script], env=ros_subprocess_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: got_h and got_t, 30.0, "HumanArray and TFMessage from the other process")
    finally:
        try:
            out, _ = proc.communicate(input="done\n", timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out
    from hamst3r_ros.ros.conversions import humans_to_array, humans_to_transforms
    from helpers_results import human_estimate as human

    hs = [human(21), human(22)]
    assert same_on_the_wire(got_h[0], humans_to_array(hs, "world", 123))
    assert same_on_the_wire(got_t[0], TFMessage(transforms=humans_to_transforms(hs, "world", 123)))
