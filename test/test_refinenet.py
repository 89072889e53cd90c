# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of the RefineNet module tree, forward semantics and the inference copy (CPU)."""

import math
from pathlib import Path
import re

import pytest
import torch

from pose_tracker.network.refinenet import (
    inference_copy,
    OFFICIAL_ARCH,
    RefineNet,
    sinusoidal_table,
    token_grid_side,
)

# State dict of the released FoundationPose refiner (use_BN=true): key, shape. A copy of
# /work/shared/docs/refinenet_state_dict.txt kept here so CI does not depend on that file.
OFFICIAL_LISTING = """\
encodeA.0.net.0.weight (64, 6, 7, 7)
encodeA.0.net.0.bias (64,)
encodeA.0.net.1.weight (64,)
encodeA.0.net.1.bias (64,)
encodeA.0.net.1.running_mean (64,)
encodeA.0.net.1.running_var (64,)
encodeA.0.net.1.num_batches_tracked ()
encodeA.1.net.0.weight (128, 64, 3, 3)
encodeA.1.net.0.bias (128,)
encodeA.1.net.1.weight (128,)
encodeA.1.net.1.bias (128,)
encodeA.1.net.1.running_mean (128,)
encodeA.1.net.1.running_var (128,)
encodeA.1.net.1.num_batches_tracked ()
encodeA.2.conv1.weight (128, 128, 3, 3)
encodeA.2.conv1.bias (128,)
encodeA.2.bn1.weight (128,)
encodeA.2.bn1.bias (128,)
encodeA.2.bn1.running_mean (128,)
encodeA.2.bn1.running_var (128,)
encodeA.2.bn1.num_batches_tracked ()
encodeA.2.conv2.weight (128, 128, 3, 3)
encodeA.2.conv2.bias (128,)
encodeA.2.bn2.weight (128,)
encodeA.2.bn2.bias (128,)
encodeA.2.bn2.running_mean (128,)
encodeA.2.bn2.running_var (128,)
encodeA.2.bn2.num_batches_tracked ()
encodeA.3.conv1.weight (128, 128, 3, 3)
encodeA.3.conv1.bias (128,)
encodeA.3.bn1.weight (128,)
encodeA.3.bn1.bias (128,)
encodeA.3.bn1.running_mean (128,)
encodeA.3.bn1.running_var (128,)
encodeA.3.bn1.num_batches_tracked ()
encodeA.3.conv2.weight (128, 128, 3, 3)
encodeA.3.conv2.bias (128,)
encodeA.3.bn2.weight (128,)
encodeA.3.bn2.bias (128,)
encodeA.3.bn2.running_mean (128,)
encodeA.3.bn2.running_var (128,)
encodeA.3.bn2.num_batches_tracked ()
encodeAB.0.conv1.weight (256, 256, 3, 3)
encodeAB.0.conv1.bias (256,)
encodeAB.0.bn1.weight (256,)
encodeAB.0.bn1.bias (256,)
encodeAB.0.bn1.running_mean (256,)
encodeAB.0.bn1.running_var (256,)
encodeAB.0.bn1.num_batches_tracked ()
encodeAB.0.conv2.weight (256, 256, 3, 3)
encodeAB.0.conv2.bias (256,)
encodeAB.0.bn2.weight (256,)
encodeAB.0.bn2.bias (256,)
encodeAB.0.bn2.running_mean (256,)
encodeAB.0.bn2.running_var (256,)
encodeAB.0.bn2.num_batches_tracked ()
encodeAB.1.conv1.weight (256, 256, 3, 3)
encodeAB.1.conv1.bias (256,)
encodeAB.1.bn1.weight (256,)
encodeAB.1.bn1.bias (256,)
encodeAB.1.bn1.running_mean (256,)
encodeAB.1.bn1.running_var (256,)
encodeAB.1.bn1.num_batches_tracked ()
encodeAB.1.conv2.weight (256, 256, 3, 3)
encodeAB.1.conv2.bias (256,)
encodeAB.1.bn2.weight (256,)
encodeAB.1.bn2.bias (256,)
encodeAB.1.bn2.running_mean (256,)
encodeAB.1.bn2.running_var (256,)
encodeAB.1.bn2.num_batches_tracked ()
encodeAB.2.net.0.weight (512, 256, 3, 3)
encodeAB.2.net.0.bias (512,)
encodeAB.2.net.1.weight (512,)
encodeAB.2.net.1.bias (512,)
encodeAB.2.net.1.running_mean (512,)
encodeAB.2.net.1.running_var (512,)
encodeAB.2.net.1.num_batches_tracked ()
encodeAB.3.conv1.weight (512, 512, 3, 3)
encodeAB.3.conv1.bias (512,)
encodeAB.3.bn1.weight (512,)
encodeAB.3.bn1.bias (512,)
encodeAB.3.bn1.running_mean (512,)
encodeAB.3.bn1.running_var (512,)
encodeAB.3.bn1.num_batches_tracked ()
encodeAB.3.conv2.weight (512, 512, 3, 3)
encodeAB.3.conv2.bias (512,)
encodeAB.3.bn2.weight (512,)
encodeAB.3.bn2.bias (512,)
encodeAB.3.bn2.running_mean (512,)
encodeAB.3.bn2.running_var (512,)
encodeAB.3.bn2.num_batches_tracked ()
encodeAB.4.conv1.weight (512, 512, 3, 3)
encodeAB.4.conv1.bias (512,)
encodeAB.4.bn1.weight (512,)
encodeAB.4.bn1.bias (512,)
encodeAB.4.bn1.running_mean (512,)
encodeAB.4.bn1.running_var (512,)
encodeAB.4.bn1.num_batches_tracked ()
encodeAB.4.conv2.weight (512, 512, 3, 3)
encodeAB.4.conv2.bias (512,)
encodeAB.4.bn2.weight (512,)
encodeAB.4.bn2.bias (512,)
encodeAB.4.bn2.running_mean (512,)
encodeAB.4.bn2.running_var (512,)
encodeAB.4.bn2.num_batches_tracked ()
pos_embed.pe (1, 400, 512)
trans_head.0.self_attn.in_proj_weight (1536, 512)
trans_head.0.self_attn.in_proj_bias (1536,)
trans_head.0.self_attn.out_proj.weight (512, 512)
trans_head.0.self_attn.out_proj.bias (512,)
trans_head.0.linear1.weight (512, 512)
trans_head.0.linear1.bias (512,)
trans_head.0.linear2.weight (512, 512)
trans_head.0.linear2.bias (512,)
trans_head.0.norm1.weight (512,)
trans_head.0.norm1.bias (512,)
trans_head.0.norm2.weight (512,)
trans_head.0.norm2.bias (512,)
trans_head.1.weight (3, 512)
trans_head.1.bias (3,)
rot_head.0.self_attn.in_proj_weight (1536, 512)
rot_head.0.self_attn.in_proj_bias (1536,)
rot_head.0.self_attn.out_proj.weight (512, 512)
rot_head.0.self_attn.out_proj.bias (512,)
rot_head.0.linear1.weight (512, 512)
rot_head.0.linear1.bias (512,)
rot_head.0.linear2.weight (512, 512)
rot_head.0.linear2.bias (512,)
rot_head.0.norm1.weight (512,)
rot_head.0.norm1.bias (512,)
rot_head.0.norm2.weight (512,)
rot_head.0.norm2.bias (512,)
rot_head.1.weight (3, 512)
rot_head.1.bias (3,)
"""
SHARED_LISTING = Path('/work/shared/docs/refinenet_state_dict.txt')
NARROW = {'widths': (8, 16, 32, 64), 'dim_feedforward': 32, 'nhead': 4}


