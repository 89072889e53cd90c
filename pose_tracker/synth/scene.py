# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Scene rendering for synthetic data: meshes, lighting, background planes, compositing.

Two cameras are used. The *reference* side (what the tracker renders, network input A) goes
through :func:`render_reference`, built from the functions ``MeshRenderer`` renders with
(:mod:`pose_tracker.render.surface`: exact products, FoundationPose's crop projection and fixed
lighting), with one texture per image. The *observed* side (what a real camera would see,
network input B, and the frames of synthetic sequences) uses
:func:`pose_tracker.render.projection.pinhole_projection`, the exact pinhole model of the
intrinsics (pixel centres at integer coordinates, as ``depth_to_xyz`` and real cameras assume),
random Blinn-Phong lighting, textured background planes and other objects. Any sub-pixel
convention of the tracker's renderer is thus learned as it would be on real data.

All functions work on batches on any device; rasterization runs eagerly (training and sequence
generation are not graph-captured), so the rasterizer window is chosen per call from the actual
triangle sizes (:func:`choose_window`, one host sync).
"""

from dataclasses import dataclass
import math
from typing import Optional, Sequence, Tuple

import torch

from pose_tracker.render import interpolate as _interp
from pose_tracker.render import rasterize as _rast
from pose_tracker.render import texture as _tex
from pose_tracker.render.projection import crop_projection
from pose_tracker.render.surface import (clip_positions, contract_shading, MeshTensors,
                                         PLAIN_GREY, surface_attributes)

__all__ = ['Fragments', 'Lighting', 'nvdiffrast_works', 'choose_window', 'mesh_window',
           'rasterize_mesh', 'render_reference', 'sample_texture', 'random_lighting',
           'phong_shading', 'pixel_rays', 'Plane', 'plane_layer', 'composite', 'pose_matrix']


@dataclass
class Fragments:
    """
    Per-pixel surface attributes of one rasterized mesh.

    Attributes:
        mask: (B,H,W) bool, True where the mesh covers the pixel.
        xyz: (B,H,W,3) float32 camera-frame points, metres (0 where empty).
        normal: (B,H,W,3) float32 camera-frame unit normals (0 where empty).
        uv: (B,H,W,2) float32 texture coordinates (row-0-top convention), or None.
        ref_diffuse: (B,H,W,1) float32 the renderer contract's interpolated diffuse term.
    """

    mask: torch.Tensor
    xyz: torch.Tensor
    normal: torch.Tensor
    uv: Optional[torch.Tensor]
    ref_diffuse: torch.Tensor


def pose_matrix(R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Stack (B,3,3) rotations and (B,3) translations into (B,4,4) rigid transforms."""
    B = R.shape[0]
    T = torch.zeros(B, 4, 4, dtype=R.dtype, device=R.device)
    T[:, :3, :3] = R
    T[:, :3, 3] = t
    T[:, 3, 3] = 1.0
    return T


def choose_window(pos_clip: torch.Tensor, tri: torch.Tensor, size: Sequence[int],
                  lo: int = 3, hi: int = 24) -> int:
    """
    Return the rasterizer window covering every visible triangle, clamped to [lo, hi].

    Synchronises with the device (one scalar); triangles larger than ``hi`` pixels are drawn
    only partly (very near objects), which training data tolerates.
    """
    ext = _rast.max_pixel_extent(pos_clip, tri, tuple(size))
    return int(min(max(ext, lo), hi))


def nvdiffrast_works(device) -> bool:
    """
    Return True when nvdiffrast is installed and rasterizes a triangle on ``device`` (CUDA).

    Training data need not be graph-safe, and nvdiffrast's hardware-style rasterizer is much
    faster than ours on large batches; its output differs from ours only in tie-breaking along
    shared edges. False (use our rasterizer) only without CUDA or without the package: an
    installed nvdiffrast that fails to build, load or draw raises ``RuntimeError``, never a
    silent fallback.
    """
    if torch.device(device).type != 'cuda':
        return False
    from pose_tracker.render import nvdiffrast_backend
    if not nvdiffrast_backend.available():  # raises when installed but broken
        return False
    pos = torch.tensor([[[-0.5, -0.5, 0.0, 1.0], [0.5, -0.5, 0.0, 1.0],
                         [0.0, 0.5, 0.0, 1.0]]], device=device)
    tri = torch.tensor([[0, 1, 2]], dtype=torch.int64, device=device)
    rast = nvdiffrast_backend.rasterize(pos, tri, (8, 8))
    if not bool((rast[..., 3] > 0).any()):
        raise RuntimeError('nvdiffrast loaded but drew nothing for a triangle covering the view')
    return True


