# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Registration: the first pose (or the pose after LOST) from one RGB-D frame and an object mask.

``register(rgb, depth, mask, K, tracker) -> (pose, score)``, FoundationPose-style:

1. Hypotheses (`rotation_hypotheses`): ``views`` viewpoints spread evenly over the sphere
   (Fibonacci lattice), the object turned so that the camera looks at its centre from each, times
   ``inplane`` rotations about the optical axis.
2. Translation (`translation_init`): the median of the back-projected masked depth (robust to
   mask bleeding onto the background), pushed back along its viewing ray by each hypothesis's own
   ``front_offsets``: how far in front of the centre the visible surface lies at that rotation
   (median over the camera-facing mesh vertices), because the depth sees the surface, not the
   centre.
3. Refinement (`refine_and_score`): every hypothesis gets the tracker's refinement, as batches
   of a fixed ``chunk`` size: `pose_tracker.step.network_stage` (``network_iterations``) then
   `pose_tracker.step.icp_refine` (``icp.iterations``), with the tracker's `StepConfig`.
4. Score (`agreement_scores`): at the refined pose the mesh is rendered once more and compared
   with the observation cropped in the same window: the silhouette IoU between the render's mask
   channel and the observed mask, and the depth support inside the mask (share of rendered
   pixels that fall in the mask and whose observed depth is within tolerance). The score is their
   product: a pose must both cover the segment and sit on its surface.
5. The best chunk results are compared on the host after all chunks (`Registrar.register`).

A chunk has fixed shapes and never synchronises with the host, so on CUDA each chunk is one
replay of a captured graph over static buffers (like `pose_tracker.tracker.Tracker`); the CPU
runs the same functions eagerly.

Frames: poses are object -> camera, metres, OpenCV camera; internally the mesh is centred
(``T_centred = T_original @ [I | center]``), the returned pose is in the original mesh frame.
"""

from dataclasses import dataclass
import math
import time
from typing import Callable, NamedTuple, Optional, Tuple

import numpy as np
import torch

from pose_tracker.crop.warp import crop_real, warp_to_crop
from pose_tracker.cuda_graph import capture_graph
from pose_tracker.errors import FrameError
from pose_tracker.geometry.camera import MIN_VALID_DEPTH
from pose_tracker.mesh import centred_to_original
from pose_tracker.step import (frame_to_real_side, icp_refine, network_stage, render_at,
                               StepConfig)

#: FoundationPose's hypothesis set: 42 icosphere viewpoints x 6 in-plane rotations.
FULL_VIEWS, FULL_INPLANE = 42, 6
#: Reduced set for CPUs (see docs/results/registration_*.md for its accuracy).
CPU_VIEWS, CPU_INPLANE = 12, 4
#: Fewest valid masked depth pixels a registration needs.
MIN_MASK_DEPTH_PIXELS = 20


class RegistrationError(FrameError):
    """The mask or depth of a frame cannot be registered (empty mask, no depth in it, ...)."""


@dataclass
class RegistrationResult:
    """
    Outcome of one registration.

    Attributes:
        pose: (4,4) float64 object -> camera in the original mesh frame, metres.
        score: agreement of the best hypothesis in [0,1] (`agreement_scores`).
        iou: its silhouette IoU with the mask, [0,1].
        support: its depth support inside the mask, [0,1].
        ms: wall time of the registration, milliseconds.
        hypotheses: number of hypotheses refined.
        chunk: hypotheses per batch.
        scores: (N,4) float64 score, IoU, support and colour agreement of every hypothesis
            (diagnostics; colour is not part of the score, see `agreement_scores`).
        poses: (N,4,4) float64 refined poses, original mesh frame (diagnostics).
    """

    pose: np.ndarray
    score: float
    iou: float
    support: float
    ms: float
    hypotheses: int
    chunk: int
    scores: np.ndarray
    poses: np.ndarray


def fibonacci_sphere(n: int) -> np.ndarray:
    """Return (n,3) float64 unit vectors spread evenly over the sphere (Fibonacci lattice)."""
    i = np.arange(n, dtype=np.float64) + 0.5
    z = 1.0 - 2.0 * i / n
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, 1.0))
    phi = math.pi * (3.0 - math.sqrt(5.0)) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def look_at_rotation(direction: np.ndarray) -> np.ndarray:
    """
    Rotation object -> camera of a camera on ``direction`` looking at the object centre.

    Args:
        direction: (3,) unit vector, object frame, from the object centre towards the camera.

    Returns:
        (3,3) float64 R whose rows are the camera axes in the object frame (z = -direction).
    """
    z = -np.asarray(direction, dtype=np.float64)
    up = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


def rotation_hypotheses(views: int = FULL_VIEWS, inplane: int = FULL_INPLANE) -> np.ndarray:
    """Return (views*inplane,3,3) float64 object -> camera rotations, views major."""
    out = []
    for d in fibonacci_sphere(views):
        R = look_at_rotation(d)
        for k in range(inplane):
            a = 2.0 * math.pi * k / inplane
            c, s = math.cos(a), math.sin(a)
            out.append(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ R)
    return np.stack(out)


def front_offsets(rotations: np.ndarray, vertices: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """
    How far the visible surface lies in front of the centre, per rotation.

    The median depth of the visible part of the mesh relative to its centre: over the vertices
    whose normals face the camera, ``-median(z_cam)`` (no occlusion test; a convex hull's
    answer). A box seen face-on gives its half thickness, a sphere about 0.7 radius.

    Args:
        rotations: (N,3,3) object -> camera rotations.
        vertices: (V,3) centred mesh vertices, metres.
        normals: (V,3) vertex normals, object frame.

    Returns:
        (N,) float64 metres, >= 0.
    """
    z = np.einsum("nj,vj->nv", rotations[:, 2], vertices)
    nz = np.einsum("nj,vj->nv", rotations[:, 2], normals)
    front = np.where(nz < 0.0, -z, np.nan)
    off = np.nanmedian(front, axis=1)
    return np.nan_to_num(np.clip(off, 0.0, None), nan=0.0)


def masked_surface_point(xyz: torch.Tensor,
                         mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Median (per axis) of the observed points inside the mask.

    Args:
        xyz: (1,3,H,W) float32 metres, camera frame (0 = no reading).
        mask: (1,1,H,W) float32 0/1 object mask.

    Returns:
        point: (3,) float32 metres, camera frame (NaN when no pixel is valid).
        count: () int64 number of valid masked pixels.
    """
    valid = (mask[0, 0] > 0.5) & (xyz[0, 2] > MIN_VALID_DEPTH)
    pts = torch.where(valid, xyz[0], torch.nan).flatten(1)  # (3,HW)
    return pts.nanmedian(dim=1).values, valid.sum()


