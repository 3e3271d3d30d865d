"""hamst3r_node as a managed (lifecycle) node, and its live parameters, with real rclpy.

Transitions and parameter changes go through the node's own services (lifecycle_msgs
ChangeState / GetState, rcl_interfaces SetParameters), as ``ros2 lifecycle set``,
``nav2_lifecycle_manager`` and ``ros2 param set`` call them; so they run on the executor
thread, as in a real system.
"""
import gc
import threading
import time
import weakref

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="needs ROS 2 rclpy (wheels or a ROS install)")
pytest.importorskip("hamst3r_msgs", reason="needs hamst3r_msgs built (scripts/build_interfaces.sh)")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from hamst3r_msgs.msg import HumanArray  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402
from rclpy.qos import QoSProfile  # noqa: E402
from sensor_msgs.msg import Image, PointCloud2  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from conftest import unique_name, wait_for  # noqa: E402
from fake_pipeline import FakePipeline  # noqa: E402
from hamst3r_ros.ros.conversions import numpy_to_image  # noqa: E402
from hamst3r_ros.ros.node import Hamst3rNode  # noqa: E402
from hamst3r_ros.ros.params import validate  # noqa: E402

pytestmark = pytest.mark.ros

T = Transition
SHUTDOWN_FROM = {"unconfigured": T.TRANSITION_UNCONFIGURED_SHUTDOWN, "inactive": T.TRANSITION_INACTIVE_SHUTDOWN,
                 "active": T.TRANSITION_ACTIVE_SHUTDOWN}


class LivePipeline(FakePipeline):
    """A FakePipeline with Hamst3rPipeline's update_params: records (frame sets seen before the
    call, the values, the thread it ran on)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.updates = []

    def update_params(self, values):
        with self.lock:
            self.updates.append((len(self.seen), dict(values), threading.current_thread().name))


class _Logs:
    """Stands in for the node's logger to keep what it logs."""

    def __init__(self):
        self.lines = []

    def __getattr__(self, level):
        return lambda msg: self.lines.append((level, msg))

    def errors(self):
        return [m for lvl, m in self.lines if lvl == "error"]


class Rig:
    """hamst3r_node (managed unless told otherwise) and a tester node with the clients a
    lifecycle manager and ``ros2 param set`` use, two cameras and the outputs collected."""

    def __init__(self, ros, pipe=None, managed=True, **params):
        self.ns = "/" + unique_name("lifecycle_test")
        self.cameras = ["a", "b"]
        overrides = [Parameter("cameras", value=self.cameras), Parameter("managed", value=managed),
                     Parameter("fixed_frame", value="world" + self.ns.replace("/", "_")),
                     Parameter("diagnostics_period_s", value=0.1)]
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        self.node = Hamst3rNode(pipe, context=ros.context, namespace=self.ns, parameter_overrides=overrides)
        self.logs = _Logs()
        self.node.get_logger = lambda: self.logs
        ros.add_node(self.node)
        self.tester = ros.node("tester", namespace=self.ns)
        self.change = self.tester.create_client(ChangeState, "hamst3r_node/change_state")
        self.get = self.tester.create_client(GetState, "hamst3r_node/get_state")
        self.param_client = AsyncParameterClient(self.tester, "hamst3r_node")
        qos = QoSProfile(depth=10)
        self.image_pubs = {c: self.tester.create_publisher(Image, f"{c}/image_raw", qos) for c in self.cameras}
        self.clouds = ros.collect(self.tester, PointCloud2, "hamst3r_node/points")
        self.humans = ros.collect(self.tester, HumanArray, "hamst3r_node/humans")
        self.markers = ros.collect(self.tester, MarkerArray, "hamst3r_node/markers")
        self.diags = []
        self.tester.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, qos)
        self.k = 0

    def _on_diag(self, msg):
        if any(st.hardware_id.startswith(self.ns + "/") for st in msg.status):
            self.diags.append(msg)

    def _call(self, client, request):
        assert client.wait_for_service(timeout_sec=10.0), f"service {client.srv_name}"
        future = client.call_async(request)
        wait_for(future.done, what=f"a response of {client.srv_name}")
        return future.result()

    def transition(self, transition_id) -> bool:
        return self._call(self.change, ChangeState.Request(transition=Transition(id=transition_id))).success

    def state(self) -> str:
        return self._call(self.get, GetState.Request()).current_state.label

    def set(self, **values):
        """``ros2 param set`` of each value: the SetParametersResult of each."""
        assert self.param_client.wait_for_services(timeout_sec=10.0)
        future = self.param_client.set_parameters([Parameter(k, value=v) for k, v in values.items()])
        wait_for(future.done, what="set_parameters")
        return future.result().results

    def subscribed(self) -> bool:
        return all(p.get_subscription_count() >= 1 for p in self.image_pubs.values())

    def unsubscribed(self) -> bool:
        return all(p.get_subscription_count() == 0 for p in self.image_pubs.values())

    def send_set(self):
        """One synchronised frame set (both cameras, one stamp: now)."""
        self.k += 1
        stamp = self.node.get_clock().now().nanoseconds
        for i, (c, pub) in enumerate(self.image_pubs.items()):
            img = np.full((48, 64, 3), (40 * i, self.k % 256, 7), np.uint8)
            pub.publish(numpy_to_image(img, "rgb8", frame_id=f"{c}_optical_frame", stamp_ns=stamp))

    def activate(self):
        assert self.transition(T.TRANSITION_ACTIVATE) and self.state() == "active"
        wait_for(self.subscribed, what="the node's subscriptions")


