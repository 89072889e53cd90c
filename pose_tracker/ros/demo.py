# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Run the product end to end: bag -> player process -> DDS -> node process -> poses.

    python -m pose_tracker.ros.demo [--source synthetic|ycbv] [--frames N] [--out DIR]

The embedded default (``make demo``): generate a synthetic sequence of an unseen procedural
object moving like a hand-held camera would see it (``pose_tracker.synth.sequence``), write it as
a rosbag2 (mcap), start ``pose_tracker_node`` and the bag player as separate processes, listen to
``~/pose``, ``/tf`` and ``/diagnostics`` here, and print per-frame pose error and rate. Writes a
report (JSON + Markdown) and overlay pictures (first/last frame PNG, animated GIF) into DIR.

The player restamps messages with the wall clock when it publishes them, so the latency printed is
image stamp -> pose received here, through DDS, on one machine.
"""

import argparse
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "out" / "demo"
YCBV_ROOT = REPO.parent / "shared" / "data" / "ycbv"


def prepare_synthetic(out: Path, frames: int, seed: int, device: str,
                      image_size=(480, 640), log=print) -> Path:
    """
    Generate (or reuse) a synthetic sequence folder (YCBInEOAT layout); returns it.

    The folder name holds every setting, and a ``done`` file is written last, so an interrupted
    generation is redone and a finished one reused.
    """
    from pose_tracker.synth.sequence import generate_sequence

    H, W = int(image_size[0]), int(image_size[1])
    seq = out / f"synthetic_seed{seed}_{frames}f_{W}x{H}"
    if (seq / "done").exists():
        log(f"      reusing {seq}")
        return seq
    generate_sequence(seq, frames=frames, seed=seed, device=device, image_size=(H, W),
                      quiet=True)
    (seq / "done").write_text("ok\n")
    return seq


def sequence_frames(seq_dir: Path, object_name: Optional[str], frames: int):
    """Load the first `frames` frames of a sequence folder; returns (Sequence, list of Frame)."""
    from pose_tracker.data.sequence import Sequence

    seq = Sequence(seq_dir, object_name)
    n = min(frames, len(seq))
    return seq, [seq.frame(i) for i in range(n)]


def child_env(domain_id: int) -> Dict[str, str]:
    """Environment of the node and player processes (same venv, isolated DDS domain)."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    profile = REPO / "config" / "fastdds_shm.xml"
    if profile.exists():
        # Camera-sized messages need the shared-memory transport (ros-pip-env.md).
        env.setdefault("FASTRTPS_DEFAULT_PROFILES_FILE", str(profile))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pose_param(T: np.ndarray) -> str:
    """Format a 4x4 pose as the node's ``initial_pose`` parameter [x,y,z,qx,qy,qz,qw]."""
    from scipy.spatial.transform import Rotation

    q = Rotation.from_matrix(T[:3, :3]).as_quat()
    vals = list(T[:3, 3]) + list(q)
    return "[" + ",".join(f"{float(v):.9f}" for v in vals) + "]"


