# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""The per-frame tracking step as pure tensor functions (graph-safe).

`frame_to_real_side` turns one RGB-D frame into the full-resolution tensors every refinement
iteration crops from; `refine_once` does one render -> crop -> RefineNet -> update iteration;
`track_step` chains them. Everything here has fixed shapes and never synchronises with the host,
so the whole of `track_step` can be captured in one CUDA graph (see `pose_tracker.tracker`).
"""

from dataclasses import dataclass
from typing import Callable, Tuple

import torch

from pose_tracker.crop.depth import preprocess_depth
from pose_tracker.crop.normalize import normalize_pair
from pose_tracker.crop.warp import crop_real
from pose_tracker.crop.window import crop_window_tf
from pose_tracker.geometry.camera import depth_to_xyz
from pose_tracker.geometry.pose import apply_refiner_update

#: Refiner rotation normaliser of the released FoundationPose checkpoint (20 degrees, radians).
ROT_NORMALIZER = 0.3490658503988659
#: Crop window side over the mesh diameter (FoundationPose `crop_ratio`).
CROP_RATIO = 1.2


@dataclass
class StepConfig:
    """Constants of the per-frame step.

    Attributes:
        diameter: mesh diameter, metres.
        iterations: refinement iterations per frame.
        crop_size: side of the square crop, pixels (160 for the FoundationPose refiner).
        quality_tolerance: depth agreement tolerance of the quality measure, metres.
        rot_normalizer: maximum rotation update per iteration, radians.
    """

    diameter: float
    iterations: int = 2
    crop_size: int = 160
    quality_tolerance: float = 0.01
    rot_normalizer: float = ROT_NORMALIZER


def frame_to_real_side(rgb_hwc: torch.Tensor, depth_hw: torch.Tensor,
                       K: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Convert one RGB-D frame into the tensors the crops are taken from.

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
    """Share of rendered object pixels whose observed depth agrees with the render.

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
    z_r = rendered_xyz[:, 2:3]
    z_o = real_xyz[:, 2:3]
    agree = (z_o > 0.001) & ((z_r - z_o).abs() < tolerance)
    mask = rendered_mask > 0.5
    num = (agree & mask).flatten(1).sum(1).float()
    den = mask.flatten(1).sum(1).float().clamp_min(1.0)
    return num / den


def render_at(pose: torch.Tensor, K: torch.Tensor, render: Callable,
              cfg: StepConfig) -> Tuple[torch.Tensor, object]:
    """Render the mesh at `pose` into its crop window (the model side of one iteration).

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
    """Finish one iteration from its render: crop the observation, RefineNet, pose update.

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
    """Run one refinement iteration: render, crop both sides, RefineNet, pose update.

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


def refine_from_first_render(pose: torch.Tensor, K: torch.Tensor, rgb: torch.Tensor,
                             xyz: torch.Tensor, crop_tf: torch.Tensor, rendered,
                             render: Callable, network: Callable, cfg: StepConfig):
    """Run `cfg.iterations` (>= 1) refinements whose first render is already done.

    Same result as `cfg.iterations` calls of `refine_once`; see `render_at` for why the first
    render is split off.

    Returns:
        pose: (B,4,4) float32 refined pose.
        quality: (B,) float32 depth support of the last rendered pose.
    """
    pose, quality = refine_rendered(pose, rgb, xyz, crop_tf, rendered, network, cfg)
    for _ in range(cfg.iterations - 1):
        pose, quality = refine_once(pose, K, rgb, xyz, render, network, cfg)
    return pose, quality


def track_step(pose: torch.Tensor, K: torch.Tensor, rgb_hwc: torch.Tensor,
               depth_hw: torch.Tensor, render: Callable, network: Callable,
               cfg: StepConfig) -> Tuple[torch.Tensor, torch.Tensor]:
    """Track one frame: `cfg.iterations` refinements starting from `pose`.

    Args:
        pose: (1,4,4) float32 centred-object -> camera, metres (the previous frame's estimate).
        K: (1,3,3) float32 intrinsics.
        rgb_hwc: (H,W,3) uint8 RGB.
        depth_hw: (H,W) float32 metres, 0 = no reading.
        render, network, cfg: see `refine_once`.

    Returns:
        pose: (1,4,4) float32 refined pose.
        quality: (1,) float32 depth support of the last rendered pose.
    """
    rgb, xyz = frame_to_real_side(rgb_hwc, depth_hw, K)
    quality = torch.zeros(1, device=pose.device)
    for _ in range(cfg.iterations):
        pose, quality = refine_once(pose, K, rgb, xyz, render, network, cfg)
    return pose, quality
