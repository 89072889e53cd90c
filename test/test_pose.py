# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of SO(3) maps, the refiner pose update, its inverse and pose perturbation (CPU)."""

import math

import pytest
from scipy.spatial.transform import Rotation
import torch

from pose_tracker.geometry.pose import (
    apply_refiner_update,
    pose_update_targets,
    ROT_NORMALIZER,
    rotation_error_deg,
    so3_exp,
    so3_log,
)


def rot_z(deg: float) -> torch.Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def rot_x(deg: float) -> torch.Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]], dtype=torch.float64)


def make_pose(R: torch.Tensor, t) -> torch.Tensor:
    T = torch.eye(4, dtype=R.dtype)
    T[:3, :3] = R
    T[:3, 3] = torch.as_tensor(t, dtype=R.dtype)
    return T


def random_poses(batch: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    rots = Rotation.random(batch, random_state=seed).as_matrix()
    poses = torch.eye(4, dtype=dtype).repeat(batch, 1, 1)
    poses[:, :3, :3] = torch.as_tensor(rots, dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    poses[:, :3, 3] = torch.rand(batch, 3, generator=gen, dtype=dtype) * 0.4 + torch.tensor(
        [-0.2, -0.2, 0.5], dtype=dtype)
    return poses


@pytest.mark.parametrize('scale', [0.0, 1e-9, 1e-5, 1e-3, 0.3, 2.0, 3.1])
def test_so3_exp_matches_rodrigues(scale):
    gen = torch.Generator().manual_seed(0)
    axis = torch.randn(16, 3, generator=gen, dtype=torch.float64)
    w = axis / axis.norm(dim=1, keepdim=True) * scale
    expected = torch.as_tensor(Rotation.from_rotvec(w.numpy()).as_matrix())
    torch.testing.assert_close(so3_exp(w), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(so3_exp(w.float()), expected.float(), rtol=0, atol=2e-6)


def test_so3_log_inverts_exp():
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(32, 3, generator=gen, dtype=torch.float64)
    w = w / w.norm(dim=1, keepdim=True) * torch.rand(32, 1, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(so3_log(so3_exp(w)), w, rtol=0, atol=1e-9)


def test_update_hand_computed_10_degrees_about_z():
    # tanh(rot_out) * 20 deg = 10 deg about +z  ->  dR = Rz(10 deg)^T = Rz(-10 deg).
    rot_out = torch.tensor([[0.0, 0.0, math.atanh(0.5)]])
    trans_out = torch.tensor([[0.2, -0.4, 1.0]])
    pose = make_pose(torch.eye(3, dtype=torch.float64), [0.1, 0.0, 1.0])[None]
    new = apply_refiner_update(pose, trans_out, rot_out, diameter=0.5)
    c, s = math.cos(math.radians(10)), math.sin(math.radians(10))
    expected_R = torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(new[0, :3, :3], expected_R, rtol=0, atol=1e-7)
    # The object's x axis turns towards camera -y (up in the image).
    assert new[0, 1, 0] < -0.17
    # dt = out * D/2 = out * 0.25, added in camera axes.
    torch.testing.assert_close(new[0, :3, 3], torch.tensor([0.15, -0.1, 1.25],
                                                           dtype=torch.float64), rtol=0, atol=1e-7)
    torch.testing.assert_close(new[0, 3], torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64))


def test_update_rotates_in_camera_axes_about_object_centre():
    R0 = rot_x(30.0)
    pose = make_pose(R0, [0.0, 0.0, 0.8])[None].float()
    rot_out = torch.tensor([[0.0, 0.0, math.atanh(0.5)]])
    new = apply_refiner_update(pose, torch.zeros(1, 3), rot_out, diameter=0.2)
    expected = (rot_z(-10.0) @ R0).float()  # left-multiplied: camera axes, not object axes
    torch.testing.assert_close(new[0, :3, :3], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(new[0, :3, 3], pose[0, :3, 3])  # the centre does not move


def test_update_per_sample_diameter_and_dtypes():
    pose = random_poses(3, seed=2)
    trans_out = torch.ones(3, 3)
    rot_out = torch.zeros(3, 3)
    diameter = torch.tensor([0.1, 0.2, 0.4])
    new = apply_refiner_update(pose, trans_out, rot_out, diameter)
    assert new.dtype == torch.float64 and new.shape == (3, 4, 4)
    offset = new[:, :3, 3] - pose[:, :3, 3]
    torch.testing.assert_close(offset, (diameter[:, None] / 2).expand(3, 3).double())
    torch.testing.assert_close(new[:, :3, :3], pose[:, :3, :3])


def test_update_saturates_at_rot_normalizer():
    pose = random_poses(1, seed=3)
    new = apply_refiner_update(pose, torch.zeros(1, 3), torch.tensor([[50.0, 0.0, 0.0]]), 0.1)
    err = rotation_error_deg(new[:, :3, :3], pose[:, :3, :3])
    assert err.item() == pytest.approx(math.degrees(ROT_NORMALIZER), abs=1e-6)


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_targets_invert_the_update(dtype):
    gen = torch.Generator().manual_seed(4)
    pose_in = random_poses(64, seed=4, dtype=dtype)
    trans_out = torch.randn(64, 3, generator=gen, dtype=dtype) * 0.5
    rot_out = torch.randn(64, 3, generator=gen, dtype=dtype).clamp(-2.5, 2.5)
    diameter = torch.rand(64, generator=gen, dtype=dtype) * 0.3 + 0.05
    pose_gt = apply_refiner_update(pose_in, trans_out, rot_out, diameter)
    trans_t, rot_t = pose_update_targets(pose_in, pose_gt, diameter)
    tol = 1e-9 if dtype == torch.float64 else 2e-3
    torch.testing.assert_close(trans_t, trans_out, rtol=0, atol=tol)
    torch.testing.assert_close(rot_t, rot_out, rtol=0, atol=tol * 10)
    _, rot_tanh = pose_update_targets(pose_in, pose_gt, diameter, pre_tanh=False)
    torch.testing.assert_close(rot_tanh, torch.tanh(rot_out), rtol=0, atol=tol)


def test_targets_reach_perturbed_ground_truth():
    gen = torch.Generator().manual_seed(5)
    pose_gt = random_poses(32, seed=5)
    # up to 15 deg about a random camera axis (object centre fixed) and 2 / 2 / 5 cm
    w = torch.randn(32, 3, generator=gen, dtype=torch.float64)
    w *= math.radians(15.0) * torch.rand(32, 1, generator=gen, dtype=torch.float64) / w.norm(
        dim=-1, keepdim=True)
    limit = torch.tensor([0.02, 0.02, 0.05], dtype=torch.float64)
    pose_in = pose_gt.clone()
    pose_in[:, :3, :3] = so3_exp(w) @ pose_gt[:, :3, :3]
    pose_in[:, :3, 3] += (torch.rand(32, 3, generator=gen, dtype=torch.float64) * 2 - 1) * limit
    trans_t, rot_t = pose_update_targets(pose_in, pose_gt, 0.2)
    reached = apply_refiner_update(pose_in, trans_t, rot_t, 0.2)
    torch.testing.assert_close(reached, pose_gt, rtol=0, atol=1e-9)


def test_unreachable_rotation_target_is_clamped_with_the_right_sign():
    pose_in = make_pose(torch.eye(3, dtype=torch.float64), [0, 0, 1])[None]
    pose_gt = make_pose(rot_z(-40.0), [0, 0, 1])[None]  # dR = Rz(-40) -> w = +40 deg about z
    _, rot_t = pose_update_targets(pose_in, pose_gt, 0.2, clamp=0.999)
    assert rot_t[0, 2].item() == pytest.approx(math.atanh(0.999))
    assert abs(rot_t[0, 0].item()) < 1e-9 and abs(rot_t[0, 1].item()) < 1e-9
    _, rot_tanh = pose_update_targets(pose_in, pose_gt, 0.2, pre_tanh=False)
    assert rot_tanh[0, 2].item() == 1.0


@pytest.mark.parametrize('deg', [0.0, 0.01, 1.0, 45.0, 120.0, 179.9, 180.0])
def test_rotation_error_deg(deg):
    Ra = torch.as_tensor(Rotation.random(random_state=9).as_matrix())
    axis = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    dR = so3_exp(axis / axis.norm() * math.radians(deg))
    err64 = rotation_error_deg(Ra, dR @ Ra)
    err32 = rotation_error_deg(Ra.float(), (dR @ Ra).float())
    assert err64.item() == pytest.approx(deg, abs=1e-9)
    assert err32.item() == pytest.approx(deg, abs=2e-3)  # acos(trace) would be ~0.03 deg off
