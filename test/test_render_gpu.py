# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""GPU tests of the renderer: our rasterizer against nvdiffrast, and CUDA-graph capture."""

import numpy as np
import pytest
import torch

from pose_tracker.crop.window import crop_window_tf
from pose_tracker.mesh import load_mesh
from pose_tracker.render import nvdiffrast_backend
from pose_tracker.render.interpolate import interpolate
from pose_tracker.render.projection import crop_projection, transform_points
from pose_tracker.render.rasterize import max_pixel_extent, rasterize
from pose_tracker.render.renderer import MeshRenderer

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')]
# Skipped only without CUDA or without the package (pip install '.[nvdiffrast]'); an installed
# nvdiffrast whose plugin fails to build or load makes these tests fail, with the reason.
needs_nvdiffrast = pytest.mark.skipif(
    bool(nvdiffrast_backend.unavailable_reason()),
    reason=nvdiffrast_backend.unavailable_reason() or 'nvdiffrast is available')

MESHES = [('003_cracker_box', 'textured.obj'), ('025_mug', 'mesh_geometry_only.obj'),
          ('006_mustard_bottle', 'textured.obj'), ('011_banana', 'textured.obj'),
          ('052_extra_large_clamp', 'mesh_geometry_only.obj')]
K_YCB = torch.tensor([[1066.778, 0.0, 312.9869], [0.0, 1067.487, 241.3109], [0.0, 0.0, 1.0]])


def random_poses(n, diameter, seed):
    """Poses with random rotations, the object in view at 1.5 to 4 diameters (>= 0.35 m)."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, 4, generator=g, dtype=torch.float64)
    q = q / q.norm(dim=1, keepdim=True)
    w, x, y, z = q.unbind(1)
    R = torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
                     2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
                     2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
                    1).view(n, 3, 3)
    tz = torch.maximum(torch.rand(n, generator=g, dtype=torch.float64) * 2.5 * diameter
                       + 1.5 * diameter, torch.tensor(0.35, dtype=torch.float64))
    txy = (torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5) * 0.4 * tz[:, None]
    pose = torch.eye(4, dtype=torch.float64).repeat(n, 1, 1)
    pose[:, :3, :3] = R
    pose[:, :3, 3] = torch.cat([txy, tz[:, None]], 1)
    return pose.float()


@pytest.fixture(scope='module')
def meshes(ycbv):
    return {name: load_mesh(ycbv / 'models' / name / f) for name, f in MESHES}


@needs_nvdiffrast
def test_nvdiffrast_plugin_builds_and_loads():
    """The JIT build (first use) and load succeed; timing printed for the GPU-check log."""
    dr = nvdiffrast_backend.load()
    info = nvdiffrast_backend.load_info()
    print(f"nvdiffrast plugin: {info['plugin_dir']} (first load {info['load_seconds']:.1f} s)")
    assert info['error'] is None and hasattr(dr, 'rasterize')
    rast = nvdiffrast_backend.rasterize(
        torch.tensor([[[-0.5, -0.5, 0.0, 1.0], [0.5, -0.5, 0.0, 1.0], [0.0, 0.5, 0.0, 1.0]]],
                     device='cuda'), torch.tensor([[0, 1, 2]], device='cuda'), (16, 16))
    # The triangle spans half of a quarter of the image: about 32 of the 256 pixels.
    assert rast.shape == (1, 16, 16, 4) and 24 <= (rast[..., 3] == 1).sum() <= 40


@needs_nvdiffrast
@pytest.mark.parametrize('name', [m[0] for m in MESHES])
def test_ours_matches_nvdiffrast(meshes, name):
    mesh = meshes[name]
    ours = MeshRenderer(mesh, backend='ours', device='cuda')
    ref = MeshRenderer(mesh, backend='nvdiffrast', device='cuda')
    pose = random_poses(8, mesh.diameter, seed=sum(map(ord, name))).cuda()
    K = K_YCB.cuda()
    tf = crop_window_tf(pose, K, mesh.diameter)
    a = ours.render(pose, K, tf)
    b = ref.render(pose, K, tf)
    ma, mb = a.mask[:, 0] > 0, b.mask[:, 0] > 0
    union = (ma | mb).sum().item()
    assert union > 8 * 1000
    assert (ma ^ mb).sum().item() < 0.005 * union
    both = ma & mb
    dxyz = (a.xyz - b.xyz).norm(dim=1)[both]
    drgb = (a.rgb - b.rgb).abs().amax(dim=1)[both]
    assert (dxyz < 1e-3).float().mean().item() >= 0.995
    assert (drgb < 2 / 255).float().mean().item() >= 0.995
    # The window rule holds at these poses: no triangle is clipped by the window.
    proj = crop_projection(K, tf, ours.out_size)
    pos_clip = transform_points(proj @ pose, ours.pos_raster)
    assert max_pixel_extent(pos_clip, ours.tri_raster, (160, 160)) <= ours.window


def test_rasterize_interpolate_cuda_graph_replay_equals_eager(meshes):
    mesh = meshes['003_cracker_box']
    r = MeshRenderer(mesh, device='cuda')
    K = K_YCB.cuda()
    poses = random_poses(6, mesh.diameter, seed=5).cuda()

    def clip_of(pose):
        tf = crop_window_tf(pose, K, mesh.diameter)
        return transform_points(crop_projection(K, tf, 160) @ pose, r.pos_raster)

    attr = torch.cat([r.vertices, r.normals], 1)
    static_pos = clip_of(poses[:2]).clone()

    def step():
        rast = rasterize(static_pos, r.tri_raster, (160, 160), window=r.window)
        return rast, interpolate(attr, rast, r.tri)

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_rast, static_attr = step()
    for i in range(0, 6, 2):
        static_pos.copy_(clip_of(poses[i:i + 2]))
        graph.replay()
        eager_rast, eager_attr = step()
        torch.cuda.synchronize()
        assert (static_rast[..., 3] > 0).sum() > 1000
        assert torch.equal(static_rast, eager_rast)
        assert torch.equal(static_attr, eager_attr)


def test_full_render_cuda_graph(meshes):
    mesh = meshes['006_mustard_bottle']
    r = MeshRenderer(mesh, device='cuda')
    K = K_YCB.cuda()
    poses = random_poses(4, mesh.diameter, seed=11).cuda()
    static_pose = poses[:1].clone()
    static_tf = crop_window_tf(static_pose, K, mesh.diameter)

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        r.render(static_pose, K, static_tf)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = r.render(static_pose, K, static_tf)
    for i in range(4):
        static_pose.copy_(poses[i:i + 1])
        static_tf.copy_(crop_window_tf(static_pose, K, mesh.diameter))
        graph.replay()
        ref = r.render(static_pose, K, static_tf)
        torch.cuda.synchronize()
        for a, b in zip(out, ref):
            assert torch.equal(a, b)
        assert out.mask.sum() > 1000
    np.testing.assert_array_less(0, out.rgb.sum().item())
