# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Weight-free depth refinement: point-to-plane Gauss-Newton in the crop window (graph-safe).

One iteration at a pose: the mesh's camera-frame XYZ is rendered into the pose's ``box_3d`` crop
window, the observed XYZ is cropped with the same transform (nearest), and each covered crop pixel
pairs the rendered point ``x`` with the observed point ``y`` at the same pixel (projective
association). The residual is ``r = n . (y - x)`` with ``n`` the rendered surface normal. The
update is a twist about the object centre ``t``: ``x' = exp(w) (x - t) + t + v``, whose linearised
residual is ``r - J xi`` with ``J = [(x - t) x n, n]`` and ``xi = (w, v)``; moving about the
centre rather than the camera origin decouples rotation from translation.

Normals come from finite differences of the rendered XYZ map, so they follow the real facets
(interpolated vertex normals are averaged across sharp edges and point the wrong way there).
Weights: Tukey's biweight of the residual times ``|n . view ray|`` (grazing pixels count less),
and a 3D distance gate. The 6x6 normal equations get a weak prior proportional to the total weight
(so a direction the depth cannot see, such as the spin of a can about its axis, gets no update),
are solved by a fixed elimination (`solve_spd`: ``linalg.solve`` and ``linalg.cholesky``
synchronise with the host, and the batched ``cholesky_solve`` cannot be captured on CUDA), and the
step is dropped (``torch.where``) when the system is not positive definite, the support is too
small or the step is not finite, and clamped to a maximum rotation and translation. Every
function has fixed shapes and no host synchronisation, so it runs inside the tracker's captured
CUDA graph and, unchanged, eagerly on a CPU.

Frames: poses are ``(B,4,4)`` centred-object -> camera, metres; maps are ``(B,C,S,S)`` crop maps in
the camera frame (OpenCV: x right, y down, z forward).
"""

from dataclasses import dataclass
import math
from typing import Tuple

import torch

from pose_tracker.geometry.camera import MIN_VALID_DEPTH
from pose_tracker.geometry.pose import so3_exp

#: Largest 3D step between the two neighbours of a pixel, over the mesh diameter, for the
#: finite-difference normal to count: a 160-pixel crop spans 1.2 diameters, so 0.1 diameters is
#: about 13 crop pixels, i.e. surfaces up to ~80 deg from fronto-parallel; larger steps are
#: silhouettes or self-occlusion edges, where the difference crosses two surfaces.
NORMAL_MAX_STEP = 0.1


@dataclass
class IcpConfig:
    """
    Constants of the depth refinement.

    Attributes:
        iterations: Gauss-Newton iterations per frame (each renders once); 0 turns it off.
        gate_start: distance gate of the first iteration, metres (3D point distance and Tukey
            scale of the residual).
        gate_end: distance gate of the last iteration, metres; the gates in between shrink
            geometrically from ``gate_start`` to ``gate_end``.
        damping: weight of the prior, as a fraction of the total weight (rotation part scaled by
            the object radius squared).
        min_weight: smallest total robust weight (about a number of fully trusted pixels) for a
            step to be taken.
        max_rotation_deg: largest rotation per iteration, degrees.
        max_translation: largest translation per iteration, metres.
    """

    iterations: int = 2
    gate_start: float = 0.03
    gate_end: float = 0.01
    damping: float = 0.001
    min_weight: float = 30.0
    max_rotation_deg: float = 10.0
    max_translation: float = 0.02

    def gate(self, i: int) -> float:
        """Return the distance gate of iteration ``i`` (0-based), metres."""
        n = int(self.iterations)
        if n <= 1:
            return float(self.gate_start)
        ratio = float(self.gate_end) / float(self.gate_start)
        return float(self.gate_start) * ratio ** (i / (n - 1))


def normals_from_xyz(xyz: torch.Tensor, mask: torch.Tensor,
                     max_step: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Surface normals of a rendered XYZ map by central differences.

    ``n = normalize((x[v+1] - x[v-1]) x (x[u+1] - x[u-1]))``, oriented towards the camera
    (``n . x < 0``). A pixel's normal is valid where it and its four neighbours are covered, both
    differences are shorter than ``max_step`` (no silhouette or self-occlusion edge in between) and
    the cross product is not degenerate.

    Args:
        xyz: (B,3,S,S) float32 metres, camera frame, rendered (0 where not covered).
        mask: (B,1,S,S) float32 0/1 coverage.
        max_step: metres, see ``NORMAL_MAX_STEP``.

    Returns:
        normals: (B,3,S,S) float32 unit vectors, camera frame (0 where invalid).
        valid: (B,1,S,S) bool.
    """
    xp = torch.nn.functional.pad(xyz, (1, 1, 1, 1))
    mp = torch.nn.functional.pad(mask, (1, 1, 1, 1))
    dx = xp[..., 1:-1, 2:] - xp[..., 1:-1, :-2]
    dy = xp[..., 2:, 1:-1] - xp[..., :-2, 1:-1]
    covered = ((mask > 0.5) & (mp[..., 1:-1, 2:] > 0.5) & (mp[..., 1:-1, :-2] > 0.5)
               & (mp[..., 2:, 1:-1] > 0.5) & (mp[..., :-2, 1:-1] > 0.5))
    short = ((dx.square().sum(1, keepdim=True) < max_step * max_step)
             & (dy.square().sum(1, keepdim=True) < max_step * max_step))
    # dy x dx faces the camera for a fronto-parallel surface (x right, y down, z forward).
    n = torch.linalg.cross(dy, dx, dim=1)
    norm = n.norm(dim=1, keepdim=True)
    n = n / norm.clamp_min(1e-12)
    facing = torch.where((n * xyz).sum(1, keepdim=True) > 0, -1.0, 1.0)
    valid = covered & short & (norm > 1e-12)
    return torch.where(valid, n * facing, 0.0), valid


