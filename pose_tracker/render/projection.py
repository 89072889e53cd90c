# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Clip-space projection onto a crop window, in the FoundationPose refiner's convention.

FoundationPose renders a pose hypothesis directly at the crop resolution: an OpenGL projection
built from K for the full image, followed by a 2D scale/offset that maps the window (the original
image pixel box spanned by the crop inverse applied to crop pixels (0,0) and (S-1,S-1)) onto the
clip square, rasterized with nvdiffrast and then flipped vertically. Working through the algebra,
with the window ``[l, r] x [t, b]`` in original-image pixels and ``(u, v)`` the pinhole
projection of a camera point, the normalised device coordinates are

    x_ndc = (2u - l - r) / (r - l),   y_ndc = (2v - t - b) / (b - t)   (after the flip),

and an nvdiffrast-style rasterizer samples output pixel (x, y) at x_ndc = (2x+1)/S - 1, i.e. at
``u = l + (x + 0.5) (r - l) / S`` (likewise v). Since ``r - l = (S-1)/s`` for a crop scale ``s``,
output pixel x lies at crop coordinate ``(x + 0.5) (S-1) / S``: within half a pixel of the warped
real image, exactly as in FoundationPose, whose network was trained that way. We fold the vertical
flip into the matrix (NDC y grows downwards), so row 0 of our render is the top row of the crop
and no image flip is needed.

The refiner's crop projection (:func:`crop_projection`) is what the tracker renders;
:func:`pinhole_projection` is the exact pinhole model the synthetic "observed" images use.