def parse_listing(text: str) -> dict:
    """Parse ``key (d0, d1, ...)`` lines into ``{key: shape tuple}``."""
    shapes = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        key, shape = line.split(' ', 1)
        shapes[key] = tuple(int(d) for d in re.findall(r'\d+', shape))
    return shapes


def random_official_state_dict(seed: int = 0) -> dict:
    """Return a state dict with the official keys/shapes and random values."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in parse_listing(OFFICIAL_LISTING).items():
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(1234, dtype=torch.int64)
        elif key.endswith('running_var'):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.05
    return state


def randomize_bn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every BatchNorm non-trivial statistics and affine terms, so folding is exercised."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                n = mod.num_features
                mod.running_mean.copy_(torch.randn(n, generator=gen) * 0.3)
                mod.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.25)
                mod.weight.copy_(torch.randn(n, generator=gen) * 0.5 + 1.0)
                mod.bias.copy_(torch.randn(n, generator=gen) * 0.2)
    return model


def crops(batch: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, 6, size, size, generator=gen) * 2 - 1,
            torch.rand(batch, 6, size, size, generator=gen) * 2 - 1)


def test_embedded_listing_matches_shared_file():
    if not SHARED_LISTING.exists():
        pytest.skip('shared listing not available')
    assert parse_listing(SHARED_LISTING.read_text()) == parse_listing(OFFICIAL_LISTING)


def test_default_model_is_the_official_refiner():
    model = RefineNet()
    expected = parse_listing(OFFICIAL_LISTING)
    state = model.state_dict()
    assert len(expected) == 134
    assert list(state) == list(expected)  # same keys, same order
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    assert sum(p.numel() for p in model.parameters()) == 16_830_406
    assert state['encodeA.0.net.1.num_batches_tracked'].dtype == torch.int64
    assert model.arch == {**OFFICIAL_ARCH, 'dropout': 0.1}


def test_official_random_state_dict_loads_strictly():
    model = RefineNet()
    state = random_official_state_dict()
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(model.trans_head[0].linear1.weight, state['trans_head.0.linear1.weight'])
    assert torch.equal(model.pos_embed.pe, state['pos_embed.pe'])


def test_positional_table_formula():
    pe = RefineNet().pos_embed.pe
    assert pe.shape == (1, 400, 512)
    for p, i in [(0, 0), (1, 0), (7, 3), (399, 255), (250, 100)]:
        freq = math.exp(-2.0 * i * math.log(10000.0) / 512)
        assert pe[0, p, 2 * i].item() == pytest.approx(math.sin(p * freq), abs=1e-6)
        assert pe[0, p, 2 * i + 1].item() == pytest.approx(math.cos(p * freq), abs=1e-6)
    assert sinusoidal_table(16, 7).shape == (1, 16, 7)  # odd widths work too


@pytest.mark.parametrize('size, side', [(160, 20), (128, 16), (64, 8), (96, 12)])
def test_token_grid_follows_input_size(size, side):
    assert token_grid_side(size) == side
    model = RefineNet(**NARROW, input_size=size)
    assert model.pos_embed.pe.shape == (1, side * side, 64)


def test_arch_rebuilds_the_same_model():
    model = RefineNet(**NARROW, input_size=96, use_bn=False)
    twin = RefineNet(**model.arch)
    assert {k: v.shape for k, v in twin.state_dict().items()} == \
        {k: v.shape for k, v in model.state_dict().items()}
    assert not any('bn' in k or 'net.1' in k for k in model.state_dict())


@pytest.mark.parametrize('kwargs', [
    {'widths': (8, 16, 24, 64)},          # fusion width must be 2x the encoder width
    {'widths': (8, 16, 32)},              # four widths
    {'widths': (8, 16, 32, 66), 'nhead': 4},
])
def test_invalid_arch_is_rejected(kwargs):
    with pytest.raises(ValueError):
        RefineNet(**kwargs)


def reference_forward(model: RefineNet, A: torch.Tensor, B: torch.Tensor):
    """Spell out the released refiner's forward with separate encoder passes (eval mode)."""
    a = model.encodeA(A)
    b = model.encodeA(B)
    x = model.encodeAB(torch.cat([a, b], dim=1))  # channels [rendered, real]
    tokens = x.flatten(2).transpose(1, 2) + model.pos_embed.pe  # token p = row*w + col
    return (model.trans_head(tokens).mean(dim=1), model.rot_head(tokens).mean(dim=1))


