# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of the training command: checkpoints, exact resume, schedule, export size (CPU)."""

import json

import pytest
import torch

from pose_tracker.tools import train

TINY = ['--device', 'cpu', '--width', 'tiny', '--data', 'tiny', '--batch', '2', '--val-size', '2',
        '--log-every', '1', '--warmup', '2', '--ckpt-moments', 'fp32', '--shard-mb', '0.1']


def _records(path, event='train'):
    return [r for r in map(json.loads, path.read_text().splitlines()) if r['event'] == event]


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """Run an interrupted run (3 steps, then resumed to 5) and an uninterrupted one (5 steps)."""
    a = tmp_path_factory.mktemp('interrupted')
    b = tmp_path_factory.mktemp('straight')
    first = train.main(['--out', str(a), '--steps', '5', '--stop-at', '3'] + TINY)
    ck3 = train.load_checkpoint(a)
    parts3 = sorted(p.name for p in a.glob('ckpt-*.part'))
    second = train.main(['--out', str(a), '--steps', '5', '--resume'] + TINY)
    straight = train.main(['--out', str(b), '--steps', '5'] + TINY)
    return dict(a=a, b=b, first=first, second=second, straight=straight, ck3=ck3, parts3=parts3)


def test_checkpoint_and_export_written(runs):
    from pose_tracker.network.checkpoint import load_refiner

    assert runs['first']['step'] == 3 and runs['first']['reason'] == 'stop-at'
    ck = runs['ck3']
    assert ck['step'] == 3 and ck['total_steps'] == 5 and ck['width'] == 'tiny'
    for key in ('model', 'optimizer', 'scheduler', 'rng', 'val'):
        assert key in ck
    assert set(ck['val']) >= {'val_t_mm', 'val_r_deg', 'in_t_mm', 'in_r_deg'}
    assert not list(runs['a'].glob('*.tmp'))  # atomic write left nothing behind
    # sharded: several parts of <= 0.1 MiB, only the latest checkpoint's parts are kept
    assert len(runs['parts3']) > 1 and all(p.startswith('ckpt-0000003.') for p in runs['parts3'])
    parts = sorted(runs['a'].glob('ckpt-*.part'))
    assert parts and all(p.name.startswith('ckpt-0000005.') for p in parts)
    assert max(p.stat().st_size for p in parts) <= 0.1 * 2 ** 20
    model = load_refiner(runs['a'] / 'refiner_tiny.pt')
    assert model.arch['widths'] == [8, 16, 32, 32]
    assert model.checkpoint_meta['steps'] == 5
    assert _records(runs['a'] / 'log.jsonl', 'checkpoint')


def test_resume_continues_with_identical_data_and_losses(runs):
    assert runs['second']['step'] == 5 and runs['second']['reason'] == 'horizon reached'
    inter = {r['step']: r for r in _records(runs['a'] / 'log.jsonl')}
    straight = {r['step']: r for r in _records(runs['b'] / 'log.jsonl')}
    assert sorted(inter) == sorted(straight) == [1, 2, 3, 4, 5]
    assert _records(runs['a'] / 'log.jsonl', 'resume')[0]['step'] == 3
    for step in (4, 5):  # the steps after the resume
        assert inter[step]['fingerprint'] == straight[step]['fingerprint']
        assert inter[step]['loss'] == pytest.approx(straight[step]['loss'], rel=1e-6, abs=1e-8)
        assert inter[step]['lr'] == pytest.approx(straight[step]['lr'], rel=1e-9)
    # data of different steps differ
    assert inter[4]['fingerprint'] != inter[5]['fingerprint']
    wa = train.load_checkpoint(runs['a'])['model']
    wb = train.load_checkpoint(runs['b'])['model']
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=1e-6), k


def test_corrupt_checkpoint_is_detected(tmp_path, runs):
    import shutil

    for p in list(runs['b'].glob('ckpt*')):
        shutil.copy(p, tmp_path / p.name)
    part = sorted(tmp_path.glob('ckpt-*.part'))[0]
    data = bytearray(part.read_bytes())
    data[10] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(SystemExit, match='corrupt'):
        train.load_checkpoint(tmp_path)


def test_compact_moments_resume_runs(tmp_path):
    args = [a for a in TINY if a not in ('--ckpt-moments', 'fp32')]
    train.main(['--out', str(tmp_path), '--steps', '3', '--stop-at', '2'] + args)
    ck = train.load_checkpoint(tmp_path)
    moments = [v for st in ck['optimizer']['state'].values() for k, v in st.items()
               if k in ('exp_avg', 'exp_avg_sq')]
    assert moments and all(v.dtype == torch.bfloat16 for v in moments)
    s = train.main(['--out', str(tmp_path), '--steps', '3', '--resume'] + args)
    assert s['step'] == 3


def test_existing_run_needs_resume(runs):
    with pytest.raises(SystemExit):
        train.main(['--out', str(runs['b']), '--steps', '6'] + TINY)


def test_lr_schedule_warmup_then_cosine():
    h = train.Horizon(total=100, warmup=10, min_ratio=0.1)
    assert h.factor(0) == pytest.approx(0.1)
    assert h.factor(9) == pytest.approx(1.0)
    assert h.factor(10) == pytest.approx(1.0)
    assert h.factor(55) == pytest.approx(0.1 + 0.9 * 0.5)
    assert h.factor(100) == pytest.approx(0.1)
    values = [h.factor(s) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert train.Horizon(None, 10, 0.1).factor(50) == 1.0


def test_small_width_export_fits_16mb(tmp_path):
    from pose_tracker.network.checkpoint import save_refiner

    model = train.build_model('small', 'cpu')
    n = sum(p.numel() for p in model.parameters())
    assert 3_000_000 < n < 6_000_000
    path = save_refiner(model, tmp_path / 'w.pt', {'k': 1}, half=True)
    assert path.stat().st_size <= 16 * 2 ** 20


def test_loss_is_zero_for_perfect_outputs():
    from pose_tracker.synth.pairs import PairConfig, PairSampler

    batch = PairSampler(PairConfig.tiny(), seed=1).sample(0, 2)

    class Oracle(torch.nn.Module):
        def forward(self, A, B):
            return batch.trans_target, torch.atanh(batch.rot_target.clamp(-0.9999, 0.9999))

    loss, lt, lr_ = train.compute_loss(Oracle(), batch, 1.0, 1.0, autocast=False)
    assert float(loss) < 1e-8
    huber, _, _ = train.compute_loss(Oracle(), batch, 1.0, 1.0, autocast=False, kind='huber')
    assert float(huber) < 1e-6
    zero, _, _ = train.compute_loss(lambda A, B: (torch.zeros(2, 3), torch.zeros(2, 3)), batch,
                                    1.0, 1.0, autocast=False)
    expected = (batch.trans_target ** 2).mean() + (batch.rot_target ** 2).mean()
    assert float(zero) == pytest.approx(float(expected), rel=1e-5)
    val = train.validate(Oracle(), [batch], autocast=False)
    assert val['val_t_mm'] < 1e-3 and val['val_r_deg'] < 0.05 and val['in_t_mm'] > 0.1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_training_smoke(tmp_path):
    """The real settings (full data, small width) for a few steps on CUDA."""
    s = train.main(['--out', str(tmp_path), '--device', 'cuda', '--width', 'small', '--batch',
                    '16', '--steps', '4', '--val-size', '16', '--log-every', '2'])
    assert s['step'] == 4 and s['weights_mb'] <= 16
    rec = _records(tmp_path / 'log.jsonl')
    assert all(r['loss'] == r['loss'] for r in rec)  # not NaN
