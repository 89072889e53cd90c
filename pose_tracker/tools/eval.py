# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Evaluate the tracker on a recorded RGB-D sequence with ground truth.

    python -m pose_tracker.tools.eval --seq DIR --object NAME --mesh MESH [--weights W]
        [--init gt|perturbed|register] [--network-iterations N] [--icp-iterations M] [--device D]
        [--seed S] [--points points.xyz] --json OUT [--plot OUT.png]
        [--convergence N [--trials T] [--frame I]]

Tracking mode (default): reset the tracker to the ground truth of the first frame (or to it moved
by a seeded 1 cm / 10 degree error with ``--init perturbed``), track every frame, and report
per-frame and summary ADD / ADD-S, their AUC up to 10 cm (YCB-Video convention), translation and
rotation errors, lost frames and time per frame. Convergence mode (``--convergence N``): on
one frame, start from ``--trials`` perturbed poses and record the error after each of N
single-iteration refinement steps. Registration (``--init register``): the first pose comes from
`pose_tracker.registration` on the first frame and its mask (``masks/<object>/``);
``--register-only`` scores only that, for every object of the sequence with a mask on its first
frame (or ``--object``). Errors use the model points (``points.xyz`` next to the
mesh, or ``--points``), else the mesh vertices, all in the original mesh frame.
"""

import argparse
import json
import math
from pathlib import Path
import platform
import sys
import time
from typing import Iterable, List, Optional, Sequence as SequenceT

import numpy as np

from pose_tracker import metrics
from pose_tracker.errors import PoseTrackerError
from pose_tracker.evaluation import (error_summary, finite_mean, finite_median, frame_errors,
                                     LOST_THRESHOLD_M, ROT_THRESHOLD_DEG)
from pose_tracker.tools.cli_args import (add_refinement_args, exits_on_user_error,
                                         refinement_kwargs)

#: Model points used for the metrics are subsampled to at most this many (speed of ADD-S).
MAX_METRIC_POINTS = 4000


def rotation_about_axis(axis, angle_rad: float) -> np.ndarray:
    """Rodrigues' formula: (3,3) float64 rotation of ``angle_rad`` about the unit ``axis``."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + math.sin(angle_rad) * k + (1.0 - math.cos(angle_rad)) * (k @ k)


def perturb_pose(pose, rng: np.random.Generator, trans_m: float = 0.01, rot_deg: float = 10.0,
                 center=None) -> np.ndarray:
    """
    Move a pose by a translation of fixed norm and a rotation of fixed angle, random directions.

    Args:
        pose: (4,4) object->camera pose, metres.
        rng: numpy random generator (the direction and axis are drawn from it).
        trans_m: norm of the translation error, metres, along a uniformly random direction.
        rot_deg: angle of the rotation error, degrees, about a uniformly random axis.
        center: (3,) point in the object frame the rotation turns about (e.g. the model's
            bounding-box centre), so the error does not depend on where the mesh origin lies;
            None: the object-frame origin.

    Returns:
        (4,4) float64 perturbed pose: the object rotated about ``center`` and then shifted, so the
        centre moves by exactly ``trans_m`` and the rotation error is exactly ``rot_deg``.

    """
    T = np.asarray(pose, dtype=np.float64)
    c = np.zeros(3) if center is None else np.asarray(center, dtype=np.float64)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    axis = rng.normal(size=3)
    dR = rotation_about_axis(axis, math.radians(rot_deg))
    c_cam = T[:3, :3] @ c + T[:3, 3]
    out = np.eye(4)
    out[:3, :3] = dR @ T[:3, :3]
    out[:3, 3] = c_cam - out[:3, :3] @ c + trans_m * direction
    return out


