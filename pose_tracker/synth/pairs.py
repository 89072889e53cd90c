# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
On-the-fly training pairs for the refiner, generated on the device.

One training sample, as in FoundationPose's refiner training:

1. A procedural mesh from a pool (:class:`MeshPool`, regenerated a few slots at a time), a
   random camera (fx 480-720 px at 640x480), a ground-truth pose (0.3-1.5 m, uniform rotation)
   and an input pose perturbed from it: with probability ``big_prob`` uniformly up to
   (2, 2, 5) cm and 20 degrees (FoundationPose's range), otherwise 2-30% of that (frame-to-frame
   motion and the second refinement iteration).
2. The crop window from the INPUT pose (``crop_window_tf``), as the tracker computes it.
3. Side A: the mesh at the input pose rendered exactly as the tracker renders it
   (:func:`scene.render_reference`), with the sample's texture, or plain grey for a share of the
   samples (meshes without texture).
4. Side B, "observed": the mesh at the GT pose with the same texture under random Blinn-Phong
   lighting, over a textured background plane (random tilt, depth, bumps), with a random second
   object in front (occluder) or beside (distractor), then RGB-D sensor noise, the tracker's depth
   filter and the XYZ map. For speed B is rendered directly into the crop window at 160x160
   instead of rendering a 640x480 frame and warping it; the sensor noise is evaluated on the
   original pixel lattice (:mod:`sensor_noise`) so that its scale matches a warped real frame.
5. Both sides normalised with ``normalize_pair`` around the input translation; targets from
   ``pose_update_targets`` (translation in D/2 units, rotation in tanh space).

