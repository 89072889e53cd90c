# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Pinhole camera helpers on the device (torch): intrinsics batching, depth -> XYZ map.

Camera frame: OpenCV optical (x right, y down, z forward), metres. Pixel (u, v) = (column, row),
integer coordinates at pixel centres. Intrinsics ``K`` = [[fx, s, cx], [0, fy, cy], [0, 0, 1]].

``depth_to_xyz`` is graph-safe (fixed shapes, no host sync) and keeps the dtype and device of its
inputs. The host-side (numpy) intrinsics check and point projection are in
:mod:`pose_tracker.geometry.pinhole`.
"""

import math

import torch

#: Depth below this (metres) means "no reading"; the FoundationPose contract's threshold.
MIN_VALID_DEPTH = 0.001


def expand_intrinsics(K: torch.Tensor, batch: int) -> torch.Tensor:
    """Return ``K`` ((3,3), (1,3,3) or (B,3,3)) as a ``(batch, 3, 3)`` view, without a copy."""
    if K.shape[-2:] != (3, 3) or K.dim() not in (2, 3):
        raise ValueError(f"K must be (3,3) or (B,3,3), got {tuple(K.shape)}")
    if K.dim() == 2:
        return K.unsqueeze(0).expand(batch, 3, 3)
    if K.shape[0] not in (1, batch):
        raise ValueError(f"K batch {K.shape[0]} does not match data batch {batch}")
    return K.expand(batch, 3, 3)


def depth_to_xyz(depth: torch.Tensor, K: torch.Tensor, zfar: float = math.inf) -> torch.Tensor:
    """
    Back-project a depth image to a camera-frame XYZ map.

    At integer pixel (u, v) with depth z: X = (u - cx) z / fx, Y = (v - cy) z / fy, Z = z
    (evaluated in that order, as FoundationPose does; skew is ignored, as there). Pixels with
    z < 0.001 or z > zfar give (0, 0, 0).

    Args:
        depth: (B,H,W) float metres, 0 = no reading.
        K: (B,3,3) or (3,3) intrinsics, same dtype/device as ``depth``.
        zfar: depths beyond this (metres) are invalid; FoundationPose's tracker uses inf.

    Returns:
        (B,3,H,W) XYZ map in metres, camera frame, dtype/device of ``depth``.
    """
    B, H, W = depth.shape
    K = expand_intrinsics(K, B).to(depth.dtype)
    fx = K[:, 0, 0].view(B, 1, 1)
    fy = K[:, 1, 1].view(B, 1, 1)
    cx = K[:, 0, 2].view(B, 1, 1)
    cy = K[:, 1, 2].view(B, 1, 1)
    u = torch.arange(W, device=depth.device, dtype=depth.dtype).view(1, 1, W)
    v = torch.arange(H, device=depth.device, dtype=depth.dtype).view(1, H, 1)
    x = (u - cx) * depth / fx
    y = (v - cy) * depth / fy
    xyz = torch.stack([x, y, depth], dim=1)
    invalid = (depth < MIN_VALID_DEPTH) | (depth > zfar)
    return xyz.masked_fill(invalid.unsqueeze(1), 0.0)
