# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
A graph-safe triangle rasterizer in plain torch ops, with nvdiffrast's output layout.

``rasterize(pos_clip, tri, resolution)`` returns ``rast (B,H,W,4)`` = (u, v, z/w, triangle_id + 1),
all zero where no triangle covers the pixel. As in nvdiffrast, pixel (x, y) has its centre at
NDC ((2x+1)/W - 1, (2y+1)/H - 1), (u, v) are perspective-correct barycentrics of the triangle's
first and second vertex (an attribute is ``u*a0 + v*a1 + (1-u-v)*a2``) and z/w is clamped to
[-1, 1].

Algorithm (fixed shapes, no host sync, no data-dependent control flow, same code on CPU and CUDA):

1. Vertices are snapped to a 1/16 pixel grid, as nvdiffrast's rasterizer (and GPU hardware)
   does: its rounding of NDC * 8 * size, half to even. With snapped coordinates every edge
   function below is exact in float32 (for triangles within a few thousand pixels of the image),
   so coverage is watertight by construction and equals nvdiffrast's (measured: identical
   coverage and triangle ids on YCB meshes); barycentrics are still computed from the unsnapped
   positions, in step 5.
2. Per triangle, a fixed ``window x window`` block of candidate pixels anchored at the first pixel
   centre inside its screen bounding box (clamped to the image).
3. Edge functions evaluated for all candidates as (value at the anchor) + i * d/dx + j * d/dy
   (elementwise, never a matrix product: TF32 would make them inexact); a candidate is inside when
   all three are positive, or zero on a "top-left" edge (inward normal pointing to +x, or to +y
   when horizontal; nvdiffrast's rule). The tie rule depends only on the edge direction, which two
   triangles sharing an edge see exactly negated, so a pixel centre on a shared edge is drawn by
   exactly one of them (no gaps, no double coverage).
4. Depth test by a packed int64 key ``triangle_id - bits(1/w) * 2^32``: 1/w is affine in screen
   space and larger when nearer, and the bit pattern of a positive float32 is monotone, so the
   smallest key is the nearest triangle (ties: the smallest id). Keys are reduced into a flat
   pixel buffer with ``scatter_reduce_(..., 'amin')``. Candidates outside their triangle go to
   ``dummy_slots`` throw-away slots spread by candidate index: sending them all to one slot
   serialises the atomics on that address (many times slower, see ``docs/timings.md``).
5. The winning id is decoded and (u, v, z/w) recomputed at the pixel centre from the unsnapped
   clip coordinates, with nvdiffrast's formulas.

Limits:

* Fixed window: a triangle whose pixel bounding box spans more than ``window`` pixel centres in x
  or y is only partly drawn (its block starting at the top-left). Use :func:`max_pixel_extent` to
  check; the renderer derives ``window`` from the mesh's edge length (see
  :func:`pose_tracker.render.renderer.window_for_mesh`).
* Triangles with any vertex at w <= 0 (at or behind the camera plane) are discarded, not clipped.
  Pixels are not clipped against the near/far planes either (z/w is only clamped).
* Memory: about 45 bytes per candidate, i.e. B * F * window^2 * 45 bytes (measured on CUDA:
  95 MB peak for 27k faces, window 9, batch 1).
