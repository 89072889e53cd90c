# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""The tracking state machine on its own (pure Python, no ROS): states, pose checks, LOST rules."""

from types import SimpleNamespace

import numpy as np
import pytest

from pose_tracker.tracking_state import (LOST, TRACKING, TrackingState, WAITING_FOR_CAMERA_INFO,
                                         WAITING_FOR_POSE)

H, W = 24, 32
K = np.array([[30.0, 0.0, W / 2], [0.0, 30.0, H / 2], [0.0, 0.0, 1.0]])
START = np.array([[1.0, 0, 0, 0.01], [0, 1, 0, -0.02], [0, 0, 1, 0.6], [0, 0, 0, 1]])
CUBE = np.array([[x, y, z] for x in (0, 0.1) for y in (0, 0.1) for z in (0, 0.1)]) - 0.05
DIAMETER = float(np.sqrt(3) * 0.1)


def rules(quality_threshold=0.3, lost_after_frames=10, max_jump=0.5):
    """Return LOST rules; the defaults are the node's (`TrackerParams` has these attributes)."""
    return SimpleNamespace(quality_threshold=quality_threshold,
                           lost_after_frames=lost_after_frames, max_jump=max_jump)


def pose_at(x, y, z):
    T = np.eye(4)
    T[:3, 3] = (x, y, z)
    return T


def shifted(T, dz):
    out = T.copy()
    out[2, 3] += dz
    return out


def depth_image(metres=0.6):
    return np.full((H, W), metres, np.float32)


def tracking(r=None, camera=True, pose=START):
    """Return a state with the cube, the test camera and (optionally) a pose."""
    ts = TrackingState(r or rules(), diameter=DIAMETER, center=np.zeros(3), points=CUBE)
    if camera:
        ts.set_camera(K, (H, W))
    if pose is not None:
        ts.set_pose(pose)
    return ts


def track(ts, pose, quality, depth=None):
    """One frame as the node runs it: begin, then accept; returns the LOST reason or None."""
    why = ts.begin_frame(depth_image() if depth is None else depth)
    return why if why is not None else ts.accept(pose, quality)


def test_states_follow_camera_pose_and_clear():
    ts = TrackingState(rules())
    assert ts.state == WAITING_FOR_CAMERA_INFO and ts.needs_pose
    ts.set_camera(K, (H, W))
    assert ts.state == WAITING_FOR_POSE
    pose = ts.set_pose(START)
    assert ts.state == TRACKING and not ts.needs_pose
    assert pose.dtype == np.float64 and pose is not START
    np.testing.assert_array_equal(pose, START)
    assert ts.pending_pose is None  # the camera is known: the tracker is reset at once
    ts.declare_lost()
    assert ts.state == LOST and ts.needs_pose
    ts.clear()
    assert ts.state == WAITING_FOR_POSE and ts.last_pose is None and not ts.lost


def test_pose_before_camera_is_pending_until_the_camera():
    ts = tracking(camera=False, pose=pose_at(0.0, 0.1, 0.7))
    assert ts.state == WAITING_FOR_CAMERA_INFO and ts.has_pose
    np.testing.assert_allclose(ts.pending_pose[:3, 3], [0.0, 0.1, 0.7])
    ts.set_camera(K, (H, W))
    pose, problem = ts.take_pending_pose()
    assert problem is None and ts.pending_pose is None and ts.state == TRACKING
    np.testing.assert_allclose(pose[:3, 3], [0.0, 0.1, 0.7])
    assert ts.take_pending_pose() == (None, None)


def test_pending_pose_outside_the_image_is_refused_and_cleared():
    ts = tracking(camera=False, pose=pose_at(2.0, 0, 0.6))
    ts.set_camera(K, (H, W))
    pose, problem = ts.take_pending_pose()
    assert pose is None and "outside the 32x24 image" in problem
    assert ts.state == WAITING_FOR_POSE and ts.pending_pose is None


