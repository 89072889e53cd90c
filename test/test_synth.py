# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of the procedural data: shapes, textures, sensor noise, scenes, pairs, sequences (CPU)."""

import json

import numpy as np
import pytest
import torch

from pose_tracker.geometry.pose import apply_refiner_update, rotation_error_deg
from pose_tracker.mesh import mesh_diameter
from pose_tracker.render.projection import full_frame_projection, pinhole_projection
from pose_tracker.render.surface import MeshTensors
from pose_tracker.synth import scene
from pose_tracker.synth.pairs import MeshPool, PairConfig, PairSampler, random_rotations
from pose_tracker.synth.sensor_noise import (DepthNoise, apply_depth_noise, apply_rgb_noise,
                                             hash_uniform, lattice_scale, make_holes,
                                             pixel_lattice)
from pose_tracker.synth.shapes import (SHAPE_KINDS, random_mesh, random_trimesh,
                                       shape_rng)
from pose_tracker.synth.textures import random_images, random_textures
from pose_tracker.synth.trajectories import handheld_trajectory, relative_speeds


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------
# shapes
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('kind', SHAPE_KINDS)
def test_shapes_are_closed_centred_and_sized(kind):
    for i in range(2):
        d = 0.05 + 0.25 * i
        tm = random_trimesh(shape_rng('train', 3, i), diameter=d, kind=kind)
        assert abs(mesh_diameter(tm.vertices) - d) < 1e-6 * d + 1e-9
        lo, hi = tm.vertices.min(0), tm.vertices.max(0)
        np.testing.assert_allclose((lo + hi) / 2, 0.0, atol=1e-9)
        # every part is closed: each edge is shared by exactly two faces
        assert tm.is_watertight, kind
        assert np.all(tm.area_faces > 0)
        uv = tm.metadata['uv']
        assert uv.shape == (len(tm.vertices), 2) and uv.min() >= 0 and uv.max() <= 1


def test_shape_diameters_in_range_and_splits_disjoint():
    ds = [mesh_diameter(random_trimesh(shape_rng('train', 0, i)).vertices) for i in range(8)]
    assert min(ds) >= 0.05 - 1e-9 and max(ds) <= 0.30 + 1e-9
    a = random_trimesh(shape_rng('train', 5, 1))
    b = random_trimesh(shape_rng('train', 5, 1))
    c = random_trimesh(shape_rng('test', 5, 1))
    np.testing.assert_array_equal(a.vertices, b.vertices)
    assert a.vertices.shape != c.vertices.shape or not np.allclose(a.vertices, c.vertices)


def test_random_mesh_builds_a_textured_mesh():
    tex = np.full((8, 8, 3), 200, np.uint8)
    mesh, tm = random_mesh(shape_rng('train', 0, 1), texture=tex, max_edge_ratio=0.1)
    assert mesh.uv is not None and mesh.texture.shape == (8, 8, 3)
    assert mesh.max_edge <= 0.1 * mesh.diameter + 1e-9
    assert 0.05 <= mesh.diameter <= 0.3


# ------------------------------------------------------------------------------------------
# textures
# ------------------------------------------------------------------------------------------

def test_textures_in_range_deterministic_and_varied():
    a = random_textures(12, 32, _gen(1))
    b = random_textures(12, 32, _gen(1))
    assert a.shape == (12, 32, 32, 3) and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    # different images differ (not one pattern repeated)
    assert (a[0] - a[1]).abs().mean() > 1e-3
    img = random_images(2, (20, 30), _gen(2))
    assert img.shape == (2, 3, 20, 30)


# ------------------------------------------------------------------------------------------
# sensor noise
# ------------------------------------------------------------------------------------------

_CLEAN = dict(hole_fraction=(0.0, 0.0), dropout=(0.0, 0.0), disparity_prob=0.0, offset_std=0.0,
              scale_std=0.0, quant_step=0.0, correlated=(0.0, 0.0), edge_band=(0.0, 0.0))


