# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Registration on CUDA: a captured chunk (graph replay) equals the same chunk run eagerly."""

import numpy as np
import pytest
import torch
import trimesh

from pose_tracker.mesh import mesh_from_trimesh
from pose_tracker.registration import Registrar, rotation_hypotheses
from pose_tracker.render.renderer import MeshRenderer
from pose_tracker.tracker import Tracker

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason='needs CUDA: compares a CUDA-graph replay with the eager chunk'),
]

SIZE = 128
K = np.array([[200.0, 0.0, 64.0], [0.0, 200.0, 64.0], [0.0, 0.0, 1.0]])


def test_captured_chunk_equals_eager_chunk():
    mesh = mesh_from_trimesh(trimesh.creation.box(extents=(0.10, 0.06, 0.03)))
    T = np.eye(4)
    T[:3, :3] = rotation_hypotheses(4, 2)[3]
    T[:3, 3] = (0.02, -0.01, 0.5)
    out = MeshRenderer(mesh, out_size=SIZE).render(
        torch.as_tensor(T, dtype=torch.float32)[None],
        torch.as_tensor(K, dtype=torch.float32)[None], torch.eye(3)[None])
    rgb = (out.rgb[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    depth, mask = out.xyz[0, 2].numpy(), out.mask[0, 0].numpy() > 0.5
    tracker = Tracker(mesh, K, (SIZE, SIZE), device='cuda', half=False)
    graph = Registrar(tracker, views=4, inplane=2, chunk=4, use_cuda_graph=True)
    eager = Registrar(tracker, views=4, inplane=2, chunk=4, use_cuda_graph=False)
    hyp_g = graph.hypotheses(rgb, depth, mask)
    hyp_e = eager.hypotheses(rgb, depth, mask)
    assert graph.captures == 1 and eager.captures == 0
    torch.testing.assert_close(hyp_g, hyp_e)
    for i in range(2):  # replay twice: the second replay must not see the first's state
        a = graph.run_chunk(hyp_g[4 * i:4 * i + 4])
        b = eager.run_chunk(hyp_e[4 * i:4 * i + 4])
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    ra, rb = graph.register(rgb, depth, mask), eager.register(rgb, depth, mask)
    np.testing.assert_allclose(ra.pose, rb.pose, atol=1e-4)
    assert abs(ra.score - rb.score) < 1e-4
