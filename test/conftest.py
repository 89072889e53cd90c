# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Shared pytest set-up: markers, ROS environment defaults, seeds and the YCB-Video fixture.

Markers:
    linter  code style checks (flake8, pep257, copyright headers).
    gpu     needs CUDA; skipped automatically when ``torch.cuda.is_available()`` is false.
    ros     needs rclpy and the ROS message packages; skipped automatically without rclpy.
    slow    longer than a few seconds; still run by default, deselect with ``-m "not slow"``.
"""

import importlib.util
import os
import pathlib
import random
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# The shared data folder sits next to the checkout (CI clones main with shared/ beside it).
YCBV_DIR = pathlib.Path(
    os.environ.get('POSE_TRACKER_YCBV', REPO_ROOT.parent / 'shared' / 'data' / 'ycbv'))

MARKERS = {
    'linter': 'code style checks (flake8, pep257, copyright headers)',
    'gpu': 'needs a CUDA device; skipped without one',
    'ros': 'needs rclpy and the ROS 2 message packages; skipped without them',
    'slow': 'takes more than a few seconds; deselect with -m "not slow"',
}


def _has_module(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _cuda_available():
    if not _has_module('torch'):
        return False
    import torch
    return torch.cuda.is_available()


def _set_ros_env_defaults():
    """
    Make ``.venv/bin/python -m pytest`` see the environment that ``make test`` sources.

    Only fills in variables that are unset, so a sourced ROS install or the env file wins.
    Runs before any test module imports rclpy, which reads these when it initialises.
    """
    venv_ament_index = pathlib.Path(sys.prefix) / 'share' / 'ament_index'
    if venv_ament_index.is_dir():
        # The PyPI ROS wheels (and tf2_msgs built by scripts/setup_env.sh) live in this venv.
        paths = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
        if sys.prefix not in paths:
            os.environ['AMENT_PREFIX_PATH'] = os.pathsep.join([sys.prefix] + paths)
    os.environ.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    os.environ.setdefault(
        'FASTRTPS_DEFAULT_PROFILES_FILE', str(REPO_ROOT / 'config' / 'fastdds_shm.xml'))
    # Keep concurrent test runs on one machine (several engineers, CI) from hearing each other:
    # discovery stays on this host and each run picks its own domain (1..100).
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 100))


def _set_hypothesis_profile():
    """Deterministic, deadline-free hypothesis runs (2 shared cores make timings noisy)."""
    if not _has_module('hypothesis'):
        return
    from hypothesis import HealthCheck, settings
    settings.register_profile(
        'pose_tracker', derandomize=True, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'pose_tracker'))


def pytest_configure(config):
    """Register the markers and set environment defaults before test modules are imported."""
    for name, doc in MARKERS.items():
        config.addinivalue_line('markers', '%s: %s' % (name, doc))
    _set_ros_env_defaults()
    _set_hypothesis_profile()


def pytest_report_header(config):
    """Show what the run has: torch build and device, rclpy, the ROS domain, the data."""
    torch_line = 'torch: not installed'
    if _has_module('torch'):
        import torch
        torch_line = 'torch %s, %s' % (
            torch.__version__, 'CUDA ' + torch.cuda.get_device_name(0)
            if torch.cuda.is_available() else 'CPU only')
    return [
        torch_line,
        'rclpy: %s, ROS_DOMAIN_ID=%s' % (
            'yes' if _has_module('rclpy') else 'no', os.environ.get('ROS_DOMAIN_ID')),
        'ycbv data: %s' % (YCBV_DIR if YCBV_DIR.is_dir() else 'absent (%s)' % YCBV_DIR),
    ]


def pytest_collection_modifyitems(config, items):
    """Skip ``gpu`` tests without CUDA and ``ros`` tests without rclpy, saying why."""
    skip_gpu = None if _cuda_available() else pytest.mark.skip(reason='needs CUDA')
    skip_ros = None if _has_module('rclpy') else pytest.mark.skip(
        reason='needs rclpy (scripts/setup_env.sh installs the ROS 2 wheels)')
    for item in items:
        if skip_gpu is not None and item.get_closest_marker('gpu') is not None:
            item.add_marker(skip_gpu)
        if skip_ros is not None and item.get_closest_marker('ros') is not None:
            item.add_marker(skip_ros)


@pytest.fixture(scope='session', autouse=True)
def torch_seed_session():
    """Seed torch's global generator once, for the session (fixtures made before any test)."""
    if _has_module('torch'):
        import torch
        torch.manual_seed(0)


@pytest.fixture(autouse=True)
def seed_each_test(torch_seed_session):
    """Reseed torch, numpy's and Python's global generators so no test depends on the order."""
    random.seed(0)
    if _has_module('numpy'):
        import numpy
        numpy.random.seed(0)
    if _has_module('torch'):
        import torch
        torch.manual_seed(0)


@pytest.fixture(scope='session')
def ycbv():
    """Return the YCB-Video sample folder (``../shared/data/ycbv``), or skip when absent."""
    if not YCBV_DIR.is_dir():
        pytest.skip('YCB-Video sample data not found at %s (it lives in shared/data/ycbv next '
                    'to the checkout; set POSE_TRACKER_YCBV to point elsewhere)' % YCBV_DIR)
    return YCBV_DIR


# ---------------------------------------------------------------- node tests (one home for both)
@pytest.fixture(scope="module")
def context():
    """Return an rclpy context of its own for a test module (shut down after it)."""
    rclpy = pytest.importorskip("rclpy", reason="needs rclpy (make env installs the ROS 2 wheels)")
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.try_shutdown(context=ctx)


@pytest.fixture
def harness(context):
    """Return a factory of `test_node.Harness` objects (node + peer), all closed after the test."""
    from test_node import Harness

    made = []

    def make(**kw):
        h = Harness(context, **kw)
        made.append(h)
        return h
    yield make
    for h in made:
        h.close()