def test_depth_noise_std_grows_with_z_squared():
    cfg = DepthNoise(**_CLEAN)
    stds = []
    for z in (0.5, 1.0, 2.0):
        d = torch.full((2, 96, 96), z)
        out = apply_depth_noise(d, _gen(0), cfg=cfg, sigma_1m=torch.full((2,), 0.002))
        stds.append(float((out - d).std()))
    for z, s in zip((0.5, 1.0, 2.0), stds):
        expected = 0.0003 + 0.002 * z * z
        assert abs(s - expected) < 0.08 * expected, (z, s, expected)
    assert stds[0] < stds[1] < stds[2]
    # 1-3 mm at 1 m with the default ranges
    d = torch.full((4, 64, 64), 1.0)
    s = (apply_depth_noise(d, _gen(1), cfg=DepthNoise(**_CLEAN)) - d).std()
    assert 0.001 < s < 0.0035


def test_holes_fraction_near_requested_and_quantisation():
    cfg = DepthNoise(dropout=(0.0, 0.0), edge_band=(0.0, 0.0))
    d = torch.full((3, 80, 100), 1.0)
    frac = torch.tensor([0.0, 0.05, 0.2])
    out = apply_depth_noise(d, _gen(3), cfg=cfg, hole_fraction=frac)
    got = (out == 0).float().mean((1, 2))
    assert torch.allclose(got, frac, atol=0.01), got
    mm = out[out > 0] * 1000
    assert torch.allclose(mm, torch.round(mm), atol=1e-3)


def test_holes_are_blobs_on_the_sensor_lattice():
    lat = pixel_lattice(None, (60, 60), 1)
    holes = make_holes(lat, torch.tensor([0.3]), torch.tensor([10.0]), torch.tensor([5]))
    # blobs, not salt: most hole pixels have a hole neighbour to the right
    h = holes[0]
    assert (h[:, :-1] & h[:, 1:]).sum() > 0.8 * h[:, :-1].sum()


def test_edge_artefacts_concentrate_at_discontinuities():
    cfg = DepthNoise(hole_fraction=(0.0, 0.0), dropout=(0.0, 0.0), edge_drop=(0.6, 0.6),
                     edge_flying=(0.2, 0.2), edge_band=(2.0, 2.0))
    d = torch.full((2, 64, 64), 1.2)
    d[:, :, 32:] = 0.7
    out = apply_depth_noise(d, _gen(4), cfg=cfg)
    near_edge = (out[:, :, 29:35] == 0).float().mean()
    far = (out[:, :, 5:20] == 0).float().mean()
    assert near_edge > 0.2 and far < 0.01
    # flying pixels lie between the two surfaces
    mid = (out > 0.75) & (out < 1.15)
    assert mid.any() and not mid[:, :, :20].any()


def test_noise_is_blocky_in_magnified_crops():
    crop_tf = torch.eye(3).repeat(1, 1, 1)
    crop_tf[:, 0, 0] = crop_tf[:, 1, 1] = 4.0  # 4 crop pixels per sensor pixel
    crop_tf[:, :2, 2] = -400.0
    lat = pixel_lattice(crop_tf, (32, 32))
    assert torch.allclose(lattice_scale(crop_tf), torch.tensor([4.0]))
    u = hash_uniform(torch.round(lat[..., 0]), torch.round(lat[..., 1]), torch.tensor([[[7]]]))
    # a row of 32 crop pixels covers 8 or 9 sensor pixels
    assert 8 <= torch.unique(u[0, 5]).numel() <= 9
    rgb = torch.full((1, 3, 32, 32), 0.5)
    out = apply_rgb_noise(rgb, _gen(0), lat, lattice_scale(crop_tf))
    assert out.shape == rgb.shape and out.min() >= 0 and out.max() <= 1


# ------------------------------------------------------------------------------------------
# scene
# ------------------------------------------------------------------------------------------

