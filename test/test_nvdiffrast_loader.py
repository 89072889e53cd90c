# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""CPU tests of the nvdiffrast loader: plugin name, build folder on sys.path, loud failures."""

import sys
import textwrap

import pytest
import torch

from pose_tracker.render import nvdiffrast_backend as nb


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """Empty loader state, a private sys.path and torch extensions folder."""
    monkeypatch.setattr(nb, '_STATE', {'dr': None, 'error': None, 'plugin_dir': None,
                                       'load_seconds': None})
    monkeypatch.setattr(sys, 'path', list(sys.path))
    monkeypatch.setenv('TORCH_EXTENSIONS_DIR', str(tmp_path / 'ext'))
    saved = {m: sys.modules.pop(m) for m in list(sys.modules) if _ours(m)}
    yield tmp_path
    # Drop the stand-ins these tests import, give back whatever was loaded before.
    for m in [m for m in sys.modules if _ours(m)]:
        del sys.modules[m]
    sys.modules.update(saved)


def _ours(module_name):
    """Return True for nvdiffrast's modules and its plugin."""
    return module_name.split('.')[0] == 'nvdiffrast' or module_name.startswith('nvdiffrast_plugin')


def test_plugin_name_matches_nvdiffrast_pattern():
    assert (nb.plugin_name('0.3.3.1', '2.11.0+cu130')
            == 'nvdiffrast_plugin_0_3_3_1_torch2_11_0_cu130')


def test_plugin_build_dir_is_created_under_torch_extensions_dir(fresh):
    path = nb.plugin_build_dir('0.3.3.1')
    assert path == str(fresh / 'ext' / nb.plugin_name('0.3.3.1', torch.__version__))
    assert (fresh / 'ext').is_dir()


def test_not_installed_is_a_clear_error(fresh):
    sys.modules['nvdiffrast'] = None  # import nvdiffrast -> ImportError (fixture undoes it)
    with pytest.raises(RuntimeError, match='nvdiffrast cannot be imported'):
        nb.load()
    with pytest.raises(RuntimeError, match='cannot be imported'):  # remembered, same error
        nb.load()


def _fake_nvdiffrast(root, body):
    """Write a stand-in ``nvdiffrast`` package whose ``torch.ops._get_plugin`` runs ``body``."""
    pkg = root / 'site' / 'nvdiffrast'
    (pkg / 'torch').mkdir(parents=True)
    (pkg / '__init__.py').write_text("__version__ = '0.3.3.1'\n")
    (pkg / 'torch' / '__init__.py').write_text('from .ops import _get_plugin\n')
    (pkg / 'torch' / 'ops.py').write_text(textwrap.dedent(body))
    sys.path.insert(0, str(root / 'site'))


def test_built_plugin_is_importable_by_name(fresh):
    # Like nvdiffrast 0.3.x under torch 2.11: the build writes the module into the build folder,
    # then the loader imports it by name, which works only with that folder on sys.path.
    _fake_nvdiffrast(fresh, '''
        import importlib, os, torch
        import nvdiffrast
        from pose_tracker.render.nvdiffrast_backend import plugin_build_dir, plugin_name

        def _get_plugin(gl=False):
            name = plugin_name(nvdiffrast.__version__, torch.__version__)
            with open(os.path.join(plugin_build_dir('0.3.3.1'), name + '.py'), 'w') as f:
                f.write('BUILT = True\\n')
            return importlib.import_module(name)
        ''')
    dr = nb.load()
    assert dr.__name__ == 'nvdiffrast.torch'
    info = nb.load_info()
    assert info['plugin_dir'] in sys.path and info['error'] is None
    assert sys.modules[nb.plugin_name('0.3.3.1', torch.__version__)].BUILT
    assert nb.load() is dr  # cached


def test_build_failure_is_a_clear_error(fresh):
    _fake_nvdiffrast(fresh, '''
        def _get_plugin(gl=False):
            raise OSError('nvcc: not found')
        ''')
    with pytest.raises(RuntimeError, match=r'failed to build or load.*nvcc: not found'):
        nb.load()
    assert 'nvcc: not found' in nb.load_info()['error']


def test_unavailable_reason_names_the_cause():
    if not torch.cuda.is_available():
        assert nb.unavailable_reason() == 'needs CUDA'
        assert nb.available() is False
