# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Bilinear texture lookup with nvdiffrast's conventions (``filter_mode='linear'``, wrap)."""

import torch

from pose_tracker.render.rasterize import gather_rows


def texture(tex: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """
    Sample a texture bilinearly at per-pixel texture coordinates.

    Same as ``nvdiffrast.torch.texture(tex, uv, filter_mode='linear', boundary_mode='wrap')``:
    uv is wrapped to [0, 1) (fractional part), texel (i, j) has its centre at
    ((i + 0.5) / Wt, (j + 0.5) / Ht), u runs along columns and v along rows (v = 0 is row 0, the
    first row of ``tex``), and neighbours across the border wrap around. Graph-safe.

    Args:
        tex: (1,Ht,Wt,C) texture shared by the batch, or (B,Ht,Wt,C), float.
        uv: (B,H,W,2) texture coordinates (u, v).

    Returns:
        torch.Tensor: (B,H,W,C) sampled values, dtype of ``tex``.

    """
    Bt, Ht, Wt, C = tex.shape
    B = uv.shape[0]
    uv = uv.to(tex.dtype)
    # Wrap to [0, 1), then texel space: texel i has its centre at i + 0.5.
    x = (uv[..., 0] - torch.floor(uv[..., 0])) * Wt - 0.5  # (B,H,W)
    y = (uv[..., 1] - torch.floor(uv[..., 1])) * Ht - 0.5
    x_lo, y_lo = torch.floor(x), torch.floor(y)
    step = torch.arange(2, device=tex.device, dtype=torch.int64)
    # remainder() is the non-negative modulo: -1 -> size-1 and size -> 0 (wrap mode).
    col = torch.remainder(x_lo.to(torch.int64).unsqueeze(-1) + step, Wt)  # (B,H,W,2)
    row = torch.remainder(y_lo.to(torch.int64).unsqueeze(-1) + step, Ht)
    index = row.unsqueeze(-1) * Wt + col.unsqueeze(-2)  # (B,H,W,2 rows,2 cols)
    if Bt != 1:
        index = index + (torch.arange(B, device=tex.device) * (Ht * Wt)).view(B, 1, 1, 1, 1)
    texels = gather_rows(tex.reshape(Bt * Ht * Wt, C), index)  # (B,H,W,2,2,C)
    fx, fy = x - x_lo, y - y_lo  # weights of the right / lower neighbours
    wx = torch.stack([1.0 - fx, fx], dim=-1)  # (B,H,W,2)
    wy = torch.stack([1.0 - fy, fy], dim=-1)
    weight = (wy.unsqueeze(-1) * wx.unsqueeze(-2)).unsqueeze(-1)  # (B,H,W,2,2,1)
    return (texels * weight).sum(dim=(-3, -2))