def _rasterize(pos_clip, tri, size, window, backend, max_window=24):
    if backend == 'nvdiffrast':
        from pose_tracker.render import nvdiffrast_backend
        return nvdiffrast_backend.rasterize(pos_clip, tri, tuple(size))
    if window is None:
        window = choose_window(pos_clip, tri, size, hi=max_window)
    return _rast.rasterize(pos_clip, tri, tuple(size), window=window)


def mesh_window(mt: MeshTensors, pose: torch.Tensor, proj: torch.Tensor, size: Sequence[int],
                max_window: int = 24) -> int:
    """Return :func:`choose_window` for a mesh at poses (to plan batch sizes; host sync)."""
    pos_clip = clip_positions(proj, pose.to(torch.float32), mt.pos_raster)
    return choose_window(pos_clip, mt.tri_raster, size, hi=max_window)


def rasterize_mesh(mt: MeshTensors, pose: torch.Tensor, proj: torch.Tensor, size: Sequence[int],
                   window: Optional[int] = None, backend: str = 'ours',
                   max_window: int = 24) -> Fragments:
    """
    Rasterize one mesh at a batch of poses and interpolate its surface attributes.

    Args:
        mt: the mesh.
        pose: (B,4,4) centred-object -> camera poses (OpenCV frame, metres).
        proj: (B,4,4) clip matrices acting on OpenCV camera points (``pinhole_projection`` or
            ``crop_projection`` of :mod:`pose_tracker.render.projection`).
        size: (H, W) output size.
        window: rasterizer window; None: :func:`choose_window`, at most ``max_window``.
        backend: 'ours' (torch rasterizer) or 'nvdiffrast' (CUDA only).
        max_window: cap of the automatic window (larger triangles are drawn partly).

    Returns:
        :class:`Fragments` of the batch.
    """
    pose = pose.to(torch.float32)
    B = pose.shape[0]
    pos_clip = clip_positions(proj, pose, mt.pos_raster)
    rast = _rasterize(pos_clip, mt.tri_raster, size, window, backend, max_window)
    parts = list(surface_attributes(pose, mt.vertices, mt.normals))  # xyz, normal, diffuse
    if mt.uv is not None:
        parts.append(mt.uv.unsqueeze(0).expand(B, -1, -1))
    pix = _interp.interpolate(torch.cat(parts, dim=-1), rast, mt.faces)
    normal = pix[..., 3:6]
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return Fragments(mask=rast[..., 3] > 0, xyz=pix[..., 0:3], normal=normal,
                     uv=pix[..., 7:9] if mt.uv is not None else None, ref_diffuse=pix[..., 6:7])


