# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Depth refinement (point-to-plane ICP) on the CPU.

Normals, the solver's guards, convergence, the guarded choice, and the step composition the
tracker uses on CPU and CUDA alike.
"""

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
import torch
import trimesh

from pose_tracker.geometry.pose import rotation_error_deg
from pose_tracker.icp import (apply_twist, IcpConfig, normals_from_xyz, point_to_plane_system,
                              solve_spd, solve_twist)
from pose_tracker.mesh import mesh_from_trimesh
from pose_tracker.network.presets import NARROW
from pose_tracker.network.refinenet import RefineNet
from pose_tracker.render.renderer import MeshRenderer
from pose_tracker.synth.simple_scene import background, K_DEFAULT, render_frame
from pose_tracker.step import (finish_step, frame_to_real_side, icp_refine, render_at,
                               StepConfig, track_step)
from pose_tracker.tracker import Tracker

SIZE = (480, 640)
K_CAM = K_DEFAULT  # 640x480, 600 px focal length


@pytest.fixture(scope='module')
def box():
    """Return an asymmetric box mesh (12 x 8 x 5 cm) and its renderer."""
    mesh = mesh_from_trimesh(trimesh.creation.box(extents=(0.12, 0.08, 0.05)))
    return mesh, MeshRenderer(mesh, device='cpu')


def _pose(rotvec_deg=(20.0, -30.0, 10.0), t=(0.01, -0.02, 0.45)):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(np.radians(rotvec_deg)).as_matrix()
    T[:3, 3] = t
    return T


def _frame(renderer, mesh, pose, seed=0, noise_m=0.001):
    bg_rgb, bg_depth = background(SIZE, 0.6, seed)
    return render_frame(renderer, pose, K_CAM, float(mesh.diameter), bg_rgb, bg_depth,
                        np.random.default_rng(seed), noise_m=noise_m)


@pytest.fixture(scope='module')
def box_frame(box):
    """Render the box at `_pose()` over a wall: RGB (H,W,3) uint8, depth (H,W) float32 m."""
    mesh, renderer = box
    return _frame(renderer, mesh, _pose())


def _t(a, shape=None):
    t = torch.as_tensor(np.asarray(a), dtype=torch.float32)
    return t.reshape(shape) if shape is not None else t


def _perturb(pose, rot_deg, trans_m, seed=0):
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    d = rng.normal(size=3)
    out = pose.copy()
    out[:3, :3] = Rotation.from_rotvec(axis * math.radians(rot_deg)).as_matrix() @ pose[:3, :3]
    out[:3, 3] += d / np.linalg.norm(d) * trans_m
    return out


def test_gate_schedule_shrinks_geometrically():
    cfg = IcpConfig(iterations=3, gate_start=0.03, gate_end=0.01)
    gates = [cfg.gate(i) for i in range(3)]
    assert gates[0] == pytest.approx(0.03) and gates[2] == pytest.approx(0.01)
    assert gates[1] == pytest.approx(math.sqrt(0.03 * 0.01))
    assert IcpConfig(iterations=1, gate_start=0.02).gate(0) == pytest.approx(0.02)


def test_normals_of_a_tilted_plane_face_the_camera():
    S = 16
    v, u = torch.meshgrid(torch.arange(S, dtype=torch.float32),
                          torch.arange(S, dtype=torch.float32), indexing='ij')
    # The plane z = 0.5 + 0.3 x, sampled on a grid.
    x = (u - S / 2) * 0.002
    y = (v - S / 2) * 0.002
    xyz = torch.stack([x, y, 0.5 + 0.3 * x]).unsqueeze(0)
    mask = torch.ones(1, 1, S, S)
    mask[..., 5, 5] = 0.0  # a hole: its neighbours lose their normals
    n, valid = normals_from_xyz(xyz * mask, mask, max_step=0.05)
    expected = torch.tensor([0.3, 0.0, -1.0]) / math.sqrt(1.09)
    inner = valid[0, 0]
    assert not inner[0].any() and not inner[:, -1].any()  # borders have no neighbours
    assert not inner[5, 4] and not inner[4, 5] and not inner[5, 5]
    assert inner.sum() == (S - 2) ** 2 - 5
    got = n[0].permute(1, 2, 0)[inner]
    torch.testing.assert_close(got, expected.expand_as(got), atol=1e-4, rtol=0)
    # A depth jump larger than max_step invalidates the pixels that straddle it.
    xyz_jump = xyz.clone()
    xyz_jump[:, 2, :, 8:] += 0.2
    _, valid_jump = normals_from_xyz(xyz_jump, torch.ones(1, 1, S, S), max_step=0.05)
    assert not valid_jump[0, 0, :, 7].any() and not valid_jump[0, 0, :, 8].any()


def test_solve_spd_matches_a_reference_and_flags_indefinite():
    gen = torch.Generator().manual_seed(0)
    M = torch.randn(5, 6, 6, generator=gen, dtype=torch.float64)
    A = M @ M.transpose(1, 2) + 0.1 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(5, 6, generator=gen, dtype=torch.float64)
    A[4] = -A[4]  # negative definite: must be flagged
    x, ok = solve_spd(A, b)
    assert ok.tolist() == [True] * 4 + [False]
    ref = torch.linalg.solve(A[:4], b[:4])
    torch.testing.assert_close(x[:4], ref, rtol=1e-9, atol=1e-9)


def test_solver_guards_give_no_update():
    cfg = IcpConfig(min_weight=30.0)
    H = torch.zeros(3, 6, 6)
    g = torch.zeros(3, 6)
    H[0] = torch.eye(6) * 100.0
    g[0, 3] = 1.0  # a well-posed system: moves
    H[1] = torch.eye(6) * 100.0
    g[1, 3] = 1.0  # ... but too little support
    H[2] = torch.full((6, 6), float('nan'))  # the factorisation fails
    weight = torch.tensor([100.0, 10.0, 100.0])
    twist = solve_twist(H, g, weight, cfg, radius=0.05)
    assert twist[0, 3] > 0.0
    assert torch.all(twist[1:] == 0.0)


def test_step_is_clamped():
    cfg = IcpConfig(max_rotation_deg=5.0, max_translation=0.01)
    H = torch.eye(6).unsqueeze(0) * 1e-3
    g = torch.tensor([[1.0, 0.0, 0.0, 0.0, 5.0, 0.0]])
    twist = solve_twist(H, g, torch.tensor([1e4]), cfg, radius=0.05)
    assert twist[0, :3].norm() == pytest.approx(math.radians(5.0), rel=1e-5)
    assert twist[0, 3:].norm() == pytest.approx(0.01, rel=1e-5)


def test_unobservable_spin_gets_no_update():
    # Points on a cylinder about z with radial normals: spin about z leaves every residual
    # unchanged, so the damped solution must not turn about z however the residuals look.
    a = torch.linspace(0, 2 * math.pi, 64)
    z = torch.linspace(0.45, 0.5, 8)
    A, Z = torch.meshgrid(a, z, indexing='ij')
    pts = torch.stack([0.03 * A.cos(), 0.03 * A.sin(), Z]).reshape(1, 3, 64, 8)
    n = torch.stack([A.cos(), A.sin(), torch.zeros_like(A)]).reshape(1, 3, 64, 8)
    obs = pts + 0.002 * n  # the surface is 2 mm further out everywhere
    H, g, w = point_to_plane_system(pts, n, torch.ones(1, 1, 64, 8, dtype=torch.bool), obs,
                                    torch.tensor([[0.0, 0.0, 0.475]]), 0.03, 0.05)
    twist = solve_twist(H, g, w, IcpConfig(), radius=0.05)
    assert abs(float(twist[0, 2])) < 1e-6


def test_apply_twist_turns_about_the_object_centre():
    pose = _t(_pose(), (1, 4, 4))
    twist = torch.tensor([[0.0, 0.0, 0.1, 0.0, 0.0, 0.0]])
    moved = apply_twist(pose, twist)
    torch.testing.assert_close(moved[:, :3, 3], pose[:, :3, 3])
    assert float(rotation_error_deg(moved[0], pose[0])) == pytest.approx(math.degrees(0.1),
                                                                         rel=1e-4)


@pytest.mark.parametrize('rot_deg, trans_m', [(8.0, 0.008), (3.0, 0.01)])
def test_icp_converges_on_a_rendered_box(box, box_frame, rot_deg, trans_m):
    mesh, renderer = box
    gt = _pose()
    rgb, depth = box_frame
    K = _t(K_CAM, (1, 3, 3))
    _, xyz = frame_to_real_side(_t(rgb).to(torch.uint8), _t(depth), K)
    start = _t(_perturb(gt, rot_deg, trans_m), (1, 4, 4))
    cfg = StepConfig(diameter=float(mesh.diameter), network_iterations=0,
                     icp=IcpConfig(iterations=5, gate_start=0.03, gate_end=0.01))
    with torch.no_grad():
        pose, evidence = icp_refine(start, K, xyz, renderer.render_geometry, cfg)
    gt_t = _t(gt, (1, 4, 4))
    assert float(rotation_error_deg(pose[0], gt_t[0])) < 1.0
    assert float((pose[0, :3, 3] - gt_t[0, :3, 3]).norm()) < 0.002
    assert float(evidence.support[0]) > 0.8 and float(evidence.agreement[0]) > 0.8


def _step_cfg(mesh, network_iterations, icp_iterations):
    return StepConfig(diameter=float(mesh.diameter), network_iterations=network_iterations,
                      icp=IcpConfig(iterations=icp_iterations))


def _net():
    torch.manual_seed(0)
    return RefineNet(**NARROW).eval()


@pytest.mark.parametrize('network_iterations, icp_iterations', [(2, 2), (0, 2), (1, 0), (0, 0)])
def test_split_step_equals_unsplit(box, box_frame, network_iterations, icp_iterations):
    # The tracker runs track_step in one piece (CPU, one stream) or as its parts (two CUDA
    # streams): both must be the same computation.
    mesh, renderer = box
    rgb, depth = box_frame
    K = _t(K_CAM, (1, 3, 3))
    pose = _t(_perturb(_pose(), 5.0, 0.005), (1, 4, 4))
    cfg = _step_cfg(mesh, network_iterations, icp_iterations)
    net = _net()
    rgb_t, depth_t = _t(rgb).to(torch.uint8), _t(depth)
    with torch.no_grad():
        whole = track_step(pose, K, rgb_t, depth_t, renderer.render, net, cfg,
                           renderer.render_geometry)
        rgb_s, xyz_s = frame_to_real_side(rgb_t, depth_t, K)
        crop_tf, rendered = render_at(pose, K, renderer.render, cfg)
        parts = finish_step(pose, K, rgb_s, xyz_s, crop_tf, rendered, renderer.render, net, cfg,
                            renderer.render_geometry)
    torch.testing.assert_close(parts[0], whole[0], atol=0, rtol=0)
    torch.testing.assert_close(parts[1], whole[1], atol=0, rtol=0)


def test_hold_tracker_reports_depth_support(box, box_frame):
    # 0 network and 0 depth iterations: the pose is held and its depth support still measured.
    mesh, renderer = box
    gt = _pose()
    rgb, depth = box_frame
    tracker = Tracker(mesh, K_CAM, SIZE, weights=_net(), device='cpu',
                      network_iterations=0, icp_iterations=0)
    tracker.reset(gt)
    r = tracker.track(rgb, depth)
    np.testing.assert_allclose(r.pose, gt, atol=1e-6)
    assert r.quality > 0.8
    empty = np.zeros_like(depth)
    assert tracker.track(rgb, empty).quality == 0.0


def test_hybrid_tracker_recovers_rotation_a_network_cannot(box, box_frame):
    # A random network moves the pose arbitrarily; the guarded depth refinement must still end
    # near the truth (from the better supported of the network's result and the previous pose).
    mesh, renderer = box
    gt = _pose()
    rgb, depth = box_frame
    tracker = Tracker(mesh, K_CAM, SIZE, weights=_net(), device='cpu',
                      network_iterations=2, icp_iterations=3)
    tracker.reset(_perturb(gt, 6.0, 0.006))
    for _ in range(3):
        r = tracker.track(rgb, depth)
    assert float(rotation_error_deg(_t(r.pose), _t(gt))) < 1.0
    assert np.linalg.norm(r.pose[:3, 3] - gt[:3, 3]) < 0.002
    assert r.quality > 0.8


def test_occluded_object_keeps_its_pose(box, box_frame):
    # No depth at all (fully occluded / out of range): nothing supports any candidate, so the
    # previous pose is kept exactly instead of drifting with the network's guesses.
    mesh, renderer = box
    gt = _pose()
    rgb, depth = box_frame
    tracker = Tracker(mesh, K_CAM, SIZE, weights=_net(), device='cpu',
                      network_iterations=2, icp_iterations=2)
    tracker.reset(gt)
    r = tracker.track(rgb, np.zeros_like(depth))
    np.testing.assert_allclose(r.pose, gt, atol=1e-6)
    assert r.quality == 0.0


def test_tracker_refuses_bad_iteration_settings(box):
    mesh, _ = box
    with pytest.raises(ValueError, match='>= 0'):
        Tracker(mesh, K_CAM, SIZE, weights=_net(), device='cpu', icp_iterations=-1)
    with pytest.raises(ValueError, match='icp_gates'):
        Tracker(mesh, K_CAM, SIZE, weights=_net(), device='cpu', icp_gates=(0.01, 0.03))
