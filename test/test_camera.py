# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of pose_tracker.geometry.camera: depth -> XYZ (torch)."""

import numpy as np
import torch

from pose_tracker.geometry.camera import depth_to_xyz
from pose_tracker.geometry.pinhole import project

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


def test_depth_to_xyz_inverts_projection():
    depth = torch.rand(1, 4, 6) + 0.5
    K = torch.tensor(K_NP, dtype=torch.float32)
    pts = depth_to_xyz(depth, K).flatten(2).transpose(1, 2)  # (1,24,3)
    uv, _ = project(pts[0].double().numpy(), None, K_NP)
    v, u = np.meshgrid(np.arange(4.0), np.arange(6.0), indexing="ij")
    np.testing.assert_allclose(uv, np.stack([u.flatten(), v.flatten()], -1), atol=1e-4, rtol=0)
