# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of the depth filters (pose_tracker.crop.depth) against slow per-pixel references."""

import numpy as np
import torch

from pose_tracker.crop.depth import bilateral_filter_depth, erode_depth, preprocess_depth

F32 = np.float32


def _ref_erode(depth, radius=2, thres=0.001, ratio=0.8, zfar=100.0):
    """Per-pixel float32 erode, as the reference GPU kernel: skip out-of-image neighbours."""
    H, W = depth.shape
    out = np.zeros_like(depth)
    for h in range(H):
        for w in range(W):
            d = depth[h, w]
            bad = F32(0)
            total = F32(0)
            for u in range(w - radius, w + radius + 1):
                if u < 0 or u >= W:
                    continue
                for v in range(h - radius, h + radius + 1):
                    if v < 0 or v >= H:
                        continue
                    z = depth[v, u]
                    total += F32(1)
                    if z < F32(0.001) or z >= F32(zfar) or abs(z - d) > F32(thres):
                        bad += F32(1)
            out[h, w] = F32(0) if bad / total > F32(ratio) else d
    return out


def _ref_bilateral(depth, radius=2, sigma_d=2.0, sigma_r=100000.0, zfar=100.0):
    """Per-pixel float32 bilateral fill, as the reference kernel (columns outer, rows inner)."""
    H, W = depth.shape
    out = np.zeros_like(depth)

    def ok(z):
        return F32(0.001) <= z < F32(zfar)

    for h in range(H):
        for w in range(W):
            window = [(u, v) for u in range(w - radius, w + radius + 1) if 0 <= u < W
                      for v in range(h - radius, h + radius + 1) if 0 <= v < H]
            mean, n = F32(0), 0
            for u, v in window:
                if ok(depth[v, u]):
                    mean += depth[v, u]
                    n += 1
            if n == 0:
                continue
            mean = mean / F32(n)
            dc = depth[h, w]
            s, sw = F32(0), F32(0)
            for u, v in window:
                z = depth[v, u]
                if ok(z) and abs(z - mean) < F32(0.01):
                    wgt = np.exp(F32(-((u - w) ** 2 + (h - v) ** 2)) / F32(2 * sigma_d ** 2)
                                 - (dc - z) ** 2 / F32(2 * sigma_r ** 2))
                    sw += wgt
                    s += wgt * z
            if sw > 0:
                out[h, w] = s / sw
    return out


def _scene(seed, B=2, H=13, W=17):
    """Millimetre-quantised depth: two planes with a step edge, noise, holes and speckles."""
    rng = np.random.default_rng(seed)
    depth = np.empty((B, H, W), F32)
    for b in range(B):
        v, u = np.mgrid[0:H, 0:W]
        plane = 0.8 + 0.002 * u + 0.001 * v + 0.3 * (u > W // 2)
        noise = rng.integers(-2, 3, size=(H, W)) * 0.001
        d = np.round((plane + noise) * 1000) / 1000
        d[rng.random((H, W)) < 0.2] = 0.0                      # holes
        d[rng.random((H, W)) < 0.05] = rng.uniform(0.3, 3.0)    # flying pixels
        d[0:3, 0:3] = 0.0                                        # a corner hole
        d[-1, -1] = 150.0                                        # beyond zfar
        depth[b] = d.astype(F32)
    return depth


def test_erode_matches_reference_exactly():
    for seed in range(2):
        depth = _scene(seed)
        out = erode_depth(torch.from_numpy(depth))
        ref = np.stack([_ref_erode(d) for d in depth])
        np.testing.assert_array_equal(out.numpy(), ref)
        assert 0 < (ref == 0).sum() - (depth == 0).sum()  # something was actually eroded


def test_bilateral_matches_reference():
    for seed in range(2):
        depth = _scene(seed + 10)
        out = bilateral_filter_depth(torch.from_numpy(depth)).numpy()
        ref = np.stack([_ref_bilateral(d) for d in depth])
        np.testing.assert_array_equal(out == 0, ref == 0)
        np.testing.assert_allclose(out, ref, rtol=1e-6, atol=0)
        assert ((depth == 0) & (ref > 0)).any()  # holes were filled
        assert ((depth > 0) & (ref == 0)).any()  # and some edge pixels dropped


def test_bilateral_with_a_small_range_sigma_matches_reference():
    # sigma_r = 5 mm makes the range term matter (the default makes it negligible and skipped).
    depth = _scene(7)
    out = bilateral_filter_depth(torch.from_numpy(depth), sigma_r=0.005).numpy()
    ref = np.stack([_ref_bilateral(d, sigma_r=0.005) for d in depth])
    default = np.stack([_ref_bilateral(d) for d in depth])
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=0)
    assert np.abs(ref - default).max() > 1e-4


