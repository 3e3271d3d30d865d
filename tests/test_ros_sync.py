"""Approximate time synchronisation of N cameras (pure Python: no ROS needed)."""
import random

import pytest

from hamst3r_ros.ros.sync import ApproximateSync

MS = 1_000_000


def _feed(sync, events):
    """Feed (camera, stamp_ns) events in the given order; return all AddResults."""
    return [sync.add(cam, stamp, (cam, stamp)) for cam, stamp in events]


def _sets(results):
    return [r.synced for r in results if r.synced is not None]


def _rig_events(n_cams, n_frames, period_ms=33.0, jitter_ms=0.0, seed=0, drop=None):
    """Camera stamps of a rig triggered every period with per-camera jitter, in arrival order:
    each camera has its own transport delay (up to 1.5 periods, so cameras overtake each other)
    but its own messages stay in order, as on one ROS topic."""
    rng = random.Random(seed)
    delay = [rng.uniform(0, 1.5 * period_ms) for _ in range(n_cams)]
    events = []
    for k in range(n_frames):
        for c in range(n_cams):
            if drop and (c, k) in drop:
                continue
            stamp = int((1000 + k * period_ms + rng.uniform(-jitter_ms, jitter_ms)) * MS)
            arrival = k * period_ms + delay[c] + rng.uniform(0, 0.4 * period_ms)
            events.append((arrival, f"cam{c}", stamp, k))
    events.sort()
    return [(cam, stamp) for _, cam, stamp, _ in events], events


def _check_invariants(sync, sets):
    used = set()
    last = None
    per_cam_last = {}
    for s in sets:
        assert s.spread_ns < sync.slop_ns
        assert last is None or s.stamp_ns > last, "output must be monotonic"
        last = s.stamp_ns
        for cam, (stamp, payload) in s.items.items():
            assert payload == (cam, stamp)
            assert (cam, stamp) not in used, "a message is used at most once"
            used.add((cam, stamp))
            assert per_cam_last.get(cam, -1) < stamp, "no camera goes back in time"
            per_cam_last[cam] = stamp


@pytest.mark.parametrize("n_cams", [2, 4, 8])
def test_jittered_rig_arriving_out_of_order_yields_every_frame_once(n_cams):
    events, raw = _rig_events(n_cams, 60, jitter_ms=3.0, seed=n_cams)
    sync = ApproximateSync([f"cam{c}" for c in range(n_cams)], slop_s=0.010, queue_size=10)
    results = _feed(sync, events)
    sets = _sets(results)
    _check_invariants(sync, sets)
    assert all(r.accepted for r in results)
    # Every trigger instant comes out as one complete set of frames from the same instant.
    stamp_to_frame = {(cam, stamp): k for _, cam, stamp, k in raw}
    frames = [{stamp_to_frame[(cam, st)] for cam, (st, _) in s.items.items()} for s in sets]
    assert all(len(s.items) == n_cams and len(f) == 1 for s, f in zip(sets, frames))
    # Frames near the end may still wait for stragglers; everything before is out.
    emitted = sorted(next(iter(f)) for f in frames)
    assert emitted == list(range(len(emitted))) and len(emitted) >= 58


def test_dropped_frames_never_mix_instants_and_other_frames_still_sync():
    drop = {(1, 5), (0, 9), (2, 9), (3, 20)}
    events, raw = _rig_events(4, 40, jitter_ms=2.0, seed=3, drop=drop)
    sync = ApproximateSync([f"cam{c}" for c in range(4)], slop_s=0.008, queue_size=5)
    sets = _sets(_feed(sync, events))
    _check_invariants(sync, sets)
    stamp_to_frame = {(cam, stamp): k for _, cam, stamp, k in raw}
    frames = [{stamp_to_frame[(cam, st)] for cam, (st, _) in s.items.items()} for s in sets]
    assert all(len(f) == 1 for f in frames)
    emitted = {next(iter(f)) for f in frames}
    assert emitted.isdisjoint({5, 9, 20}), "an incomplete instant must not be emitted"
    assert set(range(38)) - {5, 9, 20} <= emitted


def test_smallest_spread_set_is_chosen():
    sync = ApproximateSync(["a", "b"], slop_s=0.050)
    assert _feed(sync, [("a", 100 * MS), ("a", 130 * MS)])[-1].synced is None
    r = sync.add("b", 128 * MS, "b")
    assert r.synced.items["a"][0] == 130 * MS and r.synced.stamp_ns == 130 * MS
    # 100 ms from camera a can no longer be used (older than a's used frame): dropped.
    assert ("a", 100 * MS) in r.dropped


