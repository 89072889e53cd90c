# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""CPU tests of the persistent torch.compile cache helper (pose_tracker.compile_cache)."""

import os
import stat

import pytest

from pose_tracker import compile_cache as cc

CACHE_VARS = ('TORCHINDUCTOR_CACHE_DIR', 'TORCHINDUCTOR_FX_GRAPH_CACHE',
              'TORCHINDUCTOR_AUTOGRAD_CACHE', 'POSE_TRACKER_COMPILE_CACHE', 'XDG_CACHE_HOME')


@pytest.fixture
def env(monkeypatch, tmp_path):
    """Give a clean os.environ (restored afterwards) with HOME in tmp_path."""
    for name in CACHE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    return tmp_path


def test_default_under_xdg_cache_home(env, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(env / 'xdg'))
    path = cc.enable_persistent_compile_cache()
    assert path == str(env / 'xdg' / 'pose_tracker' / 'inductor')
    assert os.path.isdir(path) and stat.S_IMODE(os.stat(path).st_mode) == 0o700
    assert os.environ['TORCHINDUCTOR_CACHE_DIR'] == path
    assert os.environ['TORCHINDUCTOR_FX_GRAPH_CACHE'] == '1'
    assert os.environ['TORCHINDUCTOR_AUTOGRAD_CACHE'] == '1'


def test_default_under_home_cache(env):
    path = cc.enable_persistent_compile_cache()
    assert path == str(env / 'home' / '.cache' / 'pose_tracker' / 'inductor')
    assert os.path.isdir(path)


def test_own_variable_overrides_default(env, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(env / 'xdg'))
    monkeypatch.setenv('POSE_TRACKER_COMPILE_CACHE', str(env / 'mine'))
    assert cc.enable_persistent_compile_cache() == str(env / 'mine')
    assert os.environ['TORCHINDUCTOR_CACHE_DIR'] == str(env / 'mine')
    assert not (env / 'xdg').exists()


def test_user_inductor_dir_and_switches_are_kept(env, monkeypatch):
    monkeypatch.setenv('TORCHINDUCTOR_CACHE_DIR', str(env / 'theirs'))
    monkeypatch.setenv('POSE_TRACKER_COMPILE_CACHE', str(env / 'mine'))
    monkeypatch.setenv('TORCHINDUCTOR_FX_GRAPH_CACHE', '0')
    assert cc.enable_persistent_compile_cache() == str(env / 'theirs')
    assert os.environ['TORCHINDUCTOR_CACHE_DIR'] == str(env / 'theirs')
    assert os.environ['TORCHINDUCTOR_FX_GRAPH_CACHE'] == '0'
    assert os.environ['TORCHINDUCTOR_AUTOGRAD_CACHE'] == '1'
    assert (env / 'theirs').is_dir() and not (env / 'mine').exists()


def test_torch_written_default_is_replaced(env, monkeypatch):
    # torch stores its /tmp default in TORCHINDUCTOR_CACHE_DIR once it has asked for it.
    default = cc._torch_default_dir()
    if default is None:
        pytest.skip('this torch has no default_cache_dir')
    monkeypatch.setenv('TORCHINDUCTOR_CACHE_DIR', default)
    monkeypatch.setenv('POSE_TRACKER_COMPILE_CACHE', str(env / 'mine'))
    assert cc.resolve_cache_dir() == (str(env / 'mine'), 'POSE_TRACKER_COMPILE_CACHE')


def test_off_leaves_torch_defaults(env, monkeypatch):
    monkeypatch.setenv('POSE_TRACKER_COMPILE_CACHE', 'off')
    assert cc.enable_persistent_compile_cache() is None
    assert 'TORCHINDUCTOR_CACHE_DIR' not in os.environ


def test_a_given_mapping_is_changed_not_os_environ(env):
    mapping = {'XDG_CACHE_HOME': str(env / 'xdg')}
    path = cc.enable_persistent_compile_cache(mapping)
    assert mapping['TORCHINDUCTOR_CACHE_DIR'] == path
    assert 'TORCHINDUCTOR_CACHE_DIR' not in os.environ


def test_torch_config_switches_and_cache_dir(env, monkeypatch):
    inductor_config = pytest.importorskip('torch._inductor.config')
    functorch_config = pytest.importorskip('torch._functorch.config')
    from torch._inductor.runtime.cache_dir_utils import cache_dir
    monkeypatch.setattr(inductor_config, 'fx_graph_cache', False)
    monkeypatch.setattr(inductor_config, 'autotune_local_cache', False)
    monkeypatch.setattr(functorch_config, 'enable_autograd_cache', False)
    path = cc.enable_persistent_compile_cache()
    assert inductor_config.fx_graph_cache and inductor_config.autotune_local_cache
    assert functorch_config.enable_autograd_cache
    assert cache_dir() == path  # what Inductor itself will use
