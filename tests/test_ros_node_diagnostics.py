"""Node health counters and their diagnostic_msgs form."""
import pytest

from hamst3r_ros.ros.diagnostics import (BAD_INPUT_REASONS, OK, STALE, WARN, ERROR,
                                         NodeDiagnostics, RateMeter, to_diagnostic_array,
                                         values_of)


class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_rate_meter_over_sliding_window():
    clock = _Clock()
    meter = RateMeter(window_s=2.0, clock=clock)
    assert meter.rate() == 0.0
    for _ in range(11):
        meter.tick()
        clock.t += 0.1
    assert meter.rate() == pytest.approx(10 / 1.1)
    clock.t += 5.0
    assert meter.rate() == 0.0


def test_bad_inputs_counted_per_camera_and_reason_logged_once():
    d = NodeDiagnostics("n", {"cam0": "/cam0/image", "cam1": "/cam1/image"}, clock=_Clock())
    firsts = [d.record_bad("cam0", "encoding") for _ in range(3)]
    assert firsts == [True, False, False]
    assert d.record_bad("cam1", "encoding") is True
    assert d.record_bad("cam0", "nan") is True
    assert d.bad_counts("cam0")["encoding"] == 3 and d.bad_counts("cam0")["nan"] == 1
    with pytest.raises(ValueError, match="unknown bad-input reason 'weird'"):
        d.record_bad("cam0", "weird")


def test_statuses_levels_and_values():
    clock = _Clock()
    d = NodeDiagnostics("hamst3r_node", {"cam0": "/a", "cam1": "/b"}, clock=clock)
    st = {s.name: s for s in d.statuses()}
    assert st["hamst3r_node: camera cam0"].level == STALE
    assert st["hamst3r_node: pipeline"].level == STALE
    for _ in range(3):
        d.record_received("cam0")
        d.record_received("cam1")
        clock.t += 0.1
    d.record_bad("cam1", "size")
    d.record_presence("cam0", True)
    d.record_synced(["cam0", "cam1"])
    d.record_replaced()
    d.record_processed(0.25, {"encode": 0.1, "align": 0.05}, {"too_wide": 2, "few_points": 1})
    d.record_processed(0.25, {"encode": 0.1, "align": 0.05}, {"too_wide": 1}, rig_state="stable",
                       depth_refine="corrected 2/2 views (900 matches used)")
    d.record_published(stamp_ns=1_000_000_000, now_ns=1_300_000_000)
    st = {s.name: s for s in d.statuses()}
    cam0, cam1, pipe = (st["hamst3r_node: camera cam0"], st["hamst3r_node: camera cam1"],
                        st["hamst3r_node: pipeline"])
    assert cam0.level == WARN and "absent" in cam0.message and cam0.values["absent"] == "true"
    assert cam1.level == WARN and "size" in cam1.message
    assert cam1.values["bad_size"] == "1" and cam1.values["bad_total"] == "1"
    assert set(f"bad_{r}" for r in BAD_INPUT_REASONS) <= set(cam1.values)
    assert cam1.values["received"] == "3" and cam1.values["used_in_sets"] == "1"
    assert float(cam1.values["rate_hz"]) == pytest.approx(2 / 0.3, abs=0.01)
    assert pipe.level == OK
    assert pipe.values["latency_max_s"] == "0.3000"
    assert pipe.values["frame_sets_replaced_while_busy"] == "1"
    assert pipe.values["last_stage_encode_s"] == "0.1000" and pipe.values["pipeline_mean_s"] == "0.2500"
    # ghost person segments rejected by the people stage, added up over the sets
    assert pipe.values["people_rejected_total"] == "4" and pipe.values["people_rejected_too_wide"] == "3"
    assert pipe.values["rig_state"] == "stable"
    assert pipe.values["depth_refine"] == "corrected 2/2 views (900 matches used)"
    clock.t += 10.0  # bad inputs long ago: counted, no longer a warning
    cam1 = {s.name: s for s in d.statuses()}["hamst3r_node: camera cam1"]
    assert cam1.level == OK and cam1.values["bad_size"] == "1"
    assert d.record_pipeline_error("boom") is True and d.record_pipeline_error("boom") is False
    assert {s.name: s for s in d.statuses()}["hamst3r_node: pipeline"].level == WARN


def test_pipeline_that_never_succeeds_is_an_error():
    d = NodeDiagnostics("n", {"c": "/c"})
    d.record_pipeline_error("no weights")
    assert d.statuses()[-1].level == ERROR and "no weights" in d.statuses()[-1].message


def test_diagnostic_array_message():
    pytest.importorskip("diagnostic_msgs", reason="needs ROS 2 diagnostic_msgs")
    from builtin_interfaces.msg import Time
    d = NodeDiagnostics("n", {"c": "/c/image"})
    d.record_bad("c", "truncated")
    arr = to_diagnostic_array(d.statuses(), Time(sec=5, nanosec=7))
    assert arr.header.stamp.sec == 5 and len(arr.status) == 2
    assert arr.status[0].hardware_id == "/c/image" and arr.status[0].level == bytes([STALE])
    assert values_of(arr, "camera c")["bad_truncated"] == "1"
    assert values_of(arr, "nothing") is None
