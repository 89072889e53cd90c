# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of the evaluation loop, convergence mode and CLI with fake trackers."""

from dataclasses import dataclass
import json
import math

import numpy as np
import pytest
import torch

from pose_tracker.tools import eval as ev
from pose_tracker import evaluation, metrics
from pose_tracker.data.sequence import Sequence


@dataclass
class FakeFrame:
    index: int
    name: str
    rgb: np.ndarray
    depth: np.ndarray
    gt_pose: np.ndarray


@dataclass
class Result:
    pose: np.ndarray
    quality: float = 1.0
    ms: float = 2.0


def _frames(n=5, gt_missing=()):
    frames = []
    for i in range(n):
        gt = np.eye(4)
        gt[:3, :3] = ev.rotation_about_axis([0, 1, 0], 0.05 * i)
        gt[:3, 3] = [0.01 * i, 0.0, 0.6]
        frames.append(FakeFrame(i, f"{i:06d}", np.zeros((4, 6, 3), np.uint8),
                                np.zeros((4, 6), np.float32),
                                None if i in gt_missing else gt))
    return frames


class ReplayTracker:
    """Returns the given poses in order; records the reset pose."""

    def __init__(self, poses):
        self.poses = list(poses)
        self.reset_pose = None
        self.calls = 0

    def reset(self, pose):
        self.reset_pose = np.array(pose)

    def track(self, rgb, depth):
        pose = self.poses[self.calls]
        self.calls += 1
        return Result(np.array(pose, dtype=np.float64))


class HalvingTracker:
    """Moves the pose half way to the GT translation and snaps the rotation (one 'iteration')."""

    def __init__(self, gt):
        self.gt = gt
        self.pose = None

    def reset(self, pose):
        self.pose = np.array(pose)

    def track(self, rgb, depth):
        new = self.gt.copy()
        new[:3, 3] = 0.5 * (self.pose[:3, 3] + self.gt[:3, 3])
        self.pose = new
        return Result(new)


@pytest.fixture
def pts():
    return np.random.default_rng(0).uniform(-0.04, 0.04, size=(200, 3))


def test_gt_tracker_scores_perfectly(pts):
    frames = _frames(5)
    tracker = ReplayTracker([f.gt_pose for f in frames])
    seen = []
    out = ev.evaluate(frames, tracker, pts, frames[0].gt_pose,
                      progress=lambda i, r: seen.append(i))
    np.testing.assert_array_equal(tracker.reset_pose, frames[0].gt_pose)
    assert seen == [0, 1, 2, 3, 4]
    assert out["frames"] == 5 and out["frames_with_gt"] == 5
    assert out["add_auc"] == pytest.approx(100.0) and out["adds_auc"] == pytest.approx(100.0)
    assert out["lost_frames"] == 0 and out["lost_frame_indices"] == []
    assert out["add_mean_m"] == pytest.approx(0.0, abs=1e-12)
    assert out["ms_per_frame_median"] == pytest.approx(2.0)
    assert len(out["per_frame"]) == 5
    rec = out["per_frame"][3]
    assert rec["name"] == "000003" and rec["lost"] is False
    np.testing.assert_allclose(rec["pose"], frames[3].gt_pose)


def test_nan_tracker_loses_every_frame(pts):
    frames = _frames(4)
    tracker = ReplayTracker([np.full((4, 4), np.nan)] * 4)
    out = ev.evaluate(frames, tracker, pts, frames[0].gt_pose)
    assert out["lost_frames"] == 4 and out["lost_frame_indices"] == [0, 1, 2, 3]
    assert out["add_auc"] == 0.0 and out["adds_auc"] == 0.0
    assert out["add_mean_m"] is None  # no finite error to average
    assert all(r["add_m"] == math.inf for r in out["per_frame"])
    # Strict JSON: infinities become null.
    text = json.dumps(ev.jsonable(out), allow_nan=False)
    assert json.loads(text)["per_frame"][0]["add_m"] is None


