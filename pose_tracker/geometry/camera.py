# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Pinhole camera helpers: intrinsics validation, depth -> XYZ map, point projection.

Camera frame: OpenCV optical (x right, y down, z forward), metres. Pixel (u, v) = (column, row),
integer coordinates at pixel centres. Intrinsics ``K`` = [[fx, s, cx], [0, fy, cy], [0, 0, 1]].

``depth_to_xyz`` and ``project_points`` are graph-safe (fixed shapes, no host sync) and keep the
dtype and device of their inputs; ``validate_intrinsics`` runs on the host, once per camera change.
"""

import math

import numpy as np
import torch

from pose_tracker.errors import FrameError

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


def validate_intrinsics(K, image_size) -> np.ndarray:
    """Check a pinhole intrinsics matrix on the host and return it as float64 numpy.

    Args:
        K: (3,3) array-like (numpy, list or tensor), pixels.
        image_size: (H, W) image height and width in pixels.

    Returns:
        (3,3) float64 numpy copy of ``K``.

    Raises:
        FrameError: with a message saying what is wrong, for a malformed image size, a K that is
            not 3x3, non-finite entries, a non-positive or absurdly large focal length, a last row
            other than (0, 0, 1), a non-zero K[1,0], or a principal point more than one image size
            outside the image (usually a K for another resolution).
    """
    try:
        H, W = (int(s) for s in image_size)
    except (TypeError, ValueError):
        raise FrameError(f"image_size must be (height, width), got {image_size!r}") from None
    if H <= 0 or W <= 0:
        raise FrameError(f"image size must be positive, got (H, W) = ({H}, {W})")
    if isinstance(K, torch.Tensor):
        K = K.detach().cpu().numpy()
    try:
        K = np.array(K, dtype=np.float64)
    except (TypeError, ValueError):
        raise FrameError("camera intrinsics K must be a 3x3 numeric matrix") from None
    if K.size == 9:
        K = K.reshape(3, 3)
    if K.shape != (3, 3):
        raise FrameError(f"camera intrinsics K must be 3x3 (or 9 values), got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise FrameError(f"camera intrinsics K contain NaN or infinity:\n{K}")
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if fx <= 0.0 or fy <= 0.0:
        raise FrameError(
            f"focal lengths must be positive pixels, got fx={fx}, fy={fy} "
            "(check the CameraInfo K / cam_K.txt; an all-zero K means the camera is uncalibrated)")
    if not np.allclose(K[2], [0.0, 0.0, 1.0]) or K[1, 0] != 0.0:
        raise FrameError(
            f"K must have the form [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got:\n{K}")
    if not (-W <= cx <= 2 * W and -H <= cy <= 2 * H):
        raise FrameError(
            f"principal point (cx, cy) = ({cx}, {cy}) lies far outside the {W}x{H} image: "
            "K probably belongs to another resolution (scale K with the image)")
    if fx > 1e3 * W or fy > 1e3 * H:
        raise FrameError(f"focal lengths fx={fx}, fy={fy} are implausibly large for {W}x{H}")
    return K


def depth_to_xyz(depth: torch.Tensor, K: torch.Tensor, zfar: float = math.inf) -> torch.Tensor:
    """Back-project a depth image to a camera-frame XYZ map.

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


def project_points(pts: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Project camera-frame points to pixel coordinates, uv = (K p)[:2] / (K p)[2].

    No guard against z <= 0: callers that can see points behind the camera must mask them.

    Args:
        pts: (B,N,3) points in metres, camera frame.
        K: (B,3,3) or (3,3) intrinsics.

    Returns:
        (B,N,2) pixel coordinates (u, v), dtype/device of ``pts``.
    """
    K = expand_intrinsics(K, pts.shape[0]).to(pts.dtype)
    proj = pts @ K.transpose(1, 2)
    return proj[..., :2] / proj[..., 2:3]