def test_bilateral_mean_threshold_ties():
    # Depths from {1.000, 1.005, ..., 1.020}: neighbourhood means often sit exactly 1 cm from a
    # neighbour, where the float32 summation order decides the "< 0.01" test (a plain vectorised
    # sum differs from the reference at a few pixels of every such image). Must agree.
    rng = np.random.default_rng(0)
    levels = np.array([0.0, 1.0, 1.005, 1.01, 1.015, 1.02], F32)
    depth = rng.choice(levels, size=(3, 12, 12)).astype(F32)
    out = bilateral_filter_depth(torch.from_numpy(depth)).numpy()
    ref = np.stack([_ref_bilateral(d) for d in depth])
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=0)


def test_hole_fill_and_borders_by_hand():
    depth = torch.zeros(1, 8, 8)
    depth[0, 2:5, 2:5] = 1.0
    depth[0, 3, 3] = 0.0  # a hole inside a flat patch
    out = bilateral_filter_depth(depth)
    assert out[0, 3, 3] == 1.0  # filled
    assert out[0, 0, 0] == 1.0  # (2,2) is within radius 2 of the corner: filled too
    assert out[0, 7, 0] == 0.0  # nothing valid within radius 2
    # Erode at the border: a corner pixel has 9 in-image neighbours; with 7 bad (7/9 <= 0.8)
    # it survives, with 8 bad (8/9 > 0.8) it is removed.
    d = torch.zeros(1, 6, 6)
    d[0, 0, 0] = d[0, 0, 1] = 2.0
    assert erode_depth(d)[0, 0, 0] == 2.0
    d[0, 0, 1] = 0.0
    assert erode_depth(d)[0, 0, 0] == 0.0
    # Inside: 5 good of 25 (20/25 is exactly 0.8, not above it): kept; 4 good: removed.
    d = torch.zeros(1, 9, 9)
    d[0, 2:7, 4] = 1.0
    assert erode_depth(d)[0, 4, 4] == 1.0
    d[0, 6, 4] = 0.0
    assert erode_depth(d)[0, 4, 4] == 0.0
    # A neighbour 1.5 mm away is bad, 0.5 mm away is good.
    d[0, 6, 4] = 1.0015
    assert erode_depth(d)[0, 4, 4] == 0.0
    d[0, 6, 4] = 1.0005
    assert erode_depth(d)[0, 4, 4] == 1.0
    # A hole stays a hole whatever its neighbours.
    d = torch.ones(1, 9, 9)
    d[0, 4, 4] = 0.0
    assert erode_depth(d)[0, 4, 4] == 0.0


def test_preprocess_is_erode_then_bilateral_and_sanitises():
    depth = torch.from_numpy(_scene(3))
    out = preprocess_depth(depth)
    torch.testing.assert_close(out, bilateral_filter_depth(erode_depth(depth)), rtol=0, atol=0)
    depth[0, 5, 5] = float("nan")
    depth[1, 6, 6] = float("inf")
    assert torch.isfinite(preprocess_depth(depth)).all()
    d64 = depth.double()
    assert preprocess_depth(d64).dtype == torch.float64
