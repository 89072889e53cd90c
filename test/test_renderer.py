# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of the crop projection and of MeshRenderer (CPU, backend "ours")."""

import numpy as np
from PIL import Image
import pytest
import torch
import trimesh

from pose_tracker.crop.window import crop_window_tf
from pose_tracker.mesh import load_mesh, mesh_from_trimesh
from pose_tracker.render.projection import crop_projection, transform_points
from pose_tracker.render.rasterize import max_pixel_extent
from pose_tracker.render.renderer import MeshRenderer, window_for_mesh

S = 160
K_TEST = torch.tensor([[600.0, 0.0, 321.5], [0.0, 605.0, 238.2], [0.0, 0.0, 1.0]])


def _crop_tf(left, top, size, out=S):
    s = out / size
    return torch.tensor([[s, 0.0, -s * left], [0.0, s, -s * top], [0.0, 0.0, 1.0]])


def _foundationpose_ndc(K, crop_tf, pts, H=480, W=640, znear=0.001, zfar=100.0):
    """NDC of FoundationPose's pipeline: GL camera, y_down projection, bbox2d window, row flip."""
    K, crop_tf, pts = (np.asarray(a, dtype=np.float64) for a in (K, crop_tf, pts))
    q, qn = -(zfar + znear) / (zfar - znear), -2 * zfar * znear / (zfar - znear)
    proj = np.array([[2 * K[0, 0] / W, -2 * K[0, 1] / W, (-2 * K[0, 2] + W) / W, 0],
                     [0, 2 * K[1, 1] / H, (2 * K[1, 2] - H) / H, 0],
                     [0, 0, q, qn], [0, 0, -1, 0]])
    inv = np.linalg.inv(crop_tf)
    lt = inv @ [0, 0, 1]
    rb = inv @ [S - 1, S - 1, 1]
    left, right = lt[0] / lt[2], rb[0] / rb[2]
    top, bottom = H - lt[1] / lt[2], H - rb[1] / rb[2]
    tf = np.eye(4)
    tf[0, 0], tf[1, 1] = W / (right - left), H / (top - bottom)
    tf[3, 0], tf[3, 1] = (W - right - left) / (right - left), (H - top - bottom) / (top - bottom)
    clip = (np.c_[pts, np.ones(len(pts))] * [1, -1, -1, 1]) @ proj.T @ tf
    ndc = clip[:, :3] / clip[:, 3:]
    ndc[:, 1] *= -1  # FoundationPose flips the rendered rows: row r <- row S-1-r
    return ndc, clip[:, 3]


def test_crop_projection_matches_foundationpose_and_crop_pixels():
    rng = np.random.default_rng(0)
    K = K_TEST.clone()
    K[0, 1] = 0.7  # a little skew, to check that column too
    crop_tf = _crop_tf(201.0, 117.0, 173.0)
    pts = np.c_[rng.uniform(-0.1, 0.1, (20, 2)), rng.uniform(0.4, 1.2, 20)]
    P = crop_projection(K, crop_tf[None].double(), S)
    assert P.shape == (1, 4, 4) and P.dtype == torch.float64
    clip = transform_points(P, torch.from_numpy(pts))[0].numpy()
    ndc_fp, w_fp = _foundationpose_ndc(K.numpy(), crop_tf.numpy(), pts)
    np.testing.assert_allclose(clip[:, :3] / clip[:, 3:], ndc_fp, atol=1e-9)
    np.testing.assert_allclose(clip[:, 3], pts[:, 2], atol=1e-12)
    np.testing.assert_allclose(w_fp, pts[:, 2], atol=1e-12)
    # Raster pixel x (centre at NDC (2x+1)/S - 1) sits at crop coordinate (x + 0.5)(S-1)/S.
    uv = pts @ K.double().numpy().T
    uv = uv[:, :2] / uv[:, 2:]
    crop = (crop_tf.double().numpy() @ np.c_[uv, np.ones(len(uv))].T).T[:, :2]
    raster = ((clip[:, :2] / clip[:, 3:] + 1) * S - 1) / 2
    np.testing.assert_allclose(raster, crop * S / (S - 1) - 0.5, atol=1e-9)
    # Depth range: z/w is -1 at znear and +1 at zfar.
    near_far = transform_points(P, torch.tensor([[0.0, 0.0, 0.001], [0.0, 0.0, 100.0]]).double())
    np.testing.assert_allclose((near_far[0, :, 2] / near_far[0, :, 3]).numpy(), [-1, 1],
                               atol=1e-9)


def test_transform_points():
    mtx = torch.randn(3, 4, 4)
    pos = torch.randn(7, 3)
    out = transform_points(mtx, pos)
    ref = torch.einsum('bij,vj->bvi', mtx, torch.cat([pos, torch.ones(7, 1)], 1))
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(transform_points(mtx, pos.expand(3, 7, 3)), ref)


