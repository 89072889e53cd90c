# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Synthetic RGB-D test sequences of unseen procedural objects, in the YCBInEOAT layout.

:func:`generate_sequence` (command line: ``python -m pose_tracker.tools.make_sequence``) writes::

    DIR/rgb/NNNNNN.png         640x480 RGB, uint8
    DIR/depth/NNNNNN.png       uint16 millimetres, 0 = no reading
    DIR/masks/NNNNNN.png       visible-object mask, 0/255
    DIR/ob_in_cam/NNNNNN.txt   4x4 object->camera pose (mesh.obj frame), metres
    DIR/cam_K.txt              3x3 intrinsics
    DIR/mesh.obj (+ material.mtl, material_0.png)   the object, metres, with its texture
    DIR/points.xyz             2000 surface points of the object (mesh.obj frame), for ADD(-S)
    DIR/meta.json              seed, motion, speeds, sensor settings

so that ``python -m pose_tracker.tools.eval --seq DIR --mesh DIR/mesh.obj ...`` runs on it.

The object (and 0-2 static distractor objects) come from the 'test' shape stream
(``shape_rng('test', seed)``), which is disjoint from the training ('train') and validation
('val') streams, so the tracker's network never saw them. Frames: full-resolution rendering with
the exact pinhole camera (:func:`full_frame_projection`), the rasterizer window chosen per
batch of frames from the largest on-screen triangle, Blinn-Phong lighting fixed in the world (so
shading changes as the camera moves), a textured background wall with depth, hand-held motion
(:mod:`trajectories`), and sensor noise whose parameters are drawn once per sequence (one
camera) while the noise itself changes every frame. No motion blur.
"""

from dataclasses import asdict, dataclass, fields, replace
import json
from pathlib import Path
import time
from typing import List, Optional, Sequence

import numpy as np
from PIL import Image
from scipy.spatial.transform import Rotation
import torch

from pose_tracker.render.projection import full_frame_projection
from pose_tracker.render.surface import MeshTensors
from pose_tracker.synth import scene
from pose_tracker.synth.sensor_noise import (DepthNoise, RgbNoise, apply_depth_noise,
                                             apply_rgb_noise, pixel_lattice)
from pose_tracker.synth.shapes import random_trimesh, shape_rng, with_texture
from pose_tracker.synth.textures import random_images, random_textures
from pose_tracker.synth.trajectories import handheld_trajectory

__all__ = ['fixed_noise', 'render_frames', 'generate_sequence']


def fixed_noise(cfg, rng: np.random.Generator):
    """Draw every (lo, hi) range of a DepthNoise / RgbNoise once: a config of one sensor."""
    out = {}
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, tuple) and len(v) == 2 and f.name != 'z_range':
            x = float(rng.uniform(v[0], v[1]))
            out[f.name] = (x, x)
    return replace(cfg, **out)


def _torch_gen(rng: np.random.Generator, device) -> torch.Generator:
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(int(rng.integers(0, 2 ** 62)))
    return g


def _to_uint8(img: torch.Tensor) -> np.ndarray:
    return (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def _cat_fragments(frs):
    if len(frs) == 1:
        return frs[0]
    return scene.Fragments(*(torch.cat([getattr(f, k) for f in frs]) for k in
                             ('mask', 'xyz', 'normal', 'uv', 'ref_diffuse')))


def render_frames(mt: MeshTensors, pose: torch.Tensor, proj: torch.Tensor, size,
                  backend: str = 'ours', budget_bytes: float = 1.5e9,
                  max_window: int = 96) -> scene.Fragments:
    """
    Rasterize a mesh into full frames, splitting the batch to bound our rasterizer's memory.

    Our rasterizer tests a fixed ``window x window`` pixel block per triangle; the window is taken
    from the largest on-screen triangle of the batch (up to ``max_window`` pixels, a near object
    at full resolution), and it needs about ``F * window^2 * 100`` bytes per frame, so frames are
    rendered in groups that fit ``budget_bytes``. nvdiffrast has no such limit.

    Args:
        mt: the mesh (needs uv).
        pose: (B,4,4) centred-object -> camera poses.
        proj: (B,4,4) clip matrices (:func:`full_frame_projection`).
        size: (H, W).
        backend: 'ours' or 'nvdiffrast'.
        budget_bytes: memory budget of one rasterizer call.
        max_window: largest window (bigger triangles are drawn partly).

    Returns:
        :class:`scene.Fragments` of the B frames.
    """
    if backend == 'nvdiffrast':
        return scene.rasterize_mesh(mt, pose, proj, size, backend=backend)
    w = scene.mesh_window(mt, pose, proj, size, max_window)
    per_frame = mt.faces.shape[0] * w * w * 100.0
    step = max(1, int(budget_bytes // per_frame))
    return _cat_fragments([scene.rasterize_mesh(mt, pose[i:i + step], proj[i:i + step], size,
                                                window=w)
                           for i in range(0, pose.shape[0], step)])


def _plane_in_world(rng, z0: float, g, tex_px: int):
    """Draw a textured wall behind the object (world = first camera frame)."""
    n = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.3), -1.0])
    n /= np.linalg.norm(n)
    origin = np.array([0.0, 0.0, z0 + rng.uniform(0.15, 0.6)])
    helper = np.array([1.0, 0.0, 0.0])
    e1 = np.cross(n, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    tex = random_textures(1, tex_px, g)
    return origin, e1, e2, tex, float(rng.uniform(0.3, 1.2))


@dataclass
class _Layer:
    """
    A static textured mesh of the scene.

    Attributes:
        mt: the mesh on the device.
        texture: (1,Ht,Wt,3) float texture in [0,1], on the device.
        T_world: (4,4) float64 centred-mesh -> world pose, metres (None: moves, see the caller).
    """

    mt: MeshTensors
    texture: torch.Tensor
    T_world: Optional[np.ndarray] = None


@dataclass
class _Scene:
    """
    Everything drawn once per sequence (world = first camera frame).

    Attributes:
        obj: the tracked object (its pose comes from ``traj``).
        distractors: static objects beside it.
        K: (3,3) float64 intrinsics, pixels.
        traj: the hand-held :class:`Trajectory`.
        wall: (origin (3,), e1 (3,), e2 (3,), texture (1,Ht,Wt,3) on the device, size metres).
        light_w: (3,) unit light direction, world frame.
        light: per-sequence :class:`scene.Lighting` (batch 1), on the device.
        far_bg: (1,H,W,3) float image behind everything.
        depth_cfg, rgb_cfg: the sensor's fixed noise settings.
    """

    obj: _Layer
    distractors: List[_Layer]
    K: np.ndarray
    traj: object
    wall: tuple
    light_w: np.ndarray
    light: scene.Lighting
    far_bg: torch.Tensor
    depth_cfg: DepthNoise
    rgb_cfg: RgbNoise


def _make_object(out: Path, rng, gc, tex_px: int, max_edge_ratio: float, dev):
    """Draw the object and its texture, write mesh.obj and points.xyz; return (trimesh, Mesh)."""
    from pose_tracker.mesh import mesh_from_trimesh

    tex = random_textures(1, tex_px, gc)
    tm = random_trimesh(rng, diameter_range=(0.08, 0.25))
    with_texture(tm, _to_uint8(tex[0]))
    tm.export(out / 'mesh.obj')
    mesh = mesh_from_trimesh(tm, max_edge_ratio=max_edge_ratio)
    pts = np.asarray(tm.sample(2000, seed=int(rng.integers(0, 2 ** 31))), dtype=np.float64)
    np.savetxt(out / 'points.xyz', pts, fmt='%.6f')
    return tm, mesh


def _draw_camera(rng, H: int, W: int) -> np.ndarray:
    """Draw (3,3) intrinsics near a 600 px (at 640 wide) camera with a centred principal point."""
    f = rng.uniform(580.0, 620.0) * W / 640.0
    cx, cy = W / 2 + rng.uniform(-8, 8), H / 2 + rng.uniform(-8, 8)
    return np.array([[f, 0.0, cx], [0.0, f * rng.uniform(0.99, 1.01), cy], [0.0, 0.0, 1.0]])


def _draw_distractors(rng, gc, n: int, diameter: float, T_wo0: np.ndarray,
                      max_edge_ratio: float, dev) -> List[_Layer]:
    """Draw ``n`` static objects beside the object's first pose, with their own textures."""
    from pose_tracker.mesh import mesh_from_trimesh

    dis = []
    for _ in range(n):
        d_tm = random_trimesh(rng, diameter_range=(0.06, 0.2))
        d_mesh = mesh_from_trimesh(with_texture(d_tm, None), max_edge_ratio=max_edge_ratio)
        ang = rng.uniform(0, 2 * np.pi)
        off = (diameter + d_mesh.diameter) * 0.5 * rng.uniform(1.1, 1.8)
        T = np.eye(4)
        T[:3, :3] = Rotation.random(random_state=rng).as_matrix()
        shift = np.array([np.cos(ang) * off, np.sin(ang) * off * 0.6, rng.uniform(-0.05, 0.15)])
        T[:3, 3] = T_wo0[:3, 3] + shift
        dis.append(_Layer(MeshTensors.from_mesh(d_mesh, dev),
                          random_textures(1, 128, gc).to(dev), T))
    return dis


