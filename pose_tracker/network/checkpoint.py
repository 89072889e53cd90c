# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Load and save RefineNet weights, detecting the architecture from the state dict.

Accepted inputs of ``load_refiner``:

* a raw state dict (the released FoundationPose ``model_best.pth`` may be one),
* a dict holding the state dict under ``"model"`` (the other released layout),
* our own format written by ``save_refiner``::

      {"format": "pose_tracker.refiner", "version": 1, "arch": {...RefineNet kwargs...},
       "model": state_dict, "meta": {...plain data...}}

Files are read with ``torch.load(weights_only=True)``: a checkpoint cannot run code when loaded.
Without an ``arch`` entry the architecture is inferred from tensor shapes (widths, feed-forward
width, token count); the number of attention heads cannot be seen in shapes and is taken as 4.
"""

import math
import pickle
import re
import zipfile
from pathlib import Path

import torch

from pose_tracker.errors import WeightsError
from pose_tracker.network.refinenet import OFFICIAL_ARCH, RefineNet

__all__ = ['FORMAT', 'load_refiner', 'save_refiner', 'read_checkpoint', 'infer_arch']

FORMAT = 'pose_tracker.refiner'
VERSION = 1
# Prefixes added by nn.DataParallel / DistributedDataParallel and torch.compile wrappers.
_WRAPPER_PREFIXES = ('module.', '_orig_mod.')
_SHOW = 5  # how many offending keys an error message lists


def _load_file(path: Path, allow_pickle: bool = False) -> object:
    """Read a torch file, turning every failure into a WeightsError."""
    if not path.exists():
        raise WeightsError(f'refiner weights not found: {path} (check the path)')
    if not path.is_file():
        raise WeightsError(f'refiner weights path is not a file: {path}')
    if path.stat().st_size == 0:
        raise WeightsError(f'refiner weights file is empty: {path} (re-download it)')
    try:
        return torch.load(path, map_location='cpu', weights_only=not allow_pickle)
    except pickle.UnpicklingError as exc:
        text = str(exc).lower()
        # Only an unsupported *global* means real pickled objects; garbage bytes also fail the
        # weights-only unpickler ("Unsupported operand ..."), and are simply corrupt.
        if not allow_pickle and 'weights only' in text and 'unsupported global' in text:
            raise WeightsError(
                f'{path} holds pickled Python objects besides tensors, which are not loaded by '
                f'default because unpickling can run code. If you trust the file, load it with '
                f'allow_pickle=True, or re-save just the state dict in a trusted session: '
                f'torch.save(ckpt["model"], "clean.pth").') from exc
        # torch's own first line suggests weights_only=False, which would not help here.
        detail = re.search(r'unpickler error:\s*(.+)', str(exc), re.IGNORECASE | re.DOTALL)
        detail = detail.group(1).strip().splitlines()[0] if detail else _first_line(exc)
        raise WeightsError(
            f'{path} is not a PyTorch checkpoint, or is truncated/corrupt (re-download it): '
            f'{detail[:200]}') from exc
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile,
            UnicodeDecodeError, AttributeError, KeyError, IndexError) as exc:
        raise WeightsError(
            f'{path} is not a PyTorch checkpoint, or is truncated/corrupt (re-download it): '
            f'{_first_line(exc)}') from exc


def _first_line(exc: BaseException) -> str:
    """Return ``Type: first line of the message`` without terminal escape codes."""
    text = re.sub(r'\x1b\[[0-9;]*m', '', str(exc)).strip().splitlines()
    return f'{type(exc).__name__}: {text[0][:200] if text else ""}'


def _strip_wrappers(state: dict) -> dict:
    """Remove a prefix that every key shares from a DataParallel or torch.compile wrapper."""
    for prefix in _WRAPPER_PREFIXES:
        if state and all(isinstance(k, str) and k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def _is_state_dict(obj: object) -> bool:
    return (isinstance(obj, dict) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()))


def read_checkpoint(source, allow_pickle: bool = False) -> tuple[dict, dict | None, dict]:
    """
    Read a checkpoint into ``(state_dict, arch or None, meta)`` without building a model.

    Args:
        source: a path (str or Path) or an already-loaded object (dict).
        allow_pickle: read files with ``weights_only=False`` (only for trusted files that hold
            other pickled objects, e.g. numpy scalars, besides tensors).

    Returns:
        The state dict (tensors on CPU, wrapper prefixes removed), the recorded architecture
        (``None`` for raw and official checkpoints) and the metadata dict (empty if none).

    Raises:
        WeightsError: missing or unreadable file, or an object in none of the accepted layouts.

    """
    if isinstance(source, (str, Path)):
        obj = _load_file(Path(source).expanduser(), allow_pickle)
        where = str(source)
    else:
        obj = source
        where = 'the given checkpoint object'
    if not isinstance(obj, dict):
        raise WeightsError(
            f'{where} holds a {type(obj).__name__}, not a state dict or a checkpoint dict')
    arch, meta = None, {}
    if 'format' in obj:
        if obj['format'] != FORMAT:
            raise WeightsError(
                f'{where} has unknown format {obj["format"]!r} (expected {FORMAT!r})')
        if int(obj.get('version', VERSION)) > VERSION:
            raise WeightsError(
                f'{where} was written by a newer pose_tracker (format version '
                f'{obj["version"]} > {VERSION}); update pose_tracker')
        arch = obj.get('arch')
        meta = dict(obj.get('meta') or {})
        state = obj.get('model')
    elif 'model' in obj and isinstance(obj['model'], dict):
        state = obj['model']
    else:
        state = obj
    if not _is_state_dict(state):
        keys = ', '.join(repr(k) for k in list(obj)[:_SHOW])
        raise WeightsError(
            f'{where} is not a RefineNet checkpoint: expected a state dict of tensors, a dict '
            f'with "model", or format {FORMAT!r}; found keys {keys}')
    return _strip_wrappers(dict(state)), arch, meta


def _shape(state: dict, key: str) -> tuple:
    if key not in state:
        raise WeightsError(
            f'the state dict is not a RefineNet: key {key!r} is missing '
            f'(first keys: {", ".join(list(state)[:_SHOW])})')
    return tuple(state[key].shape)


def infer_arch(state: dict) -> dict:
    """
    Infer RefineNet constructor arguments from state-dict shapes.

    ``nhead`` is invisible in the shapes; 4 (the released refiner) is assumed, reduced to a
    divisor of the token dimension when needed.

    Raises:
        WeightsError: when a key needed for the inference is missing or has an odd shape.

    """
    stem = _shape(state, 'encodeA.0.net.0.weight')
    if len(stem) != 4:
        raise WeightsError(f'encodeA.0.net.0.weight has shape {stem}, expected a conv weight')
    w0, c_in = stem[0], stem[1]
    w1 = _shape(state, 'encodeA.1.net.0.weight')[0]
    w2 = _shape(state, 'encodeAB.0.conv1.weight')[0]
    d_model = _shape(state, 'encodeAB.2.net.0.weight')[0]
    ff = _shape(state, 'trans_head.0.linear1.weight')[0]
    pe = _shape(state, 'pos_embed.pe')
    side = math.isqrt(pe[1]) if len(pe) == 3 else 0
    if side * side != (pe[1] if len(pe) == 3 else -1):
        raise WeightsError(f'pos_embed.pe has shape {pe}; expected (1, side*side, d_model)')
    nhead = OFFICIAL_ARCH['nhead']
    while d_model % nhead:
        nhead -= 1
    return {
        'c_in': c_in, 'widths': [w0, w1, w2, d_model], 'nhead': nhead, 'dim_feedforward': ff,
        'use_bn': 'encodeA.0.net.1.weight' in state,
        # Every input side in (8*(side-1), 8*side] gives this token grid; the largest is chosen.
        'input_size': side * 8,
    }


def _check_keys(model: RefineNet, state: dict, where: str) -> None:
    """Raise a WeightsError listing missing, unexpected and mis-shaped keys, if any."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [f'{k} {tuple(state[k].shape)} vs {tuple(v.shape)}'
                 for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if not (missing or unexpected or misshaped):
        return
    parts = []
    for name, items in (('missing', missing), ('unexpected', unexpected),
                        ('mis-shaped (file vs model)', misshaped)):
        if items:
            more = f' (+{len(items) - _SHOW} more)' if len(items) > _SHOW else ''
            parts.append(f'{len(items)} {name}: {", ".join(items[:_SHOW])}{more}')
    raise WeightsError(
        f'{where} does not match the RefineNet architecture {model.arch}: ' + '; '.join(parts)
        + '. Is this a FoundationPose refiner (not the scorer) checkpoint?')


