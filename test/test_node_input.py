# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Input that is quietly wrong, stale frames and the per-frame status (issue 14), in-process."""

import time
from types import SimpleNamespace

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

from builtin_interfaces.msg import Time  # noqa: E402
from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import RegionOfInterest  # noqa: E402
# The fake tracker, the harness and the message makers of the node's main test module.
from test_node import (FRAME, H, START, W, depth_msg, feed, info_msg,  # noqa: E402
                       initial_pose_msg, ready, rgb_msg)

from pose_tracker.pose_checks import initial_pose_problem  # noqa: E402
from pose_tracker.ros import diagnostics as diag  # noqa: E402
from pose_tracker.ros import input_checks as ic  # noqa: E402


def values(status):
    return {kv.key: kv.value for kv in status.values}


def diag_values(h):
    h.node.publish_diagnostics()
    n = len(h.diags)
    assert h.spin_until(lambda: len(h.diags) > n)
    return values(h.diags[-1].status[0])


# ---------------------------------------------------------------- RGB / depth frame ids
def test_frame_id_mismatch_skipped_once_and_counted(harness):
    h = harness()
    ready(h)
    for i in range(3):
        h.node.process_frame(rgb_msg(i), depth_msg(i, frame="camera_depth_optical_frame"))
    assert h.node.log_once.count("frame_id_mismatch") == 1
    assert h.node.stats.skipped["frame_id_mismatch"] == 3 and h.tracker.frames == []
    text = h.node.log_once.records[-1][2]
    assert "camera_depth_optical_frame" in text and "accept_frame_id_mismatch" in text
    assert diag_values(h)["skipped.frame_id_mismatch"] == "3"
    # The parameter accepts it: tracked, one warning, counted as an event.
    h.node.set_parameters([Parameter("accept_frame_id_mismatch", value=True)])
    for i in range(3, 5):
        h.node.process_frame(rgb_msg(i), depth_msg(i, frame="camera_depth_optical_frame"))
    assert len(h.tracker.frames) == 2 and h.node.log_once.count("frame_id_mismatch_accepted") == 1
    assert diag_values(h)["events.frame_id_mismatch_accepted"] == "2"


# ---------------------------------------------------------------- stamps
def zero_stamped(msg):
    msg.header.stamp = Time(sec=0, nanosec=0)
    return msg


def test_zero_stamps_said_plainly(harness):
    h = harness()
    ready(h)
    for i in range(5):
        h.node.sync.add(0, zero_stamped(rgb_msg(i)))
        h.node.sync.add(1, zero_stamped(depth_msg(i)))
    assert h.node.log_once.count("stamp_zero") == 1
    assert "does not stamp its images" in dict(
        (k, m) for k, _, m in h.node.log_once.records)["stamp_zero"]
    # Not mistaken for out-of-order delivery or a restart.
    assert h.node.log_once.count("late") == 0 and h.node.log_once.count("time_backwards") == 0
    assert h.node.stats.skipped["stamp_zero"] == 10 and h.tracker.frames == []
    assert h.node.state == diag.TRACKING
    feed(h, 1)  # stamped frames are tracked again
    assert len(h.tracker.frames) == 1


def test_repeated_stamps_said_plainly(harness):
    h = harness()
    ready(h)
    feed(h, 1)
    for _ in range(3):
        feed(h, 1)  # the driver publishes the same stamp again
    assert h.node.log_once.count("stamp_repeated") == 1 and h.node.log_once.count("late") == 0
    assert h.node.stats.skipped["stamp_repeated"] == 6
    assert len(h.tracker.frames) == 1
    # The same in the node's own check (message_filters path, direct calls).
    h.node.process_frame(rgb_msg(2), depth_msg(2))
    h.node.process_frame(rgb_msg(2), depth_msg(2))
    assert h.node.stats.skipped["stamp_repeated"] == 7 and len(h.tracker.frames) == 2
    assert diag_values(h)["skipped.stamp_repeated"] == "7"


# ---------------------------------------------------------------- camera_info
def full_info(fx=30.0, d=(), p=None, binning=(0, 0), roi=None, h=H, w=W):
    m = info_msg(fx, h, w)
    m.distortion_model = "plumb_bob"
    m.d = list(d)
    if p is not None:
        m.p = list(p)
    m.binning_x, m.binning_y = binning
    if roi is not None:
        m.roi = RegionOfInterest(x_offset=roi[0], y_offset=roi[1], width=roi[2], height=roi[3])
    return m


def p_of(fx, cx, cy):
    return [fx, 0.0, cx, 0.0, 0.0, fx, cy, 0.0, 0.0, 0.0, 1.0, 0.0]


