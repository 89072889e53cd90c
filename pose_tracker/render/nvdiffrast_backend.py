# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Optional backend on nvdiffrast (CUDA only), for comparison and as an eager fallback.

nvdiffrast is imported lazily, so this module imports without it. Its rasterizer synchronises with
the host on every call, so it cannot run inside a captured CUDA graph (capturing it crashes the
process); ``interpolate`` and ``texture`` can be captured.
"""

import functools

import torch


@functools.lru_cache(maxsize=1)
def _dr():
    import nvdiffrast.torch as dr
    return dr


def available() -> bool:
    """Return True when nvdiffrast imports and a CUDA device is present."""
    if not torch.cuda.is_available():
        return False
    try:
        _dr()
    except Exception:  # ImportError, or a broken build failing to load its extension
        return False
    return True


_CONTEXTS = {}


def _context(device: torch.device):
    """Return a RasterizeCudaContext for ``device``, created once and reused."""
    key = torch.device(device).index
    if key is None:
        key = torch.cuda.current_device()
    if key not in _CONTEXTS:
        _CONTEXTS[key] = _dr().RasterizeCudaContext(device=torch.device('cuda', key))
    return _CONTEXTS[key]


def rasterize(pos_clip: torch.Tensor, tri: torch.Tensor, resolution) -> torch.Tensor:
    """
    Rasterize with ``nvdiffrast.torch.rasterize`` (eager only: it syncs with the host).

    Parameters
    ----------
    pos_clip
        (B,V,4) float32 clip-space positions on a CUDA device.
    tri
        (F,3) vertex indices (converted to int32).
    resolution
        (H, W).

    Returns
    -------
    torch.Tensor
        (B,H,W,4) float32 (u, v, z/w, triangle_id + 1), zero where empty.

    """
    rast, _ = _dr().rasterize(_context(pos_clip.device), pos_clip.float().contiguous(),
                              tri.to(torch.int32).contiguous(), resolution=tuple(resolution))
    return rast


def interpolate(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Interpolate with ``nvdiffrast.torch.interpolate``; see :func:`..interpolate.interpolate`."""
    out, _ = _dr().interpolate(attr.float().contiguous(), rast.contiguous(),
                               tri.to(torch.int32).contiguous())
    return out


def texture(tex: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup with ``nvdiffrast.torch.texture`` (wrap); see :func:`..texture.texture`."""
    return _dr().texture(tex.float().contiguous(), uv.float().contiguous(), filter_mode='linear',
                         boundary_mode='wrap')
