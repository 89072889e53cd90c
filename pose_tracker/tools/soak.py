# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Long-run (soak) check of the tracker: memory stays flat and the graph is captured once.

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

from pose_tracker.tools.cli_args import (add_refinement_args, exits_on_user_error, image_size,
                                         refinement_kwargs)
from pose_tracker.mesh import centred_to_original, Mesh
from pose_tracker.model_loading import (load_object_mesh, load_refiner_weights,
                                        resolve_device_name)
from pose_tracker.network.presets import build_preset, NARROW
from pose_tracker.network.refinenet import RefineNet
from pose_tracker.render.renderer import MeshRenderer
from pose_tracker.synth.simple_scene import (background, default_camera, ellipsoid_mesh,
                                             render_frame)
from pose_tracker.tracker import Tracker

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
    """
    Summarise a memory series: value at the end of warm-up and at the end, growth, slope.

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
def trajectory(n: int, distance: float, diameter: float) -> np.ndarray:
    """
    Return (n,4,4) float64 centred-object -> camera poses along a smooth loop.

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


@dataclass
class Stream:
    """
    A pool of frames played back and forth, with the true poses (original mesh frame).

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
    empty_depth = bg_depth + rng.normal(0.0, 0.002, size=bg_depth.shape).astype(np.float32)
    return Stream(np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames]),
                  centred_to_original(poses_c, mesh.center), bg_rgb.copy(), empty_depth)


# ---------------------------------------------------------------------------- the run


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog="python -m pose_tracker.tools.soak",
                                description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=20000, help="frames to track")
    p.add_argument("--device", default="auto",
                   help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
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
        return RefineNet(**NARROW).eval()  # the CLI's 'tiny' is the narrow test network
    if spec == "official":
        return build_preset("official").eval()
    return load_refiner_weights(spec)


class MemorySamples:
    """Host RSS and CUDA allocator bytes sampled at frame indices."""

    def __init__(self, device: torch.device):
        self.device = device
        self.frames: List[int] = []
        self.rss: List[Optional[int]] = []
        self.alloc: List[Optional[int]] = []
        self.reserved: List[Optional[int]] = []

    def sample(self, frame: int) -> None:
        """Record the memory now, as seen before frame `frame`."""
        self.frames.append(frame)
        self.rss.append(host_rss_bytes()[0])
        a, r = gpu_memory_bytes(self.device)
        self.alloc.append(a)
        self.reserved.append(r)

    def table(self) -> list:
        """Return [[frame, rss, allocated, reserved], ...] (bytes, None where unknown)."""
        return [[f, s, a, r] for f, s, a, r in zip(self.frames, self.rss, self.alloc,
                                                   self.reserved)]


@dataclass
class Tracked:
    """Per-frame results of a soak: step and wall times (ms), quality, non-finite count."""

    step_ms: List[float]
    wall_ms: List[float]
    quality: List[float]
    nonfinite: int = 0
    frames: int = 0
    seconds: float = 0.0


def _stage_frame(tracker: Tracker, stream: Stream, i: int, gap: bool) -> None:
    """Copy frame `i` of the stream (or the empty scene during a gap) into the staging."""
    if gap:
        np.copyto(tracker.staging.rgb, stream.empty_rgb)
        np.copyto(tracker.staging.depth, stream.empty_depth)
    else:
        k = stream.index(i)
        np.copyto(tracker.staging.rgb, stream.rgb[k])
        np.copyto(tracker.staging.depth, stream.depth[k])


def track_stream(args: argparse.Namespace, tracker: Tracker, stream: Stream,
                 memory: MemorySamples) -> Tracked:
    """Track `args.frames` frames (gaps, re-initialisation, memory samples, time limit)."""
    out = Tracked([], [], [])
    t_start = time.perf_counter()
    gap_left = 0
    for i in range(args.frames):
        if args.sample_every > 0 and i % args.sample_every == 0:
            memory.sample(i)
        if args.gap_every > 0 and i > 0 and i % args.gap_every == 0:
            gap_left = args.gap_frames
        t0 = time.perf_counter()
        _stage_frame(tracker, stream, i, gap_left > 0)
        result = tracker.track_staged()
        out.wall_ms.append((time.perf_counter() - t0) * 1e3)
        out.step_ms.append(result.ms)
        out.quality.append(result.quality)
        if not np.all(np.isfinite(result.pose)):
            out.nonfinite += 1
        if gap_left > 0:
            gap_left -= 1
            if gap_left == 0:  # the object is back: re-initialise, as a new initial pose would
                tracker.reset(stream.poses[stream.index(i + 1)])
        out.frames = i + 1
        elapsed = time.perf_counter() - t_start
        if not args.quiet and out.frames % max(args.sample_every * 10, 1) == 0:
            rss = memory.rss[-1]
            print(f"frame {out.frames}: {1e3 * elapsed / out.frames:.1f} ms/frame, "
                  f"rss {rss / MB if rss else float('nan'):.1f} MB", file=sys.stderr)
        if args.max_seconds and elapsed > args.max_seconds:
            break
    memory.sample(out.frames)
    out.seconds = time.perf_counter() - t_start
    return out


def failures(report: dict, args: argparse.Namespace) -> List[str]:
    """Return the failed checks of a report (memory growth, graph re-capture)."""
    out = []
    host = report["host_rss"]
    if host and host["growth_mb"] > args.host_tolerance_mb:
        out.append(f"host RSS grew {host['growth_mb']:.1f} MB after warm-up "
                   f"(> {args.host_tolerance_mb:g} MB)")
    for key in ("gpu_allocated", "gpu_reserved"):
        g = report[key]
        if g and g["growth_mb"] > args.gpu_tolerance_mb:
            out.append(f"CUDA {key[4:]} memory grew {g['growth_mb']:.3f} MB after warm-up "
                       f"(> {args.gpu_tolerance_mb:g} MB)")
    if report["captures"] != report["captures_at_start"]:
        out.append(f"the CUDA graph was re-captured ({report['captures_at_start']} -> "
                   f"{report['captures']} captures)")
    return out


def make_report(args: argparse.Namespace, mesh: Mesh, tracker: Tracker, captures_at_start: int,
                tracked: Tracked, memory: MemorySamples, rss_source: str) -> dict:
    """Assemble the report of a finished soak (see the module docstring), checks included."""
    device = torch.device(args.device)
    warmup = min(args.warmup, max(tracked.frames - 1, 0))
    rss = memory.rss
    report = {
        "frames": tracked.frames, "requested_frames": args.frames,
        "truncated": tracked.frames < args.frames, "seconds": tracked.seconds,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
        "size": list(args.size), "mesh": args.mesh or f"ellipsoid ({len(mesh.faces)} faces)",
        "network": args.net, "refinement": refinement_kwargs(args),
        "use_cuda_graph": tracker.use_cuda_graph,
        "captures_at_start": captures_at_start, "captures": tracker.captures,
        "warmup": warmup, "ms_median": float(np.median(tracked.step_ms)),
        "ms_p99": float(np.percentile(tracked.step_ms, 99)),
        "wall_ms_median": float(np.median(tracked.wall_ms)),
        "quality_median": float(np.median(tracked.quality)),
        "nonfinite_poses": tracked.nonfinite, "rss_source": rss_source,
        "host_rss": growth(memory.frames, rss, warmup),
        "gpu_allocated": growth(memory.frames, memory.alloc, warmup),
        "gpu_reserved": growth(memory.frames, memory.reserved, warmup),
        "first_rss_mb": rss[0] / MB if rss[0] is not None else None,
        "samples": memory.table(),
    }
    report["failures"] = failures(report, args)
    report["ok"] = not report["failures"]
    return report


def run(args: argparse.Namespace) -> dict:
    """Run the soak described by parsed `args`; return the report (see the module docstring)."""
    args.device = resolve_device_name(args.device)
    torch.manual_seed(args.seed)
    mesh = load_object_mesh(args.mesh) if args.mesh else ellipsoid_mesh(args.faces)
    K = default_camera(args.size, pixel_centred=True)
    tracker = Tracker(mesh, K, args.size, weights=_network(args.net), device=args.device,
                      **refinement_kwargs(args), use_cuda_graph=not args.no_graph)
    captures_at_start = tracker.captures
    stream = make_stream(tracker.renderer, mesh, K, args.size, args.pool, args.seed)
    tracker.reset(stream.poses[0])
    memory = MemorySamples(torch.device(args.device))
    rss_source = host_rss_bytes()[1]
    tracked = track_stream(args, tracker, stream, memory)
    return make_report(args, mesh, tracker, captures_at_start, tracked, memory, rss_source)


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


@exits_on_user_error
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
