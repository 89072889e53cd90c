# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
The tracker: static buffers plus one captured CUDA graph per frame (eager on CPU).

A `Tracker` owns everything that lives across frames: the renderer's mesh tensors, the network,
host staging buffers (pinned on CUDA) that the caller writes a frame into, device buffers, the
current pose, and on CUDA the captured graph of `pose_tracker.step.track_step`. A frame costs one
host->device copy, one graph replay and one device->host copy of the pose, followed by the only
host synchronisation of the frame. On CUDA the graph has two branches: the frame's upload and
depth filtering run on a side stream while the first iteration's render (which needs only the
previous pose) runs on the main one; at batch 1 neither branch fills the GPU, so the overlap is
nearly free time.
"""

from dataclasses import dataclass
import logging
import time
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import torch

from pose_tracker.compile_cache import enable_persistent_compile_cache
from pose_tracker.cuda_graph import capture_graph
from pose_tracker.errors import FrameError
from pose_tracker.geometry.depth_units import depth_mm_to_m
from pose_tracker.geometry.pinhole import validate_intrinsics
from pose_tracker.mesh import centred_to_original, Mesh, original_to_centred
from pose_tracker.network.checkpoint import load_refiner
from pose_tracker.network.refinenet import RefineNet, inference_copy
from pose_tracker.render.renderer import MeshRenderer
from pose_tracker.icp import IcpConfig
from pose_tracker.step import finish_step, frame_to_real_side, render_at, StepConfig, track_step

_LOG = logging.getLogger(__name__)

#: Shipped weights, the default when none are given.
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "refiner_small.pt"


@dataclass
class FrameBuffers:
    """
    Host views the caller writes one frame into before `Tracker.track_staged`.

    Attributes:
        rgb: (H,W,3) uint8 RGB.
        depth: (H,W) float32 metres, 0 = no reading.
    """

    rgb: np.ndarray
    depth: np.ndarray


@dataclass
class TrackResult:
    """
    Outcome of one tracked frame.

    Attributes:
        pose: (4,4) float64 object -> camera in the original mesh frame, metres.
        quality: depth support in [0,1] (see `pose_tracker.step.depth_support`).
        ms: wall time of the step on the host, milliseconds.
    """

    pose: np.ndarray
    quality: float
    ms: float


def resolve_device(device: str) -> torch.device:
    """Map "auto" to CUDA when available, else CPU; validate explicit choices."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device; use 'cpu'")
    return dev