def load_refiner(source, device='cpu', allow_pickle: bool = False) -> RefineNet:
    """
    Build a RefineNet from a checkpoint and load its weights strictly.

    Args:
        source: path (str/Path) to a ``.pth``/``.pt`` file, or an already-loaded dict (raw state
            dict, ``{"model": state_dict}``, or our format).
        device: where the returned model lives.
        allow_pickle: see ``read_checkpoint``; off by default (``weights_only=True``).

    Returns:
        The model in eval mode, float32 weights (half-precision storage is widened), with the
        checkpoint's metadata in ``model.checkpoint_meta`` (empty dict if none).

    Raises:
        WeightsError: missing file, unreadable/corrupt/truncated file, unknown format, or a state
            dict of another architecture (the message lists the offending keys).

    """
    where = str(source) if isinstance(source, (str, Path)) else 'the checkpoint'
    state, arch, meta = read_checkpoint(source, allow_pickle)
    if arch is None:
        try:
            arch = infer_arch(state)
        except WeightsError as exc:
            raise WeightsError(f'{where}: {exc}') from exc
    try:
        model = RefineNet(**arch)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f'{where} records an invalid architecture {arch}: {exc}') from exc
    _check_keys(model, state, where)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f'{where} could not be loaded: {_first_line(exc)}') from exc
    model.checkpoint_meta = meta
    return model.to(device).eval()