def test_spread_must_be_strictly_below_slop():
    sync = ApproximateSync(["a", "b"], slop_s=0.010)
    sync.add("a", 100 * MS, None)
    assert sync.add("b", 110 * MS, None).synced is None
    assert sync.add("b", 109 * MS, None).accepted is False  # b went back in time
    assert sync.add("a", 111 * MS, None).synced.stamp_ns == 111 * MS


def test_out_of_order_and_duplicate_stamps_are_rejected_per_camera():
    sync = ApproximateSync(["a", "b"], slop_s=0.010)
    assert sync.add("a", 200 * MS, None).accepted
    r = sync.add("a", 150 * MS, None)
    assert (r.accepted, r.reason) == (False, "out_of_order")
    assert sync.add("a", 200 * MS, None).reason == "out_of_order"
    # Across cameras, older stamps arriving later are fine (that is what syncing is for).
    assert sync.add("b", 195 * MS, None).synced is not None


def test_messages_too_old_for_any_future_set_are_stale():
    sync = ApproximateSync(["a", "b"], slop_s=0.010)
    _feed(sync, [("a", 500 * MS), ("b", 501 * MS)])
    r = sync.add("b", 480 * MS, None)
    assert r.reason == "out_of_order"
    # Camera c is new-ish: a stamp older than last set - slop can never be emitted.
    sync2 = ApproximateSync(["a", "b", "c"], slop_s=0.010)
    _feed(sync2, [("a", 500 * MS), ("b", 501 * MS), ("c", 502 * MS)])
    sync2.add("a", 600 * MS, None)
    sync2.add("b", 600 * MS, None)
    assert sync2.add("c", 603 * MS, None).synced is not None
    r = sync2.add("a", 590 * MS, None)
    assert (r.accepted, r.reason) == (False, "out_of_order")
    sync3 = ApproximateSync(["a", "b", "c"], slop_s=0.010)
    _feed(sync3, [("a", 500 * MS), ("b", 501 * MS)])
    sync3.add("c", 502 * MS, None)
    r = sync3.add("c", 1 * MS, None)
    assert r.reason == "out_of_order"
    fresh = ApproximateSync(["a", "b", "c"], slop_s=0.010)
    _feed(fresh, [("a", 500 * MS), ("b", 501 * MS), ("c", 500 * MS + 1)])
    assert fresh.last_emitted_ns == 501 * MS
    # A camera that has not delivered anything yet may not start in the past either.
    other = ApproximateSync(["a", "b", "c"], slop_s=0.010, min_cameras=2,
                            camera_timeout_s=0.05)
    _feed(other, [("a", 500 * MS), ("b", 501 * MS), ("a", 600 * MS), ("b", 601 * MS)])
    assert other.last_emitted_ns == 601 * MS
    r = other.add("c", 400 * MS, None)
    assert (r.accepted, r.reason) == (False, "stale")


def test_queue_overflow_drops_the_oldest():
    sync = ApproximateSync(["a", "b"], slop_s=0.005, queue_size=3)
    results = _feed(sync, [("a", k * 100 * MS) for k in range(1, 6)])
    dropped = [d for r in results for d in r.dropped]
    assert dropped == [("a", 100 * MS), ("a", 200 * MS)]
    assert sync.pending() == {"a": 3, "b": 0}


def test_camera_that_stops_is_left_out_then_comes_back():
    names = ["a", "b", "c"]
    sync = ApproximateSync(names, slop_s=0.005, camera_timeout_s=0.2, min_cameras=2)
    period = 50 * MS
    sets, absent_events, back_events = [], [], []
    for k in range(30):
        for cam in names:
            if cam == "c" and 8 <= k < 20:
                continue  # camera c stops for 12 frames (0.6 s)
            stamp = 1000 * MS + k * period
            r = sync.add(cam, stamp, (cam, stamp))
            absent_events += [(k, n) for n in r.went_absent]
            back_events += [(k, n) for n in r.came_back]
            if r.synced:
                sets.append((k, r.synced))
    _check_invariants(sync, [s for _, s in sets])
    by_frame = {k: s for k, s in sets}
    # Before it stops and after it is back, sets are complete.
    assert all(set(by_frame[k].items) == set(names) for k in range(8))
    assert all(set(by_frame[k].items) == set(names) for k in range(21, 30))
    # While it is absent (after the 0.2 s timeout), a and b keep coming out without it.
    assert absent_events == [(12, "c")]
    assert back_events == [(20, "c")]
    # Its first frame back arrives after a and b already went out at that instant: dropped.
    for k in range(12, 21):
        assert set(by_frame[k].items) == {"a", "b"} and by_frame[k].absent == ["c"]
    # During the timeout the output waits for c (that is the price of not guessing).
    assert all(k not in by_frame for k in range(9, 12))


