# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of refiner checkpoint loading/saving and architecture detection (CPU)."""

import numpy as np
import pytest
import torch

from pose_tracker.errors import WeightsError
from pose_tracker.network.checkpoint import (
    FORMAT,
    infer_arch,
    load_refiner,
    read_checkpoint,
    save_refiner,
)
from pose_tracker.network.refinenet import RefineNet

NARROW = {'widths': [8, 16, 32, 48], 'dim_feedforward': 24, 'nhead': 4, 'input_size': 96}


def random_state_dict(model: RefineNet, seed: int = 0) -> dict:
    """Random values with the model's keys/shapes (the official listing for RefineNet())."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if value.dtype == torch.int64:
            state[key] = torch.tensor(77, dtype=torch.int64)
        elif key.endswith('running_var'):
            state[key] = torch.rand(value.shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(value.shape, generator=gen) * 0.05
    return state


@pytest.fixture(scope='module')
def official_state():
    return random_state_dict(RefineNet(), seed=1)


def assert_weights_equal(model: RefineNet, state: dict):
    loaded = model.state_dict()
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


def test_official_raw_state_dict(official_state):
    model = load_refiner(official_state)
    assert model.arch['widths'] == [64, 128, 256, 512]
    assert model.arch['input_size'] == 160 and model.arch['dim_feedforward'] == 512
    assert sum(p.numel() for p in model.parameters()) == 16_830_406
    assert not model.training
    assert model.checkpoint_meta == {}
    assert_weights_equal(model, official_state)


def test_official_state_dict_under_model_key_from_file(official_state, tmp_path):
    path = tmp_path / 'model_best.pth'
    torch.save({'model': official_state, 'epoch': 42}, path)
    for source in (path, str(path)):
        model = load_refiner(source)
        assert_weights_equal(model, official_state)


def test_wrapper_prefix_is_stripped():
    ref = RefineNet(**NARROW)
    state = random_state_dict(ref, seed=2)
    model = load_refiner({'model': {'module.' + k: v for k, v in state.items()}})
    assert_weights_equal(model, state)


@pytest.mark.parametrize('use_bn', [True, False])
def test_arch_inferred_from_shapes(use_bn):
    ref = RefineNet(**NARROW, use_bn=use_bn)
    arch = infer_arch(ref.state_dict())
    assert arch == {k: v for k, v in ref.arch.items() if k != 'dropout'}
    model = load_refiner(random_state_dict(ref, seed=3))
    assert model.arch == ref.arch


@pytest.mark.parametrize('half', [False, True])
def test_save_load_roundtrip_narrow(tmp_path, half):
    torch.manual_seed(0)
    ref = RefineNet(**{**NARROW, 'nhead': 2, 'input_size': 64})  # nhead only the record knows
    ref.load_state_dict(random_state_dict(ref, seed=4))
    ref.eval()
    meta = {'run': 'x', 'epoch': 3, 'lr': [1e-3, None]}
    path = save_refiner(ref, tmp_path / 'sub' / 'refiner.pth', meta=meta, half=half)
    raw = torch.load(path, weights_only=True)
    assert raw['format'] == FORMAT and raw['arch'] == ref.arch
    model = load_refiner(path)
    assert model.arch == ref.arch and model.arch['nhead'] == 2
    assert model.checkpoint_meta == {'run': 'x', 'epoch': 3, 'lr': [1e-3, None]}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    gen = torch.Generator().manual_seed(5)
    A = torch.rand(2, 6, 64, 64, generator=gen)
    B = torch.rand(2, 6, 64, 64, generator=gen)
    with torch.no_grad():
        out_ref = torch.cat(ref(A, B), dim=1)
        out = torch.cat(model(A, B), dim=1)
    loaded = model.state_dict()
    if half:
        assert raw['model']['trans_head.1.weight'].dtype == torch.float16
        assert raw['model']['pos_embed.pe'].dtype == torch.float32  # buffers stay exact
        assert torch.equal(loaded['encodeA.0.net.1.running_var'],
                           ref.state_dict()['encodeA.0.net.1.running_var'])
        torch.testing.assert_close(out, out_ref, rtol=0.02, atol=2e-3)
    else:
        assert_weights_equal(model, ref.state_dict())
        torch.testing.assert_close(out, out_ref, rtol=0, atol=0)
    assert loaded['encodeA.0.net.1.num_batches_tracked'].dtype == torch.int64


def test_half_storage_is_smaller(tmp_path):
    model = RefineNet(**NARROW)
    full = save_refiner(model, tmp_path / 'full.pth').stat().st_size
    half = save_refiner(model, tmp_path / 'half.pth', half=True).stat().st_size
    assert half < 0.7 * full


def test_meta_must_be_plain_data(tmp_path):
    with pytest.raises(TypeError, match='meta.bad'):
        save_refiner(RefineNet(**NARROW), tmp_path / 'x.pth', meta={'bad': object()})


def test_missing_key_is_reported():
    state = random_state_dict(RefineNet(**NARROW))
    del state['encodeAB.3.bn2.running_mean']
    with pytest.raises(WeightsError, match=r'1 missing: encodeAB\.3\.bn2\.running_mean'):
        load_refiner(state)


def test_unexpected_and_misshaped_keys_are_reported():
    state = random_state_dict(RefineNet(**NARROW))
    state['encodeAB.5.conv1.weight'] = torch.zeros(48, 48, 3, 3)
    state['rot_head.1.weight'] = torch.zeros(6, 48)  # a 6d-rotation head
    with pytest.raises(WeightsError) as info:
        load_refiner(state)
    message = str(info.value)
    assert '1 unexpected: encodeAB.5.conv1.weight' in message
    assert 'rot_head.1.weight (6, 48) vs (3, 48)' in message


def test_recorded_arch_mismatch_is_reported(tmp_path):
    path = save_refiner(RefineNet(**NARROW), tmp_path / 'r.pth')
    checkpoint = torch.load(path, weights_only=True)
    checkpoint['arch']['dim_feedforward'] = 40
    expected = r'mis-shaped.*linear1\.weight \(24, 48\) vs \(40, 48\)'
    with pytest.raises(WeightsError, match=expected):
        load_refiner(checkpoint)


def test_not_a_refiner_state_dict():
    with pytest.raises(WeightsError, match="key 'encodeA.0.net.0.weight' is missing"):
        load_refiner({'encoderA.0.weight': torch.zeros(3)})  # e.g. the scorer
    with pytest.raises(WeightsError, match='not a RefineNet checkpoint'):
        load_refiner({'epoch': 3, 'lr': 0.1})
    with pytest.raises(WeightsError, match='holds a list'):
        load_refiner([torch.zeros(3)])


def test_unknown_format_and_newer_version():
    state = random_state_dict(RefineNet(**NARROW))
    with pytest.raises(WeightsError, match="unknown format 'other.thing'"):
        load_refiner({'format': 'other.thing', 'model': state})
    with pytest.raises(WeightsError, match='newer pose_tracker'):
        load_refiner({'format': FORMAT, 'version': 99, 'model': state})


def test_missing_empty_and_directory_paths(tmp_path):
    with pytest.raises(WeightsError, match='not found'):
        load_refiner(tmp_path / 'nope.pth')
    with pytest.raises(WeightsError, match='not a file'):
        load_refiner(tmp_path)
    (tmp_path / 'empty.pth').write_bytes(b'')
    with pytest.raises(WeightsError, match='empty'):
        load_refiner(tmp_path / 'empty.pth')


def test_corrupt_and_truncated_files(tmp_path):
    (tmp_path / 'text.pth').write_text('this is not a checkpoint\n' * 20)
    with pytest.raises(WeightsError, match='not a PyTorch checkpoint'):
        load_refiner(tmp_path / 'text.pth')
    path = save_refiner(RefineNet(**NARROW), tmp_path / 'good.pth')
    data = path.read_bytes()
    (tmp_path / 'cut.pth').write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match='truncated/corrupt'):
        load_refiner(tmp_path / 'cut.pth')


def test_pickled_objects_need_explicit_trust(tmp_path):
    state = random_state_dict(RefineNet(**NARROW))
    path = tmp_path / 'numpy_inside.pth'
    torch.save({'model': state, 'best_metric': np.float64(0.5)}, path)
    with pytest.raises(WeightsError, match='allow_pickle=True'):
        load_refiner(path)
    model = load_refiner(path, allow_pickle=True)
    assert_weights_equal(model, state)


def test_read_checkpoint_returns_parts(tmp_path):
    ref = RefineNet(**NARROW)
    path = save_refiner(ref, tmp_path / 'r.pth', meta={'note': 'hi'})
    state, arch, meta = read_checkpoint(path)
    assert arch == ref.arch and meta == {'note': 'hi'}
    assert set(state) == set(ref.state_dict())
