# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of the box_3d crop window (pose_tracker.crop.window)."""

import math

import torch

from pose_tracker.crop.window import crop_window, crop_window_tf


def _K(fx, fy, cx, cy, dtype=torch.float32):
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=dtype)


def _pose(t, dtype=torch.float32):
    pose = torch.eye(4, dtype=dtype).repeat(len(t), 1, 1)
    pose[:, :3, 3] = torch.tensor(t, dtype=dtype)
    return pose


def _expected_tf(left, top, right, bottom, out=160):
    sx, sy = out / (right - left), out / (bottom - top)
    return torch.tensor([[sx, 0.0, -sx * left], [0.0, sy, -sy * top], [0.0, 0.0, 1.0]])


def test_hand_computed_window():
    # t = (0,0,1), D = 0.2: r = 0.12 m, rho = 500 * 0.12 = 60 px around (320, 240).
    win = crop_window(_pose([[0.0, 0.0, 1.0]]), _K(500, 500, 320, 240), 0.2)
    torch.testing.assert_close(win.box[0], torch.tensor([260.0, 180.0, 380.0, 300.0]))
    torch.testing.assert_close(win.tf[0], _expected_tf(260, 180, 380, 300))
    assert win.valid.tolist() == [True]
    # The window corners map to the crop corners (0,0) and (160,160).
    corners = win.tf[0] @ torch.tensor([[260.0, 380.0], [180.0, 300.0], [1.0, 1.0]])
    torch.testing.assert_close(corners[:2], torch.tensor([[0.0, 160.0], [0.0, 160.0]]))


def test_window_uses_larger_focal_and_offsets_in_camera_axes():
    # fx != fy: rho is the largest offset over both axes, so the window stays square.
    # t = (0.1, -0.05, 0.5), D = 0.1, ratio 1.2: r = 0.06, rho = max(600, 450) * 0.06 / 0.5 = 72.
    # u(t) = 600 * 0.2 + 300 = 420, v(t) = 450 * -0.1 + 200 = 155.
    pose = _pose([[0.1, -0.05, 0.5]])
    pose[0, :3, :3] = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    win = crop_window(pose, _K(600, 450, 300, 200), 0.1, out_size=64)
    torch.testing.assert_close(win.box[0], torch.tensor([348.0, 83.0, 492.0, 227.0]))
    torch.testing.assert_close(win.tf[0], _expected_tf(348, 83, 492, 227, out=64))


def test_rounding_is_half_to_even():
    # crop_ratio 1, D = 0.25: r = 0.125 and fx * r = 10 exactly; cx, cy end in .5.
    # left = 310.5 -> 310, right = 330.5 -> 330, top = 231.5 -> 232, bottom = 251.5 -> 252
    # (round-half-away-from-zero would give 311/331 and 232/252).
    win = crop_window(_pose([[0.0, 0.0, 1.0]]), _K(80, 80, 320.5, 241.5), 0.25, crop_ratio=1.0)
    torch.testing.assert_close(win.box[0], torch.tensor([310.0, 232.0, 330.0, 252.0]))
    torch.testing.assert_close(win.tf[0], _expected_tf(310, 232, 330, 252))
    # Rounding each side separately can give a non-square window: 10.5 -> 10, 31.5 -> 32.
    win = crop_window(_pose([[0.0, 0.0, 1.0]]), _K(84, 84, 21.0, 21.0), 0.25, crop_ratio=1.0)
    torch.testing.assert_close(win.box[0], torch.tensor([10.0, 10.0, 32.0, 32.0]))


def test_random_poses_against_closed_form():
    g = torch.Generator().manual_seed(0)
    B = 32
    t = torch.rand(B, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 1.0, 1.5]) \
        - torch.tensor([0.5, 0.5, -0.3])
    fx, fy, cx, cy = 610.3, 605.7, 318.2, 243.9
    D = 0.173
    win = crop_window(_pose(t.tolist(), torch.float64), _K(fx, fy, cx, cy, torch.float64), D)
    rho = max(fx, fy) * D * 1.2 / 2 / t[:, 2]
    u = fx * t[:, 0] / t[:, 2] + cx
    v = fy * t[:, 1] / t[:, 2] + cy
    expected = torch.stack([u - rho, v - rho, u + rho, v + rho], -1).round()
    torch.testing.assert_close(win.box, expected)
    assert win.tf.dtype == torch.float64 and win.valid.all()


def test_batched_K_and_tensor_diameter_match_scalar():
    pose = _pose([[0.0, 0.0, 1.0], [0.05, 0.02, 0.8], [-0.1, 0.0, 2.0]])
    K = _K(500, 520, 320, 240)
    ref = crop_window_tf(pose, K, 0.2)
    torch.testing.assert_close(crop_window_tf(pose, K.expand(3, 3, 3), 0.2), ref)
    torch.testing.assert_close(crop_window_tf(pose, K, torch.full((3,), 0.2)), ref)
    per_item = torch.tensor([0.2, 0.4, 0.2])
    tf = crop_window_tf(pose, K, per_item)
    torch.testing.assert_close(tf[[0, 2]], ref[[0, 2]])
    assert tf[1, 0, 0] < ref[1, 0, 0] * 0.6  # twice the diameter: about half the scale


def test_invalid_poses_are_flagged_and_stay_finite():
    pose = _pose([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0],
                  [0.0, 0.0, 1.0]])
    pose[3, 0, 3] = math.nan
    pose[4, 2, 3] = math.inf
    win = crop_window(pose, _K(500, 500, 320, 240), 0.2)
    assert win.valid.tolist() == [True, False, False, False, False]
    assert torch.isfinite(win.tf).all() and torch.isfinite(win.box).all()
    # A window narrower than a pixel (tiny object far away) is flagged too, not divided by 0.
    win = crop_window(_pose([[0.0, 0.0, 50.0]]), _K(500, 500, 320, 240), 0.001)
    assert win.valid.tolist() == [False] and torch.isfinite(win.tf).all()
