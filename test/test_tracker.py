# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tracker on the CPU: eager step determinism, a real YCB-Video frame, camera changes, errors."""

import numpy as np
import pytest
import torch

from pose_tracker.synth.simple_scene import ellipsoid_mesh, K_DEFAULT, synthetic_frame
from pose_tracker.data.sequence import find_mesh, Sequence
from pose_tracker.errors import FrameError
from pose_tracker.mesh import load_mesh
from pose_tracker.network.presets import NARROW
from pose_tracker.network.refinenet import RefineNet
from pose_tracker.tracker import Tracker


@pytest.fixture(scope='module')
def small_mesh():
    """Return a 1280-face ellipsoid of diameter 0.2 m."""
    return ellipsoid_mesh(1280)


def _tracker(mesh, iterations=2, seed=0, icp_iterations=0):
    torch.manual_seed(seed)
    net = RefineNet(**NARROW).eval()
    return Tracker(mesh, K_DEFAULT, (480, 640), weights=net, device='cpu',
                   network_iterations=iterations, icp_iterations=icp_iterations)


def _pose(z=0.6):
    T = np.eye(4)
    T[:3, 3] = [0.02, -0.01, z]
    return T


def test_track_before_reset_raises(small_mesh):
    tracker = _tracker(small_mesh)
    rgb, depth = synthetic_frame()
    with pytest.raises(RuntimeError, match='initial pose'):
        tracker.track(rgb, depth)


def test_eager_step_is_deterministic_and_moves_pose(small_mesh):
    rgb, depth = synthetic_frame()
    out = []
    for _ in range(2):
        tracker = _tracker(small_mesh)
        tracker.reset(_pose())
        out.append(tracker.track(rgb, depth))
    np.testing.assert_array_equal(out[0].pose, out[1].pose)
    assert out[0].quality == out[1].quality
    assert np.all(np.isfinite(out[0].pose))
    # A random network still moves the pose: the update was applied, not skipped.
    assert not np.allclose(out[0].pose, _pose())
    R = out[0].pose[:3, :3]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-5)


def test_state_carries_over_frames(small_mesh):
    rgb, depth = synthetic_frame()
    tracker = _tracker(small_mesh, iterations=1)
    tracker.reset(_pose())
    first = tracker.track(rgb, depth).pose
    second = tracker.track(rgb, depth).pose
    # The second frame starts where the first ended (no silent reset to the initial pose).
    ref = _tracker(small_mesh, iterations=2)
    ref.reset(_pose())
    np.testing.assert_allclose(second, ref.track(rgb, depth).pose, atol=1e-5)
    assert not np.allclose(first, second)


def test_uint16_depth_equals_metres(small_mesh):
    rgb, depth = synthetic_frame()
    depth_mm = np.round(depth * 1000).astype(np.uint16)
    a, b = _tracker(small_mesh), _tracker(small_mesh)
    a.reset(_pose())
    b.reset(_pose())
    pa = a.track(rgb, depth_mm.astype(np.float32) / 1000).pose
    pb = b.track(rgb, depth_mm).pose
    np.testing.assert_array_equal(pa, pb)  # one conversion: bit-identical depth


def test_bad_frames_and_camera(small_mesh):
    tracker = _tracker(small_mesh)
    tracker.reset(_pose())
    rgb, depth = synthetic_frame()
    with pytest.raises(FrameError, match='rgb must be'):
        tracker.track(rgb[:100], depth)
    with pytest.raises(FrameError, match='depth must be'):
        tracker.track(rgb, depth[:, :100])
    with pytest.raises(FrameError, match='intrinsics'):
        tracker.set_camera(np.zeros((3, 3)), (480, 640))
    with pytest.raises(FrameError, match='NaN'):
        tracker.reset(np.full((4, 4), np.nan))


def test_set_camera_rebuilds_buffers(small_mesh):
    tracker = _tracker(small_mesh)
    tracker.reset(_pose())
    K = K_DEFAULT.copy()
    K[:2] *= 0.5
    tracker.set_camera(K, (240, 320))
    assert tracker.staging.rgb.shape == (240, 320, 3)
    rgb, depth = synthetic_frame((240, 320))
    result = tracker.track(rgb, depth)
    assert np.all(np.isfinite(result.pose))
    assert tracker.has_pose


def test_real_ycbv_frame_stays_finite_and_close(ycbv):
    """CPU end-to-end step on a real frame: finite pose, the original-frame convention holds."""
    seq = Sequence(ycbv / 'sequences' / '0000', '025_mug')
    frame = seq.frame(0)
    mesh = load_mesh(find_mesh(ycbv, '025_mug'))
    # One iteration: the quality is measured at the pose the iteration started from (the GT).
    tracker = Tracker(mesh, seq.K, seq.image_size, weights=RefineNet(**NARROW).eval(),
                      device='cpu', network_iterations=1, icp_iterations=0)
    tracker.reset(frame.gt_pose)
    result = tracker.track(frame.rgb, frame.depth)
    assert np.all(np.isfinite(result.pose))
    # Even an untrained network moves the pose by at most D/2 per axis (and 20 deg) per iteration.
    assert np.linalg.norm(result.pose[:3, 3] - frame.gt_pose[:3, 3]) < mesh.diameter
    # At the GT pose the rendered mug sits on the observed depth: high quality.
    assert result.quality > 0.5