def summarize(per_frame: List[dict]) -> dict:
    """Summary statistics of per-frame records (see `evaluate` for the keys)."""
    scored = [r for r in per_frame if r["add_m"] is not None]
    add_e = [r["add_m"] for r in scored]
    adds_e = [r["adds_m"] for r in scored]
    last = scored[-1] if scored else {}
    errors = error_summary(scored)
    lost = [r["index"] for r in scored if r["lost"]]
    ms = [r["ms"] for r in per_frame]
    wall = [r["wall_ms"] for r in per_frame]
    # The first frame pays one-off costs (allocations, cuDNN autotuning) on some backends.
    steady = ms[1:] if len(ms) > 1 else ms
    steady_wall = wall[1:] if len(wall) > 1 else wall
    return {
        "frames": len(per_frame),
        "frames_with_gt": len(scored),
        **errors,
        "add_acc_2cm": metrics.accuracy(add_e, 0.02) if scored else None,
        "adds_acc_2cm": metrics.accuracy(adds_e, 0.02) if scored else None,
        "add_last_m": last.get("add_m"),
        "adds_last_m": last.get("adds_m"),
        "lost_frames": len(lost),
        "lost_frame_indices": lost,
        "lost_criterion": f"ADD-S > {LOST_THRESHOLD_M} m or non-finite pose",
        "quality_mean": finite_mean([r["quality"] for r in per_frame]),
        "ms_per_frame_median": finite_median(steady),
        "ms_per_frame_mean": finite_mean(steady),
        "ms_first_frame": ms[0] if ms else None,
        "wall_ms_per_frame_median": finite_median(steady_wall),
    }


def evaluate(frames: Iterable, tracker, pts, init_pose, progress=None) -> dict:
    """
    Track a sequence from an initial pose and score every frame against its ground truth.

    Args:
        frames: iterable of frames with ``rgb`` (H,W,3) uint8, ``depth`` (H,W) float32 metres,
            ``gt_pose`` (4,4) metres or None, and optionally ``index`` and ``name``
            (e.g. a `pose_tracker.data.sequence.Sequence`).
        tracker: object with ``reset(pose)`` and ``track(rgb, depth) -> result`` where
            ``result.pose`` is (4,4) and optionally ``result.quality`` / ``result.ms``
            (the `pose_tracker.tracker.Tracker` API).
        pts: (N,3) model points in the original mesh frame, metres.
        init_pose: (4,4) pose the tracker is reset to before the first frame.
        progress: optional callable ``progress(i, record)`` called after each frame.

    Returns:
        dict: the keys of `summarize` plus ``per_frame``, a list of records with ``index``,
        ``name``, ``add_m``, ``adds_m``, ``t_err_m`` (metres), ``r_err_deg`` (None when the
        frame has no GT; inf when the pose is not finite), ``lost`` (bool), ``quality``, ``ms``
        (the tracker's own time of the step), ``wall_ms`` (around ``track``), ``pose`` and
        ``gt_pose`` ((4,4) nested lists or None).

    """
    pts = np.asarray(pts, dtype=np.float64)
    tracker.reset(np.asarray(init_pose, dtype=np.float64))
    per_frame = []
    for i, frame in enumerate(frames):
        t0 = time.perf_counter()
        result = tracker.track(frame.rgb, frame.depth)
        wall_ms = (time.perf_counter() - t0) * 1e3
        pose = np.asarray(result.pose, dtype=np.float64).reshape(4, 4)
        ms = getattr(result, "ms", None)
        record = {
            "index": int(getattr(frame, "index", i)),
            "name": str(getattr(frame, "name", i)),
            "add_m": None, "adds_m": None, "t_err_m": None, "r_err_deg": None,
            "lost": not bool(np.all(np.isfinite(pose))),
            "quality": float(getattr(result, "quality", float("nan"))),
            "ms": float(wall_ms if ms is None else ms),
            "wall_ms": float(wall_ms),
            "pose": pose.tolist(),
            "gt_pose": None,
        }
        gt = getattr(frame, "gt_pose", None)
        if gt is not None:
            record.update(frame_errors(pose, gt, pts))
            record["gt_pose"] = np.asarray(gt, dtype=np.float64).tolist()
            record["lost"] = not (record["adds_m"] <= LOST_THRESHOLD_M)
        per_frame.append(record)
        if progress is not None:
            progress(i, record)
    out = summarize(per_frame)
    out["per_frame"] = per_frame
    return out


