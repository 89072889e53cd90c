# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Fuzz the image conversions: any message gives the right pixels or a FrameError, nothing else."""

import math
import struct
from types import SimpleNamespace

from hypothesis import given, settings, strategies as st
import numpy as np

from pose_tracker.errors import FrameError
from pose_tracker.ros import conversions as conv

ENCODINGS = ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "16UC1", "32FC1", "mono16", "yuv422",
             "8UC3", ""]
BPP = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "16UC1": 2, "mono16": 2,
       "32FC1": 4}


@st.composite
def messages(draw, encodings=ENCODINGS):
    """Draw a random, often inconsistent, image message and a destination buffer shape."""
    enc = draw(st.sampled_from(encodings))
    h = draw(st.integers(-1, 6))
    w = draw(st.integers(-1, 6))
    bpp = BPP.get(enc, 3)
    row = max(w, 0) * bpp
    step = draw(st.one_of(st.integers(row, row + 7), st.integers(-3, row + 7)))
    need = max(h, 0) * max(step, 0)
    n = draw(st.one_of(st.just(need), st.integers(0, need + 8)))
    data = draw(st.binary(min_size=n, max_size=n))
    bigendian = draw(st.integers(0, 1))
    # Mostly the matching buffer, sometimes a wrong one.
    oh = draw(st.one_of(st.just(max(h, 0)), st.integers(0, 6)))
    ow = draw(st.one_of(st.just(max(w, 0)), st.integers(0, 6)))
    msg = SimpleNamespace(height=h, width=w, encoding=enc, is_bigendian=bigendian, step=step,
                          data=data)
    return msg, (oh, ow)


def reference_rgb(msg):
    """Pixel-by-pixel decoding with plain Python, (H,W,3) uint8."""
    bpp, order = conv.COLOR_ENCODINGS[msg.encoding]
    out = np.zeros((msg.height, msg.width, 3), np.uint8)
    for r in range(msg.height):
        for c in range(msg.width):
            o = r * msg.step + c * bpp
            out[r, c] = [msg.data[o + i] for i in order]
    return out


def reference_depth(msg):
    """Pixel-by-pixel decoding with plain Python, (H,W) float32 metres."""
    endian = ">" if msg.is_bigendian else "<"
    out = np.zeros((msg.height, msg.width), np.float32)
    for r in range(msg.height):
        for c in range(msg.width):
            o = r * msg.step + c * BPP[msg.encoding]
            if msg.encoding in ("16UC1", "mono16"):
                out[r, c] = np.float32(struct.unpack_from(endian + "H", msg.data, o)[0]) / 1000
            else:
                v = struct.unpack_from(endian + "f", msg.data, o)[0]
                out[r, c] = v if math.isfinite(v) and v > 0 else 0.0
    return out


@settings(max_examples=300, deadline=None, derandomize=True)
@given(messages(["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "16UC1", "yuv422", "8UC3", ""]))
def test_rgb_into_fuzz(case):
    msg, (oh, ow) = case
    out = np.zeros((oh, ow, 3), np.uint8)
    try:
        conv.rgb_into(out, msg)
    except FrameError:
        return
    assert msg.encoding in conv.COLOR_ENCODINGS
    np.testing.assert_array_equal(out, reference_rgb(msg))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(messages(["16UC1", "32FC1", "16UC1", "32FC1", "mono16", "rgb8"]))
def test_depth_into_fuzz(case):
    msg, (oh, ow) = case
    out = np.full((oh, ow), -1.0, np.float32)
    try:
        conv.depth_into(out, msg)
    except FrameError:
        return
    assert msg.encoding in conv.DEPTH_ENCODINGS
    assert np.all(np.isfinite(out)) and np.all(out >= 0)
    np.testing.assert_array_equal(out, reference_depth(msg))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                          st.integers(-10, 10)), min_size=0, max_size=12),
       st.integers(-2, 5), st.integers(-2, 5))
def test_camera_info_fuzz(k, h, w):
    info = SimpleNamespace(k=k, height=h, width=w)
    try:
        K, size = conv.camera_info_to_k(info)
    except FrameError:
        return
    assert K.shape == (3, 3) and np.all(np.isfinite(K)) and K[0, 0] > 0 and min(size) > 0
