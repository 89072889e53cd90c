# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
A persistent torch.compile (Inductor) cache, so the one-time compile is paid once per machine.

By default Inductor keeps its caches in ``/tmp/torchinductor_<user>``, which a reboot (or a fresh
container) empties, so every start of the node compiles the step again. Call
:func:`enable_persistent_compile_cache` once, before the first ``torch.compile``; it points the
cache at a per-user folder and turns on the caches that make a second start cheap:

* the FX-graph cache (Inductor's generated code and, bundled into it, the compiled Triton
  kernels: the bulk of the compile time),
* the AOTAutograd cache (the traced forward graph),
* the local autotune cache (results of kernel-config benchmarking).

Dynamo still traces the Python function at every start (seconds, not the minutes of a cold
compile). Entries are keyed by torch version, device, the graph and Inductor's config, so a
stale entry is never reused after an upgrade; the folder only grows (delete it to reset).

Where the cache lives, first match wins:

1. ``TORCHINDUCTOR_CACHE_DIR`` if the user set it: left as it is;
2. ``POSE_TRACKER_COMPILE_CACHE`` (``off`` leaves torch's defaults alone);
3. ``$XDG_CACHE_HOME/pose_tracker/inductor``, else ``~/.cache/pose_tracker/inductor``.

Triton's own kernel cache follows (``<cache>/triton/<device>``) unless ``TRITON_CACHE_DIR`` is set.
"""

import os
import sys
from typing import Mapping, Optional

ENV_VAR = 'POSE_TRACKER_COMPILE_CACHE'
OFF = ('off', 'none', '0', 'false', 'no')


def _torch_default_dir() -> Optional[str]:
    """Return torch's default Inductor cache folder (``/tmp/torchinductor_<user>``), if known."""
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # a torch without it: no default to recognise
        return None
    return os.path.abspath(default_cache_dir())


def default_cache_dir(environ: Optional[Mapping[str, str]] = None) -> str:
    """Return ``$XDG_CACHE_HOME/pose_tracker/inductor`` or ``~/.cache/pose_tracker/inductor``."""
    env = os.environ if environ is None else environ
    base = env.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'pose_tracker', 'inductor')


def resolve_cache_dir(environ: Optional[Mapping[str, str]] = None):
    """
    Return (folder or None, source) for the Inductor cache, without changing anything.

    ``source`` is 'TORCHINDUCTOR_CACHE_DIR' (the user's, kept), 'POSE_TRACKER_COMPILE_CACHE',
    'default' or 'off' (folder None: leave torch's own default).
    """
    env = os.environ if environ is None else environ
    user = env.get('TORCHINDUCTOR_CACHE_DIR')
    # torch writes its /tmp default into TORCHINDUCTOR_CACHE_DIR the first time it asks for the
    # folder, so that value is torch's, not the user's, and may be replaced.
    if user and os.path.abspath(user) != _torch_default_dir():
        return os.path.abspath(user), 'TORCHINDUCTOR_CACHE_DIR'
    ours = env.get(ENV_VAR, '').strip()
    if ours.lower() in OFF:
        return None, 'off'
    if ours:
        return os.path.abspath(os.path.expanduser(ours)), ENV_VAR
    return os.path.abspath(default_cache_dir(env)), 'default'


def enable_persistent_compile_cache(environ=None) -> Optional[str]:
    """
    Point Inductor's caches at a persistent folder and enable them; return that folder.

    Call once per process before the first ``torch.compile`` (calling again is harmless). Sets
    ``TORCHINDUCTOR_CACHE_DIR`` (unless the user set it), ``TORCHINDUCTOR_FX_GRAPH_CACHE=1`` and
    ``TORCHINDUCTOR_AUTOGRAD_CACHE=1`` (each only where unset, so a user's ``=0`` wins), and the
    same switches on ``torch._inductor.config`` / ``torch._functorch.config`` in case torch read
    its environment already. Creates the folder (mode 0700 for a new one).

    Args:
        environ: The environment to read and change (default ``os.environ``; tests pass a dict).

    Returns:
        str or None: The cache folder, or None when ``POSE_TRACKER_COMPILE_CACHE=off``.

    """
    env = os.environ if environ is None else environ
    path, source = resolve_cache_dir(env)
    if path is None:
        return None
    os.makedirs(path, mode=0o700, exist_ok=True)
    env['TORCHINDUCTOR_CACHE_DIR'] = path
    env.setdefault('TORCHINDUCTOR_FX_GRAPH_CACHE', '1')
    env.setdefault('TORCHINDUCTOR_AUTOGRAD_CACHE', '1')
    if environ is None:
        _enable_in_torch_config(env)
    return path


def _enable_in_torch_config(env: Mapping[str, str]) -> None:
    """Set the cache switches on torch's config modules (an env value of 0 still wins there)."""
    if 'torch' not in sys.modules and not _importable('torch'):
        return
    try:
        import torch._functorch.config as functorch_config
        import torch._inductor.config as inductor_config
    except ImportError:  # a torch build without Inductor: nothing to configure
        return
    if env.get('TORCHINDUCTOR_FX_GRAPH_CACHE', '1') != '0':
        inductor_config.fx_graph_cache = True
    if env.get('TORCHINDUCTOR_AUTOGRAD_CACHE', '1') != '0':
        functorch_config.enable_autograd_cache = True
    if hasattr(inductor_config, 'autotune_local_cache'):
        inductor_config.autotune_local_cache = True


def _importable(name: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(name) is not None
