# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Camera and pose geometry (tensor in, tensor out)."""