class Listener:
    """In-process subscriber recording poses, TF and diagnostics of the node under test."""

    def __init__(self, node_name: str = "pose_tracker"):
        import rclpy
        from rclpy.qos import QoSProfile, ReliabilityPolicy, DurabilityPolicy, HistoryPolicy
        from geometry_msgs.msg import PoseStamped
        from diagnostic_msgs.msg import DiagnosticArray

        rclpy.init()
        self.rclpy = rclpy
        self.node = rclpy.create_node("pose_tracker_demo_listener")
        self.poses: List[tuple] = []
        self.tfs: List[tuple] = []
        self.gt: Dict[int, np.ndarray] = {}
        self.diagnostics: List[dict] = []
        reliable = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                              history=HistoryPolicy.KEEP_LAST)
        self.node.create_subscription(PoseStamped, f"/{node_name}/pose", self._on_pose, reliable)
        self.node.create_subscription(PoseStamped, "/ground_truth/pose", self._on_gt, reliable)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, reliable)
        try:
            from tf2_msgs.msg import TFMessage
            tf_qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                                durability=DurabilityPolicy.VOLATILE)
            self.node.create_subscription(TFMessage, "/tf", self._on_tf, tf_qos)
        except ImportError:
            pass
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    @staticmethod
    def _ns(stamp) -> int:
        return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)

    def _on_pose(self, msg) -> None:
        from pose_tracker.ros.conversions import pose_to_matrix

        self.poses.append((self._ns(msg.header.stamp), msg.header.frame_id,
                           pose_to_matrix(msg.pose), time.time_ns()))

    def _on_gt(self, msg) -> None:
        from pose_tracker.ros.conversions import pose_to_matrix

        self.gt[self._ns(msg.header.stamp)] = pose_to_matrix(msg.pose)

    def _on_tf(self, msg) -> None:
        for tr in msg.transforms:
            self.tfs.append((self._ns(tr.header.stamp), tr.header.frame_id, tr.child_frame_id))

    def _on_diag(self, msg) -> None:
        for st in msg.status:
            self.diagnostics.append({"name": st.name, "level": int.from_bytes(st.level, "little")
                                     if isinstance(st.level, bytes) else int(st.level),
                                     "message": st.message,
                                     "values": {kv.key: kv.value for kv in st.values}})

    def _spin(self) -> None:
        while not self._stop.is_set() and self.rclpy.ok():
            self.rclpy.spin_once(self.node, timeout_sec=0.05)

    def close(self) -> None:
        """Stop spinning and shut rclpy down."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.node.destroy_node()
        self.rclpy.try_shutdown()


def run_pipeline(bag: Path, mesh: Path, init_pose: np.ndarray, n_frames: int, rate: float,
                 device: str, out: Path, weights: str = "", iterations: int = 2,
                 timeout_s: float = 600.0, log=print) -> dict:
    """Start node + player as processes, record the node's output; returns raw records."""
    domain = 100 + os.getpid() % 100
    env = child_env(domain)
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    if "FASTRTPS_DEFAULT_PROFILES_FILE" in env:
        os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = env["FASTRTPS_DEFAULT_PROFILES_FILE"]
    listener = Listener()
    node_cmd = [sys.executable, "-m", "pose_tracker.ros.node", "--ros-args",
                "--params-file", str(REPO / "config" / "tracker.yaml"),
                "-p", f"mesh_path:={mesh}", "-p", f"device:={device}",
                "-p", f"iterations:={iterations}",
                "-p", f"initial_pose:={pose_param(init_pose)}",
                "-r", "rgb/image_raw:=/camera/color/image_raw",
                "-r", "depth/image_raw:=/camera/depth/image_raw",
                "-r", "rgb/camera_info:=/camera/color/camera_info"]
    if weights:  # rcl refuses an empty override ("-p weights_path:="); "" = shipped weights
        node_cmd += ["-p", f"weights_path:={weights}"]
    player_cmd = [sys.executable, "-m", "pose_tracker.ros.player", str(bag), "--restamp",
                  "--rate", f"{rate}", "--wait-for-subscribers", "60", "--start-delay", "1.0"]
    out.mkdir(parents=True, exist_ok=True)
    node_log = open(out / "node.log", "w")
    player_log = open(out / "player.log", "w")
    node = subprocess.Popen(node_cmd, env=env, stdout=node_log, stderr=subprocess.STDOUT)
    player = None
    try:
        # The node builds its tracker on the first camera_info; give it time to import torch.
        time.sleep(2.0)
        if node.poll() is not None:
            raise RuntimeError(f"node exited with {node.returncode}; see {out / 'node.log'}")
        t_start = time.time()
        player = subprocess.Popen(player_cmd, env=env, stdout=player_log,
                                  stderr=subprocess.STDOUT)
        while player.poll() is None:
            if time.time() - t_start > timeout_s:
                raise TimeoutError(f"player did not finish in {timeout_s:.0f} s")
            if node.poll() is not None:
                raise RuntimeError(f"node died ({node.returncode}); see {out / 'node.log'}")
            log(f"  ... {len(listener.poses)}/{n_frames} poses received", end="\r")
            time.sleep(0.5)
        # Let the node finish the frames still in flight.
        deadline = time.time() + 20.0
        while len(listener.poses) < n_frames and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1.5)
        wall = time.time() - t_start
    finally:
        for proc in (player, node):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in (player, node):
            if proc is not None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        node_log.close()
        player_log.close()
        listener.close()
    log("")
    return {"poses": listener.poses, "tfs": listener.tfs, "gt": listener.gt,
            "diagnostics": listener.diagnostics, "node_returncode": node.returncode,
            "player_returncode": player.returncode if player else None, "wall_s": wall}


