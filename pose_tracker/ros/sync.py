# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Approximate-time synchronisation of N message streams, pure Python (no ROS import).

The fallback for `message_filters.ApproximateTimeSynchronizer` when message_filters is not
installed (PyPI ROS wheels). Same parameters and the same matching rule as its Python
implementation: one queue of at most `queue_size` messages per topic (the oldest is dropped on
overflow), and when a message arrives, the set of one message per topic that contains it and whose
stamps lie within `slop` of each other is emitted. Differences, on purpose, for a tracker:

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
import itertools
from typing import Any, Callable, Dict, List, Optional, Sequence

#: Outcomes of `ApproximateTimeSync.add`.
QUEUED = "queued"
MATCHED = "matched"
LATE = "late"


@dataclass
class SyncStats:
    """
    Counters of an `ApproximateTimeSync`.

    Attributes
    ----------
    received
        messages given to `add`, all topics.
    matched
        sets emitted.
    dropped
        messages dropped without being emitted, by reason: "overflow" (queue full),
        "late" (not newer than the last emitted set), "superseded" (older than an emitted
        set), "reset" (cleared by a time jump).
    resets
        times the queues were cleared because time went backwards.

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

    Parameters
    ----------
    n_topics
        number of input streams (>= 1).
    queue_size
        messages kept per stream while waiting for a match (>= 1).
    slop
        largest spread of stamps within a set, seconds (>= 0).
    callback
        called as `callback(msg_0, ..., msg_{n-1})` for every matched set.
    loop_threshold
        seconds; a stamp this much older than the newest one seen on its topic
        clears all queues (see module docstring). Smaller backward steps are treated as
        out-of-order delivery.
    on_reset
        optional `on_reset(topic_index, stamp_ns, newest_ns)`, called when the queues
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

        Parameters
        ----------
        index
            which stream the message belongs to, 0 <= index < n_topics.
        stamp_ns
            its header stamp, integer nanoseconds.
        msg
            the message (opaque here).

        Returns
        -------
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
