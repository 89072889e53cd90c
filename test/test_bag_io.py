# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Round trips of RGB-D frames through rosbag2 files written with rosbags."""

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from pose_tracker.ros.tools import bag_io
from pose_tracker.ros.tools.bag_io import read_bag_frames, write_sequence_bag

K = np.array([[50.0, 0.0, 3.5], [0.0, 52.0, 2.5], [0.0, 0.0, 1.0]])


@dataclass
class F:
    rgb: np.ndarray
    depth: np.ndarray
    gt_pose: Optional[np.ndarray]


def _frames(n=3, h=5, w=7, with_gt=True):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        depth = rng.integers(0, 3000, (h, w)).astype(np.float32) / 1000.0  # whole mm
        depth[0, 0] = 0.0
        gt = None
        if with_gt:
            c, s = np.cos(0.3 * i), np.sin(0.3 * i)
            gt = np.array([[c, 0, s, 0.01 * i], [0, 1, 0, -0.02], [-s, 0, c, 0.5 + 0.1 * i],
                           [0, 0, 0, 1.0]])
        out.append(F(rgb, depth, gt))
    return out


def test_round_trip_16uc1(tmp_path):
    frames = _frames()
    bag = tmp_path / "bag"
    assert write_sequence_bag(frames, K, bag, rate_hz=10.0) == 3
    back = list(read_bag_frames(bag))
    assert len(back) == 3
    for i, (f, b) in enumerate(zip(frames, back)):
        stamp, rgb, depth, k, gt, mask = b
        assert mask is None  # these frames have no mask
        assert stamp == bag_io.DEFAULT_START_NS + i * 100_000_000
        np.testing.assert_array_equal(rgb, f.rgb)
        assert depth.dtype == np.float32
        np.testing.assert_allclose(depth, f.depth, atol=1e-6)
        np.testing.assert_array_equal(k, K)
        np.testing.assert_allclose(gt, f.gt_pose, atol=1e-12)


def test_all_topics_share_the_frame_stamp(tmp_path):
    bag = tmp_path / "bag"
    write_sequence_bag(_frames(2), K, bag, frame_id="cam", start_ns=5 * 10**9)
    ts = bag_io.typestore()
    stamps = {}
    with Reader(bag) as reader:
        assert {c.topic for c in reader.connections} == {
            bag_io.RGB_TOPIC, bag_io.DEPTH_TOPIC, bag_io.INFO_TOPIC, bag_io.GT_TOPIC}
        for conn, t, raw in reader.messages():
            msg = ts.deserialize_cdr(raw, conn.msgtype)
            assert msg.header.frame_id == "cam"
            assert bag_io.stamp_to_ns(msg.header.stamp) == t  # header stamp = log time
            stamps.setdefault(t, set()).add(conn.topic)
            if conn.topic == bag_io.INFO_TOPIC:
                assert msg.distortion_model == "plumb_bob" and (msg.width, msg.height) == (7, 5)
                np.testing.assert_array_equal(msg.d, np.zeros(5))
                np.testing.assert_array_equal(msg.p.reshape(3, 4)[:, :3], K)
            if conn.topic == bag_io.DEPTH_TOPIC:
                assert msg.encoding == "16UC1" and msg.step == 14
            if conn.topic == bag_io.RGB_TOPIC:
                assert msg.encoding == "rgb8" and msg.step == 21
    assert sorted(stamps) == [5 * 10**9, 5 * 10**9 + 33_333_333]
    assert all(len(topics) == 4 for topics in stamps.values())


def test_32fc1_nan_means_no_reading_and_missing_gt(tmp_path):
    frames = _frames(2, with_gt=False)
    frames[0].gt_pose = np.eye(4)
    frames[1].depth[1, 1] = np.nan
    frames[1].depth[2, 2] = 1.23456
    bag = tmp_path / "bag"
    write_sequence_bag(frames, K, bag, depth_encoding="32FC1", storage="sqlite3")
    back = list(read_bag_frames(bag))
    assert len(back) == 2
    np.testing.assert_allclose(back[0].gt_pose, np.eye(4))
    assert back[1].gt_pose is None
    expected = np.nan_to_num(frames[1].depth, nan=0.0)
    np.testing.assert_array_equal(back[1].depth, expected)  # float32 kept exactly


def test_no_gt_topic_and_errors(tmp_path):
    bag = tmp_path / "bag"
    write_sequence_bag(_frames(2), K, bag, gt_topic=False)
    with Reader(bag) as reader:
        assert bag_io.GT_TOPIC not in {c.topic for c in reader.connections}
    assert all(f.gt_pose is None for f in read_bag_frames(bag))
    with pytest.raises(FileExistsError):
        write_sequence_bag(_frames(1), K, bag)
    bad = _frames(2)
    bad[1].rgb = bad[1].rgb[:4]
    with pytest.raises(Exception, match="frame 1"):
        write_sequence_bag(bad, K, tmp_path / "bag2")


def test_cli_converts_a_real_clip(tmp_path, ycbv):
    from pose_tracker.data.sequence import Sequence

    seq_dir = ycbv / "sequences" / "0003"  # a single frame keeps this fast
    bag = tmp_path / "real"
    assert bag_io.main(["--seq", str(seq_dir), "--object", "025_mug", "--out", str(bag)]) == 0
    seq = Sequence(seq_dir, "025_mug")
    back = list(read_bag_frames(bag))
    assert len(back) == len(seq)
    f = seq.frame(0)
    np.testing.assert_array_equal(back[0].rgb, f.rgb)
    np.testing.assert_allclose(back[0].depth, f.depth, atol=1e-6)
    np.testing.assert_allclose(back[0].gt_pose, f.gt_pose, atol=1e-6)
    assert bag_io.main(["--seq", str(seq_dir), "--out", str(tmp_path / "b2")]) == 2


@dataclass
class FM(F):
    mask: Optional[np.ndarray] = None


def test_mask_topic_round_trip(tmp_path):
    frames = [FM(f.rgb, f.depth, f.gt_pose, None if i == 1 else f.depth > 1.0)
              for i, f in enumerate(_frames())]
    bag = tmp_path / "bag"
    write_sequence_bag(frames, K, bag)
    with Reader(bag) as reader:
        conns = {c.topic: c for c in reader.connections}
        assert conns[bag_io.MASK_TOPIC].msgtype == "sensor_msgs/msg/Image"
        assert conns[bag_io.MASK_TOPIC].msgcount == 2  # frame 1 has no mask
    back = list(read_bag_frames(bag))
    assert len(back) == 3 and back[1].mask is None
    for i in (0, 2):
        np.testing.assert_array_equal(back[i].mask, frames[i].mask)
