# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
The per-frame tracking step as pure tensor functions (graph-safe).

A frame is tracked in this order (`track_step`):

1. `frame_to_real_side`: the RGB-D frame -> full-resolution colour and filtered XYZ maps;
2. `render_at` the previous pose (needs nothing from the frame, so on CUDA it runs concurrently
   with step 1 on a second stream);
3. `finish_step`: `network_iterations` RefineNet iterations (`refine_rendered`, `refine_once`),
   then `icp_iterations` depth refinement iterations (`pose_tracker.icp`) from both the network's
   result and the previous pose, keeping the better supported one (`guarded_icp`).

Everything here has fixed shapes and never synchronises with the host, so the whole step can be
captured in one CUDA graph (see `pose_tracker.tracker`); the CPU runs the same functions eagerly.
"""

from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Optional, Tuple

import torch

from pose_tracker.crop.depth import preprocess_depth
from pose_tracker.crop.normalize import normalize_pair
from pose_tracker.crop.warp import crop_real, warp_to_crop
from pose_tracker.crop.window import crop_window_tf
from pose_tracker.geometry.camera import depth_to_xyz
from pose_tracker.geometry.pose import apply_refiner_update
from pose_tracker.icp import icp_update, IcpConfig

#: Refiner rotation normaliser of the released FoundationPose checkpoint (20 degrees, radians).
ROT_NORMALIZER = 0.3490658503988659
#: Crop window side over the mesh diameter (FoundationPose `crop_ratio`).
CROP_RATIO = 1.2


@dataclass
class StepConfig:
    """
    Constants of the per-frame step.

    Attributes:
        diameter: mesh diameter, metres.
        network_iterations: RefineNet iterations per frame (0: no network).
        icp: the depth refinement's constants (``icp.iterations`` 0: no depth refinement).
        crop_size: side of the square crop, pixels (160 for the FoundationPose refiner).
        quality_tolerance: depth agreement tolerance of the quality measure, metres.
        rot_normalizer: maximum rotation update per iteration, radians.
        min_support: depth support below which the depth refinement keeps the previous pose
            (an occluded or absent object must not run away).
        min_observed: share of the previous pose's silhouette with a depth reading below which
            the depth refinement keeps the previous pose (an object in a depth hole, e.g. dark,
            shiny or too close, gives no evidence to move on).
        switch_margin: depth agreement by which the network's candidate must beat the previous
            pose's to be chosen: with occluders or long flat faces, poses centimetres apart can
            agree about equally, and then the smaller motion is the safer guess.
    """

    diameter: float
    network_iterations: int = 2
    icp: IcpConfig = field(default_factory=IcpConfig)
    crop_size: int = 160
    quality_tolerance: float = 0.01
    rot_normalizer: float = ROT_NORMALIZER
    min_support: float = 0.05
    min_observed: float = 0.1
    switch_margin: float = 0.03


def frame_to_real_side(rgb_hwc: torch.Tensor, depth_hw: torch.Tensor,
                       K: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Convert one RGB-D frame into the tensors the crops are taken from.

    Args:
        rgb_hwc: (H,W,3) uint8 RGB image.
        depth_hw: (H,W) float32 depth, metres, 0 = no reading.
        K: (1,3,3) float32 intrinsics, pixels.

    Returns:
        rgb: (1,3,H,W) float32 in [0,1].
        xyz: (1,3,H,W) float32 metres, camera frame, of the filtered depth (0 = invalid).
    """
    # Converted once per frame (not per iteration): crops warp the float image.
    rgb = rgb_hwc.permute(2, 0, 1).unsqueeze(0).float() / 255.0
    depth = preprocess_depth(depth_hw.unsqueeze(0))
    xyz = depth_to_xyz(depth, K)
    return rgb, xyz


def depth_support(rendered_xyz: torch.Tensor, rendered_mask: torch.Tensor,
                  real_xyz: torch.Tensor, tolerance: float) -> torch.Tensor:
    """
    Share of rendered object pixels whose observed depth agrees with the render.

    This is the tracking quality measure (like Isaac ROS's min_pointcloud_support): close to 1
    when the rendered object sits on the observed surface, close to 0 when the object is lost,
    occluded or absent.

    Args:
        rendered_xyz: (B,3,S,S) float32 metres, camera frame, rendered at the current pose.
        rendered_mask: (B,1,S,S) float32 0/1 rendered coverage.
        real_xyz: (B,3,S,S) float32 metres, camera frame, the observed XYZ in the same window.
        tolerance: metres.

    Returns:
        (B,) float32 in [0,1].
    """
    return depth_evidence(rendered_xyz, rendered_mask, real_xyz, tolerance).support


