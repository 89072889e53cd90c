# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
The ``box_3d`` crop window of the FoundationPose refiner and its 3x3 crop transform.

For a pose with translation t (centred object -> camera) and mesh diameter D, with
r = D * crop_ratio / 2, the points t, t +/- (r,0,0), t +/- (0,r,0) (offsets along the camera axes)
are projected with K; rho is the largest |uv - uv(t)| over those points and both axes; the window
is left/right = u(t) -/+ rho, top/bottom = v(t) -/+ rho, each rounded half-to-even, and the crop
transform maps it onto the out_size x out_size crop:

    crop_tf = diag(S / (right - left), S / (bottom - top), 1) @ translate(-left, -top)

As in FoundationPose, the window is computed in float64 (its diameter and K are float64 there) and
the transform is assembled in the pose dtype. All functions are graph-safe: fixed shapes, no host
sync, no data-dependent control flow.
"""

from typing import NamedTuple, Union

import torch

from pose_tracker.geometry.camera import MIN_VALID_DEPTH, expand_intrinsics


class CropWindow(NamedTuple):
    """
    A batch of crop windows.

    Attributes:
        tf: (B,3,3) crop transform, original-image pixels -> crop pixels, dtype of the pose.
        box: (B,4) window (left, top, right, bottom) in original-image pixels, rounded, dtype of
            the pose. The crop spans [left, right) x [top, bottom) in steps of (right-left)/S.
        valid: (B,) bool. False where the pose translation is not finite, the object centre is
            not in front of the camera (t_z <= min_depth) or the window is narrower than 1 pixel;
            ``tf`` is then still finite (computed from a sanitised translation) but meaningless.
    """

    tf: torch.Tensor
    box: torch.Tensor
    valid: torch.Tensor


def crop_window(pose: torch.Tensor, K: torch.Tensor, diameter: Union[float, torch.Tensor],
                crop_ratio: float = 1.2, out_size: int = 160,
                min_depth: float = MIN_VALID_DEPTH) -> CropWindow:
    """
    Compute the ``box_3d`` crop window and transform for a batch of poses.

    Args:
        pose: (B,4,4) centred-object -> camera poses, metres, OpenCV camera frame. Only the
            translation is used.
        K: (B,3,3) or (3,3) camera intrinsics, pixels (any float dtype, same device).
        diameter: mesh diameter in metres, a Python float (preferred: it is used in float64, like
            FoundationPose's numpy diameter) or a (B,) / scalar tensor.
        crop_ratio: window half-size as a multiple of the mesh radius (1.2 for the released
            refiner).
        out_size: side of the square crop in pixels.
        min_depth: translations with t_z at or below this (metres) are flagged invalid and
            projected as if at this depth, so the projection never divides by zero or flips.

    Returns:
        CropWindow(tf (B,3,3), box (B,4), valid (B,) bool), on the device of ``pose``.
    """
    B = pose.shape[0]
    dtype = pose.dtype
    work = torch.float64
    t = pose[:, :3, 3].to(work)
    valid = torch.isfinite(t).all(dim=-1) & (t[:, 2] > min_depth)
    # Sanitise instead of branching: the graph must run the same kernels for any pose.
    t = torch.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0)

    if isinstance(diameter, torch.Tensor):
        radius = (diameter.to(device=pose.device, dtype=work) * crop_ratio / 2).reshape(-1, 1, 1)
    else:
        radius = float(diameter) * crop_ratio / 2
    # K (t + r e_i) = K t + r K[:, i]: the five projected points t, t +/- r x, t +/- r y.
    Kw = expand_intrinsics(K, B).to(work)
    centre = Kw @ t.unsqueeze(-1)  # (B,3,1)
    step = radius * Kw[:, :, :2]  # (B,3,2)
    proj = torch.cat([centre, centre + step, centre - step], dim=-1)  # (B,3,5)
    uv = proj[:, :2] / proj[:, 2:].clamp_min(min_depth)  # (B,2,5)
    rho = (uv - uv[:, :, :1]).abs().amax(dim=(1, 2)).unsqueeze(-1)  # (B,1)

    # (left, top) and (right, bottom); torch.round rounds half to even, like the reference.
    lo = torch.round(uv[:, :, 0] - rho)
    hi = torch.round(uv[:, :, 0] + rho)
    size = hi - lo
    valid = valid & (size >= 1).all(dim=-1)
    size = size.clamp_min(1.0)

    # Same rounding steps as the reference: scale in float64, cast, product in the pose dtype.
    scale = (out_size / size).to(dtype)
    tf = torch.zeros(B, 3, 3, dtype=dtype, device=pose.device)
    tf.diagonal(dim1=1, dim2=2)[:, :2] = scale
    tf[:, :2, 2] = scale * -lo.to(dtype)
    tf[:, 2, 2] = 1.0
    box = torch.cat([lo, lo + size], dim=-1).to(dtype)
    return CropWindow(tf=tf, box=box, valid=valid)


def crop_window_tf(pose: torch.Tensor, K: torch.Tensor, diameter: Union[float, torch.Tensor],
                   crop_ratio: float = 1.2, out_size: int = 160) -> torch.Tensor:
    """Return only the (B,3,3) crop transform of :func:`crop_window` (pose dtype/device)."""
    return crop_window(pose, K, diameter, crop_ratio=crop_ratio, out_size=out_size).tf