def sample_texture(tex: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """
    Bilinear per-image texture lookup (the renderer's op, wrap mode).

    Args:
        tex: (B,Ht,Wt,3) float textures in [0,1] (or (1,Ht,Wt,3) shared).
        uv: (B,H,W,2) row-0-top texture coordinates.

    Returns:
        (B,H,W,3) float32.
    """
    return _tex.texture(tex, uv)


def render_reference(mt: MeshTensors, pose: torch.Tensor, K: torch.Tensor, crop_tf: torch.Tensor,
                     tex: Optional[torch.Tensor], out_size: int = 160,
                     window: Optional[int] = None, backend: str = 'ours',
                     textured: Optional[torch.Tensor] = None):
    """
    Render what the tracker renders (network input A): the renderer contract, per-image texture.

    The same functions as ``MeshRenderer.render`` (crop projection, contract lighting
    ``c*0.8 + c*0.5*diffuse`` clipped to [0,1], background 0), but each image may use its own
    texture and may be rendered untextured (plain grey 128/255), as the tracker renders a mesh
    that has no texture.

    Args:
        mt: the mesh (with uv when ``tex`` is given).
        pose: (B,4,4) centred-object -> camera, metres.
        K: (B,3,3) or (3,3) intrinsics.
        crop_tf: (B,3,3) crop transforms.
        tex: (B,Ht,Wt,3) float textures in [0,1], or None (all grey).
        out_size: crop side.
        window, backend: as in :func:`rasterize_mesh`.
        textured: optional (B,) bool; False renders that image plain grey.

    Returns:
        (rgb (B,3,S,S) in [0,1], xyz (B,3,S,S) metres, mask (B,1,S,S) float32, fragments).
    """
    proj = crop_projection(K.to(torch.float32), crop_tf.to(torch.float32), out_size)
    fr = rasterize_mesh(mt, pose, proj, (out_size, out_size), window, backend)
    B = pose.shape[0]
    grey = torch.full((B, out_size, out_size, 3), PLAIN_GREY, device=pose.device)
    if tex is not None and fr.uv is not None:
        color = sample_texture(tex, fr.uv)
        if textured is not None:
            color = torch.where(textured.view(B, 1, 1, 1), color, grey)
    else:
        color = grey
    mask = fr.mask.unsqueeze(-1).to(torch.float32)
    color = contract_shading(color, fr.ref_diffuse, mask)
    return (color.permute(0, 3, 1, 2).contiguous(), fr.xyz.permute(0, 3, 1, 2).contiguous(),
            mask.permute(0, 3, 1, 2).contiguous(), fr)


# ------------------------------------------------------------------------------------------
# observed-side appearance
# ------------------------------------------------------------------------------------------

@dataclass
class Lighting:
    """
    Per-image Blinn-Phong lighting, camera frame.

    Attributes:
        ambient: (B,) ambient weight.
        diffuse: (B,) diffuse weight.
        specular: (B,) specular weight.
        shininess: (B,) Blinn-Phong exponent.
        direction: (B,3) unit vector from the surface towards the light, camera frame.
        color: (B,3) light colour (multiplies everything).
    """

    ambient: torch.Tensor
    diffuse: torch.Tensor
    specular: torch.Tensor
    shininess: torch.Tensor
    direction: torch.Tensor
    color: torch.Tensor

    def index(self, idx) -> 'Lighting':
        """Return the lighting of the images ``idx`` (a LongTensor or slice)."""
        return Lighting(*(getattr(self, f)[idx] for f in
                          ('ambient', 'diffuse', 'specular', 'shininess', 'direction', 'color')))


def random_lighting(n: int, g: torch.Generator) -> Lighting:
    """
    Draw per-image lighting: ambient 0.25-0.9, diffuse 0-0.9, some specular, tinted light.

    The light comes mostly from the camera's side (direction z <= 0.3, camera frame).
    """
    dev = g.device

    def u(lo, hi, shape=(n,)):
        return torch.rand(shape, generator=g, device=dev) * (hi - lo) + lo

    d = torch.randn(n, 3, generator=g, device=dev)
    d = d / d.norm(dim=1, keepdim=True).clamp_min(1e-6)
    d = torch.cat([d[:, :2], -d[:, 2:].abs() * u(0.3, 1.0, (n, 1)) + 0.3 * u(-1, 1, (n, 1))], 1)
    d = d / d.norm(dim=1, keepdim=True).clamp_min(1e-6)
    spec_on = (torch.rand(n, generator=g, device=dev) < 0.5).float()
    tint = 1.0 + u(-0.12, 0.12, (n, 3))
    return Lighting(ambient=u(0.25, 0.9), diffuse=u(0.0, 0.9), specular=u(0.0, 0.5) * spec_on,
                    shininess=u(5.0, 60.0), direction=d, color=tint * u(0.8, 1.25, (n, 1)))


def phong_shading(albedo: torch.Tensor, normal: torch.Tensor, xyz: torch.Tensor,
                  light: Lighting) -> torch.Tensor:
    """
    Shade surfaces with per-image Blinn-Phong lighting.

    Args:
        albedo: (B,H,W,3) float in [0,1].
        normal: (B,H,W,3) camera-frame unit normals.
        xyz: (B,H,W,3) camera-frame points (for the view direction).
        light: per-image :class:`Lighting`.

    Returns:
        (B,H,W,3) float32 colour in [0,1].
    """
    B = albedo.shape[0]
    ldir = light.direction.view(B, 1, 1, 3)
    # view direction from the surface to the camera; flip normals that face away from it
    view = -xyz / xyz.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    n = torch.where((normal * view).sum(-1, keepdim=True) < 0, -normal, normal)
    lam = (n * ldir).sum(-1, keepdim=True).clamp_min(0.0)
    h = ldir + view
    h = h / h.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    spec = (n * h).sum(-1, keepdim=True).clamp_min(0.0) ** light.shininess.view(B, 1, 1, 1)
    spec = spec * (lam > 0).float()
    c = albedo * (light.ambient.view(B, 1, 1, 1) + light.diffuse.view(B, 1, 1, 1) * lam)
    c = c + light.specular.view(B, 1, 1, 1) * spec
    return (c * light.color.view(B, 1, 1, 3)).clamp(0.0, 1.0)


def pixel_rays(K: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """
    Return camera-frame rays with z = 1 through sensor coordinates.

    Args:
        K: (B,3,3) or (3,3) intrinsics.
        uv: (B,H,W,2) sensor pixel coordinates.

    Returns:
        (B,H,W,3) float32 ``((u - cx)/fx - skew term, (v - cy)/fy, 1)``.
    """
    B = uv.shape[0]
    if K.dim() == 2:
        K = K.unsqueeze(0)
    K = K.to(torch.float32).expand(B, 3, 3)
    fx, s, cx = (K[:, 0, i].view(B, 1, 1) for i in range(3))
    fy, cy = K[:, 1, 1].view(B, 1, 1), K[:, 1, 2].view(B, 1, 1)
    y = (uv[..., 1] - cy) / fy
    x = (uv[..., 0] - cx - s * y) / fx
    return torch.stack([x, y, torch.ones_like(x)], -1)


@dataclass
class Plane:
    """
    A textured plane per image, camera frame.

    Attributes:
        origin: (B,3) a point of the plane (texture origin), metres.
        e1, e2: (B,3) orthonormal in-plane axes; the normal is ``e1 x e2``.
        texture: (B,Ht,Wt,3) float in [0,1].
        tex_size: (B,) metres covered by one texture repeat.
    """

    origin: torch.Tensor
    e1: torch.Tensor
    e2: torch.Tensor
    texture: torch.Tensor
    tex_size: torch.Tensor


def plane_layer(rays: torch.Tensor, plane: Plane, zfar: float = 6.0):
    """
    Intersect camera rays with per-image planes.

    Args:
        rays: (B,H,W,3) rays with z = 1 (:func:`pixel_rays`).
        plane: the planes.
        zfar: intersections beyond this depth (or behind the camera) are empty.

    Returns:
        (mask (B,H,W) bool, xyz (B,H,W,3) metres, normal (B,H,W,3), albedo (B,H,W,3)).
    """
    B, H, W = rays.shape[:3]
    n = torch.cross(plane.e1, plane.e2, dim=1)
    n = n / n.norm(dim=1, keepdim=True).clamp_min(1e-9)
    num = (n * plane.origin).sum(1).view(B, 1, 1)
    den = (rays * n.view(B, 1, 1, 3)).sum(-1)
    z = num / torch.where(den.abs() > 1e-9, den, torch.full_like(den, 1e-9))
    mask = (z > 0) & (z < zfar)
    z = torch.where(mask, z, torch.zeros_like(z))
    xyz = rays * z.unsqueeze(-1)
    rel = xyz - plane.origin.view(B, 1, 1, 3)
    s = plane.tex_size.view(B, 1, 1)
    a = (rel * plane.e1.view(B, 1, 1, 3)).sum(-1) / s
    b = (rel * plane.e2.view(B, 1, 1, 3)).sum(-1) / s
    albedo = sample_texture(plane.texture, torch.stack([a, b], -1))
    normal = n.view(B, 1, 1, 3).expand(B, H, W, 3)
    return mask, xyz, normal, albedo


def composite(layers: Sequence[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """
    Z-buffer composite of layers (nearest wins).

    Args:
        layers: sequence of (mask (B,H,W) bool, depth (B,H,W) metres, rgb (B,H,W,3)).

    Returns:
        (depth (B,H,W), 0 where no layer; rgb (B,H,W,3), 0 where no layer; index (B,H,W) int64
        of the winning layer, -1 where none).
    """
    zs = torch.stack([torch.where(m, d, torch.full_like(d, math.inf)) for m, d, _ in layers], 0)
    zmin, idx = zs.min(0)
    hit = torch.isfinite(zmin)
    rgbs = torch.stack([c for _, _, c in layers], 0)  # (L,B,H,W,3)
    rgb = torch.gather(rgbs, 0, idx.view(1, *idx.shape, 1).expand(1, *idx.shape, 3))[0]
    depth = torch.where(hit, zmin, torch.zeros_like(zmin))
    rgb = torch.where(hit.unsqueeze(-1), rgb, torch.zeros_like(rgb))
    return depth, rgb, torch.where(hit, idx, torch.full_like(idx, -1))
