# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Point the ROS wheels' exported CMake include dirs at this venv's Python and numpy.

The PyPI ROS message wheels export ``<pkg>__rosidl_generator_py`` CMake targets whose
``INTERFACE_INCLUDE_DIRECTORIES`` name the interpreter the wheels were built with (for example
``/opt/python/cp311-cp311/include/python3.11`` and that interpreter's numpy include dir).
Those paths do not exist here, so building any message package that depends on them fails at
configure time. This rewrites them, in ``<venv>/share/*/cmake/*.cmake``, to the running
interpreter's include dir and ``numpy.get_include()``.

Run it with the venv's own Python: ``<venv>/bin/python fix_rosidl_cmake.py <venv>``.
Idempotent: paths that already exist are left alone.
"""

import glob
import os
import re
import sys
import sysconfig

import numpy

# A Python include dir (".../include/python3.N", optionally with an ABI suffix such as "t").
_PY_INCLUDE = re.compile(r'[^;"\s]*/include/python3\.\d+[a-z]*')
# numpy's C headers: ".../numpy/_core/include" (numpy 2) or ".../numpy/core/include" (numpy 1).
_NP_INCLUDE = re.compile(r'[^;"\s]*/numpy/_?core/include')


def rewrite(text, py_include, np_include):
    """Return ``text`` with missing Python/numpy include dirs replaced by the given ones."""
    def sub_missing(pattern, replacement, s):
        def repl(match):
            path = match.group(0)
            # Leave paths that resolve on this machine (a system ROS, or an earlier run).
            return path if os.path.isdir(path) else replacement
        return pattern.sub(repl, s)

    text = sub_missing(_PY_INCLUDE, py_include, text)
    return sub_missing(_NP_INCLUDE, np_include, text)


def main(argv):
    """Rewrite every ``<venv>/share/*/cmake/*.cmake``; print how many files changed."""
    if len(argv) != 2:
        sys.stderr.write('usage: fix_rosidl_cmake.py <venv>\n')
        return 2
    prefix = argv[1]
    py_include = sysconfig.get_paths()['include']
    np_include = numpy.get_include()
    if not os.path.isfile(os.path.join(py_include, 'Python.h')):
        sys.stderr.write(
            'fix_rosidl_cmake: no Python.h in %s; install the Python development headers '
            '(Debian: python3-dev) and run scripts/setup_env.sh again.\n' % py_include)
        return 1
    changed = 0
    for path in sorted(glob.glob(os.path.join(prefix, 'share', '*', 'cmake', '*.cmake'))):
        with open(path, encoding='utf-8') as f:
            old = f.read()
        new = rewrite(old, py_include, np_include)
        if new != old:
            with open(path, 'w', encoding='utf-8') as f:
                f.write(new)
            changed += 1
    print('fix_rosidl_cmake: rewrote include dirs in %d file(s) -> %s, %s'
          % (changed, py_include, np_include))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
