# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Optional backend on nvdiffrast (CUDA only), for comparison and as an eager fallback.

nvdiffrast is an optional dependency (NVIDIA Source Code License, never required): install it on
GPU machines with ``pip install '.[nvdiffrast]'`` (PyPI's ``diffrp-nvdiffrast``, module
``nvdiffrast``). Its CUDA plugin is JIT-compiled with the CUDA toolkit (nvcc, ninja) on first use,
which takes a minute or more once per machine and torch version; later loads reuse the build in
torch's extensions folder.

nvdiffrast is imported lazily, so this module imports without it. :func:`installed` says whether
the package is there; :func:`load` (called by every op here) builds and loads the plugin and
raises a ``RuntimeError`` with the reason when that fails: a broken install is never silently
replaced by our rasterizer. Its rasterizer synchronises with the host on every call, so it cannot
run inside a captured CUDA graph (capturing it crashes the process); ``interpolate`` and
``texture`` can be captured.
"""

import importlib
import importlib.util
import os
import re
import sys
import threading
import time

import torch

_LOCK = threading.Lock()
_STATE = {'dr': None, 'error': None, 'plugin_dir': None, 'load_seconds': None}


def installed() -> bool:
    """Return True when the nvdiffrast package is there; does not build or load its plugin."""
    try:
        return importlib.util.find_spec('nvdiffrast') is not None
    except (ImportError, ValueError):
        return False


def available() -> bool:
    """
    Return True when nvdiffrast can be used here: a CUDA device and the package installed.

    False only for those two reasons; an installed package whose plugin fails to build or load
    makes this raise ``RuntimeError`` (see :func:`load`) rather than return False.
    """
    if not torch.cuda.is_available() or not installed():
        return False
    load()
    return True


def unavailable_reason() -> str:
    """Return why :func:`available` is False ('' when it is True), e.g. for a pytest skip."""
    if not torch.cuda.is_available():
        return 'needs CUDA'
    if not installed():
        return "nvdiffrast is not installed (pip install '.[nvdiffrast]', CUDA machines only)"
    return ''


def plugin_name(nvdiffrast_version: str, torch_version: str) -> str:
    """
    Return the name nvdiffrast gives its JIT-built torch plugin (mirrors nvdiffrast.torch.ops).

    E.g. ('0.3.3.1', '2.11.0+cu130') -> 'nvdiffrast_plugin_0_3_3_1_torch2_11_0_cu130'.
    """
    name = f'nvdiffrast_plugin_{nvdiffrast_version}_torch{torch_version}'
    return re.sub(r'\W|^(?=\d)', '_', name)


def _extensions_root() -> str:
    """Return torch's JIT-extension root, as ``torch.utils.cpp_extension`` computes it."""
    root = os.environ.get('TORCH_EXTENSIONS_DIR')
    if root is not None:
        return root
    from torch.utils import cpp_extension
    if torch.version.hip is not None:
        accel = 'rocm' + torch.version.hip.replace('.', '')
    elif torch.version.cuda is not None:
        accel = 'cu' + torch.version.cuda.replace('.', '')
    else:
        accel = 'cpu'
    py = f'py{sys.version_info.major}{sys.version_info.minor}{getattr(sys, "abiflags", "")}'
    return os.path.join(cpp_extension.get_default_build_root(), f'{py}_{accel}')


def plugin_build_dir(nvdiffrast_version: str) -> str:
    """
    Return (and create) the folder torch builds nvdiffrast's plugin in for this torch and CUDA.

    Uses torch's own ``_get_build_directory`` (private, so with a fallback that repeats its rule:
    ``$TORCH_EXTENSIONS_DIR`` or ``~/.cache/torch_extensions/py312_cu130``, then the plugin name).
    """
    name = plugin_name(nvdiffrast_version, torch.__version__)
    from torch.utils import cpp_extension
    get_dir = getattr(cpp_extension, '_get_build_directory', None)
    if get_dir is not None:
        try:
            return get_dir(name, False)
        except TypeError:  # a changed private signature: use the fallback below
            pass
    path = os.path.join(_extensions_root(), name)
    os.makedirs(path, exist_ok=True)
    return path


