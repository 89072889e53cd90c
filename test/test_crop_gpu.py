# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""GPU-only: the whole real-side input pipeline captured in one CUDA graph replays like eager."""

import pytest
import torch

from pose_tracker.crop.depth import preprocess_depth
from pose_tracker.crop.normalize import normalize_pair
from pose_tracker.crop.warp import crop_real
from pose_tracker.crop.window import crop_window
from pose_tracker.geometry.camera import depth_to_xyz

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

H, W, B, D = 120, 160, 3, 0.15


def _frame(seed, device):
    """Return a frame: a tilted plane in mm with noise and 10 % holes, and B poses."""
    g = torch.Generator().manual_seed(seed)
    rgb = torch.randint(0, 256, (1, 3, H, W), generator=g, dtype=torch.uint8)
    v, u = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    depth = (0.6 + 0.001 * u + 0.0005 * v + 0.001 * torch.randn(H, W, generator=g))[None]
    depth = torch.round(depth * 1000) / 1000
    depth[torch.rand(1, H, W, generator=g) < 0.1] = 0.0
    pose = torch.eye(4).repeat(B, 1, 1)
    pose[:, :3, 3] = torch.tensor([0.0, 0.0, 0.7]) + 0.05 * torch.randn(B, 3, generator=g)
    pose[-1, 2, 3] = -0.2  # one hypothesis behind the camera: must not break the graph
    return rgb.to(device), depth.to(device), pose.to(device)


def _pipeline(rgb, depth, K, pose):
    xyz = depth_to_xyz(preprocess_depth(depth), K)
    win = crop_window(pose, K, D)
    inp = normalize_pair(*crop_real(rgb, xyz, win.tf, 160), pose[:, :3, 3], D)
    return inp, win.valid


def test_real_side_graph_replay_matches_eager():
    device = torch.device("cuda")
    K = torch.tensor([[200.0, 0.0, 80.0], [0.0, 200.0, 60.0], [0.0, 0.0, 1.0]], device=device)
    s_rgb, s_depth, s_pose = _frame(0, device)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):  # warm-up outside capture (cuDNN/allocator state)
            _pipeline(s_rgb, s_depth, K, s_pose)
    torch.cuda.current_stream().wait_stream(side)

    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        g_inp, g_valid = _pipeline(s_rgb, s_depth, K, s_pose)

    for seed in (0, 1, 2):
        rgb, depth, pose = _frame(seed, device)
        s_rgb.copy_(rgb)
        s_depth.copy_(depth)
        s_pose.copy_(pose)
        graph.replay()
        torch.cuda.synchronize()
        e_inp, e_valid = _pipeline(rgb, depth, K, pose)
        assert torch.equal(g_valid, e_valid) and e_valid.tolist() == [True, True, False]
        assert torch.isfinite(g_inp).all()
        torch.testing.assert_close(g_inp, e_inp, rtol=0, atol=0)
        assert (g_inp[:2, 3:] != 0).float().mean() > 0.3
        # And the CUDA result agrees with the CPU implementation.
        c_inp, _ = _pipeline(rgb.cpu(), depth.cpu(), K.cpu(), pose.cpu())
        # (bilinear colour to float rounding; nearest XYZ may pick the neighbouring pixel where
        # a sampling position falls at .5, which FMA on the GPU can round the other way).
        torch.testing.assert_close(e_inp[:2, :3].cpu(), c_inp[:2, :3], rtol=0, atol=1e-4)
        xyz_off = (e_inp[:2, 3:].cpu() - c_inp[:2, 3:]).abs() > 1e-5
        assert xyz_off.float().mean() < 0.02


def test_depth_filters_agree_between_cpu_and_cuda():
    _, depth, _ = _frame(5, torch.device("cpu"))
    cpu = preprocess_depth(depth)
    gpu = preprocess_depth(depth.cuda()).cpu()
    assert torch.equal(cpu == 0, gpu == 0)
    torch.testing.assert_close(gpu, cpu, rtol=1e-6, atol=0)