def test_camera_projection_puts_points_on_their_pixels():
    K = torch.tensor([[500.0, 0.0, 31.3], [0.0, 520.0, 20.7], [0.0, 0.0, 1.0]])
    P = full_frame_projection(K, 40, 64)
    pts = torch.tensor([[0.01, -0.02, 0.5], [-0.03, 0.01, 0.9]])
    clip = torch.cat([pts, torch.ones(2, 1)], 1) @ P[0].T
    ndc = clip[:, :2] / clip[:, 3:]
    # the rasterizer puts the centre of pixel x at NDC (2x+1)/W - 1
    px = (ndc + 1) * torch.tensor([64.0, 40.0]) / 2 - 0.5
    uv = (pts @ K.T)[:, :2] / pts[:, 2:]
    assert torch.allclose(px, uv, atol=1e-3)
    # through a crop: the same point lands on crop_tf @ uv
    crop_tf = torch.tensor([[[2.0, 0.0, -10.0], [0.0, 2.0, -4.0], [0.0, 0.0, 1.0]]])
    Pc = pinhole_projection(K, crop_tf, (32, 32))
    clip = torch.cat([pts, torch.ones(2, 1)], 1) @ Pc[0].T
    px = (clip[:, :2] / clip[:, 3:] + 1) * 16 - 0.5
    assert torch.allclose(px, uv * 2 - torch.tensor([10.0, 4.0]), atol=1e-3)


def test_render_reference_matches_mesh_renderer():
    from pose_tracker.crop.window import crop_window_tf
    from pose_tracker.render.renderer import MeshRenderer

    tex = (random_textures(1, 16, _gen(0))[0].numpy() * 255).astype(np.uint8)
    mesh, _ = random_mesh(shape_rng('train', 0, 2), texture=tex, max_edge_ratio=0.12)
    K = torch.tensor([[600.0, 0, 320], [0, 600, 240], [0, 0, 1]])
    pose = torch.eye(4).repeat(2, 1, 1)
    pose[:, :3, :3] = random_rotations(2, _gen(1))
    pose[:, :3, 3] = torch.tensor([[0.03, -0.02, 0.6], [-0.05, 0.04, 0.9]])
    crop_tf = crop_window_tf(pose, K, mesh.diameter)
    ref = MeshRenderer(mesh).render(pose, K, crop_tf)
    mt = MeshTensors.from_mesh(mesh, 'cpu')
    texb = torch.as_tensor(mesh.texture).float().div(255).expand(2, -1, -1, -1)
    rgb, xyz, mask, _ = scene.render_reference(mt, pose, K, crop_tf, texb, window=16)
    assert mask.sum() > 500
    assert torch.allclose(rgb, ref.rgb, atol=1e-5)
    assert torch.allclose(xyz, ref.xyz, atol=1e-6)
    # untextured images are the contract's grey under the fixed light
    rgb2, _, _, _ = scene.render_reference(mt, pose, K, crop_tf, texb, window=16,
                                           textured=torch.tensor([True, False]))
    assert torch.equal(rgb2[0], rgb[0])
    g = rgb2[1][:, mask[1, 0] > 0]
    assert g.min() >= 128 / 255 * 0.8 - 1e-6 and (g[0] == g[1]).all()


@pytest.mark.parametrize('textured', [True, False])
def test_synth_render_equals_mesh_renderer_exactly(textured):
    # One renderer contract: synth's reference side is built from MeshRenderer's own functions,
    # so on CPU the same pose and crop give the same bits (texture or plain grey).
    from pose_tracker.crop.window import crop_window_tf
    from pose_tracker.render.renderer import MeshRenderer

    import dataclasses

    tex = (random_textures(1, 16, _gen(4))[0].numpy() * 255).astype(np.uint8)
    mesh, _ = random_mesh(shape_rng('train', 3, 1), texture=tex, max_edge_ratio=0.12)
    if not textured:  # no texture, no vertex colours: the contract's plain grey
        mesh = dataclasses.replace(mesh, texture=None)
    K = torch.tensor([[600.0, 0, 320], [0, 600, 240], [0, 0, 1]])
    pose = torch.eye(4).repeat(3, 1, 1)
    pose[:, :3, :3] = random_rotations(3, _gen(5))
    pose[:, :3, 3] = torch.tensor([[0.03, -0.02, 0.6], [-0.05, 0.04, 0.9], [0.0, 0.01, 0.4]])
    crop_tf = crop_window_tf(pose, K, mesh.diameter)
    renderer = MeshRenderer(mesh)
    ref = renderer.render(pose, K, crop_tf)
    geo = renderer.render_geometry(pose, K, crop_tf)
    mt = MeshTensors.from_mesh(mesh, 'cpu')
    texb = torch.as_tensor(tex).float().div(255).expand(3, -1, -1, -1) if textured else None
    rgb, xyz, mask, _ = scene.render_reference(mt, pose, K, crop_tf, texb,
                                               window=renderer.window)
    assert mask.sum() > 500
    assert torch.equal(mask, ref.mask) and torch.equal(mask, geo.mask)
    assert torch.equal(xyz, ref.xyz) and torch.equal(xyz, geo.xyz)
    assert torch.equal(rgb, ref.rgb)