def test_constant_offset_and_frames_without_gt(pts):
    frames = _frames(4, gt_missing=(2,))
    offset = [f.gt_pose.copy() if f.gt_pose is not None else np.eye(4) for f in frames]
    for p in offset:
        p[:3, 3] += [0.02, 0.0, 0.0]  # 2 cm: ADD = 2 cm, AUC = 80
    out = ev.evaluate(frames, ReplayTracker(offset), pts, frames[0].gt_pose)
    assert out["frames"] == 4 and out["frames_with_gt"] == 3
    assert out["add_auc"] == pytest.approx(80.0)
    assert out["add_mean_m"] == pytest.approx(0.02)
    assert out["t_err_mean_m"] == pytest.approx(0.02)
    assert out["adds_mean_m"] <= out["add_mean_m"]
    assert out["per_frame"][2]["add_m"] is None and out["per_frame"][2]["lost"] is False


def test_far_off_frame_is_lost(pts):
    frames = _frames(3)
    poses = [f.gt_pose.copy() for f in frames]
    poses[1][:3, 3] += [0.0, 0.5, 0.0]
    out = ev.evaluate(frames, ReplayTracker(poses), pts, frames[0].gt_pose)
    assert out["lost_frame_indices"] == [1]


def test_rotation_is_judged_add_and_last_frame(pts):
    """A growing spin: ADD and the rotation errors (mean, median, max, last, > 5 deg) report it."""
    frames = _frames(5, gt_missing=(4,))
    angles = [0.0, 2.0, 4.0, 8.0, 0.0]
    poses = []
    for f, a in zip(frames, angles):
        p = (f.gt_pose if f.gt_pose is not None else np.eye(4)).copy()
        p[:3, :3] = ev.rotation_about_axis([0, 0, 1], math.radians(a)) @ p[:3, :3]
        poses.append(p)
    out = ev.evaluate(frames, ReplayTracker(poses), pts, frames[0].gt_pose)
    assert out["r_err_mean_deg"] == pytest.approx(3.5)
    assert out["r_err_median_deg"] == pytest.approx(3.0)
    assert out["r_err_max_deg"] == pytest.approx(8.0)
    assert out["r_err_last_deg"] == pytest.approx(8.0)  # frame 4 has no GT: frame 3 is last
    assert out["r_err_threshold_deg"] == 5.0
    assert out["r_err_above_threshold_fraction"] == pytest.approx(0.25)
    assert out["add_last_m"] == pytest.approx(metrics.add(poses[3], frames[3].gt_pose, pts))
    assert out["adds_last_m"] <= out["add_last_m"]
    assert out["add_median_m"] > out["adds_median_m"] > 0
    text = ev.format_summary({**out, "config": {"symmetric": False}})
    for part in ("ADD mean", "ADD-S mean", "median", "R err mean 3.50 deg", "median 3.00 deg",
                 "max 8.00 deg", "last 8.00 deg", "> 5.00 deg on 25.00% of frames",
                 "asymmetric object"):
        assert part in text, text


def test_rotation_summary_of_lost_and_empty():
    r = evaluation.rotation_summary([1.0, math.inf])
    assert r["r_err_mean_deg"] == 1.0 and r["r_err_last_deg"] == math.inf
    assert r["r_err_above_threshold_fraction"] == 0.5
    assert evaluation.rotation_summary([])["r_err_last_deg"] is None


