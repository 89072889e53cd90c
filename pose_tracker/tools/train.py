# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Train a (narrow) RefineNet from scratch on procedural pairs, in resumable time-boxed chunks.

    python -m pose_tracker.tools.train --out DIR [--minutes 9] [--total-minutes 26] [--steps N]
        [--batch 64] [--width small] [--lr 7e-4] [--seed 0] [--device cuda] [--resume]

Data: :class:`pose_tracker.synth.pairs.PairSampler` renders every batch on the device from
procedural meshes (never the YCB objects). Optimiser: AdamW, linear warm-up then cosine decay
over the run's horizon; bf16 autocast on CUDA. Loss (FoundationPose's L2 on both heads):
``w_t * MSE(trans_out, trans_target) + w_r * MSE(tanh(rot_out), rot_target)``, the rotation
compared in tanh space (bounded targets, see ``PairBatch.rot_target``).

Horizon: ``--steps`` fixes the number of steps of the whole run. Without it, the first chunk
measures its speed after a few steps and sets the horizon so that the run fills
``--total-minutes`` of chunks (``--minutes`` each, startup included); the horizon is stored in
the checkpoint and kept by every resumed chunk.

Checkpoints (``DIR/ckpt.json`` + ``DIR/ckpt-<step>.NN.part``: parts of at most ``--shard-mb``
MiB, each written to a temporary file and renamed, the manifest last, so a kill never leaves a
broken checkpoint) hold the model, optimiser, scheduler, step, horizon and the torch / CUDA /
numpy / python RNG states; they are written every ``--ckpt-minutes`` and when the chunk's time is
up. ``--resume`` continues from the saved step. The data of step s is a pure function of
(seed, s), so a resumed run sees exactly the batches of an uninterrupted one. With
``--ckpt-moments fp32`` the resumed run is then bitwise identical on CPU; the default stores the
Adam moments in bf16 (about 34 MB instead of 51 MB for ``--width small``, so a checkpoint fits
transfer limits), which perturbs the resumed optimiser slightly. On CUDA runs are not bitwise
reproducible anyway (cuDNN's backward kernels use atomics and ``cudnn.benchmark`` picks kernels by
timing), but the data stream is.

Chunked runs: the same command, with ``--resume``, runs every chunk (``--resume`` without a
checkpoint starts a fresh run). Between chunks the whole ``DIR`` is what must survive: at most 6
files for ``--width small`` (3 checkpoint parts of <= 15 MiB, ``ckpt.json``, ``log.jsonl``,
``refiner_small.pt``; about 43 MB).

