# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of pose_tracker.geometry.pinhole: intrinsics validation and numpy projection."""

import math

import numpy as np
import pytest
import torch

from pose_tracker.errors import FrameError
from pose_tracker.geometry.pinhole import project, validate_intrinsics

K_NP = np.array([[500.0, 0.0, 3.5], [0.0, 400.0, 2.25], [0.0, 0.0, 1.0]])


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


def test_validate_intrinsics_without_image_size():
    far = K_NP.copy()
    far[0, 2] = 5000.0  # principal point far out: only judged against an image size
    np.testing.assert_array_equal(validate_intrinsics(far), far)
    skewed = K_NP.copy()
    skewed[0, 1] = 600.0  # |s| >= fx: not a camera
    with pytest.raises(FrameError, match="form"):
        validate_intrinsics(skewed)
    with pytest.raises(FrameError, match="uncalibrated"):
        validate_intrinsics(np.zeros(9))


def test_project():
    K = np.array([[100.0, 0, 16], [0, 100, 12], [0, 0, 1]])
    pose = np.eye(4)
    pose[:3, 3] = [0.01, -0.02, 0.6]
    uv, z = project(np.array([[0.0, 0, 0], [0.05, 0.02, 0]]), pose, K)
    np.testing.assert_allclose(uv, [[16 + 100 * 0.01 / 0.6, 12 - 100 * 0.02 / 0.6],
                                    [16 + 100 * 0.06 / 0.6, 12 + 0.0]])
    np.testing.assert_allclose(z, [0.6, 0.6])
    # Skew, no pose (camera-frame points), and points at or behind the camera.
    Ks = K.copy()
    Ks[0, 1] = 5.0
    uv, z = project(np.array([[0.1, 0.2, 2.0], [0.1, 0.2, 0.0], [0.1, 0.2, -1.0]]), None, Ks)
    np.testing.assert_allclose(uv[0], [16 + (100 * 0.1 + 5 * 0.2) / 2.0, 12 + 100 * 0.2 / 2.0])
    assert np.all(np.isnan(uv[1:])) and z.tolist() == [2.0, 0.0, -1.0]
