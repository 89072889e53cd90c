# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Per-frame depth filtering of the FoundationPose tracker: erode, then bilateral hole fill.

Both filters reproduce FoundationPose's per-pixel GPU kernels (``erode_depth_kernel`` and
``bilateral_filter_depth_kernel``) with fixed-shape tensor ops (``F.unfold`` over a padded image),
so they run unchanged on CPU and inside a CUDA graph. Behaviour worth knowing:

* Image borders: neighbours outside the image are skipped, not padded. The erode ratio divides by
  the number of in-image neighbours (9 at a corner, 15 along an edge, 25 inside).
* A depth is "valid" when 0.001 <= z < zfar; everything else (0, negative, far) is "no reading".
* ``erode_depth`` only removes readings; a hole stays a hole.
* ``bilateral_filter_depth`` rewrites every pixel, holes included: the output is the
  spatially weighted mean of the valid neighbours within 0.01 m of the neighbourhood's mean depth.
  So holes with valid neighbours get filled, valid pixels get smoothed, and a pixel whose
  neighbourhood is split across a depth edge (no neighbour within 1 cm of the mean) becomes 0.

All inputs are ``(B,H,W)`` depth in metres; outputs keep shape, dtype and device.
"""

import torch
import torch.nn.functional as F

from pose_tracker.geometry.camera import MIN_VALID_DEPTH


def _neighbourhoods(depth: torch.Tensor, radius: int, pad_value: float = 0.0) -> torch.Tensor:
    """Return the (B,k*k,H,W) neighbourhoods of a (B,H,W) image; index dv*k + du; padded."""
    B, H, W = depth.shape
    k = 2 * radius + 1
    padded = F.pad(depth.unsqueeze(1), (radius,) * 4, value=pad_value)
    return F.unfold(padded, kernel_size=k).view(B, k * k, H, W)


def _in_image_count(H: int, W: int, radius: int, like: torch.Tensor) -> torch.Tensor:
    """Return the (H,W) number of neighbours of each pixel that lie inside an HxW image."""
    v = torch.arange(H, device=like.device)
    u = torch.arange(W, device=like.device)
    rows = (v + radius).clamp_max(H - 1) - (v - radius).clamp_min(0) + 1
    cols = (u + radius).clamp_max(W - 1) - (u - radius).clamp_min(0) + 1
    return (rows.view(H, 1) * cols.view(1, W)).to(like.dtype)


def _valid(depth: torch.Tensor, zfar: float) -> torch.Tensor:
    """Return the (B,H,W) mask of depth readings, 0.001 <= z < zfar."""
    return (depth >= MIN_VALID_DEPTH) & (depth < zfar)


def _box_count(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Return the number of set pixels of a (B,H,W) mask in each in-image neighbourhood."""
    k = 2 * radius + 1
    ones = torch.ones(1, 1, k, k, dtype=torch.float32, device=mask.device)
    # Small integer counts: exact in float32 whatever the summation order.
    return F.conv2d(mask.unsqueeze(1).float(), ones, padding=radius).squeeze(1)


def erode_depth(depth: torch.Tensor, radius: int = 2, depth_diff_thres: float = 0.001,
                ratio_thres: float = 0.8, zfar: float = 100.0) -> torch.Tensor:
    """
    Zero the depth readings that disagree with most of their neighbourhood.

    For each pixel with depth d, over its in-image (2r+1)x(2r+1) neighbourhood (itself included),
    a neighbour z is bad if z < 0.001, z >= zfar or |z - d| > depth_diff_thres; the output is 0 if
    bad / total > ratio_thres, else d. Identical to the reference on every valid reading; invalid
    readings come out as 0 (the reference passes a reading >= zfar through in rare cases).

    Args:
        depth: (B,H,W) float metres, 0 = no reading.
        radius: neighbourhood radius in pixels (2 -> 5x5).
        depth_diff_thres: metres.
        ratio_thres: share of bad neighbours above which the reading is dropped.
        zfar: metres; readings at or beyond it count as bad.

    Returns:
        (B,H,W) eroded depth, same dtype/device.
    """
    B, H, W = depth.shape
    valid = _valid(depth, zfar)
    # Invalid readings and the outside become +inf: then "bad" is just |z - d| > thres (or NaN).
    inf = torch.full_like(depth, float("inf"))
    nb = _neighbourhoods(torch.where(valid, depth, inf), radius, pad_value=float("inf"))
    good = ((nb - depth.unsqueeze(1)).abs_() <= depth_diff_thres).sum(dim=1)
    total = _in_image_count(H, W, radius, depth)
    bad = total - good.to(depth.dtype)
    keep = valid & ~(bad / total > ratio_thres)
    return torch.where(keep, depth, torch.zeros_like(depth))