All functions are graph-safe (fixed shapes, no host sync) and keep dtype and device.
"""

from typing import Optional, Sequence

import torch


def matmul_exact(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """
    Multiply small matrices elementwise-and-sum, in the inputs' own precision.

    ``torch.matmul`` on CUDA may use TF32 (``allow_tf32`` / ``set_float32_matmul_precision``)
    or fp16 under autocast, a 10-bit mantissa that would move projected vertices by a tenth of
    a crop pixel and depths by a millimetre. Broadcasting a product and summing is never
    downgraded. Meant for (..,3,3) / (..,4,4) operands.

    Args:
        a, b: (..., n, k) and (..., k, m), broadcastable batch dimensions.

    Returns:
        torch.Tensor: (..., n, m) the matrix product.

    """
    return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(dim=-2)


def crop_projection(K: torch.Tensor, crop_tf: torch.Tensor, out_size: int = 160,
                    znear: float = 0.001, zfar: float = 100.0) -> torch.Tensor:
    """
    Build the matrices mapping OpenCV camera points to the clip space of a crop window.

    ``pos_clip = P @ [x, y, z, 1]`` for a point in the OpenCV camera frame (metres, x right,
    y down, z forward). ``P = P_gl @ diag(1, -1, -1, 1)``: the OpenGL camera flip, then an OpenGL
    projection from K onto the window whose NDC y points down (see the module docstring).
    ``w = z``; ``z/w`` maps ``znear -> -1`` and ``zfar -> +1``.

    For a scale-and-translation ``crop_tf`` (what :func:`pose_tracker.crop.window.crop_window_tf`
    makes) the window's NDC is affine in crop pixels, ``ndc = 2 c / (S-1) - 1`` (crop pixel 0 at
    the window's left/top edge -1, S-1 at +1), so the x and y rows are
    ``(ndc_from_crop @ crop_tf @ K)`` and the w row is the last row of ``crop_tf @ K``, i.e.
    ``(0, 0, 1)``: this is algebraically FoundationPose's matrix. A perspective ``crop_tf`` is
    outside that convention (its w row is then used as is). Exact float products (no TF32).

    Args:
        K: (B,3,3) or (3,3) intrinsics in original-image pixels ([[fx, s, cx], [0, fy, cy],
            [0, 0, 1]]).
        crop_tf: (B,3,3) crop transform, original-image pixels -> crop pixels.
        out_size: crop side S in pixels.
        znear, zfar: clip planes, metres.

    Returns:
        torch.Tensor: (B,4,4) projection matrices, dtype and device of ``crop_tf``.

    """
    B = crop_tf.shape[0]
    K = K.to(crop_tf.dtype)
    if K.dim() == 2:
        K = K.unsqueeze(0)
    ck = matmul_exact(crop_tf, K.expand(B, 3, 3))  # camera -> homogeneous crop pixels
    w_row = ck[:, 2:3]
    xy_rows = ck[:, :2] * (2.0 / (out_size - 1)) - w_row  # crop pixels -> window NDC
    xyw = torch.nn.functional.pad(torch.cat([xy_rows, w_row], dim=1), (0, 1))  # (B,3,4)
    # Depth row of the OpenGL projection, for OpenCV z (= -z_gl): z/w = -1 at znear, +1 at zfar.
    z_row = torch.zeros_like(xyw[:, :1])
    z_row[..., 2:3] = (zfar + znear) / (zfar - znear)
    z_row[..., 3:4] = -2.0 * zfar * znear / (zfar - znear)
    return torch.cat([xyw[:, :2], z_row, xyw[:, 2:]], dim=1)


def pinhole_projection(K: torch.Tensor, crop_tf: Optional[torch.Tensor], size: Sequence[int],
                       znear: float = 0.01, zfar: float = 100.0) -> torch.Tensor:
    """
    Build clip-space matrices of an exact pinhole camera, optionally seen through a crop.

    Unlike :func:`crop_projection` (the refiner's convention), a camera point ``P`` (OpenCV
    frame, metres) lands exactly on its pixel: ``x = (K' P)_0 / Z`` with ``K' = crop_tf @ K``
    (output pixels, integer coordinates at pixel centres), which the rasterizer's convention
    (pixel x has its centre at NDC ``(2x+1)/W - 1``) puts at ``ndc = (2x + 1)/W - 1``. ``w = Z``;
    ``z/w`` maps ``znear -> -1``, ``zfar -> 1``. Exact float products (no TF32).

    Args:
        K: (B,3,3) or (3,3) intrinsics, original-image pixels.
        crop_tf: (B,3,3) affine crop transforms (original pixels -> output pixels), or None for the
            full image.
        size: (H, W) of the output image in pixels.
        znear, zfar: clip planes, metres.

    Returns:
        torch.Tensor: (B,4,4) float32: ``pos_clip = M @ [X, Y, Z, 1]``.

    """
    H, W = int(size[0]), int(size[1])
    if K.dim() == 2:
        K = K.unsqueeze(0)
    if crop_tf is not None:
        K = matmul_exact(crop_tf.to(K.dtype), K.expand(crop_tf.shape[0], 3, 3))
    B = K.shape[0]
    M = torch.zeros(B, 4, 4, dtype=torch.float32, device=K.device)
    Kf = K.to(torch.float32)
    M[:, 0, :3] = 2.0 * Kf[:, 0] / W
    M[:, 0, 2] += 1.0 / W - 1.0
    M[:, 1, :3] = 2.0 * Kf[:, 1] / H
    M[:, 1, 2] += 1.0 / H - 1.0
    M[:, 2, 2] = (zfar + znear) / (zfar - znear)
    M[:, 2, 3] = -2.0 * zfar * znear / (zfar - znear)
    M[:, 3, 2] = 1.0
    return M


def full_frame_projection(K: torch.Tensor, H: int, W: int, znear: float = 0.01,
                          zfar: float = 100.0) -> torch.Tensor:
    """
    Build clip-space matrices for rendering a whole HxW frame with :func:`pinhole_projection`.

    Args:
        K: (B,3,3) or (3,3) intrinsics, pixels.
        H, W: image size, pixels.
        znear, zfar: clip planes, metres.

    Returns:
        torch.Tensor: (B,4,4) float32 clip matrices.

    """
    return pinhole_projection(K, None, (H, W), znear, zfar)


def transform_points(mtx: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """
    Apply (B,4,4) matrices to 3D points in homogeneous coordinates (exact float products).

    Args:
        mtx: (B,4,4) transforms (e.g. projection @ object->camera pose).
        pos: (V,3) or (B,V,3) points.

    Returns:
        torch.Tensor: (B,V,4) homogeneous transformed points, ``mtx @ [p, 1]``.

    """
    lin = (pos.unsqueeze(-2) * mtx[..., :3].unsqueeze(-3)).sum(dim=-1)  # (B,V,4)
    return lin + mtx[..., 3].unsqueeze(-2)
