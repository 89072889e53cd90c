# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Plausibility checks of a pose against the camera and the depth image (pure numpy).

* `initial_pose_problem` refuses poses behind the camera, outside the image or far from the
  measured depth;
* `depth_range` is the (min, max) valid depth of an image, metres;
* `depth_support` says how much of the object at a pose is backed by the depth image.

Poses are object -> camera (4,4), metres, in the camera's optical frame (z forward); K is the
(3,3) pinhole intrinsics in pixels.
"""

from typing import Optional, Tuple

import numpy as np

from pose_tracker.geometry.pinhole import project


def initial_pose_problem(T: np.ndarray, K: Optional[np.ndarray] = None,
                         size: Optional[Tuple[int, int]] = None,
                         center: Optional[np.ndarray] = None, diameter: float = 0.0,
                         depth_range: Optional[Tuple[float, float]] = None,
                         max_depth: float = 20.0) -> Optional[str]:
    """
    Why an initial pose (object -> camera, metres) cannot be right, or None when it may be.

    Args:
        T: (4,4) pose.
        K: (3,3) intrinsics, pixels; None = not known yet (no projection check).
        size: (H, W) of the image, pixels; None = not known yet.
        center: object centre in the object frame (default: its origin).
        diameter: object diameter, metres (margin of the checks; 0 = unknown).
        depth_range: (min, max) valid depth of the latest depth image, metres; None = no depth yet.
        max_depth: farthest plausible distance without a depth image, metres.

    """
    c = np.zeros(3) if center is None else np.asarray(center, np.float64)
    p = T[:3, :3] @ c + T[:3, 3]
    z = float(p[2])
    if not z > 0:
        return (f"the object centre is at z = {z:.3f} m, behind the camera (REP 103 optical "
                "frame: z points forward, so z must be > 0)")
    if K is not None and size is not None:
        (u, v), = project(c[None], T, K)[0]
        h, w = size
        margin = 0.5 * diameter * K[0, 0] / z if diameter > 0 else 0.0
        if not (-margin <= u <= w - 1 + margin and -margin <= v <= h - 1 + margin):
            return (f"the object centre projects to pixel ({u:.0f}, {v:.0f}), outside the "
                    f"{w}x{h} image: the object would not be seen")
    slack = max(diameter, 0.05)
    if depth_range is not None:
        lo, hi = depth_range
        if z > 2.0 * hi + slack or z < 0.5 * lo - slack:
            return (f"the object is at z = {z:.2f} m but the depth image measures "
                    f"{lo:.2f}..{hi:.2f} m: far outside the depth range")
    elif z > max_depth:
        return f"the object is at z = {z:.1f} m, beyond any RGB-D camera's range ({max_depth:g} m)"
    return None


def depth_range(depth: np.ndarray, stride: int = 8) -> Optional[Tuple[float, float]]:
    """(min, max) of the valid (> 0) depth of every `stride`-th pixel, metres; None if none."""
    sub = depth[::stride, ::stride]
    valid = sub[sub > 0]
    if valid.size == 0:
        return None
    return float(valid.min()), float(valid.max())


def depth_support(depth: np.ndarray, points: np.ndarray, T: np.ndarray, K: np.ndarray,
                  tolerance: float) -> float:
    """
    Share (0..1) of the object's sample points in the image that the depth image supports.

    A point is supported when the depth at its pixel is valid and within `tolerance` metres of
    the point's depth, or in front of it (an occluder also proves the depth sees that far).
    Depth all at the far limit, or no depth where the object should be, gives 0.

    Args:
        depth: (H,W) metres, 0 = invalid.
        points: (N,3) object points, object frame, metres.
        T: (4,4) pose, object -> camera.
        K: (3,3) intrinsics.
        tolerance: metres.

    """
    if len(points) == 0:
        return 1.0
    uv, z = project(points, T, K)
    h, w = depth.shape[:2]
    ok = np.isfinite(uv).all(1) & (z > 0)
    u = np.rint(uv[ok, 0]).astype(np.int64)
    v = np.rint(uv[ok, 1]).astype(np.int64)
    z = z[ok]
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    if not inside.any():
        return 0.0
    d = depth[v[inside], u[inside]]
    supported = (d > 0) & (d <= z[inside] + tolerance)
    return float(supported.mean())