Determinism: everything drawn for step ``s`` comes from generators seeded by ``(split, seed, s)``
(a numpy one for host-side choices, a torch one on the device for tensors), and the mesh pool at
step ``s`` is a function of ``(seed, s)`` too, so a resumed run sees exactly the batches of an
uninterrupted one (up to floating-point differences of GPU kernels).
"""

from dataclasses import dataclass, field
import math
from typing import List, Optional, Tuple

import numpy as np
import torch

from pose_tracker.crop.depth import preprocess_depth
from pose_tracker.crop.normalize import normalize_pair
from pose_tracker.crop.window import crop_window_tf
from pose_tracker.geometry.pose import ROT_NORMALIZER, pose_update_targets, so3_exp
from pose_tracker.render.projection import crop_projection, pinhole_projection
from pose_tracker.render.surface import contract_shading, MeshTensors, PLAIN_GREY
from pose_tracker.synth import scene
from pose_tracker.synth.sensor_noise import (DepthNoise, RgbNoise, apply_depth_noise,
                                             apply_rgb_noise, lattice_scale,
                                             lattice_value_noise, pixel_lattice)
from pose_tracker.synth.shapes import SPLITS, random_mesh, shape_rng
from pose_tracker.synth.textures import random_images, random_textures

__all__ = ['PairConfig', 'PairBatch', 'MeshPool', 'PairSampler', 'random_rotations',
           'step_generators']


@dataclass
class PairConfig:
    """
    Settings of the pair generator (defaults: the GPU training run).

    Attributes:
        out_size: crop side (the network's input size).
        crop_ratio: crop window ratio (the released refiner: 1.2).
        image_size: (H, W) of the simulated camera.
        fx_range: focal length range, pixels (fy = fx * (1 +- 2%)).
        z_range: object centre depth range, metres (and at least 1.5 diameters).
        diameter_range: procedural mesh diameters, metres.
        pool_size: meshes in the pool.
        refresh_every: steps between pool refreshes (0: never).
        refresh_count: meshes replaced per refresh.
        groups: distinct meshes per batch (rendering is one call per mesh).
        max_edge_ratio: mesh subdivision (edge <= ratio * diameter).
        tex_size: texture side, pixels.
        big_prob: share of FoundationPose-range perturbations.
        max_trans: largest translation perturbation per camera axis, metres.
        max_rot_deg: largest rotation perturbation, degrees.
        small_scale: range of the scale of the other (small) perturbations.
        untextured_prob: share of samples whose side A is rendered plain grey.
        extra_prob: share of samples with a second object.
        occluder_prob: share of those where it is in front of the object (else beside).
        plane_prob: share of samples with a background plane (else no background depth).
        depth_filter: apply the tracker's depth filter (erode + fill) to side B.
        rgb_noise, depth_noise: sensor parameter ranges.
        backend: rasterizer, 'ours', 'nvdiffrast' or 'auto' (nvdiffrast when available).
    """

    out_size: int = 160
    crop_ratio: float = 1.2
    image_size: Tuple[int, int] = (480, 640)
    fx_range: Tuple[float, float] = (480.0, 720.0)
    z_range: Tuple[float, float] = (0.3, 1.5)
    diameter_range: Tuple[float, float] = (0.05, 0.30)
    pool_size: int = 64
    refresh_every: int = 100
    refresh_count: int = 2
    groups: int = 8
    max_edge_ratio: float = 0.06
    tex_size: int = 128
    big_prob: float = 0.4
    max_trans: Tuple[float, float, float] = (0.02, 0.02, 0.05)
    max_rot_deg: float = 20.0
    small_scale: Tuple[float, float] = (0.02, 0.3)
    untextured_prob: float = 0.15
    extra_prob: float = 0.5
    occluder_prob: float = 0.6
    plane_prob: float = 0.9
    depth_filter: bool = True
    rgb_noise: RgbNoise = field(default_factory=RgbNoise)
    depth_noise: DepthNoise = field(default_factory=DepthNoise)
    backend: str = 'auto'

    @staticmethod
    def tiny() -> 'PairConfig':
        """Small settings for CPU tests (few, coarse meshes, small textures)."""
        return PairConfig(pool_size=3, refresh_every=2, refresh_count=1, groups=2,
                          max_edge_ratio=0.12, tex_size=32, backend='ours')


@dataclass
class PairBatch:
    """
    One batch of training pairs (all tensors on the generator's device).

    Attributes:
        A: (B,6,S,S) float32 rendered side (RGB [0,1], normalised XYZ).
        B: (B,6,S,S) float32 observed side.
        trans_target: (B,3) float32 ``(t_gt - t_in) / (D/2)``.
        rot_target: (B,3) float32 target of ``tanh(rot_out)`` (clamped to [-1,1]):
            ``apply_refiner_update(pose_in, trans_target, atanh(rot_target), D)`` gives pose_gt.
        pose_in: (B,4,4) float32 input poses (centred object -> camera).
        pose_gt: (B,4,4) float32 ground-truth poses.
        diameter: (B,) float32 mesh diameters, metres.
        K: (B,3,3) float32 intrinsics.
        crop_tf: (B,3,3) float32 crop transforms.
    """

    A: torch.Tensor
    B: torch.Tensor
    trans_target: torch.Tensor
    rot_target: torch.Tensor
    pose_in: torch.Tensor
    pose_gt: torch.Tensor
    diameter: torch.Tensor
    K: torch.Tensor
    crop_tf: torch.Tensor

    def fingerprint(self) -> float:
        """Return a scalar summary of the batch (for checking that two streams coincide)."""
        return float(self.A.double().sum() + 2 * self.B.double().sum()
                     + 3 * self.trans_target.double().sum() + 5 * self.rot_target.double().sum())


def step_generators(split: str, seed: int, step: int,
                    device) -> Tuple[np.random.Generator, torch.Generator]:
    """Return the (numpy, torch-on-device) generators of one step of a split's data stream."""
    rng = np.random.default_rng(np.random.SeedSequence([SPLITS[split], int(seed), 7, int(step)]))
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(int(rng.integers(0, 2 ** 62)))
    return rng, g


def random_rotations(n: int, g: torch.Generator) -> torch.Tensor:
    """Return (n,3,3) float32 rotations uniform on SO(3) (normalised Gaussian quaternions)."""
    q = torch.randn(n, 4, generator=g, device=g.device)
    q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-9)
    w, x, y, z = q.unbind(1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], 1).view(n, 3, 3)


