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

All functions are graph-safe (fixed shapes, no host sync) and keep dtype and device.
"""

import torch


def _inverse_3x3(m: torch.Tensor) -> torch.Tensor:
    """Invert (B,3,3) matrices by the adjugate (no LAPACK call, no error check, no host sync)."""
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    g, h, i = m[:, 2, 0], m[:, 2, 1], m[:, 2, 2]
    co = torch.stack([
        e * i - f * h, c * h - b * i, b * f - c * e,
        f * g - d * i, a * i - c * g, c * d - a * f,
        d * h - e * g, b * g - a * h, a * e - b * d,
    ], dim=-1).reshape(-1, 3, 3)
    det = a * co[:, 0, 0] + b * co[:, 1, 0] + c * co[:, 2, 0]
    return co / det[:, None, None]


def crop_window_box(crop_tf: torch.Tensor, out_size: int = 160) -> torch.Tensor:
    """
    Return the original-image pixel box that a crop covers, FoundationPose's ``bbox2d``.

    Parameters
    ----------
    crop_tf
        (B,3,3) transform, original-image pixels -> crop pixels.
    out_size
        crop side S in pixels.

    Returns
    -------
    torch.Tensor
        (B,4) (l, t, r, b): ``crop_tf^-1`` applied to crop pixels (0,0) and (S-1,S-1), in
        original-image pixels, dtype of ``crop_tf``.

    """
    inv = _inverse_3x3(crop_tf)
    last = float(out_size - 1)
    # Built on the device by fills (no host->device copy, which a graph capture forbids).
    corners = torch.ones(2, 3, dtype=crop_tf.dtype, device=crop_tf.device)
    corners[0, :2] = 0.0
    corners[1, :2] = last
    pts = torch.matmul(inv, corners.t()).transpose(1, 2)  # (B,2,3)
    uv = pts[..., :2] / pts[..., 2:3]
    return uv.reshape(-1, 4)


def crop_projection(K: torch.Tensor, crop_tf: torch.Tensor, out_size: int = 160,
                    znear: float = 0.001, zfar: float = 100.0) -> torch.Tensor:
    """
    Build the matrices mapping OpenCV camera points to the clip space of a crop window.

    ``pos_clip = P @ [x, y, z, 1]`` for a point in the OpenCV camera frame (metres, x right,
    y down, z forward). ``P = P_gl @ diag(1, -1, -1, 1)``: the OpenGL camera flip, then an OpenGL
    projection from K onto the window whose NDC y points down (see the module docstring).
    ``w = z``; ``z/w`` maps ``znear -> -1`` and ``zfar -> +1``.

    Parameters
    ----------
    K
        (B,3,3) or (3,3) intrinsics in original-image pixels ([[fx, s, cx], [0, fy, cy],
        [0, 0, 1]]).
    crop_tf
        (B,3,3) crop transform, original-image pixels -> crop pixels.
    out_size
        crop side S in pixels.
    znear, zfar
        clip planes, metres.

    Returns
    -------
    torch.Tensor
        (B,4,4) projection matrices, dtype and device of ``crop_tf``.

    """
    B = crop_tf.shape[0]
    K = K.to(crop_tf.dtype)
    if K.dim() == 2:
        K = K.unsqueeze(0)
    K = K.expand(B, 3, 3)
    box = crop_window_box(crop_tf, out_size)
    left, top, right, bottom = box.unbind(-1)
    fx, skew, cx = K[:, 0, 0], K[:, 0, 1], K[:, 0, 2]
    fy, cy = K[:, 1, 1], K[:, 1, 2]
    sx = 1.0 / (right - left)
    sy = 1.0 / (bottom - top)
    zero = torch.zeros_like(fx)
    depth = zfar - znear
    q = -(zfar + znear) / depth
    qn = -2.0 * zfar * znear / depth
    # Rows act on OpenGL camera coordinates (x, -y, -z, 1).
    proj_gl = torch.stack([
        torch.stack([2 * fx * sx, -2 * skew * sx, (left + right - 2 * cx) * sx, zero], -1),
        torch.stack([zero, -2 * fy * sy, (top + bottom - 2 * cy) * sy, zero], -1),
        torch.stack([zero, zero, zero + q, zero + qn], -1),
        torch.stack([zero, zero, zero - 1, zero], -1),
    ], dim=1)
    gl_flip = torch.ones(4, dtype=crop_tf.dtype, device=crop_tf.device)
    gl_flip[1:3] = -1.0
    return proj_gl * gl_flip  # == proj_gl @ diag(gl_flip): scales the columns


def transform_points(mtx: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """
    Apply (B,4,4) matrices to 3D points in homogeneous coordinates.

    Parameters
    ----------
    mtx
        (B,4,4) transforms (e.g. projection @ object->camera pose).
    pos
        (V,3) or (B,V,3) points.

    Returns
    -------
    torch.Tensor
        (B,V,4) homogeneous transformed points, ``mtx @ [p, 1]``.

    """
    ones = torch.ones_like(pos[..., :1])
    pos_h = torch.cat([pos, ones], dim=-1)
    return torch.matmul(pos_h, mtx.transpose(-1, -2))