def bilateral_filter_depth(depth: torch.Tensor, radius: int = 2, sigma_d: float = 2.0,
                           sigma_r: float = 100000.0, zfar: float = 100.0) -> torch.Tensor:
    """
    Fill holes and smooth depth with FoundationPose's bilateral filter.

    Over the in-image (2r+1)x(2r+1) neighbourhood: mean = mean of the valid neighbours
    (0.001 <= z < zfar); the output is the average of the valid neighbours with |z - mean| < 0.01,
    weighted by exp(-(du^2 + dv^2) / (2 sigma_d^2) - (d_centre - z)^2 / (2 sigma_r^2)); 0 where no
    neighbour qualifies. The neighbourhood mean is accumulated in the reference's order (columns
    outer, rows inner), so the 1 cm test decides exactly as the reference does on millimetre data.
    The range term is skipped when zfar^2 / (2 sigma_r^2) <= 1e-6, as with the defaults (5e-7):
    it could then change the output by at most that much relative (and by nothing measurable for
    depths of a few metres), while costing a quarter of the filter's time.

    Args:
        depth: (B,H,W) float metres, 0 = no reading.
        radius: neighbourhood radius in pixels (2 -> 5x5).
        sigma_d: spatial sigma, pixels.
        sigma_r: range sigma, metres (the default makes the range term negligible).
        zfar: metres; readings at or beyond it are ignored.

    Returns:
        (B,H,W) filtered depth, same dtype/device.
    """
    k = 2 * radius + 1
    valid = _valid(depth, zfar)
    clean = torch.where(valid, depth, torch.zeros_like(depth))
    nb = _neighbourhoods(clean, radius)  # invalid readings and the outside are 0

    # Sequential sum in the reference's loop order: the mean feeds a hard 1 cm threshold.
    total = torch.zeros_like(depth)
    for du in range(k):
        for dv in range(k):
            total = total + nb[:, dv * k + du]
    num_valid = _box_count(valid, radius).to(depth.dtype)
    mean = total / num_valid.clamp_min(1.0)

    near = (nb - mean.unsqueeze(1)).abs_() < 0.01
    near &= nb > 0
    offs = torch.arange(-radius, radius + 1, device=depth.device, dtype=depth.dtype)
    spatial = -(offs.view(k, 1) ** 2 + offs.view(1, k) ** 2).reshape(1, k * k, 1, 1)
    spatial = spatial / (2.0 * sigma_d * sigma_d)
    if zfar * zfar / (2.0 * sigma_r * sigma_r) <= 1e-6:
        weight = near * torch.exp(spatial)
    else:
        range_term = (depth.unsqueeze(1) - nb) ** 2 / (2.0 * sigma_r * sigma_r)
        weight = near * torch.exp(spatial - range_term)
    sum_weight = weight.sum(dim=1)
    weighted = (weight * nb).sum(dim=1)
    has = sum_weight > 0
    out = weighted / torch.where(has, sum_weight, torch.ones_like(sum_weight))
    return torch.where(has, out, torch.zeros_like(out))


def preprocess_depth(depth: torch.Tensor, zfar: float = 100.0) -> torch.Tensor:
    """
    Apply the tracker's per-frame depth filtering: erode, then bilateral fill (radius 2).

    Non-finite readings (NaN/inf, as in 32FC1 depth images) are first set to 0; the reference
    kernels would instead let a NaN centre pixel through.

    Args:
        depth: (B,H,W) float metres, 0 = no reading.
        zfar: metres; readings at or beyond it are ignored by both filters.

    Returns:
        (B,H,W) filtered depth, same dtype/device.
    """
    depth = torch.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0)
    depth = erode_depth(depth, radius=2, zfar=zfar)
    return bilateral_filter_depth(depth, radius=2, zfar=zfar)
