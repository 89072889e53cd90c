# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Registration from a mask on the CPU: hypotheses, translation, scores, a synthetic frame."""

import numpy as np
import pytest
import torch
import trimesh

from pose_tracker import metrics
from pose_tracker.mesh import mesh_from_trimesh
from pose_tracker.network.presets import NARROW
from pose_tracker.network.refinenet import RefineNet
from pose_tracker.registration import (agreement_scores, fibonacci_sphere, front_offsets,
                                       register, Registrar, RegistrationError,
                                       rotation_hypotheses, translation_init)
from pose_tracker.render.renderer import MeshRenderer
from pose_tracker.tracker import Tracker

SIZE = 128
K = np.array([[200.0, 0.0, 64.0], [0.0, 200.0, 64.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope='module')
def box_mesh():
    """Return a 10 x 6 x 3 cm box (no symmetry ADD-S would hide), its origin off-centre."""
    tm = trimesh.creation.box(extents=(0.10, 0.06, 0.03))
    tm.apply_translation((0.01, 0.0, 0.0))
    # Coarse (long edges): few triangles keep the CPU renders fast.
    return mesh_from_trimesh(tm, max_edge_ratio=0.3)


def _frame(mesh, pose):
    """Render depth (metres) and mask of the centred mesh at ``pose`` over the whole image."""
    renderer = MeshRenderer(mesh, out_size=SIZE)
    shift = np.eye(4)
    shift[:3, 3] = mesh.center
    centred = torch.as_tensor(pose @ shift, dtype=torch.float32)[None]
    out = renderer.render(centred, torch.as_tensor(K, dtype=torch.float32)[None],
                          torch.eye(3)[None])
    depth = out.xyz[0, 2].numpy().astype(np.float32)
    rgb = (out.rgb[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return rgb, depth, out.mask[0, 0].numpy() > 0.5


def _tracker(mesh):
    torch.manual_seed(0)
    net = RefineNet(**NARROW).eval()
    return Tracker(mesh, K, (SIZE, SIZE), weights=net, device='cpu', network_iterations=0,
                   icp_iterations=3, icp_gates=(0.03, 0.005))


def _gt(index, views=4):
    """Return a pose 5 degrees off hypothesis ``index`` of the views x 2 set, 0.5 m away."""
    a = np.radians(5.0)
    tilt = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    T = np.eye(4)
    T[:3, :3] = tilt @ rotation_hypotheses(views, 2)[index]
    T[:3, 3] = (0.02, -0.01, 0.5)
    return T


def test_hypotheses_are_rotations_spread_over_the_sphere():
    R = rotation_hypotheses(42, 6)
    assert R.shape == (252, 3, 3)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    d = fibonacci_sphere(42)
    cos = d @ d.T - 2 * np.eye(42)
    # 42 points: nearest neighbours 25-40 degrees apart (an icosphere's are 32 degrees).
    nearest = np.degrees(np.arccos(cos.max(axis=1)))
    assert 20 < nearest.min() and nearest.max() < 40
    # The camera looks at the object from the view direction: optical axis = -direction.
    np.testing.assert_allclose(R[::6, 2], -d, atol=1e-12)


def test_front_offset_of_a_box_is_its_half_thickness(box_mesh):
    R = np.eye(3)[None]  # camera looks along the object's z: the 3 cm side
    verts = box_mesh.vertices.astype(np.float64)
    off = front_offsets(R, verts, box_mesh.vertex_normals.astype(np.float64))
    np.testing.assert_allclose(off, [0.015], atol=1e-6)
    t = translation_init(torch.tensor([0.0, 0.0, 0.5]), torch.tensor([0.015, 0.0]))
    np.testing.assert_allclose(t.numpy(), [[0, 0, 0.515], [0, 0, 0.5]], atol=1e-6)


def test_agreement_scores():
    ren_mask = torch.zeros(2, 1, 8, 8)
    ren_mask[:, :, 2:6, 2:6] = 1
    obs_mask = ren_mask.clone()
    obs_mask[1, :, 2:6, 2:4] = 0  # half of the render is outside the mask
    xyz = torch.zeros(2, 3, 8, 8)
    xyz[:, 2] = 0.5 * ren_mask[:, 0]
    obs_xyz = xyz.clone()
    area = obs_mask.flatten(1).sum(1)
    s = agreement_scores(xyz, ren_mask, obs_xyz, obs_mask, area, 0.01)
    np.testing.assert_allclose(s.iou.numpy(), [1.0, 0.5])
    np.testing.assert_allclose(s.support.numpy(), [1.0, 0.5])
    np.testing.assert_allclose(s.score.numpy(), [1.0, 0.25])
    # Mask pixels outside the crop (a larger whole-mask area) lower the IoU.
    s = agreement_scores(xyz, ren_mask, obs_xyz, obs_mask, 2 * area, 0.01)
    np.testing.assert_allclose(s.iou.numpy(), [0.5, 8 / 24], rtol=1e-6)


def test_register_synthetic_box(box_mesh):
    gt = _gt(5)
    rgb, depth, mask = _frame(box_mesh, gt)
    tracker = _tracker(box_mesh)
    reg = Registrar(tracker, views=4, inplane=2, chunk=3)
    result = reg.register(rgb, depth, mask)
    assert result.hypotheses == 8 and result.chunk == 3 and result.scores.shape == (8, 4)
    pts = box_mesh.vertices + box_mesh.center
    assert metrics.adds(result.pose, gt, pts) < 0.005
    assert result.score > 0.8
    # The state of the tracker is not touched.
    assert not tracker.has_pose


def test_chunk_size_does_not_change_the_result(box_mesh):
    rgb, depth, mask = _frame(box_mesh, _gt(2, views=2))
    tracker = _tracker(box_mesh)
    a = Registrar(tracker, views=2, inplane=2, chunk=4).register(rgb, depth, mask)
    b = Registrar(tracker, views=2, inplane=2, chunk=3).register(rgb, depth, mask)
    np.testing.assert_allclose(a.poses, b.poses, atol=1e-5)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_register_function_returns_pose_and_score(box_mesh):
    gt = _gt(1, views=2)
    rgb, depth, mask = _frame(box_mesh, gt)
    pose, score = register(rgb, depth, mask, K, _tracker(box_mesh), views=2, inplane=2)
    assert pose.shape == (4, 4) and 0.0 <= score <= 1.0
    assert metrics.adds(pose, gt, box_mesh.vertices + box_mesh.center) < 0.005


def test_bad_masks_raise(box_mesh):
    rgb, depth, mask = _frame(box_mesh, _gt(0))
    reg = Registrar(_tracker(box_mesh), views=1, inplane=1)
    with pytest.raises(RegistrationError, match='empty'):
        reg.register(rgb, depth, np.zeros_like(mask))
    with pytest.raises(RegistrationError, match='valid depth'):
        reg.register(rgb, np.zeros_like(depth), mask)
    with pytest.raises(Exception, match='mask must be'):
        reg.register(rgb, depth, mask[:-1])


def test_eval_registration_records_and_summary():
    from pose_tracker.tools import eval as ev
    from pose_tracker.registration import RegistrationResult

    pts = np.random.default_rng(0).normal(scale=0.05, size=(50, 3))
    gt = np.eye(4)
    gt[2, 3] = 0.5
    off = gt.copy()
    off[0, 3] += 0.015
    result = RegistrationResult(pose=off, score=0.5, iou=0.7, support=0.7, ms=10.0,
                                hypotheses=2, chunk=2, scores=np.zeros((2, 4)),
                                poses=np.stack([off, gt]))
    rec = ev.registration_record(result, gt, pts, "0000", "025_mug")
    assert rec["add_m"] == pytest.approx(0.015) and rec["oracle_adds_m"] == pytest.approx(0.0)
    assert len(rec["per_hypothesis"]) == 2 and len(rec["per_hypothesis"][0]) == 6
    good = dict(rec, adds_m=0.005, add_m=0.005)
    s = ev.summarize_registrations([rec, good])
    assert s["instances"] == 2 and s["adds_below_1cm_pct"] == 50.0
    assert s["adds_below_2cm_pct"] == 100.0 and s["hypotheses"] == 2 and s["chunk"] == 2
