# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Load what a tracker needs (mesh, refiner weights, device) with one set of error messages.

Shared by the ROS node and the command-line tools: each says how its user names the inputs
(`LoadHints`: a ROS parameter, a command-line flag), the messages are otherwise the same.
Every failure is a `pose_tracker.errors.PoseTrackerError` whose message says what to fix:

* `MeshError`: no mesh path, a missing, unreadable or empty file (`MeshUnitsError`: not in
  metres, with the scale that fits);
* `WeightsError`: weights missing, corrupt or of an unknown architecture;
* `PoseTrackerError`: the device cannot be used.

torch is imported only when weights or a device are loaded, so importing this module is cheap.
"""

from dataclasses import dataclass
import os
import time
from typing import Callable, Optional
import warnings

import numpy as np

from pose_tracker.errors import MeshError, MeshUnitsError, PoseTrackerError, WeightsError


@dataclass(frozen=True)
class LoadHints:
    """
    How the user gives the inputs, for the error messages (each may be empty).

    Attributes:
        empty_mesh: the whole message when no mesh path is given.
        mesh_source: appended to "mesh file not found: '<path>'", e.g. " (mesh_path
            parameter)".
        mesh_scale: appended to a mesh-units error after " -- "; "{scale:g}" is replaced by
            the suggested scale (0.001 when there is none); empty = the error as it is.
        weights: how to give other weights, said when the shipped ones are missing.
    """

    empty_mesh: str = "no mesh file given: give the object's mesh file"
    mesh_source: str = ""
    mesh_scale: str = ""
    weights: str = "give a weights file"


@dataclass
class LoadedModel:
    """
    A loaded mesh and refiner, and the device to track on.

    Attributes:
        mesh: `pose_tracker.mesh.Mesh` in metres, centred (see `load_mesh`).
        network: the `pose_tracker.network.refinenet.RefineNet` refiner (on the CPU).
        device: the resolved torch device, e.g. "cpu" or "cuda".
        mesh_path: the mesh file.
        weights_path: the weights file (the shipped one when none was given).
    """

    mesh: object
    network: object
    device: str
    mesh_path: str
    weights_path: str

    def display_vertices(self) -> np.ndarray:
        """(N,3) float64 mesh vertices back in the mesh file's frame, metres."""
        return np.asarray(self.mesh.vertices, np.float64) + np.asarray(self.mesh.center)


def load_object_mesh(path: str, scale: float = 0.0, hints: LoadHints = LoadHints(),
                     warn: Optional[Callable[[str], None]] = None):
    """
    Load the object's mesh for tracking (`pose_tracker.mesh.load_mesh`), checked.

    Args:
        path: mesh file (.obj/.ply/.stl/...).
        scale: factor from file units to metres; 0 = the file is in metres (a mesh that is
            clearly not is refused with the scale that fits).
        hints: how the user gives the path and the scale.
        warn: receives the loader's warnings (implausible size) as text; None = they are
            issued as Python warnings.

    Returns:
        The `pose_tracker.mesh.Mesh`, metres.

    Raises:
        MeshError: no path, a missing, unreadable or empty file.
        MeshUnitsError: the mesh is not in metres and no scale was given.
    """
    from pose_tracker.mesh import load_mesh

    if not path:
        raise MeshError(hints.empty_mesh)
    if not os.path.isfile(path):
        raise MeshError(f"mesh file not found: '{path}'{hints.mesh_source}")
    try:
        with warnings.catch_warnings(record=warn is not None) as caught:
            if warn is not None:
                warnings.simplefilter("always")
            mesh = load_mesh(path) if scale == 0.0 else load_mesh(path, scale)
    except MeshUnitsError as e:
        if not hints.mesh_scale:
            raise
        suggested = getattr(e, "suggested_scale", None)
        raise MeshUnitsError(
            f"{e} -- " + hints.mesh_scale.format(scale=suggested if suggested else 0.001)) from e
    except PoseTrackerError:
        raise
    except Exception as e:
        raise MeshError(f"cannot load mesh '{path}': {e}") from e
    for w in caught or ():
        if issubclass(w.category, UserWarning):
            warn(str(w.message))
    return mesh


