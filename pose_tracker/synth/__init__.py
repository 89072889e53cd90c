# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Procedural objects, scenes and sensor noise for training and synthetic sequences."""
