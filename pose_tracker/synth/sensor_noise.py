# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
RGB-D sensor models on tensors: depth noise, quantisation, holes, edge artefacts, RGB effects.

Images may be full frames or crops rendered directly into a crop window. The noise is defined on
the lattice of the *original* image pixels: every per-pixel random value is a hash of the
integer original-image pixel a crop pixel falls into (nearest), and smooth fields are value noise
on that lattice. So a crop that magnifies a far object 4x sees 4x4-pixel blocks of identical
noise, as it would after warping a real noisy frame with nearest sampling, and hole or blur sizes
are in sensor pixels whatever the crop scale. For full frames the lattice is the pixel grid.

Every random parameter is drawn per image from a ``torch.Generator``; with a seeded generator
the output is reproducible on one device.
"""

from dataclasses import dataclass
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

__all__ = ['DepthNoise', 'RgbNoise', 'pixel_lattice', 'lattice_scale', 'hash_uniform',
           'hash_normal', 'lattice_value_noise', 'depth_sigma', 'quantize_depth', 'make_holes',
           'apply_depth_noise', 'apply_rgb_noise', 'gaussian_blur']

_M32 = 0xFFFFFFFF


@dataclass
class DepthNoise:
    """
    Ranges of the per-image depth sensor parameters (each drawn uniformly per image).

    Attributes:
        sigma_1m: axial noise std at 1 m (metres); the std is ``sigma_0 + s * z^2``.
        sigma_0: depth-independent std floor (metres).
        correlated: share of the noise that is spatially smooth (structured-light speckle).
        correlated_cell: cell size of the smooth part, sensor pixels.
        quant_step: final rounding step (metres); 0.001 matches uint16 millimetre PNGs.
        disparity_prob: probability that an image also gets disparity quantisation
            (step ``disparity_k * z^2`` metres, as a structured-light / stereo sensor).
        disparity_k: (min, max) of that coefficient (1/m).
        hole_fraction: fraction of pixels inside random blob-shaped holes.
        hole_cell: blob size, sensor pixels.
        dropout: fraction of isolated missing pixels.
        edge_threshold: a depth jump above this (metres) is a discontinuity.
        edge_band: half-width of the artefact band around discontinuities, sensor pixels.
        edge_drop: probability that a band pixel reads nothing.
        edge_flying: probability that a band pixel gets a depth between the two sides.
        offset_std: std of a global per-image depth offset (metres).
        scale_std: std of a global per-image relative depth scale error.
        z_range: readings outside (min, max) metres are missing.
    """

    sigma_1m: Tuple[float, float] = (0.001, 0.003)
    sigma_0: float = 0.0003
    correlated: Tuple[float, float] = (0.0, 0.6)
    correlated_cell: Tuple[float, float] = (3.0, 12.0)
    quant_step: float = 0.001
    disparity_prob: float = 0.3
    disparity_k: Tuple[float, float] = (0.0005, 0.003)
    hole_fraction: Tuple[float, float] = (0.0, 0.1)
    hole_cell: Tuple[float, float] = (4.0, 30.0)
    dropout: Tuple[float, float] = (0.0, 0.02)
    edge_threshold: float = 0.02
    edge_band: Tuple[float, float] = (0.5, 2.5)
    edge_drop: Tuple[float, float] = (0.1, 0.8)
    edge_flying: Tuple[float, float] = (0.0, 0.3)
    offset_std: float = 0.002
    scale_std: float = 0.002
    z_range: Tuple[float, float] = (0.15, 5.0)


@dataclass
class RgbNoise:
    """
    Ranges of the per-image colour camera parameters (each drawn uniformly per image).

    Attributes:
        brightness: additive offset.
        contrast: gain about the image mean.
        gamma: exponent applied to [0,1] intensities.
        channel_gain: per-channel gain (white balance / colour shift).
        noise_std: per-pixel Gaussian noise std (sensor pixels).
        blur_sigma: Gaussian blur std in sensor pixels (defocus, motion).
        chroma_blur_prob: probability of extra chroma blur (JPEG / Bayer-like colour bleeding).
    """

    brightness: Tuple[float, float] = (-0.12, 0.12)
    contrast: Tuple[float, float] = (0.7, 1.3)
    gamma: Tuple[float, float] = (0.75, 1.35)
    channel_gain: Tuple[float, float] = (0.85, 1.15)
    noise_std: Tuple[float, float] = (0.0, 0.03)
    blur_sigma: Tuple[float, float] = (0.0, 0.8)
    chroma_blur_prob: float = 0.3


def _uniform(n: int, rng: Sequence[float], g: torch.Generator) -> torch.Tensor:
    """Return (n,) float32 uniform in [rng[0], rng[1])."""
    return torch.rand(n, generator=g, device=g.device) * (rng[1] - rng[0]) + rng[0]


def _seeds(n: int, g: torch.Generator) -> torch.Tensor:
    """Return (n,) int64 hash seeds drawn from ``g``."""
    return torch.randint(0, 2 ** 31 - 1, (n,), generator=g, device=g.device, dtype=torch.int64)


# ------------------------------------------------------------------------------------------
# sensor-pixel lattice and hashing
# ------------------------------------------------------------------------------------------

def pixel_lattice(crop_tf: Optional[torch.Tensor], size: Sequence[int], batch: int = 1,
                  device=None) -> torch.Tensor:
    """
    Return the original-image pixel coordinates of every output pixel.

    Args:
        crop_tf: (B,3,3) crop transform (original pixels -> crop pixels), or None for a full
            frame (identity).
        size: (H, W) of the output image (the crop or the frame).
        batch: batch size when ``crop_tf`` is None.
        device: device when ``crop_tf`` is None.

    Returns:
        (B,H,W,2) float32 (u, v) original-image pixel coordinates of each output pixel centre
        (integer coordinates are pixel centres, OpenCV convention).
    """
    H, W = size
    dev = crop_tf.device if crop_tf is not None else device
    ys, xs = torch.meshgrid(torch.arange(H, device=dev, dtype=torch.float32),
                            torch.arange(W, device=dev, dtype=torch.float32), indexing='ij')
    if crop_tf is None:
        return torch.stack([xs, ys], -1).unsqueeze(0).expand(batch, H, W, 2)
    inv = torch.linalg.inv(crop_tf.double()).float()
    p = torch.stack([xs, ys, torch.ones_like(xs)], -1).view(1, H * W, 3) @ inv.transpose(1, 2)
    return (p[..., :2] / p[..., 2:3]).view(-1, H, W, 2)


def lattice_scale(crop_tf: Optional[torch.Tensor], batch: int = 1, device=None) -> torch.Tensor:
    """Return (B,) output pixels per sensor pixel (the crop's magnification; 1 for full frames)."""
    if crop_tf is None:
        return torch.ones(batch, device=device)
    return torch.sqrt(torch.abs(crop_tf[:, 0, 0] * crop_tf[:, 1, 1]))


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """Bijective 32-bit integer hash ('lowbias32'); int64 tensors holding values < 2^32."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def hash_uniform(ix: torch.Tensor, iy: torch.Tensor, seed: torch.Tensor,
                 salt: int = 0) -> torch.Tensor:
    """
    Stateless per-pixel uniform random numbers.

    Args:
        ix, iy: integer-valued pixel coordinates (any shape S, any numeric dtype).
        seed: int64 seeds broadcastable to S (e.g. (B,1,1) for (B,H,W) coordinates).
        salt: distinguishes independent streams with the same seed.

    Returns:
        float32 in [0,1) of shape S; equal inputs give equal outputs.
    """
    x = ix.to(torch.int64) & _M32
    y = iy.to(torch.int64) & _M32
    h = _mix32(x ^ _mix32((seed.to(torch.int64) * 0x9E3779B1 + salt * 0x85EBCA77) & _M32))
    h = _mix32(h ^ y)
    return (h >> 8).to(torch.float32) * (1.0 / 16777216.0)


def hash_normal(uv: torch.Tensor, seed: torch.Tensor, salt: int = 0) -> torch.Tensor:
    """
    Per-sensor-pixel standard normal values (Box-Muller on two hashes).

    Args:
        uv: (B,H,W,2) sensor coordinates (rounded to the nearest pixel here).
        seed: (B,) int64.

    Returns:
        (B,H,W) float32 N(0,1), constant over each sensor pixel.
    """
    ix, iy = torch.round(uv[..., 0]), torch.round(uv[..., 1])
    s = seed.view(-1, 1, 1)
    u1 = hash_uniform(ix, iy, s, 2 * salt + 1).clamp_min(1e-7)
    u2 = hash_uniform(ix, iy, s, 2 * salt + 2)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2 * math.pi * u2)


def lattice_value_noise(uv: torch.Tensor, cell: torch.Tensor, seed: torch.Tensor,
                        salt: int = 0) -> torch.Tensor:
    """
    Smooth noise on the sensor lattice: hashed values on a grid of ``cell`` pixels, bilinear.

    Args:
        uv: (B,H,W,2) sensor coordinates.
        cell: (B,) grid cell size in sensor pixels.
        seed: (B,) int64.

    Returns:
        (B,H,W) float32 in [0,1], smooth (cubic-eased bilinear) between grid nodes.
    """
    c = cell.view(-1, 1, 1).clamp_min(1.0)
    gx, gy = uv[..., 0] / c, uv[..., 1] / c
    x0, y0 = torch.floor(gx), torch.floor(gy)
    fx, fy = gx - x0, gy - y0
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    s = seed.view(-1, 1, 1)

    def h(dx, dy):
        return hash_uniform(x0 + dx, y0 + dy, s, salt)

    top = h(0, 0) * (1 - fx) + h(1, 0) * fx
    bot = h(0, 1) * (1 - fx) + h(1, 1) * fx
    return top * (1 - fy) + bot * fy


# ------------------------------------------------------------------------------------------
# depth
# ------------------------------------------------------------------------------------------

def depth_sigma(z: torch.Tensor, sigma_1m: torch.Tensor, sigma_0: float = 0.0) -> torch.Tensor:
    """Return the axial noise std ``sigma_0 + sigma_1m * z^2`` (metres) for depths ``z``."""
    return sigma_0 + sigma_1m * z * z


def quantize_depth(depth: torch.Tensor, step: float = 0.001) -> torch.Tensor:
    """Round depths to multiples of ``step`` metres (0 stays 0)."""
    return torch.round(depth / step) * step


def make_holes(uv: torch.Tensor, fraction: torch.Tensor, cell: torch.Tensor, seed: torch.Tensor,
               valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """
    Blob-shaped hole mask covering a requested share of the pixels.

    Thresholds a smooth lattice noise field at its per-image quantile, so the share of hole
    pixels equals ``fraction`` up to ties (large, magnified sensor pixels).

    Args:
        uv: (B,H,W,2) sensor coordinates.
        fraction: (B,) share of pixels in holes, in [0,1).
        cell: (B,) blob size in sensor pixels.
        seed: (B,) int64.
        valid: optional (B,H,W) bool; the share is counted over these pixels only.

    Returns:
        (B,H,W) bool, True = hole.
    """
    B, H, W = uv.shape[:3]
    field = lattice_value_noise(uv, cell, seed, salt=11)
    flat = field.view(B, -1)
    if valid is not None:
        flat = torch.where(valid.view(B, -1), flat, torch.full_like(flat, 2.0))
        n = valid.view(B, -1).sum(1)
    else:
        n = torch.full((B,), H * W, device=uv.device)
    k = torch.clamp(torch.round(fraction * n).long(), 0, H * W - 1)
    srt = torch.sort(flat, dim=1).values
    thr = torch.gather(srt, 1, k.view(B, 1)).view(B, 1, 1)
    return (field < thr) & (k.view(B, 1, 1) > 0)


def _edge_band(depth: torch.Tensor, threshold: float, radius: torch.Tensor):
    """
    Return (band, near, far): pixels within ``radius`` output pixels of a depth jump.

    ``near`` / ``far`` are the local min / max valid depth of a 5x5 window (for flying pixels).
    """
    d = depth.unsqueeze(1)
    big = torch.where(d > 0, d, torch.full_like(d, 1e4))
    near = -F.max_pool2d(-big, 5, 1, 2)
    far = F.max_pool2d(d, 5, 1, 2)
    loc_near = -F.max_pool2d(-big, 3, 1, 1)
    loc_far = F.max_pool2d(d, 3, 1, 1)
    jump = ((loc_far - loc_near) > threshold) & (loc_near < 1e3)
    jump = jump.float()
    # dilate to the per-image band radius (in output pixels): choose among a few kernel sizes
    radii = (1, 2, 4, 8)
    dil = torch.stack([F.max_pool2d(jump, 2 * r + 1, 1, r) for r in radii], 0)  # (4,B,1,H,W)
    idx = torch.bucketize(radius, torch.tensor([1.5, 3.0, 6.0], device=depth.device))
    band = dil[idx, torch.arange(depth.shape[0], device=depth.device)][:, 0] > 0
    return band, near[:, 0], far[:, 0]


def apply_depth_noise(depth: torch.Tensor, g: torch.Generator, uv: Optional[torch.Tensor] = None,
                      scale: Optional[torch.Tensor] = None, cfg: DepthNoise = DepthNoise(),
                      hole_fraction: Optional[torch.Tensor] = None,
                      sigma_1m: Optional[torch.Tensor] = None) -> torch.Tensor:
    """
    Turn clean rendered depth into a plausible RGB-D sensor reading.

    Order: global offset/scale, axial noise (std ``sigma_0 + s z^2``, part smooth), disparity
    quantisation, edge artefacts (missing / flying pixels at discontinuities), blob holes,
    isolated dropouts, range limits, rounding to ``cfg.quant_step``.

    Args:
        depth: (B,H,W) float32 metres, 0 = nothing.
        g: generator for the per-image parameters and hash seeds.
        uv: (B,H,W,2) sensor coordinates (:func:`pixel_lattice`); None = the pixel grid.
        scale: (B,) output pixels per sensor pixel (:func:`lattice_scale`); None = 1.
        cfg: parameter ranges.
        hole_fraction: optional (B,) fixed hole share (overrides ``cfg.hole_fraction``).
        sigma_1m: optional (B,) fixed noise std at 1 m (overrides ``cfg.sigma_1m``).

    Returns:
        (B,H,W) float32 metres, 0 = no reading.
    """
    B, H, W = depth.shape
    dev = depth.device
    if uv is None:
        uv = pixel_lattice(None, (H, W), B, dev)
    if scale is None:
        scale = torch.ones(B, device=dev)
    seed = _seeds(B, g)
    valid = depth > 0
    s1 = sigma_1m if sigma_1m is not None else _uniform(B, cfg.sigma_1m, g)
    corr = _uniform(B, cfg.correlated, g)
    ccell = _uniform(B, cfg.correlated_cell, g)
    dk = _uniform(B, cfg.disparity_k, g) * (torch.rand(B, generator=g, device=dev)
                                            < cfg.disparity_prob).float()
    hf = hole_fraction if hole_fraction is not None else _uniform(B, cfg.hole_fraction, g)
    hcell = _uniform(B, cfg.hole_cell, g)
    drop = _uniform(B, cfg.dropout, g)
    band_r = _uniform(B, cfg.edge_band, g) * scale
    p_edge_drop = _uniform(B, cfg.edge_drop, g)
    p_fly = _uniform(B, cfg.edge_flying, g)
    offset = torch.randn(B, generator=g, device=dev) * cfg.offset_std
    gain = 1.0 + torch.randn(B, generator=g, device=dev) * cfg.scale_std

    z = depth * gain.view(B, 1, 1) + offset.view(B, 1, 1)
    sig = depth_sigma(depth, s1.view(B, 1, 1), cfg.sigma_0)
    white = hash_normal(uv, seed, salt=1)
    smooth = (lattice_value_noise(uv, ccell, seed, salt=2) - 0.5) * math.sqrt(12.0)
    c = corr.view(B, 1, 1)
    z = z + sig * (torch.sqrt(1 - c * c) * white + c * smooth)
    # disparity quantisation: step grows with z^2 (k = 0 leaves z unchanged)
    step = (dk.view(B, 1, 1) * depth * depth).clamp_min(1e-9)
    z = torch.where(dk.view(B, 1, 1) > 0, torch.round(z / step) * step, z)

    band, near, far = _edge_band(depth, cfg.edge_threshold, band_r)
    ix, iy = torch.round(uv[..., 0]), torch.round(uv[..., 1])
    sd = seed.view(B, 1, 1)
    u_edge = hash_uniform(ix, iy, sd, 21)
    u_mix = hash_uniform(ix, iy, sd, 22)
    fly = band & (u_edge < p_fly.view(B, 1, 1)) & (far > 0) & (near < 1e3)
    z = torch.where(fly, near + (far - near) * u_mix, z)
    lost = band & (u_edge >= p_fly.view(B, 1, 1)) & (
        u_edge < (p_fly + p_edge_drop).view(B, 1, 1))
    lost |= make_holes(uv, hf, hcell, seed)
    lost |= hash_uniform(ix, iy, sd, 23) < drop.view(B, 1, 1)
    lost |= ~valid & ~fly
    lost |= (z < cfg.z_range[0]) | (z > cfg.z_range[1])
    z = torch.where(lost, torch.zeros_like(z), z)
    return quantize_depth(z, cfg.quant_step) if cfg.quant_step > 0 else z


# ------------------------------------------------------------------------------------------
# colour
# ------------------------------------------------------------------------------------------

def gaussian_blur(img: torch.Tensor, sigma: torch.Tensor, ksize: int = 15) -> torch.Tensor:
    """
    Blur each image with its own Gaussian (separable, reflect padding).

    Args:
        img: (B,C,H,W) float.
        sigma: (B,) std in pixels (0 = unchanged; clipped to ksize/4).
        ksize: odd kernel size.

    Returns:
        (B,C,H,W) float, same dtype.
    """
    B, C, H, W = img.shape
    r = ksize // 2
    x = torch.arange(-r, r + 1, device=img.device, dtype=img.dtype).view(1, -1)
    s = sigma.to(img.dtype).clamp(1e-3, ksize / 4).view(B, 1)
    k = torch.exp(-0.5 * (x / s) ** 2)
    k = k / k.sum(1, keepdim=True)
    k = k.repeat_interleave(C, 0)  # (B*C, ksize)
    y = F.pad(img.reshape(1, B * C, H, W), (r, r, r, r), mode='reflect')
    y = F.conv2d(y, k.view(B * C, 1, 1, ksize), groups=B * C)
    y = F.conv2d(y, k.view(B * C, 1, ksize, 1), groups=B * C)
    return y.view(B, C, H, W)


def apply_rgb_noise(rgb: torch.Tensor, g: torch.Generator, uv: Optional[torch.Tensor] = None,
                    scale: Optional[torch.Tensor] = None,
                    cfg: RgbNoise = RgbNoise()) -> torch.Tensor:
    """
    Apply colour-camera effects: exposure/contrast/gamma, white balance, blur, noise.

    Blur stds are in sensor pixels, scaled to output pixels by ``scale`` (plus the footprint
    of a magnified sensor pixel); noise is constant over each sensor pixel.

    Args:
        rgb: (B,3,H,W) float32 in [0,1].
        g: generator for per-image parameters and hash seeds.
        uv: (B,H,W,2) sensor coordinates; None = the pixel grid.
        scale: (B,) output pixels per sensor pixel; None = 1.
        cfg: parameter ranges.

    Returns:
        (B,3,H,W) float32 in [0,1].
    """
    B, _, H, W = rgb.shape
    dev = rgb.device
    if uv is None:
        uv = pixel_lattice(None, (H, W), B, dev)
    if scale is None:
        scale = torch.ones(B, device=dev)
    seed = _seeds(B, g)
    bright = _uniform(B, cfg.brightness, g).view(B, 1, 1, 1)
    contrast = _uniform(B, cfg.contrast, g).view(B, 1, 1, 1)
    gamma = _uniform(B, cfg.gamma, g).view(B, 1, 1, 1)
    gain = torch.stack([_uniform(B, cfg.channel_gain, g) for _ in range(3)], 1).view(B, 3, 1, 1)
    nstd = _uniform(B, cfg.noise_std, g).view(B, 1, 1, 1)
    blur = _uniform(B, cfg.blur_sigma, g)
    chroma = (torch.rand(B, generator=g, device=dev) < cfg.chroma_blur_prob).float()

    x = rgb * gain
    mean = x.mean((1, 2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean + bright).clamp(0.0, 1.0)
    x = x.clamp_min(1e-6) ** gamma
    # a magnified sensor pixel spreads over ~scale output pixels (bilinear warp): blur that too
    sig = torch.sqrt(blur ** 2 + (0.3 * (scale - 1).clamp_min(0)) ** 2 / scale.clamp_min(1) ** 2)
    x = gaussian_blur(x, sig * scale)
    # colour bleeding: blur the chroma (YCbCr-like) more than the luma
    luma = (x * torch.tensor([0.299, 0.587, 0.114], device=dev).view(1, 3, 1, 1)).sum(1, True)
    cb = gaussian_blur(x - luma, (1.0 + blur) * scale)
    x = torch.where(chroma.view(B, 1, 1, 1) > 0, luma + cb, x)
    noise = torch.stack([hash_normal(uv, seed, salt=c) for c in range(3)], 1)
    x = x + noise * nstd * (0.5 + x)  # brighter pixels: more shot noise
    return x.clamp(0.0, 1.0)
