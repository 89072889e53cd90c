# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Rasterization, interpolation and texturing ops and the mesh renderer."""
