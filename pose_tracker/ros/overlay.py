# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Debug overlay: the tracked mesh drawn onto the camera image, numpy only (no OpenCV).

Draws a subsample of the mesh vertices as dots, the object's bounding box as lines and its axes
(x red, y green, z blue) at the tracked pose. A few thousand points: well under a millisecond
of work plus one image copy.
"""

from typing import Tuple

import numpy as np

#: Colours (RGB uint8).
POINT_RGB = (0, 255, 0)
BOX_RGB = (255, 255, 0)
AXES_RGB = ((255, 0, 0), (0, 255, 0), (0, 0, 255))

_BOX_EDGES = ((0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 3), (2, 6), (3, 7), (4, 5), (4, 6),
              (5, 7), (6, 7))


def subsample_points(vertices: np.ndarray, max_points: int = 2000) -> np.ndarray:
    """Evenly spaced subset of at most `max_points` rows of (N,3) vertices."""
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    if len(v) <= max_points:
        return v
    return v[np.linspace(0, len(v) - 1, max_points).astype(np.int64)]


def project(points: np.ndarray, pose: np.ndarray, K: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """
    Project object points into the image.

    Parameters
    ----------
    points
        (N,3) metres, object (original mesh) frame.
    pose
        (4,4) object -> camera, metres, OpenCV optical frame.
    K
        (3,3) intrinsics, pixels.

    Returns
    -------
    uv
        (N,2) float64 pixel coordinates (x right, y down).
    z
        (N,) float64 depth, metres (<= 0 = behind the camera).

    """
    p = np.asarray(points, dtype=np.float64) @ pose[:3, :3].T + pose[:3, 3]
    z = p[:, 2]
    safe = np.where(z > 1e-6, z, 1.0)
    uv = (p[:, :2] / safe[:, None]) * np.diag(K)[:2] + K[:2, 2]
    return uv, z


def _segment_points(a: np.ndarray, b: np.ndarray, n: int = 64) -> np.ndarray:
    """(len(a)*n, 3) points evenly along the segments a[i] -> b[i]."""
    t = np.linspace(0.0, 1.0, n)[None, :, None]
    return (a[:, None, :] * (1 - t) + b[:, None, :] * t).reshape(-1, 3)


def _splat(img: np.ndarray, uv: np.ndarray, z: np.ndarray, rgb, radius: int) -> None:
    """Paint (2r+1)^2 squares at the in-image points with z > 0, in place."""
    h, w = img.shape[:2]
    keep = (z > 1e-6) & np.all(np.isfinite(uv), axis=1)
    px = np.round(uv[keep]).astype(np.int64)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            x, y = px[:, 0] + dx, px[:, 1] + dy
            ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
            img[y[ok], x[ok]] = rgb


def draw_overlay(rgb: np.ndarray, points: np.ndarray, pose: np.ndarray, K: np.ndarray,
                 box_min=None, box_max=None, axis_length: float = 0.0,
                 point_rgb=POINT_RGB) -> np.ndarray:
    """
    Draw the object at `pose` onto a copy of the image.

    Parameters
    ----------
    rgb
        (H,W,3) uint8 image (not modified).
    points
        (N,3) metres, object frame (e.g. `subsample_points(mesh.vertices)`).
    pose
        (4,4) object -> camera, metres.
    K
        (3,3) intrinsics, pixels.
    box_min, box_max
        (3,) corners of the object's axis-aligned box, object frame; None = no
        box.
    axis_length
        length of the drawn object axes, metres; 0 = none.
    point_rgb
        colour of the points.

    Returns
    -------
        (H,W,3) uint8 new image.

    """
    out = np.array(rgb, dtype=np.uint8, copy=True)
    pose = np.asarray(pose, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    if box_min is not None and box_max is not None:
        lo, hi = np.asarray(box_min, np.float64), np.asarray(box_max, np.float64)
        corners = np.array([[(hi if i & 4 else lo)[0], (hi if i & 2 else lo)[1],
                             (hi if i & 1 else lo)[2]] for i in range(8)])
        a = corners[[e[0] for e in _BOX_EDGES]]
        b = corners[[e[1] for e in _BOX_EDGES]]
        uv, z = project(_segment_points(a, b), pose, K)
        _splat(out, uv, z, BOX_RGB, 0)
    if len(points):
        uv, z = project(points, pose, K)
        _splat(out, uv, z, point_rgb, 1)
    if axis_length > 0:
        origin = np.zeros((3, 3))
        for i, colour in enumerate(AXES_RGB):
            uv, z = project(_segment_points(origin[i:i + 1], np.eye(3)[i:i + 1] * axis_length),
                            pose, K)
            _splat(out, uv, z, colour, 1)
    return out
