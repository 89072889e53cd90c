# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Interpolate vertex attributes over a rasterized image (nvdiffrast's ``interpolate``)."""

import torch


def interpolate(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """
    Interpolate per-vertex attributes at every pixel with the rasterizer's barycentrics.

    Same result as ``nvdiffrast.torch.interpolate(attr, rast, tri)[0]``: at a pixel covered by
    triangle (i0, i1, i2) with barycentrics (u, v), ``u*attr[i0] + v*attr[i1] + (1-u-v)*attr[i2]``;
    zero where ``rast[..., 3] == 0``. Graph-safe: clamped gathers and a select, fixed shapes.

    Parameters
    ----------
    attr
        (V,C) attributes shared by the batch, or (B,V,C) / (1,V,C) per image.
    rast
        (B,H,W,4) rasterizer output (u, v, z/w, triangle_id + 1).
    tri
        (F,3) int32 or int64 vertex indices, the same triangle order as the rasterized one
        (they may index a different vertex array, e.g. with vertices split at uv seams).

    Returns
    -------
    torch.Tensor
        (B,H,W,C) interpolated attributes, dtype of ``attr``.

    """
    B, H, W = rast.shape[:3]
    F = tri.shape[0]
    tid_plus1 = rast[..., 3].to(torch.int64)
    covered = tid_plus1 > 0
    tid = (tid_plus1 - 1).clamp(0, max(F - 1, 0)).reshape(-1)
    vid = tri.index_select(0, tid).to(torch.int64)  # (B*H*W, 3)
    if attr.dim() == 2 or attr.shape[0] == 1:
        table = attr.reshape(attr.shape[-2], attr.shape[-1])
    else:
        V = attr.shape[1]
        table = attr.reshape(B * V, attr.shape[-1])
        vid = vid.view(B, H * W * 3) + torch.arange(B, device=vid.device).view(B, 1) * V
    C = table.shape[-1]
    a = table.index_select(0, vid.reshape(-1)).view(B, H, W, 3, C)
    b0 = rast[..., 0:1].to(attr.dtype)
    b1 = rast[..., 1:2].to(attr.dtype)
    out = b0 * a[..., 0, :] + b1 * a[..., 1, :] + (1.0 - b0 - b1) * a[..., 2, :]
    return torch.where(covered.unsqueeze(-1), out, torch.zeros_like(out))