def test_intrinsics_choice():
    # Raw image, distortion and a P that differs: K is used, both said.
    K, size, notes = ic.intrinsics(full_info(d=(0.1, -0.2, 0, 0, 0), p=p_of(28.0, 15.0, 11.0)),
                                   rectified=False)
    assert K[0, 0] == 30.0 and size == (H, W)
    kinds = dict(notes)
    assert set(kinds) == {"distortion", "p_vs_k"}
    assert "uses K" in kinds["distortion"] and "K is used" in kinds["p_vs_k"]
    # Rectified image: P's left 3x3, no distortion complaint (the image is undistorted).
    K, size, notes = ic.intrinsics(full_info(d=(0.1, -0.2, 0, 0, 0), p=p_of(28.0, 15.0, 11.0)),
                                   rectified=True)
    np.testing.assert_allclose(K, [[28.0, 0, 15.0], [0, 28.0, 11.0], [0, 0, 1]])
    assert notes == []
    K, _, notes = ic.intrinsics(full_info(), rectified=True)  # no P: K, said
    assert K[0, 0] == 30.0 and [k for k, _ in notes] == ["no_p"]
    # Clean raw camera_info (P == K, no distortion): nothing to say.
    assert ic.intrinsics(full_info(p=p_of(30.0, W / 2, H / 2)), rectified=False)[2] == []
    # Binning 2x2 of a full-size calibration: K halved, image half size.
    K, size, notes = ic.intrinsics(full_info(binning=(2, 2)), rectified=False)
    assert size == (H // 2, W // 2) and K[0, 0] == 15.0 and K[0, 2] == W / 4
    assert [k for k, _ in notes] == ["binning_roi"] and "fx=15.0" in notes[0][1]
    # ROI: principal point shifted by the offset, size = ROI.
    K, size, notes = ic.intrinsics(full_info(roi=(4, 2, 16, 12)), rectified=False)
    assert size == (12, 16) and (K[0, 2], K[1, 2]) == (W / 2 - 4, H / 2 - 2)
    assert ic.is_rectified_topic("/camera/camera/color/image_rect")
    assert not ic.is_rectified_topic("/camera/camera/color/image_raw")


def test_camera_info_notes_logged_once_and_rectified_uses_p(harness):
    h = harness()
    for _ in range(3):
        h.node.on_camera_info(full_info(d=(0.1, 0, 0, 0, 0)))
    assert h.tracker.K[0, 0] == 30.0
    assert h.node.log_once.count("camera_info.distortion") == 1
    assert diag_values(h)["events.camera_info.distortion"] == "3"
    h = harness(overrides={"image_rectified": "true"})
    assert h.node.rectified
    h.node.on_camera_info(full_info(d=(0.1, 0, 0, 0, 0), p=p_of(28.0, 15.0, 11.0)))
    assert h.tracker.K[0, 0] == 28.0 and h.node.log_once.count("camera_info.distortion") == 0
    bad = h.node.set_parameters([Parameter("image_rectified", value="maybe")])
    assert not bad[0].successful


# ---------------------------------------------------------------- initial pose
def pose_at(x, y, z):
    T = np.eye(4)
    T[:3, 3] = (x, y, z)
    return T


def test_initial_pose_refused_with_reason(harness):
    h = harness()
    ready(h, pose=False)
    h.node.process_frame(rgb_msg(0), depth_msg(0))  # depth 0.6 m everywhere
    cases = [(pose_at(0, 0, -0.5), "behind the camera"),
             (pose_at(0, 0, 0.0), "behind the camera"),
             (pose_at(2.0, 0, 0.6), "outside the 32x24 image"),
             (pose_at(0, 0, 6.0), "far outside the depth range")]
    for n, (T, reason) in enumerate(cases, 1):
        h.node.on_initial_pose(initial_pose_msg(T))
        assert h.node.state == diag.WAITING_FOR_POSE, reason
        assert h.node.stats.events["initial_pose_refused"] == n
    assert initial_pose_problem(pose_at(0, 0, -0.5)).startswith("the object centre is at")
    # At run time the parameter is refused with the reason too.
    bad = h.node.set_parameters([Parameter("initial_pose",
                                           value=[0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0])])
    assert not bad[0].successful and "behind the camera" in bad[0].reason
    assert diag_values(h)["events.initial_pose_refused"] == "4"
    h.node.on_initial_pose(initial_pose_msg(START))
    assert h.node.state == diag.TRACKING


def test_initial_pose_parameter_behind_camera_refused_at_start(context):
    from pose_tracker.ros.node import PoseTrackerNode
    from pose_tracker.ros.tracker_setup import TrackerSetup

    with pytest.raises(ValueError, match="behind the camera"):
        PoseTrackerNode(tracker_factory=lambda p: TrackerSetup(build=None), context=context,
                        parameter_overrides=[Parameter(
                            "initial_pose", value=[0.0, 0.0, -0.6, 0.0, 0.0, 0.0, 1.0])])


def base_link_pose(T=START):
    m = initial_pose_msg(T)
    m.header.frame_id = "base_link"
    return m


class FakeBuffer:
    """tf2_ros.Buffer stand-in: camera <- base_link is a 1 m shift along the camera's z."""

    def __init__(self, known=True):
        self.known, self.calls = known, []

    def lookup_transform(self, target, source, when, timeout=None):
        self.calls.append((target, source))
        if not self.known:
            raise LookupError(f"'{source}' does not exist")
        tf = SimpleNamespace(translation=SimpleNamespace(x=0.0, y=0.0, z=-0.4),
                             rotation=SimpleNamespace(x=0.0, y=0.0, z=0.0, w=1.0))
        return SimpleNamespace(transform=tf)


def test_initial_pose_in_another_frame(harness):
    h = harness()
    ready(h, pose=False)
    # Without tf2_ros (the PyPI wheels) the pose is refused, not used as if in the camera frame.
    h.node.tf_buffer = None
    h.node.on_initial_pose(base_link_pose())
    assert h.node.state == diag.WAITING_FOR_POSE
    assert h.node.stats.events["initial_pose_refused"] == 1
    # With TF: transformed into the image frame.
    h.node.tf_buffer = FakeBuffer()
    h.node.on_initial_pose(base_link_pose(pose_at(0.01, 0.0, 1.0)))
    assert h.node.state == diag.TRACKING
    assert h.node.tf_buffer.calls == [(FRAME, "base_link")]
    np.testing.assert_allclose(h.tracker.resets[-1][:3, 3], [0.01, 0.0, 0.6])
    # TF without that frame: refused with the reason.
    h.node.tf_buffer = FakeBuffer(known=False)
    h.node.on_initial_pose(base_link_pose())
    assert h.node.stats.events["initial_pose_refused"] == 2
    # A pose in the image frame (or with an empty frame) needs no TF.
    h.node.tf_buffer = FakeBuffer()
    h.node.on_initial_pose(initial_pose_msg())
    assert h.node.tf_buffer.calls == []


# ---------------------------------------------------------------- LOST at once
def test_depth_at_far_limit_is_lost_at_once(harness):
    h = harness()
    ready(h)
    for i in range(4):
        h.node.process_frame(rgb_msg(i), depth_msg(i, mm=10_000))  # everything at 10 m
    h.spin_until(lambda: False, timeout=0.2)
    assert h.node.state == diag.LOST and h.poses == [] and h.tracker.frames == []
    assert h.node.stats.skipped["no_depth_support"] == 1
    assert h.node.stats.skipped["lost"] == 3


# ---------------------------------------------------------------- stale frames, status
def publish_pairs(h, frames):
    for i in frames:
        h.rgb_pub.publish(rgb_msg(i))
        h.depth_pub.publish(depth_msg(i))


def test_newest_pair_tracked_and_stale_ones_dropped(harness):
    h = harness()
    ready(h)
    statuses = []
    h.peer.create_subscription(DiagnosticStatus, "/pose_tracker/status", statuses.append, 10)
    publish_pairs(h, range(1, 6))  # five pairs arrive while the node is busy
    time.sleep(0.5)  # all of them are in the subscriptions' queues
    assert h.spin_until(lambda: h.poses)
    h.spin_until(lambda: False, timeout=0.3)
    assert len(h.tracker.frames) == 1 and len(h.poses) == 1
    assert (h.poses[0].header.stamp.sec, h.poses[0].header.stamp.nanosec) == (100, 166_666_665)
    assert h.node.stats.skipped["stale"] == 4 and h.node.log_once.count("stale") == 1
    v = diag_values(h)
    assert v["skipped.stale"] == "4" and float(v["frame_age_ms"]) > 0
    assert float(v["frame_age_ms_max"]) >= float(v["frame_age_ms_mean"]) > 0
    assert h.diags[-1].status[0].level == b"\x00"  # stale drops are not an input error
    # One status per tracked frame: OK, published, with its age.
    assert h.spin_until(lambda: statuses)
    s = statuses[-1]
    assert s.level == b"\x00" and s.message == diag.TRACKING and s.hardware_id == FRAME
    sv = values(s)
    assert sv["published"] == "true" and sv["quality"] == "0.900"
    assert float(sv["frame_age_ms"]) > 0 and sv["stamp"] == "100.166667"
    # A rejected frame: ERROR with the reason; waiting: WARN.
    h.node.process_frame(rgb_msg(7), depth_msg(7, frame="other"))
    assert h.spin_until(lambda: statuses[-1].level == b"\x02")
    assert statuses[-1].message == "skipped: frame_id_mismatch"
    assert values(statuses[-1])["published"] == "false"


def test_every_pair_tracked_without_drop_stale_frames(harness):
    h = harness(overrides={"drop_stale_frames": False})
    ready(h)
    publish_pairs(h, range(1, 5))
    time.sleep(0.5)
    assert h.spin_until(lambda: len(h.poses) == 4)
    assert "stale" not in h.node.stats.skipped


def test_startup_progress_logs(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    pytest.importorskip("torch")
    from pose_tracker.ros import node_parameters as P
    from pose_tracker.ros.tracker_setup import default_tracker_factory

    lines = []
    logger = SimpleNamespace(info=lines.append, warning=lambda t: lines.append("W " + t))
    path = tmp_path / "box.obj"
    trimesh.creation.box(extents=(0.08, 0.06, 0.1)).export(path)
    default_tracker_factory(P.TrackerParams(mesh_path=str(path), device="cpu"), logger=logger)
    text = "\n".join(lines)
    assert "loading mesh" in text and "mesh loaded in" in text and "faces, diameter" in text
    assert "loading refiner weights" in text and "weights loaded in" in text
