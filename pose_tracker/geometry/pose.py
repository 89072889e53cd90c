# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
SO(3) exp/log, the refiner's pose update and its inverse (training targets), rotation errors.

Poses are ``(B,4,4)`` object->camera transforms ``p_cam = R p_obj + t`` in metres. Inside the
tracker the object frame is the *centred* mesh frame, so a rotation update turns the object about
its bounding-box centre. All functions are tensor in / tensor out, batch-first, keep the input's
dtype and device, and (those used per frame) are graph-safe: no host sync, no data-dependent
control flow.

Refiner update convention (FoundationPose ``predict_pose_refine.py`` + ``Utils.py``
``egocentric_delta_pose_to_pose``): with the network outputs ``(trans_out, rot_out)``::

    dt = trans_out * D/2                          # metres, camera axes, no tanh
    w  = tanh(rot_out) * rot_normalizer           # radians, camera axes
    dR = so3_exp(w)^T                             # NB the transpose
    t' = t + dt ;  R' = dR @ R

FoundationPose computes ``so3_exp_map(w).permute(0,2,1)`` with pytorch3d, whose ``so3_exp_map``
is the standard Rodrigues map (``hat(v) @ x == v x x``, positive angle = right-hand rule), the same
matrix as kornia's ``axis_angle_to_rotation_matrix``. The transpose therefore makes ``dR`` a
rotation by ``-|w|`` about ``w``: a positive ``rot_out[2]`` turns the object clockwise about the
camera z axis (x towards -y). The weights were trained with this sign, so it must be kept.
"""

import torch
from kornia.geometry.conversions import (
    axis_angle_to_rotation_matrix,
    rotation_matrix_to_axis_angle,
)

__all__ = [
    'ROT_NORMALIZER',
    'so3_exp',
    'so3_log',
    'apply_refiner_update',
    'pose_update_targets',
    'rotation_error_deg',
]

# Largest rotation per refiner step, radians (20 degrees): config of the released refiner.
ROT_NORMALIZER = 0.3490658503988659


def so3_exp(w: torch.Tensor) -> torch.Tensor:
    """
    Map axis-angle vectors to rotation matrices (Rodrigues, right-hand rule).

    Uses kornia's ``axis_angle_to_rotation_matrix``: both of its branches (closed form and the
    small-angle series below |w| = 1e-3) are computed and picked with ``torch.where``, so it has no
    host sync or data-dependent control flow (graph-safe), and it is accurate and differentiable
    at and near 0.

    Args:
        w: ``(...,3)`` axis * angle, radians.

    Returns:
        ``(...,3,3)`` rotation matrices, same dtype/device.

    """
    return axis_angle_to_rotation_matrix(w)


def so3_log(R: torch.Tensor) -> torch.Tensor:
    """
    Map rotation matrices to axis-angle vectors with angle in [0, pi] (inverse of ``so3_exp``).

    kornia's quaternion route; accurate near 0 and pi. Not needed in the per-frame step.

    Args:
        R: ``(...,3,3)`` rotation matrices.

    Returns:
        ``(...,3)`` axis * angle, radians.

    """
    return rotation_matrix_to_axis_angle(R)


def _half_diameter(diameter, like: torch.Tensor) -> torch.Tensor | float:
    """Return D/2 as a python float or a ``(B,1)`` tensor broadcastable against ``(B,3)``."""
    if isinstance(diameter, torch.Tensor):
        return (diameter.to(like.dtype) * 0.5).reshape(-1, 1)
    return float(diameter) * 0.5


def apply_refiner_update(
    pose: torch.Tensor,
    trans_out: torch.Tensor,
    rot_out: torch.Tensor,
    diameter,
    rot_normalizer: float = ROT_NORMALIZER,
) -> torch.Tensor:
    """
    Apply the refiner's outputs to poses (see the module docstring for the convention).

    Graph-safe; called once per refinement iteration.

    Args:
        pose: ``(B,4,4)`` centred-object->camera poses, metres.
        trans_out: ``(B,3)`` raw translation output (``dt = trans_out * D/2``, camera axes).
        rot_out: ``(B,3)`` raw rotation output (before tanh).
        diameter: mesh diameter D in metres: a float, or a ``(B,)`` / ``()`` tensor.
        rot_normalizer: radians, the rotation step for ``tanh(rot_out) = 1`` per component.

    Returns:
        ``(B,4,4)`` updated poses in ``pose``'s dtype: ``t' = t + dt``, ``R' = exp([w]x)^T R``;
        the bottom row is passed through from ``pose``.

    """
    dt = trans_out.to(pose.dtype) * _half_diameter(diameter, pose)
    w = torch.tanh(rot_out.to(pose.dtype)) * rot_normalizer
    d_rot = so3_exp(w).transpose(-1, -2)
    rot = d_rot @ pose[..., :3, :3]
    trans = pose[..., :3, 3] + dt
    top = torch.cat([rot, trans.unsqueeze(-1)], dim=-1)
    return torch.cat([top, pose[..., 3:, :]], dim=-2)


def pose_update_targets(
    pose_in: torch.Tensor,
    pose_gt: torch.Tensor,
    diameter,
    rot_normalizer: float = ROT_NORMALIZER,
    pre_tanh: bool = True,
    clamp: float = 0.999,
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Return the network outputs that move ``pose_in`` exactly onto ``pose_gt`` (training targets).

    Inverse of ``apply_refiner_update``: ``trans = (t_gt - t_in) / (D/2)``; with
    ``dR = R_gt R_in^T`` and ``exp([w]x)^T = dR``, ``w = log(dR^T) = -log(dR)``, and
    ``u = w / rot_normalizer`` is the value of ``tanh(rot_out)``.

    A component of ``u`` outside (-1, 1) cannot be reached in one step (rotation above
    ``rot_normalizer`` about that axis); it is clamped, so the target points the right way with
    the largest reachable magnitude.

    Args:
        pose_in: ``(B,4,4)`` input (perturbed) poses, centred-object->camera, metres.
        pose_gt: ``(B,4,4)`` ground-truth poses, same frames.
        diameter: mesh diameter D in metres: a float or a ``(B,)`` tensor.
        rot_normalizer: radians, as in ``apply_refiner_update``.
        pre_tanh: if true (default), the rotation target is in the network's raw output space,
            ``atanh(clamp(u, -clamp, clamp))``, to compare with ``rot_out`` directly; if false it
            is in tanh space, ``clamp(u, -1, 1)``, to compare with ``tanh(rot_out)``.
        clamp: bound on ``|u|`` before ``atanh`` (0.999 caps the raw target at about 3.8).

    Returns:
        ``(trans_target, rot_target)``, each ``(B,3)`` in ``pose_in``'s dtype.

    """
    gt = pose_gt.to(pose_in.dtype)
    trans = (gt[..., :3, 3] - pose_in[..., :3, 3]) / _half_diameter(diameter, pose_in)
    d_rot = gt[..., :3, :3] @ pose_in[..., :3, :3].transpose(-1, -2)
    u = so3_log(d_rot.transpose(-1, -2)) / rot_normalizer
    if pre_tanh:
        rot = torch.atanh(u.clamp(-clamp, clamp))
    else:
        rot = u.clamp(-1.0, 1.0)
    return trans, rot


def rotation_error_deg(Ra: torch.Tensor, Rb: torch.Tensor) -> torch.Tensor:
    """
    Return the geodesic angle between rotations, degrees in [0, 180].

    Uses ``atan2(|sin|, cos)`` of the relative rotation rather than ``acos`` of the trace, which
    loses all precision for small angles in float32.

    Args:
        Ra: ``(...,3,3)`` rotations (or the rotation blocks of poses).
        Rb: ``(...,3,3)`` rotations, broadcastable against ``Ra``.

    Returns:
        ``(...)`` angles in degrees, in the promoted dtype of the inputs.

    """
    m = Ra[..., :3, :3].transpose(-1, -2) @ Rb[..., :3, :3]
    cos = (m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2] - 1.0) * 0.5
    skew = torch.stack([m[..., 2, 1] - m[..., 1, 2],
                        m[..., 0, 2] - m[..., 2, 0],
                        m[..., 1, 0] - m[..., 0, 1]], dim=-1)
    sin = 0.5 * skew.norm(dim=-1)
    return torch.rad2deg(torch.atan2(sin, cos))
