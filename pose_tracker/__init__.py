# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Real-time 6-DoF tracking of a known object in RGB-D, FoundationPose-style."""

__version__ = "0.1.0"
