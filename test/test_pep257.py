# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Docstring style (PEP 257) with ament_pep257's default convention."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# ament_pep257's "ament" convention: missing docstrings are allowed, and every other pydocstyle
# check is on. Notably D213 (D212 off): a multi-line docstring's summary starts on its second
# line, right after the opening quotes' line.
AMENT_IGNORE = 'D100,D101,D102,D103,D104,D105,D106,D107,D203,D212,D404'
# Codes ignored on top of that, for both paths: our sections are Google style ("Args:", "Returns:",
# as in kornia), which pydocstyle's numpy-style checks would flag for the missing dashed underline
# (D406/D407) and the blank line after the last section (D413). Everything else stays on, and
# test_google_style_sections below keeps numpy-style sections out.
ADD_IGNORE = ['D406', 'D407', 'D413']
# A numpy-style section header: a known section name alone on a line, then a dashed underline.
NUMPY_SECTION = re.compile(
    r'^[ \t]*(Parameters|Other Parameters|Attributes|Returns|Yields|Raises|Warns|Notes|Examples)'
    r'[ \t]*\n[ \t]*-{3,}[ \t]*$', re.MULTILINE)


def _targets():
    names = ('pose_tracker', 'test', 'launch', 'scripts', 'setup.py')
    return [str(ROOT / name) for name in names if (ROOT / name).exists()]


def _run_pydocstyle():
    # Same file selection as ament_pep257: every .py file (tests too), no hidden/_ folders.
    proc = subprocess.run(
        [sys.executable, '-m', 'pydocstyle', '--ignore=' + ','.join([AMENT_IGNORE] + ADD_IGNORE),
         r'--match=.*\.py', r'--match-dir=[^\._].*'] + _targets(),
        cwd=ROOT, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.linter
def test_pep257():
    """No pep257 findings (ament_pep257 in a ROS install, pydocstyle elsewhere)."""
    try:
        from ament_pep257.main import main
    except ImportError:
        main = None
    if main is None:
        rc, report = _run_pydocstyle()
        assert rc == 0, 'pydocstyle found problems:\n%s' % report
    else:
        # ament_pep257 prints each finding itself; pytest shows that output on failure.
        argv = _targets() + (['--add-ignore'] + ADD_IGNORE if ADD_IGNORE else [])
        assert main(argv=argv) == 0, 'ament_pep257 found problems (see output above)'


@pytest.mark.linter
def test_google_style_sections():
    """Docstring sections are Google style ("Args:"), never numpy style (a dashed underline)."""
    found = []
    for target in _targets():
        path = pathlib.Path(target)
        files = [path] if path.is_file() else sorted(path.rglob('*.py'))
        for f in files:
            text = f.read_text(encoding='utf-8')
            for m in NUMPY_SECTION.finditer(text):
                line = text.count('\n', 0, m.start()) + 1
                found.append('%s:%d: %s' % (f.relative_to(ROOT), line, m.group(1)))
    assert not found, 'numpy-style docstring sections (use "Name:" instead):\n' + '\n'.join(found)