class DepthEvidence(NamedTuple):
    """
    How well the observed depth confirms a rendered pose; each (B,) float32 in [0,1].

    Attributes:
        support: agreeing pixels over rendered pixels (`depth_support`, the quality measure).
        agreement: agreeing pixels over rendered pixels that have a depth reading: unlike
            ``support`` it does not reward moving the object out of a depth hole onto other
            surfaces, so it is what the depth refinement's candidates are compared by.
        observed: rendered pixels with a depth reading over rendered pixels.
    """

    support: torch.Tensor
    agreement: torch.Tensor
    observed: torch.Tensor


def depth_evidence(rendered_xyz: torch.Tensor, rendered_mask: torch.Tensor,
                   real_xyz: torch.Tensor, tolerance: float) -> DepthEvidence:
    """
    Count how the observed depth inside a rendered silhouette agrees with the render.

    Args:
        rendered_xyz, rendered_mask, real_xyz, tolerance: as for `depth_support`.

    Returns:
        `DepthEvidence` (support, agreement, observed), each (B,) float32.
    """
    z_r = rendered_xyz[:, 2:3]
    z_o = real_xyz[:, 2:3]
    mask = rendered_mask > 0.5
    has_depth = (z_o > 0.001) & mask
    agree = has_depth & ((z_r - z_o).abs() < tolerance)
    n_agree = agree.flatten(1).sum(1).float()
    n_depth = has_depth.flatten(1).sum(1).float()
    n_mask = mask.flatten(1).sum(1).float().clamp_min(1.0)
    return DepthEvidence(support=n_agree / n_mask, agreement=n_agree / n_depth.clamp_min(1.0),
                         observed=n_depth / n_mask)


def render_at(pose: torch.Tensor, K: torch.Tensor, render: Callable,
              cfg: StepConfig) -> Tuple[torch.Tensor, object]:
    """
    Render the mesh at `pose` into its crop window (the model side of one iteration).

    Needs nothing from the observed frame, so the tracker can run the first iteration's render
    concurrently with the frame's depth filtering (two streams in one CUDA graph).

    Args:
        pose: (B,4,4) float32 centred-object -> camera, metres.
        K: (B,3,3) float32 intrinsics.
        render: `MeshRenderer.render`-like callable (pose, K, crop_tf) -> RenderOutput.
        cfg: step constants.

    Returns:
        crop_tf: (B,3,3) float32 image -> crop pixel transform.
        rendered: the RenderOutput (rgb (B,3,S,S), xyz (B,3,S,S) metres, mask (B,1,S,S)).
    """
    crop_tf = crop_window_tf(pose, K, cfg.diameter, CROP_RATIO, cfg.crop_size)
    return crop_tf, render(pose, K, crop_tf)


def refine_rendered(pose: torch.Tensor, rgb: torch.Tensor, xyz: torch.Tensor,
                    crop_tf: torch.Tensor, rendered, network: Callable, cfg: StepConfig):
    """
    Finish one iteration from its render: crop the observation, RefineNet, pose update.

    Args:
        pose: (B,4,4) float32 centred-object -> camera, metres (the pose `rendered` shows).
        rgb: (B,3,H,W) float32 observed RGB in [0,1].
        xyz: (B,3,H,W) float32 observed XYZ map, metres, camera frame.
        crop_tf, rendered: the output of `render_at` for `pose`.
        network: callable (A, B) -> (trans (B,3), rot (B,3)), float32 outputs.
        cfg: step constants.

    Returns:
        new_pose: (B,4,4) float32 after the update.
        quality: (B,) float32 depth support of `pose` (before the update).
    """
    t = pose[:, :3, 3]
    inputs_a = normalize_pair(rendered.rgb, rendered.xyz, t, cfg.diameter)
    rgb_b, xyz_b = crop_real(rgb, xyz, crop_tf, cfg.crop_size)
    inputs_b = normalize_pair(rgb_b, xyz_b, t, cfg.diameter)
    trans, rot = network(inputs_a, inputs_b)
    new_pose = apply_refiner_update(pose, trans, rot, cfg.diameter, cfg.rot_normalizer)
    quality = depth_support(rendered.xyz, rendered.mask, xyz_b, cfg.quality_tolerance)
    return new_pose, quality


def refine_once(pose: torch.Tensor, K: torch.Tensor, rgb: torch.Tensor, xyz: torch.Tensor,
                render: Callable, network: Callable, cfg: StepConfig):
    """
    Run one refinement iteration: render, crop both sides, RefineNet, pose update.

    Args:
        pose: (B,4,4) float32 centred-object -> camera, metres.
        K: (B,3,3) float32 intrinsics.
        rgb: (B,3,H,W) float32 observed RGB in [0,1].
        xyz: (B,3,H,W) float32 observed XYZ map, metres, camera frame.
        render: `MeshRenderer.render`-like callable (pose, K, crop_tf) -> RenderOutput.
        network: callable (A, B) -> (trans (B,3), rot (B,3)), float32 outputs.
        cfg: step constants.

    Returns:
        new_pose: (B,4,4) float32 after the update.
        quality: (B,) float32 depth support of the pose *before* the update.
    """
    crop_tf, rendered = render_at(pose, K, render, cfg)
    return refine_rendered(pose, rgb, xyz, crop_tf, rendered, network, cfg)