def test_composite_takes_the_nearest_layer():
    m1 = torch.tensor([[[True, True, False]]])
    m2 = torch.tensor([[[True, False, False]]])
    d1 = torch.tensor([[[1.0, 1.0, 0.0]]])
    d2 = torch.tensor([[[0.5, 0.0, 0.0]]])
    c1, c2 = torch.ones(1, 1, 3, 3), torch.full((1, 1, 3, 3), 0.2)
    depth, rgb, idx = scene.composite([(m1, d1, c1), (m2, d2, c2)])
    assert depth.tolist() == [[[0.5, 1.0, 0.0]]]
    assert idx.tolist() == [[[1, 0, -1]]]
    assert torch.allclose(rgb[0, 0, 0], torch.full((3,), 0.2))


# ------------------------------------------------------------------------------------------
# pairs
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def pair_batch():
    return PairSampler(PairConfig.tiny(), seed=0).sample(1, 4)


def test_pair_batch_shapes_and_values(pair_batch):
    b = pair_batch
    assert b.A.shape == (4, 6, 160, 160) and b.B.shape == (4, 6, 160, 160)
    assert b.trans_target.shape == (4, 3) and b.rot_target.shape == (4, 3)
    for t in (b.A, b.B, b.trans_target, b.rot_target):
        assert torch.isfinite(t).all() and t.dtype == torch.float32
    for side in (b.A, b.B):
        assert side[:, :3].min() >= 0 and side[:, :3].max() <= 1
        assert side[:, 3:].abs().max() < 2.0  # normalised XYZ is zeroed outside [-2, 2)
    # the object is rendered on A and the observation has depth on B
    assert ((b.A[:, 5] != 0).float().mean((1, 2)) > 0.02).all()
    assert ((b.B[:, 5] != 0).float().mean((1, 2)) > 0.05).all()
    assert b.rot_target.abs().max() <= 1.0


def test_pair_targets_reproduce_gt_pose(pair_batch):
    b = pair_batch
    rot_raw = torch.atanh(b.rot_target.clamp(-0.999999, 0.999999))
    out = apply_refiner_update(b.pose_in, b.trans_target, rot_raw, b.diameter)
    assert torch.allclose(out[:, :3, 3], b.pose_gt[:, :3, 3], atol=1e-5)
    assert rotation_error_deg(out, b.pose_gt).max() < 0.05
    # the perturbations stay within FoundationPose's range
    dt = (b.pose_in[:, :3, 3] - b.pose_gt[:, :3, 3]).abs()
    assert (dt <= torch.tensor([0.02, 0.02, 0.05]) + 1e-6).all()
    assert rotation_error_deg(b.pose_in, b.pose_gt).max() <= 20.0 + 1e-3


def test_pairs_are_deterministic_per_step(pair_batch):
    again = PairSampler(PairConfig.tiny(), seed=0).sample(1, 4)
    assert again.fingerprint() == pair_batch.fingerprint()
    assert torch.equal(again.B, pair_batch.B)


def test_mesh_pool_state_is_a_function_of_the_step():
    cfg = PairConfig.tiny()  # 3 slots, 1 refreshed every 2 steps
    pool = MeshPool(cfg, seed=0, device='cpu')
    assert [pool._event_of(s, 0) for s in range(3)] == [0, 0, 0]
    assert [pool._event_of(s, 2) for s in range(3)] == [1, 0, 0]
    assert [pool._event_of(s, 7) for s in range(3)] == [1, 2, 3]
    assert [pool._event_of(s, 8) for s in range(3)] == [4, 2, 3]