def _put_plugin_dir_on_sys_path(nvdiffrast_version: str) -> str:
    """
    Put the plugin's build folder on ``sys.path``; return that folder.

    THE FIX (the one place it lives): nvdiffrast 0.3.x builds its plugin with
    ``torch.utils.cpp_extension.load`` and then loads it with
    ``importlib.import_module(<plugin name>)``. Recent torch (seen with 2.11) no longer puts the
    build folder on ``sys.path``, so that import fails right after a successful build with
    "No module named nvdiffrast_plugin_0_3_3_1_torch2_11_0_cu130". With the folder on
    ``sys.path`` first, the import finds the freshly built ``.so``. The folder is created before
    it goes on ``sys.path``, so Python's path-importer cache never records it as missing.
    Harmless on torch versions that do this themselves, and on nvdiffrast versions that load
    their plugin another way (the folder then stays empty).
    """
    build_dir = plugin_build_dir(nvdiffrast_version)
    if build_dir not in sys.path:
        sys.path.insert(0, build_dir)
    importlib.invalidate_caches()
    return build_dir


def load():
    """
    Import nvdiffrast, build (first use only) and load its CUDA plugin; return nvdiffrast.torch.

    Cached: the first call may take minutes (the JIT build), later ones are free. The plugin
    folder and the load time (s) are kept in ``load_info()``.

    Raises:
        RuntimeError:
            nvdiffrast is not installed, or its plugin failed to build or load (no nvcc, a compiler
            error, an ABI mismatch...); the message holds the reason and the build folder. The
            failure is remembered: later calls raise the same error without building again.

    """
    with _LOCK:
        if _STATE['dr'] is not None:
            return _STATE['dr']
        if _STATE['error'] is not None:
            raise RuntimeError(_STATE['error'])
        t0 = time.perf_counter()
        try:
            import nvdiffrast
            import nvdiffrast.torch as dr
        except Exception as e:  # noqa: BLE001 - re-raised below, with the reason
            _STATE['error'] = (f'nvdiffrast cannot be imported ({type(e).__name__}: {e}); '
                               "install it with pip install '.[nvdiffrast]' (CUDA machines)")
            raise RuntimeError(_STATE['error']) from e
        version = getattr(nvdiffrast, '__version__', '?')
        build_dir = None
        try:
            build_dir = _put_plugin_dir_on_sys_path(version)
            # nvdiffrast's own loader: builds with nvcc on first use, then imports the plugin.
            ops = importlib.import_module('nvdiffrast.torch.ops')
            ops._get_plugin(gl=False)
        except Exception as e:  # noqa: BLE001 - re-raised below, with the reason
            _STATE['error'] = (
                f'nvdiffrast {version} failed to build or load its CUDA plugin '
                f'{plugin_name(version, torch.__version__)} (build folder {build_dir}; torch '
                f'{torch.__version__}, CUDA {torch.version.cuda}): {type(e).__name__}: {e}. '
                'It needs the CUDA toolkit (nvcc) and ninja; delete the build folder to rebuild.')
            raise RuntimeError(_STATE['error']) from e
        _STATE.update(dr=dr, plugin_dir=build_dir, load_seconds=time.perf_counter() - t0)
        return dr


def load_info() -> dict:
    """Return {'plugin_dir': str or None, 'load_seconds': float or None, 'error': str or None}."""
    return {k: _STATE[k] for k in ('plugin_dir', 'load_seconds', 'error')}


_CONTEXTS = {}


def _context(device: torch.device):
    """Return a RasterizeCudaContext for ``device``, created once and reused."""
    key = torch.device(device).index
    if key is None:
        key = torch.cuda.current_device()
    if key not in _CONTEXTS:
        _CONTEXTS[key] = load().RasterizeCudaContext(device=torch.device('cuda', key))
    return _CONTEXTS[key]


def rasterize(pos_clip: torch.Tensor, tri: torch.Tensor, resolution) -> torch.Tensor:
    """
    Rasterize with ``nvdiffrast.torch.rasterize`` (eager only: it syncs with the host).

    Args:
        pos_clip: (B,V,4) float32 clip-space positions on a CUDA device.
        tri: (F,3) vertex indices (converted to int32).
        resolution: (H, W) pixels.

    Returns:
        torch.Tensor: (B,H,W,4) float32 (u, v, z/w, triangle_id + 1), zero where empty.

    """
    rast, _ = load().rasterize(_context(pos_clip.device), pos_clip.float().contiguous(),
                               tri.to(torch.int32).contiguous(), resolution=tuple(resolution))
    return rast


def interpolate(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Interpolate with ``nvdiffrast.torch.interpolate``; see :func:`..interpolate.interpolate`."""
    out, _ = load().interpolate(attr.float().contiguous(), rast.contiguous(),
                                tri.to(torch.int32).contiguous())
    return out


def texture(tex: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup with ``nvdiffrast.torch.texture`` (wrap); see :func:`..texture.texture`."""
    return load().texture(tex.float().contiguous(), uv.float().contiguous(),
                          filter_mode='linear', boundary_mode='wrap')
