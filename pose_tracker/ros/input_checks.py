# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Checks for input that is quietly wrong: it converts fine but would be tracked wrongly.

Pure numpy on message look-alikes (no ROS import), so each check is testable on its own. The node
(`pose_tracker.ros.node`) logs each finding once, counts it on /diagnostics and acts on it:

* `intrinsics` picks the matrix that fits the image topic (K for raw images, the left 3x3 of P
  for rectified ones, REP 104) and adjusts it for binning / ROI, with a note for every doubt;
* `initial_pose_problem`, `depth_range` and `depth_support` (pose plausibility, re-exported
  from the core's `pose_tracker.pose_checks`).
"""

from typing import List, Tuple

import numpy as np

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

    Args:
        msg: CameraInfo (or look-alike): `k`, `p`, `d`, `height`, `width`, and `binning_x`,
            `binning_y`, `roi` when present.
        rectified: the image topic carries rectified images: use P's left 3x3 (K describes the raw
            image); else K.

    Returns:
        K: (3,3) float64 for the image as published (after binning / ROI).
        size: (H, W) of the image as published.
        findings: list of (kind, message) to log once each; kinds: "distortion", "p_vs_k",
            "binning_roi", "no_p".

    Raises:
        CameraInfoError: no usable intrinsics (see `camera_info_to_k`).

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
