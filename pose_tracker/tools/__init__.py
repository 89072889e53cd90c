# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Command-line tools built on the core library: bench, eval, soak, train (no ROS import)."""
