# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Tracker on CUDA: the captured graph replays exactly the eager step; no re-capture.

Every tracker here runs the default hybrid step (2 RefineNet + 2 depth refinement iterations).
"""

import numpy as np
import pytest
import torch

from pose_tracker.synth.simple_scene import ellipsoid_mesh, K_DEFAULT, synthetic_frame
from pose_tracker.network.presets import build_preset
from pose_tracker.tracker import Tracker

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')]


def _mesh_net_pose():
    """Return a 5k-face ellipsoid, a seeded narrow RefineNet and a pose 0.6 m ahead."""
    mesh = ellipsoid_mesh(5000)
    torch.manual_seed(0)
    net = build_preset('small').eval()
    T = np.eye(4)
    T[:3, 3] = [0.02, -0.01, 0.6]
    return mesh, net, T


def test_two_stream_step_equals_one_stream():
    # The overlapped body (frame filtering || first render) must compute exactly the same step.
    mesh, net, T = _mesh_net_pose()
    poses = {}
    for overlap, graph in ((False, False), (True, False), (True, True)):
        tracker = Tracker(mesh, K_DEFAULT, (480, 640), weights=net, device='cuda',
                          network_iterations=2, icp_iterations=2,
                          use_cuda_graph=graph, half=False, overlap=overlap)
        assert tracker.overlap == overlap
        tracker.reset(T)
        poses[(overlap, graph)] = [tracker.track(*synthetic_frame(seed=s)).pose for s in range(3)]
    for key in ((True, False), (True, True)):
        for a, b in zip(poses[(False, False)], poses[key]):
            np.testing.assert_allclose(b, a, atol=1e-5)


@pytest.mark.parametrize('half', [False, True])
def test_graph_replay_equals_eager(half):
    mesh, net, T = _mesh_net_pose()
    results = {}
    for graph in (False, True):
        tracker = Tracker(mesh, K_DEFAULT, (480, 640), weights=net, device='cuda',
                          network_iterations=2, icp_iterations=2, use_cuda_graph=graph,
                          half=half)
        tracker.reset(T)
        poses = []
        for seed in range(3):
            rgb, depth = synthetic_frame(seed=seed)
            r = tracker.track(rgb, depth)
            poses.append((r.pose, r.quality))
        results[graph] = poses
        if graph:
            assert tracker.captures == 1
    for (pe, qe), (pg, qg) in zip(results[False], results[True]):
        np.testing.assert_allclose(pg, pe, atol=1e-5)
        assert abs(qe - qg) < 1e-6


def test_graph_memory_flat_and_no_recapture():
    mesh = ellipsoid_mesh(1280)
    net = build_preset('small').eval()
    tracker = Tracker(mesh, K_DEFAULT, (480, 640), weights=net, device='cuda',
                      network_iterations=2, icp_iterations=2)
    T = np.eye(4)
    T[:3, 3] = [0.0, 0.0, 0.6]
    tracker.reset(T)
    rgb, depth = synthetic_frame()
    for _ in range(20):
        tracker.track(rgb, depth)
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    for _ in range(500):
        tracker.reset(T)
        tracker.track(rgb, depth)
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() == before
    assert tracker.captures == 1


@pytest.mark.parametrize('network_iterations, icp_iterations', [(2, 2), (0, 2), (2, 0), (0, 0)])
def test_step_never_synchronises(network_iterations, icp_iterations):
    # Any host sync inside the step would break (or silently serialise) the captured graph.
    mesh, net, T = _mesh_net_pose()
    tracker = Tracker(mesh, K_DEFAULT, (480, 640), weights=net, device='cuda',
                      network_iterations=network_iterations, icp_iterations=icp_iterations,
                      use_cuda_graph=False)
    tracker.reset(T)
    rgb, depth = synthetic_frame()
    np.copyto(tracker.staging.rgb, rgb)
    np.copyto(tracker.staging.depth, depth)
    tracker._step_body()  # first call: lazy initialisation (cuBLAS handles etc.) may sync
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.no_grad():
            tracker._step_body()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