@pytest.fixture
def rig_factory(ros):
    return lambda *a, **kw: Rig(ros, *a, **kw)


def test_managed_node_goes_through_every_transition(rig_factory):
    # The pipeline by name, as a real launch builds it: the node alone holds it (cleanup frees it).
    rig = rig_factory(None, pipeline="fake_pipeline:FakePipeline")
    node = rig.node
    assert rig.state() == "unconfigured" and node.cfg is None and node.pipeline is None
    time.sleep(0.2)
    assert rig.unsubscribed() and rig.tester.count_publishers(f"{rig.ns}/hamst3r_node/points") == 0

    assert rig.transition(T.TRANSITION_CONFIGURE) and rig.state() == "inactive"
    pipe = node.pipeline
    assert isinstance(pipe, FakePipeline) and node.cfg.cameras[0].name == "a"
    wait_for(lambda: rig.tester.count_publishers(f"{rig.ns}/hamst3r_node/points") == 1, what="publishers")
    time.sleep(0.2)
    assert rig.unsubscribed() and rig.diags == []  # inactive: no subscriptions, no output

    rig.activate()
    rig.send_set()
    wait_for(lambda: len(rig.clouds) == 1 and len(rig.humans) == 1 and rig.diags, what="a frame set's outputs")
    assert len(pipe.seen) == 1

    assert rig.transition(T.TRANSITION_DEACTIVATE) and rig.state() == "inactive"
    wait_for(rig.unsubscribed, what="the subscriptions to go")
    time.sleep(0.2)  # what was on the way
    counts = (len(rig.clouds), len(rig.humans), len(rig.diags))
    rig.send_set()
    time.sleep(0.5)  # 5 diagnostics periods
    assert (len(rig.clouds), len(rig.humans), len(rig.diags)) == counts and len(pipe.seen) == 1

    rig.activate()  # again: same pipeline, outputs resume
    assert node.pipeline is pipe
    rig.send_set()
    wait_for(lambda: len(rig.clouds) == 2, what="the cloud after activating again")

    freed = weakref.ref(pipe)
    del pipe
    assert rig.transition(T.TRANSITION_DEACTIVATE) and rig.transition(T.TRANSITION_CLEANUP)
    assert rig.state() == "unconfigured" and node.pipeline is None and node.worker is None and node.cfg is None
    gc.collect()
    assert freed() is None, "cleanup must release the pipeline (the model)"
    wait_for(lambda: rig.tester.count_publishers(f"{rig.ns}/hamst3r_node/points") == 0, what="publishers to go")

    assert rig.transition(T.TRANSITION_UNCONFIGURED_SHUTDOWN) and rig.state() == "finalized"
    assert rig.logs.errors() == []


def test_deactivate_drops_the_frame_set_in_flight(rig_factory):
    pipe = FakePipeline(cost_s=0.6)
    rig = rig_factory(pipe)
    assert rig.transition(T.TRANSITION_CONFIGURE)
    rig.activate()
    rig.send_set()
    wait_for(lambda: len(pipe.seen) == 1, what="the pipeline to start")
    t0 = time.monotonic()
    assert rig.transition(T.TRANSITION_DEACTIVATE)
    assert time.monotonic() - t0 < 0.4  # does not wait for the frame set
    wait_for(lambda: rig.node.worker.wait_idle(0), what="the frame set to finish")
    time.sleep(0.3)
    assert rig.clouds == [] and rig.humans == []  # finished, never published
    rig.activate()
    rig.send_set()
    wait_for(lambda: len(rig.clouds) == 1, what="the next frame set")


