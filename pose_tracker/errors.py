# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Exceptions raised by the core library, each with a message meant for the user."""


class PoseTrackerError(Exception):
    """Base class of every error the core library raises on bad input."""


class MeshError(PoseTrackerError):
    """A mesh file is missing, unreadable, empty or otherwise unusable."""


class MeshUnitsError(MeshError):
    """A mesh looks like it is not in metres (e.g. millimetres) and no scale was given."""


class WeightsError(PoseTrackerError):
    """A refiner checkpoint is missing, corrupt or of an unknown architecture."""


class FrameError(PoseTrackerError):
    """An input frame (image, depth, intrinsics) cannot be used."""
