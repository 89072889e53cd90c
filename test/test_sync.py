# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of the pure-Python approximate-time synchroniser (no ROS needed)."""

import pytest

from pose_tracker.ros.sync import ApproximateTimeSync, LATE, MATCHED, QUEUED

MS = 1_000_000  # nanoseconds per millisecond


class Recorder:
    def __init__(self):
        self.sets = []
        self.resets = []

    def __call__(self, *msgs):
        self.sets.append(msgs)

    def on_reset(self, index, stamp, newest):
        self.resets.append((index, stamp, newest))


def make(n=2, queue_size=5, slop=0.01, **kw):
    rec = Recorder()
    return ApproximateTimeSync(n, queue_size, slop, rec, on_reset=rec.on_reset, **kw), rec


def test_pairs_within_slop_are_matched():
    sync, rec = make()
    assert sync.add(0, 100 * MS, "rgb100") == QUEUED
    assert sync.add(1, 104 * MS, "d104") == MATCHED
    assert rec.sets == [("rgb100", "d104")]
    # Exactly equal stamps and slop 0 match too.
    sync0, rec0 = make(slop=0.0)
    sync0.add(1, 5 * MS, "d")
    sync0.add(0, 5 * MS, "c")
    assert rec0.sets == [("c", "d")]


def test_outside_slop_is_not_matched():
    sync, rec = make(slop=0.01)
    sync.add(0, 100 * MS, "rgb100")
    assert sync.add(1, 111 * MS, "d111") == QUEUED
    assert rec.sets == []
    # The next RGB frame close to the queued depth matches it; the old RGB is superseded.
    assert sync.add(0, 113 * MS, "rgb113") == MATCHED
    assert rec.sets == [("rgb113", "d111")]
    assert sync.stats.dropped.get("superseded") == 1
    assert sync.queues == [{}, {}]


def test_smallest_spread_wins():
    sync, rec = make(slop=0.02)
    sync.add(0, 100 * MS, "c100")
    sync.add(0, 110 * MS, "c110")  # neither has a partner yet
    assert rec.sets == []
    sync.add(1, 109 * MS, "d109")
    # Both are within slop; c110 is closer.
    assert rec.sets == [("c110", "d109")]
    # c100 is older than the emitted set: dropped, never emitted later.
    assert sync.queues[0] == {}


def test_three_topics():
    sync, rec = make(n=3, slop=0.005)
    sync.add(0, 10 * MS, "a")
    sync.add(2, 12 * MS, "c")
    assert rec.sets == []
    sync.add(1, 20 * MS, "b_far")
    assert rec.sets == []
    sync.add(1, 14 * MS, "b")
    assert rec.sets == [("a", "b", "c")]


def test_queue_overflow_drops_oldest():
    sync, rec = make(queue_size=3)
    for i in range(5):
        sync.add(0, (100 + 33 * i) * MS, f"c{i}")
    assert sorted(sync.queues[0]) == [166 * MS, 199 * MS, 232 * MS]
    assert sync.stats.dropped["overflow"] == 2
    sync.add(1, 101 * MS, "d_for_c0")  # its partner was dropped
    assert rec.sets == []
    sync.add(1, 200 * MS, "d")
    assert rec.sets == [("c3", "d")]


def test_out_of_order_stamps():
    sync, rec = make(slop=0.005)
    sync.add(0, 200 * MS, "c200")
    sync.add(0, 166 * MS, "c166")  # arrives late but before its depth: still usable
    sync.add(1, 167 * MS, "d167")
    assert rec.sets == [("c166", "d167")]
    sync.add(1, 201 * MS, "d201")
    assert rec.sets[-1] == ("c200", "d201")
    # Older than what was already emitted: dropped as late, never emitted.
    assert sync.add(0, 190 * MS, "c190") == LATE
    assert sync.add(1, 190 * MS, "d190") == LATE
    assert len(rec.sets) == 2
    assert sync.stats.dropped["late"] == 2
    assert sync.stats.resets == 0


def test_bag_loop_resets_and_resumes():
    sync, rec = make(slop=0.005)
    for t in (1000, 1033, 1066):
        sync.add(0, t * MS, f"c{t}")
        sync.add(1, t * MS, f"d{t}")
    assert len(rec.sets) == 3
    sync.add(0, 1099 * MS, "c1099")  # left unmatched when the bag loops
    # The bag restarts 1.1 s earlier.
    sync.add(0, 0, "c0")
    assert sync.stats.resets == 1
    assert rec.resets == [(0, 0, 1099 * MS)]
    assert sync.stats.dropped["reset"] == 1
    assert sync.add(1, 1 * MS, "d1") == MATCHED
    assert rec.sets[-1] == ("c0", "d1")
    # And keeps going.
    sync.add(1, 33 * MS, "d33")
    sync.add(0, 33 * MS, "c33")
    assert rec.sets[-1] == ("c33", "d33")
    assert sync.stats.resets == 1


def test_small_backward_step_is_not_a_loop():
    sync, rec = make(slop=0.005, loop_threshold=1.0)
    sync.add(0, 2000 * MS, "c")
    sync.add(0, 1500 * MS, "c_early")  # 0.5 s back: out of order, not a restart
    assert sync.stats.resets == 0
    assert len(sync.queues[0]) == 2


def test_invalid_arguments():
    with pytest.raises(ValueError):
        ApproximateTimeSync(0, 5, 0.01, print)
    with pytest.raises(ValueError):
        ApproximateTimeSync(2, 0, 0.01, print)
    with pytest.raises(ValueError):
        ApproximateTimeSync(2, 5, -0.1, print)


def test_stream_at_30hz_with_jitter_matches_every_frame():
    sync, rec = make(slop=0.02, queue_size=5)
    n = 200
    for i in range(n):
        t = i * 33_333_333
        # Depth is 5 ms behind colour and arrives first every other frame.
        order = [(0, t), (1, t + 5 * MS)] if i % 2 else [(1, t + 5 * MS), (0, t)]
        for idx, s in order:
            sync.add(idx, s, (idx, i))
    assert len(rec.sets) == n
    assert all(a[1] == b[1] for a, b in rec.sets)
    assert sync.stats.dropped == {}