def _draw_scene(out: Path, rng, gc, mesh, frames: int, fps: float, motion: str, H: int, W: int,
                tex_px: int, max_edge_ratio: float, distractors: Optional[int], dev) -> _Scene:
    """Draw the camera, motion, distractors, wall, light and sensor; write cam_K.txt."""
    obj = _Layer(MeshTensors.from_mesh(mesh, dev),
                 torch.as_tensor(mesh.texture, device=dev).float().div(255.0)[None])
    K = _draw_camera(rng, H, W)
    np.savetxt(out / 'cam_K.txt', K, fmt='%.6f')
    traj = handheld_trajectory(frames, rng, fps=fps, mode=motion, K=K, image_size=(H, W),
                               depth_range=(0.35, 1.6))
    T_wo0 = traj.obj_in_world[0]
    n_dis = int(rng.integers(0, 3)) if distractors is None else int(distractors)
    dis = _draw_distractors(rng, gc, n_dis, mesh.diameter, T_wo0, max_edge_ratio, dev)
    origin, e1, e2, wall_tex, wall_size = _plane_in_world(rng, float(T_wo0[2, 3]), gc, tex_px)
    light_w = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.8, 0.2), -1.0])
    light_w /= np.linalg.norm(light_w)
    light = scene.random_lighting(1, gc)
    light = scene.Lighting(**{k: v.to(dev) for k, v in light.__dict__.items()})
    far_bg = random_images(1, (H, W), gc).permute(0, 2, 3, 1).to(dev)
    depth_cfg = fixed_noise(DepthNoise(), rng)
    rgb_cfg = fixed_noise(RgbNoise(), rng)
    return _Scene(obj, dis, K, traj, (origin, e1, e2, wall_tex.to(dev), wall_size), light_w,
                  light, far_bg, depth_cfg, rgb_cfg)