# ------------------------------------------------------------------------------------------
# trajectories and sequences
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('mode', ['camera', 'object', 'both'])
def test_handheld_trajectory_respects_speed_and_view(mode):
    K = np.array([[600.0, 0, 320], [0, 600, 240], [0, 0, 1]])
    tr = handheld_trajectory(300, np.random.default_rng(3), mode=mode, K=K)
    v, w = relative_speeds(tr.obj_in_cam, 30.0)
    assert v.max() <= 0.5 + 1e-9 and w.max() <= 60.0 + 1e-9
    assert v.max() > 0.1 or w.max() > 20.0  # it does move
    t = tr.obj_in_cam[:, :3, 3]
    uv = (t @ K.T)[:, :2] / t[:, 2:]
    assert (uv[:, 0] > 0).all() and (uv[:, 0] < 640).all() and (t[:, 2] > 0.2).all()
    # smooth: accelerations bounded (no jumps between frames)
    acc = np.linalg.norm(np.diff(t, 2, axis=0), axis=1) * 30 * 30
    assert acc.max() < 20.0


def test_sequence_folder_is_readable(tmp_path):
    from pose_tracker.data.sequence import Sequence
    from pose_tracker.synth.sequence import generate_sequence
    from PIL import Image

    out = tmp_path / 'seq'
    meta = generate_sequence(out, frames=3, seed=1000, image_size=(48, 64), tex_px=32,
                             max_edge_ratio=0.1, distractors=1, quiet=True)
    assert json.loads((out / 'meta.json').read_text())['frames'] == 3 == meta['frames']
    assert Image.open(out / 'rgb' / '000000.png').mode == 'RGB'
    assert Image.open(out / 'depth' / '000002.png').mode in ('I;16', 'I;16B', 'I;16L', 'I')
    seq = Sequence(out)
    assert len(seq) == 3 and seq.image_size == (48, 64)
    assert seq.K.shape == (3, 3) and 40 < seq.K[0, 0] < 80  # 600 px at 640 wide, scaled
    f = seq.frame(1)
    assert f.rgb.dtype == np.uint8 and f.depth.dtype == np.float32 and f.gt_pose.shape == (4, 4)
    assert (f.depth > 0).mean() > 0.3 and f.depth.max() < 5.0
    # the GT pose projects the object's points onto its mask
    pts = np.loadtxt(out / 'points.xyz')
    p = pts @ f.gt_pose[:3, :3].T + f.gt_pose[:3, 3]
    uv = np.round((p @ seq.K.T)[:, :2] / p[:, 2:]).astype(int)
    ok = (uv[:, 0] >= 0) & (uv[:, 0] < 64) & (uv[:, 1] >= 0) & (uv[:, 1] < 48)
    assert ok.mean() > 0.9 and f.mask[uv[ok, 1], uv[ok, 0]].mean() > 0.6
    assert (out / 'mesh.obj').is_file() and (out / 'material_0.png').is_file()


def test_render_frames_splits_batches_without_changing_the_result():
    from pose_tracker.synth.sequence import render_frames

    mesh, _ = random_mesh(shape_rng('test', 0, 1), max_edge_ratio=0.1)
    mt = MeshTensors.from_mesh(mesh, 'cpu')
    K = torch.tensor([[60.0, 0, 32], [0, 60, 24], [0, 0, 1]])
    pose = torch.eye(4).repeat(3, 1, 1)
    pose[:, :3, :3] = random_rotations(3, _gen(2))
    pose[:, :3, 3] = torch.tensor([0.0, 0.0, 0.6])
    proj = full_frame_projection(K, 48, 64).expand(3, 4, 4)
    whole = render_frames(mt, pose, proj, (48, 64), budget_bytes=1e12)
    split = render_frames(mt, pose, proj, (48, 64), budget_bytes=1.0)  # one frame per call
    assert whole.mask.sum() > 100
    assert torch.equal(whole.mask, split.mask) and torch.equal(whole.xyz, split.xyz)
