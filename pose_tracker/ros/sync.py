# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Approximate-time synchronisation of the node's image streams, behind one interface.

`make_image_sync` subscribes to the image topics and returns an `ImageSync` whichever backend
does the matching: message_filters' `ApproximateTimeSynchronizer` when it is installed and
wanted, otherwise `ApproximateTimeSync` below. Both call `on_pair(msg_0, ..., msg_{n-1})` for a
matched set and `on_time_jump(index, stamp_ns, newest_ns)` when a stamp jumps back more than
`loop_threshold` (bag loop, driver restart), and offer `add` (one message, as if from its
subscription) and `drain` (every message waiting in the subscriptions).

`ApproximateTimeSync` is pure Python (no ROS import): the fallback for message_filters when it
is not installed (PyPI ROS wheels). Same parameters and the same matching rule as
message_filters' Python implementation: one queue of at most `queue_size` messages per topic (the
oldest is dropped on overflow), and when a message arrives, the set of one message per topic that
contains it and whose stamps lie within `slop` of each other is emitted. Differences, on purpose,
for a tracker:

* among the candidate sets the one with the smallest spread (max stamp - min stamp) is emitted,
  not the first one found, and a spread equal to `slop` matches (so `slop=0` pairs equal stamps);
* after a match every queued message not newer than the matched one is dropped on each topic (the
  C++ policy's behaviour), so frames are never emitted out of order;
* a stamp more than `loop_threshold` older than the newest stamp seen on its topic means the source
  restarted (a bag played in a loop, a camera driver restart): all queues are cleared and the
  `on_reset` callback is told, instead of the new messages being starved by the old ones;
* a message not newer than the last emitted set on its topic (late or out of order) is dropped.

Every drop is counted by reason in `SyncStats`, which the node reports on /diagnostics.
"""

from dataclasses import dataclass, field
import functools
import itertools
from typing import Any, Callable, Dict, List, Optional, Sequence

from pose_tracker.ros.conversions import stamp_to_ns

#: Outcomes of `ApproximateTimeSync.add`.
QUEUED = "queued"
MATCHED = "matched"
LATE = "late"


@dataclass
class SyncStats:
    """
    Counters of an `ApproximateTimeSync`.

    Attributes:
        received: messages given to `add`, all topics.
        matched: sets emitted.
        dropped: messages dropped without being emitted, by reason: "overflow" (queue full),
            "late" (not newer than the last emitted set), "superseded" (older than an emitted
            set), "reset" (cleared by a time jump).
        resets: times the queues were cleared because time went backwards.

    """

    received: int = 0
    matched: int = 0
    dropped: Dict[str, int] = field(default_factory=dict)
    resets: int = 0

    def drop(self, reason: str, n: int = 1) -> None:
        """Count `n` dropped messages under `reason`."""
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + n


class ApproximateTimeSync:
    """
    Match messages of `n_topics` streams whose stamps are within `slop` of each other.

    Args:
        n_topics: number of input streams (>= 1).
        queue_size: messages kept per stream while waiting for a match (>= 1).
        slop: largest spread of stamps within a set, seconds (>= 0).
        callback: called as `callback(msg_0, ..., msg_{n-1})` for every matched set.
        loop_threshold: seconds; a stamp this much older than the newest one seen on its topic
            clears all queues (see module docstring). Smaller backward steps are treated as
            out-of-order delivery.
        on_reset: optional `on_reset(topic_index, stamp_ns, newest_ns)`, called when the queues
            were cleared because time went backwards.

    """

    def __init__(self, n_topics: int, queue_size: int, slop: float,
                 callback: Callable[..., None], loop_threshold: float = 1.0,
                 on_reset: Optional[Callable[[int, int, int], None]] = None):
        if n_topics < 1:
            raise ValueError(f"n_topics must be >= 1, got {n_topics}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not slop >= 0.0:
            raise ValueError(f"slop must be >= 0 seconds, got {slop}")
        self.n_topics = int(n_topics)
        self.queue_size = int(queue_size)
        self.slop_ns = int(round(slop * 1e9))
        self.loop_threshold_ns = int(round(loop_threshold * 1e9))
        self.callback = callback
        self.on_reset = on_reset
        self.stats = SyncStats()
        # One dict stamp_ns -> message per topic (like message_filters); insertion order is
        # irrelevant, every lookup sorts or scans.
        self.queues: List[Dict[int, Any]] = [{} for _ in range(self.n_topics)]
        self._newest: List[Optional[int]] = [None] * self.n_topics
        self._last_emitted: List[Optional[int]] = [None] * self.n_topics

    def reset(self) -> None:
        """Forget every queued message and the time history (e.g. after a bag loop)."""
        self.stats.drop("reset", sum(len(q) for q in self.queues))
        for q in self.queues:
            q.clear()
        self._newest = [None] * self.n_topics
        self._last_emitted = [None] * self.n_topics

    def add(self, index: int, stamp_ns: int, msg: Any) -> str:
        """
        Queue one message and emit the best matching set if there is one.

        Args:
            index: which stream the message belongs to, 0 <= index < n_topics.
            stamp_ns: its header stamp, integer nanoseconds.
            msg: the message (opaque here).

        Returns:
            "matched" when a set was emitted, "late" when the message was dropped because it is
            not newer than the last emitted set, otherwise "queued".

        """
        stamp_ns = int(stamp_ns)
        self.stats.received += 1
        newest = self._newest[index]
        if newest is not None and stamp_ns < newest - self.loop_threshold_ns:
            self.reset()
            self.stats.resets += 1
            if self.on_reset is not None:
                self.on_reset(index, stamp_ns, newest)
        last = self._last_emitted[index]
        if last is not None and stamp_ns <= last:
            self.stats.drop("late")
            return LATE
        if self._newest[index] is None or stamp_ns > self._newest[index]:
            self._newest[index] = stamp_ns
        queue = self.queues[index]
        queue[stamp_ns] = msg
        while len(queue) > self.queue_size:
            del queue[min(queue)]
            self.stats.drop("overflow")
        if stamp_ns not in queue:
            # The new message was the oldest one of an overfull queue.
            return QUEUED
        best = self._best_set(index, stamp_ns)
        if best is None:
            return QUEUED
        msgs = [self.queues[i][t] for i, t in enumerate(best)]
        for i, t in enumerate(best):
            q = self.queues[i]
            old = [s for s in q if s <= t]
            for s in old:
                del q[s]
            self.stats.drop("superseded", len(old) - 1)
            self._last_emitted[i] = t
        self.stats.matched += 1
        self.callback(*msgs)
        return MATCHED

    def _best_set(self, index: int, stamp_ns: int) -> Optional[Sequence[int]]:
        """Stamps (one per topic) of the smallest-spread set within slop containing `stamp_ns`."""
        candidates = []
        for i, q in enumerate(self.queues):
            if i == index:
                candidates.append([stamp_ns])
                continue
            near = [s for s in q if abs(s - stamp_ns) <= self.slop_ns]
            if not near:
                return None
            candidates.append(near)
        best, best_spread = None, None
        # Queues are short (queue_size per topic, typically 2-3 topics): brute force is cheap
        # and obviously right.
        for combo in itertools.product(*candidates):
            spread = max(combo) - min(combo)
            if spread <= self.slop_ns and (best_spread is None or spread < best_spread or (
                    spread == best_spread and max(combo) > max(best))):
                best, best_spread = combo, spread
        return best


# ---------------------------------------------------------------------------------------------
# One interface for both backends, fed by rclpy subscriptions.

#: `on_time_jump(topic_index, stamp_ns, newest_ns)`: a stamp went back in time.
TimeJumpCallback = Callable[[int, int, int], None]


def import_message_filters():
    """Return the message_filters package, or None when it is not installed."""
    try:
        import message_filters
    except ImportError:
        return None
    return message_filters


def take_message(subscription):
    """Take one pending message from an rclpy subscription without waiting; None when none."""
    if subscription is None:
        return None
    try:
        with subscription.handle:
            info = subscription.handle.take_message(subscription.msg_type, subscription.raw)
    except Exception:  # destroyed, or an rclpy without this internal API: nothing to drain
        return None
    return None if info is None else info[0]


class ImageSync:
    """
    Subscriptions of N image topics and the synchroniser that matches their messages.

    Attributes:
        backend: "message_filters" or "pose_tracker.ros.sync" (reported on /diagnostics).
        stats: `SyncStats` of our synchroniser; None with message_filters (it counts nothing).
    """

    backend = ""
    stats: Optional[SyncStats] = None

    def add(self, index: int, msg) -> None:
        """Give one message to the synchroniser as if it had arrived on topic `index`."""
        raise NotImplementedError

    def subscriptions(self) -> List[Any]:
        """Return the rclpy subscriptions, one per topic (None where unknown)."""
        raise NotImplementedError

    @property
    def dropped(self) -> Optional[Dict[str, int]]:
        """Messages dropped by the synchroniser, by reason; None when it does not count."""
        return None if self.stats is None else dict(self.stats.dropped)

    def drain(self, max_messages: int = 200) -> None:
        """
        Add every message waiting in the subscriptions (at most `max_messages` rounds).

        The newest set is then matched now rather than in later callbacks.
        """
        subs = self.subscriptions()
        for _ in range(max_messages):
            took = False
            for index, sub in enumerate(subs):
                msg = take_message(sub)
                if msg is not None:
                    took = True
                    self.add(index, msg)
            if not took:
                return


class OwnImageSync(ImageSync):
    """
    `ApproximateTimeSync` fed by one rclpy subscription per topic.

    Args:
        node: the rclpy node that owns the subscriptions.
        msg_type: message type of every topic (e.g. sensor_msgs/Image).
        topics: topic names, one per stream.
        qos: QoS profile of the subscriptions.
        queue_size, slop, loop_threshold: see `ApproximateTimeSync` (slop and loop_threshold
            in seconds).
        on_pair: called with one message per topic for every matched set.
        on_time_jump: see `TimeJumpCallback`; the queues were cleared.
        screen: optional `screen(index, stamp_ns) -> bool`: True drops the message before it
            is queued (e.g. a zero or repeated stamp).
        on_late: optional `on_late(index)`: a message was dropped as late (not newer than the
            last matched set).
    """

    backend = "pose_tracker.ros.sync"

    def __init__(self, node, msg_type, topics: Sequence[str], qos, queue_size: int,
                 slop: float, on_pair: Callable[..., None], on_time_jump: TimeJumpCallback,
                 screen: Optional[Callable[[int, int], bool]] = None,
                 on_late: Optional[Callable[[int], None]] = None, loop_threshold: float = 1.0):
        self.sync = ApproximateTimeSync(len(topics), queue_size, slop, on_pair,
                                        loop_threshold=loop_threshold, on_reset=on_time_jump)
        self.stats = self.sync.stats
        self._screen = screen
        self._on_late = on_late
        self._subs = [node.create_subscription(msg_type, topic,
                                               functools.partial(self.add, i), qos)
                      for i, topic in enumerate(topics)]

    def add(self, index: int, msg) -> None:
        """Screen one message, then queue it (a matched set is emitted at once)."""
        stamp = stamp_to_ns(msg.header.stamp)
        if self._screen is not None and self._screen(index, stamp):
            return
        if self.sync.add(index, stamp, msg) == LATE and self._on_late is not None:
            self._on_late(index)

    def subscriptions(self) -> List[Any]:
        """Return the rclpy subscriptions, one per topic."""
        return list(self._subs)


class MessageFiltersImageSync(ImageSync):
    """
    message_filters' `ApproximateTimeSynchronizer` over `message_filters.Subscriber`s.

    message_filters neither screens stamps nor notices time jumps: a hook registered on each
    subscriber before the synchroniser clears its queues (in place) on a jump back of more
    than `loop_threshold` seconds and calls `on_time_jump`. Zero, repeated and late stamps
    reach `on_pair`, whose owner refuses them.

    Args:
        message_filters: the message_filters module (or a stand-in with its API).
        node, msg_type, topics, qos, queue_size, slop, on_pair, on_time_jump,
            loop_threshold: as for `OwnImageSync`.
    """

    backend = "message_filters"

    def __init__(self, message_filters, node, msg_type, topics: Sequence[str], qos,
                 queue_size: int, slop: float, on_pair: Callable[..., None],
                 on_time_jump: TimeJumpCallback, loop_threshold: float = 1.0):
        self._on_time_jump = on_time_jump
        self._loop_threshold_ns = int(round(loop_threshold * 1e9))
        self._newest_ns: List[Optional[int]] = [None] * len(topics)
        self.subscribers = [message_filters.Subscriber(node, msg_type, topic, qos_profile=qos)
                            for topic in topics]
        # Registered before the synchroniser's own callback, so a time jump clears its queues
        # before the new message is queued.
        for i, sub in enumerate(self.subscribers):
            sub.registerCallback(self._before_queue, i)
        self.synchronizer = message_filters.ApproximateTimeSynchronizer(
            self.subscribers, queue_size, slop)
        self.synchronizer.registerCallback(on_pair)

    def _before_queue(self, msg, index: int) -> None:
        """Time-jump detection (called before message_filters queues `msg`)."""
        stamp = stamp_to_ns(msg.header.stamp)
        if stamp == 0:
            return  # not a time jump: the pair's owner refuses such pairs and says why
        newest = self._newest_ns[index]
        if newest is not None and stamp < newest - self._loop_threshold_ns:
            for queue in getattr(self.synchronizer, "queues", []):
                queue.clear()  # in place: message_filters holds references to these dicts
            self._newest_ns = [None] * len(self._newest_ns)
            self._on_time_jump(index, stamp, newest)
        if self._newest_ns[index] is None or stamp > self._newest_ns[index]:
            self._newest_ns[index] = stamp

    def add(self, index: int, msg) -> None:
        """Signal one message on subscriber `index` (hook, then the synchroniser)."""
        sub = self.subscribers[index]
        (getattr(sub, "signalMessage", None) or getattr(sub, "signal"))(msg)

    def subscriptions(self) -> List[Any]:
        """Return the rclpy subscriptions inside the message_filters subscribers."""
        return [getattr(s, "sub", None) for s in self.subscribers]


def make_image_sync(node, msg_type, topics: Sequence[str], qos, queue_size: int, slop: float,
                    on_pair: Callable[..., None], on_time_jump: TimeJumpCallback,
                    screen: Optional[Callable[[int, int], bool]] = None,
                    on_late: Optional[Callable[[int], None]] = None,
                    loop_threshold: float = 1.0,
                    use_message_filters: bool = True) -> ImageSync:
    """
    Subscribe to `topics` and synchronise them: message_filters when installed and wanted.

    Args:
        node, msg_type, topics, qos, queue_size, slop, on_pair, on_time_jump, screen,
            on_late, loop_threshold: see `OwnImageSync` (`screen` and `on_late` are used by
            our synchroniser only).
        use_message_filters: False always uses our synchroniser.

    Returns:
        The `ImageSync`; its `backend` says which one.
    """
    mf = import_message_filters() if use_message_filters else None
    if mf is not None:
        return MessageFiltersImageSync(mf, node, msg_type, topics, qos, queue_size, slop,
                                       on_pair, on_time_jump, loop_threshold=loop_threshold)
    return OwnImageSync(node, msg_type, topics, qos, queue_size, slop, on_pair, on_time_jump,
                        screen=screen, on_late=on_late, loop_threshold=loop_threshold)