def point_to_plane_system(rendered: torch.Tensor, normals: torch.Tensor, valid: torch.Tensor,
                          observed: torch.Tensor, center: torch.Tensor, gate: float,
                          radius: float):
    """
    Weighted point-to-plane normal equations of one iteration.

    The twist is scaled as ``xi = (w * radius, v)`` so that rotation and translation columns have
    comparable size (metres) and the 6x6 system stays well conditioned in float32.

    Args:
        rendered: (B,3,S,S) float32 rendered XYZ, metres, camera frame.
        normals, valid: the output of `normals_from_xyz` for ``rendered``.
        observed: (B,3,S,S) float32 observed XYZ cropped with the same transform, metres (0 = no
            reading).
        center: (B,3) object centre (the pose translation), metres, camera frame.
        gate: distance gate and Tukey scale, metres.
        radius: object radius, metres (rotation scaling).

    Returns:
        H: (B,6,6) float32 ``J^T W J``.
        g: (B,6) float32 ``J^T W r``.
        weight: (B,) float32 total robust weight.
    """
    diff = observed - rendered
    r = (normals * diff).sum(1, keepdim=True)  # (B,1,S,S) metres
    has_obs = observed[:, 2:3] > MIN_VALID_DEPTH
    near = diff.square().sum(1, keepdim=True) < gate * gate
    u = (r / gate).clamp(-1.0, 1.0)
    tukey = (1.0 - u * u).square()
    ray = rendered / rendered.norm(dim=1, keepdim=True).clamp_min(1e-9)
    incidence = (normals * ray).sum(1, keepdim=True).abs()
    w = torch.where(valid & has_obs & near, tukey * incidence, 0.0)  # (B,1,S,S)
    arm = rendered - center.view(-1, 3, 1, 1)
    J = torch.cat([torch.linalg.cross(arm, normals, dim=1) / radius, normals], dim=1)
    J = J.flatten(2)  # (B,6,N)
    Jw = J * w.flatten(2)
    H = Jw @ J.transpose(1, 2)
    g = (Jw * r.flatten(2)).sum(-1)
    return H, g, w.flatten(1).sum(1)


