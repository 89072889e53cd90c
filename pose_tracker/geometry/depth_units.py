# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Depth units: the one conversion of integer millimetres to float32 metres (numpy only).

Depth PNGs (FoundationPose / YCB-Video layout), ROS ``16UC1`` / ``mono16`` images (REP 118) and
uint16 arrays given to the tracker all hold whole millimetres, 0 = no reading. Every reader
converts them here, so the same millimetre count gives the same metres bit for bit everywhere.

The conversion divides by float32 1000, as FoundationPose does (``depth / 1e3``), rather than
multiplying by float32 0.001: 0.001 is not exact in binary, and the product rounds differently
for 38,850 of the 65,536 uint16 values. Division is correctly rounded, so whole metres stay
exact (1000 mm -> 1.0) and 0 stays 0.
"""

from typing import Optional

import numpy as np

#: Millimetres per metre, float32 (the divisor of `depth_mm_to_m`).
MM_PER_M = np.float32(1000.0)


def depth_mm_to_m(depth_mm: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Convert integer millimetre depth to float32 metres: ``float32(mm) / float32(1000)``.

    Args:
        depth_mm:
            (...) unsigned or signed integer array of millimetres (usually (H,W) uint16, any byte
            order, any strides), 0 = no reading. Values must fit float32 exactly (|v| < 2**24;
            every uint16 does).
        out: optional (...) float32 destination of the same shape (e.g. a staging buffer), written
            in place.

    Returns:
        (...) float32 metres (``out`` when given), 0 where ``depth_mm`` is 0.

    Raises:
        TypeError: ``depth_mm`` is not an integer array (float depth is metres already).

    """
    depth_mm = np.asarray(depth_mm)
    if depth_mm.dtype.kind not in "ui":
        raise TypeError(f"depth_mm must be integer millimetres, got dtype {depth_mm.dtype} "
                        "(float depth is taken to be metres already)")
    return np.divide(depth_mm, MM_PER_M, out=out, dtype=np.float32)
