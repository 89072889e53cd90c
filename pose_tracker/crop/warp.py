# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Warp full-frame images into crop windows (perspective warp, FoundationPose conventions).

Crop pixel (x, y) maps to the source pixel ``p = crop_tf^-1 @ (x, y, 1)`` (dehomogenised), with
pixel centres at integer coordinates, zeros outside the source. Where the source is sampled
for that p depends on ``sampling``:

* ``"foundationpose"`` (default): what the released FoundationPose pipeline does. It calls
  ``kornia.geometry.transform.warp_perspective(..., align_corners=False)`` with kornia 0.7.2 (its
  requirements.txt; the same holds up to kornia 0.8.x), which normalises the homography with
  the corner-aligned convention but samples with ``align_corners=False``. The source is thus
  read at ``p * size / (size - 1) - 0.5`` per axis: exact at the image centre, up to half a pixel
  off (outwards) at the image border.
* ``"pixel_centres"``: the source is read exactly at p. This is what kornia >= 0.9's
  ``warp_perspective(..., align_corners=False)`` does (checked in the tests).

The grid is computed here rather than through kornia: fixed shapes, a closed-form 3x3 inverse,
no host sync, and one grid shared by colour and XYZ (the warps are launch-bound at 160x160).
"""

import torch
import torch.nn.functional as F

SAMPLINGS = ("foundationpose", "pixel_centres")


def _inverse_3x3(m: torch.Tensor) -> torch.Tensor:
    """Invert (B,3,3) matrices in closed form (adjugate / determinant): no solver, no sync."""
    r0, r1, r2 = m[:, 0], m[:, 1], m[:, 2]
    c0 = torch.linalg.cross(r1, r2)
    c1 = torch.linalg.cross(r2, r0)
    c2 = torch.linalg.cross(r0, r1)
    det = (r0 * c0).sum(dim=-1)
    return torch.stack([c0, c1, c2], dim=-1) / det.view(-1, 1, 1)


def crop_grid(crop_tf: torch.Tensor, src_size: tuple, out_size: int = 160,
              sampling: str = "foundationpose") -> torch.Tensor:
    """
    Return the ``grid_sample`` grid (for align_corners=False) of a batch of crop windows.

    Args:
        crop_tf: (B,3,3) original-image pixels -> crop pixels.
        src_size: (H, W) of the source image.
        out_size: side S of the square crop.
        sampling: ``"foundationpose"`` or ``"pixel_centres"`` (see the module docstring).

    Returns:
        (B,S,S,2) normalised source coordinates (x, y), in [-1, 1] inside the source, dtype and
        device of ``crop_tf``.
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
    H, W = src_size
    inv = _inverse_3x3(crop_tf)
    r = torch.arange(out_size, device=crop_tf.device, dtype=crop_tf.dtype)
    x = r.view(1, 1, out_size)
    y = r.view(1, out_size, 1)
    m = inv.view(-1, 3, 3, 1, 1)
    w = m[:, 2, 0] * x + m[:, 2, 1] * y + m[:, 2, 2]
    u = (m[:, 0, 0] * x + m[:, 0, 1] * y + m[:, 0, 2]) / w
    v = (m[:, 1, 0] * x + m[:, 1, 1] * y + m[:, 1, 2]) / w
    if sampling == "pixel_centres":
        # Pixel centre c of an n-pixel axis sits at (2c + 1) / n - 1 with align_corners=False.
        gx, gy = (2.0 * u + 1.0) / W - 1.0, (2.0 * v + 1.0) / H - 1.0
    else:
        # The corner-aligned normalisation of kornia <= 0.8, read with align_corners=False.
        gx, gy = 2.0 * u / max(W - 1, 1) - 1.0, 2.0 * v / max(H - 1, 1) - 1.0
    return torch.stack([gx, gy], dim=-1)


def _sample(img: torch.Tensor, grid: torch.Tensor, mode: str) -> torch.Tensor:
    """Sample (B or 1,C,H,W) images at a (B,S,S,2) grid, zeros outside."""
    B = grid.shape[0]
    if img.shape[0] not in (1, B):
        raise ValueError(f"image batch {img.shape[0]} does not match crop_tf batch {B}")
    return F.grid_sample(img.expand(B, -1, -1, -1), grid, mode=mode, padding_mode="zeros",
                         align_corners=False)


def warp_to_crop(img: torch.Tensor, crop_tf: torch.Tensor, out_size: int = 160,
                 mode: str = "bilinear", sampling: str = "foundationpose") -> torch.Tensor:
    """
    Warp images into their crop windows.

    Args:
        img: (B,C,H,W) or (1,C,H,W) float image (a batch of 1 is shared by every window, without
            a copy).
        crop_tf: (B,3,3) original-image pixels -> crop pixels (see ``crop.window``).
        out_size: side S of the square crop.
        mode: ``"bilinear"`` (colour) or ``"nearest"`` (XYZ maps, so that no point is
            interpolated across a depth edge).
        sampling: ``"foundationpose"`` or ``"pixel_centres"`` (see the module docstring).

    Returns:
        (B,C,S,S) crops, dtype/device of ``img``; zero where the window leaves the image.
    """
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
    grid = crop_grid(crop_tf.to(img.dtype), tuple(img.shape[-2:]), out_size, sampling)
    return _sample(img, grid, mode)


def crop_real(rgb: torch.Tensor, xyz: torch.Tensor, crop_tf: torch.Tensor,
              out_size: int = 160, sampling: str = "foundationpose") -> tuple:
    """
    Crop the observed RGB (bilinear) and XYZ map (nearest) into the crop windows.

    Colour convention (as torchvision's): a uint8 image holds 0..255 and is warped in 0..255 and
    then divided by 255, as FoundationPose does; a floating image is taken to be in [0, 1] already.

    Args:
        rgb: (B,3,H,W) or (1,3,H,W) uint8 0..255 or float [0,1] colour image.
        xyz: (B,3,H,W) or (1,3,H,W) float XYZ map, metres, camera frame (0 = no reading), same
            H, W as ``rgb``.
        crop_tf: (B,3,3) original-image pixels -> crop pixels.
        out_size: side S of the square crop.
        sampling: ``"foundationpose"`` or ``"pixel_centres"`` (see the module docstring).

    Returns:
        (rgb (B,3,S,S) float in [0,1], xyz (B,3,S,S) metres, camera frame), both in the dtype of
        ``xyz`` on the device of the inputs.
    """
    if rgb.shape[-2:] != xyz.shape[-2:]:
        raise ValueError(f"rgb {tuple(rgb.shape)} and xyz {tuple(xyz.shape)} sizes differ")
    grid = crop_grid(crop_tf.to(xyz.dtype), tuple(xyz.shape[-2:]), out_size, sampling)
    rgb_crop = _sample(rgb.to(xyz.dtype), grid, "bilinear")
    if rgb.dtype == torch.uint8:
        rgb_crop = rgb_crop / 255.0
    return rgb_crop, _sample(xyz, grid, "nearest")