def _unit(n: int, g: torch.Generator) -> torch.Tensor:
    v = torch.randn(n, 3, generator=g, device=g.device)
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-9)


def _u(n, lo, hi, g, shape=None) -> torch.Tensor:
    shape = (n,) if shape is None else shape
    return torch.rand(shape, generator=g, device=g.device) * (hi - lo) + lo


class MeshPool:
    """
    A pool of procedural meshes whose content is a pure function of (split, seed, step).

    Slot ``i`` is first built at event 0; refresh event ``e >= 1`` (at step ``e *
    refresh_every``) rebuilds slots ``(e-1)*count .. (e-1)*count+count-1`` (mod size). The mesh
    of (slot, event) comes from ``shape_rng(split, seed, event, slot)``.

    Args:
        cfg: pair settings (pool size, refresh, subdivision, diameters).
        seed: run seed.
        device: where the mesh tensors live.
        split: 'train' or 'val' (disjoint shape streams).
    """

    def __init__(self, cfg: PairConfig, seed: int, device, split: str = 'train'):
        self.cfg, self.seed, self.device, self.split = cfg, int(seed), torch.device(device), split
        self.size = int(cfg.pool_size)
        self.meshes: List[Optional[MeshTensors]] = [None] * self.size
        self.events = [-1] * self.size

    def _event_of(self, slot: int, step: int) -> int:
        """Return the last event at or before ``step`` that (re)built ``slot``."""
        c = self.cfg
        if c.refresh_every <= 0 or c.refresh_count <= 0:
            return 0
        last = step // c.refresh_every
        for e in range(last, max(0, last - self.size // c.refresh_count - 2), -1):
            if e >= 1 and ((slot - (e - 1) * c.refresh_count) % self.size) < c.refresh_count:
                return e
        return 0

    def build(self, slot: int, event: int) -> MeshTensors:
        """Build the mesh of (slot, event) on the device."""
        rng = shape_rng(self.split, self.seed, event, slot)
        mesh, _ = random_mesh(rng, diameter_range=self.cfg.diameter_range,
                              max_edge_ratio=self.cfg.max_edge_ratio)
        return MeshTensors.from_mesh(mesh, self.device)

    def at_step(self, step: int) -> List[MeshTensors]:
        """Bring the pool to its state at ``step`` (rebuilding changed slots) and return it."""
        for slot in range(self.size):
            e = self._event_of(slot, step)
            if self.events[slot] != e:
                self.meshes[slot] = self.build(slot, e)
                self.events[slot] = e
        return self.meshes


class PairSampler:
    """
    Generate training batches (see the module docstring).

    Args:
        cfg: settings.
        seed: run seed.
        device: device of the data (rendering happens there).
        split: 'train' or 'val'.
    """

    def __init__(self, cfg: PairConfig, seed: int = 0, device='cpu', split: str = 'train'):
        self.cfg = cfg
        self.seed = int(seed)
        self.device = torch.device(device)
        self.split = split
        self.pool = MeshPool(cfg, seed, device, split)
        self.backend = cfg.backend
        if cfg.backend == 'auto':
            self.backend = 'nvdiffrast' if scene.nvdiffrast_works(self.device) else 'ours'

    # --------------------------------------------------------------------------------------
    def _cameras(self, n, g):
        c = self.cfg
        H, W = c.image_size
        fx = _u(n, *c.fx_range, g)
        K = torch.zeros(n, 3, 3, device=g.device)
        K[:, 0, 0] = fx
        K[:, 1, 1] = fx * _u(n, 0.98, 1.02, g)
        K[:, 0, 2] = W / 2 + _u(n, -15, 15, g)
        K[:, 1, 2] = H / 2 + _u(n, -15, 15, g)
        K[:, 2, 2] = 1.0
        return K

    def _gt_poses(self, K, diam, g):
        c = self.cfg
        n = K.shape[0]
        H, W = c.image_size
        zlo = torch.maximum(torch.full_like(diam, c.z_range[0]), 1.5 * diam)
        z = zlo + (c.z_range[1] - zlo).clamp_min(0) * _u(n, 0, 1, g)
        u = _u(n, 0.15 * W, 0.85 * W, g)
        v = _u(n, 0.15 * H, 0.85 * H, g)
        x = (u - K[:, 0, 2]) * z / K[:, 0, 0]
        y = (v - K[:, 1, 2]) * z / K[:, 1, 1]
        t = torch.stack([x, y, z], 1)
        return scene.pose_matrix(random_rotations(n, g), t)

    def _perturb(self, pose_gt, g):
        c = self.cfg
        n = pose_gt.shape[0]
        big = torch.rand(n, generator=g, device=g.device) < c.big_prob
        s = torch.where(big, torch.ones(n, device=g.device), _u(n, *c.small_scale, g))
        dt = (_u(n, -1, 1, g, (n, 3)) * torch.tensor(c.max_trans, device=g.device)) * s[:, None]
        ang = _u(n, 0, 1, g) * math.radians(c.max_rot_deg) * s
        dR = so3_exp(_unit(n, g) * ang[:, None])
        return scene.pose_matrix(dR @ pose_gt[:, :3, :3], pose_gt[:, :3, 3] + dt)

    def _extra_poses(self, pose_gt, diam, diam_e, g):
        """
        Poses of the second objects: in front (occluder) or beside (distractor).

        The second mesh is scaled (the pose's rotation block carries a uniform scale) to
        0.4-1x the object's diameter in front of it, 0.5-1.5x beside it, and an occluder stays
        beyond half the object's distance: its image is then at most about twice the object's,
        which bounds its triangles' pixel size and so the rasterizer's window (cost).
        """
        c = self.cfg
        n = pose_gt.shape[0]
        t = pose_gt[:, :3, 3]
        front = torch.rand(n, generator=g, device=g.device) < c.occluder_prob
        d_new = diam * torch.where(front, _u(n, 0.4, 1.0, g), _u(n, 0.5, 1.5, g))
        r, re = diam / 2, d_new / 2
        z = t[:, 2]
        z_occ = torch.maximum(z - (r + re) - _u(n, 0.0, 0.2, g), torch.maximum(z / 2, 0.12 + re))
        z_dis = z + _u(n, -0.1, 0.2, g)
        z_e = torch.where(front, z_occ, z_dis)
        ang = _u(n, 0, 2 * math.pi, g)
        lat = torch.where(front, _u(n, 0.2, 1.0, g), _u(n, 1.0, 1.6, g)) * (r + re)
        centre = t + torch.stack([torch.cos(ang), torch.sin(ang), torch.zeros_like(ang)], 1) \
            * lat[:, None]
        # move along the ray through the offset centre to the chosen depth
        te = centre * (z_e / centre[:, 2].clamp_min(1e-3))[:, None]
        scale = (d_new / diam_e).view(n, 1, 1)
        return scene.pose_matrix(random_rotations(n, g) * scale, te)

    def _planes(self, pose_gt, diam, g):
        n = pose_gt.shape[0]
        t = pose_gt[:, :3, 3]
        ray = t / t.norm(dim=1, keepdim=True)
        depth_behind = _u(n, -0.4, 1.0, g) * diam / 2 + _u(n, 0.0, 0.6, g) * (
            torch.rand(n, generator=g, device=g.device) < 0.7).float()
        origin = t + ray * depth_behind[:, None]
        # normal within ~70 degrees of the direction back to the camera
        nrm = -ray + _unit(n, g) * _u(n, 0.0, 1.2, g)[:, None]
        nrm = nrm / nrm.norm(dim=1, keepdim=True)
        helper = torch.where(nrm[:, :1].abs() < 0.9, torch.tensor([[1.0, 0, 0]], device=g.device),
                             torch.tensor([[0, 1.0, 0]], device=g.device))
        e1 = torch.cross(nrm, helper, dim=1)
        e1 = e1 / e1.norm(dim=1, keepdim=True)
        e2 = torch.cross(nrm, e1, dim=1)  # e1 x e2 = nrm
        tex = random_textures(n, self.cfg.tex_size, g)
        return scene.Plane(origin=origin, e1=e1, e2=e2, texture=tex,
                           tex_size=_u(n, 0.1, 1.0, g))

    # --------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, step: int, batch: int) -> PairBatch:
        """Generate the batch of ``step`` (deterministic in (split, seed, step))."""
        c = self.cfg
        S = c.out_size
        n = int(batch)
        dev = self.device
        pool = self.pool.at_step(step)
        rng, g = step_generators(self.split, self.seed, step, dev)

        # host-side structure: which mesh each sample and each second object uses
        k = max(1, min(c.groups, n, len(pool)))
        ids = rng.choice(len(pool), size=k, replace=False)
        grp = np.arange(n) % k
        has_extra = rng.random(n) < c.extra_prob
        grp_extra = (grp + 1) % k
        diam = torch.tensor([pool[ids[j]].diameter for j in grp], device=dev, dtype=torch.float32)
        diam_e = torch.tensor([pool[ids[j]].diameter for j in grp_extra], device=dev,
                              dtype=torch.float32)

        K = self._cameras(n, g)
        pose_gt = self._gt_poses(K, diam, g)
        pose_in = self._perturb(pose_gt, g)
        pose_e = self._extra_poses(pose_gt, diam, diam_e, g)
        crop_tf = crop_window_tf(pose_in, K, diam, c.crop_ratio, S).to(torch.float32)
        tex = random_textures(n, c.tex_size, g)
        tex_e = random_textures(n, c.tex_size, g)
        textured = torch.rand(n, generator=g, device=dev) >= c.untextured_prob
        light = scene.random_lighting(n, g)
        plane = self._planes(pose_gt, diam, g)
        has_plane = torch.rand(n, generator=g, device=dev) < c.plane_prob
        bumps = _u(n, 0.0, 0.03, g) * (torch.rand(n, generator=g, device=dev) < 0.5).float()
        bump_cell = _u(n, 10.0, 60.0, g)
        bg = random_images(n, S, g).permute(0, 2, 3, 1)
        bump_seed = torch.randint(0, 2 ** 31 - 1, (n,), generator=g, device=dev)

        proj_a = crop_projection(K, crop_tf, S)
        proj_b = pinhole_projection(K, crop_tf, (S, S))
        A_rgb = torch.zeros(n, S, S, 3, device=dev)
        A_xyz = torch.zeros(n, S, S, 3, device=dev)
        obj = _empty_fragments(n, S, dev)
        ext = _empty_fragments(n, S, dev)
        grey = torch.full((1, 1, 1, 3), PLAIN_GREY, device=dev)
        for j in range(k):
            mt = pool[ids[j]]
            s_idx = torch.as_tensor(np.nonzero(grp == j)[0], device=dev)
            e_idx = torch.as_tensor(np.nonzero((grp_extra == j) & has_extra)[0], device=dev)
            ns = s_idx.numel()
            poses = torch.cat([pose_in[s_idx], pose_gt[s_idx]])
            projs = torch.cat([proj_a[s_idx], proj_b[s_idx]])
            fr = scene.rasterize_mesh(mt, poses, projs, (S, S), backend=self.backend)
            # side A: the renderer contract (see scene.render_reference)
            col = scene.sample_texture(tex[s_idx], fr.uv[:ns])
            col = torch.where(textured[s_idx].view(-1, 1, 1, 1), col, grey)
            m = fr.mask[:ns].unsqueeze(-1).float()
            A_rgb[s_idx] = contract_shading(col, fr.ref_diffuse[:ns], m)
            A_xyz[s_idx] = fr.xyz[:ns]
            _put(obj, s_idx, fr, slice(ns, 2 * ns))
            if e_idx.numel():
                # a call of its own: nearer, larger triangles need a larger window
                fe = scene.rasterize_mesh(mt, pose_e[e_idx], proj_b[e_idx], (S, S),
                                          backend=self.backend)
                _put(ext, e_idx, fe, slice(None))

        # side B: shade the layers, composite over the background, add sensor effects
        lat = pixel_lattice(crop_tf, (S, S))
        scale = lattice_scale(crop_tf)
        rays = scene.pixel_rays(K, lat)
        obj_rgb = scene.phong_shading(scene.sample_texture(tex, obj['uv']), obj['normal'],
                                      obj['xyz'], light)
        ext_rgb = scene.phong_shading(scene.sample_texture(tex_e, ext['uv']), ext['normal'],
                                      ext['xyz'], light)
        p_mask, p_xyz, p_nrm, p_alb = scene.plane_layer(rays, plane)
        p_z = p_xyz[..., 2] + bumps.view(n, 1, 1) * (
            lattice_value_noise(lat, bump_cell, bump_seed) - 0.5) * 2
        p_mask = p_mask & has_plane.view(n, 1, 1) & (p_z > 0)
        p_rgb = scene.phong_shading(p_alb, p_nrm, p_xyz, light)
        depth, rgb, _ = scene.composite([(obj['mask'], obj['xyz'][..., 2], obj_rgb),
                                         (ext['mask'], ext['xyz'][..., 2], ext_rgb),
                                         (p_mask, p_z, p_rgb)])
        rgb = torch.where(depth.unsqueeze(-1) > 0, rgb, bg).permute(0, 3, 1, 2)
        rgb = apply_rgb_noise(rgb, g, lat, scale, c.rgb_noise)
        depth = apply_depth_noise(depth, g, lat, scale, c.depth_noise)
        if c.depth_filter:
            depth = preprocess_depth(depth)
        # XYZ at the sensor pixel each crop pixel samples (depth_to_xyz + nearest warp)
        xyz_b = scene.pixel_rays(K, torch.round(lat)) * depth.unsqueeze(-1)

        t_in = pose_in[:, :3, 3]
        A = normalize_pair(A_rgb.permute(0, 3, 1, 2), A_xyz.permute(0, 3, 1, 2), t_in, diam)
        B = normalize_pair(rgb, xyz_b.permute(0, 3, 1, 2), t_in, diam)
        trans_t, rot_t = pose_update_targets(pose_in, pose_gt, diam, ROT_NORMALIZER,
                                             pre_tanh=False)
        return PairBatch(A=A.contiguous(), B=B.contiguous(), trans_target=trans_t.float(),
                         rot_target=rot_t.float(), pose_in=pose_in, pose_gt=pose_gt,
                         diameter=diam, K=K, crop_tf=crop_tf)


def _empty_fragments(n: int, S: int, dev) -> dict:
    return {'mask': torch.zeros(n, S, S, dtype=torch.bool, device=dev),
            'xyz': torch.zeros(n, S, S, 3, device=dev),
            'normal': torch.zeros(n, S, S, 3, device=dev),
            'uv': torch.zeros(n, S, S, 2, device=dev)}


def _put(dst: dict, idx: torch.Tensor, fr: scene.Fragments, rows: slice) -> None:
    """Scatter the fragments ``rows`` of a group render into the batch buffers at ``idx``."""
    if idx.numel() == 0:
        return
    dst['mask'][idx] = fr.mask[rows]
    dst['xyz'][idx] = fr.xyz[rows]
    dst['normal'][idx] = fr.normal[rows]
    dst['uv'][idx] = fr.uv[rows]
