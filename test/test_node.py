# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""The ROS node in-process with a fake tracker: topics, TF, states, bad input, parameters."""

import ast
import os
from pathlib import Path
import time
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

# Isolate this test run from others on the machine before any rclpy context exists (conftest.py
# sets the same defaults; this keeps the file runnable on its own).
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

from builtin_interfaces.msg import Time  # noqa: E402
from geometry_msgs.msg import PoseStamped, TransformStamped  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data, QoSProfile, DurabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402

from pose_tracker.ros import diagnostics as diag  # noqa: E402
from pose_tracker.ros import node_parameters as P  # noqa: E402
from pose_tracker.ros.markers import DisplayMesh  # noqa: E402
from pose_tracker.ros.node import main, PoseTrackerNode  # noqa: E402
from pose_tracker.ros.tracker_setup import TrackerSetup  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
H, W = 24, 32
FRAME = "camera_color_optical_frame"
START = np.array([[1.0, 0, 0, 0.01], [0, 1, 0, -0.02], [0, 0, 1, 0.6], [0, 0, 0, 1]])


class FakeTracker:
    """Implements the Tracker API; pose follows a script, quality comes from a list."""

    def __init__(self, K, size):
        self.K, self.size = np.asarray(K), tuple(size)
        self.staging = SimpleNamespace(rgb=np.zeros((*size, 3), np.uint8),
                                       depth=np.zeros(size, np.float32))
        self.pose = None
        self.resets = []
        self.frames = []  # (rgb mean, depth mean) of every tracked frame
        self.quality = 0.9
        self.step = np.zeros(3)  # translation added per frame

    def set_camera(self, K, size):
        self.K, self.size = np.asarray(K), tuple(size)
        self.staging = SimpleNamespace(rgb=np.zeros((*size, 3), np.uint8),
                                       depth=np.zeros(size, np.float32))

    def reset(self, pose):
        self.pose = np.array(pose, dtype=np.float64)
        self.resets.append(self.pose.copy())

    def track_staged(self):
        assert self.pose is not None, "the node must never track without a pose"
        self.frames.append((float(self.staging.rgb.mean()), float(self.staging.depth.mean())))
        self.pose = self.pose.copy()
        self.pose[:3, 3] += self.step
        return SimpleNamespace(pose=self.pose.copy(), quality=self.quality, ms=1.5)


def cube_mesh(size=0.1):
    v = np.array([[x, y, z] for x in (0, size) for y in (0, size) for z in (0, size)], float)
    v -= size / 2
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return DisplayMesh(v, f)  # diameter = sqrt(3) * 0.1


class Harness:
    """The node under test, a peer node publishing/subscribing, one executor."""

    def __init__(self, context, overrides=(), publish_inputs=True, build=None):
        self.trackers = []

        def factory(params):
            self.params = params

            def fake_build(K, size):
                t = FakeTracker(K, size)
                self.trackers.append(t)
                return t
            return TrackerSetup(build=build or fake_build, mesh=cube_mesh())

        overrides = [Parameter(k, value=v) for k, v in dict(overrides).items()]
        self.node = PoseTrackerNode(tracker_factory=factory, context=context,
                                    parameter_overrides=overrides, use_message_filters=False)
        self.peer = rclpy.create_node("peer", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        self.poses, self.markers, self.diags, self.overlays, self.tfs = [], [], [], [], []
        self.peer.create_subscription(PoseStamped, "/pose_tracker/pose", self.poses.append, 10)
        self.peer.create_subscription(
            Marker, "/pose_tracker/marker", self.markers.append,
            QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self.peer.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, 10)
        self.peer.create_subscription(Image, "/pose_tracker/overlay", self.overlays.append, 10)
        # TF: through /tf when tf2_msgs exists, otherwise captured at the node's TF sink.
        if self.node.tf_publisher is not None and self.node.tf_publisher.backend == "tf2_msgs":
            from tf2_msgs.msg import TFMessage
            self.peer.create_subscription(TFMessage, "/tf",
                                          lambda m: self.tfs.extend(m.transforms), 100)
        elif self.node.tf_publisher is not None:
            self.node.tf_publisher.send = self.tfs.append
        qos = qos_profile_sensor_data
        self.rgb_pub = self.peer.create_publisher(Image, "/rgb/image_raw", qos)
        self.depth_pub = self.peer.create_publisher(Image, "/depth/image_raw", qos)
        self.info_pub = self.peer.create_publisher(CameraInfo, "/rgb/camera_info", qos)
        self.init_pub = self.peer.create_publisher(PoseStamped, "/pose_tracker/initial_pose", 10)
        self.reset_cli = self.peer.create_client(Trigger, "/pose_tracker/reset")

    @property
    def tracker(self):
        return self.node.tracker

    def spin_until(self, cond, timeout=3.0):
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)
        return cond()

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()


