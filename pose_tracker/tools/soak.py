# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Long-run (soak) check of the tracker: memory stays flat and the graph is captured once.

    python -m pose_tracker.tools.soak --frames 20000 --device cuda --json out/soak_cuda.json
    python -m pose_tracker.tools.soak --frames 2000 --device cpu --size 120x160 --net tiny

Tracks a synthetic RGB-D stream frame after frame, the way the node does (write the frame into
`Tracker.staging`, `track_staged()`), and samples host RSS and `torch.cuda.memory_allocated` /
`memory_reserved` every `--sample-every` frames. The stream: the object (an ellipsoid, or
`--mesh`) rendered by the tracker's own renderer over a textured background plane, at poses along
a smooth trajectory; a pool of frames (each with its own sensor noise) is played back and forth.
Every `--gap-every` frames the object leaves the scene for `--gap-frames` frames (the quality
drops, as when the object is lost) and the tracker is then reset to the true pose, as a new
initial pose would.

Reports memory at the end of the warm-up (`--warmup` frames) and at the end, growth per 1000
frames (least-squares slope over the samples after warm-up), graph captures, step time median/p99
and quality, prints a summary, writes it as JSON (`--json`) and exits with 1 when host RSS grew by
more than `--host-tolerance-mb`, GPU memory by more than `--gpu-tolerance-mb`, or the graph was
re-captured; 0 otherwise.
"""

import argparse
from dataclasses import dataclass
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
from scipy.spatial.transform import Rotation
import torch

from pose_tracker.tools.cli_args import add_refinement_args, image_size, refinement_kwargs
from pose_tracker.crop.window import crop_window_tf
from pose_tracker.mesh import Mesh
from pose_tracker.model_loading import load_object_mesh, load_refiner_weights
from pose_tracker.network.refinenet import RefineNet
from pose_tracker.render.renderer import MeshRenderer
from pose_tracker.step import CROP_RATIO
from pose_tracker.tracker import Tracker

#: A small random-weight network for fast CPU soaks (same graph shape as the real one).
TINY_ARCH = dict(widths=(8, 16, 32, 64), nhead=2, dim_feedforward=64)
MB = float(1 << 20)


# ---------------------------------------------------------------------------- memory
def host_rss_bytes() -> Tuple[Optional[int], str]:
    """Return the resident set size of this process in bytes and where it was read from."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.Process().memory_info().rss), "psutil"
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE"), "/proc/self/statm"
    except (OSError, ValueError, IndexError):
        return None, "unavailable"


def gpu_memory_bytes(device: torch.device) -> Tuple[Optional[int], Optional[int]]:
    """Return (allocated, reserved) bytes of torch's CUDA allocator; (None, None) on CPU."""
    if device.type != "cuda":
        return None, None
    return int(torch.cuda.memory_allocated(device)), int(torch.cuda.memory_reserved(device))


def growth(frames: List[int], values: List[Optional[int]], warmup: int) -> dict:
    """Summarise a memory series: value at the end of warm-up and at the end, growth, slope.

    Args:
        frames: frame index of each sample.
        values: bytes at each sample (None entries are ignored).
        warmup: first frame index that counts (the reference sample is the first at or after).

    Returns:
        dict with `warm_mb`, `end_mb`, `growth_mb` (end - warm), `slope_mb_per_1k_frames` (least
        squares over the samples after warm-up) and `max_mb`; empty when there is no data.
    """
    pts = [(f, v) for f, v in zip(frames, values) if v is not None and f >= warmup]
    if not pts:
        return {}
    f = np.array([p[0] for p in pts], dtype=np.float64)
    v = np.array([p[1] for p in pts], dtype=np.float64) / MB
    slope = float(np.polyfit(f, v, 1)[0] * 1000.0) if len(pts) >= 3 and np.ptp(f) > 0 else 0.0
    return {"warm_mb": float(v[0]), "end_mb": float(v[-1]), "growth_mb": float(v[-1] - v[0]),
            "slope_mb_per_1k_frames": slope, "max_mb": float(v.max())}