def test_pose_problems_say_why():
    ts = tracking(pose=None)
    ts.depth_range = (0.6, 0.6)  # depth 0.6 m everywhere
    cases = [(pose_at(0, 0, -0.5), "behind the camera"),
             (pose_at(0, 0, 0.0), "behind the camera"),
             (pose_at(2.0, 0, 0.6), "outside the 32x24 image"),
             (pose_at(0, 0, 6.0), "far outside the depth range")]
    for T, reason in cases:
        assert reason in ts.pose_problem(T)
    assert ts.pose_problem(START) is None
    # Without a camera or depth only the plain checks apply.
    bare = TrackingState(rules())
    assert bare.pose_problem(pose_at(2.0, 0, 0.6)) is None
    assert "beyond any RGB-D camera's range (20 m)" in bare.pose_problem(pose_at(0, 0, 25.0))


def test_lost_after_low_quality_and_recovery():
    ts = tracking(rules(quality_threshold=0.5, lost_after_frames=3))
    pose = START.copy()
    outcomes = [track(ts, pose, 0.1) for _ in range(3)]
    # Frames 0 and 1 are bad but accepted (published); the third bad one declares LOST.
    assert outcomes[:2] == [None, None]
    assert outcomes[2] == "quality below 0.5 for 3 frames (last 0.10)"
    assert ts.state == LOST and ts.needs_pose
    # A new initial pose resumes tracking, with the bad-frame count reset.
    ts.set_pose(START)
    assert ts.state == TRACKING and ts.low_quality == 0
    assert track(ts, START, 0.9) is None and ts.state == TRACKING
    # A good frame in between resets the count.
    for q in (0.1, 0.1, 0.9, 0.1, 0.1):
        assert track(ts, START, q) is None
    assert ts.low_quality == 2


def test_jump_larger_than_crop_is_lost():
    ts = tracking()
    why = track(ts, shifted(START, 0.2), 0.9)  # 0.2 m > 0.5 * 0.173 m diameter
    assert why.startswith("the pose jumped 0.200 m in one frame (> 0.5 x diameter 0.173 m)")
    assert ts.state == LOST
    np.testing.assert_array_equal(ts.last_pose, START)  # the jumped pose is not kept
    # Jumps just below the limit are accepted; a new initial pose resumes tracking.
    ts.set_pose(START)
    assert track(ts, shifted(START, 0.08), 0.9) is None
    assert ts.last_pose[2, 3] == pytest.approx(0.68)
    # max_jump 0 switches the check off (the rules are read at every call).
    ts.rules.max_jump = 0.0
    assert track(ts, shifted(ts.last_pose, 0.5), 0.9) is None


def test_non_finite_pose_is_lost():
    ts = tracking()
    bad = START.copy()
    bad[0, 3] = np.nan
    assert track(ts, bad, 0.9) == "the tracker returned a non-finite pose"
    assert ts.state == LOST and ts.low_quality == 0


def test_zero_support_on_first_frame_is_lost_at_once():
    ts = tracking()
    why = track(ts, START, 0.0)
    assert why.startswith("the depth supports none of the object from the first frame")
    assert ts.state == LOST
    # Later in a track, quality 0 still needs lost_after_frames frames (occlusions happen).
    ts.set_pose(START)
    assert track(ts, START, 0.9) is None
    assert track(ts, START, 0.0) is None
    assert ts.state == TRACKING and ts.low_quality == 1


def test_depth_at_far_limit_is_lost_at_once():
    ts = tracking()
    ts.depth_range = (10.0, 10.0)
    why = ts.begin_frame(depth_image(10.0))  # everything at 10 m, the object at 0.6 m
    assert why == ("no depth supports the object at its initial pose (the depth where it "
                   "should be is missing or farther, e.g. all at the far limit: measured "
                   "10.00..10.00 m, object at z = 0.60 m); nothing is published")
    assert ts.state == LOST
    # Only the first frame after a pose is checked this way.
    ts.set_pose(START)
    assert ts.begin_frame(depth_image(0.6)) is None
    assert ts.begin_frame(depth_image(10.0)) is None
    assert ts.frames_since_pose == 2 and ts.state == TRACKING


def test_without_mesh_points_no_depth_support_check():
    ts = TrackingState(rules())
    ts.set_camera(K, (H, W))
    ts.set_pose(START)
    assert ts.begin_frame(depth_image(10.0)) is None
    assert ts.accept(shifted(START, 5.0), 0.9) is None  # diameter 0: no jump check either
