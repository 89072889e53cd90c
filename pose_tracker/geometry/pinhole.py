# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Pinhole camera on the host (numpy only): intrinsics validation and point projection.

Camera frame: OpenCV optical (x right, y down, z forward), metres. Pixel (u, v) = (column, row),
integer coordinates at pixel centres. Intrinsics ``K`` = [[fx, s, cx], [0, fy, cy], [0, 0, 1]],
pixels. The graph-safe torch counterparts of the per-frame step are in
:mod:`pose_tracker.geometry.camera`.
"""

from typing import Optional, Tuple

import numpy as np

from pose_tracker.errors import FrameError


def validate_intrinsics(K, image_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """
    Check a pinhole intrinsics matrix and return it as float64 numpy.

    The one check of every K that enters the project (CameraInfo, ``cam_K.txt``, the tracker).

    Args:
        K: (3,3) or (9,) array-like (numpy, list or torch tensor), pixels.
        image_size: (H, W) image height and width in pixels, or None when not known (then the
            checks that need it are skipped: the size itself, the principal point and the focal
            length's upper bound).

    Returns:
        (3,3) float64 numpy copy of ``K``.

    Raises:
        FrameError: with a message saying what is wrong, for a malformed image size, a K that is
            not 3x3, non-finite entries, a non-positive or absurdly large focal length, a last row
            other than (0, 0, 1), a non-zero K[1,0], a skew as large as fx, or a principal point
            more than one image size outside the image (usually a K for another resolution).
    """
    H = W = None
    if image_size is not None:
        try:
            H, W = (int(s) for s in image_size)
        except (TypeError, ValueError):
            raise FrameError(f"image_size must be (height, width), got {image_size!r}") from None
        if H <= 0 or W <= 0:
            raise FrameError(f"image size is {W}x{H}: it must be positive")
    if hasattr(K, "detach"):  # a torch tensor, without importing torch here
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
        raise FrameError("camera intrinsics K contain NaN or infinity (not a valid intrinsics "
                         f"matrix): {K.tolist()}")
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if fx <= 0.0 or fy <= 0.0:
        raise FrameError(
            f"camera intrinsics K: focal lengths must be positive pixels, got fx={fx}, fy={fy} "
            "(check the CameraInfo K / cam_K.txt; an all-zero K means the camera is uncalibrated)")
    if not np.allclose(K[2], [0.0, 0.0, 1.0]) or K[1, 0] != 0.0 or not abs(K[0, 1]) < fx:
        raise FrameError(
            "camera intrinsics K must have the form [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with "
            f"|s| < fx, got: {K.tolist()}")
    if W is not None:
        if not (-W <= cx <= 2 * W and -H <= cy <= 2 * H):
            raise FrameError(
                f"principal point (cx, cy) = ({cx}, {cy}) lies far outside the {W}x{H} image: "
                "K probably belongs to another resolution (scale K with the image)")
        if fx > 1e3 * W or fy > 1e3 * H:
            raise FrameError(f"focal lengths fx={fx}, fy={fy} are implausibly large for {W}x{H}")
    return K


def project(points: np.ndarray, pose: Optional[np.ndarray],
            K: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """
    Project points into the image: ``uv = (K p)[:2] / (K p)[2]`` with ``p = R x + t``.

    Args:
        points: (N,3) metres, object frame (camera frame when ``pose`` is None).
        pose: (4,4) object -> camera, metres; None = the identity.
        K: (3,3) intrinsics, pixels (skew included).

    Returns:
        uv: (N,2) float64 pixel coordinates (u right, v down); NaN where z <= 0 (behind or at
            the camera: no image position).
        z: (N,) float64 depth, metres, camera frame.
    """
    K = np.asarray(K, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if pose is not None:
        pose = np.asarray(pose, dtype=np.float64)
        p = p @ pose[:3, :3].T + pose[:3, 3]
    z = p[:, 2]
    front = z > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = (p @ K.T)[:, :2] / np.where(front, z, np.nan)[:, None]
    return uv, z