class Tracker:
    """
    Track one rigid object through an RGB-D stream.

    Args:
        mesh: the object's mesh (see `pose_tracker.mesh.load_mesh`).
        K: (3,3) intrinsics of the images, pixels.
        image_size: (H, W) of the images.
        weights: checkpoint path, a loaded `RefineNet`, or None for the shipped weights.
        device: "cpu", "cuda", "cuda:N" or "auto".
        network_iterations: RefineNet iterations per frame (0: a tracker without weights).
        icp_iterations: depth refinement (point-to-plane ICP) iterations per frame, after the
            network ones (0: plain FoundationPose behaviour).
        icp_gates: (first, last) distance gate of the depth refinement, metres; the gates
            shrink geometrically from the first to the last iteration.
        use_cuda_graph: capture the step in a CUDA graph (CUDA only).
        half: run the network in float16 on CUDA (weights converted, BN folded).
        compile: "none", "network" (`torch.compile` the network) or "step" (compile the whole
            per-frame step, fusing the depth filters, rasterizer and crops too); CUDA only,
            done once before capture (tens of seconds). Ignored on CPU.
        quality_tolerance: metres, see `pose_tracker.step.depth_support`.
        overlap: on CUDA, upload and filter the frame on a second stream concurrently with the
            first render (same results as the one-stream step). Ignored on CPU.
    """

    def __init__(self, mesh: Mesh, K, image_size: Tuple[int, int],
                 weights: Union[str, Path, RefineNet, None] = None, device: str = "auto",
                 network_iterations: int = 2, icp_iterations: int = 2,
                 icp_gates: Tuple[float, float] = (0.03, 0.01), use_cuda_graph: bool = True,
                 half: bool = True, compile: str = "none", quality_tolerance: float = 0.01,
                 overlap: bool = True):
        self.device = resolve_device(device)
        self.mesh = mesh
        if int(network_iterations) < 0 or int(icp_iterations) < 0:
            raise ValueError("network_iterations and icp_iterations must be >= 0, got "
                             f"{network_iterations} and {icp_iterations}")
        gate_start, gate_end = (float(g) for g in icp_gates)
        if not 0.0 < gate_end <= gate_start:
            raise ValueError(f"icp_gates must be (first, last) with first >= last > 0 metres, "
                             f"got {tuple(icp_gates)}")
        icp = IcpConfig(iterations=int(icp_iterations), gate_start=gate_start,
                        gate_end=gate_end)
        self.cfg = StepConfig(diameter=float(mesh.diameter),
                              network_iterations=int(network_iterations), icp=icp,
                              quality_tolerance=float(quality_tolerance))
        cuda = self.device.type == "cuda"
        self.use_cuda_graph = bool(use_cuda_graph and cuda)
        self.overlap = bool(overlap and cuda)
        self._side_stream = torch.cuda.Stream(self.device) if self.overlap else None
        self.renderer = MeshRenderer(mesh, out_size=self.cfg.crop_size, device=self.device)
        model = weights if isinstance(weights, torch.nn.Module) else load_refiner(
            DEFAULT_WEIGHTS if weights is None else weights)
        model.eval()
        dtype = torch.float16 if (cuda and half) else torch.float32
        self.network = inference_copy(model, dtype=dtype, channels_last=cuda).to(self.device)
        if compile not in ("none", "network", "step"):
            raise ValueError(f"compile must be 'none', 'network' or 'step', got {compile!r}")
        self.compile = compile if cuda else "none"
        if self.compile != "none":
            # The compile is paid once per machine, not at every start (see compile_cache).
            self.compile_cache_dir = enable_persistent_compile_cache()
        if self.compile == "network":
            self.network = torch.compile(self.network, dynamic=False)
        self._track_step, self._parts = self._make_step()
        self._graph: Optional[torch.cuda.CUDAGraph] = None
        self._has_pose = False
        self.captures = 0
        self.set_camera(K, image_size)

    # ------------------------------------------------------------------ buffers and capture
    def _make_step(self):
        """
        Bind renderer, network and constants into the per-frame functions (maybe compiled).

        Returns ``(step, (frame, first, rest))``: the whole step for one stream, and the same
        step as its three parts for two streams; both are `pose_tracker.step.track_step`.
        """
        renderer, network, cfg = self.renderer, self.network, self.cfg

        def step(pose, K, rgb, depth):
            return track_step(pose, K, rgb, depth, renderer.render, network, cfg,
                              renderer.render_geometry)

        # `track_step`'s three parts, for the two-stream body (see `_step_body_overlapped`).
        def frame(rgb, depth, K):
            return frame_to_real_side(rgb, depth, K)

        def first(pose, K):
            return render_at(pose, K, renderer.render, cfg)

        def rest(pose, K, rgb, xyz, crop_tf, rendered):
            return finish_step(pose, K, rgb, xyz, crop_tf, rendered, renderer.render, network,
                               cfg, renderer.render_geometry)

        if self.compile == "step":
            # Inductor fuses the many small elementwise kernels (depth filters, edge functions,
            # normalisation) that make the eager step launch-bound; the CUDA graph is ours.
            def compiled(fn):
                return torch.compile(fn, dynamic=False)
            if self.overlap:
                frame, first, rest = compiled(frame), compiled(first), compiled(rest)
            else:
                step = compiled(step)
        return step, (frame, first, rest)

    def set_camera(self, K, image_size: Tuple[int, int]) -> None:
        """Set intrinsics and image size; rebuild buffers and re-capture when they change."""
        H, W = int(image_size[0]), int(image_size[1])
        if H <= 0 or W <= 0:
            raise FrameError(f"image size must be positive, got {H}x{W}")
        # No image size: a K adjusted for a camera_info ROI may have its principal point far
        # outside the (small) published image.
        K = validate_intrinsics(K)
        same = (getattr(self, "_size", None) == (H, W) and
                np.array_equal(getattr(self, "_K_np", None), K))
        if same:
            return
        self._K_np, self._size = K, (H, W)
        pin = self.device.type == "cuda"
        pose_prev = self._pose_dev.clone() if hasattr(self, "_pose_dev") else None
        self._rgb_host = torch.zeros((H, W, 3), dtype=torch.uint8, pin_memory=pin)
        self._depth_host = torch.zeros((H, W), dtype=torch.float32, pin_memory=pin)
        self._out_host = torch.zeros(17, dtype=torch.float32, pin_memory=pin)
        self.staging = FrameBuffers(self._rgb_host.numpy(), self._depth_host.numpy())
        dev = self.device
        self._rgb_dev = torch.zeros((H, W, 3), dtype=torch.uint8, device=dev)
        self._depth_dev = torch.zeros((H, W), dtype=torch.float32, device=dev)
        self._K_dev = torch.as_tensor(K, dtype=torch.float32, device=dev).reshape(1, 3, 3)
        self._pose_dev = (pose_prev if pose_prev is not None else
                          torch.eye(4, device=dev).reshape(1, 4, 4).clone())
        self._graph = None
        if self.use_cuda_graph:
            self._capture()

    def _step_body(self) -> None:
        """Copy the staged frame in, run the step, update the pose, stage the result out."""
        nb = self.device.type == "cuda"
        if self.overlap:
            pose, quality = self._step_body_overlapped()
        else:
            self._rgb_dev.copy_(self._rgb_host, non_blocking=nb)
            self._depth_dev.copy_(self._depth_host, non_blocking=nb)
            pose, quality = self._track_step(self._pose_dev, self._K_dev, self._rgb_dev,
                                             self._depth_dev)
        self._pose_dev.copy_(pose)
        out = torch.cat([pose.reshape(16), quality.reshape(1)])
        self._out_host.copy_(out, non_blocking=nb)

    def _step_body_overlapped(self):
        """
        Run the step on two CUDA streams: frame upload + depth filtering || first render.

        A fork/join of streams is captured into the graph as two parallel branches.
        """
        frame, first, rest = self._parts
        main = torch.cuda.current_stream(self.device)
        side = self._side_stream
        side.wait_stream(main)  # fork: the side branch starts after what precedes the step
        with torch.cuda.stream(side):
            self._rgb_dev.copy_(self._rgb_host, non_blocking=True)
            self._depth_dev.copy_(self._depth_host, non_blocking=True)
            rgb, xyz = frame(self._rgb_dev, self._depth_dev, self._K_dev)
        crop_tf, rendered = first(self._pose_dev, self._K_dev)
        main.wait_stream(side)  # join
        # Made on the side stream, read on the main one: keep the allocator from reusing them
        # for the side stream's next work before the main stream is done with them.
        rgb.record_stream(main)
        xyz.record_stream(main)
        return rest(self._pose_dev, self._K_dev, rgb, xyz, crop_tf, rendered)

    def _capture(self) -> None:
        """Capture `_step_body` into one CUDA graph (the pose buffer is kept as it was)."""
        saved = self._pose_dev.clone()
        # Warm-up runs start from a pose in front of the camera, whatever the buffer held.
        self._graph = capture_graph(
            self._step_body, self.device, warmup=3,
            reset=lambda: self._pose_dev.copy_(self._plausible_pose()))
        self.captures += 1
        self._pose_dev.copy_(saved)
        torch.cuda.synchronize(self.device)

    def _plausible_pose(self) -> torch.Tensor:
        """Return a pose in front of the camera (warm-up only): object 4 diameters away."""
        pose = torch.eye(4, device=self.device).reshape(1, 4, 4).clone()
        pose[0, 2, 3] = max(0.3, 4.0 * self.cfg.diameter)
        return pose

    # ------------------------------------------------------------------ public API
    @property
    def has_pose(self) -> bool:
        """Whether a pose has been set with `reset`."""
        return self._has_pose

    def reset(self, pose) -> None:
        """
        Set the current pose.

        Args:
            pose: (4,4) object -> camera in the original mesh frame, metres; None clears it.
        """
        if pose is None:
            self._has_pose = False
            return
        T = np.asarray(pose, dtype=np.float64).reshape(4, 4)
        if not np.all(np.isfinite(T)):
            raise FrameError("initial pose contains NaN/Inf")
        centred = torch.as_tensor(original_to_centred(T, self.mesh.center),
                                  dtype=torch.float32).reshape(1, 4, 4)
        self._pose_dev.copy_(centred.to(self.device))
        self._has_pose = True

    def track_staged(self) -> TrackResult:
        """Track the frame currently in `self.staging`; returns the new pose."""
        if not self._has_pose:
            raise RuntimeError("Tracker.track called before reset(pose): no initial pose")
        t0 = time.perf_counter()
        if self._graph is not None:
            self._graph.replay()
        else:
            with torch.no_grad():
                self._step_body()
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()
        out = self._out_host.numpy().astype(np.float64)
        pose = centred_to_original(out[:16].reshape(4, 4), self.mesh.center)
        ms = (time.perf_counter() - t0) * 1e3
        return TrackResult(pose=pose, quality=float(out[16]), ms=ms)

    def track(self, rgb: np.ndarray, depth: np.ndarray) -> TrackResult:
        """
        Copy one frame into the staging buffers and track it.

        Args:
            rgb: (H,W,3) uint8 RGB.
            depth: (H,W) float32 metres (0 = no reading) or uint16 millimetres.
        """
        H, W = self._size
        if rgb.shape != (H, W, 3) or rgb.dtype != np.uint8:
            raise FrameError(f"rgb must be ({H},{W},3) uint8, got {rgb.shape} {rgb.dtype}")
        if depth.shape != (H, W):
            raise FrameError(f"depth must be ({H},{W}), got {depth.shape}")
        np.copyto(self.staging.rgb, rgb)
        if depth.dtype == np.uint16:
            depth_mm_to_m(depth, out=self.staging.depth)
        else:
            np.copyto(self.staging.depth, depth, casting="same_kind")
            # NaN/Inf mean "no reading" (REP 118); the step treats 0 as no reading.
            bad = ~np.isfinite(self.staging.depth)
            if bad.any():
                self.staging.depth[bad] = 0.0
        return self.track_staged()
