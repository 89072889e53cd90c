# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Render a mesh into a crop window: the refiner's "rendered side A" (RGB, XYZ, mask).

``MeshRenderer.render(pose, K, crop_tf)`` follows the refiner contract: texture (bilinear, uv.y
flipped) or vertex colours, grey 128/255 when the mesh has neither; lighting
``color*0.8 + color*0.5*diffuse`` with ``diffuse = clip(dot(n_cam, (0,0,-1)), 0, 1)`` per vertex,
interpolated, then clipped to [0, 1]; XYZ = interpolated camera-frame vertex positions; background
0 everywhere. With ``backend="ours"`` every op is graph-safe, so ``render`` can be captured in a
CUDA graph; ``backend="nvdiffrast"`` is eager-only (CUDA).
"""

import math
from typing import NamedTuple, Optional

import torch

from pose_tracker.mesh import Mesh
from pose_tracker.render import interpolate as _interp
from pose_tracker.render import rasterize as _rast
from pose_tracker.render import texture as _tex
from pose_tracker.render.projection import crop_projection
from pose_tracker.render.surface import (camera_points, clip_positions, contract_shading,
                                         MeshTensors, PLAIN_GREY, surface_attributes)


class RenderOutput(NamedTuple):
    """
    Rendered crop.

    Attributes:
        rgb: (B,3,S,S) float32 in [0,1], background 0 (None from ``render_geometry``).
        xyz: (B,3,S,S) float32 metres, camera frame, background 0.
        mask: (B,1,S,S) float32, 1 where the object covers the pixel.

    """

    rgb: Optional[torch.Tensor]
    xyz: torch.Tensor
    mask: torch.Tensor


def window_for_mesh(max_edge: float, diameter: float, radius: Optional[float] = None,
                    out_size: int = 160, crop_ratio: float = 1.2,
                    min_distance: float = 1.5, max_off_axis: float = 0.75,
                    margin: float = 1.05) -> int:
    """
    Choose the rasterizer's per-triangle pixel window for a mesh rendered into its crop.

    The ``box_3d`` crop spans ``crop_ratio * diameter`` at the object centre's depth t_z over
    ``out_size`` pixels, whatever t_z is, so a fronto-parallel edge of length L there covers
    ``L * out_size / (crop_ratio * diameter)`` crop pixels. Points nearer the camera are magnified
    by up to ``t_z / (t_z - radius)``; we ASSUME the object centre is at least ``min_distance``
    diameters from the camera (closer than that, the near side of a typical object is within half
    a diameter of the lens and tracking is unreliable anyway). An edge seen obliquely off the
    optical axis projects up to ``sqrt(1 + tan^2)`` longer, with ``tan <= max_off_axis`` (a 74
    degree diagonal field of view); ``margin`` covers the crop's rounding to whole pixels. A
    triangle of projected extent L spans at most ``floor(L) + 1`` pixel centres.

    Args:
        max_edge: longest mesh edge, metres.
        diameter: mesh diameter, metres.
        radius: largest vertex distance from the mesh centre (default ``diameter / 2``).
        out_size, crop_ratio: crop size in pixels and the crop ratio.
        min_distance: smallest assumed camera distance of the object centre, in diameters.
        max_off_axis: largest assumed tangent of the angle between a point's ray and the axis.
        margin: extra factor for pixel rounding of the crop window.

    Returns:
        int: The window side in pixels (at least 2).

    """
    radius = diameter / 2 if radius is None else radius
    t_z = min_distance * diameter
    near = max(t_z - radius, 1e-6 * diameter)
    extent = (max_edge * out_size / (crop_ratio * diameter) * (t_z / near)
              * math.sqrt(1.0 + max_off_axis ** 2) * margin)
    return max(2, int(math.floor(extent)) + 1)


class MeshRenderer:
    """
    Holds a mesh on a device and renders it into 160x160 (``out_size``) crop windows.

    Args:
        mesh: the centred :class:`~pose_tracker.mesh.Mesh`.
        out_size: crop side S in pixels.
        backend: ``"ours"`` (graph-safe, CPU or CUDA) or ``"nvdiffrast"`` (CUDA, eager).
        device: torch device for the mesh tensors and the renders.
        window: rasterizer window; None picks :func:`window_for_mesh` (with ``crop_ratio``).
        crop_ratio: crop ratio the crops are made with (for the window rule only).

    """

    def __init__(self, mesh: Mesh, out_size: int = 160, backend: str = "ours",
                 device="cpu", window: Optional[int] = None, crop_ratio: float = 1.2):
        if backend not in ("ours", "nvdiffrast"):
            raise ValueError(f"backend must be 'ours' or 'nvdiffrast', got {backend!r}")
        self.device = torch.device(device)
        if backend == "nvdiffrast":
            from pose_tracker.render import nvdiffrast_backend
            if self.device.type != "cuda":
                raise RuntimeError("backend='nvdiffrast' needs a CUDA device; use backend='ours'")
            if not nvdiffrast_backend.available():  # raises when installed but broken
                reason = nvdiffrast_backend.unavailable_reason()
                raise RuntimeError(f"backend='nvdiffrast': {reason}; use backend='ours' instead")
            self._ops = nvdiffrast_backend
        else:
            self._ops = None
        self.backend = backend
        self.mesh = mesh
        self.out_size = int(out_size)
        self.window = int(window) if window is not None else window_for_mesh(
            mesh.max_edge, mesh.diameter, mesh.radius, out_size=out_size, crop_ratio=crop_ratio)

        dev = self.device
        # The rasterizer sees each position once (vertices split at uv seams merged), so shared
        # edges are bit-identical in both triangles and the tie rule leaves no pinholes; the
        # attributes keep the split vertices and use the same face order.
        self.tensors = MeshTensors.from_mesh(mesh, dev)
        self.pos_raster = self.tensors.pos_raster  # (Vp,3)
        self.tri_raster = self.tensors.tri_raster  # (F,3) into pos_raster
        self.tri = self.tensors.faces  # (F,3) into vertices
        self.vertices = self.tensors.vertices  # (V,3)
        self.normals = self.tensors.normals  # (V,3)
        self.tex = None
        self.grey = None
        if mesh.texture is not None and mesh.uv is not None:
            self.uv = self.tensors.uv
            self.tex = torch.tensor(mesh.texture, device=dev).float().div(255.0)[None]
            self.colors = None
        elif mesh.vertex_colors is not None:
            self.uv = None
            self.colors = torch.as_tensor(mesh.vertex_colors, device=dev).float().div(255.0)
        else:  # one constant colour, as synthetic data renders untextured meshes
            self.uv = None
            self.colors = None
            self.grey = torch.full((1, 1, 1, 3), PLAIN_GREY, dtype=torch.float32, device=dev)

    def _rasterize(self, pos_clip):
        S = (self.out_size, self.out_size)
        if self._ops is not None:
            return self._ops.rasterize(pos_clip, self.tri_raster, S)
        return _rast.rasterize(pos_clip, self.tri_raster, S, window=self.window)

    def _interpolate(self, attr, rast):
        if self._ops is not None:
            return self._ops.interpolate(attr, rast, self.tri)
        return _interp.interpolate(attr, rast, self.tri)

    def _texture(self, uv):
        if self._ops is not None:
            return self._ops.texture(self.tex, uv)
        return _tex.texture(self.tex, uv)

    def _rasterize_at(self, pose: torch.Tensor, K: torch.Tensor, crop_tf: torch.Tensor):
        """Rasterize at float32 poses into crop windows; returns (pose, rast (B,S,S,4))."""
        pose = pose.to(torch.float32)
        proj = crop_projection(K.to(torch.float32), crop_tf.to(torch.float32), self.out_size)
        return pose, self._rasterize(clip_positions(proj, pose, self.pos_raster))

    def render_geometry(self, pose: torch.Tensor, K: torch.Tensor,
                        crop_tf: torch.Tensor) -> RenderOutput:
        """
        Render only the camera-frame XYZ and the coverage (what the depth refinement needs).

        Same XYZ and mask as :meth:`render`, without shading or texture.

        Args:
            pose, K, crop_tf: as for :meth:`render`.

        Returns:
            RenderOutput:
                with ``rgb=None``, (B,3,S,S) xyz in metres (camera frame, 0 = background) and
                (B,1,S,S) mask, float32.
        """
        pose, rast = self._rasterize_at(pose, K, crop_tf)
        xyz = camera_points(pose, self.vertices)  # (B,V,3) camera frame
        xyz_map = self._interpolate(xyz, rast)
        mask = (rast[..., 3:4] > 0).to(torch.float32)
        return RenderOutput(rgb=None, xyz=xyz_map.permute(0, 3, 1, 2).contiguous(),
                            mask=mask.permute(0, 3, 1, 2).contiguous())

    def render(self, pose: torch.Tensor, K: torch.Tensor, crop_tf: torch.Tensor) -> RenderOutput:
        """
        Render the mesh at a batch of poses into their crop windows.

        Args:
            pose: (B,4,4) centred-object -> camera poses, metres, OpenCV camera frame.
            K: (B,3,3) or (3,3) intrinsics of the original image, pixels.
            crop_tf: (B,3,3) crop transforms, original-image pixels -> crop pixels.

        Returns:
            RenderOutput:
                :class:`RenderOutput` with (B,3,S,S) rgb, (B,3,S,S) xyz, (B,1,S,S) mask, float32.

        """
        pose, rast = self._rasterize_at(pose, K, crop_tf)
        B = pose.shape[0]

        xyz, _, diffuse = surface_attributes(pose, self.vertices, self.normals)
        parts = [xyz, diffuse]
        if self.tex is not None:
            parts.append(self.uv.unsqueeze(0).expand(B, -1, -1))
        elif self.colors is not None:
            parts.append(self.colors.unsqueeze(0).expand(B, -1, -1))
        pix = self._interpolate(torch.cat(parts, dim=-1), rast)  # (B,S,S,C)
        xyz_map = pix[..., 0:3]
        diffuse_map = pix[..., 3:4]
        if self.tex is not None:
            color = self._texture(pix[..., 4:6])
        elif self.colors is not None:
            color = pix[..., 4:7]
        else:
            color = self.grey  # (1,1,1,3), broadcast by the shading
        mask = (rast[..., 3:4] > 0).to(torch.float32)
        color = contract_shading(color, diffuse_map, mask)
        return RenderOutput(rgb=color.permute(0, 3, 1, 2).contiguous(),
                            xyz=xyz_map.permute(0, 3, 1, 2).contiguous(),
                            mask=mask.permute(0, 3, 1, 2).contiguous())