def observed_crop(xyz: torch.Tensor, crop_tf: torch.Tensor, cfg: StepConfig) -> torch.Tensor:
    """
    Crop the observed XYZ map into crop windows (nearest: no point between two surfaces).

    Args:
        xyz: (1 or B,3,H,W) float32 metres, camera frame (0 = no reading).
        crop_tf: (B,3,3) image -> crop pixel transforms.
        cfg: step constants.

    Returns:
        (B,3,S,S) float32 metres, camera frame.
    """
    return warp_to_crop(xyz, crop_tf, cfg.crop_size, mode="nearest")


def network_stage(pose: torch.Tensor, K: torch.Tensor, rgb: torch.Tensor, xyz: torch.Tensor,
                  crop_tf: torch.Tensor, rendered, render: Callable, network: Callable,
                  cfg: StepConfig) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Run `cfg.network_iterations` RefineNet iterations whose first render is already done.

    Same result as that many calls of `refine_once`; see `render_at` for why the first render
    is split off. With 0 iterations the pose is kept and its depth support still measured.

    Args:
        pose: (B,4,4) float32 centred-object -> camera, metres.
        K: (B,3,3) float32 intrinsics.
        rgb, xyz: (1 or B,3,H,W) observed colour in [0,1] and XYZ map in metres.
        crop_tf, rendered: the output of `render_at` for ``pose``.
        render, network, cfg: see `refine_once`.

    Returns:
        pose: (B,4,4) float32 refined pose.
        quality: (B,) float32 depth support of the last rendered pose.
    """
    if cfg.network_iterations <= 0:
        observed = observed_crop(xyz, crop_tf, cfg)
        return pose, depth_support(rendered.xyz, rendered.mask, observed, cfg.quality_tolerance)
    pose, quality = refine_rendered(pose, rgb, xyz, crop_tf, rendered, network, cfg)
    for _ in range(cfg.network_iterations - 1):
        pose, quality = refine_once(pose, K, rgb, xyz, render, network, cfg)
    return pose, quality


def icp_refine(pose: torch.Tensor, K: torch.Tensor, xyz: torch.Tensor,
               render_geometry: Callable, cfg: StepConfig,
               first: Optional[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = None
               ) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Run `cfg.icp.iterations` (>= 1) depth refinement iterations on a batch of poses.

    Each iteration renders the mesh's XYZ into the current pose's crop window, crops the
    observation with the same transform and takes one `pose_tracker.icp.icp_update` step with
    that iteration's distance gate.

    Args:
        pose: (B,4,4) float32 centred-object -> camera, metres.
        K: (B,3,3) float32 intrinsics.
        xyz: (1 or B,3,H,W) float32 observed XYZ map, metres, camera frame.
        render_geometry: `MeshRenderer.render_geometry`-like callable (pose, K, crop_tf) ->
            RenderOutput with xyz and mask.
        cfg: step constants.
        first: optional (crop_tf (B,3,3), xyz (B,3,S,S), mask (B,1,S,S)) of a render at
            ``pose`` already made (saves the first render).

    Returns:
        pose: (B,4,4) float32 refined poses.
        evidence: `DepthEvidence` of the last rendered pose ((B,) each; ``.support`` is the
            depth support).
    """
    evidence = None
    K = K.expand(pose.shape[0], 3, 3)
    for i in range(cfg.icp.iterations):
        if i == 0 and first is not None:
            crop_tf, ren_xyz, ren_mask = first
        else:
            crop_tf = crop_window_tf(pose, K, cfg.diameter, CROP_RATIO, cfg.crop_size)
            rendered = render_geometry(pose, K, crop_tf)
            ren_xyz, ren_mask = rendered.xyz, rendered.mask
        observed = observed_crop(xyz, crop_tf, cfg)
        evidence = depth_evidence(ren_xyz, ren_mask, observed, cfg.quality_tolerance)
        pose = icp_update(pose, ren_xyz, ren_mask, observed, cfg.icp.gate(i), cfg.icp,
                          cfg.diameter)
    return pose, evidence


