# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Known-answer and reference tests of the rasterize / interpolate / texture ops (CPU)."""

import numpy as np
import pytest
import torch

from pose_tracker.render.interpolate import interpolate
from pose_tracker.render.rasterize import max_pixel_extent, rasterize
from pose_tracker.render.texture import texture


def clip_from_pixels(xy, H, W, z=0.5, w=1.0):
    """Clip-space (V,4) positions of vertices at pixel coordinates (pixel centres are integers)."""
    xy = np.asarray(xy, dtype=np.float64)
    z = np.broadcast_to(np.asarray(z, dtype=np.float64), (len(xy),))
    w = np.broadcast_to(np.asarray(w, dtype=np.float64), (len(xy),))
    ndc_x = (2 * xy[:, 0] + 1) / W - 1
    ndc_y = (2 * xy[:, 1] + 1) / H - 1
    return torch.tensor(np.stack([ndc_x * w, ndc_y * w, z * w, w], -1), dtype=torch.float32)


def coverage_count(pos, tri, resolution, window=8):
    """Per-pixel number of triangles covering it: each triangle rasterized alone (batch item)."""
    F = tri.shape[0]
    soup = pos[tri.reshape(-1)].reshape(F, 3, 4)
    batch = soup.unsqueeze(0).repeat(F, 1, 1, 1)
    hide = ~torch.eye(F, dtype=torch.bool)
    batch[hide] = torch.tensor([0.0, 0.0, 0.0, -1.0])  # w < 0: discarded
    soup_tri = torch.arange(3 * F).reshape(F, 3)
    rast = rasterize(batch.reshape(F, 3 * F, 4), soup_tri, resolution, window=window)
    return (rast[..., 3] > 0).sum(0)


