# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Readers of RGB-D sequences on disk."""