def _facing_box(visual=None):
    tm = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    tm.unmerge_vertices()  # one normal per face: flat shading
    if visual is not None:
        tm.visual = visual(tm)
    return tm


def _front_pose(z=0.5, x=0.0):
    pose = torch.eye(4)
    pose[0, 3], pose[2, 3] = x, z
    return pose[None]


def test_plain_and_vertex_coloured_box():
    pose = _front_pose()

    def red(tm):
        colors = np.tile([[200, 40, 0, 255]], (len(tm.vertices), 1))
        return trimesh.visual.ColorVisuals(tm, vertex_colors=colors)

    for visual, colour in [(None, [128 / 255] * 3), (red, [1.0, 40 / 255 * 1.3, 0.0])]:
        mesh = mesh_from_trimesh(_facing_box(visual))
        r = MeshRenderer(mesh)
        tf = crop_window_tf(pose, K_TEST, mesh.diameter)
        out = r.render(pose, K_TEST, tf)
        assert out.rgb.shape == (1, 3, S, S) and out.xyz.shape == (1, 3, S, S)
        assert out.mask.shape == (1, 1, S, S) and out.rgb.dtype == torch.float32
        m = out.mask[0, 0] > 0
        assert set(out.mask.unique().tolist()) == {0.0, 1.0}
        # Only the face z = -0.05 is visible, facing the camera: diffuse = 1, colour * 1.3.
        expected = torch.tensor(colour).clamp(max=1.0)
        if visual is None:
            expected = expected * 1.3
        torch.testing.assert_close(out.rgb[0][:, m], expected[:, None].expand(3, int(m.sum())),
                                   atol=1e-5, rtol=0)
        torch.testing.assert_close(out.xyz[0, 2][m], torch.full((int(m.sum()),), 0.45),
                                   atol=1e-5, rtol=0)
        assert (out.rgb[0][:, ~m] == 0).all() and (out.xyz[0][:, ~m] == 0).all()
        # The 10 cm face at 45 cm covers 0.1 * 600 / 0.45 = 133 image pixels; the crop spans
        # 1.2 * diameter = 0.208 m at 0.5 m (250 px on 160): about 85 crop pixels wide.
        width = m.any(0).sum().item()
        assert 80 <= width <= 90 and m.any(1).sum().item() in range(80, 91)