def convergence(frame, tracker, pts, gt, n_iterations: int, rng: np.random.Generator,
                trials: int = 5, trans_m: float = 0.01, rot_deg: float = 10.0,
                center=None) -> dict:
    """
    Error versus refinement iteration on one frame, from several perturbed starts.

    Each trial perturbs ``gt`` (see `perturb_pose`), then repeats ``tracker.reset(pose);
    pose = tracker.track(rgb, depth).pose`` ``n_iterations`` times on the same frame; with a
    tracker built for one iteration per frame this is one refinement iteration per call.
    Resetting before each call keeps any motion model of the tracker out of the measurement.

    Args:
        frame: frame with ``rgb`` (H,W,3) uint8 and ``depth`` (H,W) float32 metres.
        tracker: `pose_tracker.tracker.Tracker`-like object, ideally with ``iterations=1``.
        pts: (N,3) model points, metres, original mesh frame.
        gt: (4,4) ground-truth pose of the frame, metres.
        n_iterations: number of refinement calls per trial.
        rng: random generator for the perturbations.
        trials: number of perturbed starts.
        trans_m, rot_deg: size of the perturbation.
        center: (3,) rotation centre of the perturbation, object frame (see `perturb_pose`).

    Returns:
        dict with ``iterations`` ([0..N]; 0 = the perturbed start), ``add_m`` / ``adds_m``
        (trials x (N+1) lists, metres; inf once a pose is non-finite), their per-iteration
        means ``add_mean_m`` / ``adds_mean_m`` and medians ``add_median_m`` / ``adds_median_m``,
        ``trials``, ``trans_m``, ``rot_deg``.

    """
    add_rows, adds_rows = [], []
    for _ in range(trials):
        pose = perturb_pose(gt, rng, trans_m, rot_deg, center)
        add_row, adds_row = [metrics.add(pose, gt, pts)], [metrics.adds(pose, gt, pts)]
        for _ in range(n_iterations):
            if np.all(np.isfinite(pose)):
                tracker.reset(pose)
                pose = np.asarray(tracker.track(frame.rgb, frame.depth).pose, dtype=np.float64)
            add_row.append(metrics.add(pose, gt, pts))
            adds_row.append(metrics.adds(pose, gt, pts))
        add_rows.append(add_row)
        adds_rows.append(adds_row)
    add_a, adds_a = np.array(add_rows), np.array(adds_rows)
    return {
        "iterations": list(range(n_iterations + 1)),
        "add_m": add_a.tolist(), "adds_m": adds_a.tolist(),
        "add_mean_m": add_a.mean(axis=0).tolist(), "adds_mean_m": adds_a.mean(axis=0).tolist(),
        "add_median_m": np.median(add_a, axis=0).tolist(),
        "adds_median_m": np.median(adds_a, axis=0).tolist(),
        "trials": int(trials), "trans_m": float(trans_m), "rot_deg": float(rot_deg),
    }