def weights_file(path: Optional[str] = None) -> str:
    """Return the refiner weights file: `path`, or the shipped one when it is None or empty."""
    if path:
        return str(path)
    from pose_tracker.tracker import DEFAULT_WEIGHTS

    return str(DEFAULT_WEIGHTS)


def load_refiner_weights(path: Optional[str] = None, hints: LoadHints = LoadHints()):
    """
    Load the refiner network (on the CPU) from a checkpoint, checked.

    Args:
        path: checkpoint file; None or empty = the shipped weights.
        hints: how the user gives other weights.

    Returns:
        The `pose_tracker.network.refinenet.RefineNet`.

    Raises:
        WeightsError: the file is missing, corrupt or of an unknown architecture.
    """
    from pose_tracker.network.checkpoint import load_refiner

    weights_path = weights_file(path)
    if not os.path.isfile(weights_path):
        raise WeightsError(
            f"refiner weights not found: '{weights_path}'" + (
                "" if path else
                f" (the shipped weights are missing from this install; {hints.weights})"))
    try:
        return load_refiner(weights_path)
    except PoseTrackerError:
        raise
    except Exception as e:
        raise WeightsError(f"cannot load refiner weights '{weights_path}': {e}") from e


def resolve_device_name(device: str = "auto") -> str:
    """
    Resolve the torch device to track on.

    Args:
        device: "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".

    Returns:
        The device's name, e.g. "cpu" or "cuda".

    Raises:
        PoseTrackerError: the device cannot be used (e.g. CUDA asked for, none there).
    """
    from pose_tracker.tracker import resolve_device

    try:
        return str(resolve_device(device))
    except RuntimeError as e:
        raise PoseTrackerError(str(e)) from e


def load_model(mesh_path: str, weights_path: Optional[str] = None, device: str = "auto",
               mesh_scale: float = 0.0, hints: LoadHints = LoadHints(),
               log: Optional[Callable[[str], None]] = None,
               warn: Optional[Callable[[str], None]] = None) -> LoadedModel:
    """
    Load the mesh and the weights and resolve the device, saying what takes how long.

    Args:
        mesh_path, mesh_scale: see `load_object_mesh`.
        weights_path: see `load_refiner_weights` (None or empty: the shipped weights).
        device: see `resolve_device_name`.
        hints: how the user gives these inputs.
        log: receives progress lines (what is loaded, how long it took).
        warn: receives the mesh's warnings (implausible size).

    Returns:
        The `LoadedModel`.

    Raises:
        MeshError, WeightsError, PoseTrackerError: see the module docstring.
    """
    def say(text: str) -> None:
        if log is not None:
            log(text)

    if not mesh_path:
        raise MeshError(hints.empty_mesh)
    if not os.path.isfile(mesh_path):
        raise MeshError(f"mesh file not found: '{mesh_path}'{hints.mesh_source}")
    t0 = time.monotonic()
    say("importing torch and the tracker ...")
    import pose_tracker.tracker  # noqa: F401 (torch is heavy: its import time is reported)

    say(f"imported in {time.monotonic() - t0:.1f} s; loading mesh '{mesh_path}' ...")
    t0 = time.monotonic()
    mesh = load_object_mesh(mesh_path, mesh_scale, hints, warn=warn or (lambda text: None))
    say(f"mesh loaded in {time.monotonic() - t0:.1f} s: {mesh.num_faces} faces, diameter "
        f"{mesh.diameter:.3f} m")
    path = weights_file(weights_path)
    t0 = time.monotonic()
    say(f"loading refiner weights '{path}' ...")
    network = load_refiner_weights(weights_path, hints)
    device_name = resolve_device_name(device)
    say(f"weights loaded in {time.monotonic() - t0:.1f} s; device {device_name}")
    return LoadedModel(mesh=mesh, network=network, device=device_name, mesh_path=mesh_path,
                       weights_path=path)
