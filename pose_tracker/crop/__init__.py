# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Crop windows, depth filtering, warps and network input normalisation."""