@pytest.mark.parametrize("state", ["unconfigured", "inactive", "active", "active, mid frame set"])
def test_shutdown_from_any_state_is_clean_and_quick(rig_factory, state):
    busy = "mid" in state
    pipe = FakePipeline(cost_s=1.0 if busy else 0.0)
    rig = rig_factory(pipe)
    if state != "unconfigured":
        assert rig.transition(T.TRANSITION_CONFIGURE)
    if state.startswith("active"):
        rig.activate()
    if busy:
        rig.send_set()
        wait_for(lambda: len(pipe.seen) == 1, what="the pipeline to start")
    t0 = time.monotonic()
    assert rig.transition(SHUTDOWN_FROM[state.split(",")[0]])
    assert time.monotonic() - t0 < 0.5
    assert rig.state() == "finalized"
    node = rig.node
    assert node.pipeline is None and node.worker is None and node.cfg is None
    if busy:
        time.sleep(1.2)
        assert rig.clouds == []
    assert rig.unsubscribed() and rig.logs.errors() == []


def test_a_failed_configure_is_one_line_and_the_node_can_be_fixed(rig_factory, tmp_path):
    rig = rig_factory(FakePipeline(), sync_slop_s=0.0)
    assert not rig.transition(T.TRANSITION_CONFIGURE)
    assert rig.state() == "unconfigured" and rig.node.pipeline is None
    (line,) = rig.logs.errors()
    assert line == "configure failed: hamst3r_node: parameter 'sync_slop_s' = 0.0 must be > 0"

    # Unconfigured, any parameter may change (configure validates them all): a missing model file.
    missing = str(tmp_path / "model.safetensors")
    assert all(r.successful for r in rig.set(sync_slop_s=0.05, checkpoint=missing))
    assert not rig.transition(T.TRANSITION_CONFIGURE) and rig.state() == "unconfigured"
    line = rig.logs.errors()[-1]
    assert line.startswith("configure failed: hamst3r_node: parameter 'checkpoint'")
    assert f"file {missing!r} does not exist" in line and "\n" not in line and "Traceback" not in line

    assert all(r.successful for r in rig.set(checkpoint=""))
    assert rig.transition(T.TRANSITION_CONFIGURE) and rig.state() == "inactive"
    assert rig.node.cfg.sync_slop_s == 0.05 and len(rig.logs.errors()) == 2


def test_a_pipeline_that_cannot_be_built_fails_configure_with_one_line(rig_factory):
    rig = rig_factory(None, pipeline="fake_pipeline:nope")
    assert not rig.transition(T.TRANSITION_CONFIGURE) and rig.state() == "unconfigured"
    (line,) = rig.logs.errors()
    assert line == "configure failed: parameter 'pipeline': 'fake_pipeline' has no callable 'nope'"


def test_plain_node_configures_and_activates_itself(rig_factory):
    rig = rig_factory(FakePipeline(), managed=False)
    assert rig.state() == "active"
    wait_for(rig.subscribed, what="the node's subscriptions")
    rig.send_set()
    wait_for(lambda: len(rig.clouds) == 1, what="a cloud")


# --- live parameters -----------------------------------------------------------------------------

def test_live_parameters_apply_from_the_next_frame_set(rig_factory):
    pipe = LivePipeline()
    rig = rig_factory(pipe, managed=False, marker_lifetime_s=0.0)
    wait_for(rig.subscribed, what="the node's subscriptions")
    rig.send_set()
    wait_for(lambda: len(rig.clouds) == 1, what="the first cloud")
    assert pipe.updates == [] and rig.markers[-1].markers[0].lifetime.sec == 0

    results = rig.set(voxel_size=0.2, body_fit_every=2, marker_lifetime_s=3.0, diagnostics_period_s=0.05)
    assert [r.successful for r in results] == [True] * 4, [r.reason for r in results]
    node = rig.node
    assert node.get_parameter("voxel_size").value == 0.2 and node.cfg.voxel_size == 0.2
    assert node._diag_timer.timer_period_ns == 50_000_000  # the diagnostics timer now
    assert pipe.updates == []  # the pipeline gets its values before its next frame set, not before
    rig.send_set()
    wait_for(lambda: len(rig.clouds) == 2, what="the second cloud")
    assert pipe.updates == [(1, {"voxel_size": 0.2, "body_fit_every": 2}, "hamst3r-pipeline")]
    assert rig.markers[-1].markers[0].lifetime.sec == 3  # the node's own: used by the next frame set
    rig.send_set()
    wait_for(lambda: len(rig.clouds) == 3, what="the third cloud")
    assert len(pipe.updates) == 1  # handed over once


@pytest.mark.parametrize("values", [{"voxel_size": -1.0}, {"body_fit_every": 0}, {"min_confidence": "high"},
                                    {"max_points": 2.5}])
def test_a_wrong_live_value_is_refused_with_the_validators_message(rig_factory, values):
    rig = rig_factory(LivePipeline(), managed=False)
    (name, value), = values.items()
    before = rig.node.get_parameter(name).value
    (result,) = rig.set(**values)
    with pytest.raises(ValueError) as at_start:  # what the same value gets at start
        validate({"cameras": ["a"], name: value})
    assert not result.successful and str(at_start.value).split("; ")[0] in result.reason
    assert rig.node.get_parameter(name).value == before and rig.node.cfg.values[name] == before