def test_perturb_pose_has_the_requested_size(pts):
    gt = _frames(2)[1].gt_pose
    center = np.array([0.01, -0.02, 0.03])
    for seed in range(5):
        p = ev.perturb_pose(gt, np.random.default_rng(seed), 0.01, 10.0, center)
        assert metrics.rotation_error_deg(p, gt) == pytest.approx(10.0, rel=1e-9)
        c_gt = gt[:3, :3] @ center + gt[:3, 3]
        c_p = p[:3, :3] @ center + p[:3, 3]
        assert np.linalg.norm(c_p - c_gt) == pytest.approx(0.01, rel=1e-9)
        assert np.allclose(p[:3, :3] @ p[:3, :3].T, np.eye(3))
    a = ev.perturb_pose(gt, np.random.default_rng(7))
    b = ev.perturb_pose(gt, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_convergence_records_error_per_iteration(pts):
    frame = _frames(1)[0]
    conv = ev.convergence(frame, HalvingTracker(frame.gt_pose), pts, frame.gt_pose, 4,
                          np.random.default_rng(0), trials=3)
    assert conv["iterations"] == [0, 1, 2, 3, 4]
    add = np.array(conv["add_m"])
    assert add.shape == (3, 5)
    assert add[:, 0] == pytest.approx(np.full(3, add[0, 0]), rel=0.5)  # all start perturbed
    assert np.all(add[:, 0] > 0.005)
    # After the first call the rotation is exact and the translation error halves each time.
    np.testing.assert_allclose(add[:, 2:], add[:, 1:-1] / 2, rtol=1e-9)
    assert len(conv["adds_mean_m"]) == 5


def _fake_factory(kind):
    def factory(mesh_path, K, image_size, args, refinement):
        seq = Sequence(args.seq, args.object)
        gts = [seq.frame(i).gt_pose for i in range(len(seq))]
        if kind == "gt":
            tracker = ReplayTracker(gts)
        else:
            tracker = ReplayTracker([np.full((4, 4), np.nan)] * len(gts))
        tracker.device = torch.device("cpu")
        return tracker
    return factory


def test_cli_writes_json_and_plot(tmp_path, ycbv):
    seq = ycbv / "sequences" / "0000"
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    mesh = ycbv / "models" / "025_mug" / "mesh_geometry_only.obj"
    rc = ev.main(["--seq", str(seq), "--object", "025_mug", "--mesh", str(mesh),
                  "--max-frames", "3", "--json", str(out_json), "--plot", str(out_png),
                  "--quiet", "--seed", "3"], tracker_factory=_fake_factory("gt"))
    assert rc == 0
    r = json.loads(out_json.read_text())
    for key in ("add_auc", "adds_auc", "add_mean_m", "adds_mean_m", "lost_frames", "frames",
                "ms_per_frame_median", "per_frame", "config"):
        assert key in r
    assert r["frames"] == 3 and r["lost_frames"] == 0 and r["add_auc"] == pytest.approx(100.0)
    cfg = r["config"]
    assert cfg["object"] == "025_mug" and cfg["seed"] == 3 and cfg["init"] == "gt"
    assert cfg["points"].endswith("points.xyz") and cfg["torch"] == torch.__version__
    assert out_png.stat().st_size > 10_000


def test_cli_nan_tracker_and_convergence(tmp_path, ycbv):
    seq = ycbv / "sequences" / "0000"
    out_json = tmp_path / "r.json"
    argv = ["--seq", str(seq), "--object", "061_foam_brick", "--max-frames", "2",
            "--json", str(out_json), "--quiet", "--init", "perturbed"]
    assert ev.main(argv, tracker_factory=_fake_factory("nan")) == 0
    r = json.loads(out_json.read_text())  # strict JSON (no NaN/Infinity tokens)
    assert r["lost_frames"] == 2 and r["add_auc"] == 0.0
    assert r["config"]["mesh"].endswith("061_foam_brick/textured.obj")  # found from --seq
    assert r["config"]["symmetric"] is True

    def factory(mesh_path, K, image_size, args, refinement):
        assert refinement["network_iterations"] == 1 and refinement["icp_iterations"] == 1
        return HalvingTracker(Sequence(args.seq, args.object).frame(0).gt_pose)

    png = tmp_path / "c.png"
    assert ev.main(argv + ["--convergence", "3", "--trials", "2", "--plot", str(png)],
                   tracker_factory=factory) == 0
    c = json.loads(out_json.read_text())["convergence"]
    assert c["iterations"] == [0, 1, 2, 3] and len(c["add_m"]) == 2
    assert c["add_median_m"][3] < c["add_median_m"][0]
    assert png.stat().st_size > 5_000


def test_cli_reports_user_errors(tmp_path, ycbv, capsys):
    rc = ev.main(["--seq", str(ycbv / "sequences" / "0000"), "--json", str(tmp_path / "x")],
                 tracker_factory=_fake_factory("gt"))
    assert rc == 2 and "--object" in capsys.readouterr().err


@pytest.mark.gpu
def test_real_tracker_on_real_clip(tmp_path, ycbv):
    """The shipped tracker follows the mug through clip 0000 from the GT start (CUDA)."""
    from pose_tracker.tracker import DEFAULT_WEIGHTS

    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip(f"no shipped weights at {DEFAULT_WEIGHTS}")
    out_json = tmp_path / "r.json"
    rc = ev.main(["--seq", str(ycbv / "sequences" / "0000"), "--object", "025_mug",
                  "--device", "cuda", "--json", str(out_json), "--quiet"])
    assert rc == 0
    r = json.loads(out_json.read_text())
    assert r["frames"] == 10 and r["lost_frames"] == 0
    assert r["adds_mean_m"] < 0.02
