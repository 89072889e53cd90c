# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of pose_tracker.geometry.camera: depth -> XYZ, projection, intrinsics validation."""

import math

import numpy as np
import pytest
import torch

from pose_tracker.errors import FrameError
from pose_tracker.geometry.camera import depth_to_xyz, project_points, validate_intrinsics

K_NP = np.array([[500.0, 0.0, 3.5], [0.0, 400.0, 2.25], [0.0, 0.0, 1.0]])


def test_depth_to_xyz_known_pixels():
    depth = torch.zeros(2, 5, 7)
    depth[0, 1, 6] = 2.0
    depth[0, 4, 0] = 0.5
    depth[1, 2, 3] = 1.25
    depth[1, 0, 0] = 0.0009  # below 1 mm: no reading
    K = torch.tensor(K_NP, dtype=torch.float32)
    xyz = depth_to_xyz(depth, K)
    assert xyz.shape == (2, 3, 5, 7) and xyz.dtype == torch.float32
    torch.testing.assert_close(xyz[0, :, 1, 6], torch.tensor([(6 - 3.5) * 2 / 500,
                                                              (1 - 2.25) * 2 / 400, 2.0]))
    torch.testing.assert_close(xyz[0, :, 4, 0], torch.tensor([(0 - 3.5) * 0.5 / 500,
                                                              (4 - 2.25) * 0.5 / 400, 0.5]))
    torch.testing.assert_close(xyz[1, :, 2, 3], torch.tensor([(3 - 3.5) * 1.25 / 500,
                                                              (2 - 2.25) * 1.25 / 400, 1.25]))
    assert torch.all(xyz[1, :, 0, 0] == 0)
    # Every pixel without a reading is exactly zero in all three channels.
    assert torch.all(xyz.abs().sum(1)[depth < 0.001] == 0)


def test_depth_to_xyz_batched_K_and_zfar_and_dtype():
    depth = torch.rand(2, 4, 6, dtype=torch.float64) * 3 + 0.01
    K1 = torch.tensor(K_NP)
    K2 = K1.clone()
    K2[0, 0] = 250.0
    xyz = depth_to_xyz(depth, torch.stack([K1, K2]))
    assert xyz.dtype == torch.float64
    torch.testing.assert_close(xyz[0], depth_to_xyz(depth[:1], K1)[0])
    torch.testing.assert_close(xyz[1, 0], 2 * depth_to_xyz(depth[1:], K1)[0, 0])
    far = depth_to_xyz(depth, K1, zfar=1.5)
    assert torch.all(far[:, 2][depth > 1.5] == 0)
    torch.testing.assert_close(far[:, 2][depth <= 1.5], depth[depth <= 1.5])


def test_project_points_inverts_depth_to_xyz():
    depth = torch.rand(1, 4, 6) + 0.5
    K = torch.tensor(K_NP, dtype=torch.float32)
    pts = depth_to_xyz(depth, K).flatten(2).transpose(1, 2)  # (1,24,3)
    uv = project_points(pts, K)
    v, u = torch.meshgrid(torch.arange(4.0), torch.arange(6.0), indexing="ij")
    torch.testing.assert_close(uv[0], torch.stack([u.flatten(), v.flatten()], -1),
                               atol=1e-4, rtol=0)
    assert project_points(pts.double(), K).dtype == torch.float64


def test_validate_intrinsics_accepts_good_K():
    K = validate_intrinsics(torch.tensor(K_NP).float(), (5, 7))
    assert K.dtype == np.float64 and K.shape == (3, 3)
    assert validate_intrinsics(K_NP.reshape(-1).tolist(), (480, 640))[0, 0] == 500.0


@pytest.mark.parametrize("edit, size, match", [
    ({(0, 0): 0.0}, (480, 640), "focal"),
    ({(1, 1): -5.0}, (480, 640), "focal"),
    ({(0, 2): math.nan}, (480, 640), "NaN"),
    ({(0, 2): 5000.0}, (480, 640), "principal point"),
    ({(1, 2): -900.0}, (480, 640), "principal point"),
    ({(2, 2): 0.0}, (480, 640), "form"),
    ({}, (0, 640), "positive"),
    ({}, (480,), "height, width"),
])
def test_validate_intrinsics_rejects(edit, size, match):
    K = K_NP.copy()
    for idx, value in edit.items():
        K[idx] = value
    with pytest.raises(FrameError, match=match):
        validate_intrinsics(K, size)


def test_validate_intrinsics_rejects_wrong_shape():
    with pytest.raises(FrameError, match="3x3"):
        validate_intrinsics(np.eye(2), (480, 640))