* Speed: see ``docs/timings.md`` and the benchmark reports in ``docs/results``.
* Triangle ids are exact in the float32 output up to 2^24 faces.
"""

from typing import Dict, Tuple

import torch

_INT64_MAX = torch.iinfo(torch.int64).max
#: Smallest positive normal float32: "edge value > 0" is written as ">= this" so that one compare
#: against a per-edge threshold implements the tie rule (0 for top-left edges).
_TINY = 1.1754943508222875e-38
_CONSTANTS: Dict[tuple, Dict[str, torch.Tensor]] = {}


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """
    Return ``table[index]``: rows of a (R,C) table for an integer index of any shape.

    On CUDA (torch 2.11) every row gather of 16-byte rows (index_select, advanced indexing,
    gather, embedding) takes a slow vectorised path (timings: ``docs/timings.md``); such tables
    are gathered element by element instead.

    Args:
        table: (R,C) tensor.
        index: integer tensor of any shape, values in [0, R).

    Returns:
        torch.Tensor: (*index.shape, C).

    """
    C = table.shape[-1]
    if table.element_size() * C == 16:
        cols = torch.arange(C, device=table.device, dtype=torch.int64)
        return table.reshape(-1)[index.unsqueeze(-1) * C + cols]
    return table[index]


def _constants(device: torch.device, dtype: torch.dtype, B: int, F: int,
               resolution: Tuple[int, int], window: int, dummy_slots: int):
    """
    Return the call-independent tensors of :func:`rasterize`, cached per configuration.

    They are built on the device (no host copy) and cached only outside a CUDA graph capture: a
    tensor first made inside a capture belongs to the graph's memory pool, so it is rebuilt
    there (the usual eager warm-up before capturing fills the cache).

    Returns:
        dict:
            ``ij`` (2,N) dtype block offsets (i: column, j: row); ``offset`` (N,) int64 flat pixel
            offsets in the padded buffer; ``dummy`` (B,F,N) int64 throw-away slots; ``batch_pix``
            (B,1) int64 first buffer slot of each image; ``batch_v`` (B,1) int64 (b * index);
            ``ndc`` (H,W,1,2) dtype NDC of the pixel centres; ``tri_id`` (F,1) int64; ``size``
            (2,) dtype (W, H); ``snap_scale`` and ``snap_shift`` (2,) dtype for
            :func:`_screen_vertices`.

    """
    H, W = resolution
    key = (str(device), dtype, B, F, H, W, window, dummy_slots)
    if key in _CONSTANTS:
        return _CONSTANTS[key]
    HP, WP = H + window, W + window
    n_cand = window * window
    n = torch.arange(n_cand, device=device, dtype=torch.int64)
    jj, ii = n // window, n % window
    cand = torch.arange(B * F, device=device, dtype=torch.int64).view(B, F, 1) * n_cand
    fx = (2.0 * torch.arange(W, device=device, dtype=dtype) + 1.0) / W - 1.0
    fy = (2.0 * torch.arange(H, device=device, dtype=dtype) + 1.0) / H - 1.0
    consts = {
        'ij': torch.stack([ii, jj]).to(dtype),
        'offset': jj * WP + ii,
        'dummy': B * HP * WP + (cand + n) % dummy_slots,
        'batch_pix': torch.arange(B, device=device, dtype=torch.int64).view(B, 1) * (HP * WP),
        'batch_b': torch.arange(B, device=device, dtype=torch.int64).view(B, 1),
        'ndc': torch.stack(torch.broadcast_tensors(fx.view(1, W), fy.view(H, 1)), -1)
        .view(H, W, 1, 2),
        'tri_id': torch.arange(F, device=device, dtype=torch.int64).view(F, 1),
        'size': _pair(W, H, device, dtype),
        'snap_scale': _pair(8.0 * W, 8.0 * H, device, dtype),
        'snap_shift': _pair(0.5 * W - 0.5, 0.5 * H - 0.5, device, dtype),
    }
    capturing = device.type == 'cuda' and torch.cuda.is_current_stream_capturing()
    if not capturing:
        if len(_CONSTANTS) > 64:
            _CONSTANTS.clear()
        _CONSTANTS[key] = consts
    return consts


def _pair(a: float, b: float, device, dtype) -> torch.Tensor:
    """Return the (2,) tensor (a, b), made by fills on the device (no host copy)."""
    out = torch.empty(2, device=device, dtype=dtype)
    out[0:1], out[1:2] = a, b  # slice fills; `out[0] = a` would copy from the host
    return out


def _screen_vertices(pos_clip: torch.Tensor, snap_scale: torch.Tensor,
                     snap_shift: torch.Tensor) -> torch.Tensor:
    """
    Return per-vertex (sx, sy, 1/w): snapped pixel coordinates and inverse depth.

    Pixel coordinates are such that pixel (x, y) has its centre at integer (x, y), snapped to
    multiples of 1/16 pixel exactly as nvdiffrast snaps them (round(ndc * 8 * size) / 16, half
    to even). 1/w is positive exactly for vertices in front of the camera (w > 0); vertices at
    or behind the camera plane give 1/w <= 0, inf or NaN, which disqualifies their triangles.

    Args:
        pos_clip: (B,V,4) clip-space positions.
        snap_scale, snap_shift: (2,) (8 W, 8 H) and (W/2 - 1/2, H/2 - 1/2).

    Returns:
        torch.Tensor: (B,V,3) (sx, sy, 1/w), dtype of ``pos_clip``.

    """
    inv_w = pos_clip[..., 3:4].reciprocal()
    snapped = torch.round(pos_clip[..., :2] * inv_w * snap_scale) * (1.0 / 16.0) + snap_shift
    return torch.cat([snapped, inv_w], dim=-1)


def _as_batched(pos_clip: torch.Tensor) -> torch.Tensor:
    if pos_clip.dim() == 2:
        return pos_clip.unsqueeze(0)
    if pos_clip.dim() != 3 or pos_clip.shape[-1] != 4:
        raise ValueError(f"pos_clip must be (B,V,4) or (V,4), got {tuple(pos_clip.shape)}")
    return pos_clip


def _corners(per_vertex: torch.Tensor, tri: torch.Tensor, batch_b: torch.Tensor) -> torch.Tensor:
    """Gather per-vertex values (B,V,C) at vertex indices (F,3) shared, or (B,...,3) per image."""
    B, V, C = per_vertex.shape
    tri = tri.to(torch.int64)
    if tri.dim() == 2:
        tri = tri.unsqueeze(0)
    idx = tri + (batch_b * V).view((B,) + (1,) * (tri.dim() - 1))
    return gather_rows(per_vertex.reshape(B * V, C), idx)


def rasterize(pos_clip: torch.Tensor, tri: torch.Tensor, resolution: Tuple[int, int],
              window: int = 8, dummy_slots: int = 65536) -> torch.Tensor:
    """
    Rasterize triangles into nvdiffrast's ``rast`` layout (graph-safe, CPU or CUDA).

    Args:
        pos_clip: (B,V,4) float32 clip-space vertex positions (a (V,4) tensor is treated as B=1).
        tri: (F,3) int32 or int64 vertex indices.
        resolution: (H, W) output size in pixels.
        window: side of the per-triangle block of candidate pixels; triangles spanning more pixel
            centres than this are drawn only partly (see the module docstring).
        dummy_slots: number of throw-away buffer slots for candidates outside their triangle.

    Returns:
        torch.Tensor: (B,H,W,4) float32 (u, v, z/w, triangle_id + 1), zero where empty.

    """
    pos_clip = _as_batched(pos_clip)
    H, W = int(resolution[0]), int(resolution[1])
    B, F = pos_clip.shape[0], tri.shape[0]
    # The pixel buffer gets `window` extra columns/rows on the right/bottom so that a block that
    # starts inside the image never needs a bounds test; those pixels are dropped at the end.
    HP, WP = H + window, W + window
    n_pix = B * HP * WP
    k = _constants(pos_clip.device, pos_clip.dtype, B, F, (H, W), window, dummy_slots)

    # Corner k of each triangle, then the start (k+1) and end (k+2) of the edge opposite it.
    screen = _screen_vertices(pos_clip, k['snap_scale'], k['snap_shift'])
    c = _corners(screen, tri, k['batch_b'])  # (B,F,3,3)
    start, end = c.roll(-1, dims=2), c.roll(-2, dims=2)
    q = c[..., 2]  # 1/w of vertex k, (B,F,3)
    d = (end - start)[..., :2]  # edge direction (dx, dy)
    # E_k(p) = (p - start) x d = (p_x - x_s) dy - (p_y - y_s) dx. Exact in float32 for snapped
    # coordinates; at vertex k it is twice the signed area (the same for all k).
    rel = (c - start)[..., :2]
    area2 = (rel[..., 0] * d[..., 1] - rel[..., 1] * d[..., 0])[..., 0]  # (B,F)
    sign = torch.sign(area2).unsqueeze(-1)  # 0 for degenerate triangles
    ok = (area2 != 0) & torch.isfinite(area2) & (q > 0).all(dim=2)
    abs_area2 = torch.where(ok, area2.abs(), torch.ones_like(area2)).unsqueeze(-1)

    # Block anchor: first pixel centre at or right of / below the bounding-box minimum, clamped
    # to [0, W] x [0, H] so that the block never leaves the padded buffer.
    anchor = torch.nan_to_num(torch.ceil(c[..., :2].amin(dim=2)), nan=0.0)  # (B,F,2)
    anchor = torch.minimum(anchor.clamp_min(0.0), k['size'])

    # Sign-normalised edge functions (positive inside): value at the anchor and gradient.
    rel0 = anchor.unsqueeze(2) - start[..., :2]  # (B,F,3,2)
    e0 = (rel0[..., 0] * d[..., 1] - rel0[..., 1] * d[..., 0]) * sign
    gx = d[..., 1] * sign
    gy = -d[..., 0] * sign
    # Top-left rule: a pixel on the edge counts when the inward normal points right, or straight
    # down (y grows downwards); nvdiffrast's rule. Neighbours see (gx, gy) exactly negated.
    top_left = (gx > 0) | ((gx == 0) & (gy > 0))
    thr = torch.where(top_left, 0.0, _TINY)
    # NaN never compares true: invalid triangles (behind the camera, degenerate) draw nothing.
    thr = torch.where(ok.unsqueeze(-1), thr, float('nan')).unsqueeze(-1)  # (B,F,3,1)
    # Rows: the three edge functions, then 1/w (affine in screen space: sum_k E_k q_k / 2area).
    edges = torch.stack([e0, gx, gy], dim=-1)  # (B,F,3,3): (value at anchor, d/dx, d/dy)
    inv_w_plane = (edges * q.unsqueeze(-1)).sum(dim=2, keepdim=True) / abs_area2.unsqueeze(-1)
    coef = torch.cat([edges, inv_w_plane], dim=2)  # (B,F,4,3)
    # Elementwise (never a matmul, which TF32 would make inexact): value + i d/dx + j d/dy.
    planes = torch.addcmul(coef[..., 0:1], coef[..., 1:2], k['ij'][0])  # (B,F,4,N)
    planes.addcmul_(coef[..., 2:3], k['ij'][1])

    inside = (planes[:, :, :3] >= thr).all(dim=2)  # (B,F,N)
    inv_w_bits = planes[:, :, 3].view(torch.int32)  # promoted to int64 by the add
    key = torch.add(k['tri_id'], inv_w_bits, alpha=-(1 << 32))  # (B,F,N)
    anchor_i = anchor.to(torch.int64)
    base = anchor_i[..., 1] * WP + anchor_i[..., 0] + k['batch_pix']  # (B,F)
    index = torch.where(inside, base.unsqueeze(-1) + k['offset'], k['dummy'])

    buf = torch.full((n_pix + dummy_slots,), _INT64_MAX, dtype=torch.int64,
                     device=pos_clip.device)
    buf.scatter_reduce_(0, index.view(-1), key.view(-1), reduce='amin', include_self=True)
    best = buf[:n_pix].view(B, HP, WP)[:, :H, :W]
    return _resolve(best, pos_clip, tri, k)


def _resolve(best: torch.Tensor, pos_clip: torch.Tensor, tri: torch.Tensor,
             k: Dict[str, torch.Tensor]) -> torch.Tensor:
    """Turn the per-pixel winning keys (B,H,W) into the (B,H,W,4) rast tensor."""
    F = tri.shape[0]
    covered = (best != _INT64_MAX).unsqueeze(-1)
    # Empty pixels decode to 0xFFFFFFFF, clamped to a valid id; they are zeroed at the end.
    tid = (best & 0xFFFFFFFF).clamp_(max=max(F - 1, 0))  # (B,H,W)
    p = _corners(pos_clip, gather_rows(tri, tid), k['batch_b'])  # (B,H,W,3,4)

    # nvdiffrast's formulas: edge functions of the homogeneous vertices relative to the pixel.
    pxy = torch.addcmul(p[..., :2], k['ndc'], p[..., 3:4], value=-1.0)  # (B,H,W,3,2)
    p1, p2 = pxy.roll(-1, dims=-2), pxy.roll(-2, dims=-2)
    a = (p1[..., 0] * p2[..., 1] - p1[..., 1] * p2[..., 0]).unsqueeze(-1)  # (B,H,W,3,1)
    bary = (a[..., :2, 0] / a.sum(dim=-2)).clamp(0.0, 1.0)  # (B,H,W,2)
    bary = bary / bary.sum(dim=-1, keepdim=True).clamp(min=1.0)  # keep u + v <= 1
    zw_parts = (p[..., 2:4] * a).sum(dim=-2)  # (B,H,W,2): sum z a, sum w a
    zw = (zw_parts[..., 0:1] / zw_parts[..., 1:2]).clamp(-1.0, 1.0)
    out = torch.cat([bary, zw, (tid + 1).unsqueeze(-1).to(pos_clip.dtype)], dim=-1)
    return torch.where(covered, out, 0.0)


def max_pixel_extent(pos_clip: torch.Tensor, tri: torch.Tensor,
                     resolution: Tuple[int, int]) -> int:
    """
    Return the largest number of pixel centres a drawn triangle spans in x or y (host side).

    A diagnostic for the ``window`` of :func:`rasterize`: a triangle is fully drawn when this is
    at most ``window``. Only triangles with all w > 0 whose bounding box meets the image count.
    Synchronises with the device; do not call it inside a captured graph.

    Args:
        pos_clip: (B,V,4) or (V,4) clip-space positions.
        tri: (F,3) vertex indices.
        resolution: (H, W).

    Returns:
        int: The extent in pixels (0 when no triangle is visible).

    """
    pos_clip = _as_batched(pos_clip)
    H, W = int(resolution[0]), int(resolution[1])
    k = _constants(pos_clip.device, pos_clip.dtype, pos_clip.shape[0], tri.shape[0], (H, W), 1, 1)
    screen = _screen_vertices(pos_clip, k['snap_scale'], k['snap_shift'])
    c = _corners(screen, tri, k['batch_b'])  # (B,F,3,3)
    x, y = c[..., 0], c[..., 1]
    ok = (c[..., 2] > 0).all(dim=2)
    x_lo, x_hi = torch.ceil(x.amin(2)), torch.floor(x.amax(2))
    y_lo, y_hi = torch.ceil(y.amin(2)), torch.floor(y.amax(2))
    ok &= (x_hi >= 0) & (x_lo <= W - 1) & (y_hi >= 0) & (y_lo <= H - 1)
    ok &= torch.isfinite(x).all(2) & torch.isfinite(y).all(2)
    ext = torch.maximum(x_hi - x_lo, y_hi - y_lo) + 1
    ext = torch.where(ok, ext, torch.zeros_like(ext))
    return int(ext.max().item()) if ext.numel() else 0
