# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""GPU tests: the fp16 channels-last inference copy inside a CUDA graph (skipped without CUDA)."""

import pytest
import torch

from pose_tracker.network.refinenet import inference_copy, RefineNet

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')


def official_model(seed: int = 0) -> RefineNet:
    """Full-size refiner with random weights and non-trivial BatchNorm statistics, eval, CUDA."""
    gen = torch.Generator().manual_seed(seed)
    model = RefineNet()
    state = {}
    for key, value in model.state_dict().items():
        if value.dtype == torch.int64 or key == 'pos_embed.pe':
            state[key] = value
        elif key.endswith('running_var'):
            state[key] = torch.rand(value.shape, generator=gen) + 0.5
        elif key.endswith('running_mean'):
            state[key] = torch.randn(value.shape, generator=gen) * 0.1
        else:
            fan_in = value[0].numel() if value.dim() > 1 else 1
            std = (2.0 / fan_in) ** 0.5 if value.dim() > 1 else 0.1
            state[key] = torch.randn(value.shape, generator=gen) * std
            if value.dim() == 1 and key.endswith('weight'):  # BatchNorm / LayerNorm scales
                state[key] = state[key] + 1.0
    model.load_state_dict(state)
    return model.cuda().eval()


def crops(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator(device='cuda').manual_seed(seed)
    shape = (batch, 6, 160, 160)
    return (torch.rand(shape, generator=gen, device='cuda') * 2 - 1,
            torch.rand(shape, generator=gen, device='cuda') * 2 - 1)


def capture(fn, static_inputs, warmup: int = 3):
    """Warm ``fn`` up on a side stream, then capture it; return (graph, static outputs)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            fn(*static_inputs)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = fn(*static_inputs)
    return graph, outputs


@pytest.mark.parametrize('batch, fuse_cudnn', [(1, None), (2, None), (1, False)])
def test_inference_copy_fp16_channels_last_in_cuda_graph(batch, fuse_cudnn):
    torch.backends.cudnn.benchmark = True
    model = official_model()
    fast = inference_copy(model, dtype=torch.float16, channels_last=True, fuse_cudnn=fuse_cudnn)
    assert fast.encodeA[1].cudnn_fused == (fuse_cudnn is None)  # the probe passes on a CUDA GPU
    assert fast.encodeA[0].conv.weight.dtype == torch.float16
    assert fast.encodeA[0].conv.weight.is_contiguous(memory_format=torch.channels_last)
    static_a, static_b = crops(batch, seed=0)
    with torch.no_grad():
        graph, (g_trans, g_rot) = capture(fast, (static_a, static_b))
        for seed in (1, 2):
            A, B = crops(batch, seed=seed)
            static_a.copy_(A)
            static_b.copy_(B)
            graph.replay()
            torch.cuda.synchronize()
            e_trans, e_rot = fast(A, B)
            assert g_trans.dtype == torch.float32 and g_trans.shape == (batch, 3)
            torch.testing.assert_close(g_trans, e_trans, rtol=1e-3, atol=1e-4)
            torch.testing.assert_close(g_rot, e_rot, rtol=1e-3, atol=1e-4)
            # fp16 against the float32 reference: within half-precision noise of the scale.
            r_trans, r_rot = model(A, B)
            ref = torch.cat([r_trans, r_rot], dim=1)
            got = torch.cat([g_trans, g_rot], dim=1)
            scale = ref.abs().max()
            assert scale > 1e-3
            assert (got - ref).abs().max() <= 2e-2 * scale


def test_original_model_under_autocast_in_cuda_graph():
    model = official_model(seed=1)
    static_a, static_b = crops(1, seed=3)

    def step(A, B):
        with torch.autocast('cuda', dtype=torch.float16):
            return model(A, B)

    with torch.no_grad():
        graph, (g_trans, g_rot) = capture(step, (static_a, static_b))
        A, B = crops(1, seed=4)
        static_a.copy_(A)
        static_b.copy_(B)
        graph.replay()
        e_trans, e_rot = step(A, B)
    assert g_trans.dtype == torch.float32
    torch.testing.assert_close(g_trans, e_trans, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(g_rot, e_rot, rtol=1e-3, atol=1e-4)


def test_inference_copy_float32_nchw_on_cuda_matches():
    model = official_model(seed=2)
    fast = inference_copy(model, dtype=torch.float32, channels_last=False)
    A, B = crops(2, seed=5)
    with torch.no_grad():
        ref = torch.cat(model(A, B), dim=1)
    got = torch.cat(fast(A, B), dim=1)
    # cudnn may use TF32 for float32 convolutions: allow ~1e-3 relative.
    assert ((got - ref).norm() / ref.norm()).item() < 3e-3
