# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
The renderer contract's per-vertex pieces, shared by the tracker's renderer and synthetic data.

A mesh on a device (:class:`MeshTensors`), its vertices in clip space (:func:`clip_positions`),
its camera-frame points (:func:`camera_points`), normals and contract diffuse term
(:func:`surface_attributes`), and the contract's fixed lighting (:func:`contract_shading`).
Every product is exact in the inputs' precision (no TF32, no autocast), so what
:class:`pose_tracker.render.renderer.MeshRenderer` renders for the tracker and what
:mod:`pose_tracker.synth` renders for training agree on any device.
"""

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch

from pose_tracker.render.projection import matmul_exact, transform_points

#: Grey used for meshes with no texture and no vertex colours (contract: 128/255).
PLAIN_GREY = 128.0 / 255.0
#: Contract lighting: ``color * AMBIENT + color * DIFFUSE * diffuse``, clipped to [0, 1].
AMBIENT, DIFFUSE = 0.8, 0.5


@dataclass
class MeshTensors:
    """
    A mesh's geometry on a device, ready for batched rendering.

    Attributes:
        vertices: (V,3) float32 metres, centred mesh frame.
        normals: (V,3) float32 unit vertex normals.
        faces: (F,3) int64 indices into ``vertices`` (attributes).
        pos_raster: (Vp,3) float32 unique vertex positions (vertices split at uv seams merged,
            so shared edges are bit-identical in both triangles and the rasterizer's tie rule
            leaves no pinholes).
        tri_raster: (F,3) int64 indices into ``pos_raster``, same face order as ``faces``.
        uv: (V,2) float32 texture coordinates with v flipped (row 0 = top), or None.
        diameter: metres.
        radius: largest vertex distance from the origin, metres.
    """

    vertices: torch.Tensor
    normals: torch.Tensor
    faces: torch.Tensor
    pos_raster: torch.Tensor
    tri_raster: torch.Tensor
    uv: Optional[torch.Tensor]
    diameter: float
    radius: float

    @staticmethod
    def from_mesh(mesh, device) -> 'MeshTensors':
        """Upload a :class:`pose_tracker.mesh.Mesh`'s geometry and uv (not its texture)."""
        uniq, inverse = np.unique(mesh.vertices, axis=0, return_inverse=True)
        uv = None
        if mesh.uv is not None:
            uv = np.array(mesh.uv, dtype=np.float32)
            uv[:, 1] = 1.0 - uv[:, 1]  # OBJ's v points up; texture row 0 is the top
            uv = torch.as_tensor(uv, device=device)
        return MeshTensors(
            vertices=torch.as_tensor(mesh.vertices, dtype=torch.float32, device=device),
            normals=torch.as_tensor(mesh.vertex_normals, dtype=torch.float32, device=device),
            faces=torch.as_tensor(mesh.faces, dtype=torch.int64, device=device),
            pos_raster=torch.as_tensor(uniq, dtype=torch.float32, device=device),
            tri_raster=torch.as_tensor(inverse.reshape(-1)[mesh.faces], dtype=torch.int64,
                                       device=device),
            uv=uv, diameter=float(mesh.diameter), radius=float(mesh.radius))


def clip_positions(proj: torch.Tensor, pose: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """
    Return points in clip space, ``proj @ pose @ [p, 1]``, with exact float products.

    TF32 or autocast would move projected vertices by a tenth of a crop pixel.

    Args:
        proj: (B,4,4) float32 clip matrices acting on OpenCV camera points.
        pose: (B,4,4) float32 centred-object -> camera poses, metres.
        points: (V,3) float32 object-frame points, metres.

    Returns:
        (B,V,4) float32 homogeneous clip coordinates.
    """
    return transform_points(matmul_exact(proj, pose), points)


def camera_points(pose: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """
    Return object points in the camera frame, ``pose @ [p, 1]``, with exact float products.

    Args:
        pose: (B,4,4) float32 centred-object -> camera poses, metres, OpenCV camera frame.
        vertices: (V,3) float32 object-frame points, metres.

    Returns:
        (B,V,3) float32 camera-frame points, metres.
    """
    return transform_points(pose, vertices)[..., :3]


def surface_attributes(pose: torch.Tensor, vertices: torch.Tensor,
                       normals: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """
    Return the camera-frame points, unit normals and contract diffuse term of each vertex.

    Args:
        pose: (B,4,4) float32 centred-object -> camera poses, metres, OpenCV camera frame.
        vertices: (V,3) float32 object-frame points, metres.
        normals: (V,3) float32 object-frame vertex normals.

    Returns:
        xyz (B,V,3) float32 metres (camera frame), normal (B,V,3) float32 unit camera-frame
        normals, diffuse (B,V,1) float32 ``clip(dot(n, (0,0,-1)), 0, 1)`` (facing the camera).
    """
    xyz = camera_points(pose, vertices)
    n_cam = (normals.unsqueeze(-2) * pose[:, None, :3, :3]).sum(dim=-1)  # R @ n
    n_cam = torch.nn.functional.normalize(n_cam, dim=-1)
    diffuse = (-n_cam[..., 2:3]).clamp(0.0, 1.0)
    return xyz, n_cam, diffuse


def contract_shading(color: torch.Tensor, diffuse: torch.Tensor,
                     mask: torch.Tensor) -> torch.Tensor:
    """
    Light surface colours with the contract's fixed light; 0 outside the mask.

    Args:
        color: (..., 3) float albedo in [0, 1].
        diffuse: (..., 1) interpolated diffuse term (:func:`surface_attributes`).
        mask: (..., 1) float32 coverage, 1 on the object.

    Returns:
        (..., 3) ``clip(color * 0.8 + color * 0.5 * diffuse, 0, 1) * mask``.
    """
    return (color * AMBIENT + color * DIFFUSE * diffuse).clamp(0.0, 1.0) * mask