def test_single_triangle_pixels_and_barycentrics():
    H = W = 8
    pos = clip_from_pixels([(1, 1), (6, 1), (1, 6)], H, W)[None]
    tri = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    rast = rasterize(pos, tri, (H, W))
    assert rast.shape == (1, H, W, 4) and rast.dtype == torch.float32
    # Top edge y=1 and left edge x=1 are included, the hypotenuse x+y=7 is not (top-left rule).
    expected = np.zeros((H, W), dtype=bool)
    for y in range(H):
        for x in range(W):
            expected[y, x] = x >= 1 and y >= 1 and x + y < 7
    assert expected.sum() == 15
    np.testing.assert_array_equal(rast[0, ..., 3].numpy() > 0, expected)
    assert set(np.unique(rast[0, ..., 3].numpy())) == {0.0, 1.0}
    # (u, v) are the weights of vertices 0 and 1; with w=1 they are the affine barycentrics.
    np.testing.assert_allclose(rast[0, 1, 1, :2].numpy(), [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(rast[0, 1, 5, :2].numpy(), [0.2, 0.8], atol=1e-6)
    np.testing.assert_allclose(rast[0, 3, 2, :2].numpy(), [0.4, 0.2], atol=1e-6)
    np.testing.assert_allclose(rast[0, ..., 2].numpy()[expected], 0.5, atol=1e-6)
    assert (rast[0][torch.from_numpy(~expected)] == 0).all()


def test_quad_shared_diagonal_covered_once():
    H = W = 10
    pos = clip_from_pixels([(1, 1), (7, 1), (7, 7), (1, 7)], H, W)
    for tri in ([[0, 1, 2], [0, 2, 3]], [[0, 2, 1], [0, 3, 2]], [[1, 2, 3], [1, 3, 0]]):
        tri = torch.tensor(tri)
        count = coverage_count(pos, tri, (H, W))
        expected = torch.zeros(H, W, dtype=torch.int64)
        expected[1:7, 1:7] = 1  # left/top edges in, right/bottom out
        assert torch.equal(count, expected), tri
        rast = rasterize(pos[None], tri, (H, W))
        assert torch.equal((rast[0, ..., 3] > 0).long(), expected)


def test_jittered_grid_is_watertight():
    """Interior vertices jittered; the union is the outer square, every pixel drawn once."""
    rng = np.random.default_rng(3)
    n, H, W = 5, 20, 20
    gx, gy = np.meshgrid(np.linspace(2.3, 16.7, n), np.linspace(1.6, 17.2, n))
    pts = np.stack([gx, gy], -1)
    pts[1:-1, 1:-1] += rng.uniform(-1.2, 1.2, size=(n - 2, n - 2, 2))
    pts = pts.reshape(-1, 2)
    faces = []
    for j in range(n - 1):
        for i in range(n - 1):
            a, b, c, d = j * n + i, j * n + i + 1, (j + 1) * n + i + 1, (j + 1) * n + i
            faces += [[a, b, c], [a, c, d]] if (i + j) % 2 else [[a, b, d], [b, c, d]]
    pos = clip_from_pixels(pts, H, W)
    count = coverage_count(pos, torch.tensor(faces), (H, W), window=12)
    ys, xs = np.mgrid[0:H, 0:W]
    inside = (xs >= 2.3) & (xs < 16.7) & (ys >= 1.6) & (ys < 17.2)
    np.testing.assert_array_equal(count.numpy(), inside.astype(np.int64))


def test_front_triangle_occludes_back_one():
    H = W = 12
    back = clip_from_pixels([(0, 0), (11, 0), (0, 11)], H, W, z=0.6, w=2.0)
    front = clip_from_pixels([(2, 2), (8, 2), (2, 8)], H, W, z=0.2, w=1.0)
    pos = torch.cat([back, front])[None]
    for order in ([[0, 1, 2], [3, 4, 5]], [[3, 4, 5], [0, 1, 2]]):
        tri = torch.tensor(order)
        front_id = 2.0 if order[1][0] == 3 else 1.0
        rast = rasterize(pos, tri, (H, W), window=12)
        ids = rast[0, ..., 3]
        assert ids[4, 4] == front_id and ids[2, 2] == front_id
        assert ids[1, 1] == 3.0 - front_id and ids[9, 1] == 3.0 - front_id
        assert ids[11, 11] == 0
        np.testing.assert_allclose(rast[0, 4, 4, 2].item(), 0.2, atol=1e-6)
        np.testing.assert_allclose(rast[0, 1, 1, 2].item(), 0.6, atol=1e-6)


def test_behind_camera_triangles_are_discarded():
    H = W = 8
    pos = clip_from_pixels([(1, 1), (6, 1), (1, 6)], H, W)
    pos[2, 3] = -0.5  # one vertex behind the camera
    rast = rasterize(pos[None], torch.tensor([[0, 1, 2]]), (H, W))
    assert (rast == 0).all()


def test_window_limit_and_max_pixel_extent():
    H = W = 32
    pos = clip_from_pixels([(2, 2), (20, 2), (2, 20)], H, W)[None]
    tri = torch.tensor([[0, 1, 2]])
    assert max_pixel_extent(pos, tri, (H, W)) == 19
    full = rasterize(pos, tri, (H, W), window=19)[0, ..., 3] > 0
    part = rasterize(pos, tri, (H, W), window=8)[0, ..., 3] > 0
    assert full.sum() == sum(range(1, 19))  # x, y >= 2 and x + y < 22
    assert part.sum() == 64 and full[2:10, 2:10].all() and part[2:10, 2:10].all()
    # Triangles off screen or behind the camera do not count.
    off = clip_from_pixels([(40, 2), (90, 2), (40, 50)], H, W)[None]
    assert max_pixel_extent(off, tri, (H, W)) == 0


def _reference_rasterize(pos, tri, H, W):
    """
    Brute-force float64 reference: every pixel against every triangle.

    Coverage from vertices snapped to 1/16 pixel (nvdiffrast's rule), barycentrics and depth
    from the exact positions, clamped like nvdiffrast.
    """
    pos = pos.double().numpy()
    ys, xs = np.mgrid[0:H, 0:W]
    fx, fy = (2 * xs + 1) / W - 1, (2 * ys + 1) / H - 1
    best_z = np.full((H, W), np.inf)
    out = np.zeros((H, W, 4))
    margin = np.full((H, W), np.inf)  # distance (in pixels) of the pixel centre to any edge
    depth_gap = np.full((H, W), np.inf)  # gap between the two nearest covering triangles
    for f, (i0, i1, i2) in enumerate(tri.numpy()):
        p = pos[[i0, i1, i2]]
        sx = np.round(p[:, 0] / p[:, 3] * 8 * W) / 16 + W / 2 - 0.5
        sy = np.round(p[:, 1] / p[:, 3] * 8 * H) / 16 + H / 2 - 0.5
        e = []
        for k in range(3):
            a, b = (k + 1) % 3, (k + 2) % 3
            ek = (xs - sx[a]) * (sy[b] - sy[a]) - (ys - sy[a]) * (sx[b] - sx[a])
            length = np.hypot(sx[b] - sx[a], sy[b] - sy[a])
            e.append(ek / length)
        e = np.stack(e)
        area2 = (sx[0] - sx[1]) * (sy[2] - sy[1]) - (sy[0] - sy[1]) * (sx[2] - sx[1])
        e = e * np.sign(area2)
        inside = (e > 0).all(0)
        margin = np.minimum(margin, np.abs(e).min(0))
        # nvdiffrast's perspective-correct barycentrics and z/w.
        px = p[:, 0, None, None] - fx[None] * p[:, 3, None, None]
        py = p[:, 1, None, None] - fy[None] * p[:, 3, None, None]
        a0 = px[1] * py[2] - py[1] * px[2]
        a1 = px[2] * py[0] - py[2] * px[0]
        a2 = px[0] * py[1] - py[0] * px[1]
        s = a0 + a1 + a2
        w_sum = p[0, 3] * a0 + p[1, 3] * a1 + p[2, 3] * a2
        zw = (p[0, 2] * a0 + p[1, 2] * a1 + p[2, 2] * a2) / w_sum
        wz = w_sum / s  # perspective-correct depth w
        closer = inside & (wz < best_z)
        depth_gap = np.where(inside, np.minimum(depth_gap, np.abs(wz - best_z)), depth_gap)
        best_z = np.where(closer, wz, best_z)
        b0, b1 = np.clip(a0 / s, 0, 1), np.clip(a1 / s, 0, 1)
        norm = np.maximum(b0 + b1, 1)
        new = np.stack([b0 / norm, b1 / norm, zw, np.full_like(s, f + 1)], -1)
        out = np.where(closer[..., None], new, out)
    return out, margin, depth_gap


def test_matches_brute_force_reference_on_random_mesh():
    rng = np.random.default_rng(7)
    H, W, V, F = 24, 32, 40, 60
    centre = rng.uniform(-0.5, 0.5, size=(1, 3)) * [1, 1, 0] + [0, 0, 2.0]
    xyz = centre + rng.normal(scale=0.35, size=(V, 3))
    # A simple perspective projection: x_ndc = x/z, y_ndc = y/z, w = z.
    f, n = 10.0, 0.1
    pos = torch.tensor(np.stack([xyz[:, 0] * 3.0, xyz[:, 1] * 4.0,
                                 (f + n) / (f - n) * xyz[:, 2] - 2 * f * n / (f - n),
                                 xyz[:, 2]], -1), dtype=torch.float32)
    tri = np.stack([rng.choice(V, size=3, replace=False) for _ in range(F)])
    tri = torch.tensor(tri)
    assert max_pixel_extent(pos[None], tri, (H, W)) <= 40
    rast = rasterize(pos[None], tri, (H, W), window=40)[0].numpy()
    ref, margin, gap = _reference_rasterize(pos, tri, H, W)
    clear = margin > 1e-3  # pixel centres not within rounding distance of an edge
    np.testing.assert_array_equal(rast[..., 3][clear] > 0, ref[..., 3][clear] > 0)
    assert clear.mean() > 0.95 and (ref[..., 3] > 0).sum() > 300
    # Depth is tested on the snapped triangle (as nvdiffrast does): skip near-ties in depth.
    same = clear & (ref[..., 3] > 0) & (gap > 1e-2)
    assert same.sum() > 250
    np.testing.assert_array_equal(rast[..., 3][same], ref[..., 3][same])
    np.testing.assert_allclose(rast[same][:, :3], ref[same][:, :3], atol=2e-4)


def test_deterministic_and_batch_independent():
    rng = np.random.default_rng(1)
    pos = torch.tensor(rng.uniform(-1, 1, size=(2, 30, 4)), dtype=torch.float32)
    pos[..., 3] = torch.abs(pos[..., 3]) + 1.0
    tri = torch.tensor(rng.integers(0, 30, size=(50, 3)))
    a = rasterize(pos, tri, (16, 20), window=20)
    b = rasterize(pos, tri, (16, 20), window=20)
    assert torch.equal(a, b)
    assert torch.equal(a[1:], rasterize(pos[1:], tri, (16, 20), window=20))


def test_interpolate_reproduces_plane_points_perspective_correct():
    """XYZ of a slanted plane, interpolated, must lie on the pixel's viewing ray."""
    H = W = 16
    fpx = 20.0  # focal length in pixels, principal point at the image centre
    xy = torch.tensor([[-0.3, -0.3], [0.4, -0.3], [0.4, 0.3], [-0.3, 0.3]])
    xyz = torch.cat([xy, (1.5 + 0.5 * xy[:, :1] + 0.8 * xy[:, 1:])], dim=1)  # plane, z slanted
    # Clip space of a pinhole camera: x_ndc = 2 f x / (W z), w = z.
    pos = torch.stack([2 * fpx * xyz[:, 0] / W, 2 * fpx * xyz[:, 1] / H,
                       xyz[:, 2] * 0.5, xyz[:, 2]], -1)
    tri = torch.tensor([[0, 1, 2], [0, 2, 3]])
    rast = rasterize(pos[None], tri, (H, W))
    out = interpolate(xyz, rast, tri)
    assert out.shape == (1, H, W, 3)
    m = rast[0, ..., 3] > 0
    assert m.sum() > 40
    p = out[0][m]
    ys, xs = torch.meshgrid(torch.arange(H), torch.arange(W), indexing='ij')
    # Pixel centre (x, y) sees the ray ((x + 0.5 - W/2) / f, (y + 0.5 - H/2) / f, 1).
    torch.testing.assert_close(p[:, 0] / p[:, 2], (xs[m] + 0.5 - W / 2) / fpx, atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(p[:, 1] / p[:, 2], (ys[m] + 0.5 - H / 2) / fpx, atol=1e-5,
                               rtol=0)
    normal = torch.linalg.cross(xyz[1] - xyz[0], xyz[3] - xyz[0])
    torch.testing.assert_close((p - xyz[0]) @ normal, torch.zeros(len(p)), atol=1e-5, rtol=0)
    assert (out[0][~m] == 0).all()
    # Batched attributes and broadcasting (1,V,C) give the same result.
    out_b = interpolate(torch.stack([xyz, 2 * xyz]), rast.expand(2, -1, -1, -1), tri)
    torch.testing.assert_close(out_b[0], out[0])
    torch.testing.assert_close(out_b[1], 2 * out[0])
    torch.testing.assert_close(interpolate(xyz[None], rast, tri), out)


def test_interpolate_nvdiffrast_layout():
    rast = torch.zeros(1, 2, 2, 4)
    rast[0, 0, 0] = torch.tensor([0.2, 0.3, 0.0, 2.0])  # triangle 1
    rast[0, 1, 1] = torch.tensor([1.0, 0.0, 0.0, 1.0])  # triangle 0 at its vertex 0
    tri = torch.tensor([[0, 1, 2], [3, 2, 1]], dtype=torch.int32)
    attr = torch.tensor([[1.0], [10.0], [100.0], [1000.0]])
    out = interpolate(attr, rast, tri)[0, ..., 0]
    assert out[0, 0].item() == pytest.approx(0.2 * 1000 + 0.3 * 100 + 0.5 * 10)
    assert out[1, 1].item() == pytest.approx(1.0)
    assert out[0, 1] == 0 and out[1, 0] == 0


def _bilinear_wrap(tex, u, v):
    """Sample bilinearly by hand: texel centres at (i+0.5)/W, wrapped neighbours."""
    Ht, Wt = tex.shape[:2]
    x, y = (u % 1.0) * Wt - 0.5, (v % 1.0) * Ht - 0.5
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    ax, ay = x - x0, y - y0
    t = lambda j, i: tex[j % Ht, i % Wt]  # noqa: E731
    return ((1 - ay) * ((1 - ax) * t(y0, x0) + ax * t(y0, x0 + 1))
            + ay * ((1 - ax) * t(y0 + 1, x0) + ax * t(y0 + 1, x0 + 1)))


def test_texture_bilinear_wrap():
    rng = np.random.default_rng(0)
    tex = rng.uniform(size=(3, 4, 2)).astype(np.float32)
    uv = np.array([[0.125, 1 / 6], [0.375, 0.5], [0.25, 1 / 3], [0.0, 0.0], [0.99, 0.01],
                   [1.125, -5 / 6], [0.3, 0.7], [-0.45, 2.2]], dtype=np.float32)
    out = texture(torch.from_numpy(tex)[None], torch.from_numpy(uv).view(1, 1, -1, 2))
    assert out.shape == (1, 1, len(uv), 2)
    ref = np.stack([_bilinear_wrap(tex, u, v) for u, v in uv.astype(np.float64)])
    np.testing.assert_allclose(out[0, 0].numpy(), ref, atol=1e-5)
    # Texel centres return the texel; (0, 0) averages the four corner texels (wrap).
    np.testing.assert_allclose(out[0, 0, 0].numpy(), tex[0, 0], atol=1e-6)
    np.testing.assert_allclose(out[0, 0, 3].numpy(), tex[[0, 0, -1, -1], [0, -1, 0, -1]].mean(0),
                               atol=1e-6)
    # A per-image texture batch.
    tex2 = torch.from_numpy(np.stack([tex, 2 * tex]))
    out2 = texture(tex2, torch.from_numpy(uv).view(1, 1, -1, 2).expand(2, -1, -1, -1))
    torch.testing.assert_close(out2[1], 2 * out[0])


def test_gather_rows_matches_indexing():
    from pose_tracker.render.rasterize import gather_rows
    for C in (1, 3, 4, 7):  # 4 float32 = 16-byte rows take the element-wise path
        table = torch.randn(50, C)
        index = torch.randint(0, 50, (6, 5, 3))
        assert torch.equal(gather_rows(table, index), table[index])
    table = torch.randint(0, 100, (20, 2), dtype=torch.int64)  # 16-byte int64 rows
    index = torch.randint(0, 20, (7,), dtype=torch.int32)
    assert torch.equal(gather_rows(table, index), table[index.long()])
