"""Person tracking: stable ids, velocity, states and timeouts, re-entry."""
import numpy as np
import pytest

from hamst3r_ros.human.metrics import tracking_metrics
from hamst3r_ros.human.tracking import Detection, PersonTracker, TrackerConfig, smooth_velocity
from hamst3r_ros.types import TrackState

NS = 1_000_000_000
DT = 0.1  # 10 frame sets per second


def _stamp(k):
    return int(round(k * DT * NS))


def test_ids_velocity_and_states_for_walkers():
    tracker = PersonTracker()
    ids_seen = []
    for k in range(20):
        dets = [Detection(np.array([k * DT * 1.0, 0.0, 0.0])),          # 1 m/s along x
                Detection(np.array([3.0, k * DT * -0.5, 0.0]))]          # 0.5 m/s along -y
        tracks = tracker.update(dets, _stamp(k))
        by_det = {t.detection_index: t for t in tracks}
        ids_seen.append((by_det[0].track_id, by_det[1].track_id))
        expected = TrackState.TENTATIVE if k < 2 else TrackState.TRACKED
        assert by_det[0].state == expected
    assert len(set(ids_seen)) == 1 and ids_seen[0][0] != ids_seen[0][1]
    np.testing.assert_allclose(by_det[0].velocity, [1.0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(by_det[1].velocity, [0, -0.5, 0], atol=1e-6)


def test_crossing_people_keep_ids_with_shape_and_appearance():
    tracker = PersonTracker()
    gt_frames, pred_frames = [], []
    rng = np.random.default_rng(0)
    shapes = [np.array([1.0, 0.0]), np.array([-1.0, 0.5])]
    looks = [np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])]
    for k in range(30):
        # Two people walking towards each other on nearly the same line, passing at k=15.
        p = [np.array([-1.5 + k * 0.1, 0.05, 0.0]), np.array([1.5 - k * 0.1, -0.05, 0.0])]
        order = rng.permutation(2)  # detection order carries no identity
        dets = [Detection(p[o] + rng.normal(0, 0.02, 3), shape=shapes[o], appearance=looks[o]) for o in order]
        tracks = tracker.update(dets, _stamp(k))
        gt_frames.append({0: p[0], 1: p[1]})
        pred_frames.append({t.track_id: dets[t.detection_index].position
                            for t in tracks if t.detection_index is not None})
    m = tracking_metrics(gt_frames, pred_frames, max_distance=0.3)
    assert m.id_switches == 0 and m.fragmentations == 0


def test_walk_out_and_back_in_keeps_id_within_timeout_then_removed():
    cfg = TrackerConfig(lost_timeout_s=3.0)
    tracker = PersonTracker(cfg)
    k = 0
    for _ in range(5):
        tracks = tracker.update([Detection(np.array([0.0, 0.0, 0.0]))], _stamp(k))
        k += 1
    tid = tracks[0].track_id
    for _ in range(20):  # 2 s away
        tracks = tracker.update([], _stamp(k))
        k += 1
        assert [t.state for t in tracks] == [TrackState.LOST]
    # Back in, 1.5 m from where it left (walked around): same id.
    tracks = tracker.update([Detection(np.array([1.5, 0.0, 0.0]))], _stamp(k))
    k += 1
    assert [(t.track_id, t.state) for t in tracks] == [(tid, TrackState.TRACKED)]
    # Gone for longer than the timeout: reported REMOVED exactly once, then a new id.
    states = []
    for _ in range(40):
        states += [(t.track_id, t.state) for t in tracker.update([], _stamp(k))]
        k += 1
    assert states.count((tid, TrackState.REMOVED)) == 1
    tracks = tracker.update([Detection(np.array([1.5, 0.0, 0.0]))], _stamp(k))
    assert tracks[0].track_id != tid and tracks[0].state == TrackState.TENTATIVE


