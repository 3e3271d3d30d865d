"""HumanEstimate -> HumanArray, MarkerArray, TF body_<id>, hri_msgs/IdsList, people_msgs/People."""
import numpy as np
import pytest

pytest.importorskip("hamst3r_msgs.msg", reason="needs hamst3r_msgs (run scripts/build_interfaces.sh)")
pytest.importorskip("people_msgs.msg", reason="needs people_msgs (run scripts/build_interfaces.sh)")
pytest.importorskip("hri_msgs.msg", reason="needs hri_msgs (run scripts/build_interfaces.sh)")
from hamst3r_msgs.msg import Human  # noqa: E402
from helpers_results import human_estimate as human  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from hamst3r_ros.ros.conversions import (body_frame, humans_to_array, humans_to_ids, humans_to_markers,  # noqa: E402
                                         humans_to_people, humans_to_transforms, pose_to_matrix, stamp_to_ns,
                                         transform_to_matrix)
from hamst3r_ros.types import SMPL_JOINT_NAMES, SMPL_PARENTS, TrackState  # noqa: E402


def test_human_array_carries_every_field():
    hs = [human(3), human(9, TrackState.LOST)]
    msg = humans_to_array(hs, "world", 5_000_000_007)
    assert msg.header.frame_id == "world" and stamp_to_ns(msg.header.stamp) == 5_000_000_007
    a, b = msg.humans
    assert (a.id, a.state, b.id, b.state) == (3, Human.TRACKED, 9, Human.LOST)
    assert list(a.joint_names) == list(SMPL_JOINT_NAMES)
    np.testing.assert_allclose([[p.position.x, p.position.y, p.position.z] for p in a.joints], hs[0].joints)
    np.testing.assert_allclose([[p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w]
                                for p in a.joints], hs[0].joint_rotations)
    np.testing.assert_allclose(pose_to_matrix(a.root), hs[0].T_fixed_root, atol=1e-12)
    assert (a.velocity.x, a.velocity.y, a.velocity.z) == (0.5, -0.25, 0.0)
    assert a.body_model == "anny" and list(a.shape) == list(range(10)) and len(a.pose) == 0
    assert a.confidence == pytest.approx(0.8) and a.residual == pytest.approx(0.02) and a.num_points == 321


def test_track_state_constants_match_types():
    for s in TrackState:
        assert getattr(Human, s.name) == s.value


def test_markers_skeleton_labels_and_delete_for_removed():
    hs = [human(1), human(2, TrackState.LOST), human(5, TrackState.REMOVED)]
    msg = humans_to_markers(hs, "world", 10, lifetime_s=1.5)
    by = {(m.ns, m.id): m for m in msg.markers}
    assert len(msg.markers) == 9
    sk = by[("skeleton", 1)]
    assert sk.type == Marker.LINE_LIST and sk.action == Marker.ADD and sk.header.frame_id == "world"
    assert len(sk.points) == 2 * sum(p >= 0 for p in SMPL_PARENTS)
    # First bone is left_hip's: parent pelvis -> left_hip.
    np.testing.assert_allclose([sk.points[0].x, sk.points[1].x], [hs[0].joints[0, 0], hs[0].joints[1, 0]])
    assert sk.lifetime.sec == 1 and sk.lifetime.nanosec == 500_000_000
    assert len(by[("joints", 1)].points) == 24
    label = by[("label", 1)]
    assert label.type == Marker.TEXT_VIEW_FACING and label.text == "1"
    assert label.pose.position.z == pytest.approx(hs[0].joints[15, 2] + 0.3)
    assert by[("skeleton", 2)].color.a < by[("skeleton", 1)].color.a
    assert {m.action for m in msg.markers if m.id == 5} == {Marker.DELETE}
    assert {m.ns for m in msg.markers if m.id == 5} == {"skeleton", "joints", "label"}


def test_body_tf_ids_and_people():
    hs = [human(4), human(6, TrackState.TENTATIVE), human(7, TrackState.LOST), human(8, TrackState.REMOVED)]
    tfs = humans_to_transforms(hs, "world", 99)
    assert [t.child_frame_id for t in tfs] == [body_frame(4)] == ["body_4"]
    np.testing.assert_allclose(transform_to_matrix(tfs[0].transform), hs[0].T_fixed_root, atol=1e-12)
    ids = humans_to_ids(hs, "world", 99)
    assert list(ids.ids) == ["4"] and stamp_to_ns(ids.header.stamp) == 99
    people = humans_to_people(hs, "world", 99)
    assert [p.name for p in people.people] == ["4", "7"]
    p4, p7 = people.people
    assert (p4.position.x, p4.position.y, p4.position.z) == tuple(hs[0].T_fixed_root[:3, 3])
    assert (p4.velocity.x, p4.velocity.y) == (0.5, -0.25)
    assert p4.reliability == pytest.approx(0.8) and p7.reliability == pytest.approx(0.4)
    assert list(p7.tagnames) == ["state"] and list(p7.tags) == ["lost"]


def test_malformed_estimates_name_the_field():
    h = human(1)
    h.joints = h.joints[:10]
    with pytest.raises(ValueError, match="joints"):
        humans_to_array([h], "world", 0)
    h = human(1)
    h.track_id = -1
    with pytest.raises(ValueError, match="track_id"):
        humans_to_markers([h], "world", 0)


def test_tentative_people_and_people_without_a_body_are_drawn_differently():
    tent = human(4, TrackState.TENTATIVE)
    nobody = human(5)
    nobody.joints[:] = np.nan
    nobody.joint_rotations[:] = np.nan
    arr = humans_to_markers([human(3), tent, nobody], "world", 1)
    by = {(m.ns, m.id): m for m in arr.markers}
    assert by[("skeleton", 4)].color.a < by[("skeleton", 3)].color.a
    assert by[("skeleton", 4)].scale.x < by[("skeleton", 3)].scale.x
    assert by[("label", 4)].text == "4?" and by[("label", 3)].text == "3"
    # no body: its skeleton and joints are deleted (a previous one may be on screen), the label
    # stands at the root
    assert by[("skeleton", 5)].action == Marker.DELETE and by[("joints", 5)].action == Marker.DELETE
    assert by[("label", 5)].action == Marker.ADD and "no body" in by[("label", 5)].text
    p = by[("label", 5)].pose.position
    np.testing.assert_allclose([p.x, p.y, p.z], nobody.T_fixed_root[:3, 3])
    # the confirmed-only outputs leave the tentative one out; the body-less one stays a person
    assert [h.name for h in humans_to_people([human(3), tent, nobody], "world", 1).people] == ["3", "5"]
    assert list(humans_to_ids([human(3), tent, nobody], "world", 1).ids) == ["3", "5"]
