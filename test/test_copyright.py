# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Every Python file starts with the project's one-line copyright and license header.

ament_copyright is not used even where it is installed: it looks for the full Apache-2.0
boilerplate and would reject the project's one-line header.
"""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEADER = '# Copyright 2026 The pose_tracker Authors. Apache-2.0.'
FOLDERS = ('pose_tracker', 'launch', 'scripts', 'test')


def python_files():
    """Return the repository's own .py files (setup.py and FOLDERS, no hidden or cache dirs)."""
    found = [ROOT / 'setup.py'] if (ROOT / 'setup.py').is_file() else []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob('*.py')):
            parts = path.relative_to(ROOT).parts
            if not any(p.startswith('.') or p == '__pycache__' for p in parts):
                found.append(path)
    return found


def header_problem(path, root=ROOT):
    """Return why ``path`` lacks the header (``None`` when it has it or is empty)."""
    lines = path.read_text(encoding='utf-8', errors='replace').splitlines()
    if not lines:
        return None
    if lines[0].startswith('#!'):
        # Executable scripts: the header comes right after the shebang.
        lines = lines[1:]
    first = lines[0] if lines else ''
    if first.rstrip() == HEADER:
        return None
    return '%s:1: expected %r, found %r' % (path.relative_to(root), HEADER, first[:80])


@pytest.mark.linter
def test_copyright():
    """All Python files carry the header on their first line."""
    files = python_files()
    assert files, 'no Python files found under %s' % ROOT
    problems = [p for p in (header_problem(f) for f in files) if p]
    assert not problems, '%d file(s) without the header:\n%s' % (
        len(problems), '\n'.join(problems))


@pytest.mark.linter
def test_header_check_catches_a_missing_header(tmp_path):
    """The check itself rejects a file whose first line is not the header."""
    good = tmp_path / 'good.py'
    good.write_text('#!/usr/bin/env python3\n%s\n"""Doc."""\n' % HEADER)
    bad = tmp_path / 'bad.py'
    bad.write_text('# Copyright 2017 Someone Else\n')
    empty = tmp_path / 'empty.py'
    empty.write_text('')
    assert header_problem(good, tmp_path) is None
    assert header_problem(empty, tmp_path) is None
    assert 'Someone Else' in header_problem(bad, tmp_path)
