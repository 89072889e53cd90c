# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Replay a rosbag2 bag onto ROS topics with rclpy (a small stand-in for ``ros2 bag play``).

    pose_tracker_player BAG [--rate 1.0 | --fast] [--restamp | --clock] [--loop]
        [--start-delay S] [--wait-for-subscribers S] [--topics T ...]
        [--qos auto|reliable|best_effort] [--hold-after-first TOPIC [--hold-timeout S]]

Records are published as their raw CDR bytes (no deserialisation) at the pace of their bag
timestamps scaled by ``--rate`` (``--fast``: as fast as possible). ``--restamp`` rewrites every
``header.stamp`` to the wall-clock time at which the first message of that original stamp is
published, so messages of one frame keep equal stamps (needs a deserialise/serialise round trip
with the ``rosbags`` typestore). ``--clock`` publishes the bag's time on /clock
(rosgraph_msgs/Clock, before each message), like ``ros2 bag play --clock``, for nodes run with
``use_sim_time:=true``: their clock then follows the recorded stamps. Camera topics (Image,
CompressedImage, CameraInfo, PointCloud2) use the sensor-data QoS (best effort, keep last 5);
everything else is reliable. Before shutdown the player waits until reliable subscribers have
acknowledged every message.
``--hold-after-first TOPIC`` pauses after the first frame (the messages of the first bag
timestamp) until a geometry_msgs/PoseStamped arrives on TOPIC (or ``--hold-timeout``), then plays
the rest from there: a node that registers the object on the first frame (seconds on a CPU) does
not miss the frames that follow.
"""

import argparse
import importlib
from pathlib import Path
import sys
import threading
import time
from typing import Callable, Dict, Optional, Sequence as SequenceT

from rosbags.rosbag2 import Reader, ReaderError

from pose_tracker.ros.tools.bag_io import typestore

#: Message types published with the sensor-data (best effort) QoS in "auto" mode.
SENSOR_TYPES = frozenset({
    "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/CameraInfo",
    "sensor_msgs/msg/PointCloud2",
})


def message_class(msgtype: str):
    """
    Return the rclpy message class of a type name such as ``"sensor_msgs/msg/Image"``.

    Raises:
        RuntimeError: the message package is not installed.

    """
    try:
        from rosidl_runtime_py.utilities import get_message
        return get_message(msgtype)
    except ImportError:
        pass  # rosidl_runtime_py is not on PyPI: import the generated module directly
    except (AttributeError, ModuleNotFoundError, ValueError) as exc:
        raise RuntimeError(f"message type {msgtype} is not available: {exc}") from exc
    parts = msgtype.split("/")
    if len(parts) != 3:
        raise RuntimeError(f"cannot parse message type {msgtype!r} (expected pkg/msg/Name)")
    pkg, sub, name = parts
    try:
        return getattr(importlib.import_module(f"{pkg}.{sub}"), name)
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(f"message type {msgtype} is not available ({exc}); install its "
                           "ROS message package") from exc


def qos_for(msgtype: str, mode: str = "auto"):
    """Return the QoS a topic of ``msgtype`` is published with (see the module docstring)."""
    from rclpy.qos import (HistoryPolicy, QoSProfile, ReliabilityPolicy, DurabilityPolicy,
                           qos_profile_sensor_data)

    if mode == "best_effort" or (mode == "auto" and msgtype in SENSOR_TYPES):
        return qos_profile_sensor_data
    if mode not in ("auto", "reliable"):
        raise ValueError(f"qos mode must be auto, reliable or best_effort, got {mode!r}")
    # Large images get a short history; small messages a long one so --fast loses nothing.
    depth = 10 if msgtype in SENSOR_TYPES else 100
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


class Restamper:
    """
    Rewrite header stamps to "now", keeping equal original stamps equal.

    Args:
        now_ns: callable returning the current time in nanoseconds (the node's clock).

    """

    def __init__(self, now_ns: Callable[[], int]):
        self._now_ns = now_ns
        self._map: Dict[int, int] = {}
        self._ts = typestore()

    def clear(self) -> None:
        """Forget the stamp mapping (when a looped bag starts over, its stamps recur)."""
        self._map.clear()

    def _new_stamp(self, stamp):
        old = int(stamp.sec) * 10**9 + int(stamp.nanosec)
        new = self._map.get(old)
        if new is None:
            new = self._map[old] = int(self._now_ns())
            if len(self._map) > 1000:  # bounded: only recent stamps recur
                for key in list(self._map)[:500]:
                    del self._map[key]
        sec, nanosec = divmod(new, 10**9)
        return type(stamp)(sec=sec, nanosec=nanosec)

    def __call__(self, raw: bytes, msgtype: str) -> bytes:
        """Return the CDR bytes of the message with its header stamps replaced."""
        msg = self._ts.deserialize_cdr(raw, msgtype)
        changed = False
        header = getattr(msg, "header", None)
        if header is not None and hasattr(header, "stamp"):
            header.stamp = self._new_stamp(header.stamp)
            changed = True
        for item in getattr(msg, "transforms", None) or ():  # tf2_msgs/TFMessage
            if hasattr(getattr(item, "header", None), "stamp"):
                item.header.stamp = self._new_stamp(item.header.stamp)
                changed = True
        if not changed:
            return raw
        return bytes(self._ts.serialize_cdr(msg, msgtype))


class BagPlayer:
    """
    Publish the records of a bag from an rclpy node.

    Args:
        node: rclpy node the publishers are created on.
        bag: rosbag2 folder.
        rate: playback speed factor (2.0 = twice as fast as recorded).
        fast: ignore timestamps and publish as fast as possible.
        restamp: rewrite header stamps to the current time.
        loop: start over at the end of the bag (until `stop` is called).
        topics: only these topics (default: all).
        qos: "auto" (sensor-data for camera topics, reliable otherwise), "reliable" or
            "best_effort".

    """

    def __init__(self, node, bag, rate: float = 1.0, fast: bool = False, restamp: bool = False,
                 loop: bool = False, topics: Optional[SequenceT[str]] = None, qos: str = "auto",
                 clock: bool = False):
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        if clock and restamp:
            raise ValueError("--clock publishes the bag's time and --restamp rewrites stamps to "
                             "the current time: use one of them")
        self.node = node
        self.rate, self.fast, self.loop = float(rate), bool(fast), bool(loop)
        self._reader = Reader(Path(bag))
        self._reader.open()
        conns = self._reader.connections
        if topics:
            missing = sorted(set(topics) - {c.topic for c in conns})
            if missing:
                self._reader.close()
                raise ValueError(f"bag {bag} has no topic(s) {missing}; it has "
                                 f"{sorted({c.topic for c in conns})}")
            conns = [c for c in conns if c.topic in set(topics)]
        self._conns = conns
        self.publishers = {}
        try:
            for c in conns:
                if c.topic not in self.publishers:
                    self.publishers[c.topic] = node.create_publisher(
                        message_class(c.msgtype), c.topic, qos_for(c.msgtype, qos))
        except Exception:
            self.close()
            raise
        self._clock_pub = None
        if clock:
            from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
            from rosgraph_msgs.msg import Clock

            self._clock_msg = Clock()
            self._clock_pub = node.create_publisher(
                Clock, "/clock", QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                                            reliability=ReliabilityPolicy.RELIABLE))
        node_clock = node.get_clock()
        self._restamp = (Restamper(lambda: node_clock.now().nanoseconds) if restamp
                         else None)
        self._stop = threading.Event()
        self.published = 0

    def stop(self) -> None:
        """Ask `play` to return (thread-safe)."""
        self._stop.set()

    def wait_for_subscribers(self, timeout_s: float) -> bool:
        """Wait until every publisher has at least one matched subscription; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while not self._stop.is_set():
            if all(p.get_subscription_count() > 0 for p in self.publishers.values()):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return False

    def prime_camera_info(self, seconds: float, period: float = 0.1) -> int:
        """
        Publish the bag's first CameraInfo for `seconds` before playback; returns the count.

        A camera driver advertises its calibration as it starts streaming; the tracker node
        builds (and on CUDA captures) its tracker from the first camera_info, which can take
        seconds. Priming lets that happen before the first image, so no image of the replay is
        dropped. Restamped with the current time when the player restamps. Does nothing if the
        bag has no CameraInfo topic.
        """
        import rclpy

        first = None
        for conn, _, raw in self._reader.messages(connections=self._conns):
            if conn.msgtype == "sensor_msgs/msg/CameraInfo":
                first = (conn, bytes(raw))
                break
        if first is None or seconds <= 0:
            return 0
        conn, raw = first
        n = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._stop.is_set():
            if not rclpy.ok(context=self.node.context):
                break
            data = self._restamp(raw, conn.msgtype) if self._restamp is not None else raw
            self.publishers[conn.topic].publish(data)
            n += 1
            self._stop.wait(period)
        return n

    def play(self, on_publish: Optional[Callable[[str, int], None]] = None,
             hold: Optional[Callable[[], None]] = None) -> int:
        """
        Publish the bag (once, or until stopped with ``loop``); blocks; returns the count.

        Args:
            on_publish: optional callback ``(topic, bag_timestamp_ns)`` after each message.
            hold:
                optional blocking callable run once, after the messages of the first bag timestamp;
                playback resumes on the bag's clock from the moment it returns.

        """
        import rclpy

        while not self._stop.is_set():
            t0_bag = None
            t0_wall = time.monotonic()
            if self._restamp is not None:
                self._restamp.clear()
            for conn, t_bag, raw in self._reader.messages(connections=self._conns):
                if self._stop.is_set() or not rclpy.ok(context=self.node.context):
                    return self.published
                if t0_bag is None:
                    t0_bag = t_bag
                if hold is not None and t_bag != t0_bag:
                    hold()
                    hold = None
                    t0_bag, t0_wall = t_bag, time.monotonic()
                if not self.fast:
                    delay = t0_wall + (t_bag - t0_bag) * 1e-9 / self.rate - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return self.published
                if self._clock_pub is not None:
                    self._clock_msg.clock.sec, self._clock_msg.clock.nanosec = divmod(
                        int(t_bag), 10**9)
                    self._clock_pub.publish(self._clock_msg)
                data = bytes(raw)
                if self._restamp is not None:
                    data = self._restamp(data, conn.msgtype)
                self.publishers[conn.topic].publish(data)
                self.published += 1
                if on_publish is not None:
                    on_publish(conn.topic, t_bag)
            if not self.loop:
                break
        return self.published

    def wait_for_all_acked(self, timeout_s: float = 5.0) -> bool:
        """Wait until reliable subscribers acknowledged everything; True if all did in time."""
        from rclpy.duration import Duration

        ok = True
        for pub in self.publishers.values():
            ok &= bool(pub.wait_for_all_acked(Duration(nanoseconds=int(timeout_s * 1e9))))
        return ok

    def close(self) -> None:
        """Destroy the publishers and close the bag."""
        for pub in self.publishers.values():
            self.node.destroy_publisher(pub)
        self.publishers = {}
        if self._clock_pub is not None:
            self.node.destroy_publisher(self._clock_pub)
            self._clock_pub = None
        self._reader.close()


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the CLI."""
    p = argparse.ArgumentParser(prog="pose_tracker_player",
                                description="Replay a rosbag2 bag onto ROS 2 topics.")
    p.add_argument("bag", help="rosbag2 folder (mcap or sqlite3)")
    speed = p.add_mutually_exclusive_group()
    speed.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    speed.add_argument("--fast", action="store_true", help="publish as fast as possible")
    stamps = p.add_mutually_exclusive_group()
    stamps.add_argument("--restamp", action="store_true", help="rewrite header stamps to now")
    stamps.add_argument("--clock", action="store_true",
                        help="publish the bag's time on /clock (for nodes with "
                        "use_sim_time:=true)")
    p.add_argument("--loop", action="store_true",
                   help="replay forever (use --restamp so stamps keep increasing)")
    p.add_argument("--start-delay", type=float, default=0.5,
                   help="seconds to wait after creating publishers (discovery)")
    p.add_argument("--wait-for-subscribers", type=float, default=0.0, metavar="S",
                   help="wait up to S seconds for a subscriber on every topic")
    p.add_argument("--prime", type=float, default=0.0, metavar="S",
                   help="publish the first camera_info for S seconds before playback, so the "
                   "node can build its tracker before the first image")
    p.add_argument("--topics", nargs="+", default=None, help="only these topics")
    p.add_argument("--qos", choices=("auto", "reliable", "best_effort"), default="auto")
    p.add_argument("--ack-timeout", type=float, default=5.0,
                   help="seconds to wait for reliable acknowledgements at the end")
    p.add_argument("--hold-after-first", default=None, metavar="TOPIC",
                   help="after the first frame, wait for a PoseStamped on TOPIC (e.g. the "
                   "node's registered pose) before playing the rest")
    p.add_argument("--hold-timeout", type=float, default=600.0, metavar="S",
                   help="longest wait of --hold-after-first, seconds")
    return p


def pose_hold(node, topic: str, timeout_s: float) -> Callable[[], None]:
    """Return a callable that spins `node` until a PoseStamped arrives on `topic` (or timeout)."""
    import rclpy
    from geometry_msgs.msg import PoseStamped

    got = []
    node.create_subscription(PoseStamped, topic, got.append, 10)

    def hold() -> None:
        deadline = time.monotonic() + timeout_s
        while not got and time.monotonic() < deadline and rclpy.ok(context=node.context):
            rclpy.spin_once(node, timeout_sec=0.05)
        if not got:
            node.get_logger().warning(f"no message on {topic} within {timeout_s:g} s of the "
                                      "first frame; playing on")

    return hold


def main(argv: Optional[SequenceT[str]] = None) -> int:
    """Console-script entry point ``pose_tracker_player``; returns the exit status."""
    import rclpy
    from rclpy.utilities import remove_ros_args

    args_in = sys.argv if argv is None else [sys.argv[0], *argv]
    args = build_parser().parse_args(remove_ros_args(args_in)[1:])
    if args.loop and not args.restamp:
        print("warning: --loop without --restamp makes stamps jump back at every restart",
              file=sys.stderr)
    rclpy.init(args=args_in)
    node = rclpy.create_node("pose_tracker_player")
    player = None
    try:
        player = BagPlayer(node, args.bag, rate=args.rate, fast=args.fast,
                           restamp=args.restamp, loop=args.loop, topics=args.topics,
                           qos=args.qos, clock=args.clock)
        if args.wait_for_subscribers > 0 and not player.wait_for_subscribers(
                args.wait_for_subscribers):
            node.get_logger().warning("not every topic has a subscriber; playing anyway")
        time.sleep(max(0.0, args.start_delay))
        if args.prime > 0:
            player.prime_camera_info(args.prime)
        hold = (pose_hold(node, args.hold_after_first, args.hold_timeout)
                if args.hold_after_first else None)
        n = player.play(hold=hold)
        if not player.wait_for_all_acked(args.ack_timeout):
            node.get_logger().warning("some reliable messages were not acknowledged")
        node.get_logger().info(f"published {n} messages from {args.bag}")
        return 0
    except KeyboardInterrupt:
        return 130
    except (ValueError, RuntimeError, ReaderError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if player is not None:
            player.close()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
