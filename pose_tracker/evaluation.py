# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Scoring a tracked sequence: per-frame errors and their summary, shared by every report.

`pose_tracker.tools.eval` (offline, the Tracker in-process) and `pose_tracker.ros.tools.demo`
(poses received from the node) both score frames with :func:`frame_errors` and summarise them
with :func:`error_summary`, so their ADD / ADD-S and rotation numbers mean the same thing. The
point metrics themselves are in :mod:`pose_tracker.metrics`.

Units: errors in metres (ADD, ADD-S, translation) and degrees (rotation); poses (4,4)
object -> camera, metres; model points (N,3) metres in the original mesh frame.
"""

import math
import statistics
from typing import List, Optional, Sequence

import numpy as np

from pose_tracker import metrics

#: Error above which a frame counts as lost (metres, ADD-S), as the upper end of the AUC range.
LOST_THRESHOLD_M = 0.1
#: Rotation error above which a frame's orientation counts as wrong (degrees).
ROT_THRESHOLD_DEG = 5.0


def finite_mean(values: Sequence[Optional[float]]) -> Optional[float]:
    """Return the mean of the finite values, or None when there are none."""
    v = [x for x in values if x is not None and math.isfinite(x)]
    return float(np.mean(v)) if v else None


def finite_median(values: Sequence[Optional[float]]) -> Optional[float]:
    """Return the median of the finite values, or None when there are none."""
    v = [x for x in values if x is not None and math.isfinite(x)]
    return float(statistics.median(v)) if v else None


def frame_errors(pose, gt, pts) -> dict:
    """
    Return all per-frame errors of one estimate.

    Args:
        pose: (4,4) estimated object -> camera pose, metres.
        gt: (4,4) ground-truth pose, metres.
        pts: (N,3) model points, metres, original mesh frame.

    Returns:
        dict with ``add_m``, ``adds_m``, ``t_err_m`` (metres), ``r_err_deg``; every value is
        ``inf`` when ``pose`` is not finite.
    """
    return {"add_m": metrics.add(pose, gt, pts), "adds_m": metrics.adds(pose, gt, pts),
            "t_err_m": metrics.translation_error(pose, gt),
            "r_err_deg": metrics.rotation_error_deg(pose, gt)}


def rotation_summary(r_err_deg: List[float], threshold_deg: float = ROT_THRESHOLD_DEG) -> dict:
    """
    Return rotation-error statistics of the frames with ground truth, in frame order.

    Args:
        r_err_deg: per-frame rotation errors, degrees (`metrics.rotation_error_deg`);
            ``inf`` = lost.
        threshold_deg: error above which a frame's rotation counts as wrong, degrees.

    Returns:
        dict with ``r_err_mean_deg``, ``r_err_median_deg``, ``r_err_max_deg`` (over the finite
        errors; None when there are none), ``r_err_last_deg`` (the last frame's error, inf when
        lost, None without frames), ``r_err_threshold_deg`` and ``r_err_above_threshold_fraction``
        (share of frames above the threshold, non-finite errors included, in [0, 1]; None
        without frames).
    """
    finite = [x for x in r_err_deg if x is not None and math.isfinite(x)]
    # Counted, not 1 - accuracy: k / n stays exact at the check's bound (1 / 20 == 0.05).
    above = sum(1 for x in r_err_deg if not (x is not None and x <= threshold_deg))
    return {
        "r_err_mean_deg": finite_mean(r_err_deg),
        "r_err_median_deg": finite_median(r_err_deg),
        "r_err_max_deg": float(max(finite)) if finite else None,
        "r_err_last_deg": float(r_err_deg[-1]) if r_err_deg else None,
        "r_err_threshold_deg": float(threshold_deg),
        "r_err_above_threshold_fraction": above / len(r_err_deg) if r_err_deg else None,
    }


def error_summary(records: List[dict], missing: int = 0,
                  rot_threshold_deg: float = ROT_THRESHOLD_DEG) -> dict:
    """
    Summarise the :func:`frame_errors` of the frames with ground truth, in frame order.

    Args:
        records: per-frame dicts with at least the :func:`frame_errors` keys.
        missing: frames with ground truth but no estimate; they count as failures (error
            ``inf``) in the AUCs.
        rot_threshold_deg: see :func:`rotation_summary`.

    Returns:
        dict with ``add_auc`` / ``adds_auc`` (YCB-Video AUC up to 10 cm, 0-100; None without
        frames), ``add_mean_m`` / ``adds_mean_m``, ``add_median_m`` / ``adds_median_m``,
        ``t_err_mean_m`` (over the finite errors; None when there are none), ``add_max_m`` /
        ``adds_max_m`` (inf when a pose was not finite; None without records), and the
        :func:`rotation_summary` keys.
    """
    add_e = [r["add_m"] for r in records]
    adds_e = [r["adds_m"] for r in records]
    scored = bool(records) or missing > 0
    return {
        "add_auc": metrics.auc(add_e + [math.inf] * missing) if scored else None,
        "adds_auc": metrics.auc(adds_e + [math.inf] * missing) if scored else None,
        "add_mean_m": finite_mean(add_e),
        "adds_mean_m": finite_mean(adds_e),
        "add_median_m": finite_median(add_e),
        "adds_median_m": finite_median(adds_e),
        "add_max_m": float(np.max(add_e)) if add_e else None,
        "adds_max_m": float(np.max(adds_e)) if adds_e else None,
        "t_err_mean_m": finite_mean([r["t_err_m"] for r in records]),
        **rotation_summary([r["r_err_deg"] for r in records], rot_threshold_deg),
    }