def solve_spd(A: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Solve small symmetric positive definite systems ``A x = b`` by elimination (graph-safe).

    Why not ``torch.linalg.cholesky_ex`` + ``torch.cholesky_solve``: on CUDA the batched
    ``cholesky_solve`` goes through MAGMA, which allocates device memory and fails inside CUDA
    graph capture ("operation not permitted when stream is capturing", torch 2.11, H200). For an
    SPD matrix, Gaussian elimination without pivoting is stable and its pivots (ratios of leading
    principal minors) are all positive exactly when the matrix is positive definite, so the
    pivots double as the factorisation check. It is a fixed sequence of elementwise ops (fused
    into one kernel by ``torch.compile``), identical on CPU and CUDA.

    Args:
        A: (B,n,n) float symmetric matrices.
        b: (B,n) float right-hand sides.

    Returns:
        x: (B,n) solutions (meaningless where ``ok`` is False).
        ok: (B,) bool, False where a pivot was not positive or the solution is not finite.
    """
    n = A.shape[-1]
    M = torch.cat([A, b.unsqueeze(-1)], dim=-1)  # (B,n,n+1)
    rows = torch.arange(n, device=A.device).view(1, n, 1)
    ok = torch.ones(A.shape[0], dtype=torch.bool, device=A.device)
    for k in range(n):
        piv = M[:, k, k]
        ok = ok & (piv > 0)
        row = M[:, k, :] / torch.where(piv > 0, piv, 1.0).unsqueeze(-1)  # (B,n+1)
        M = torch.where(rows == k, row.unsqueeze(1), M - M[:, :, k:k + 1] * row.unsqueeze(1))
    x = M[:, :, n]
    return x, ok & torch.isfinite(x).all(-1)


def solve_twist(H: torch.Tensor, g: torch.Tensor, weight: torch.Tensor, cfg: IcpConfig,
                radius: float) -> torch.Tensor:
    """
    Solve the damped system for the twist; zero where it must not be trusted.

    Args:
        H, g, weight: the output of `point_to_plane_system`.
        cfg: ICP constants (damping, minimum weight, step limits).
        radius: object radius, metres (undoes the rotation scaling).

    Returns:
        (B,6) float32 twist ``(w, v)``: rotation vector (radians, camera axes, about the object
        centre) and translation (metres, camera frame), clamped; 0 where the system is not
        positive definite, the support is below ``cfg.min_weight`` or the step is not finite.
    """
    eye = torch.eye(6, dtype=H.dtype, device=H.device)
    A = H + (cfg.damping * weight.clamp_min(1.0)).view(-1, 1, 1) * eye
    xi, ok = solve_spd(A, g)
    ok = ok & (weight >= cfg.min_weight)
    xi = torch.where(ok.unsqueeze(-1), xi, 0.0)
    w = xi[:, :3] / radius
    v = xi[:, 3:]
    max_rot = math.radians(cfg.max_rotation_deg)
    w = w * (max_rot / w.norm(dim=-1, keepdim=True).clamp_min(max_rot))
    v = v * (cfg.max_translation / v.norm(dim=-1, keepdim=True).clamp_min(cfg.max_translation))
    return torch.cat([w, v], dim=-1)


def apply_twist(pose: torch.Tensor, twist: torch.Tensor) -> torch.Tensor:
    """
    Move poses by twists about their object centres: ``R' = exp(w) R``, ``t' = t + v``.

    Args:
        pose: (B,4,4) centred-object -> camera, metres.
        twist: (B,6) rotation vector (radians, camera axes) and translation (metres).

    Returns:
        (B,4,4) moved poses, dtype of ``pose``.
    """
    dR = so3_exp(twist[:, :3].to(pose.dtype))
    rot = dR @ pose[:, :3, :3]
    trans = pose[:, :3, 3] + twist[:, 3:].to(pose.dtype)
    top = torch.cat([rot, trans.unsqueeze(-1)], dim=-1)
    return torch.cat([top, pose[:, 3:, :]], dim=-2)


def icp_update(pose: torch.Tensor, rendered: torch.Tensor, mask: torch.Tensor,
               observed: torch.Tensor, gate: float, cfg: IcpConfig,
               diameter: float) -> torch.Tensor:
    """
    One point-to-plane Gauss-Newton step from a render at ``pose`` and the observed crop.

    Args:
        pose: (B,4,4) centred-object -> camera, metres (the pose ``rendered`` shows).
        rendered: (B,3,S,S) float32 rendered XYZ, metres, camera frame.
        mask: (B,1,S,S) float32 rendered coverage.
        observed: (B,3,S,S) float32 observed XYZ in the same crop window, metres.
        gate: distance gate of this iteration, metres.
        cfg: ICP constants.
        diameter: mesh diameter, metres.

    Returns:
        (B,4,4) updated poses (unchanged where the step was rejected).
    """
    radius = 0.5 * float(diameter)
    normals, valid = normals_from_xyz(rendered, mask, NORMAL_MAX_STEP * float(diameter))
    H, g, weight = point_to_plane_system(rendered, normals, valid, observed,
                                         pose[:, :3, 3].to(rendered.dtype), gate, radius)
    return apply_twist(pose, solve_twist(H, g, weight, cfg, radius))
