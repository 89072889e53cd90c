# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Parameters of the pose tracker node: one table with defaults, descriptions and limits.

`TrackerParams` is the single source of truth: each of its fields is one parameter, with its
default, description, read-only flag and limits (`param`). `PARAMETERS` lists them; the node
declares from it (`declare`), config/tracker.yaml mirrors the defaults (a test checks that), and
the README lists them. Read-only parameters are those that would need the tracker, the mesh or
the subscriptions rebuilt.
"""

from dataclasses import dataclass, field, fields
from typing import Any, Optional, Tuple

#: Largest median depth, metres, a frame may have before it is taken for a units error.
MAX_PLAUSIBLE_MEDIAN_DEPTH = 20.0
#: Smallest median depth, metres, a frame may have before it is taken for a units error.
MIN_PLAUSIBLE_MEDIAN_DEPTH = 0.02

DEVICES = ("auto", "cpu", "cuda")
RECTIFIED_MODES = ("auto", "true", "false")
COMPILE_MODES = ("none", "network", "step")


@dataclass(frozen=True)
class ParamSpec:
    """
    One declared parameter.

    Attributes:
        name: parameter name.
        default: default value; its Python type fixes the ROS type. None = a double array
            without a default (left unset).
        description: what it does, units.
        read_only: True when it cannot change after start-up.
        limits: (min, max) inclusive for numbers, None for no limit.

    """

    name: str
    default: Any
    description: str
    read_only: bool = True
    limits: Optional[Tuple[float, float]] = None


def param(default: Any, description: str, read_only: bool = True,
          limits: Optional[Tuple[float, float]] = None):
    """
    Declare one parameter as a field of `TrackerParams` (see `ParamSpec` for the arguments).

    Returns:
        A dataclass field with that default, the rest in its metadata.
    """
    return field(default=default, metadata={"description": description,
                                            "read_only": read_only, "limits": limits})


@dataclass
class TrackerParams:
    """
    Values of the node's parameters: the one table of names, defaults and descriptions.

    Each field is one ROS parameter of the same name; its metadata (`param`) holds the
    description, whether it is read-only and its limits. `PARAMETERS` lists them as
    `ParamSpec`s; config/tracker.yaml mirrors the defaults (a test checks that).
    """

    mesh_path: str = param(
        "", "Path of the object's CAD mesh (.obj/.ply/.stl/...), required.")
    mesh_scale: float = param(
        0.0,
        "Factor from mesh units to metres; 0 = the mesh is in metres (a mesh wider than "
        "3 m is refused with the scale that fits: 0.001 millimetres, 0.01 centimetres, "
        "0.0254 inches; an object under 2 cm or over 1.5 m is loaded with a warning).",
        limits=(0.0, 1000.0))
    weights_path: str = param(
        "",
        "Refiner checkpoint; empty = the shipped pose_tracker/weights/refiner_small.pt.")
    network_iterations: int = param(
        2,
        "RefineNet iterations per frame (0 = no network: depth refinement only).",
        limits=(0, 16))
    icp_iterations: int = param(
        2,
        "Depth refinement (point-to-plane ICP) iterations per frame after the network "
        "ones (0 = plain FoundationPose refinement).", limits=(0, 16))
    icp_gate_start: float = param(
        0.03,
        "Distance gate of the first depth refinement iteration, metres (observed points "
        "farther from the rendered surface are ignored).", limits=(0.001, 1.0))
    icp_gate_end: float = param(
        0.01,
        "Distance gate of the last depth refinement iteration, metres; the gates shrink "
        "geometrically from icp_gate_start (must not exceed it).", limits=(0.001, 1.0))
    device: str = param(
        "auto", "Torch device: auto (CUDA when available), cpu or cuda.")
    use_cuda_graph: bool = param(
        True, "Capture the per-frame step in one CUDA graph (CUDA only).")
    compile: str = param(
        "step",
        "torch.compile before the capture (CUDA only; ignored on CPU): step (the whole "
        "per-frame step, the fastest), network, or none. The compile is cached on disk "
        "(~/.cache/pose_tracker/inductor, or $POSE_TRACKER_COMPILE_CACHE), so only the "
        "first start on a machine pays the full compile at the first camera_info.")
    object_frame: str = param(
        "object", "TF child frame id of the tracked object.")
    publish_tf: bool = param(
        True, "Broadcast image frame -> object_frame on /tf.",
        read_only=False)
    publish_marker: bool = param(
        True,
        "Publish the mesh as a latched visualization_msgs/Marker on ~/marker.")
    publish_overlay: bool = param(
        False,
        "Publish ~/overlay: the RGB image with the projected mesh drawn on it (debug).",
        read_only=False)
    sync_slop: float = param(
        0.02,
        "Largest stamp difference between matched RGB and depth images, seconds.",
        limits=(0.0, 1.0))
    sync_queue_size: int = param(
        5, "Messages kept per topic while waiting for a match.",
        limits=(1, 100))
    accept_frame_id_mismatch: bool = param(
        False,
        "Track RGB and depth images whose header.frame_id differ. False (default): such "
        "pairs are skipped, since depth in another frame is not registered to the colour "
        "image (use the driver's aligned_depth_to_color topic); set true only when the "
        "depth is registered but named differently.", read_only=False)
    image_rectified: str = param(
        "auto",
        "Whether the colour image is rectified, which picks the intrinsics: true = the "
        "left 3x3 of camera_info P (REP 104), false = K; auto = true when the remapped "
        "image topic name contains image_rect.")
    drop_stale_frames: bool = param(
        True,
        "When frames arrive faster than they are tracked, track the newest synchronised "
        "pair and drop the older queued ones (counted as skipped.stale); false tracks "
        "every pair in order, falling behind under load.", read_only=False)
    initial_pose: Optional[Tuple[float, ...]] = param(
        None,
        "Initial object pose [x, y, z, qx, qy, qz, qw] in the camera frame (metres, "
        "quaternion x,y,z,w), object -> camera; write every number as a float (0.0, not 0). "
        "Unset = wait for ~/initial_pose. Setting it at run time re-initialises "
        "tracking.", read_only=False)
    auto_register: bool = param(
        True,
        "Register the object from a segmentation mask on ~/mask (sensor_msgs/Image mono8, "
        "the RGB's size, non-zero = object, stamped like the frame) whenever there is no "
        "pose yet or the object is LOST; the registered pose is published only if its "
        "depth support reaches quality_threshold. The ~/register service (std_srvs/"
        "Trigger) registers on the next frame with a mask whatever this is.",
        read_only=False)
    quality_threshold: float = param(
        0.3,
        "Tracking quality (share of the rendered object supported by the depth, 0..1) "
        "below which a frame counts as bad.", read_only=False, limits=(0.0, 1.0))
    lost_after_frames: int = param(
        10,
        "Consecutive bad frames after which the object is declared LOST.",
        read_only=False, limits=(1, 10000))
    max_jump: float = param(
        0.5,
        "Largest translation between two published poses, in mesh diameters; a larger "
        "jump means LOST.", read_only=False, limits=(0.0, 100.0))
    input_timeout: float = param(
        1.0,
        "Seconds without a synchronised RGB-D frame after which the input counts as "
        "stalled (camera stopped, wrong topics): /diagnostics warns and one line is "
        "logged per stall; tracking resumes with the next frames.", read_only=False,
        limits=(0.1, 3600.0))


#: Every parameter, in declaration order (derived from `TrackerParams`).
PARAMETERS = tuple(ParamSpec(f.name, f.default, **f.metadata) for f in fields(TrackerParams))

PARAMETERS_BY_NAME = {p.name: p for p in PARAMETERS}


def validate(name: str, value: Any) -> Optional[str]:
    """Check one parameter value; returns the reason it is invalid, or None when valid."""
    spec = PARAMETERS_BY_NAME.get(name)
    if spec is None:
        return None
    if name == "device" and value not in DEVICES:
        return f"device must be one of {', '.join(DEVICES)}, got '{value}'"
    if name == "compile" and value not in COMPILE_MODES:
        return f"compile must be one of {', '.join(COMPILE_MODES)}, got '{value}'"
    if name == "image_rectified" and value not in RECTIFIED_MODES:
        return f"image_rectified must be one of {', '.join(RECTIFIED_MODES)}, got '{value}'"
    if name == "object_frame" and not str(value).strip():
        return "object_frame must not be empty"
    if name == "initial_pose" and value is not None:
        from pose_tracker.ros.conversions import pose_from_list
        try:
            pose_from_list(value)
        except ValueError as e:
            return str(e)
    if spec.limits is not None and value is not None:
        lo, hi = spec.limits
        if not lo <= value <= hi:
            return f"{name} must be in [{lo}, {hi}], got {value}"
    return None


def declare(node) -> TrackerParams:
    """
    Declare every parameter on an rclpy node and return their values.

    Raises:
        ValueError: a value is invalid (the message says which and why).

    """
    from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor)
    from rclpy.parameter import Parameter

    values = {}
    for spec in PARAMETERS:
        desc = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
        if spec.limits is not None and isinstance(spec.default, float):
            desc.floating_point_range = [FloatingPointRange(
                from_value=float(spec.limits[0]), to_value=float(spec.limits[1]))]
        elif spec.limits is not None and isinstance(spec.default, int) and not isinstance(
                spec.default, bool):
            desc.integer_range = [IntegerRange(
                from_value=int(spec.limits[0]), to_value=int(spec.limits[1]), step=1)]
        default = Parameter.Type.DOUBLE_ARRAY if spec.default is None else spec.default
        param = node.declare_parameter(spec.name, default, desc)
        value = param.value
        if spec.name == "initial_pose":
            value = tuple(float(v) for v in value) if value is not None and len(value) else None
        reason = validate(spec.name, value)
        if reason is not None:
            raise ValueError(f"parameter {reason}")
        values[spec.name] = value
    if values["icp_gate_end"] > values["icp_gate_start"]:
        raise ValueError(f"parameter icp_gate_end ({values['icp_gate_end']}) must not exceed "
                         f"icp_gate_start ({values['icp_gate_start']}): the gates shrink")
    return TrackerParams(**values)
