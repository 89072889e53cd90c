# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Argument types shared by the command-line tools (bench, soak, synth, demo)."""

import argparse
from typing import Tuple


def image_size(text: str) -> Tuple[int, int]:
    """Parse an image size 'HxW' (pixels, both positive) for argparse, e.g. '480x640'."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 480x640, got {text!r}")
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return h, w
