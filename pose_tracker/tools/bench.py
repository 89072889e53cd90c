# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Benchmark of the per-frame step: eager vs graph replay, and each stage on its own.

    python -m pose_tracker.tools.bench --device cuda --faces 5000 --network-iterations 2 \
        --icp-iterations 2 --json out.json

Prints a table and writes JSON with medians and p99 in milliseconds (`graph_ms_median`,
`eager_ms_median`, `stages.render.ms_median`, ...), the mesh size, refinement iterations, dtype,
GPU name and torch version. The scene: an ellipsoid mesh (textured by vertex colours) of diameter
0.2 m at 0.6 m in front of a 640x480 camera, over a noisy depth plane, so the rasterizer, crops
and network do the same work as on a real frame.
"""

import argparse
import json
import platform
import time
from typing import Callable, Dict, List

import numpy as np
import torch

from pose_tracker.tools.cli_args import (add_refinement_args, exits_on_user_error,
                                         refinement_kwargs)
from pose_tracker.crop.normalize import normalize_pair
from pose_tracker.crop.warp import crop_real
from pose_tracker.crop.window import crop_window_tf
from pose_tracker.geometry.pose import apply_refiner_update
from pose_tracker.model_loading import (load_object_mesh, load_refiner_weights,
                                        resolve_device_name)
from pose_tracker.network.presets import build_preset, parse_widths, PRESETS
from pose_tracker.icp import icp_update
from pose_tracker.step import CROP_RATIO, frame_to_real_side, observed_crop
from pose_tracker.synth.simple_scene import ellipsoid_mesh, K_DEFAULT, synthetic_frame
from pose_tracker.tracker import Tracker


def time_callable(fn: Callable[[], None], device: torch.device, repeat: int,
                  warmup: int = 5) -> List[float]:
    """
    Time `fn` `repeat` times after `warmup` calls; milliseconds per call.

    CUDA: device events around each call (the host launch is included because the next call
    starts after the event). CPU: perf_counter.
    """
    for _ in range(warmup):
        fn()
    times = []
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        for _ in range(repeat):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    else:
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def summarize(times: List[float]) -> Dict[str, float]:
    """Median, p99, mean and count of a list of milliseconds."""
    arr = np.asarray(times)
    return {"ms_median": float(np.median(arr)), "ms_p99": float(np.percentile(arr, 99)),
            "ms_mean": float(arr.mean()), "n": int(arr.size)}


def as_graph(fn: Callable[[], None], device: torch.device) -> Callable[[], None]:
    """Capture `fn` (which writes only into static tensors) and return its replay."""
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream(device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def stage_benchmarks(tracker: Tracker, repeat: int) -> Dict[str, Dict[str, float]]:
    """Time render, crops, network and update separately (eager, and replayed graphs on CUDA)."""
    dev = tracker.device
    cfg = tracker.cfg
    K = tracker._K_dev
    pose = tracker._pose_dev.clone()
    rgb, xyz = frame_to_real_side(tracker._rgb_dev, tracker._depth_dev, K)
    crop_tf = crop_window_tf(pose, K, cfg.diameter, CROP_RATIO, cfg.crop_size)
    rendered = tracker.renderer.render(pose, K, crop_tf)
    a = normalize_pair(rendered.rgb, rendered.xyz, pose[:, :3, 3], cfg.diameter)
    out = {}
    sink = {}

    def render():
        sink["r"] = tracker.renderer.render(pose, K, crop_tf)

    def crops():
        rgb_b, xyz_b = crop_real(rgb, xyz, crop_tf, cfg.crop_size)
        sink["b"] = normalize_pair(rgb_b, xyz_b, pose[:, :3, 3], cfg.diameter)
        sink["w"] = crop_window_tf(pose, K, cfg.diameter, CROP_RATIO, cfg.crop_size)

    def network():
        sink["n"] = tracker.network(a, a)

    trans = torch.zeros(1, 3, device=dev)
    rot = torch.full((1, 3), 0.1, device=dev)

    def update():
        sink["u"] = apply_refiner_update(pose, trans, rot, cfg.diameter, cfg.rot_normalizer)

    def preprocess():
        sink["p"] = frame_to_real_side(tracker._rgb_dev, tracker._depth_dev, K)

    # One depth refinement iteration as the tracker runs it: both candidates (batch 2).
    pose2, K2, tf2 = pose.expand(2, 4, 4), K.expand(2, 3, 3), crop_tf.expand(2, 3, 3)

    def icp_iteration():
        ren = tracker.renderer.render_geometry(pose2, K2, tf2)
        observed = observed_crop(xyz, tf2, cfg)
        sink["i"] = icp_update(pose2, ren.xyz, ren.mask, observed, cfg.icp.gate(0), cfg.icp,
                               cfg.diameter)

    with torch.no_grad():
        for name, fn in [("preprocess", preprocess), ("render", render), ("crops", crops),
                         ("network", network), ("update", update),
                         ("icp_iteration_batch2", icp_iteration)]:
            entry = {"eager": summarize(time_callable(fn, dev, repeat))}
            if dev.type == "cuda":
                entry["graph"] = summarize(time_callable(as_graph(fn, dev), dev, repeat))
            out[name] = entry
    return out


def run(args) -> dict:
    """Build a tracker for the requested mesh and measure it; return the result dict."""
    args.device = resolve_device_name(args.device)
    torch.manual_seed(0)
    mesh = load_object_mesh(args.mesh) if args.mesh else ellipsoid_mesh(args.faces)
    if args.width == "shipped":
        model = load_refiner_weights()
    elif args.width in PRESETS:
        model = build_preset(args.width)
    else:
        model = parse_widths(args.width)
    dev = torch.device(args.device)
    rgb, depth = synthetic_frame()
    pose = np.eye(4)
    pose[:3, 3] = [0.02, -0.01, 0.6]
    results = {}

    def measure(mode: str, graph: bool, compile_mode: str,
                overlap: bool = True) -> Dict[str, float]:
        tracker = Tracker(mesh, K_DEFAULT, rgb.shape[:2], weights=model, device=args.device,
                          **refinement_kwargs(args), use_cuda_graph=graph,
                          half=not args.fp32, compile=compile_mode,
                          overlap=overlap and not args.no_overlap)
        tracker.reset(pose)
        np.copyto(tracker.staging.rgb, rgb)
        np.copyto(tracker.staging.depth, depth)
        repeat = args.repeat if dev.type == "cuda" else max(3, args.repeat // 20)

        # What the node does per frame: one track_staged() (upload, step, pose download, sync).
        # The pose is not reset between frames (a reset is a host->device copy the node does
        # not make per frame); every kernel has a fixed shape, so the time does not depend on
        # where the pose goes.
        def frame():
            tracker.track_staged()

        timing = summarize(time_callable(frame, dev, repeat, warmup=3))
        if mode == "eager":
            results["stages"] = stage_benchmarks(tracker, repeat)
            results["faces"] = int(len(tracker.mesh.faces))
            results["dtype"] = str(next(tracker.network.parameters()).dtype)
            results["raster_window"] = int(getattr(tracker.renderer, "window", 0))
        return timing

    modes = [("eager", False, "none")]
    if dev.type == "cuda":
        modes.append(("graph", True, "none"))
        if args.compile != "none":
            modes.append(("graph_compiled", True, args.compile))
            if args.compare_overlap:
                modes.append(("graph_compiled_one_stream", True, args.compile))
    for mode, graph, compile_mode in modes:
        overlap = not mode.endswith("one_stream")
        if compile_mode == "none":
            results[mode] = measure(mode, graph, compile_mode, overlap)
            continue
        try:
            results[mode] = measure(mode, graph, compile_mode, overlap)
        except Exception as exc:  # a compiler failure must not hide the other numbers
            results["compile_error"] = f"{type(exc).__name__}: {exc}"[:500]
    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else None
    # The graph the user asked for: compiled when --compile was given, else the plain capture.
    best_graph = results.get("graph_compiled", results.get("graph", {}))
    report = {
        "device": str(dev), "gpu": gpu, "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__, "refinement": refinement_kwargs(args),
        "faces": results["faces"],
        "requested_faces": args.faces, "mesh": args.mesh or "ellipsoid",
        "network": args.width, "dtype": results["dtype"], "compile": args.compile,
        "raster_window": results["raster_window"], "crop": 160,
        "eager_ms_median": results["eager"]["ms_median"],
        "eager_ms_p99": results["eager"]["ms_p99"],
        "graph_plain_ms_median": results.get("graph", {}).get("ms_median"),
        "graph_ms_median": best_graph.get("ms_median"),
        "graph_ms_p99": best_graph.get("ms_p99"),
        "overlap": dev.type == "cuda" and not args.no_overlap,
        "graph_compiled_one_stream_ms_median":
            results.get("graph_compiled_one_stream", {}).get("ms_median"),
        "timed": "Tracker.track_staged(): frame upload, step, pose download, host sync",
        "stages": results["stages"],
        "compile_error": results.get("compile_error"),
    }
    if report["graph_ms_median"]:
        report["speedup_graph_vs_eager"] = report["eager_ms_median"] / report["graph_ms_median"]
    return report


def format_report(r: dict) -> str:
    """Human-readable table of a report."""
    lines = [f"device={r['device']} gpu={r['gpu']} torch={r['torch']} faces={r['faces']} "
             f"refinement={r['refinement']} network={r['network']} dtype={r['dtype']} "
             f"compile={r['compile']} window={r['raster_window']}",
             f"{'what':<22}{'median ms':>12}{'p99 ms':>12}"]
    lines.append(f"{'frame eager':<22}{r['eager_ms_median']:>12.3f}{r['eager_ms_p99']:>12.3f}")
    if r["graph_ms_median"] is not None:
        if r["compile"] != "none":
            lines.append(f"{'frame graph (plain)':<22}{r['graph_plain_ms_median']:>12.3f}")
        lines.append(f"{'frame graph replay':<22}{r['graph_ms_median']:>12.3f}"
                     f"{r['graph_ms_p99']:>12.3f}")
        if r.get("graph_compiled_one_stream_ms_median"):
            lines.append(f"{'graph, one stream':<22}"
                         f"{r['graph_compiled_one_stream_ms_median']:>12.3f}")
        lines.append(f"speed-up graph vs eager: {r['speedup_graph_vs_eager']:.1f}x")
    for name, entry in r["stages"].items():
        for mode, s in entry.items():
            lines.append(f"{name + ' (' + mode + ')':<22}{s['ms_median']:>12.3f}"
                         f"{s['ms_p99']:>12.3f}")
    return "\n".join(lines)


@exits_on_user_error
def main(argv=None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto",
                   help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    p.add_argument("--faces", type=int, default=5000, help="approximate face count")
    p.add_argument("--mesh", default=None, help="benchmark this mesh file instead")
    add_refinement_args(p)
    p.add_argument("--width", default="official",
                   help="network: a size of pose_tracker.network.presets ('official': the "
                   "FoundationPose shape, 'small', ...; random weights), 'shipped' (our trained "
                   "small refiner) or widths, e.g. 32,64,128,256")
    p.add_argument("--fp32", action="store_true", help="float32 network on CUDA")
    p.add_argument("--compile", default="none", choices=("none", "network", "step"),
                   help="torch.compile the network or the whole step (CUDA)")
    p.add_argument("--no-overlap", action="store_true",
                   help="one CUDA stream (no frame-filtering || first-render overlap)")
    p.add_argument("--compare-overlap", action="store_true",
                   help="also time the compiled graph on one stream")
    p.add_argument("--repeat", type=int, default=200)
    p.add_argument("--json", default=None, help="write the report here")
    args = p.parse_args(argv)
    report = run(args)
    print(format_report(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