def test_a_parameter_that_is_not_live_is_refused_with_the_reason(rig_factory):
    rig = rig_factory(LivePipeline(), managed=False)
    (result,) = rig.set(device="cpu")
    assert not result.successful
    assert "'device' cannot change while the node is configured: it is read once, at configure" in result.reason
    assert result.reason.endswith("restart the node to change it")
    assert rig.node.get_parameter("device").value == "auto"


def test_a_managed_node_takes_any_change_while_unconfigured(rig_factory):
    rig = rig_factory(LivePipeline())
    assert rig.transition(T.TRANSITION_CONFIGURE)
    assert rig.transition(T.TRANSITION_ACTIVATE)
    (result,) = rig.set(min_cameras=2)
    assert not result.successful and f"ros2 lifecycle set {rig.ns}/hamst3r_node deactivate, then cleanup" in result.reason
    assert rig.transition(T.TRANSITION_DEACTIVATE)
    # Inactive: the way is cleanup (ros2 lifecycle set ... deactivate would be refused in this state).
    (result,) = rig.set(min_cameras=2)
    assert not result.successful and f"ros2 lifecycle set {rig.ns}/hamst3r_node cleanup, set it" in result.reason
    assert "deactivate" not in result.reason
    assert rig.transition(T.TRANSITION_CLEANUP)
    assert all(r.successful for r in rig.set(min_cameras=2, device="cpu"))
    assert rig.transition(T.TRANSITION_CONFIGURE)
    assert (rig.node.cfg.min_cameras, rig.node.cfg.device) == (2, "cpu")


def test_a_pipeline_without_update_params_keeps_its_values(rig_factory):
    rig = rig_factory(FakePipeline(), managed=False)
    voxel, lifetime = rig.set(voxel_size=0.2, marker_lifetime_s=1.0)
    assert not voxel.successful and "FakePipeline cannot change ['voxel_size']" in voxel.reason
    assert lifetime.successful and rig.node.cfg.marker_lifetime_s == 1.0 and rig.node.cfg.voxel_size == 0.0


def test_launched_managed_the_process_waits_and_a_failed_configure_does_not_end_it(ros):
    """managed:=true as the launch file passes it (launch_spec): the process stays up unconfigured;
    a configure that fails (bad parameter) leaves it running, fixable; SIGTERM ends it with 0."""
    import signal
    import subprocess
    from pathlib import Path

    from conftest import ros_subprocess_env
    from hamst3r_ros.ros import launch_spec

    namespace = unique_name("managed")
    spec = launch_spec.system(namespace=namespace, sim=False, managed=True,
                              node_parameters={"pipeline": "fake_pipeline:FakePipeline",
                                               "sync_slop_s": 0.0})[0]
    env = ros_subprocess_env({"PYTHONPATH": str(Path(__file__).parent)})
    proc = subprocess.Popen(launch_spec.command(spec, namespace), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        tester = ros.node(unique_name("manager"))
        change = tester.create_client(ChangeState, f"/{namespace}/hamst3r_node/change_state")
        get = tester.create_client(GetState, f"/{namespace}/hamst3r_node/get_state")
        assert change.wait_for_service(timeout_sec=30.0), "the node's lifecycle services"

        def call(client, request):
            future = client.call_async(request)
            wait_for(future.done, what=client.srv_name)
            return future.result()

        assert call(get, GetState.Request()).current_state.label == "unconfigured"
        assert not call(change, ChangeState.Request(transition=Transition(id=T.TRANSITION_CONFIGURE))).success
        assert proc.poll() is None and call(get, GetState.Request()).current_state.label == "unconfigured"
        params = AsyncParameterClient(tester, f"/{namespace}/hamst3r_node")
        assert params.wait_for_services(timeout_sec=10.0)
        future = params.set_parameters([Parameter("sync_slop_s", value=0.05)])
        wait_for(future.done, what="set_parameters")
        assert future.result().results[0].successful
        assert call(change, ChangeState.Request(transition=Transition(id=T.TRANSITION_CONFIGURE))).success
        assert call(change, ChangeState.Request(transition=Transition(id=T.TRANSITION_ACTIVATE))).success
        assert call(get, GetState.Request()).current_state.label == "active"
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=10)[0]
        assert proc.returncode == 0, out
        errors = [ln for ln in out.splitlines() if "configure failed" in ln]
        assert len(errors) == 1 and "'sync_slop_s' = 0.0 must be > 0" in errors[0] and "Traceback" not in out, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
