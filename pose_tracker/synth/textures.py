# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Random textures and backgrounds generated on the device.

Each image is one of: multi-scale colour noise, stripes, checkers, text-like glyph rows, a solid
colour or a gradient, optionally overlaid with a second pattern through a smooth mask. All
patterns are computed for the whole batch at once and selected per image (a few times more
arithmetic than needed, but no per-image Python loop); every random number comes from the given
``torch.Generator``, so a seeded generator gives the same images on every run of one device.
"""

import math
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F

__all__ = ['random_colors', 'value_noise', 'random_images', 'random_textures']

N_PATTERNS = 6  # noise, stripes, checkers, text, solid, gradient


def _rand(shape, g: torch.Generator, device, lo=0.0, hi=1.0) -> torch.Tensor:
    """Uniform [lo, hi) float32 tensor from generator ``g``."""
    return torch.rand(shape, generator=g, device=device) * (hi - lo) + lo


def random_colors(n: int, g: torch.Generator, device=None) -> torch.Tensor:
    """Return (n,3) float32 RGB in [0,1]: a mix of saturated, pastel, dark and grey colours."""
    device = device or g.device
    c = _rand((n, 3), g, device)
    grey = _rand((n, 1), g, device)
    sat = _rand((n, 1), g, device)  # 0 = grey, 1 = the raw random colour
    bright = _rand((n, 1), g, device, 0.15, 1.0)
    c = grey + (c - grey) * sat
    return (c * bright / c.amax(1, keepdim=True).clamp_min(1e-3) * 0.95 + 0.02).clamp(0, 1)


def value_noise(n: int, size: Sequence[int], cells: torch.Tensor, g: torch.Generator,
                channels: int = 1) -> torch.Tensor:
    """
    Smooth random field: uniform noise on a coarse grid, bilinearly upsampled.

    Args:
        n: batch size.
        size: (H, W) output size.
        cells: (n,) float32 grid cell size in output pixels per image (>= 1).
        g: generator; ``g.device`` is used.
        channels: number of independent fields.

    Returns:
        (n,channels,H,W) float32 in [0,1].
    """
    H, W = size
    gh, gw = H // 2 + 2, W // 2 + 2  # the finest grid one might need (cell 2 px)
    grid = _rand((n, channels, gh, gw), g, g.device)
    ys = torch.arange(H, device=g.device, dtype=torch.float32)
    xs = torch.arange(W, device=g.device, dtype=torch.float32)
    c = cells.view(n, 1, 1).clamp_min(1.0)
    off = _rand((n, 1, 2), g, g.device)  # random sub-cell phase
    gy = ys.view(1, H, 1) / c + off[..., :1]  # (n,H,1) in cells
    gx = xs.view(1, 1, W) / c + off[..., 1:]
    # normalised sampling grid over the coarse grid (align_corners=True: index i <-> -1 + 2i/(g-1))
    sx = (gx / (gw - 1) * 2 - 1).expand(n, H, W)
    sy = (gy / (gh - 1) * 2 - 1).expand(n, H, W)
    return F.grid_sample(grid, torch.stack([sx, sy], -1), mode='bilinear',
                         padding_mode='reflection', align_corners=True)


def _coords(n: int, size, g: torch.Generator):
    """Return rotated pixel coordinates (n,H,W) (along, across) of a random direction."""
    H, W = size
    th = _rand((n, 1, 1), g, g.device, 0, math.pi)
    ys = torch.arange(H, device=g.device, dtype=torch.float32).view(1, H, 1)
    xs = torch.arange(W, device=g.device, dtype=torch.float32).view(1, 1, W)
    a = xs * torch.cos(th) + ys * torch.sin(th)
    b = -xs * torch.sin(th) + ys * torch.cos(th)
    return a, b


def _patterns(n: int, size, g: torch.Generator) -> torch.Tensor:
    """Return (n,N_PATTERNS,3,H,W) float32 images of every pattern kind for every image."""
    H, W = size
    dev = g.device
    s = float(max(H, W))
    c1 = random_colors(n, g).view(n, 3, 1, 1)
    c2 = random_colors(n, g).view(n, 3, 1, 1)

    def blend(t):
        return c1 * (1 - t) + c2 * t

    # multi-scale colour noise: a blend field of 3 octaves plus low-amplitude per-channel noise
    base = _rand((n,), g, dev, 0.02, 0.3) * s
    t = sum(value_noise(n, size, base / (2 ** k), g) * (0.5 ** k) for k in range(3)) / 1.75
    hard = _rand((n, 1, 1, 1), g, dev, 1.0, 6.0)
    t = torch.sigmoid((t - 0.5) * hard * 4)
    noise = blend(t) + (value_noise(n, size, base / 2, g, 3) - 0.5) * 0.3
    # stripes of random period / duty cycle / edge hardness
    a, b = _coords(n, size, g)
    period = _rand((n, 1, 1), g, dev, 0.02, 0.25) * s
    duty = _rand((n, 1, 1), g, dev, -0.6, 0.6)
    st = torch.sigmoid((torch.sin(a / period * 2 * math.pi) - duty) * hard.view(n, 1, 1) * 3)
    stripes = blend(st.unsqueeze(1))
    # checkers (rotated)
    cp = _rand((n, 1, 1), g, dev, 0.03, 0.25) * s
    ch = (torch.sin(a / cp * math.pi) * torch.sin(b / cp * math.pi) > 0).float()
    checkers = blend(ch.unsqueeze(1))
    # text-like rows: lines of dark glyph blobs with word gaps, on a light label colour
    lp = _rand((n, 1, 1), g, dev, 0.03, 0.12) * s  # line pitch
    line = (torch.remainder(b, lp) < lp * _rand((n, 1, 1), g, dev, 0.4, 0.75)).float()
    glyph = value_noise(n, size, (lp.view(n) * 0.18).clamp_min(1.0), g)[:, 0]
    words = value_noise(n, size, (lp.view(n) * 1.2).clamp_min(1.0), g)[:, 0]
    ink = line * (glyph > 0.45).float() * (words > 0.35).float()
    paper = 1 - (1 - c1) * 0.3
    text = paper * (1 - ink.unsqueeze(1)) + c2 * 0.6 * ink.unsqueeze(1)
    # solid colour and gradient
    solid = c1.expand(n, 3, H, W)
    a_lo, a_hi = a.amin((1, 2), keepdim=True), a.amax((1, 2), keepdim=True)
    gr = (a - a_lo) / (a_hi - a_lo + 1e-6)
    gradient = blend(gr.unsqueeze(1))
    return torch.stack([noise, stripes, checkers, text, solid, gradient], 1)


def random_images(n: int, size: Union[int, Sequence[int]], g: torch.Generator,
                  weights: Optional[Sequence[float]] = None) -> torch.Tensor:
    """
    Random patterned images (textures, backgrounds, occluder surfaces).

    Args:
        n: number of images.
        size: H (square) or (H, W) in pixels.
        g: ``torch.Generator`` on the target device; every draw comes from it.
        weights: relative frequencies of (noise, stripes, checkers, text, solid, gradient);
            default favours noise and text, which look most like real printed objects.

    Returns:
        (n,3,H,W) float32 RGB in [0,1] on ``g.device``.
    """
    size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
    dev = g.device
    w = torch.tensor(weights if weights is not None else [0.35, 0.15, 0.1, 0.2, 0.08, 0.12],
                     device=dev, dtype=torch.float32)
    pats = _patterns(n, size, g)
    kind = torch.multinomial(w.expand(n, N_PATTERNS), 1, generator=g).view(n)
    img = pats[torch.arange(n, device=dev), kind]
    # overlay a second pattern through a smooth mask on ~35% of the images (labels, stickers)
    kind2 = torch.multinomial(w.expand(n, N_PATTERNS), 1, generator=g).view(n)
    over = pats[torch.arange(n, device=dev), kind2]
    m = value_noise(n, size, _rand((n,), g, dev, 0.1, 0.5) * max(size), g)
    m = ((m > 0.5).float() * (_rand((n, 1, 1, 1), g, dev) < 0.35).float())
    img = img * (1 - m) + over * m
    # random contrast around the mean
    k = _rand((n, 1, 1, 1), g, dev, 0.6, 1.2)
    mean = img.mean((1, 2, 3), keepdim=True)
    return ((img - mean) * k + mean).clamp(0.0, 1.0)


def random_textures(n: int, size: Union[int, Sequence[int]], g: torch.Generator,
                    weights: Optional[Sequence[float]] = None) -> torch.Tensor:
    """
    Random textures in the texture-lookup layout.

    Returns:
        (n,Ht,Wt,3) float32 RGB in [0,1] on ``g.device`` (channels last, like nvdiffrast's
        ``texture``); see :func:`random_images` for the arguments.
    """
    return random_images(n, size, g, weights).permute(0, 2, 3, 1).contiguous()
