# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
A simple, fixed scene shared by tests, the benchmark and the soak: camera, ellipsoid, frame.

Not training data (see :mod:`pose_tracker.synth.pairs` for that): a default pinhole camera, a
vertex-coloured ellipsoid mesh of a chosen face count, and a random RGB image over a noisy depth
plane, so the rasterizer, crops and network do the same work as on a real frame.
"""

import math
from typing import Tuple

import numpy as np
import torch

from pose_tracker.crop.window import crop_window_tf
from pose_tracker.mesh import Mesh, mesh_from_trimesh
from pose_tracker.render.renderer import MeshRenderer
from pose_tracker.step import CROP_RATIO


def default_camera(size: Tuple[int, int] = (480, 640), pixel_centred: bool = False) -> np.ndarray:
    """
    Return (3,3) float64 intrinsics of a 600 px (at 640 wide) focal length camera.

    Args:
        size: (H, W) image size in pixels; the focal length scales with W / 640.
        pixel_centred: principal point at the central pixel centre ``((W-1)/2, (H-1)/2)``
            instead of the image centre ``(W/2, H/2)``.

    Returns:
        (3,3) float64 ``[[f, 0, cx], [0, f, cy], [0, 0, 1]]``, pixels.
    """
    H, W = size
    f = 600.0 * W / 640.0
    if pixel_centred:
        cx, cy = (W - 1) / 2.0, (H - 1) / 2.0
    else:
        cx, cy = W / 2, H / 2
    return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])


#: Intrinsics of the default 640x480 camera: f = 600 px, principal point (320, 240).
K_DEFAULT = default_camera((480, 640))


def ellipsoid_mesh(faces: int, diameter: float = 0.2) -> Mesh:
    """
    Build an ellipsoid with about `faces` faces (icosphere subdivision), vertex-coloured.

    Args:
        faces: wanted face count; the closest icosphere level (20 * 4^k faces) is used.
        diameter: longest axis, metres.

    Returns:
        The centred :class:`~pose_tracker.mesh.Mesh` (random vertex colours, seed 0).
    """
    import trimesh

    level = max(1, round(math.log(max(faces, 80) / 20.0, 4)))
    sphere = trimesh.creation.icosphere(subdivisions=level)
    sphere.apply_scale([diameter / 2, diameter / 2.8, diameter / 3.6])
    rng = np.random.default_rng(0)
    colors = rng.integers(0, 255, size=(len(sphere.vertices), 4), dtype=np.uint8)
    colors[:, 3] = 255
    sphere.visual.vertex_colors = colors
    # max_edge_ratio=1: the icosphere is already fine, so it is used as built.
    return mesh_from_trimesh(sphere, max_edge_ratio=1.0)


def synthetic_frame(size: Tuple[int, int] = (480, 640), z: float = 0.6,
                    seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """
    Return a random RGB image and a noisy depth plane with holes.

    Args:
        size: (H, W) image size, pixels.
        z: the plane lies at ``z + 0.1`` metres.
        seed: random seed.

    Returns:
        rgb (H,W,3) uint8 and depth (H,W) float32 metres (0 = no reading, about 2%).
    """
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 255, size=(*size, 3), dtype=np.uint8)
    depth = (z + 0.1 + rng.normal(0, 0.002, size=size)).astype(np.float32)
    depth[rng.random(size) < 0.02] = 0.0
    return rgb, depth


def background(size: Tuple[int, int], depth: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Return a blocky textured wall: RGB (H,W,3) uint8 and depth (H,W) float32 metres."""
    H, W = size
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 256, size=((H + 7) // 8, (W + 7) // 8, 3), dtype=np.uint8)
    rgb = np.ascontiguousarray(cells.repeat(8, 0).repeat(8, 1)[:H, :W])
    return rgb, np.full((H, W), depth, dtype=np.float32)


def render_frame(renderer: MeshRenderer, pose: np.ndarray, K: np.ndarray, diameter: float,
                 bg_rgb: np.ndarray, bg_depth: np.ndarray, rng: np.random.Generator,
                 noise_m: float = 0.002, holes: float = 0.02) -> Tuple[np.ndarray, np.ndarray]:
    """
    Render the object over a background, full frame, with depth noise and holes.

    The renderer draws into the object's 160x160 crop window; each image pixel takes the nearest
    crop pixel (pixel centres at integer coordinates, as `crop_tf` maps them).

    Args:
        renderer: the tracker's `MeshRenderer` (centred mesh).
        pose: (4,4) centred-object -> camera, metres.
        K: (3,3) intrinsics, pixels.
        diameter: mesh diameter, metres.
        bg_rgb: (H,W,3) uint8 background colour.
        bg_depth: (H,W) float32 background depth, metres.
        rng: noise generator.
        noise_m: depth noise standard deviation, metres.
        holes: share of depth pixels without a reading.

    Returns:
        rgb (H,W,3) uint8 and depth (H,W) float32 metres (0 = no reading).
    """
    dev = renderer.device
    pose_t = torch.as_tensor(pose, dtype=torch.float32, device=dev).reshape(1, 4, 4)
    K_t = torch.as_tensor(K, dtype=torch.float32, device=dev).reshape(1, 3, 3)
    crop_tf = crop_window_tf(pose_t, K_t, diameter, CROP_RATIO, renderer.out_size)
    with torch.no_grad():
        out = renderer.render(pose_t, K_t, crop_tf)
    S = renderer.out_size
    H, W = bg_depth.shape
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    tf = crop_tf[0].double().cpu().numpy()
    w = tf[2, 0] * u + tf[2, 1] * v + tf[2, 2]
    cx = np.rint((tf[0, 0] * u + tf[0, 1] * v + tf[0, 2]) / w).astype(np.int64)
    cy = np.rint((tf[1, 0] * u + tf[1, 1] * v + tf[1, 2]) / w).astype(np.int64)
    inside = (cx >= 0) & (cx < S) & (cy >= 0) & (cy < S)
    cxi, cyi = np.where(inside, cx, 0), np.where(inside, cy, 0)
    mask = out.mask[0, 0].cpu().numpy()[cyi, cxi] > 0.5
    obj = inside & mask
    z = out.xyz[0, 2].cpu().numpy()[cyi, cxi]
    col = (out.rgb[0].permute(1, 2, 0).cpu().numpy()[cyi, cxi] * 255.0).round()
    obj &= z < bg_depth
    rgb = np.where(obj[..., None], col, bg_rgb).astype(np.uint8)
    depth = np.where(obj, z, bg_depth).astype(np.float32)
    depth += rng.normal(0.0, noise_m, size=depth.shape).astype(np.float32)
    depth[rng.random(depth.shape) < holes] = 0.0
    return rgb, depth
