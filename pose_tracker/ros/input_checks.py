# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Checks for input that is quietly wrong: it converts fine but would be tracked wrongly.

Pure numpy on message look-alikes (no ROS import), so each check is testable on its own. The node
(`pose_tracker.ros.node`) logs each finding once, counts it on /diagnostics and acts on it:

* `intrinsics` picks the matrix that fits the image topic (K for raw images, the left 3x3 of P
  for rectified ones, REP 104) and adjusts it for binning / ROI, with a note for every doubt;
* `initial_pose_problem` refuses poses behind the camera, outside the image or far from the
  measured depth;
* `depth_support` says how much of the object at a pose is backed by the depth image.
"""

from typing import List, Optional, Tuple

import numpy as np

from pose_tracker.geometry.pinhole import project
from pose_tracker.ros.conversions import CameraInfoError, camera_info_to_k

#: Relative tolerance of the P-versus-K comparison (calibration round-off stays well below it).
P_K_RTOL = 0.01


def is_rectified_topic(topic: str) -> bool:
    """Whether an image topic name says that the image is rectified (`image_rect`...)."""
    return "image_rect" in topic.rsplit("/", 1)[-1] or "/rect" in topic


def _array(msg, name: str) -> np.ndarray:
    """Flat float64 array of a message field (empty when absent)."""
    value = getattr(msg, name, None)
    return np.zeros(0) if value is None else np.asarray(value, dtype=np.float64).reshape(-1)


def intrinsics(msg, rectified: bool) -> Tuple[np.ndarray, Tuple[int, int], List[Tuple[str, str]]]:
    """
    Intrinsics and size of the published image from a sensor_msgs/CameraInfo.

    Parameters
    ----------
    msg
        CameraInfo (or look-alike): `k`, `p`, `d`, `height`, `width`, and `binning_x`,
        `binning_y`, `roi` when present.
    rectified
        the image topic carries rectified images: use P's left 3x3 (K describes the raw
        image); else K.

    Returns
    -------
    K
        (3,3) float64 for the image as published (after binning / ROI).
    size
        (H, W) of the image as published.
    findings
        list of (kind, message) to log once each; kinds: "distortion", "p_vs_k",
        "binning_roi", "no_p".

    Raises
    ------
    CameraInfoError
        no usable intrinsics (see `camera_info_to_k`).

    """
    K, size = camera_info_to_k(msg)
    notes: List[Tuple[str, str]] = []
    p = _array(msg, "p")
    P3 = p.reshape(3, 4)[:, :3] if p.size == 12 and p[0] > 0 and np.isfinite(p).all() else None
    d = _array(msg, "d")
    model = getattr(msg, "distortion_model", "") or "unnamed model"
    if rectified:
        if P3 is not None:
            K = P3.copy()
        else:
            notes.append(("no_p", "camera_info of a rectified image topic has no projection "
                                  "matrix P (p[0] == 0): using K instead"))
    else:
        if d.size and np.any(np.abs(d) > 1e-9):
            shown = ", ".join(f"{v:.3g}" for v in d[:5])
            notes.append(("distortion",
                          f"camera_info has non-zero distortion ({model}: {shown}) but the image "
                          "topic is not rectified: the tracker assumes a pinhole camera and "
                          "uses K as is, so poses err toward the image edges. Subscribe to the "
                          "rectified image (image_rect; then P is used) or set image_rectified "
                          "if the image is already undistorted"))
        if P3 is not None and not np.allclose(P3, K, rtol=P_K_RTOL, atol=1e-6 * K[0, 0]):
            notes.append(("p_vs_k",
                          f"camera_info P (fx={P3[0, 0]:.1f} fy={P3[1, 1]:.1f} cx={P3[0, 2]:.1f} "
                          f"cy={P3[1, 2]:.1f}) disagrees with K (fx={K[0, 0]:.1f} "
                          f"fy={K[1, 1]:.1f} cx={K[0, 2]:.1f} cy={K[1, 2]:.1f}): the image topic "
                          "is raw, so K is used (P describes the rectified image)"))
    h, w = size
    bx = int(getattr(msg, "binning_x", 0) or 0)
    by = int(getattr(msg, "binning_y", 0) or 0)
    roi = getattr(msg, "roi", None)
    rx, ry = (int(getattr(roi, "x_offset", 0) or 0), int(getattr(roi, "y_offset", 0) or 0))
    rw, rh = (int(getattr(roi, "width", 0) or 0), int(getattr(roi, "height", 0) or 0))
    has_roi = rw > 0 and rh > 0 and (rx, ry, rw, rh) != (0, 0, w, h)
    if bx > 1 or by > 1 or has_roi:
        K = K.copy()
        if has_roi:
            K[0, 2] -= rx
            K[1, 2] -= ry
            h, w = rh, rw
        sx, sy = max(bx, 1), max(by, 1)
        K[0, :] /= sx
        K[1, :] /= sy
        h, w = h // sy, w // sx
        notes.append(("binning_roi",
                      f"camera_info has binning {sx}x{sy} and ROI "
                      f"{'x=%d y=%d %dx%d' % (rx, ry, rw, rh) if has_roi else 'none'}: "
                      f"{'P' if rectified and P3 is not None else 'K'} (given for the full "
                      f"sensor) is adjusted to the published {w}x{h} image: fx={K[0, 0]:.1f} "
                      f"fy={K[1, 1]:.1f} cx={K[0, 2]:.1f} cy={K[1, 2]:.1f}"))
    if h <= 0 or w <= 0:
        raise CameraInfoError(f"camera_info binning / ROI leave an image of {w}x{h} pixels")
    return K, (h, w), notes


def initial_pose_problem(T: np.ndarray, K: Optional[np.ndarray] = None,
                         size: Optional[Tuple[int, int]] = None,
                         center: Optional[np.ndarray] = None, diameter: float = 0.0,
                         depth_range: Optional[Tuple[float, float]] = None,
                         max_depth: float = 20.0) -> Optional[str]:
    """
    Why an initial pose (object -> camera, metres) cannot be right, or None when it may be.

    Parameters
    ----------
    T
        (4,4) pose.
    K, size
        intrinsics and (H, W) of the image; None = not known yet (no projection check).
    center
        object centre in the object frame (default: its origin).
    diameter
        object diameter, metres (margin of the checks; 0 = unknown).
    depth_range
        (min, max) valid depth of the latest depth image, metres; None = no depth yet.
    max_depth
        farthest plausible distance without a depth image, metres.

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

    Parameters
    ----------
    depth
        (H,W) metres, 0 = invalid.
    points
        (N,3) object points, object frame, metres.
    T
        (4,4) pose, object -> camera.
    K
        (3,3) intrinsics.
    tolerance
        metres.

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