Every checkpoint also evaluates a fixed held-out validation set (its own shape stream, the 'val'
split, fixed seed): mean and median translation (mm) and rotation (degrees) errors after one
refinement step, next to the errors of the input poses. Logs go to stdout and ``DIR/log.jsonl``.
At the end of every chunk the weights are exported with
``save_refiner(model, DIR/refiner_<width>.pt, meta, half=True)``.
"""

import argparse
from dataclasses import asdict
import hashlib
import io
import json
import math
import os
from pathlib import Path
import random
import sys
import time
from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from pose_tracker.network.presets import build_preset, PRESETS

_T_START = time.time()


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog='python -m pose_tracker.tools.train',
                                description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='run folder (checkpoint, logs, exported weights)')
    p.add_argument('--minutes', type=float, default=9.0,
                   help='wall-clock limit of this invocation, startup included')
    p.add_argument('--total-minutes', type=float, default=None,
                   help='planned minutes of all chunks together (sets the horizon when --steps '
                        'is not given; default: --minutes)')
    p.add_argument('--steps', type=int, default=None, help='total steps of the run (horizon)')
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--width', choices=sorted(PRESETS), default='small')
    p.add_argument('--lr', type=float, default=7e-4, help='peak learning rate (AdamW)')
    p.add_argument('--weight-decay', type=float, default=1e-4)
    p.add_argument('--warmup', type=int, default=300, help='linear warm-up steps')
    p.add_argument('--min-lr-ratio', type=float, default=0.02, help='final lr / peak lr')
    p.add_argument('--w-trans', type=float, default=1.0, help='weight of the translation loss')
    p.add_argument('--w-rot', type=float, default=1.0, help='weight of the rotation loss')
    p.add_argument('--loss', choices=('mse', 'huber'), default='mse',
                   help="'mse' (FoundationPose) or 'huber' (more weight on small corrections)")
    p.add_argument('--huber-delta', type=float, default=0.1)
    p.add_argument('--clip-grad', type=float, default=5.0)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--resume', action='store_true', help='continue from DIR/ckpt.pt')
    p.add_argument('--data', choices=('full', 'tiny'), default='full',
                   help="pair generator settings: 'full' (training) or 'tiny' (CPU tests)")
    p.add_argument('--val-size', type=int, default=256, help='held-out validation pairs')
    p.add_argument('--val-seed', type=int, default=0, help='seed of the validation set')
    p.add_argument('--ckpt-minutes', type=float, default=1.5)
    p.add_argument('--ckpt-moments', choices=('bf16', 'fp32'), default='bf16',
                   help='precision of the stored Adam moments: bf16 halves the checkpoint (about '
                        '34 MB for --width small); fp32 makes the resume bit-exact')
    p.add_argument('--shard-mb', type=float, default=15.0,
                   help='checkpoint part size, MiB (each part stays under file-size limits)')
    p.add_argument('--log-every', type=int, default=50)
    p.add_argument('--calib-steps', type=int, default=40,
                   help='steps timed (after 10 warm-up steps) to set the horizon')
    p.add_argument('--stop-at', type=int, default=None,
                   help='stop (and checkpoint) when this step is reached (for tests)')
    p.add_argument('--backend', choices=('auto', 'ours', 'nvdiffrast'), default='auto',
                   help='rasterizer of the data generator')
    return p


def build_model(width: str, device) -> torch.nn.Module:
    """
    Return a fresh RefineNet of the named width on ``device``.

    The last linear layer of both heads starts at zero, so the untrained network predicts
    "no update" (the input pose) instead of random jumps, and learning starts from that baseline.
    """
    model = build_preset(width)
    with torch.no_grad():
        for head in (model.trans_head, model.rot_head):
            head[-1].weight.zero_()
            head[-1].bias.zero_()
    return model.to(device)


def pair_config(name: str, backend: str):
    """Return the pair generator settings ('full' or 'tiny') with the chosen rasterizer."""
    from pose_tracker.synth.pairs import PairConfig

    cfg = PairConfig.tiny() if name == 'tiny' else PairConfig()
    cfg.backend = backend if name != 'tiny' else 'ours'
    return cfg


class Horizon:
    """Mutable schedule horizon shared by the LR lambda (set after calibration)."""

    def __init__(self, total: Optional[int], warmup: int, min_ratio: float):
        self.total, self.warmup, self.min_ratio = total, warmup, min_ratio

    def factor(self, step: int) -> float:
        """LR multiplier at ``step``: linear warm-up, then cosine to ``min_ratio``."""
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.total is None:
            return 1.0
        span = max(1, self.total - self.warmup)
        x = min(1.0, (step - self.warmup) / span)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * x))


def compute_loss(model, batch, w_trans: float, w_rot: float, autocast: bool,
                 kind: str = 'mse', delta: float = 0.1):
    """
    Return (loss, loss_trans, loss_rot) for a PairBatch.

    ``kind`` 'mse' is FoundationPose's L2; 'huber' (quadratic below ``delta`` target units,
    linear above) weighs the many small, tracking-like corrections more against the large ones.
    """
    dev_type = batch.A.device.type
    with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=autocast):
        trans, rot = model(batch.A, batch.B)
    if kind == 'huber':
        lt = F.huber_loss(trans.float(), batch.trans_target, delta=delta) / delta
        lr_ = F.huber_loss(torch.tanh(rot.float()), batch.rot_target, delta=delta) / delta
    else:
        lt = F.mse_loss(trans.float(), batch.trans_target)
        lr_ = F.mse_loss(torch.tanh(rot.float()), batch.rot_target)
    return w_trans * lt + w_rot * lr_, lt, lr_


@torch.no_grad()
def validate(model, val_batches: List, autocast: bool) -> dict:
    """
    Pose errors after one refinement step on the validation batches.

    Returns:
        dict with mean/median translation errors (mm) and rotation errors (degrees) after the
        step (``val_t_mm``, ``val_r_deg``, ...) and of the input poses (``in_t_mm``, ...).
    """
    from pose_tracker.geometry.pose import apply_refiner_update, rotation_error_deg

    was_training = model.training
    model.eval()
    te, re_, ti, ri = [], [], [], []
    for b in val_batches:
        with torch.autocast(b.A.device.type, dtype=torch.bfloat16, enabled=autocast):
            trans, rot = model(b.A, b.B)
        out = apply_refiner_update(b.pose_in, trans.float(), rot.float(), b.diameter)
        te.append((out[:, :3, 3] - b.pose_gt[:, :3, 3]).norm(dim=1) * 1000)
        re_.append(rotation_error_deg(out, b.pose_gt))
        ti.append((b.pose_in[:, :3, 3] - b.pose_gt[:, :3, 3]).norm(dim=1) * 1000)
        ri.append(rotation_error_deg(b.pose_in, b.pose_gt))
    model.train(was_training)
    res = {}
    for name, vals in (('val_t_mm', te), ('val_r_deg', re_), ('in_t_mm', ti), ('in_r_deg', ri)):
        v = torch.cat(vals).float()
        res[name] = round(float(v.mean()), 4)
        res[name.replace('val', 'val_med').replace('in_', 'in_med_')] = round(
            float(v.median()), 4)
    # the tracking regime: inputs within 1 cm and 5 degrees of the truth
    small = (torch.cat(ti) < 10.0) & (torch.cat(ri) < 5.0)
    if bool(small.any()):
        for name, vals in (('small_t_mm', te), ('small_r_deg', re_), ('small_in_t_mm', ti),
                           ('small_in_r_deg', ri)):
            res[name] = round(float(torch.cat(vals).float()[small].mean()), 4)
    return res


def _rng_states() -> dict:
    states = {'torch': torch.get_rng_state(), 'numpy': np.random.get_state(),
              'python': random.getstate()}
    if torch.cuda.is_available():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict) -> None:
    torch.set_rng_state(states['torch'])
    np.random.set_state(states['numpy'])
    random.setstate(states['python'])
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file, fsync it, then rename it onto ``path``."""
    tmp = path.with_name(path.name + '.tmp')
    with open(tmp, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(obj: dict, out: Path, tag: str, shard_mb: float = 15.0) -> Path:
    """
    Save a training checkpoint as shards plus a manifest, atomically.

    The pickled checkpoint is split into ``ckpt-<tag>.NN.part`` files of at most ``shard_mb``
    MiB (so each fits transfer limits on file size), each written to a temporary name and
    renamed; then ``ckpt.json`` (part names, size, SHA-256) replaces the previous manifest in one
    rename, and only then are the previous checkpoint's parts deleted. A kill at any point
    leaves a complete, verifiable checkpoint (the old or the new one).

    Returns:
        The manifest path.
    """
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    size = max(1, int(shard_mb * 2 ** 20))
    names = []
    for i in range(0, max(1, len(data)), size):
        name = f'ckpt-{tag}.{i // size:02d}.part'
        _write_atomic(out / name, data[i:i + size])
        names.append(name)
    manifest = {'parts': names, 'bytes': len(data), 'sha256': hashlib.sha256(data).hexdigest(),
                'step': obj.get('step')}
    _write_atomic(out / 'ckpt.json', json.dumps(manifest).encode())
    for old in out.glob('ckpt-*.part'):
        if old.name not in names:
            old.unlink()
    return out / 'ckpt.json'


def load_checkpoint(out: Path) -> dict:
    """Load the checkpoint described by ``out/ckpt.json`` (verifying its SHA-256)."""
    manifest = json.loads((out / 'ckpt.json').read_text())
    data = b''.join((out / name).read_bytes() for name in manifest['parts'])
    if len(data) != manifest['bytes'] or hashlib.sha256(data).hexdigest() != manifest['sha256']:
        raise SystemExit(f'checkpoint parts in {out} are incomplete or corrupt (SHA-256 '
                         'mismatch); copy all ckpt-*.part files listed in ckpt.json')
    return torch.load(io.BytesIO(data), map_location='cpu', weights_only=False)


def _compact_optimizer_state(state: dict, dtype: torch.dtype) -> dict:
    """
    Return an optimizer state dict with floating moment tensors cast to ``dtype``.

    ``Optimizer.load_state_dict`` casts them back to the parameters' dtype.
    """
    if dtype == torch.float32:
        return state
    out = {'param_groups': state['param_groups'], 'state': {}}
    for k, st in state['state'].items():
        out['state'][k] = {n: (v.to(dtype) if torch.is_tensor(v) and v.is_floating_point()
                               and v.dim() > 0 else v) for n, v in st.items()}
    return out


class Logger:
    """Print JSON records and append them to ``log.jsonl``."""

    def __init__(self, path: Path, quiet: bool = False):
        self.path, self.quiet = path, quiet

    def __call__(self, **rec) -> None:
        rec = {'time': round(time.time() - _T_START, 2), **rec}
        line = json.dumps(rec)
        if not self.quiet:
            print(line, flush=True)
        with open(self.path, 'a') as f:
            f.write(line + '\n')


def _param_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _enable_fast_cuda() -> None:
    """Let cuDNN pick kernels by timing and allow TF32 matmuls and convolutions."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def _seed_everything(seed: int) -> None:
    """Seed torch, numpy and python's global generators."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _validation_batches(args, device) -> List:
    """Return the fixed held-out validation batches ('val' split, ``--val-seed``)."""
    from pose_tracker.synth.pairs import PairSampler

    val_cfg = pair_config(args.data, args.backend)
    val_cfg.pool_size = min(val_cfg.pool_size, 16)
    val_cfg.refresh_every = 0
    val_sampler = PairSampler(val_cfg, seed=args.val_seed, device=device, split='val')
    if args.val_size <= 0:
        return []
    vb = min(args.batch, 64)
    return [val_sampler.sample(i, min(vb, args.val_size - i * vb))
            for i in range(math.ceil(args.val_size / vb))]


class _Meter:
    """Loss and time accumulators between two 'train' log records."""

    def __init__(self, device):
        self.acc = torch.zeros(3, device=device)
        self.reset()

    def reset(self) -> None:
        """Start a new logging interval."""
        self.acc.zero_()
        self.n, self.data_s, self.step_s, self.t_log = 0, 0.0, 0.0, time.time()

    def add_losses(self, loss, lt, lrot) -> None:
        """Accumulate one optimiser step's losses (device tensors, no host sync)."""
        self.acc += torch.stack([loss.detach(), lt.detach(), lrot.detach()])
        self.n += 1

    def add_times(self, data_s: float, step_s: float) -> None:
        """Accumulate one step's data and total seconds."""
        self.data_s += data_s
        self.step_s += step_s

    def mean_step_s(self) -> float:
        """Mean seconds per step over the interval."""
        return self.step_s / max(self.n, 1)


class _TrainingRun:
    """One training chunk: set-up, resume, the step loop, checkpoints and the export."""

    def __init__(self, args):
        self.args = args
        self.t_begin = time.time()
        self.deadline = self.t_begin + args.minutes * 60.0
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = Logger(self.out / 'log.jsonl')
        self.device = torch.device(args.device)
        self.cuda = self.device.type == 'cuda'
        if self.cuda:
            _enable_fast_cuda()
        _seed_everything(args.seed)
        self._build_model()
        self.step, self.train_seconds, self.chunks = self._resume()
        self.start_step = self.step
        self._build_data()
        self.n_params = _param_count(self.model)
        self._log_start()

    # ------------------------------------------------------------------ set-up
    def _build_model(self) -> None:
        """Model, AdamW optimiser and the warm-up + cosine schedule."""
        args = self.args
        self.model = build_model(args.width, self.device)
        if self.cuda:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=args.lr,
                                     weight_decay=args.weight_decay)
        self.horizon = Horizon(args.steps, args.warmup, args.min_lr_ratio)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, self.horizon.factor)

    def _resume(self):
        """Load ``ckpt.json`` when resuming; return (step, train seconds, chunks done)."""
        args, ckpt_path = self.args, self.out / 'ckpt.json'
        if not ckpt_path.exists():
            if args.resume:
                self.log(event='resume_requested_but_no_checkpoint', path=str(ckpt_path))
            return 0, 0.0, 0
        if not args.resume:
            raise SystemExit(f'{ckpt_path} exists: pass --resume to continue that run, or '
                             'choose another --out')
        ck = load_checkpoint(self.out)
        if ck['width'] != args.width or ck['seed'] != args.seed:
            raise SystemExit(f"{ckpt_path} was trained with --width {ck['width']} --seed "
                             f"{ck['seed']}; resume with the same settings")
        self.model.load_state_dict(ck['model'])
        self.opt.load_state_dict(ck['optimizer'])
        self.horizon.total = ck['total_steps'] if args.steps is None else args.steps
        self.sched.load_state_dict(ck['scheduler'])
        _set_rng_states(ck['rng'])
        self.log(event='resume', step=ck['step'], total_steps=self.horizon.total)
        return ck['step'], ck['train_seconds'], ck.get('chunks', 0)

    def _build_data(self) -> None:
        """Training pair sampler (at the resumed step) and the validation batches."""
        from pose_tracker.synth.pairs import PairSampler

        args = self.args
        self.cfg = pair_config(args.data, args.backend)
        self.sampler = PairSampler(self.cfg, seed=args.seed, device=self.device, split='train')
        self.val_batches = _validation_batches(args, self.device)
        self.sampler.pool.at_step(self.start_step)

    def _log_start(self) -> None:
        args = self.args
        self.log(event='start', device=str(self.device), width=args.width,
                 arch=self.model.arch, params=self.n_params, batch=args.batch, lr=args.lr,
                 seed=args.seed, step=self.start_step, total_steps=self.horizon.total,
                 rasterizer=self.sampler.backend, data=args.data,
                 setup_s=round(time.time() - self.t_begin, 2), torch=torch.__version__,
                 gpu=torch.cuda.get_device_name(self.device) if self.cuda else None)

    # ------------------------------------------------------------------ the loop
    def _stop_reason(self, step_time_est: float) -> Optional[str]:
        """Why the loop must stop before the next step, or None to go on."""
        args = self.args
        if self.horizon.total is not None and self.step >= self.horizon.total:
            return 'horizon reached'
        if args.stop_at is not None and self.step >= args.stop_at:
            return 'stop-at'
        # leave time for the final validation, checkpoint and export
        if time.time() + step_time_est + 15.0 + 0.02 * args.val_size > self.deadline:
            return 'time limit'
        return None

    def _train_step(self, meter: _Meter):
        """Run one optimiser step (or skip a non-finite loss); return the batch."""
        args = self.args
        t0 = time.time()
        batch = self.sampler.sample(self.step, args.batch)
        if self.cuda:
            batch.A = batch.A.contiguous(memory_format=torch.channels_last)
            batch.B = batch.B.contiguous(memory_format=torch.channels_last)
        t1 = time.time()
        loss, lt, lrot = compute_loss(self.model, batch, args.w_trans, args.w_rot, self.cuda,
                                      args.loss, args.huber_delta)
        self.opt.zero_grad(set_to_none=True)
        if not bool(torch.isfinite(loss)):  # one host sync per step; rare, but never apply it
            self._skip_nonfinite()
            return None
        loss.backward()
        if args.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), args.clip_grad)
        self.opt.step()
        self.sched.step()
        meter.add_losses(loss, lt, lrot)
        self.step += 1
        t2 = time.time()
        meter.add_times(t1 - t0, t2 - t0)
        self.train_seconds += t2 - t0
        return batch

    def _skip_nonfinite(self) -> None:
        self.skipped += 1
        self.log(event='skip_nonfinite', step=self.step, skipped=self.skipped)
        if self.skipped > 50:
            raise SystemExit('more than 50 non-finite losses: lower --lr')
        self.sched.step()
        self.step += 1

    def _calibrate(self) -> None:
        """Without --steps: time steps 10..10+calib-steps and set the horizon from them."""
        args, done = self.args, self.step - self.start_step
        if self.horizon.total is not None:
            return
        if done == 10:
            if self.cuda:
                torch.cuda.synchronize()
            self.calib_t0 = time.time()
        if self.calib_t0 is None or done != 10 + args.calib_steps:
            return
        if self.cuda:
            torch.cuda.synchronize()
        per_step = (time.time() - self.calib_t0) / args.calib_steps
        total_min = args.total_minutes or args.minutes
        n_chunks = max(1, math.ceil(total_min / args.minutes - 1e-6))
        setup_s = (self.t_begin - _T_START) + (self.calib_t0 - self.t_begin)
        overhead = setup_s - 10 * per_step + 25.0
        usable = total_min * 60.0 - n_chunks * overhead
        self.horizon.total = max(self.step + 1, int(0.95 * usable / per_step))
        self.log(event='horizon', total_steps=self.horizon.total, sec_per_step=round(per_step, 4),
                 chunks_planned=n_chunks, overhead_s=round(overhead, 1))

    def _log_train(self, meter: _Meter, batch) -> None:
        """Log the interval's mean losses and speed, then start a new interval."""
        args = self.args
        vals = (meter.acc / max(meter.n, 1)).tolist()
        self.log(event='train', step=self.step, loss=round(vals[0], 5),
                 loss_t=round(vals[1], 5), loss_r=round(vals[2], 5),
                 lr=float(self.sched.get_last_lr()[0]),
                 data_ms=round(1000 * meter.data_s / max(meter.n, 1), 1),
                 step_ms=round(1000 * meter.mean_step_s(), 1),
                 samples_per_s=round(meter.n * args.batch / max(time.time() - meter.t_log, 1e-9),
                                     1),
                 fingerprint=batch.fingerprint() if args.log_every == 1 else None,
                 steps_run=self.step - self.start_step)
        meter.reset()

    def train(self) -> str:
        """Run steps until the horizon, --stop-at or the time limit; return the reason."""
        args = self.args
        self.model.train()
        self.skipped, self.calib_t0 = 0, None
        meter = _Meter(self.device)
        last_ckpt, step_time_est = time.time(), 0.0
        while True:
            reason = self._stop_reason(step_time_est)
            if reason is not None:
                return reason
            batch = self._train_step(meter)
            if batch is None:
                continue
            self._calibrate()
            if self.step % args.log_every == 0 or self.step == args.stop_at:
                step_time_est = max(step_time_est, meter.mean_step_s())
                self._log_train(meter, batch)
            if time.time() - last_ckpt > args.ckpt_minutes * 60.0:
                self.checkpoint('periodic')
                last_ckpt = time.time()

    # ------------------------------------------------------------------ outputs
    def checkpoint(self, reason: str) -> dict:
        """Validate, write a checkpoint of the current step; return the validation errors."""
        args, step = self.args, self.step
        val = validate(self.model, self.val_batches, self.cuda) if self.val_batches else {}
        moments = torch.bfloat16 if args.ckpt_moments == 'bf16' else torch.float32
        save_checkpoint({'model': self.model.state_dict(),
                         'optimizer': _compact_optimizer_state(self.opt.state_dict(), moments),
                         'scheduler': self.sched.state_dict(), 'step': step,
                         'total_steps': self.horizon.total, 'rng': _rng_states(),
                         'train_seconds': self.train_seconds, 'chunks': self.chunks + 1,
                         'width': args.width, 'seed': args.seed, 'args': vars(args),
                         'arch': self.model.arch, 'pair_config': asdict(self.cfg), 'val': val},
                        self.out, f'{step:07d}', args.shard_mb)
        self.log(event='checkpoint', reason=reason, step=step, **val)
        return val

    def export(self, reason: str, val: dict) -> dict:
        """Write ``refiner_<width>.pt`` (half precision) and log and return the end summary."""
        from pose_tracker.network.checkpoint import save_refiner

        args, step = self.args, self.step
        weights = self.out / f'refiner_{args.width}.pt'
        meta = {'trained_by': 'pose_tracker.tools.train', 'steps': step,
                'total_steps': self.horizon.total, 'seed': args.seed, 'batch': args.batch,
                'lr': args.lr, 'width': args.width,
                'train_seconds': round(self.train_seconds, 1), 'chunks': self.chunks + 1,
                'data': 'procedural meshes (pose_tracker.synth), no YCB objects',
                'val': val, 'params': self.n_params}
        save_refiner(self.model.to(memory_format=torch.contiguous_format), weights, meta,
                     half=True)
        summary = {'event': 'end', 'reason': reason, 'step': step, 'weights': str(weights),
                   'weights_mb': round(weights.stat().st_size / 2 ** 20, 2),
                   'wall_s': round(time.time() - _T_START, 1), **val}
        self.log(**summary)
        return summary


def main(argv=None) -> dict:
    """Run one training chunk; return a summary dict (also logged)."""
    run = _TrainingRun(build_parser().parse_args(argv))
    reason = run.train()
    return run.export(reason, run.checkpoint(reason))


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