def evaluate_records(records: dict, frames, pts: np.ndarray, image_frame_id: str,
                     object_frame: str = "object") -> dict:
    """Match received poses to ground truth by stamp; per-frame errors and a summary."""
    from pose_tracker import metrics

    gt_by_stamp = records["gt"]
    gt_stamps = sorted(gt_by_stamp)
    poses = sorted(records["poses"], key=lambda p: p[0])
    per_frame = []
    for stamp, frame_id, T, recv_ns in poses:
        gt = gt_by_stamp.get(stamp)
        idx = gt_stamps.index(stamp) if gt is not None else None
        entry = {"stamp_ns": stamp, "frame": idx, "frame_id": frame_id,
                 "latency_ms": (recv_ns - stamp) / 1e6, "pose": T.tolist()}
        if gt is not None:
            entry.update(add_m=metrics.add(T, gt, pts), adds_m=metrics.adds(T, gt, pts),
                         t_err_m=metrics.translation_error(T, gt),
                         r_err_deg=metrics.rotation_error_deg(T, gt))
        per_frame.append(entry)
    n_images = len(gt_stamps) if gt_stamps else len(frames)
    matched = [e for e in per_frame if e["frame"] is not None]
    adds = [e["adds_m"] for e in matched]
    adds_all = adds + [np.inf] * (n_images - len(matched))
    add_all = [e["add_m"] for e in matched] + [np.inf] * (n_images - len(matched))
    stamps_ok = all(e["frame"] is not None for e in per_frame)
    tf_ok = bool(records["tfs"]) and all(p == image_frame_id and c == object_frame
                                         for _, p, c in records["tfs"])
    recv = sorted(p[3] for p in poses)
    rate = (len(recv) - 1) / ((recv[-1] - recv[0]) / 1e9) if len(recv) > 1 else 0.0
    lat = [e["latency_ms"] for e in per_frame]
    return {
        "frames": n_images, "poses": len(per_frame),
        "posed_fraction": len(matched) / max(1, n_images),
        "pose_stamps_equal_image_stamps": stamps_ok,
        "tf_parent_child_ok": tf_ok, "tf_messages": len(records["tfs"]),
        "adds_auc": metrics.auc(adds_all), "add_auc": metrics.auc(add_all),
        "adds_mean_m": float(np.mean(adds)) if adds else None,
        "adds_max_m": float(np.max(adds)) if adds else None,
        "t_err_mean_m": float(np.mean([e["t_err_m"] for e in matched])) if matched else None,
        "r_err_mean_deg": float(np.mean([e["r_err_deg"] for e in matched])) if matched else None,
        "rate_hz": rate,
        "latency_ms_median": float(np.median(lat)) if lat else None,
        "latency_ms_p95": float(np.percentile(lat, 95)) if lat else None,
        "per_frame": per_frame,
    }