def _shaded_layer(layer: _Layer, pose: torch.Tensor, proj: torch.Tensor, size, lt, backend: str,
                  budget: float):
    """Render one mesh at b poses: (mask (b,H,W), depth (b,H,W) metres, rgb (b,H,W,3))."""
    b = pose.shape[0]
    fr = render_frames(layer.mt, pose, proj, size, backend, budget)
    albedo = scene.sample_texture(layer.texture.expand(b, -1, -1, -1), fr.uv)
    return fr.mask, fr.xyz[..., 2], scene.phong_shading(albedo, fr.normal, fr.xyz, lt)


def _wall_layer(sc: _Scene, T_cw: np.ndarray, rays: torch.Tensor, lt):
    """Intersect the frames' rays with the wall: (mask, depth metres, rgb) of b frames."""
    b, dev = T_cw.shape[0], rays.device
    origin, e1, e2, wall_tex, wall_size = sc.wall

    def cam(v, point=True):
        R, t = T_cw[:, :3, :3], T_cw[:, :3, 3]
        x = (R @ v) + (t if point else 0.0)
        return torch.as_tensor(x, dtype=torch.float32, device=dev)

    plane = scene.Plane(origin=cam(origin), e1=cam(e1, False), e2=cam(e2, False),
                        texture=wall_tex.expand(b, -1, -1, -1),
                        tex_size=torch.full((b,), wall_size, device=dev))
    p_mask, p_xyz, p_nrm, p_alb = scene.plane_layer(rays.expand(b, -1, -1, -1), plane)
    return p_mask, p_xyz[..., 2], scene.phong_shading(p_alb, p_nrm, p_xyz, lt)


