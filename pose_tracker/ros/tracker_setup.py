# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
How the node gets its tracker: `TrackerSetup`, and the default factory of the real one.

The node calls a factory once in its constructor (`factory(params) -> TrackerSetup`); it loads
and checks everything that can be wrong (mesh, weights, device) and raises PoseTrackerError.
The tracker itself is built on the first valid camera_info. Tests pass a factory of fakes.
"""

from dataclasses import dataclass
import os
from typing import Any, Callable, Optional, Tuple

import numpy as np

from pose_tracker.model_loading import load_model, LoadHints
from pose_tracker.ros.markers import DisplayMesh
from pose_tracker.ros.node_parameters import TrackerParams

#: The node's words for its inputs in the loading errors (ROS parameters).
ROS_LOAD_HINTS = LoadHints(
    empty_mesh="the mesh_path parameter is empty: give the object's mesh file "
               "(e.g. --ros-args -p mesh_path:=/path/to/object.obj)",
    mesh_source=" (mesh_path parameter)",
    mesh_scale="for this node set the mesh_scale parameter: --ros-args -p mesh_scale:={scale:g}",
    weights="set weights_path")


@dataclass
class TrackerSetup:
    """
    What a tracker factory returns: how to build the tracker, and the mesh to display.

    Attributes:
        build: `build(K, (H, W)) -> tracker`, called on the first valid camera_info. The
            tracker implements the `pose_tracker.tracker.Tracker` API: `staging.rgb` (H,W,3)
            uint8, `staging.depth` (H,W) float32 m, `reset(pose)`, `track_staged() -> result`
            with `pose` (4,4), `quality` float, `ms` float, and `set_camera(K, (H, W))`.
        mesh: the object's geometry in the original mesh frame, metres, for the marker, the
            overlay and the jump check; None disables those.
    """

    build: Callable[[np.ndarray, Tuple[int, int]], Any]
    mesh: Optional[DisplayMesh] = None


#: `factory(params) -> TrackerSetup`; called once in the node's constructor. It should load and
#: check everything that can be wrong (mesh, weights, device) and raise PoseTrackerError.
TrackerFactory = Callable[[TrackerParams], TrackerSetup]


def default_tracker_factory(params: TrackerParams, logger=None) -> TrackerSetup:
    """
    Load the mesh and the weights now; build `pose_tracker.tracker.Tracker` lazily.

    Args:
        params: the node's parameters (mesh, weights, device, refinement settings).
        logger: an rclpy logger, when given, receives progress lines (what is loaded, how long
            it took) and the mesh's warnings (implausible size).

    Returns:
        The `TrackerSetup`.

    Raises:
        MeshError: mesh_path empty, missing, unreadable or not in metres.
        WeightsError: weights missing, corrupt or of an unknown architecture.
        PoseTrackerError: the device cannot be used.
    """
    model = load_model(params.mesh_path, params.weights_path, params.device,
                       mesh_scale=params.mesh_scale, hints=ROS_LOAD_HINTS,
                       log=None if logger is None else logger.info,
                       warn=None if logger is None else logger.warning)
    # The display mesh is the tracker's, back in the original file frame (the frame of the
    # published poses): one load, and the marker matches what is tracked.
    display = DisplayMesh(model.display_vertices(), np.asarray(model.mesh.faces),
                          os.path.abspath(params.mesh_path),
                          params.mesh_scale if params.mesh_scale > 0 else 1.0,
                          float(model.mesh.diameter))

    def build(K: np.ndarray, image_size: Tuple[int, int]):
        from pose_tracker.tracker import Tracker

        return Tracker(model.mesh, K, image_size, weights=model.network, device=model.device,
                       network_iterations=params.network_iterations,
                       icp_iterations=params.icp_iterations,
                       icp_gates=(params.icp_gate_start, params.icp_gate_end),
                       use_cuda_graph=params.use_cuda_graph,
                       compile=params.compile)

    return TrackerSetup(build=build, mesh=display)