def test_textured_quad_orientation():
    """Texture row 0 (top) appears at the top of the render with OBJ uv (v up)."""
    v = np.array([[-0.05, -0.05, 0.0], [0.05, -0.05, 0.0], [0.05, 0.05, 0.0],
                  [-0.05, 0.05, 0.0]])  # y down in the camera: index 0, 1 at the top
    f = np.array([[0, 2, 1], [0, 3, 2]])  # facing -z (towards the camera)
    uv = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    img = np.array([[[100, 0, 0], [0, 100, 0]], [[0, 0, 100], [100, 100, 0]]], dtype=np.uint8)
    tm = trimesh.Trimesh(v, f, process=False)
    # 4x4 texels in 2x2 blocks: the block colour is exact between two texel centres of a block.
    tex = np.kron(img, np.ones((2, 2, 1), dtype=np.uint8))
    tm.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(tex))
    mesh = mesh_from_trimesh(tm)
    assert mesh.texture is not None
    r = MeshRenderer(mesh)
    pose = _front_pose(0.4)
    out = r.render(pose, K_TEST, crop_window_tf(pose, K_TEST, mesh.diameter))
    rgb = out.rgb[0]
    m = out.mask[0, 0] > 0
    rows, cols = torch.nonzero(m, as_tuple=True)
    y0, y1, x0, x1 = rows.min(), rows.max(), cols.min(), cols.max()
    # Sample at the quadrant centres, where bilinear filtering gives the block colour.
    qy = [y0 + (y1 - y0) // 4, y1 - (y1 - y0) // 4]
    qx = [x0 + (x1 - x0) // 4, x1 - (x1 - x0) // 4]
    for i in range(2):
        for j in range(2):
            expected = torch.tensor(img[i, j] / 255 * 1.3, dtype=torch.float32)
            torch.testing.assert_close(rgb[:, qy[i], qx[j]], expected, atol=1e-5, rtol=0)


@pytest.fixture(scope='module')
def gelatin(ycbv):
    return load_mesh(ycbv / 'models' / '009_gelatin_box' / 'textured.obj')


def _gt(ycbv, mesh, obj, frame=1):
    seq = ycbv / 'sequences' / '0000'
    K = torch.tensor(np.loadtxt(seq / 'cam_K.txt'), dtype=torch.float32)
    T = np.loadtxt(seq / 'ob_in_cam' / obj / f'{frame:06d}.txt')
    T[:3, 3] += T[:3, :3] @ mesh.center  # original -> centred mesh frame
    depth = np.asarray(Image.open(seq / 'depth' / f'{frame:06d}.png')).astype(np.float32) / 1000
    mask = np.asarray(Image.open(seq / 'masks' / obj / f'{frame:06d}.png')) > 0
    return torch.tensor(T, dtype=torch.float32)[None], K, depth, mask


def _sample_crop(image, crop_tf):
    """Nearest original pixel under each render pixel (crop coordinate (x + 0.5)(S-1)/S)."""
    inv = np.linalg.inv(crop_tf[0].double().numpy())
    c = (np.arange(S) + 0.5) * (S - 1) / S
    u = np.round(inv[0, 0] * c + inv[0, 2]).astype(int)
    v = np.round(inv[1, 1] * c + inv[1, 2]).astype(int)
    H, W = image.shape[:2]
    inside = ((v >= 0) & (v < H))[:, None] & ((u >= 0) & (u < W))[None]
    out = image[np.clip(v, 0, H - 1)][:, np.clip(u, 0, W - 1)]
    return np.where(inside, out, np.zeros((), dtype=out.dtype))


def test_render_ycb_at_ground_truth_pose(ycbv, gelatin):
    pose, K, depth, gt_mask = _gt(ycbv, gelatin, '009_gelatin_box')
    r = MeshRenderer(gelatin)
    assert r.window == 8
    tf = crop_window_tf(pose, K, gelatin.diameter)
    out = r.render(pose, K, tf)
    m = out.mask[0, 0].numpy() > 0
    gt = _sample_crop(gt_mask, tf)
    assert (m & gt).sum() / (m | gt).sum() > 0.95
    real = _sample_crop(depth, tf)
    both = m & gt & (real > 0)
    dz = np.abs(out.xyz[0, 2].numpy()[both] - real[both])
    assert both.sum() > 3000 and np.median(dz) < 0.002 and np.mean(dz < 0.01) > 0.98
    # XYZ is in the camera frame: X/Z and Y/Z follow the pixel's ray through K (except at pixels
    # covered only thanks to the 1/16-pixel vertex snapping, where barycentrics are clamped).
    xyz = out.xyz[0].numpy()
    uv = K.numpy() @ xyz[:, m]
    crop = tf[0].numpy() @ (uv / uv[2:])
    c = (np.arange(S) + 0.5) * (S - 1) / S
    err = np.hypot(crop[0] - np.broadcast_to(c[None], (S, S))[m],
                   crop[1] - np.broadcast_to(c[:, None], (S, S))[m])
    assert np.mean(err < 0.01) > 0.98 and err.max() < 0.5
    rgb = out.rgb[0].numpy()
    assert rgb.min() >= 0 and rgb.max() <= 1 and rgb[:, m].mean() > 0.2
    assert (rgb[:, ~m] == 0).all() and (xyz[:, ~m] == 0).all()
    # Every triangle fits the rasterizer window at this pose.
    proj = crop_projection(K, tf, S)
    pos_clip = transform_points(proj @ pose, r.pos_raster)
    assert max_pixel_extent(pos_clip, r.tri_raster, (S, S)) <= r.window


def test_render_batch_determinism_and_shared_K(gelatin):
    r = MeshRenderer(gelatin)
    pose = torch.eye(4).repeat(2, 1, 1)
    pose[:, 2, 3] = torch.tensor([0.5, 0.7])
    pose[1, :3, :3] = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    tf = crop_window_tf(pose, K_TEST, gelatin.diameter)
    both = r.render(pose, K_TEST, tf)
    again = r.render(pose, K_TEST.expand(2, 3, 3), tf)
    for a, b in zip(both, again):
        assert torch.equal(a, b)
    for i in range(2):
        single = r.render(pose[i:i + 1], K_TEST, tf[i:i + 1])
        for a, b in zip(both, single):
            torch.testing.assert_close(a[i:i + 1], b, atol=1e-6, rtol=0)
    assert both.mask[0].sum() > 1000 and both.mask[1].sum() > 1000


def test_window_rule():
    # YCB defaults: edges <= 0.03 D -> 4 px at the centre depth; x1.5 near side, x1.25 oblique.
    assert window_for_mesh(0.03, 1.0, 0.5) == 8
    assert window_for_mesh(0.06, 1.0, 0.5) == 16
    assert window_for_mesh(0.03, 1.0, 0.5, min_distance=3.0) == 7
    assert window_for_mesh(1e-4, 1.0) == 2