def translation_init(surface: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """
    Object centres: the surface point pushed back along its ray by each hypothesis's offset.

    Args:
        surface: (3,) metres, camera frame (`masked_surface_point`).
        offsets: (N,) metres (`front_offsets`).

    Returns:
        (N,3) float32 metres, camera frame.
    """
    ray = surface / surface.norm().clamp_min(1e-9)
    return surface.view(1, 3) + offsets.view(-1, 1) * ray.view(1, 3)


class Scores(NamedTuple):
    """Agreement of a batch of poses with the observation, each (B,) float32 in [0,1]."""

    score: torch.Tensor
    iou: torch.Tensor
    support: torch.Tensor
    colour: torch.Tensor


def agreement_scores(ren_xyz: torch.Tensor, ren_mask: torch.Tensor, obs_xyz: torch.Tensor,
                     obs_mask: torch.Tensor, mask_area: torch.Tensor, tolerance: float,
                     ren_rgb: Optional[torch.Tensor] = None,
                     obs_rgb: Optional[torch.Tensor] = None) -> Scores:
    """
    Silhouette IoU and depth support inside the mask of rendered poses; score = product.

    The observed mask is cropped into the same window as the render, so parts of it outside the
    window would be missed by a pixel count in the crop; the union therefore uses the whole
    mask's area, scaled to crop pixels (``mask_area``).

    Args:
        ren_xyz: (B,3,S,S) float32 rendered XYZ, metres, camera frame.
        ren_mask: (B,1,S,S) float32 0/1 rendered coverage.
        obs_xyz: (B,3,S,S) float32 observed XYZ in the same windows, metres (0 = no reading).
        obs_mask: (B,1,S,S) float32 0/1 observed mask in the same windows.
        mask_area: (B,) float32 area of the whole observed mask in crop pixels.
        tolerance: depth agreement tolerance, metres.
        ren_rgb, obs_rgb: optional (B,3,S,S) rendered and observed colour in [0,1]; the colour
            agreement (1 - mean absolute difference over rendered pixels in the mask) is
            reported but not part of the score (it did not pick better poses, see
            docs/results/registration_*.md; meshes without texture render plain grey).

    Returns:
        `Scores` (score, iou, support, colour; colour 0 without colours).
    """
    ren = ren_mask > 0.5
    obs = obs_mask > 0.5
    inter = (ren & obs).flatten(1).sum(1).float()
    ren_area = ren.flatten(1).sum(1).float()
    union = (ren_area + torch.maximum(mask_area, obs.flatten(1).sum(1).float()) - inter)
    iou = inter / union.clamp_min(1.0)
    z_o, z_r = obs_xyz[:, 2:3], ren_xyz[:, 2:3]
    agree = ren & obs & (z_o > MIN_VALID_DEPTH) & ((z_r - z_o).abs() < tolerance)
    support = agree.flatten(1).sum(1).float() / ren_area.clamp_min(1.0)
    colour = torch.zeros_like(iou)
    if ren_rgb is not None and obs_rgb is not None:
        both = (ren & obs).float()
        diff = ((ren_rgb - obs_rgb).abs().mean(1, keepdim=True) * both).flatten(1).sum(1)
        colour = 1.0 - diff / both.flatten(1).sum(1).clamp_min(1.0)
    return Scores(iou * support, iou, support, colour)


def refine_and_score(pose: torch.Tensor, K: torch.Tensor, rgb: torch.Tensor, xyz: torch.Tensor,
                     mask: torch.Tensor, mask_pixels: torch.Tensor, render: Callable,
                     render_geometry: Callable, network: Callable, cfg: StepConfig
                     ) -> Tuple[torch.Tensor, Scores]:
    """
    Refine a chunk of hypotheses like a tracked frame and score them (graph-safe).

    Args:
        pose: (C,4,4) float32 centred-object -> camera hypotheses, metres.
        K: (1,3,3) float32 intrinsics.
        rgb, xyz: (1,3,H,W) `frame_to_real_side` output.
        mask: (1,1,H,W) float32 0/1 observed object mask.
        mask_pixels: () float32 mask area in image pixels.
        render, render_geometry, network, cfg: as for `pose_tracker.step.finish_step`.

    Returns:
        pose: (C,4,4) float32 refined poses.
        scores: `Scores` of the refined poses.
    """
    C = pose.shape[0]
    Kb = K.expand(C, 3, 3)
    crop_tf, rendered = render_at(pose, Kb, render, cfg)
    pose, _ = network_stage(pose, Kb, rgb, xyz, crop_tf, rendered, render, network, cfg)
    if cfg.icp.iterations > 0:
        pose, _ = icp_refine(pose, Kb, xyz, render_geometry, cfg)
    crop_tf, ren = render_at(pose, Kb, render, cfg)
    obs_rgb, obs_xyz = crop_real(rgb, xyz, crop_tf, cfg.crop_size)
    obs_mask = warp_to_crop(mask, crop_tf, cfg.crop_size, mode="nearest")
    area = mask_pixels * crop_tf[:, 0, 0] * crop_tf[:, 1, 1]
    return pose, agreement_scores(ren.xyz, ren.mask, obs_xyz, obs_mask, area,
                                  cfg.quality_tolerance, ren.rgb, obs_rgb)


class Registrar:
    """
    Registers one object from a mask, with the renderer, network and config of a `Tracker`.

    Owns static device buffers for one frame and one chunk of hypotheses and, on CUDA (when the
    tracker uses graphs), one captured graph of `refine_and_score` per image size.

    Args:
        tracker: a `pose_tracker.tracker.Tracker` (its renderer, network, cfg, device, mesh,
            intrinsics and image size are used; its state is left alone).
        views, inplane: hypothesis set (`rotation_hypotheses`); default: the full set on CUDA,
            the reduced ``CPU_VIEWS`` x ``CPU_INPLANE`` on a CPU.
        chunk: hypotheses refined per batch (the last chunk is padded with repeats).
        use_cuda_graph: capture the chunk (CUDA only; default: as the tracker).
    """

    def __init__(self, tracker, views: Optional[int] = None, inplane: Optional[int] = None,
                 chunk: Optional[int] = None, use_cuda_graph: Optional[bool] = None):
        self.tracker = tracker
        self.device = tracker.device
        cuda = self.device.type == "cuda"
        self.views = int(views if views is not None else (FULL_VIEWS if cuda else CPU_VIEWS))
        self.inplane = int(inplane if inplane is not None else
                           (FULL_INPLANE if cuda else CPU_INPLANE))
        rotations = rotation_hypotheses(self.views, self.inplane)
        self.n = len(rotations)
        self.chunk = int(chunk if chunk is not None else (self.n if cuda else 16))
        if self.chunk <= 0 or self.n <= 0:
            raise ValueError(f"views, inplane and chunk must be positive, got {self.views}, "
                             f"{self.inplane}, {self.chunk}")
        self.use_cuda_graph = bool(cuda and (tracker.use_cuda_graph if use_cuda_graph is None
                                             else use_cuda_graph))
        renderer = tracker.renderer
        verts = renderer.vertices.cpu().double().numpy()
        normals = renderer.normals.cpu().double().numpy()
        self._rot = torch.as_tensor(rotations, dtype=torch.float32, device=self.device)
        self._offsets = torch.as_tensor(front_offsets(rotations, verts, normals),
                                        dtype=torch.float32, device=self.device)
        self._graph = None
        self._size = None
        self.captures = 0

    # ------------------------------------------------------------------ buffers and capture
    def _buffers(self) -> None:
        """(Re)allocate the static buffers for the tracker's image size and intrinsics."""
        H, W = self.tracker._size
        K = self.tracker._K_dev
        if self._size == (H, W) and torch.equal(self._K, K):
            return
        dev, C = self.device, self.chunk
        self._size, self._K = (H, W), K.clone()
        self._rgb = torch.zeros((1, 3, H, W), device=dev)
        self._xyz = torch.zeros((1, 3, H, W), device=dev)
        self._mask = torch.zeros((1, 1, H, W), device=dev)
        self._mask_pixels = torch.zeros((), device=dev)
        self._hyp = torch.eye(4, device=dev).repeat(C, 1, 1)
        self._out = torch.zeros((C, 20), device=dev)
        self._graph = None
        if self.use_cuda_graph:
            self._capture()

    def _chunk_body(self) -> None:
        """Refine and score the hypotheses in ``self._hyp``; results into ``self._out``."""
        t = self.tracker
        pose, s = refine_and_score(self._hyp, self._K, self._rgb, self._xyz, self._mask,
                                   self._mask_pixels, t.renderer.render,
                                   t.renderer.render_geometry, t.network, t.cfg)
        self._out.copy_(torch.cat([pose.flatten(1), s.score[:, None], s.iou[:, None],
                                   s.support[:, None], s.colour[:, None]], dim=1))

    def _capture(self) -> None:
        """Capture `_chunk_body` into a CUDA graph (warm-up on plausible hypotheses)."""
        self._hyp.copy_(self._plausible_poses())
        self._graph = capture_graph(self._chunk_body, self.device, warmup=2)
        self.captures += 1

    def _plausible_poses(self) -> torch.Tensor:
        """(C,4,4) poses in front of the camera (warm-up only)."""
        pose = torch.eye(4, device=self.device).repeat(self.chunk, 1, 1)
        pose[:, :3, :3] = self._rot[torch.arange(self.chunk) % self.n]
        pose[:, 2, 3] = max(0.3, 4.0 * self.tracker.cfg.diameter)
        return pose

    def run_chunk(self, hyp: torch.Tensor) -> torch.Tensor:
        """Refine and score one chunk (graph replay on CUDA); returns (C,20) on the device."""
        self._hyp.copy_(hyp)
        if self._graph is not None:
            self._graph.replay()
        else:
            with torch.no_grad():
                self._chunk_body()
        return self._out.clone()

    # ------------------------------------------------------------------ public API
    def hypotheses(self, rgb: np.ndarray, depth: np.ndarray, mask: np.ndarray) -> torch.Tensor:
        """
        Load a frame into the buffers and return the (N,4,4) centred initial hypotheses.

        Raises:
            RegistrationError: empty mask, or too few valid depth readings inside it.
        """
        self._buffers()
        H, W = self._size
        for name, a, shape in (("rgb", rgb, (H, W, 3)), ("depth", depth, (H, W)),
                               ("mask", mask, (H, W))):
            if np.shape(a) != shape:
                raise FrameError(f"{name} must be {shape}, got {np.shape(a)}")
        m = np.asarray(mask) != 0
        if not m.any():
            raise RegistrationError("the mask is empty: no pixel marks the object")
        d = np.asarray(depth)
        d = d.astype(np.float32) * (np.float32(1e-3) if d.dtype == np.uint16 else 1.0)
        d = np.where(np.isfinite(d), d, 0.0).astype(np.float32)
        dev = self.device
        with torch.no_grad():
            rgb_t, xyz = frame_to_real_side(torch.as_tensor(np.ascontiguousarray(rgb)).to(dev),
                                            torch.as_tensor(d).to(dev), self._K)
            self._rgb.copy_(rgb_t)
            self._xyz.copy_(xyz)
            self._mask.copy_(torch.as_tensor(m, dtype=torch.float32).view(1, 1, H, W))
            self._mask_pixels.fill_(float(m.sum()))
            surface, count = masked_surface_point(self._xyz, self._mask)
        if int(count) < MIN_MASK_DEPTH_PIXELS:
            raise RegistrationError(f"the mask ({int(m.sum())} pixels) has {int(count)} valid "
                                    f"depth readings, fewer than {MIN_MASK_DEPTH_PIXELS}")
        pose = torch.eye(4, device=dev).repeat(self.n, 1, 1)
        pose[:, :3, :3] = self._rot
        pose[:, :3, 3] = translation_init(surface, self._offsets)
        return pose

    def register(self, rgb: np.ndarray, depth: np.ndarray, mask: np.ndarray
                 ) -> RegistrationResult:
        """
        Register the object in one frame.

        Args:
            rgb: (H,W,3) uint8 RGB.
            depth: (H,W) float32 metres (0/NaN = no reading) or uint16 millimetres.
            mask: (H,W) bool or integer, non-zero = object.

        Returns:
            `RegistrationResult` (pose in the original mesh frame).
        """
        t0 = time.perf_counter()
        hyp = self.hypotheses(rgb, depth, mask)
        C = self.chunk
        n_chunks = -(-self.n // C)
        idx = torch.arange(n_chunks * C, device=self.device) % self.n
        outs = [self.run_chunk(hyp[idx[i * C:(i + 1) * C]]) for i in range(n_chunks)]
        out = torch.cat(outs)[:self.n].double().cpu().numpy()  # host sync after all chunks
        poses = out[:, :16].reshape(-1, 4, 4)
        scores = np.nan_to_num(out[:, 16], nan=-1.0)
        best = int(np.argmax(scores))
        poses = centred_to_original(poses, self.tracker.mesh.center)
        ms = (time.perf_counter() - t0) * 1e3
        return RegistrationResult(pose=poses[best], score=float(out[best, 16]),
                                  iou=float(out[best, 17]), support=float(out[best, 18]),
                                  ms=ms, hypotheses=self.n, chunk=C, scores=out[:, 16:20],
                                  poses=poses)


def register(rgb: np.ndarray, depth: np.ndarray, mask: np.ndarray, K, tracker,
             **registrar_kwargs) -> Tuple[np.ndarray, float]:
    """
    Register the tracker's object in one frame: ``(pose, score)``.

    Args:
        rgb: (H,W,3) uint8 RGB.
        depth: (H,W) float32 metres or uint16 millimetres.
        mask: (H,W) non-zero = object.
        K: (3,3) intrinsics, pixels (set on the tracker if they differ).
        tracker: `pose_tracker.tracker.Tracker` of the object.
        registrar_kwargs: `Registrar` options (views, inplane, chunk, use_cuda_graph).

    Returns:
        pose: (4,4) float64 object -> camera, original mesh frame, metres.
        score: [0,1] agreement of that pose with the mask and depth.
    """
    tracker.set_camera(K, np.shape(depth)[:2])
    result = Registrar(tracker, **registrar_kwargs).register(rgb, depth, mask)
    return result.pose, result.score
