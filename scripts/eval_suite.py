# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Run the issue-4 evaluation suite and write a summary table.

    python scripts/eval_suite.py [--stages real_perturbed synth convergence real_gt]
        [--synth-seeds 1000 1001] [--methods hybrid network icp hold] [--device cpu] [--force]

Stages (run in the order given; each run's JSON is kept, so a re-run resumes):

* ``real_perturbed`` / ``real_gt``: every object of ``<ycbv>/sequences/*/ob_in_cam/`` that has a
  textured mesh (``models/<object>/textured.obj``), ``--init perturbed`` (1 cm / 10 deg) or
  ``--init gt``.
* ``synth``: synthetic 300-frame sequences ``<synth-root>/synth_seq_<seed>`` (generated with
  ``python -m pose_tracker.tools.make_sequence`` when missing or incomplete), ``--init gt``.
* ``convergence``: error versus refinement iteration on a few real frames (hybrid step).

Methods (`METHODS`): ``hybrid`` = 2 RefineNet + 2 depth refinement iterations per frame (the
default), ``network`` = 2 RefineNet iterations only (FoundationPose behaviour), ``icp`` = 2 depth
refinement iterations only (no weights), ``hold`` = 0 of both, i.e. the initial pose held (the
do-nothing baseline). The network uses the given weights (default: the shipped refiner).

Outputs: per-run JSON (+ PNG) under ``<out>/runs/``, ``<results>/eval_summary.md`` (table and
target checks), ``<results>/eval_summary.json`` (summaries only, no per-frame data), and copies
of the convergence plots and one synthetic tracking plot in ``<results>/``.
"""

import argparse
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import time
from typing import List, Optional

from pose_tracker.tools import eval as ev

ROOT = Path(__file__).resolve().parents[1]
#: Default YCB-Video excerpt (sequences/ + models/).
YCBV_ROOT = Path(os.environ.get("POSE_TRACKER_YCBV", ROOT.parent / "shared" / "data" / "ycbv"))
#: (clip, object, frame index) of the convergence runs: a small box, a tall box, a can.
CONVERGENCE_FRAMES = (("0000", "009_gelatin_box", 0), ("0001", "004_sugar_box", 0),
                      ("0002", "010_potted_meat_can", 0))
#: PNGs copied to the results folder are shrunk below this many bytes.
MAX_PNG_BYTES = 300 * 1024
#: Frame (1-based) at which the real-clip target "ADD-S below 1 cm after 5 frames" is checked.
TARGET_FRAME = 5


def textured_objects(ycbv_root: Path) -> List[tuple]:
    """
    List the (clip, object) pairs of the real clips whose object has a mesh (textured or not).

    Returns:
        sorted list of (clip folder name, object name).

    """
    pairs = []
    for clip in sorted((ycbv_root / "sequences").iterdir()):
        gt_dir = clip / "ob_in_cam"
        if not gt_dir.is_dir():
            continue
        for obj in sorted(p.name for p in gt_dir.iterdir() if p.is_dir()):
            if any((ycbv_root / "models" / obj / name).is_file()
                   for name in ("textured.obj", "mesh_geometry_only.obj")):
                pairs.append((clip.name, obj))
    return pairs


def synth_complete(seq_dir: Path, frames: int) -> bool:
    """Whether a synthetic sequence folder holds ``frames`` RGB, depth and pose files."""
    if not (seq_dir / "mesh.obj").is_file() or not (seq_dir / "cam_K.txt").is_file():
        return False
    counts = [len(list((seq_dir / sub).glob(pattern))) if (seq_dir / sub).is_dir() else 0
              for sub, pattern in (("rgb", "*.png"), ("depth", "*.png"), ("ob_in_cam", "*.txt"))]
    return all(c >= frames for c in counts)


def ensure_synth(seq_dir: Path, seed: int, frames: int, device: str) -> None:
    """Generate the synthetic sequence ``seq_dir`` unless a complete one is already there."""
    if synth_complete(seq_dir, frames):
        return
    cmd = [sys.executable, "-m", "pose_tracker.tools.make_sequence", "--out", str(seq_dir),
           "--frames", str(frames), "--seed", str(seed), "--device", device]
    print("generating:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def run_eval(argv: List[str], json_path: Path, force: bool) -> Optional[dict]:
    """
    Run ``pose_tracker.tools.eval`` in this process (one torch import for all runs), save its JSON.

    Returns:
        the result dict (read back from ``json_path`` when it exists and not ``force``), or
        None when the run failed (the error is printed).

    """
    if json_path.is_file() and not force:
        with open(json_path) as f:
            return json.load(f)
    argv = argv + ["--json", str(json_path), "--quiet"]
    print("python -m pose_tracker.tools.eval " + " ".join(argv), flush=True)
    args = ev.build_parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        out = ev.jsonable(ev.run(args))
    except Exception as exc:  # noqa: BLE001 - one failed run must not stop the suite
        print(f"  FAILED: {type(exc).__name__}: {exc}", flush=True)
        return None
    out["suite_wall_s"] = time.perf_counter() - t0
    json_path.parent.mkdir(parents=True, exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(out, f, indent=1, allow_nan=False)
    if "convergence" in out:
        print("  " + ev.format_summary(out).replace("\n", "\n  "), flush=True)
    else:
        print(f"  ADD-S AUC {out['adds_auc']}, ADD AUC {out['add_auc']}, lost "
              f"{out['lost_frames']}/{out['frames']}, {out['suite_wall_s']:.0f} s", flush=True)
    return out


#: Methods: (network iterations, depth refinement iterations) per frame.
METHODS = {"hybrid": (2, 2), "network": (2, 0), "icp": (0, 2), "hold": (0, 0)}


def method_args(method: str, weights: Optional[str]) -> List[str]:
    """CLI arguments of a method (see `METHODS`; ``hold`` keeps the initial pose)."""
    net, icp = METHODS[method]
    return (["--network-iterations", str(net), "--icp-iterations", str(icp)]
            + (["--weights", weights] if weights and net else []))


def adds_at(out: dict, frame_1based: int):
    """
    Return the ADD-S (metres) of the ``frame_1based``-th frame (the last of shorter runs).

    Returns:
        (error in metres or None, 1-based frame number it was taken at).

    """
    pf = out.get("per_frame") or []
    if not pf:
        return None, 0
    i = min(frame_1based, len(pf)) - 1
    return pf[i]["adds_m"], i + 1


def summary_row(kind: str, clip: str, obj: str, init: str, method: str, out: dict) -> dict:
    """One row of the summary (no per-frame data)."""
    a5, f5 = adds_at(out, TARGET_FRAME)
    keys = ("frames", "add_auc", "adds_auc", "add_mean_m", "adds_mean_m", "add_median_m",
            "t_err_mean_m",
            "r_err_mean_deg", "lost_frames", "lost_frame_indices", "quality_mean",
            "ms_per_frame_median", "wall_ms_per_frame_median")
    row = {"kind": kind, "clip": clip, "object": obj, "init": init, "method": method,
           **{k: out.get(k) for k in keys},
           "adds_target_frame_m": a5, "adds_target_frame": f5,
           "symmetric": out.get("config", {}).get("symmetric"),
           "init_adds_m": None}
    last = (out.get("per_frame") or [{}])[-1]
    row.update(last_add_m=last.get("add_m"), last_adds_m=last.get("adds_m"),
               last_r_err_deg=last.get("r_err_deg"))
    cfg = out.get("config", {})
    pf = out.get("per_frame") or []
    if pf and cfg.get("init_pose") is not None and pf[0].get("gt_pose") is not None:
        import numpy as np

        pts, _ = ev.load_eval_points(None, cfg["mesh"], seed=cfg.get("seed", 0))
        row["init_adds_m"] = ev.metrics.adds(np.asarray(cfg["init_pose"]),
                                             np.asarray(pf[0]["gt_pose"]), pts)
    return row


def shrink_png(src: Path, dst: Path, max_bytes: int = MAX_PNG_BYTES) -> int:
    """Copy a PNG, re-encoding it with a palette and downscaling until it is below max_bytes."""
    shutil.copyfile(src, dst)
    if dst.stat().st_size <= max_bytes:
        return dst.stat().st_size
    from PIL import Image

    img = Image.open(src).convert("RGB")
    scale = 1.0
    while True:
        w, h = int(img.width * scale), int(img.height * scale)
        small = img.resize((w, h), Image.LANCZOS) if scale < 1.0 else img
        small.quantize(colors=128).save(dst, optimize=True)
        if dst.stat().st_size <= max_bytes or scale < 0.3:
            return dst.stat().st_size
        scale *= 0.8


def _mm(v) -> str:
    return "n/a" if v is None else f"{v * 1000:.1f}"


def _num(v, fmt="{:.1f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def markdown_table(rows: List[dict]) -> str:
    """Markdown table of the tracking rows."""
    head = ("| object | clip | init | seed | method | frames | ADD AUC | ADD-S AUC | mean ADD "
            "(mm) | mean R err (deg) | last ADD (mm) | last ADD-S (mm) | last R err (deg) | "
            "start ADD-S (mm) | lost frames | ms/frame |")
    lines = [head, "|" + "---|" * (head.count(" | ") + 1)]
    for r in rows:
        ms = "-" if r["method"] == "hold" else _num(r["ms_per_frame_median"], "{:.0f}")
        lines.append(
            f"| {r['object']} | {r['clip']} | {r['init']} | {r.get('seed')} | {r['method']} | "
            f"{r['frames']} | {_num(r['add_auc'])} | {_num(r['adds_auc'])} | "
            f"{_mm(r['add_mean_m'])} | {_num(r['r_err_mean_deg'])} | {_mm(r['last_add_m'])} | "
            f"{_mm(r['last_adds_m'])} | {_num(r['last_r_err_deg'])} | {_mm(r['init_adds_m'])} | "
            f"{r['lost_frames']} | {ms} |")
    return "\n".join(lines)


def _median(vals):
    v = sorted(x for x in vals if x is not None)
    if not v:
        return None
    m = len(v) // 2
    return v[m] if len(v) % 2 else 0.5 * (v[m - 1] + v[m])


def target_checks(rows: List[dict]) -> List[str]:
    """Lines saying which accuracy targets each method meets (see docs/results/README)."""
    out = []
    for r in (r for r in rows if r["kind"] == "synth"):
        ok = ((r["add_auc"] or 0) >= 95 and (r["adds_auc"] or 0) >= 97 and r["lost_frames"] == 0
              and r["r_err_mean_deg"] is not None and r["r_err_mean_deg"] <= 3.0)
        out.append(f"* synthetic {r['clip']} (init {r['init']}), {r['method']}: ADD AUC "
                   f"{_num(r['add_auc'])} (>= 95), ADD-S AUC {_num(r['adds_auc'])} (>= 97), "
                   f"mean R err {_num(r['r_err_mean_deg'])} deg (<= 3), lost "
                   f"{r['lost_frames']} (0): **{'met' if ok else 'missed'}**")
    real = [r for r in rows if r["kind"] == "real" and r["init"] == "perturbed"]
    hold = {(r["clip"], r["object"], r.get("seed")): r for r in real if r["method"] == "hold"}
    for method in METHODS:
        runs = [r for r in real if r["method"] == method]
        if not runs:
            continue
        long_runs = [r for r in runs if (r["frames"] or 0) >= TARGET_FRAME]
        add_med = _median(r["last_add_m"] for r in long_runs)
        rot_med = _median(r["last_r_err_deg"] for r in long_runs)
        ok = (add_med is not None and add_med <= 0.005 and rot_med is not None
              and rot_med <= 4.0)
        out.append(f"* real clips of >= {TARGET_FRAME} frames, `--init perturbed`, {method} "
                   f"({len(long_runs)} runs): median ADD at the last frame {_mm(add_med)} mm "
                   f"(<= 5), median R err {_num(rot_med)} deg (<= 4): "
                   f"**{'met' if ok else 'missed'}**")
        if method == "hold":
            continue
        worse = []
        for r in runs:
            h = hold.get((r["clip"], r["object"], r.get("seed")))
            if h is None or r["last_adds_m"] is None or h["last_adds_m"] is None:
                continue
            if r["last_adds_m"] > h["last_adds_m"] + 0.005:
                worse.append(f"{r['clip']} {r['object']} s{r.get('seed')} "
                             f"({_mm(r['last_adds_m'])} vs hold {_mm(h['last_adds_m'])} mm)")
        compared = sum(1 for r in runs if (r["clip"], r["object"], r.get("seed")) in hold)
        out.append(f"  * runs more than 5 mm ADD-S worse than hold at the last frame: "
                   f"**{len(worse)}/{compared}**" + (f": {', '.join(worse)}" if worse else ""))
    return out


def seed_table(rows: List[dict]) -> str:
    """Markdown table of the perturbed real runs averaged over perturbation seeds."""
    real = [r for r in rows if r["kind"] == "real" and r["init"] == "perturbed"]
    groups = {}
    for r in real:
        groups.setdefault((r["clip"], r["object"], r["method"]), []).append(r)
    head = ("| object | clip | method | seeds | mean start ADD-S (mm) | mean ADD-S at frame 5 "
            "(mm) | worst ADD-S at frame 5 (mm) | < 10 mm at frame 5 | mean t err (mm) | "
            "mean R err (deg) | mean ADD-S AUC |")
    lines = [head, "|" + "---|" * (head.count(" | ") + 1)]

    def mean(vals):
        v = [x for x in vals if x is not None]
        return sum(v) / len(v) if v else None

    for (clip, obj, method), rs in groups.items():
        f5 = [r["adds_target_frame_m"] for r in rs]
        ok = sum(1 for e in f5 if e is not None and e < 0.01)
        worst = None if any(e is None for e in f5) else max(f5)
        lines.append(f"| {obj} | {clip} | {method} | {len(rs)} | "
                     f"{_mm(mean(r['init_adds_m'] for r in rs))} | {_mm(mean(f5))} | "
                     f"{_mm(worst)} | {ok}/{len(rs)} | "
                     f"{_mm(mean(r['t_err_mean_m'] for r in rs))} | "
                     f"{_num(mean(r['r_err_mean_deg'] for r in rs))} | "
                     f"{_num(mean(r['adds_auc'] for r in rs))} |")
    return "\n".join(lines)


def convergence_table(convs: List[dict]) -> str:
    """Markdown table: median ADD-S / ADD (mm) per refinement iteration for each frame."""
    if not convs:
        return "(no convergence runs)"
    n = max(len(c["convergence"]["iterations"]) for c in convs)
    head = "| frame | metric | " + " | ".join(f"it {i}" for i in range(n)) + " |"
    lines = [head, "|" + "---|" * (n + 2)]
    for c in convs:
        cfg, cv = c["config"], c["convergence"]
        label = f"{Path(cfg['sequence']).name} {cfg['object']} #{cfg['frame']}"
        for key, name in (("adds_median_m", "median ADD-S"), ("add_median_m", "median ADD")):
            lines.append(f"| {label} | {name} | " + " | ".join(_mm(v) for v in cv[key]) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command-line entry point; returns the process exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--ycbv", type=Path, default=YCBV_ROOT)
    p.add_argument("--out", type=Path, default=ROOT / "out" / "eval")
    p.add_argument("--results", type=Path, default=ROOT / "docs" / "results")
    p.add_argument("--synth-root", type=Path, default=ROOT / "out")
    p.add_argument("--synth-seeds", type=int, nargs="*", default=[1000])
    p.add_argument("--synth-frames", type=int, default=300)
    p.add_argument("--stages", nargs="*",
                   default=["real_perturbed", "synth", "convergence", "real_gt"],
                   choices=["real_perturbed", "synth", "convergence", "real_gt"])
    p.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--weights", default=None, help="refiner checkpoint (default: shipped)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--convergence-iterations", type=int, default=8)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the gt/synth/convergence runs")
    p.add_argument("--perturb-seeds", type=int, nargs="*", default=[0],
                   help="seeds of the perturbed real runs (one perturbation each)")
    p.add_argument("--force", action="store_true", help="re-run runs whose JSON exists")
    p.add_argument("--summary-only", action="store_true",
                   help="only rebuild the summary from the JSON files already there")
    a = p.parse_args(argv)

    runs = a.out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    needs_real = {"real_perturbed", "real_gt"} & set(a.stages)
    pairs = textured_objects(a.ycbv) if needs_real else []
    # (kind, clip, object, init, method, json path, seed); the summary keeps this order.
    plan = []
    for stage in a.stages:
        if stage == "real_perturbed":
            plan += [("real", clip, obj, "perturbed", m,
                      runs / f"real_{clip}_{obj}_perturbed_s{s}_{m}.json", s)
                     for s in a.perturb_seeds for clip, obj in pairs for m in a.methods]
        elif stage == "real_gt":
            plan += [("real", clip, obj, "gt", m, runs / f"real_{clip}_{obj}_gt_{m}.json",
                      a.seed) for clip, obj in pairs for m in a.methods]
        elif stage == "synth":
            plan += [("synth", f"synth_seq_{s}", "procedural", "gt", m,
                      runs / f"synth_{s}_gt_{m}.json", a.seed)
                     for s in a.synth_seeds for m in a.methods]
        elif stage == "convergence":
            plan += [("convergence", clip, obj, "perturbed", "hybrid",
                      runs / f"conv_{clip}_{obj}_f{fr}.json", a.seed)
                     for clip, obj, fr in CONVERGENCE_FRAMES]

    rows, convs, conv_pngs, synth_png = [], [], [], None
    for kind, clip, obj, init, method, jpath, seed in plan:
        png = jpath.with_suffix(".png")
        if kind == "real":
            argv_ = ["--seq", str(a.ycbv / "sequences" / clip), "--object", obj,
                     "--init", init, "--plot", str(png)] + method_args(method, a.weights)
        elif kind == "synth":
            seq_dir = a.synth_root / clip
            if not a.summary_only:
                ensure_synth(seq_dir, int(clip.rsplit("_", 1)[1]), a.synth_frames, a.device)
            argv_ = ["--seq", str(seq_dir), "--mesh", str(seq_dir / "mesh.obj"),
                     "--init", init, "--plot", str(png)] + method_args(method, a.weights)
        else:
            fr = jpath.stem.rsplit("_f", 1)[1]
            argv_ = ["--seq", str(a.ycbv / "sequences" / clip), "--object", obj,
                     "--convergence", str(a.convergence_iterations), "--trials", str(a.trials),
                     "--frame", fr, "--plot", str(png)]
            argv_ += ["--weights", a.weights] if a.weights else []
        if a.summary_only and not jpath.is_file():
            continue
        out = run_eval(argv_ + ["--device", a.device, "--seed", str(seed)], jpath, a.force)
        if out is None:
            continue
        if kind == "convergence":
            convs.append(out)
            conv_pngs.append(png)
            continue
        rows.append(summary_row(kind, clip, obj, init, method, out))
        rows[-1]["seed"] = seed
        if kind == "synth" and method == "hybrid" and synth_png is None:
            synth_png = png

    write_summary(a, rows, convs, conv_pngs, synth_png)
    return 0


def write_summary(a, rows, convs, conv_pngs, synth_png) -> None:
    """Write eval_summary.md / .json and copy the plots into the results folder."""
    a.results.mkdir(parents=True, exist_ok=True)
    first_seed = a.perturb_seeds[0] if a.perturb_seeds else None
    main_rows = [r for r in rows if not (r["kind"] == "real" and r["init"] == "perturbed")
                 or r.get("seed") == first_seed]
    copied = []
    for png in conv_pngs + ([synth_png] if synth_png else []):
        if png is not None and png.is_file():
            dst = a.results / f"eval_{png.name}"
            size = shrink_png(png, dst)
            copied.append(f"{dst.name} ({size // 1024} KB)")
    torch_version = None
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        pass
    summary = {"generated": time.strftime("%Y-%m-%d %H:%M:%S"), "device": a.device,
               "weights": a.weights or "pose_tracker/weights/refiner_small.pt (shipped)",
               "torch": torch_version, "rows": rows,
               "convergence": [{"config": {k: c["config"].get(k) for k in
                                           ("sequence", "object", "frame", "weights")},
                                **{k: c["convergence"][k] for k in
                                   ("iterations", "trials", "trans_m", "rot_deg",
                                    "adds_median_m", "add_median_m", "adds_mean_m",
                                    "add_mean_m")}} for c in convs],
               "plots": copied}
    with open(a.results / "eval_summary.json", "w") as f:
        json.dump(ev.jsonable(summary), f, indent=1, allow_nan=False)
    md = ["# Evaluation summary", "",
          f"Generated {summary['generated']} by `python scripts/eval_suite.py` on "
          f"`{a.device}` (torch {torch_version}); weights: {summary['weights']}.", "",
          "Methods: **hybrid** = 2 RefineNet + 2 depth refinement (ICP) iterations per frame "
          "(the default); **network** = 2 RefineNet iterations only; **icp** = 2 ICP iterations "
          "only; **hold** = 0 of both, i.e. the initial pose held constant (do-nothing "
          "baseline). `perturbed` starts 1 cm / 10 deg away from the first "
          "frame's ground truth (seeded), `gt` starts at it. AUCs in percent up to 10 cm; lost = "
          "ADD-S > 10 cm. ms/frame is the median step time on a shared 2-core CPU (other jobs "
          "were running: only indicative).", "",
          markdown_table(main_rows), ""]
    if len(a.perturb_seeds) > 1:
        md += ["## Real clips, `--init perturbed`, over perturbation seeds "
               f"{', '.join(map(str, a.perturb_seeds))}", "",
               "Each seed draws one 1 cm / 10 deg perturbation of the first frame's GT (the same "
               "seed gives the same directions for every object). Frame 5 is the last frame of "
               "5-frame clips; the 1-frame clip 0003 uses its only frame.", "",
               seed_table(rows), ""]
    md += ["## Targets", ""]
    md += target_checks(rows) or ["(no runs)"]
    md += ["", "## Convergence (error vs refinement step, hybrid: 1 network + 1 ICP iteration "
           "per step)", "",
           convergence_table(convs), "", "Plots: " + (", ".join(copied) or "none"), ""]
    (a.results / "eval_summary.md").write_text("\n".join(md))
    print("wrote", a.results / "eval_summary.md")


if __name__ == "__main__":
    sys.exit(main())