def test_spurious_detection_dies_tentative():
    tracker = PersonTracker(TrackerConfig(tentative_timeout_s=0.25))
    tracker.update([Detection(np.zeros(3)), Detection(np.array([5.0, 0, 0]))], _stamp(0))
    removed = []
    for k in range(1, 6):
        for t in tracker.update([Detection(np.zeros(3))], _stamp(k)):
            if t.state == TrackState.REMOVED:
                removed.append(t.track_id)
    assert removed == [2]
    assert [t.track_id for t in tracker.tracks] == [1]


def test_time_going_backwards_is_an_error():
    tracker = PersonTracker()
    tracker.update([], _stamp(5))
    with pytest.raises(ValueError, match="time order"):
        tracker.update([], _stamp(4))


def test_peek_predicts_update_without_changing_state():
    tracker = PersonTracker(TrackerConfig(confirm_hits=1))
    tracker.update([Detection(np.zeros(3)), Detection(np.array([2.0, 0, 0]))], _stamp(0))
    dets = [Detection(np.array([2.05, 0, 0])), Detection(np.array([0.05, 0, 0])), Detection(np.array([9.0, 0, 0]))]
    before = [(t.track_id, t.hits, t.position.copy()) for t in tracker.tracks]
    peek = tracker.peek(dets, _stamp(1))
    assert peek == {0: 2, 1: 1}  # the far detection would start a new track
    assert [(t.track_id, t.hits) for t in tracker.tracks] == [(i, h) for i, h, _ in before]
    tracks = tracker.update(dets, _stamp(1))
    assert {t.detection_index: t.track_id for t in tracks} == {0: 2, 1: 1, 2: 3}


def test_shape_breaks_a_tie_between_equidistant_tracks():
    tracker = PersonTracker(TrackerConfig(confirm_hits=1, shape_weight=1.0))
    tracker.update([Detection(np.array([0.0, 0.2, 0]), shape=np.array([0.2, 0.8])),
                    Detection(np.array([0.0, -0.2, 0]), shape=np.array([0.8, 0.2]))], _stamp(0))
    # One detection exactly between both tracks: its body shape says which person it is.
    tracks = tracker.update([Detection(np.zeros(3), shape=np.array([0.8, 0.2]))], _stamp(1))
    assert {t.track_id for t in tracks if t.detection_index == 0} == {2}


def test_smooth_velocity_is_the_finite_difference_first_then_a_weighted_mean():
    before, now = np.array([1.0, 2.0, 0.0]), np.array([1.5, 1.0, 0.0])
    first = smooth_velocity(np.array([9.0, 9.0, 9.0]), before, now, 0.5, 0.25, first=True)
    np.testing.assert_allclose(first, [1.0, -2.0, 0.0])  # the previous velocity is ignored
    later = smooth_velocity(np.array([3.0, 2.0, 4.0]), before, now, 0.5, 0.25, first=False)
    np.testing.assert_allclose(later, 0.25 * np.array([1.0, -2.0, 0.0]) + 0.75 * np.array([3.0, 2.0, 4.0]))


def test_a_walking_track_is_not_captured_by_a_detection_far_off_its_prediction():
    # 2 Hz: a person walking 1.2 m/s along x; at the 4th set the only detection is 1.2 m to the
    # side of where they should be (a misplaced segment): it starts a new track instead.
    cfg = TrackerConfig()
    tracker = PersonTracker(cfg)
    half = NS // 2
    for k in range(3):
        (t,) = tracker.update([Detection(np.array([0.6 * k, 0.0, 0.0]))], k * half)
    first = t.track_id
    tracks = tracker.update([Detection(np.array([1.8, 1.2, 0.0]))], 3 * half)
    by_det = {t.detection_index: t for t in tracks}
    assert by_det[0].track_id != first
    # the same offset from a track without a velocity yet is within reach (walking speed)
    fresh = PersonTracker(cfg)
    (t0,) = fresh.update([Detection(np.zeros(3))], 0)
    (t1,) = fresh.update([Detection(np.array([0.6, 1.2, 0.0]))], half)
    assert t1.track_id == t0.track_id
    # and the walker is still found on their line (a turn of 1 m/s within the half second)
    t2 = {t.detection_index: t for t in tracker.update([Detection(np.array([3.0, 0.4, 0.0]))], 5 * half)}
    assert t2[0].track_id == first