def _render_batch(sc: _Scene, idx: List[int], proj1, rays1, size, g, backend: str,
                  budget: float):
    """Render frames ``idx``: rgb (b,H,W,3) uint8, depth (b,H,W) int32 mm, masks (b,H,W) uint8."""
    b, dev = len(idx), proj1.device
    T_cw = np.linalg.inv(sc.traj.cam_in_world[idx])
    pose = torch.as_tensor(sc.traj.obj_in_cam[idx], dtype=torch.float32, device=dev)
    proj = proj1.expand(b, 4, 4)
    lt = scene.Lighting(**{k: v.expand(b, *v.shape[1:]) for k, v in sc.light.__dict__.items()})
    lt.direction = torch.as_tensor(T_cw[:, :3, :3] @ sc.light_w, dtype=torch.float32,
                                   device=dev)
    layers = [_shaded_layer(sc.obj, pose, proj, size, lt, backend, budget)]
    for d in sc.distractors:
        pd = torch.as_tensor(T_cw @ d.T_world, dtype=torch.float32, device=dev)
        layers.append(_shaded_layer(d, pd, proj, size, lt, backend, budget))
    layers.append(_wall_layer(sc, T_cw, rays1, lt))
    depth, rgb, which = scene.composite(layers)
    rgb = torch.where(depth.unsqueeze(-1) > 0, rgb, sc.far_bg).permute(0, 3, 1, 2)
    rgb = apply_rgb_noise(rgb, g, cfg=sc.rgb_cfg)
    depth = apply_depth_noise(depth, g, cfg=sc.depth_cfg)
    rgb8 = _to_uint8(rgb.permute(0, 2, 3, 1))
    depth_mm = torch.round(depth * 1000).clamp(0, 65535).to(torch.int32).cpu().numpy()
    masks = ((which == 0).to(torch.uint8) * 255).cpu().numpy()
    return rgb8, depth_mm, masks


def _write_frames(out: Path, idx: List[int], rgb8, depth_mm, masks, obj_in_cam: np.ndarray,
                  center: np.ndarray) -> None:
    """Write the PNGs and original-mesh-frame poses (`obj_in_cam` is centred) of frames `idx`."""
    from pose_tracker.mesh import centred_to_original

    for k, i in enumerate(idx):
        name = f'{i:06d}'
        Image.fromarray(rgb8[k]).save(out / 'rgb' / f'{name}.png')
        Image.fromarray(depth_mm[k].astype(np.uint16)).save(out / 'depth' / f'{name}.png')
        Image.fromarray(masks[k]).save(out / 'masks' / f'{name}.png')
        np.savetxt(out / 'ob_in_cam' / f'{name}.txt', centred_to_original(obj_in_cam[i], center),
                   fmt='%.8f')