def test_forward_shapes_and_semantics_narrow():
    torch.manual_seed(0)
    model = randomize_bn(RefineNet(**NARROW, input_size=64)).eval()
    A, B = crops(3, 64, seed=1)
    with torch.no_grad():
        trans, rot = model(A, B)
        ref_t, ref_r = reference_forward(model, A, B)
        swapped_t, _ = model(B, A)
        single_t, single_r = model(A[1:2], B[1:2])
    assert trans.shape == (3, 3) and rot.shape == (3, 3)
    assert trans.dtype == torch.float32 and rot.dtype == torch.float32
    torch.testing.assert_close(trans, ref_t, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rot, ref_r, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(single_t[0], trans[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(single_r[0], rot[1], rtol=1e-5, atol=1e-6)
    assert (swapped_t - trans).abs().max() > 1e-4  # A and B play different roles


def test_forward_half_model_returns_float32():
    model = RefineNet(**NARROW, input_size=64).eval()
    A, B = crops(2, 64, seed=2)
    with torch.no_grad():
        ref_t, _ = model(A, B)
        trans, rot = model.to(torch.bfloat16)(A, B)  # float32 crops into a bf16 model
    assert trans.dtype == torch.float32 and rot.dtype == torch.float32
    torch.testing.assert_close(trans, ref_t, rtol=0.1, atol=0.05)


def test_full_width_forward_batch1():
    torch.manual_seed(0)
    model = RefineNet().eval()
    A, B = crops(1, 160, seed=3)
    with torch.no_grad():
        trans, rot = model(A, B)
    assert trans.shape == (1, 3) and rot.shape == (1, 3)
    assert torch.isfinite(trans).all() and torch.isfinite(rot).all()


@pytest.mark.parametrize('channels_last', [True, False])
@pytest.mark.parametrize('use_bn', [True, False])
def test_inference_copy_matches_float32(channels_last, use_bn):
    torch.manual_seed(0)
    model = randomize_bn(RefineNet(**NARROW, input_size=96, use_bn=use_bn))
    model.train()  # the copy must not care about the source's mode
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = inference_copy(model, dtype=torch.float32, channels_last=channels_last)
    assert model.training and not fast.training
    assert not any(p.requires_grad for p in fast.parameters())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert fast.arch == model.arch
    A, B = crops(2, 96, seed=4)
    model.eval()
    with torch.no_grad():
        ref_t, ref_r = model(A, B)
    fast_t, fast_r = fast(A, B)
    scale = max(ref_t.abs().max().item(), ref_r.abs().max().item())
    assert (fast_t - ref_t).abs().max().item() <= 1e-5 * scale
    assert (fast_r - ref_r).abs().max().item() <= 1e-5 * scale
    for key, value in model.state_dict().items():  # the original is untouched
        assert torch.equal(value, before[key]), key


def test_inference_copy_of_official_arch_matches():
    model = RefineNet()
    model.load_state_dict(random_official_state_dict(seed=5))
    model.eval()
    fast = inference_copy(model, dtype=torch.float32, channels_last=True)
    A, B = crops(1, 160, seed=6)
    with torch.no_grad():
        ref_t, ref_r = model(A, B)
    fast_t, fast_r = fast(A, B)
    scale = max(ref_t.abs().max().item(), ref_r.abs().max().item())
    assert scale > 1e-3
    assert (fast_t - ref_t).abs().max().item() <= 1e-5 * scale
    assert (fast_r - ref_r).abs().max().item() <= 1e-5 * scale


def test_inference_copy_low_precision_returns_float32():
    model = randomize_bn(RefineNet(**NARROW, input_size=64)).eval()
    fast = inference_copy(model, dtype=torch.bfloat16)
    A, B = crops(2, 64, seed=7)
    with torch.no_grad():
        ref_t, ref_r = model(A, B)
    trans, rot = fast(A, B)
    assert trans.dtype == torch.float32 and rot.dtype == torch.float32
    assert fast.encodeA[0].conv.weight.dtype == torch.bfloat16
    torch.testing.assert_close(trans, ref_t, rtol=0.1, atol=0.05)
    torch.testing.assert_close(rot, ref_r, rtol=0.1, atol=0.05)
