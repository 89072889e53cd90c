# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Bilinear texture lookup with nvdiffrast's conventions (``filter_mode='linear'``, wrap)."""

import torch


def texture(tex: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """
    Sample a texture bilinearly at per-pixel texture coordinates.

    Same as ``nvdiffrast.torch.texture(tex, uv, filter_mode='linear', boundary_mode='wrap')``:
    uv is wrapped to [0, 1) (fractional part), texel (i, j) has its centre at
    ((i + 0.5) / Wt, (j + 0.5) / Ht), u runs along columns and v along rows (v = 0 is row 0, the
    first row of ``tex``), and neighbours across the border wrap around. Graph-safe.

    Parameters
    ----------
    tex
        (1,Ht,Wt,C) texture shared by the batch, or (B,Ht,Wt,C), float.
    uv
        (B,H,W,2) texture coordinates (u, v).

    Returns
    -------
    torch.Tensor
        (B,H,W,C) sampled values, dtype of ``tex``.

    """
    Bt, Ht, Wt, C = tex.shape
    B, H, W = uv.shape[:3]
    uv = uv.to(tex.dtype)
    u = uv[..., 0] - torch.floor(uv[..., 0])
    v = uv[..., 1] - torch.floor(uv[..., 1])
    x = u * Wt - 0.5
    y = v * Ht - 0.5
    x0f, y0f = torch.floor(x), torch.floor(y)
    fx, fy = (x - x0f).unsqueeze(-1), (y - y0f).unsqueeze(-1)
    # remainder() is the non-negative modulo: -1 -> Wt-1 and Wt -> 0 (wrap mode).
    x0 = torch.remainder(x0f.to(torch.int64), Wt)
    y0 = torch.remainder(y0f.to(torch.int64), Ht)
    x1 = torch.remainder(x0 + 1, Wt)
    y1 = torch.remainder(y0 + 1, Ht)
    flat = tex.reshape(Bt * Ht * Wt, C)
    if Bt == 1:
        base = torch.zeros((1, 1, 1), dtype=torch.int64, device=tex.device)
    else:
        base = (torch.arange(B, device=tex.device, dtype=torch.int64) * (Ht * Wt)).view(B, 1, 1)

    def fetch(yi, xi):
        return flat.index_select(0, (base + yi * Wt + xi).reshape(-1)).view(B, H, W, C)

    top = fetch(y0, x0) * (1.0 - fx) + fetch(y0, x1) * fx
    bottom = fetch(y1, x0) * (1.0 - fx) + fetch(y1, x1) * fx
    return top * (1.0 - fy) + bottom * fy