def stamp(i):
    return Time(sec=100 + i // 30, nanosec=(i % 30) * 33_333_333)


def rgb_msg(i, encoding="rgb8", frame=FRAME, h=H, w=W, value=100):
    m = Image(height=h, width=w, encoding=encoding)
    m.header.stamp, m.header.frame_id = stamp(i), frame
    c = {"rgb8": 3, "bgr8": 3, "mono8": 1, "yuv422": 2}[encoding]
    m.step = w * c
    m.data = np.full(h * w * c, value, np.uint8).tobytes()
    return m


def depth_msg(i, mm=600, encoding="16UC1", frame=FRAME, h=H, w=W):
    m = Image(height=h, width=w, encoding=encoding)
    m.header.stamp, m.header.frame_id = stamp(i), frame
    if encoding in ("16UC1", "mono16"):
        m.step, arr = w * 2, np.full(h * w, mm, "<u2")
    else:
        m.step, arr = w * 4, np.full(h * w, mm / 1000.0, "<f4")
    m.data = arr.tobytes()
    return m


def truncated(msg):
    """Return `msg` with the last half row of its data cut off."""
    msg.data = bytes(msg.data)[: len(msg.data) - msg.step // 2]
    return msg


def info_msg(fx=30.0, h=H, w=W):
    m = CameraInfo(height=h, width=w)
    m.header.frame_id = FRAME
    m.k = [fx, 0.0, w / 2, 0.0, fx, h / 2, 0.0, 0.0, 1.0]
    return m


def initial_pose_msg(T=START):
    from pose_tracker.ros.conversions import matrix_to_pose
    m = PoseStamped()
    m.header.frame_id = FRAME
    m.pose = matrix_to_pose(T)
    return m


def ready(h, pose=True):
    """Camera info delivered (tracker built) and, optionally, an initial pose."""
    assert h.spin_until(lambda: (h.info_pub.publish(info_msg()) or h.tracker is not None))
    if pose:
        h.init_pub.publish(initial_pose_msg())
        assert h.spin_until(lambda: h.node.state == diag.TRACKING)


def test_publishes_pose_with_image_header_and_tf(harness):
    h = harness(overrides={"object_frame": "mug"})
    ready(h)
    np.testing.assert_allclose(h.tracker.resets[-1], START)
    # Through DDS: synchronised pair -> pose on ~/pose.
    h.rgb_pub.publish(rgb_msg(1))
    h.depth_pub.publish(depth_msg(1))
    assert h.spin_until(lambda: h.poses)
    p = h.poses[0]
    assert (p.header.stamp.sec, p.header.stamp.nanosec) == (100, 33_333_333)
    assert p.header.frame_id == FRAME
    assert (p.pose.position.x, p.pose.position.z) == pytest.approx((0.01, 0.6))
    assert p.pose.orientation.w == pytest.approx(1.0)
    # Conversions wrote into the staging buffers: rgb 100, depth 0.6 m.
    assert h.tracker.frames[0] == pytest.approx((100.0, 0.6))
    assert h.spin_until(lambda: h.tfs)
    tf = h.tfs[0]
    assert isinstance(tf, TransformStamped)
    assert (tf.header.frame_id, tf.child_frame_id) == (FRAME, "mug")
    assert tf.header.stamp == p.header.stamp
    assert tf.transform.translation.z == pytest.approx(0.6)
    # Latched marker of the mesh in the object frame.
    assert h.spin_until(lambda: h.markers)
    assert h.markers[0].header.frame_id == "mug"
    assert h.markers[0].type == Marker.TRIANGLE_LIST and len(h.markers[0].points) == 36


def test_nothing_before_initial_pose_and_logged_once(harness):
    h = harness()
    ready(h, pose=False)
    for i in range(5):
        h.node.process_frame(rgb_msg(i), depth_msg(i))
    h.spin_until(lambda: False, timeout=0.2)
    assert h.poses == [] and h.tracker.frames == []
    assert h.node.state == diag.WAITING_FOR_POSE
    assert h.node.log_once.count("no_initial_pose") == 1
    assert h.node.stats.skipped["no_initial_pose"] == 5
    # The initial_pose parameter starts tracking too.
    h.node.set_parameters([Parameter("initial_pose", value=[0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 1.0])])
    assert h.node.state == diag.TRACKING
    h.node.process_frame(rgb_msg(6), depth_msg(6))
    assert h.spin_until(lambda: h.poses)
    assert h.poses[0].pose.position.z == pytest.approx(0.5)


def test_pose_before_camera_info_is_applied_on_build(harness):
    h = harness(overrides={"initial_pose": [0.0, 0.1, 0.7, 0.0, 0.0, 0.0, 1.0]})
    assert h.node.state == diag.WAITING_FOR_CAMERA_INFO
    h.node.process_frame(rgb_msg(0), depth_msg(0))
    assert h.node.stats.skipped["no_camera_info"] == 1
    ready(h, pose=False)
    np.testing.assert_allclose(h.tracker.resets[-1][:3, 3], [0.0, 0.1, 0.7])
    assert h.node.state == diag.TRACKING


def test_lost_after_low_quality_and_recovery(harness):
    h = harness(overrides={"quality_threshold": 0.5, "lost_after_frames": 3})
    ready(h)
    h.tracker.quality = 0.1
    for i in range(5):
        h.node.process_frame(rgb_msg(i), depth_msg(i))
    # Frames 0 and 1 are bad but published; the third bad one declares LOST.
    assert h.spin_until(lambda: len(h.poses) == 2)
    h.spin_until(lambda: False, timeout=0.2)
    assert len(h.poses) == 2
    assert h.node.state == diag.LOST
    assert len(h.tracker.frames) == 3  # not tracked while LOST
    assert h.node.stats.skipped["lost"] == 2
    h.node.publish_diagnostics()
    assert h.spin_until(lambda: any(s.message.startswith("object LOST")
                                    for d in h.diags for s in d.status))
    # A new initial pose resumes tracking.
    h.tracker.quality = 0.9
    h.init_pub.publish(initial_pose_msg())
    assert h.spin_until(lambda: h.node.state == diag.TRACKING)
    h.node.process_frame(rgb_msg(10), depth_msg(10))
    assert h.spin_until(lambda: len(h.poses) == 3)


@pytest.mark.parametrize("make_bad, kind", [
    (lambda i: (rgb_msg(i, encoding="yuv422"), depth_msg(i)), "encoding"),
    (lambda i: (rgb_msg(i), depth_msg(i, encoding="16SC1")), "encoding"),
    (lambda i: (rgb_msg(i), depth_msg(i, encoding="32FC1", mm=float("nan"))), "depth_empty"),
    (lambda i: (rgb_msg(i), depth_msg(i, encoding="32FC1", mm=float("inf"))), "depth_empty"),
    (lambda i: (rgb_msg(i), depth_msg(i, encoding="32FC1", mm=-600)), "depth_empty"),
    (lambda i: (rgb_msg(i), depth_msg(i, mm=0)), "depth_empty"),
    # 32FC1 holding millimetres: the object would be 1000x too far.
    (lambda i: (rgb_msg(i), depth_msg(i, encoding="32FC1", mm=600_000)), "depth_units"),
    # 16UC1 of a scale 100x too large (60 m), and 16UC1 holding metres (1 mm: 1000x too near).
    (lambda i: (rgb_msg(i), depth_msg(i, mm=60_000)), "depth_units"),
    (lambda i: (rgb_msg(i), depth_msg(i, mm=1)), "depth_units"),
    # Images larger than camera_info says (same size as each other).
    (lambda i: (rgb_msg(i, h=H * 2, w=W * 2), depth_msg(i, h=H * 2, w=W * 2)), "size_mismatch"),
    # RGB and depth of different sizes.
    (lambda i: (rgb_msg(i), depth_msg(i, h=H // 2, w=W // 2)), "size_mismatch"),
    # Truncated data.
    (lambda i: (truncated(rgb_msg(i)), depth_msg(i)), "layout"),
])
def test_bad_frames_skipped_with_one_log(harness, make_bad, kind):
    h = harness()
    ready(h)
    for i in range(4):
        h.node.process_frame(*make_bad(i))
    assert h.node.log_once.count(kind) == 1
    assert h.node.stats.skipped[kind] == 4
    assert h.tracker.frames == []
    h.node.publish_diagnostics()
    assert h.spin_until(lambda: h.diags)
    assert h.diags[-1].status[0].level == b"\x02"  # ERROR: frames arrive, all rejected
    assert kind in h.diags[-1].status[0].message
    # The node keeps running: a good frame afterwards is tracked and published.
    h.node.process_frame(rgb_msg(10), depth_msg(10))
    assert h.spin_until(lambda: h.poses)
    h.node.publish_diagnostics()
    assert h.spin_until(lambda: h.diags)
    assert h.spin_until(lambda: len(h.diags) == 2)
    status = h.diags[-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert values[f"skipped.{kind}"] == "4"
    assert values["state"] == diag.TRACKING and status.level == b"\x00"
    assert float(values["latency_ms_mean"]) > 0 and values["quality"] == "0.900"
    assert float(values["tracker_ms_mean"]) == pytest.approx(1.5)


def test_uncalibrated_camera_info_and_bag_loop(harness):
    h = harness()
    bad = info_msg(fx=0.0)
    h.node.on_camera_info(bad)
    h.node.on_camera_info(bad)
    assert h.node.log_once.count("camera_info") == 1 and h.tracker is None
    h.node.process_frame(rgb_msg(0), depth_msg(0))
    assert h.node.stats.skipped["camera_info"] == 1
    ready(h)
    # Bag loop through the synchroniser: time goes back 3 s. The pose came from the topic and
    # belongs to the old stream: LOST (one log line), nothing tracked until a new pose.
    for i in (100, 101, 0, 1, 2):
        feed(h, i)
    assert h.node.log_once.count("time_backwards") == 1
    assert h.node.stats.skipped["time_backwards"] == 1
    assert len(h.tracker.frames) == 2
    assert h.node.state == diag.LOST and h.node.stats.skipped["lost"] == 3
    h.init_pub.publish(initial_pose_msg())
    assert h.spin_until(lambda: h.node.state == diag.TRACKING)
    feed(h, 3)
    assert len(h.tracker.frames) == 3
    # Camera intrinsics change -> set_camera.
    tracker = h.tracker
    h.node.on_camera_info(info_msg(fx=40.0))
    assert tracker.K[0, 0] == 40.0 and h.tracker is tracker


def feed(h, i, **kw):
    """Give frame i to the node through its synchroniser (RGB, then depth)."""
    h.node.sync.add(0, rgb_msg(i))
    h.node.sync.add(1, depth_msg(i, **kw))


def test_bag_loop_restarts_from_initial_pose_parameter(harness):
    start = [0.0, 0.1, 0.7, 0.0, 0.0, 0.0, 1.0]
    h = harness(overrides={"initial_pose": start})
    ready(h, pose=False)
    h.tracker.step = np.array([0.001, 0.0, 0.0])
    for loop in range(3):  # a bag played three times
        for i in (0, 1, 2, 60, 61):
            feed(h, i)
    assert h.node.log_once.count("time_backwards") == 1  # one line, however often it loops
    assert h.node.stats.skipped["time_backwards"] == 2
    assert len(h.tracker.frames) == 15 and h.node.state == diag.TRACKING
    # Each restart re-initialised the tracker at the parameter's pose (plus the initial one).
    assert len(h.tracker.resets) == 3
    for T in h.tracker.resets:
        np.testing.assert_allclose(T[:3, 3], [0.0, 0.1, 0.7])


def test_out_of_order_frames_dropped_with_one_log(harness):
    h = harness()
    ready(h)
    feed(h, 10)
    feed(h, 11)
    for i in (5, 6, 7):  # 0.1-0.2 s late: out of order, not a restart
        feed(h, i)
    assert h.node.log_once.count("late") == 1
    assert h.node.sync.stats.dropped["late"] == 6
    assert len(h.tracker.frames) == 2 and h.node.state == diag.TRACKING
    feed(h, 12)
    assert len(h.tracker.frames) == 3
    assert h.spin_until(lambda: len(h.poses) == 3)
    assert h.node.log_once.count("time_backwards") == 0


def test_missing_camera_info_logged_once(harness):
    h = harness()
    for i in range(10):
        h.node.process_frame(rgb_msg(i), depth_msg(i))
    assert h.node.stats.skipped["no_camera_info"] == 10
    assert h.node.log_once.count("no_camera_info") == 1
    assert h.node.state == diag.WAITING_FOR_CAMERA_INFO
    h.node.publish_diagnostics()
    assert h.spin_until(lambda: h.diags)
    assert h.diags[-1].status[0].message == "waiting for camera_info"
    ready(h)
    h.node.process_frame(rgb_msg(20), depth_msg(20))
    assert h.spin_until(lambda: h.poses)


def test_tracker_failures_logged_once(harness):
    def broken(K, size):
        raise RuntimeError("CUDA error: out of memory")

    h = harness(build=broken)
    for _ in range(3):
        h.node.on_camera_info(info_msg())
    for i in range(4):
        h.node.process_frame(rgb_msg(i), depth_msg(i))
    assert h.node.log_once.count("tracker_build") == 1
    assert h.node.stats.skipped["tracker_build"] == 4
    h.node.publish_diagnostics()
    assert h.spin_until(lambda: h.diags)
    assert h.diags[-1].status[0].level == b"\x02"
    assert "tracker_build" in h.diags[-1].status[0].message

    h = harness()
    ready(h)
    good = h.tracker.track_staged

    def failing():
        raise RuntimeError("illegal memory access")

    h.tracker.track_staged = failing
    for i in range(5):
        h.node.process_frame(rgb_msg(i), depth_msg(i))
    assert h.node.log_once.count("tracker_exception") == 1
    assert h.node.stats.skipped["tracker_exception"] == 5
    h.tracker.track_staged = good
    h.node.process_frame(rgb_msg(6), depth_msg(6))
    assert h.spin_until(lambda: h.poses)


def test_input_stall_warns_once_and_tracking_resumes(harness):
    h = harness(overrides={"input_timeout": 0.3})
    ready(h)
    feed(h, 1)
    assert h.spin_until(lambda: len(h.poses) == 1)
    h.node.publish_diagnostics()
    assert h.spin_until(lambda: h.diags)
    assert h.diags[-1].status[0].level == b"\x00"
    time.sleep(0.4)  # the camera stops
    for _ in range(3):
        h.node.publish_diagnostics()
    assert h.spin_until(lambda: len(h.diags) == 4)
    assert h.node.log_once.count("input_stalled") == 1
    status = h.diags[-1].status[0]
    assert status.level == b"\x01" and status.message.startswith("no RGB-D frames for")
    values = {kv.key: kv.value for kv in status.values}
    assert float(values["input_age_s"]) > 0.3 and values["state"] == diag.TRACKING
    feed(h, 30)  # 1 s of stamps later: the camera is back
    assert h.spin_until(lambda: len(h.poses) == 2)
    h.node.publish_diagnostics()
    assert h.spin_until(lambda: len(h.diags) == 5)
    assert h.diags[-1].status[0].level == b"\x00"
    # A second stall is reported again (once).
    time.sleep(0.4)
    h.node.publish_diagnostics()
    h.node.publish_diagnostics()
    assert h.node.log_once.count("input_stalled") == 2


@pytest.mark.slow
def test_camera_stopping_for_ten_seconds(harness):
    # Default input_timeout (1 s); the node's own timers run while the camera is away.
    h = harness()
    ready(h)
    feed(h, 1)
    assert h.spin_until(lambda: len(h.poses) == 1)
    h.spin_until(lambda: False, timeout=10.0)  # 10 s without a frame, the node keeps spinning
    assert h.node.log_once.count("input_stalled") == 1  # one log line for the whole stall
    feed(h, 1 + 300)  # the camera is back, 10 s of stamps later
    assert h.spin_until(lambda: len(h.poses) == 2)
    assert h.node.state == diag.TRACKING
    h.node.publish_diagnostics()
    assert h.spin_until(lambda: h.diags and h.diags[-1].status[0].level == b"\x00")


def test_reset_service_clears_pose(harness):
    h = harness()
    ready(h)
    assert h.reset_cli.wait_for_service(timeout_sec=2.0)
    future = h.reset_cli.call_async(Trigger.Request())
    assert h.spin_until(future.done)
    assert future.result().success
    assert h.node.state == diag.WAITING_FOR_POSE
    h.node.process_frame(rgb_msg(1), depth_msg(1))
    assert h.tracker.frames == [] and h.node.log_once.count("no_initial_pose") == 1


def test_overlay_and_bgr_mono_inputs(harness):
    h = harness(overrides={"publish_overlay": True})
    ready(h)
    assert h.spin_until(lambda: h.node._overlay_pub.get_subscription_count() > 0)
    h.node.process_frame(rgb_msg(1, encoding="bgr8"), depth_msg(1))
    h.node.process_frame(rgb_msg(2, encoding="mono8", value=50), depth_msg(2, encoding="32FC1"))
    assert h.spin_until(lambda: len(h.overlays) == 2)
    img = np.frombuffer(h.overlays[0].data, np.uint8).reshape(H, W, 3)
    assert h.overlays[0].encoding == "rgb8" and h.overlays[0].header.frame_id == FRAME
    assert (img != 100).any()  # something was drawn
    assert h.tracker.frames[1] == pytest.approx((50.0, 0.6))


def test_parameter_validation(harness):
    h = harness()
    bad = h.node.set_parameters([Parameter("initial_pose", value=[0.0, 1.0])])
    assert not bad[0].successful and "7 numbers" in bad[0].reason
    bad = h.node.set_parameters([Parameter("quality_threshold", value=1.5)])
    assert not bad[0].successful
    ro = h.node.set_parameters([Parameter("mesh_path", value="/x.obj")])
    assert not ro[0].successful
    ok = h.node.set_parameters([Parameter("lost_after_frames", value=3)])
    assert ok[0].successful and h.node.params.lost_after_frames == 3
    desc = h.node.describe_parameter("sync_slop")
    assert desc.read_only and "seconds" in desc.description


def test_invalid_device_parameter_refused(context):
    with pytest.raises(ValueError, match="device must be one of"):
        PoseTrackerNode(tracker_factory=lambda p: TrackerSetup(build=FakeTracker),
                        context=context, parameter_overrides=[Parameter("device", value="tpu")])


def test_main_exits_nonzero_on_missing_mesh(capfd):
    with pytest.raises(SystemExit) as e:
        main(["--ros-args", "-p", "mesh_path:=/nonexistent/mesh.obj"])
    assert e.value.code == 1
    assert "mesh file not found" in capfd.readouterr().err


def test_launch_file_declares_arguments():
    tree = ast.parse((ROOT / "launch" / "tracker.launch.py").read_text())
    names = {node.args[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "id", "") ==
             "DeclareLaunchArgument"}
    assert {"mesh_path", "weights_path", "camera", "params_file", "rviz"} <= names
    funcs = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in funcs


def test_rviz_config_topics():
    cfg = yaml.safe_load((ROOT / "config" / "tracker.rviz").read_text())
    vm = cfg["Visualization Manager"]
    assert vm["Global Options"]["Fixed Frame"] == FRAME
    topics = {d["Class"].split("/")[-1]: d.get("Topic", {}).get("Value")
              for d in vm["Displays"]}
    assert topics["Marker"] == "/pose_tracker/marker"
    assert topics["Pose"] == "/pose_tracker/pose"
    assert "TF" in topics
    images = [d["Topic"]["Value"] for d in vm["Displays"] if d["Class"].endswith("/Image")]
    assert "/pose_tracker/overlay" in images and len(images) == 2


class FakeMessageFilters:
    """Stand-in for the message_filters package (not on PyPI): same API, exact-time matching."""

    subscribers = []

    class Subscriber:
        def __init__(self, node, msg_type, topic, **kwargs):
            FakeMessageFilters.subscribers.append((topic, kwargs))
            self.callbacks = []
            self.sub = node.create_subscription(msg_type, topic, self.signal,
                                                kwargs.get("qos_profile", 10))

        def registerCallback(self, cb, *args):  # noqa: N802 (message_filters' name)
            self.callbacks.append((cb, args))

        def signal(self, msg):
            for cb, args in self.callbacks:
                cb(msg, *args)

    class ApproximateTimeSynchronizer:
        def __init__(self, fs, queue_size, slop):
            self.queues = [{} for _ in fs]
            self.callbacks = []
            for i, f in enumerate(fs):
                f.registerCallback(self.add, i)

        def registerCallback(self, cb):  # noqa: N802
            self.callbacks.append(cb)

        def add(self, msg, i):
            self.queues[i][(msg.header.stamp.sec, msg.header.stamp.nanosec)] = msg
            for t in sorted(set(self.queues[0]) & set(self.queues[1])):
                msgs = [q.pop(t) for q in self.queues]
                for cb in self.callbacks:
                    cb(*msgs)


def test_message_filters_path(context, monkeypatch):
    import pose_tracker.ros.sync as sync_mod
    FakeMessageFilters.subscribers.clear()
    monkeypatch.setattr(sync_mod, "import_message_filters", lambda: FakeMessageFilters)
    node = PoseTrackerNode(
        tracker_factory=lambda p: TrackerSetup(build=FakeTracker, mesh=cube_mesh()),
        context=context, parameter_overrides=[
            Parameter("initial_pose", value=[0.0, 0.0, 0.6, 0.0, 0.0, 0.0, 1.0])])
    try:
        assert node.sync.backend == "message_filters" and node.sync.stats is None
        topics = {t: kw for t, kw in FakeMessageFilters.subscribers}
        assert set(topics) == {"rgb/image_raw", "depth/image_raw"}
        assert all(kw["qos_profile"] == qos_profile_sensor_data for kw in topics.values())
        node.on_camera_info(info_msg())
        rgb_sub, depth_sub = node.sync.subscribers
        for i in (200, 201, 0, 1):  # the bag loops after frame 201
            rgb_sub.signal(rgb_msg(i))
            depth_sub.signal(depth_msg(i))
        assert len(node.tracker.frames) == 4
        assert node.log_once.count("time_backwards") == 1
        assert len(node.tracker.resets) == 2  # restarted from the initial_pose parameter
        # Out of order after a match: dropped in the node, one log line.
        for i in (2, 3, 1, 0):
            rgb_sub.signal(rgb_msg(i))
            depth_sub.signal(depth_msg(i))
        assert len(node.tracker.frames) == 6
        assert node.stats.skipped["late"] == 2 and node.log_once.count("late") == 1
        # A stale queued message is cleared by the loop reset, in place.
        rgb_sub.signal(rgb_msg(300))
        rgb_sub.signal(rgb_msg(5))
        assert list(node.sync.synchronizer.queues[0]) == [(100, 5 * 33_333_333)]
        assert node.log_once.count("time_backwards") == 1  # still one log line
    finally:
        node.destroy_node()


def test_default_factory_startup_errors(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    pytest.importorskip("torch")
    from pose_tracker.errors import MeshError, MeshUnitsError, WeightsError
    from pose_tracker.ros.tracker_setup import default_tracker_factory

    with pytest.raises(MeshError, match="mesh_path parameter is empty"):
        default_tracker_factory(P.TrackerParams())
    corrupt = tmp_path / "corrupt.obj"
    corrupt.write_bytes(b"\x00\x01 not a mesh")
    with pytest.raises(MeshError):
        default_tracker_factory(P.TrackerParams(mesh_path=str(corrupt)))
    mm = tmp_path / "box_mm.obj"
    trimesh.creation.box(extents=(80.0, 60.0, 100.0)).export(mm)
    with pytest.raises(MeshUnitsError):
        default_tracker_factory(P.TrackerParams(mesh_path=str(mm)))
    with pytest.raises(WeightsError, match="not found"):
        default_tracker_factory(P.TrackerParams(mesh_path=str(mm), mesh_scale=0.001,
                                                weights_path=str(tmp_path / "none.pt")))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(WeightsError):
        default_tracker_factory(P.TrackerParams(mesh_path=str(mm), mesh_scale=0.001,
                                                weights_path=str(bad)))


def test_mesh_resource_marker_and_overlay_projection(tmp_path):
    from pose_tracker.ros.markers import mesh_marker
    from pose_tracker.overlay import draw_pose

    obj = tmp_path / "part.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    mesh = DisplayMesh(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]]) * 0.001, [[0, 1, 2]],
                       str(obj), 0.001)
    m = mesh_marker(mesh, "object")
    assert m.type == Marker.MESH_RESOURCE and m.mesh_resource == "file://" + str(obj)
    assert m.scale.x == pytest.approx(0.001) and m.header.frame_id == "object"
    K = np.array([[100.0, 0, 16], [0, 100, 12], [0, 0, 1]])  # projection: test_pinhole.py
    img = draw_pose(np.zeros((H, W, 3), np.uint8), START, K, np.array([[0.05, 0.02, 0.0]]),
                    colour=(0, 255, 0))
    assert tuple(img[12, 26]) == (0, 255, 0) and img.sum() == 9 * 255  # one 3x3 dot