def guarded_icp(refined: torch.Tensor, previous: torch.Tensor, K: torch.Tensor,
                xyz: torch.Tensor, crop_tf: torch.Tensor, rendered,
                render_geometry: Callable, cfg: StepConfig) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Depth-refine both the network's result and the previous pose; keep the better supported.

    Both candidates run as one batch of 2B. The one whose depth agreement (agreeing pixels over
    rendered pixels with a reading, at its last render) is higher wins, the network's candidate
    only by at least ``cfg.switch_margin``; the share of all rendered pixels would reward a
    candidate that slid out of a depth hole onto a neighbouring surface. The previous pose is
    kept unchanged (an occluded object must not run away) where the winner's depth support is
    below ``cfg.min_support`` or where the previous pose's silhouette has almost no depth
    readings (``cfg.min_observed``: nothing to confirm a move).
    Branch-free (``torch.where``).

    Args:
        refined: (B,4,4) float32 pose after the network iterations.
        previous: (B,4,4) float32 pose the frame started from.
        K: (B,3,3) float32 intrinsics.
        xyz: (1 or B,3,H,W) float32 observed XYZ map, metres.
        crop_tf, rendered: `render_at` output for ``previous`` (reused as its first render).
        render_geometry, cfg: see `icp_refine`.

    Returns:
        pose: (B,4,4) float32 chosen pose.
        support: (B,) float32 its depth support.
    """
    B = refined.shape[0]
    Kb = K.expand(B, 3, 3)
    tf_refined = crop_window_tf(refined, Kb, cfg.diameter, CROP_RATIO, cfg.crop_size)
    ren = render_geometry(refined, Kb, tf_refined)
    first = (torch.cat([tf_refined, crop_tf]), torch.cat([ren.xyz, rendered.xyz]),
             torch.cat([ren.mask, rendered.mask]))
    poses, ev = icp_refine(torch.cat([refined, previous]), torch.cat([Kb, Kb]), xyz,
                           render_geometry, cfg, first)
    take_refined = ev.agreement[:B] > ev.agreement[B:] + cfg.switch_margin
    best = torch.where(take_refined.view(B, 1, 1), poses[:B], poses[B:])
    support = torch.where(take_refined, ev.support[:B], ev.support[B:])
    keep = (support < cfg.min_support) | (ev.observed[B:] < cfg.min_observed)
    support = torch.where(keep, ev.support[B:], support)
    return torch.where(keep.view(B, 1, 1), previous, best), support


def finish_step(pose: torch.Tensor, K: torch.Tensor, rgb: torch.Tensor, xyz: torch.Tensor,
                crop_tf: torch.Tensor, rendered, render: Callable, network: Callable,
                cfg: StepConfig, render_geometry: Optional[Callable] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Everything of a frame after its first render: network iterations, then depth refinement.

    Args:
        pose: (B,4,4) float32 the previous pose (what ``rendered`` shows).
        K: (B,3,3) float32 intrinsics.
        rgb, xyz: `frame_to_real_side` output.
        crop_tf, rendered: `render_at` output for ``pose``.
        render, network, cfg: see `refine_once`.
        render_geometry: XYZ-only renderer for the depth refinement (default: ``render``).

    Returns:
        pose: (B,4,4) float32 tracked pose.
        quality: (B,) float32 depth support of the last rendered pose (of the chosen candidate
            when the depth refinement runs).
    """
    refined, quality = network_stage(pose, K, rgb, xyz, crop_tf, rendered, render, network, cfg)
    if cfg.icp.iterations <= 0:
        return refined, quality
    render_geometry = render if render_geometry is None else render_geometry
    if cfg.network_iterations <= 0:
        # The network did not move the pose: one candidate is enough.
        first = (crop_tf, rendered.xyz, rendered.mask)
        moved, ev = icp_refine(pose, K, xyz, render_geometry, cfg, first)
        keep = (ev.support < cfg.min_support) | (ev.observed < cfg.min_observed)
        return torch.where(keep.view(-1, 1, 1), pose, moved), ev.support
    return guarded_icp(refined, pose, K, xyz, crop_tf, rendered, render_geometry, cfg)


def track_step(pose: torch.Tensor, K: torch.Tensor, rgb_hwc: torch.Tensor,
               depth_hw: torch.Tensor, render: Callable, network: Callable,
               cfg: StepConfig, render_geometry: Optional[Callable] = None
               ) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Track one frame from ``pose``: `frame_to_real_side`, `render_at`, `finish_step`.

    Args:
        pose: (1,4,4) float32 centred-object -> camera, metres (the previous frame's estimate).
        K: (1,3,3) float32 intrinsics.
        rgb_hwc: (H,W,3) uint8 RGB.
        depth_hw: (H,W) float32 metres, 0 = no reading.
        render, network, cfg, render_geometry: see `finish_step`.

    Returns:
        pose: (1,4,4) float32 tracked pose.
        quality: (1,) float32 depth support (see `finish_step`).
    """
    rgb, xyz = frame_to_real_side(rgb_hwc, depth_hw, K)
    crop_tf, rendered = render_at(pose, K, render, cfg)
    return finish_step(pose, K, rgb, xyz, crop_tf, rendered, render, network, cfg,
                       render_geometry)