def test_camera_never_seen_is_waited_for_then_skipped():
    sync = ApproximateSync(["a", "b"], slop_s=0.005, camera_timeout_s=0.1)
    out = [sync.add("a", k * 40 * MS, k).synced for k in range(1, 8)]
    assert out[:3] == [None, None, None]  # 40..120 ms: within 0.1 s of the first message
    assert [s.items["a"][1] for s in out[3:]] == [4, 5, 6, 7]
    assert sync.absent() == ["b"]


def test_min_cameras_holds_output_back():
    sync = ApproximateSync(["a", "b", "c"], slop_s=0.005, camera_timeout_s=0.1, min_cameras=2)
    assert all(sync.add("a", k * 40 * MS, k).synced is None for k in range(1, 10))


def test_random_rigs_keep_invariants():
    for seed in range(20):
        rng = random.Random(seed)
        n_cams = rng.randint(2, 8)
        drop = {(c, k) for c in range(n_cams) for k in range(80) if rng.random() < 0.1}
        events, raw = _rig_events(n_cams, 80, jitter_ms=rng.uniform(0, 4), seed=seed, drop=drop)
        names = [f"cam{c}" for c in range(n_cams)]
        sync = ApproximateSync(names, slop_s=0.010, queue_size=rng.randint(2, 10),
                               camera_timeout_s=0.3, min_cameras=min(2, n_cams))
        sets = _sets(_feed(sync, events))
        _check_invariants(sync, sets)
        stamp_to_frame = {(cam, stamp): k for _, cam, stamp, k in raw}
        assert all(len({stamp_to_frame[(c, st)] for c, (st, _) in s.items.items()}) == 1
                   for s in sets), "a set never mixes trigger instants"
        complete = [k for k in range(78) if not any((c, k) in drop for c in range(n_cams))]
        emitted = {stamp_to_frame[(c, st)] for s in sets for c, (st, _) in s.items.items()}
        assert set(complete) <= emitted


@pytest.mark.parametrize("kwargs, match", [
    (dict(names=[], slop_s=0.01), "at least one camera"),
    (dict(names=["a", "a"], slop_s=0.01), "unique"),
    (dict(names=["a"], slop_s=0.0), "slop_s"),
    (dict(names=["a"], slop_s=0.01, queue_size=0), "queue_size"),
    (dict(names=["a"], slop_s=0.01, camera_timeout_s=-1), "camera_timeout_s"),
    (dict(names=["a"], slop_s=0.01, min_cameras=2), "min_cameras"),
])
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ApproximateSync(**kwargs)


def test_unknown_camera_is_an_error():
    with pytest.raises(KeyError, match="unknown camera 'z'"):
        ApproximateSync(["a"], slop_s=0.01).add("z", 1, None)


def test_reset_after_a_jump_back_in_time_takes_older_stamps_at_once():
    sync = ApproximateSync(["a", "b"], slop_s=0.01, camera_timeout_s=1.0, min_cameras=2)
    assert sync.add("a", 100_000_000_000, "a0").accepted
    assert sync.add("b", 100_000_000_000, "b0").synced is not None
    # A looping bag: stamps start over, an hour earlier.
    assert sync.add("a", 96_400_000_000_000 // 1000, "x").reason == "out_of_order"
    sync.reset()
    assert sync.pending() == {"a": 0, "b": 0} and sync.last_emitted_ns is None and sync.absent() == []
    assert sync.add("a", 1_000_000_000, "a1").accepted
    r = sync.add("b", 1_000_000_000, "b1")
    assert r.synced is not None and r.synced.stamp_ns == 1_000_000_000


def test_backward_jump_detector_reports_each_jump_once():
    from hamst3r_ros.ros.time_jumps import BackwardJumpDetector

    d = BackwardJumpDetector()
    assert [d.observe(t) for t in (5, 7, 7, 9)] == [None] * 4
    assert d.observe(3) == -6  # back by 6 ns: reported once ...
    assert d.observe(4) is None  # ... and later readings compare with the new time
    d.forget()
    assert d.observe(1) is None
