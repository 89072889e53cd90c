# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""In-process test of the bag player: every record reaches a subscriber, in order."""

from dataclasses import dataclass
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy  # noqa: E402

from pose_tracker.ros.tools import bag_io  # noqa: E402
from pose_tracker.ros.tools import player as player_mod  # noqa: E402

pytestmark = pytest.mark.ros

K = np.array([[50.0, 0.0, 3.5], [0.0, 50.0, 2.5], [0.0, 0.0, 1.0]])
N_FRAMES = 3


@dataclass
class F:
    rgb: np.ndarray
    depth: np.ndarray
    gt_pose: np.ndarray


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    path = tmp_path_factory.mktemp("player") / "bag"
    frames = []
    for i in range(N_FRAMES):
        gt = np.eye(4)
        gt[:3, 3] = [0.0, 0.0, 0.5 + 0.01 * i]
        frames.append(F(np.full((5, 7, 3), 10 * i, np.uint8),
                        np.full((5, 7), 0.5, np.float32), gt))
    bag_io.write_sequence_bag(frames, K, path, rate_hz=20.0)
    return path


class Harness:
    """A context with a subscriber node spun in a thread and a player node."""

    TOPICS = (bag_io.RGB_TOPIC, bag_io.DEPTH_TOPIC, bag_io.INFO_TOPIC, bag_io.GT_TOPIC)

    def __init__(self):
        from geometry_msgs.msg import PoseStamped
        from sensor_msgs.msg import CameraInfo, Image

        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.sub_node = rclpy.create_node("player_test_sub", context=self.ctx)
        self.player_node = rclpy.create_node("player_test_pub", context=self.ctx)
        self.received = []
        self.lock = threading.Lock()
        types = {bag_io.RGB_TOPIC: Image, bag_io.DEPTH_TOPIC: Image,
                 bag_io.INFO_TOPIC: CameraInfo, bag_io.GT_TOPIC: PoseStamped}
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        for topic in self.TOPICS:
            qos = reliable if topic == bag_io.GT_TOPIC else QoSProfile(
                depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
            self.sub_node.create_subscription(types[topic], topic, self._cb(topic), qos)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.sub_node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _cb(self, topic):
        def cb(msg):
            with self.lock:
                self.received.append((topic, msg))
        return cb

    def wait_for(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= n:
                    return True
            time.sleep(0.01)
        return False

    def close(self):
        self.executor.shutdown()
        self.sub_node.destroy_node()
        self.player_node.destroy_node()
        rclpy.shutdown(context=self.ctx)
        self.thread.join(timeout=5)


@pytest.fixture
def harness():
    h = Harness()
    yield h
    h.close()


def _stamp(msg):
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def test_every_record_arrives_in_order(bag, harness):
    player = player_mod.BagPlayer(harness.player_node, bag, rate=1.0)
    try:
        assert player.wait_for_subscribers(10.0)
        time.sleep(0.2)  # let the subscriber side finish matching too
        t0 = time.monotonic()
        assert player.play() == 4 * N_FRAMES
        # Paced at the bag's 20 Hz: the last frame goes out (N-1)/20 s after the first.
        assert time.monotonic() - t0 >= (N_FRAMES - 1) / 20.0 * 0.9
        assert player.wait_for_all_acked(5.0)
    finally:
        player.close()
    assert harness.wait_for(4 * N_FRAMES)
    by_topic = {}
    for topic, msg in harness.received:
        by_topic.setdefault(topic, []).append(msg)
    expected = [bag_io.DEFAULT_START_NS + i * 50_000_000 for i in range(N_FRAMES)]
    for topic in Harness.TOPICS:
        assert [_stamp(m) for m in by_topic[topic]] == expected, topic
    rgb = [np.frombuffer(m.data, np.uint8) for m in by_topic[bag_io.RGB_TOPIC]]
    assert [int(a[0]) for a in rgb] == [0, 10, 20]
    assert [m.pose.position.z for m in by_topic[bag_io.GT_TOPIC]] == pytest.approx(
        [0.5, 0.51, 0.52])
    assert list(by_topic[bag_io.INFO_TOPIC][0].k) == K.reshape(-1).tolist()


def test_restamp_fast_and_topic_filter(bag, harness):
    topics = [bag_io.RGB_TOPIC, bag_io.GT_TOPIC]
    player = player_mod.BagPlayer(harness.player_node, bag, fast=True, restamp=True,
                                  topics=topics, qos="reliable")
    try:
        assert set(player.publishers) == set(topics)
        assert player.wait_for_subscribers(10.0)
        time.sleep(0.2)
        before = harness.player_node.get_clock().now().nanoseconds
        assert player.play() == 2 * N_FRAMES
        after = harness.player_node.get_clock().now().nanoseconds
        assert player.wait_for_all_acked(5.0)
    finally:
        player.close()
    assert harness.wait_for(2 * N_FRAMES)
    stamps = {}
    for topic, msg in harness.received:
        stamps.setdefault(topic, []).append(_stamp(msg))
    assert set(stamps) == set(topics)
    rgb, gt = stamps[bag_io.RGB_TOPIC], stamps[bag_io.GT_TOPIC]
    assert rgb == gt  # one frame keeps one stamp across topics
    assert all(before <= s <= after for s in rgb)
    assert rgb == sorted(rgb) and len(set(rgb)) == N_FRAMES


def test_unknown_topic_and_qos_choice(bag, harness):
    with pytest.raises(ValueError, match="/nope"):
        player_mod.BagPlayer(harness.player_node, bag, topics=["/nope"])
    assert player_mod.qos_for("sensor_msgs/msg/Image") == qos_profile_sensor_data
    assert player_mod.qos_for("geometry_msgs/msg/PoseStamped").reliability == \
        ReliabilityPolicy.RELIABLE
    with pytest.raises(RuntimeError, match="no_such_msgs"):
        player_mod.message_class("no_such_msgs/msg/Thing")


def test_main_plays_without_subscribers(bag):
    assert player_mod.main([str(bag), "--fast", "--start-delay", "0", "--ack-timeout",
                            "0.5"]) == 0
    assert player_mod.main([str(bag.parent / "missing")]) == 2


def test_loop_restarts_until_stopped(bag, harness):
    player = player_mod.BagPlayer(harness.player_node, bag, fast=True, loop=True,
                                  restamp=True, topics=[bag_io.GT_TOPIC])
    seen = []

    def on_publish(topic, t_bag):
        seen.append(t_bag)
        if len(seen) == 2 * N_FRAMES + 1:
            player.stop()

    try:
        assert player.play(on_publish) == 2 * N_FRAMES + 1
    finally:
        player.close()
    assert seen[:N_FRAMES] == seen[N_FRAMES:2 * N_FRAMES]  # the bag played twice


def test_prime_publishes_only_camera_info_before_playback(bag, harness):
    player = player_mod.BagPlayer(harness.player_node, bag, fast=True)
    try:
        assert player.wait_for_subscribers(10.0)
        time.sleep(0.2)
        n = player.prime_camera_info(0.35, period=0.05)
        assert n >= 3
        assert harness.wait_for(1)
        time.sleep(0.2)
        with harness.lock:
            primed = list(harness.received)
        # Only the first camera_info, nothing else, before play().
        assert primed and {t for t, _ in primed} == {bag_io.INFO_TOPIC}
        assert all(_stamp(m) == bag_io.DEFAULT_START_NS for _, m in primed)
        assert player.play() == 4 * N_FRAMES
    finally:
        player.close()


def test_clock_publishes_bag_time(bag, harness):
    from rosgraph_msgs.msg import Clock

    clocks = []
    harness.sub_node.create_subscription(
        Clock, "/clock", lambda m: clocks.append(m.clock.sec * 10**9 + m.clock.nanosec),
        QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    with pytest.raises(ValueError, match="use one of them"):
        player_mod.BagPlayer(harness.player_node, bag, restamp=True, clock=True)
    player = player_mod.BagPlayer(harness.player_node, bag, fast=True, clock=True,
                                  topics=[bag_io.GT_TOPIC])
    try:
        assert player.wait_for_subscribers(10.0)
        deadline = time.monotonic() + 10.0
        while player._clock_pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert player.play() == N_FRAMES
        assert player.wait_for_all_acked(5.0)
    finally:
        player.close()
    assert harness.wait_for(N_FRAMES)
    deadline = time.monotonic() + 5.0
    while len(clocks) < N_FRAMES and time.monotonic() < deadline:
        time.sleep(0.01)
    gt = [_stamp(m) for t, m in harness.received if t == bag_io.GT_TOPIC]
    assert clocks == sorted(clocks) and len(clocks) == N_FRAMES
    assert clocks[0] == bag_io.DEFAULT_START_NS and clocks[-1] >= gt[-1] - 10**6
    assert player_mod.build_parser().parse_args(["b", "--clock"]).clock
    with pytest.raises(SystemExit):
        player_mod.build_parser().parse_args(["b", "--clock", "--restamp"])


@dataclass
class FM(F):
    mask: np.ndarray = None


def test_mask_topic_and_hold_after_first(tmp_path, harness):
    from sensor_msgs.msg import Image

    path = tmp_path / "bag"
    frames = [FM(np.full((5, 7, 3), 10 * i, np.uint8), np.full((5, 7), 0.5, np.float32),
                 np.eye(4), np.eye(5, 7, dtype=bool)) for i in range(N_FRAMES)]
    bag_io.write_sequence_bag(frames, K, path, rate_hz=20.0)
    masks = []
    harness.sub_node.create_subscription(Image, bag_io.MASK_TOPIC, masks.append,
                                         qos_profile_sensor_data)
    holds = []

    def hold():
        holds.append(len(masks))
        time.sleep(0.3)

    player = player_mod.BagPlayer(harness.player_node, path, fast=True)
    try:
        assert player.wait_for_subscribers(10.0)
        time.sleep(0.2)
        t0 = time.monotonic()
        assert player.play(hold=hold) == 5 * N_FRAMES
        assert time.monotonic() - t0 >= 0.3
    finally:
        player.close()
    assert holds == [holds[0]]  # held once
    assert harness.wait_for(4 * N_FRAMES)
    deadline = time.monotonic() + 5.0
    while len(masks) < N_FRAMES and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(masks) == N_FRAMES and masks[0].encoding == "mono8"
    np.testing.assert_array_equal(np.frombuffer(masks[0].data, np.uint8).reshape(5, 7),
                                  255 * np.eye(5, 7, dtype=np.uint8))