def _check_plain(value, path: str = 'meta') -> None:
    """Reject metadata that ``torch.load(weights_only=True)`` could not read back."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f'{path}[{i}]')
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f'{path} has a non-string key {key!r}')
            _check_plain(item, f'{path}.{key}')
        return
    raise TypeError(
        f'{path} is a {type(value).__name__}; checkpoint metadata must be plain data '
        f'(None, bool, int, float, str, list, dict)')


def save_refiner(model: RefineNet, path, meta: dict | None = None, half: bool = False) -> Path:
    """
    Save a RefineNet in our checkpoint format (architecture recorded).

    Args:
        model: the network (any device; tensors are stored on CPU).
        path: output file; parent directories are created.
        meta: optional plain-data metadata (e.g. training run, dataset, date).
        half: store the parameters as float16 (about half the file size: ~35 MB instead of
            ~68 MB for the full model); ``load_refiner`` restores float32. Buffers (BatchNorm
            statistics, ``pos_embed.pe``) stay float32, integer ones stay int64.

    Returns:
        The path written.

    """
    if not isinstance(model, RefineNet):
        raise TypeError(f'save_refiner expects a RefineNet, got {type(model).__name__}')
    meta = dict(meta or {})
    _check_plain(meta)
    buffers = {name for name, _ in model.named_buffers()}
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().to('cpu')
        # Buffers (BatchNorm statistics, the position table) are small and precision-sensitive
        # (running_var can be ~1e-5): they stay float32.
        if half and value.is_floating_point() and key not in buffers:
            value = value.half()
        state[key] = value.clone()
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {'format': FORMAT, 'version': VERSION, 'arch': model.arch, 'model': state,
                  'meta': meta}
    torch.save(checkpoint, path)
    return path