def draw_overlay(rgb: np.ndarray, K: np.ndarray, pts: np.ndarray, est: Optional[np.ndarray],
                 gt: Optional[np.ndarray]) -> np.ndarray:
    """Project model points at the GT (green) and estimated (magenta) poses onto the image."""
    img = rgb.copy()
    H, W = img.shape[:2]
    sub = pts[:: max(1, len(pts) // 1500)]
    for T, color in ((gt, (0, 255, 0)), (est, (255, 0, 255))):
        if T is None or not np.all(np.isfinite(T)):
            continue
        cam = sub @ T[:3, :3].T + T[:3, 3]
        ok = cam[:, 2] > 1e-3
        uv = cam[ok] @ K.T
        uv = (uv[:, :2] / uv[:, 2:3]).round().astype(int)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
        img[uv[inside, 1], uv[inside, 0]] = color
    return img


def write_outputs(out: Path, summary: dict, frames, K, pts, log=print) -> None:
    """Write report.json, report.md and overlay pictures."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "report.json", "w") as f:
        json.dump(summary, f, indent=2, default=float)
    est_by_frame = {e["frame"]: np.asarray(e["pose"]) for e in summary["per_frame"]
                    if e["frame"] is not None}
    pics = []
    for i, fr in enumerate(frames):
        pics.append(Image.fromarray(draw_overlay(fr.rgb, K, pts, est_by_frame.get(i),
                                                 fr.gt_pose)))
    if pics:
        pics[0].save(out / "overlay_first.png")
        pics[-1].save(out / "overlay_last.png")
        small = [p.resize((p.width // 2, p.height // 2)) for p in pics]
        small[0].save(out / "overlay.gif", save_all=True, append_images=small[1:], duration=66,
                      loop=0)
    lines = ["# pose_tracker demo report", "",
             f"- frames: {summary['frames']}, poses received: {summary['poses']} "
             f"({100 * summary['posed_fraction']:.1f}%)",
             f"- ADD-S AUC: {summary['adds_auc']:.1f}, ADD AUC: {summary['add_auc']:.1f}, "
             f"mean ADD-S: {1000 * (summary['adds_mean_m'] or float('nan')):.2f} mm",
             f"- rate: {summary['rate_hz']:.1f} Hz, latency stamp->pose median "
             f"{summary['latency_ms_median'] or float('nan'):.1f} ms, p95 "
             f"{summary['latency_ms_p95'] or float('nan'):.1f} ms",
             f"- pose stamps equal image stamps: {summary['pose_stamps_equal_image_stamps']}, "
             f"TF parent/child right: {summary['tf_parent_child_ok']}",
             "", "Overlay: green = ground truth, magenta = estimate "
             "(overlay_first.png, overlay_last.png, overlay.gif)."]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    log(f"wrote {out / 'report.md'}, report.json, overlay_first.png, overlay_last.png, "
        "overlay.gif")


def run_demo(source: str = "synthetic", frames: int = 60, out: Path = DEFAULT_OUT,
             device: str = "auto", rate: Optional[float] = None, seed: int = 1000,
             weights: str = "", iterations: int = 2, quiet: bool = False) -> dict:
    """Prepare data, run the pipeline, evaluate and write outputs; returns the summary."""
    import torch

    from pose_tracker.data.sequence import find_mesh, load_model_points
    from pose_tracker.ros.bag_io import DEFAULT_FRAME_ID, write_sequence_bag

    def log(*a, **k):
        if not quiet:
            print(*a, **k, flush=True)

    out = Path(out)
    cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if source == "synthetic":
        log(f"[1/4] synthetic sequence ({frames} frames, seed {seed}) ...")
        seq_dir = prepare_synthetic(out, frames, seed, "cuda" if cuda else "cpu")
        seq, fr = sequence_frames(seq_dir, None, frames)
        mesh = seq_dir / "mesh.obj"
        pts = np.asarray(__import__("trimesh").load(mesh, force="mesh").vertices)
    elif source == "ycbv":
        obj = "005_tomato_soup_can"
        seq_dir = YCBV_ROOT / "sequences" / "0003"
        log(f"[1/4] real YCB-Video clip {seq_dir} ({obj}) ...")
        seq, fr = sequence_frames(seq_dir, obj, frames)
        mesh = find_mesh(YCBV_ROOT, obj)
        pts = load_model_points(YCBV_ROOT / "models" / obj / "points.xyz")
    else:
        raise ValueError(f"unknown source {source!r}")
    bag = out / f"bag_{source}_{len(fr)}f"
    log(f"[2/4] writing rosbag2 (mcap) {bag} ...")
    if not bag.exists():
        write_sequence_bag(fr, seq.K, bag)
    if rate is None:
        # Real time (30 Hz) on a GPU; on a CPU the eager step takes ~0.3 s, so play slower
        # than the node runs, or sensor-data QoS (keep last 5) drops frames by design.
        rate = 1.0 if cuda else 0.08
    log(f"[3/4] node + player over DDS (device={'cuda' if cuda else 'cpu'}, rate x{rate}) ...")
    records = run_pipeline(bag, mesh, fr[0].gt_pose, len(fr), rate,
                           "cuda" if cuda else "cpu", out, weights=weights,
                           iterations=iterations, log=log)
    summary = evaluate_records(records, fr, pts, DEFAULT_FRAME_ID)
    summary.update(source=source, device="cuda" if cuda else "cpu", playback_rate=rate,
                   sequence=str(seq_dir), mesh=str(mesh), iterations=iterations,
                   node_returncode=records["node_returncode"], wall_s=records["wall_s"])
    log("[4/4] results")
    for e in summary["per_frame"]:
        if e["frame"] is None:
            continue
        log(f"  frame {e['frame']:4d}  ADD-S {1000 * e['adds_m']:7.2f} mm  "
            f"t_err {1000 * e['t_err_m']:7.2f} mm  r_err {e['r_err_deg']:6.2f} deg  "
            f"latency {e['latency_ms']:7.1f} ms")
    log(f"  posed {summary['poses']}/{summary['frames']} frames, ADD-S AUC "
        f"{summary['adds_auc']:.1f}, ADD AUC {summary['add_auc']:.1f}, "
        f"rate {summary['rate_hz']:.1f} Hz, latency median {summary['latency_ms_median']} ms")
    write_outputs(out, summary, fr, seq.K, pts, log)
    return summary


def main(argv=None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--source", choices=("synthetic", "ycbv"), default="synthetic")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--rate", type=float, default=None, help="playback speed factor")
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--weights", default="", help="refiner checkpoint ('' = shipped)")
    p.add_argument("--iterations", type=int, default=2)
    args = p.parse_args(argv)
    summary = run_demo(args.source, args.frames, args.out, args.device, args.rate, args.seed,
                       args.weights, args.iterations)
    return 0 if summary["posed_fraction"] > 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
