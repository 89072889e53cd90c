# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""The one uint16 millimetre -> float32 metre conversion, over all 65,536 values, everywhere."""

from types import SimpleNamespace

import numpy as np
from PIL import Image
import pytest

from pose_tracker.data.sequence import read_depth
from pose_tracker.geometry.depth_units import depth_mm_to_m
from pose_tracker.ros import conversions as conv

#: Every uint16 value once, as a (256,256) image.
ALL_MM = np.arange(65536, dtype=np.uint16).reshape(256, 256)
#: The reference: FoundationPose's ``depth / 1e3`` in float32, correctly rounded.
EXPECTED = ALL_MM.astype(np.float32) / np.float32(1000)


def _bits(a: np.ndarray) -> np.ndarray:
    """Raw IEEE bits of a float32 array (an exact comparison that also tells -0 from 0)."""
    assert a.dtype == np.float32
    return np.ascontiguousarray(a).view(np.uint32)


def test_all_uint16_values_bit_exact():
    out = depth_mm_to_m(ALL_MM)
    assert out.dtype == np.float32 and out.shape == ALL_MM.shape
    np.testing.assert_array_equal(_bits(out), _bits(EXPECTED))
    assert _bits(out)[0, 0] == 0  # 0 (no reading) stays +0
    assert out.flat[1000] == 1.0 and out.flat[65000] == 65.0  # whole metres are exact
    # The old product differs on most values: the reason for one conversion.
    product = ALL_MM.astype(np.float32) * np.float32(0.001)
    assert np.count_nonzero(_bits(product) != _bits(EXPECTED)) == 38850


def test_out_buffer_big_endian_strided_and_int64():
    buf = np.full(ALL_MM.shape, -1.0, np.float32)
    assert depth_mm_to_m(ALL_MM.astype(">u2"), out=buf) is buf
    np.testing.assert_array_equal(_bits(buf), _bits(EXPECTED))
    np.testing.assert_array_equal(_bits(depth_mm_to_m(ALL_MM[:, ::2])), _bits(EXPECTED[:, ::2]))
    np.testing.assert_array_equal(_bits(depth_mm_to_m(ALL_MM.astype(np.int64))),
                                  _bits(EXPECTED))
    with pytest.raises(TypeError, match="integer millimetres"):
        depth_mm_to_m(EXPECTED)


def test_read_depth_png_gives_the_same_bits(tmp_path):
    path = tmp_path / "depth.png"
    Image.fromarray(ALL_MM).save(path)
    depth = read_depth(path, (256, 256))
    np.testing.assert_array_equal(_bits(depth), _bits(EXPECTED))


@pytest.mark.parametrize("bigendian", [False, True])
def test_ros_16uc1_readers_give_the_same_bits(bigendian):
    mm = ALL_MM.astype(">u2" if bigendian else "<u2")
    for encoding in ("16UC1", "mono16"):
        msg = SimpleNamespace(height=256, width=256, step=512, encoding=encoding,
                              is_bigendian=bigendian,
                              data=np.frombuffer(mm.tobytes(), np.uint8))
        np.testing.assert_array_equal(_bits(conv.depth_from_msg(msg)), _bits(EXPECTED))
        out = np.full(ALL_MM.shape, -1.0, np.float32)
        conv.depth_into(out, msg)
        np.testing.assert_array_equal(_bits(out), _bits(EXPECTED))
