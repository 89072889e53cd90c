# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Interpolate vertex attributes over a rasterized image (nvdiffrast's ``interpolate``)."""

import torch

from pose_tracker.render.rasterize import gather_rows


def interpolate(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """
    Interpolate per-vertex attributes at every pixel with the rasterizer's barycentrics.

    Same result as ``nvdiffrast.torch.interpolate(attr, rast, tri)[0]``: at a pixel covered by
    triangle (i0, i1, i2) with barycentrics (u, v), ``u*attr[i0] + v*attr[i1] + (1-u-v)*attr[i2]``;
    zero where ``rast[..., 3] == 0``. Graph-safe: clamped gathers and a select, fixed shapes.

    Args:
        attr: (V,C) attributes shared by the batch, or (B,V,C) / (1,V,C) per image.
        rast: (B,H,W,4) rasterizer output (u, v, z/w, triangle_id + 1).
        tri: (F,3) int32 or int64 vertex indices, the same triangle order as the rasterized one
            (they may index a different vertex array, e.g. with vertices split at uv seams).

    Returns:
        torch.Tensor: (B,H,W,C) interpolated attributes, dtype of ``attr``.

    """
    B = rast.shape[0]
    F = tri.shape[0]
    tid_plus1 = rast[..., 3].to(torch.int64)  # (B,H,W)
    tid = (tid_plus1 - 1).clamp_(0, max(F - 1, 0))
    vid = gather_rows(tri, tid).to(torch.int64)  # (B,H,W,3)
    if attr.dim() == 2 or attr.shape[0] == 1:
        a = gather_rows(attr.reshape(attr.shape[-2], attr.shape[-1]), vid)
    else:
        V = attr.shape[1]
        batch = (torch.arange(B, device=vid.device, dtype=torch.int64) * V).view(B, 1, 1, 1)
        a = gather_rows(attr.reshape(B * V, attr.shape[-1]), vid + batch)  # (B,H,W,3,C)
    uv = rast[..., :2].to(attr.dtype)
    bary = torch.cat([uv, 1.0 - uv.sum(dim=-1, keepdim=True)], dim=-1)  # (B,H,W,3)
    out = (bary.unsqueeze(-1) * a).sum(dim=-2)
    return torch.where((tid_plus1 > 0).unsqueeze(-1), out, 0.0)
