# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Network input normalisation of the FoundationPose refiner (graph-safe).

One 6-channel input per pose hypothesis: [R, G, B, X, Y, Z]. Colour is in [0, 1] (the contract's
"RGB / 255": our crops are already divided by 255 in ``crop_real`` and the renderer outputs
[0, 1], so nothing is divided here). XYZ is expressed relative to the pose's translation and
divided by the mesh radius; readings that are missing (Z < 0.001) are zeroed in all three
channels and coordinates outside the normalised box [-2, 2) are zeroed per channel (only the
offending channel, exactly as the reference does).
"""

from typing import Union

import numpy as np
import torch

from pose_tracker.geometry.camera import MIN_VALID_DEPTH

#: Normalised XYZ coordinates with |value| at or above this are treated as invalid.
XYZ_BOUND = 2.0


def _inverse_radius(diameter: Union[float, torch.Tensor], like: torch.Tensor):
    """
    Return 1 / (D/2) rounded as the reference does (float32 D, halved, reciprocal).

    A Python float gives a Python float (no tensor creation on the device); a tensor gives a
    (B or 1,1,1,1) tensor in the dtype of ``like``.
    """
    if isinstance(diameter, torch.Tensor):
        radius = diameter.to(device=like.device, dtype=like.dtype) / 2
        return (1.0 / radius).reshape(-1, 1, 1, 1)
    np_dtype = np.float64 if like.dtype == torch.float64 else np.float32
    return float(np_dtype(1.0) / (np_dtype(diameter) / np_dtype(2.0)))


def normalize_xyz(xyz: torch.Tensor, t: torch.Tensor,
                  diameter: Union[float, torch.Tensor]) -> torch.Tensor:
    """
    Normalise an XYZ crop around the pose translation.

    Args:
        xyz: (B,3,S,S) float metres, camera frame, 0 = no reading.
        t: (B,3) translation of the (centred) object in the camera frame, metres.
        diameter: mesh diameter D in metres, Python float or (B,) tensor.

    Returns:
        (B,3,S,S) (xyz - t) / (D/2), 0 where Z < 0.001 (all channels) and where a channel's
        |value| >= 2 (that channel), dtype/device of ``xyz``.
    """
    B = xyz.shape[0]
    missing = xyz[:, 2:3] < MIN_VALID_DEPTH
    out = (xyz - t.to(xyz.dtype).reshape(B, 3, 1, 1)) * _inverse_radius(diameter, xyz)
    invalid = missing | (out.abs() >= XYZ_BOUND)
    return out.masked_fill(invalid, 0.0)


def normalize_pair(rgb: torch.Tensor, xyz: torch.Tensor, t: torch.Tensor,
                   diameter: Union[float, torch.Tensor]) -> torch.Tensor:
    """
    Build one network input (either side, rendered A or real B) from an RGB and an XYZ crop.

    Args:
        rgb: (B,3,S,S) float colour in [0, 1].
        xyz: (B,3,S,S) float metres, camera frame, 0 = no reading.
        t: (B,3) translation of the centred object in the camera frame (the pose being refined).
        diameter: mesh diameter D in metres, Python float or (B,) tensor.

    Returns:
        (B,6,S,S) cat([rgb, normalize_xyz(xyz, t, D)]), dtype/device of ``xyz``.
    """
    return torch.cat([rgb.to(xyz.dtype), normalize_xyz(xyz, t, diameter)], dim=1)
