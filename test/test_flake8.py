# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""flake8 over the package's Python code, with the settings in setup.cfg (line length 99)."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'setup.cfg'


def _targets():
    names = ('pose_tracker', 'test', 'launch', 'scripts', 'setup.py')
    return [name for name in names if (ROOT / name).exists()]


def _run_ament_flake8(main_with_errors):
    # ament_flake8 walks the working directory for AMENT_IGNORE files: run it from the root.
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return main_with_errors(argv=['--config', str(CONFIG)] + _targets())
    finally:
        os.chdir(cwd)


def _run_flake8():
    proc = subprocess.run(
        [sys.executable, '-m', 'flake8', '--config', str(CONFIG)] + _targets(),
        cwd=ROOT, capture_output=True, text=True, check=False)
    errors = proc.stdout.splitlines() + proc.stderr.splitlines()
    return proc.returncode, errors


@pytest.mark.linter
def test_flake8():
    """No flake8 findings (ament_flake8 in a ROS install, plain flake8 elsewhere)."""
    try:
        from ament_flake8.main import main_with_errors
    except ImportError:
        rc, errors = _run_flake8()
    else:
        rc, errors = _run_ament_flake8(main_with_errors)
    assert rc == 0, 'flake8 found %d problem(s):\n%s' % (len(errors), '\n'.join(errors))