def _scene_metadata(tm, mesh, sc: _Scene) -> dict:
    """Return the meta.json entries that describe the drawn scene (object, motion, sensor)."""
    return {'shape_stream': 'test (disjoint from the training and validation shapes)',
            'object_kind': tm.metadata.get('kind'), 'diameter_m': mesh.diameter,
            'faces_rendered': mesh.num_faces, 'distractors': len(sc.distractors),
            'max_speed_mps': sc.traj.max_speed, 'max_ang_speed_dps': sc.traj.max_ang_speed,
            'depth_noise': asdict(sc.depth_cfg), 'rgb_noise': asdict(sc.rgb_cfg)}


def generate_sequence(out, frames: int = 300, seed: int = 1000, device='cpu',
                      image_size: Sequence[int] = (480, 640), motion: str = 'both',
                      fps: float = 30.0, max_edge_ratio: float = 0.03, tex_px: int = 512,
                      batch: Optional[int] = None, distractors: Optional[int] = None,
                      quiet: bool = False) -> dict:
    """
    Render and write one synthetic sequence (see the module docstring).

    Args:
        out: output folder (created; existing files of the same names are overwritten).
        frames: number of frames.
        seed: sequence seed (test shape stream; use seeds >= 1000 by convention).
        device: torch device for rendering.
        image_size: (H, W).
        motion: 'camera', 'object' or 'both'.
        fps: frame rate of the motion model.
        max_edge_ratio: mesh subdivision used for rendering.
        tex_px: texture side in pixels.
        batch: frames rendered per call (default 8 on CUDA, 1 on CPU).
        distractors: number of static distractor objects (default: drawn in 0..2).
        quiet: no progress printing.

    Returns:
        The metadata dict written to ``meta.json``.
    """
    t_start = time.time()
    out = Path(out)
    for sub in ('rgb', 'depth', 'masks', 'ob_in_cam'):
        (out / sub).mkdir(parents=True, exist_ok=True)
    dev = torch.device(device)
    H, W = int(image_size[0]), int(image_size[1])
    rng = shape_rng('test', seed)
    # one-time draws (textures, light) on the CPU so a seed gives the same scene on any device;
    # only the per-frame sensor noise comes from the device's generator
    gc = _torch_gen(rng, 'cpu')
    g = _torch_gen(rng, dev)
    batch = batch or (8 if dev.type == 'cuda' else 1)
    backend = 'nvdiffrast' if scene.nvdiffrast_works(dev) else 'ours'
    budget = 3e9 if dev.type == 'cuda' else 1e9
    tm, mesh = _make_object(out, rng, gc, tex_px, max_edge_ratio, dev)
    sc = _draw_scene(out, rng, gc, mesh, frames, fps, motion, H, W, tex_px, max_edge_ratio,
                     distractors, dev)
    Kt = torch.as_tensor(sc.K, dtype=torch.float32, device=dev)
    proj1 = full_frame_projection(Kt, H, W)
    rays1 = scene.pixel_rays(Kt, pixel_lattice(None, (H, W), 1, dev))
    for i0 in range(0, frames, batch):
        idx = list(range(i0, min(frames, i0 + batch)))
        images = _render_batch(sc, idx, proj1, rays1, (H, W), g, backend, budget)
        _write_frames(out, idx, *images, sc.traj.obj_in_cam, mesh.center)
        if not quiet:
            print(f'frames {idx[0]}-{idx[-1]} of {frames} ({time.time() - t_start:.1f} s)',
                  flush=True)
    meta = {'generator': 'pose_tracker.synth.sequence', 'seed': int(seed), 'frames': int(frames),
            'image_size': [H, W], 'fps': fps, 'motion': motion,
            **_scene_metadata(tm, mesh, sc),
            'seconds': round(time.time() - t_start, 1), 'device': str(dev),
            'rasterizer': backend}
    (out / 'meta.json').write_text(json.dumps(meta, indent=1))
    return meta
