# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Command alias: ``python -m pose_tracker.bench`` runs :mod:`pose_tracker.tools.bench`.

The tool moved to ``pose_tracker/tools/`` (the library is kept apart from its command-line
tools); this alias keeps the documented command and existing scripts working. Import from
``pose_tracker.tools.bench``, not from here.
"""

if __name__ == "__main__":
    import runpy

    runpy.run_module("pose_tracker.tools.bench", run_name="__main__", alter_sys=True)