# ---------------------------------------------------------------------------- output helpers
def jsonable(obj):
    """Turn numpy values into Python ones and non-finite floats into None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def _overlay(ax, rgb, pts, K, pose, gt, title, faces=None):
    """Show an RGB frame with the object outlined at the estimate (magenta) and the GT (green)."""
    from pose_tracker.overlay import draw_estimate_and_gt

    ax.imshow(draw_estimate_and_gt(rgb, K, pts, faces, pose, gt))
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def _plot_rotation_error(ax, x, per_frame) -> None:
    """Plot the per-frame rotation error (degrees) and its threshold on a (twin) axis."""
    r = np.array([np.nan if p["r_err_deg"] is None else p["r_err_deg"] for p in per_frame],
                 dtype=np.float64)
    ax.plot(x, np.where(np.isfinite(r), r, np.nan), color="C3", lw=1, ls=":",
            label="rotation error")
    ax.axhline(ROT_THRESHOLD_DEG, color="C3", ls="--", lw=0.6, alpha=0.6,
               label=f"{ROT_THRESHOLD_DEG:g} deg")
    ax.set_ylabel("rotation error (deg)", color="C3")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper right")


def plot_tracking(result: dict, images: dict, pts, K, out_path, title: str = "",
                  faces=None) -> None:
    """
    Write a PNG: ADD / ADD-S and rotation error over time, overlays of the first and last frame.

    Args:
        result: output of `evaluate`.
        images: {per_frame position: (H,W,3) uint8 RGB} for the frames to overlay (first, last).
        pts: (N,3) metres, object frame: the mesh vertices when `faces` is given (silhouette
            outline), else model points (outline of their convex hull).
        K: (3,3) intrinsics.
        out_path: PNG file to write.
        title: figure title.
        faces: (F,3) triangles into `pts`, or None.

    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pf = result["per_frame"]
    x = np.arange(len(pf))
    fig = plt.figure(figsize=(11, 7.5))
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.3])
    ax = fig.add_subplot(grid[0, :])
    for key, label in (("add_m", "ADD"), ("adds_m", "ADD-S")):
        y = np.array([np.nan if r[key] is None else r[key] for r in pf], dtype=np.float64)
        lost = ~np.isfinite(y) & np.array([r[key] is not None for r in pf])
        y_cm = np.where(np.isfinite(y), y * 100.0, np.nan)
        ax.plot(x, y_cm, label=label, lw=1)
        if lost.any():
            ax.plot(x[lost], np.full(lost.sum(), 100 * LOST_THRESHOLD_M), "kx", ms=4)
    ax.axhline(100 * LOST_THRESHOLD_M, color="grey", ls="--", lw=0.8, label="10 cm (lost)")
    ax.set_xlabel("frame")
    ax.set_ylabel("error (cm)")
    ax.set_yscale("symlog", linthresh=0.1)
    auc_txt = ", ".join(f"{name} AUC {result[k]:.1f}" for k, name in
                        (("add_auc", "ADD"), ("adds_auc", "ADD-S")) if result.get(k) is not None)
    ax.set_title(f"{title}  {auc_txt}  lost {result['lost_frames']}/{result['frames']}",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    _plot_rotation_error(ax.twinx(), x, pf)
    for col, (i, rgb) in enumerate(sorted(images.items())[:2]):
        r = pf[i]
        _overlay(fig.add_subplot(grid[1, col]), rgb, pts, K, np.asarray(r["pose"]),
                 None if r["gt_pose"] is None else np.asarray(r["gt_pose"]),
                 f"frame {r['name']}: magenta = estimate, green = GT",
                 faces)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def plot_convergence(conv: dict, out_path, title: str = "") -> None:
    """Write a PNG of ADD / ADD-S versus refinement iteration (thin: trials, thick: median)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    it = np.array(conv["iterations"])
    for ax, key, name in ((axes[0], "add", "ADD"), (axes[1], "adds", "ADD-S")):
        for row in conv[f"{key}_m"]:
            ax.plot(it, 100 * np.asarray(row, dtype=np.float64), color="C0", alpha=0.3, lw=0.8)
        ax.plot(it, 100 * np.asarray(conv[f"{key}_median_m"], dtype=np.float64), color="C1",
                lw=2, label="median")
        ax.set_xlabel("refinement iteration")
        ax.set_ylabel(f"{name} (cm)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}  start: {conv['trans_m'] * 100:.1f} cm / {conv['rot_deg']:.0f} deg, "
                 f"{conv['trials']} trials", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------- registration
def registration_record(result, gt, pts, seq_name: str, object_name: str) -> dict:
    """
    Errors of one registration against the ground truth.

    Returns:
        dict with ``sequence``, ``object``, ``symmetric``, the `frame_errors` keys (metres,
        degrees), ``score``, ``iou``, ``support``, ``ms``, ``hypotheses``, ``chunk``, ``pose``,
        ``gt_pose``, ``oracle_adds_m`` (the best ADD-S among all refined hypotheses: what a
        perfect score would have picked) and ``per_hypothesis`` ([score, IoU, support, colour,
        ADD-S m, ADD m] of every refined hypothesis).

    """
    errors = frame_errors(result.pose, gt, pts)
    adds_all = [metrics.adds(p, gt, pts) for p in result.poses]
    add_all = [metrics.add(p, gt, pts) for p in result.poses]
    per_hyp = [[round(float(v), 5) for v in (*s, a, b)]
               for s, a, b in zip(result.scores, adds_all, add_all)]
    oracle = min(adds_all)
    return {"sequence": seq_name, "object": object_name,
            "symmetric": object_name in metrics.YCBV_SYMMETRIC, **errors,
            "score": result.score, "iou": result.iou, "support": result.support,
            "ms": result.ms, "hypotheses": result.hypotheses, "chunk": result.chunk,
            "oracle_adds_m": oracle, "pose": np.asarray(result.pose).tolist(),
            "gt_pose": np.asarray(gt).tolist(),
            "per_hypothesis": per_hyp}


def summarize_registrations(records: List[dict]) -> dict:
    """Headline numbers of `registration_record` records (percentages of instances)."""
    n = len(records)

    def pct(key, limit):
        return 100.0 * sum(r[key] < limit for r in records) / n if n else None

    return {"instances": n,
            "adds_below_1cm_pct": pct("adds_m", 0.01), "adds_below_2cm_pct": pct("adds_m", 0.02),
            "add_below_1cm_pct": pct("add_m", 0.01), "add_below_2cm_pct": pct("add_m", 0.02),
            "oracle_adds_below_1cm_pct": pct("oracle_adds_m", 0.01),
            "adds_median_m": finite_median([r["adds_m"] for r in records]),
            "ms_per_registration_median": finite_median([r["ms"] for r in records]),
            "hypotheses": records[0]["hypotheses"] if n else None,
            "chunk": records[0]["chunk"] if n else None}


def make_registrar(tracker, args):
    """`pose_tracker.registration.Registrar` for the tracker and the CLI's hypothesis options."""
    from pose_tracker.registration import Registrar

    return Registrar(tracker, views=args.views, inplane=args.inplane, chunk=args.chunk)


def register_first_frame(seq, tracker, args):
    """Register on the first frame of ``seq`` from its mask; returns (frame, result)."""
    frame = seq.frame(0)
    if frame.mask is None:
        raise PoseTrackerError(f"frame {frame.name} of {seq.root} has no mask for "
                               f"{seq.object_name} (masks/{seq.object_name}/{frame.name}.png)")
    return frame, make_registrar(tracker, args).register(frame.rgb, frame.depth, frame.mask)


def run_register_only(args, tracker_factory) -> dict:
    """Register every object (or ``--object``) of ``--seq`` on its first frame; score each."""
    from pose_tracker.data.sequence import Sequence

    objects = [args.object] if args.object else Sequence(args.seq).objects()
    records = []
    refinement = refinement_kwargs(args)
    skipped = []
    for name in objects:
        seq = Sequence(args.seq, name)
        first = seq.frame(0)
        if first.mask is None or first.gt_pose is None or not first.mask.any():
            # An empty mask: the object is not visible in the first frame (fully occluded).
            why = ("no mask" if first.mask is None else "no ground truth"
                   if first.gt_pose is None else "empty mask (object not visible)")
            skipped.append({"sequence": Path(args.seq).name, "object": name, "reason": why})
            continue
        mesh_path = args.mesh if (args.mesh and args.object) else _resolve_mesh(args, seq)
        pts, _ = load_eval_points(args.points if args.object else None, mesh_path,
                                  seed=args.seed)
        tracker = tracker_factory(mesh_path, seq.K, seq.image_size, args, refinement)
        frame, result = register_first_frame(seq, tracker, args)
        rec = registration_record(result, frame.gt_pose, pts, Path(args.seq).name, name)
        records.append(rec)
        if not args.quiet:
            print(f"{rec['sequence']} {name}: ADD-S {rec['adds_m'] * 100:.2f} cm  "
                  f"ADD {rec['add_m'] * 100:.2f} cm  score {rec['score']:.3f}  "
                  f"{rec['ms'] / 1e3:.1f} s", file=sys.stderr)
    config = {"sequence": str(args.seq), "mode": "register-only", **refinement,
              "views": args.views, "inplane": args.inplane, "chunk": args.chunk,
              "device": args.device, "weights": args.weights or "default"}
    return {**summarize_registrations(records), "config": config, "registrations": records,
            "skipped": skipped}


# ---------------------------------------------------------------------------- CLI
def load_eval_points(points: Optional[str], mesh_path: str,
                     max_points: int = MAX_METRIC_POINTS, seed: int = 0):
    """
    Model points for the metrics: ``points``, else ``points.xyz`` beside the mesh, else vertices.

    Returns:
        ((N,3) float64 points in the original mesh frame, metres; source description).

    """
    from pose_tracker.data.sequence import load_model_points

    beside = Path(mesh_path).parent / "points.xyz"
    if points:
        pts, source = load_model_points(points), str(points)
    elif beside.is_file():
        pts, source = load_model_points(beside), str(beside)
    else:
        import trimesh
        pts = np.asarray(trimesh.load(mesh_path, force="mesh").vertices, dtype=np.float64)
        source = f"{mesh_path} (vertices)"
    if len(pts) > max_points:
        idx = np.random.default_rng(seed).choice(len(pts), max_points, replace=False)
        pts = pts[np.sort(idx)]
    return pts, source


def _outline_mesh(mesh_path):
    """((V,3) float64 vertices in the original mesh frame, metres; (F,3) faces) for overlays."""
    import trimesh

    tm = trimesh.load(mesh_path, force="mesh", process=False)
    return np.asarray(tm.vertices, dtype=np.float64), np.asarray(tm.faces, dtype=np.int64)


def _bbox_center(pts) -> np.ndarray:
    """(3,) centre of the axis-aligned bounding box of (N,3) points."""
    return 0.5 * (pts.min(axis=0) + pts.max(axis=0))


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the CLI."""
    p = argparse.ArgumentParser(prog="python -m pose_tracker.tools.eval",
                                description=__doc__.split("\n")[0])
    p.add_argument("--seq", required=True, help="sequence folder (rgb/, depth/, cam_K.txt, ...)")
    p.add_argument("--object", default=None,
                   help="object name (ob_in_cam/<object>); optional if the sequence has one")
    p.add_argument("--mesh", default=None,
                   help="mesh file; default: ../../models/<object>/ of the sequence")
    p.add_argument("--weights", default=None, help="refiner checkpoint (default: shipped)")
    p.add_argument("--init", choices=("gt", "perturbed", "register"), default="gt",
                   help="initial pose: GT of the first frame, GT + 1 cm / 10 deg error, or "
                   "registered from the first frame's mask")
    g = p.add_argument_group("registration (--init register, --register-only)")
    g.add_argument("--register-only", action="store_true",
                   help="score registration alone on the first frame of every object with a mask")
    g.add_argument("--views", type=int, default=None,
                   help="viewpoints of the hypotheses (default: 42 on CUDA, 12 on CPU)")
    g.add_argument("--inplane", type=int, default=None,
                   help="in-plane rotations per viewpoint (default: 6 on CUDA, 4 on CPU)")
    g.add_argument("--chunk", type=int, default=None,
                   help="hypotheses per batch (default: all on CUDA, 16 on CPU)")
    add_refinement_args(p)
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--points", default=None, help="model points file (x y z per line, metres)")
    p.add_argument("--max-frames", type=int, default=None, help="track only the first N frames")
    p.add_argument("--no-cuda-graph", action="store_true", help="run the step eagerly on CUDA")
    p.add_argument("--fp32", action="store_true", help="float32 network on CUDA")
    p.add_argument("--convergence", type=int, default=None, metavar="N",
                   help="instead of tracking: error vs iteration for 1..N iterations on one frame")
    p.add_argument("--trials", type=int, default=5, help="perturbed starts (convergence mode)")
    p.add_argument("--frame", type=int, default=0, help="frame index (convergence mode)")
    p.add_argument("--json", required=True, help="write the results here")
    p.add_argument("--plot", default=None, help="write a PNG plot here")
    p.add_argument("--quiet", action="store_true")
    return p


def _resolve_mesh(args, seq) -> str:
    """Return the mesh path: --mesh, else the YCB-Video models folder beside the sequences."""
    if args.mesh:
        return args.mesh
    from pose_tracker.data.sequence import find_mesh

    if seq.object_name is None:
        raise PoseTrackerError("--mesh is required when the object is unknown (give --object)")
    return str(find_mesh(Path(args.seq).resolve().parent.parent, seq.object_name))


def build_tracker(mesh_path, K, image_size, args, refinement: dict):
    """
    Build the real `pose_tracker.tracker.Tracker` for the CLI arguments (imported lazily).

    ``refinement`` holds the Tracker's ``network_iterations``, ``icp_iterations``, ``icp_gates``.
    """
    from pose_tracker.model_loading import (load_object_mesh, load_refiner_weights,
                                            resolve_device_name)
    from pose_tracker.tracker import Tracker

    return Tracker(load_object_mesh(mesh_path), K, image_size,
                   weights=load_refiner_weights(args.weights),
                   device=resolve_device_name(args.device), **refinement,
                   use_cuda_graph=not args.no_cuda_graph, half=not args.fp32)


def run(args, tracker_factory=build_tracker) -> dict:
    """
    Run the evaluation described by parsed CLI arguments; return the result dict.

    Args:
        args: parsed arguments of `build_parser`.
        tracker_factory:
            ``(mesh_path, K, (H, W), args, refinement) -> tracker`` (``refinement``: the
            Tracker's iteration keyword arguments); tests pass a fake one.

    """
    import torch

    from pose_tracker.data.sequence import Sequence

    torch.manual_seed(args.seed)
    if args.register_only:
        return run_register_only(args, tracker_factory)
    seq = Sequence(args.seq, args.object)
    if seq.object_name is None and seq.objects():
        raise PoseTrackerError(f"sequence {args.seq} has several objects {seq.objects()}: "
                               "choose one with --object")
    mesh_path = _resolve_mesh(args, seq)
    pts, pts_source = load_eval_points(args.points, mesh_path, seed=args.seed)
    refinement = refinement_kwargs(args)
    if args.convergence:
        # One call = one iteration of each enabled kind, so the curve shows each step.
        refinement.update(network_iterations=min(1, refinement["network_iterations"]),
                          icp_iterations=min(1, refinement["icp_iterations"]))
    tracker = tracker_factory(mesh_path, seq.K, seq.image_size, args, refinement)
    device = getattr(tracker, "device", args.device)
    rng = np.random.default_rng(args.seed)
    center = _bbox_center(pts)
    config = {
        "sequence": str(args.seq), "object": seq.object_name, "mesh": str(mesh_path),
        "weights": args.weights or "default", "device": str(device),
        **refinement, "init": args.init, "seed": args.seed,
        "points": pts_source, "n_points": int(len(pts)),
        "symmetric": seq.object_name in metrics.YCBV_SYMMETRIC,
        "cuda_graph": bool(getattr(tracker, "use_cuda_graph", False)), "fp32": bool(args.fp32),
        "torch": torch.__version__, "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name(device)
        if getattr(device, "type", None) == "cuda" else None,
    }
    title = f"{Path(args.seq).name} {seq.object_name}"
    if args.convergence:
        frame = seq.frame(args.frame)
        if frame.gt_pose is None:
            raise PoseTrackerError(f"frame {args.frame} of {args.seq} has no ground truth")
        conv = convergence(frame, tracker, pts, frame.gt_pose, args.convergence, rng,
                           trials=args.trials, center=center)
        config.update(mode="convergence", frame=frame.name)
        out = {"config": config, "convergence": conv}
        if args.plot:
            plot_convergence(conv, args.plot, title)
        return out

    n = len(seq) if args.max_frames is None else min(len(seq), args.max_frames)
    first = seq.frame(0)
    if first.gt_pose is None:
        raise PoseTrackerError(f"the first frame of {args.seq} has no ground-truth pose to "
                               "initialise from")
    if args.init == "register":
        _, reg = register_first_frame(seq, tracker, args)
        init = reg.pose
        config.update(registration={"score": reg.score, "ms": reg.ms,
                                    "hypotheses": reg.hypotheses, "chunk": reg.chunk,
                                    **frame_errors(reg.pose, first.gt_pose, pts)})
    else:
        init = (first.gt_pose if args.init == "gt"
                else perturb_pose(first.gt_pose, rng, center=center))
    config.update(mode="tracking", init_pose=init.tolist())

    def progress(i, r):
        if not args.quiet:
            add_txt = "-" if r["add_m"] is None else f"{r['add_m'] * 100:.2f}"
            print(f"frame {r['name']}: ADD {add_txt} cm  {r['ms']:.1f} ms", file=sys.stderr)

    frames = (seq.frame(i) for i in range(n))
    result = evaluate(frames, tracker, pts, init, progress=progress)
    out = {**{k: v for k, v in result.items() if k != "per_frame"}, "config": config,
           "per_frame": result["per_frame"]}
    if args.plot:
        images = {0: first.rgb}
        if n > 1:
            images[n - 1] = seq.frame(n - 1).rgb
        vertices, faces = _outline_mesh(mesh_path)
        plot_tracking(result, images, vertices, seq.K, args.plot, title, faces)
    return out


def format_summary(out: dict) -> str:
    """One human-readable line per headline number."""
    if "registrations" in out:
        return (f"registrations {out['instances']}  ADD-S < 1 cm {out['adds_below_1cm_pct']}%  "
                f"< 2 cm {out['adds_below_2cm_pct']}%  "
                f"median {out['ms_per_registration_median']} ms")
    if "convergence" in out:
        c = out["convergence"]
        return "\n".join(f"iteration {i}: ADD {a * 100:.3f} cm  ADD-S {s * 100:.3f} cm (median)"
                         for i, a, s in zip(c["iterations"], c["add_median_m"],
                                            c["adds_median_m"]))

    def fmt(v, scale=1.0, unit=""):
        return "n/a" if v is None else f"{v * scale:.2f}{unit}"

    def cm(key):
        return fmt(out.get(key), 100, " cm")

    def deg(key):
        return fmt(out.get(key), 1, " deg")

    above = out.get("r_err_above_threshold_fraction")
    symmetric = out.get("config", {}).get("symmetric")
    judge = ("" if symmetric is None else
             "  (symmetric object: judge ADD-S)" if symmetric else
             "  (asymmetric object: judge ADD and R err)")
    return (f"frames {out['frames']}  lost {out['lost_frames']}{judge}\n"
            f"ADD AUC {fmt(out['add_auc'])}  ADD-S AUC {fmt(out['adds_auc'])}\n"
            f"ADD mean {cm('add_mean_m')}  median {cm('add_median_m')}  "
            f"last {cm('add_last_m')}\n"
            f"ADD-S mean {cm('adds_mean_m')}  median {cm('adds_median_m')}  "
            f"last {cm('adds_last_m')}\n"
            f"t err {fmt(out['t_err_mean_m'], 100, ' cm')}\n"
            f"R err mean {deg('r_err_mean_deg')}  median {deg('r_err_median_deg')}  "
            f"max {deg('r_err_max_deg')}  last {deg('r_err_last_deg')}  "
            f"> {fmt(out.get('r_err_threshold_deg'), 1, ' deg')} on "
            f"{fmt(above, 100, '%')} of frames\n"
            f"ms/frame median {fmt(out['ms_per_frame_median'])}")


@exits_on_user_error
def main(argv: Optional[SequenceT[str]] = None, tracker_factory=build_tracker) -> int:
    """Command-line entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    out = run(args, tracker_factory)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(jsonable(out), f, indent=1, allow_nan=False)
    if not args.quiet:
        print(format_summary(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