# ---------------------------------------------------------------------------- the stream
def default_camera(size: Tuple[int, int]) -> np.ndarray:
    """Return (3,3) intrinsics of a 600 px focal length camera scaled to `size` = (H, W)."""
    H, W = size
    f = 600.0 * W / 640.0
    return np.array([[f, 0.0, (W - 1) / 2.0], [0.0, f, (H - 1) / 2.0], [0.0, 0.0, 1.0]])


def trajectory(n: int, distance: float, diameter: float) -> np.ndarray:
    """Return (n,4,4) float64 centred-object -> camera poses along a smooth loop.

    The object moves by about a third of its diameter and turns by up to 25 degrees around the
    starting pose (identity rotation, `distance` metres in front of the camera).
    """
    poses = np.tile(np.eye(4), (n, 1, 1))
    for k in range(n):
        a = 2.0 * math.pi * k / max(n, 1)
        poses[k, :3, 3] = [0.15 * diameter * math.sin(a), 0.1 * diameter * math.sin(2 * a),
                           distance + 0.1 * diameter * math.cos(a)]
        rotvec = np.radians([25.0 * math.sin(a), 20.0 * math.sin(a + 1.0), 10.0 * math.cos(a)])
        poses[k, :3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    return poses


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
    """Render the object over a background, full frame, with depth noise and holes.

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


@dataclass
class Stream:
    """A pool of frames played back and forth, with the true poses (original mesh frame).

    Attributes:
        rgb: (P,H,W,3) uint8.
        depth: (P,H,W) float32 metres.
        poses: (P,4,4) float64 object -> camera, original mesh frame.
        empty_rgb: (H,W,3) uint8 frame without the object.
        empty_depth: (H,W) float32 metres.
    """

    rgb: np.ndarray
    depth: np.ndarray
    poses: np.ndarray
    empty_rgb: np.ndarray
    empty_depth: np.ndarray

    def index(self, i: int) -> int:
        """Pool index of frame i (ping-pong, so consecutive frames stay consecutive poses)."""
        n = len(self.poses)
        if n == 1:
            return 0
        k = i % (2 * n - 2)
        return k if k < n else 2 * n - 2 - k


def make_stream(renderer: MeshRenderer, mesh: Mesh, K: np.ndarray, size: Tuple[int, int],
                pool: int = 32, seed: int = 0) -> Stream:
    """Render `pool` frames of the object moving along `trajectory`, and one without it."""
    diameter = float(mesh.diameter)
    distance = max(0.3, 3.0 * diameter)
    poses_c = trajectory(pool, distance, diameter)
    bg_rgb, bg_depth = background(size, distance + diameter, seed)
    rng = np.random.default_rng(seed)
    frames = [render_frame(renderer, p, K, diameter, bg_rgb, bg_depth, rng) for p in poses_c]
    unshift = np.eye(4)
    unshift[:3, 3] = -np.asarray(mesh.center, dtype=np.float64)
    empty_depth = bg_depth + rng.normal(0.0, 0.002, size=bg_depth.shape).astype(np.float32)
    return Stream(np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames]),
                  poses_c @ unshift, bg_rgb.copy(), empty_depth)


# ---------------------------------------------------------------------------- the run


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog="python -m pose_tracker.tools.soak",
                                description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=20000, help="frames to track")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", type=image_size, default=(480, 640), help="image size HxW")
    p.add_argument("--mesh", default=None, help="mesh file in metres (default: an ellipsoid)")
    p.add_argument("--faces", type=int, default=1280, help="faces of the default ellipsoid")
    p.add_argument("--net", default="shipped",
                   help="'shipped' (pose_tracker/weights), 'tiny' (small random network, fast "
                   "on CPU), 'official' (FoundationPose shape, random) or a checkpoint path")
    add_refinement_args(p)
    p.add_argument("--no-graph", action="store_true", help="eager on CUDA too")
    p.add_argument("--pool", type=int, default=32, help="distinct frames in the stream")
    p.add_argument("--gap-every", type=int, default=1000,
                   help="frames between the object leaving the scene (0 = never)")
    p.add_argument("--gap-frames", type=int, default=10, help="frames the object stays away")
    p.add_argument("--warmup", type=int, default=100, help="frames before memory must be flat")
    p.add_argument("--sample-every", type=int, default=100, help="memory sampling period")
    p.add_argument("--max-seconds", type=float, default=0.0,
                   help="stop after this long even if fewer frames were tracked (0 = no limit)")
    p.add_argument("--host-tolerance-mb", type=float, default=16.0,
                   help="largest host RSS growth after warm-up")
    p.add_argument("--gpu-tolerance-mb", type=float, default=0.0,
                   help="largest CUDA allocated/reserved growth after warm-up")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the report here")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def _network(spec: str) -> RefineNet:
    if spec == "shipped":
        return load_refiner_weights()
    if spec == "tiny":
        return RefineNet(**TINY_ARCH).eval()
    if spec == "official":
        return RefineNet().eval()
    return load_refiner_weights(spec)


def run(args: argparse.Namespace) -> dict:
    """Run the soak described by parsed `args`; return the report (see the module docstring)."""
    torch.manual_seed(args.seed)
    if args.mesh:
        mesh = load_object_mesh(args.mesh)
    else:
        from pose_tracker.tools.bench import ellipsoid_mesh
        mesh = ellipsoid_mesh(args.faces)
    device = torch.device(args.device)
    K = default_camera(args.size)
    tracker = Tracker(mesh, K, args.size, weights=_network(args.net), device=args.device,
                      **refinement_kwargs(args), use_cuda_graph=not args.no_graph)
    captures_at_start = tracker.captures
    stream = make_stream(tracker.renderer, mesh, K, args.size, args.pool, args.seed)
    tracker.reset(stream.poses[0])

    frames, rss, alloc, reserved = [], [], [], []
    step_ms, wall_ms, quality = [], [], []
    nonfinite = 0
    rss_source = host_rss_bytes()[1]
    t_start = time.perf_counter()
    n_done = 0
    gap_left = 0
    for i in range(args.frames):
        if args.sample_every > 0 and i % args.sample_every == 0:
            frames.append(i)
            rss.append(host_rss_bytes()[0])
            a, r = gpu_memory_bytes(device)
            alloc.append(a)
            reserved.append(r)
        if args.gap_every > 0 and i > 0 and i % args.gap_every == 0:
            gap_left = args.gap_frames
        t0 = time.perf_counter()
        if gap_left > 0:
            np.copyto(tracker.staging.rgb, stream.empty_rgb)
            np.copyto(tracker.staging.depth, stream.empty_depth)
        else:
            k = stream.index(i)
            np.copyto(tracker.staging.rgb, stream.rgb[k])
            np.copyto(tracker.staging.depth, stream.depth[k])
        result = tracker.track_staged()
        wall_ms.append((time.perf_counter() - t0) * 1e3)
        step_ms.append(result.ms)
        quality.append(result.quality)
        if not np.all(np.isfinite(result.pose)):
            nonfinite += 1
        if gap_left > 0:
            gap_left -= 1
            if gap_left == 0:  # the object is back: re-initialise, as a new initial pose would
                tracker.reset(stream.poses[stream.index(i + 1)])
        n_done = i + 1
        elapsed = time.perf_counter() - t_start
        if not args.quiet and n_done % max(args.sample_every * 10, 1) == 0:
            print(f"frame {n_done}: {1e3 * elapsed / n_done:.1f} ms/frame, "
                  f"rss {rss[-1] / MB if rss[-1] else float('nan'):.1f} MB", file=sys.stderr)
        if args.max_seconds and elapsed > args.max_seconds:
            break
    frames.append(n_done)
    rss.append(host_rss_bytes()[0])
    a, r = gpu_memory_bytes(device)
    alloc.append(a)
    reserved.append(r)
    elapsed = time.perf_counter() - t_start

    warmup = min(args.warmup, max(n_done - 1, 0))
    report = {
        "frames": n_done, "requested_frames": args.frames, "truncated": n_done < args.frames,
        "seconds": elapsed, "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
        "size": list(args.size), "mesh": args.mesh or f"ellipsoid ({len(mesh.faces)} faces)",
        "network": args.net, "refinement": refinement_kwargs(args),
        "use_cuda_graph": tracker.use_cuda_graph,
        "captures_at_start": captures_at_start, "captures": tracker.captures,
        "warmup": warmup, "ms_median": float(np.median(step_ms)),
        "ms_p99": float(np.percentile(step_ms, 99)), "wall_ms_median": float(np.median(wall_ms)),
        "quality_median": float(np.median(quality)), "nonfinite_poses": nonfinite,
        "rss_source": rss_source,
        "host_rss": growth(frames, rss, warmup),
        "gpu_allocated": growth(frames, alloc, warmup),
        "gpu_reserved": growth(frames, reserved, warmup),
        "first_rss_mb": rss[0] / MB if rss[0] is not None else None,
        "samples": [[f, s, a, r] for f, s, a, r in zip(frames, rss, alloc, reserved)],
    }
    failures = []
    host = report["host_rss"]
    if host and host["growth_mb"] > args.host_tolerance_mb:
        failures.append(f"host RSS grew {host['growth_mb']:.1f} MB after warm-up "
                        f"(> {args.host_tolerance_mb:g} MB)")
    for key in ("gpu_allocated", "gpu_reserved"):
        g = report[key]
        if g and g["growth_mb"] > args.gpu_tolerance_mb:
            failures.append(f"CUDA {key[4:]} memory grew {g['growth_mb']:.3f} MB after warm-up "
                            f"(> {args.gpu_tolerance_mb:g} MB)")
    if tracker.captures != captures_at_start:
        failures.append(f"the CUDA graph was re-captured ({captures_at_start} -> "
                        f"{tracker.captures} captures)")
    report["failures"] = failures
    report["ok"] = not failures
    return report


def format_report(r: dict) -> str:
    """Return a short human-readable summary of a report."""
    def mem(g: dict) -> str:
        if not g:
            return "n/a"
        return (f"{g['warm_mb']:.1f} -> {g['end_mb']:.1f} MB (growth {g['growth_mb']:+.2f} MB, "
                f"{g['slope_mb_per_1k_frames']:+.3f} MB/1k frames)")

    lines = [
        f"{r['frames']} frames ({'truncated, ' if r['truncated'] else ''}{r['seconds']:.0f} s) "
        f"on {r['device']}{' ' + r['gpu'] if r['gpu'] else ''}, {r['size'][0]}x{r['size'][1]}, "
        f"{r['mesh']}, network {r['network']}, refinement {r['refinement']}, "
        f"graph {'on' if r['use_cuda_graph'] else 'off'}",
        f"step ms median {r['ms_median']:.2f} p99 {r['ms_p99']:.2f}; quality median "
        f"{r['quality_median']:.2f}; non-finite poses {r['nonfinite_poses']}",
        f"host RSS ({r['rss_source']}, after {r['warmup']} warm-up frames): {mem(r['host_rss'])}",
        f"CUDA allocated: {mem(r['gpu_allocated'])}",
        f"CUDA reserved:  {mem(r['gpu_reserved'])}",
        f"graph captures: {r['captures_at_start']} at start, {r['captures']} at the end",
        "OK" if r["ok"] else "FAILED: " + "; ".join(r["failures"]),
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status (1 when a check failed)."""
    args = build_parser().parse_args(argv)
    report = run(args)
    print(format_report(report))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
