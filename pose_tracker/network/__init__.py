# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""The RefineNet pose refiner and its checkpoints."""
