# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
ROS message <-> numpy conversions, without cv_bridge and without extra copies.

Image functions write a `sensor_msgs/Image` straight into the tracker's staging buffers through
a strided numpy view of `msg.data` (zero-copy for rclpy's `array.array` and rosbags' ndarray),
honouring `step` (row padding) and `is_bigendian`. They only read the attributes `height`,
`width`, `encoding`, `is_bigendian`, `step`, `data` (and `k` of a CameraInfo), so they also accept
rosbags messages or any look-alike. Pose helpers import geometry_msgs lazily.

Every problem with an input raises a subclass of `pose_tracker.errors.FrameError` whose `kind`
names the problem for diagnostics counters; nothing else is raised for bad messages.
"""

from typing import Tuple

import numpy as np
from scipy.spatial.transform import Rotation

from pose_tracker.errors import FrameError
from pose_tracker.geometry.depth_units import depth_mm_to_m
from pose_tracker.geometry.pinhole import validate_intrinsics

#: Colour encodings: bytes per pixel and, per output RGB channel, the source channel index.
COLOR_ENCODINGS = {
    "rgb8": (3, (0, 1, 2)),
    "bgr8": (3, (2, 1, 0)),
    "rgba8": (4, (0, 1, 2)),
    "bgra8": (4, (2, 1, 0)),
    "mono8": (1, (0, 0, 0)),
}
#: Depth encodings (REP 118): bytes per pixel. mono16 is read as 16UC1 (uint16 millimetres):
#: many drivers publish depth with that encoding.
DEPTH_ENCODINGS = {"16UC1": 2, "mono16": 2, "32FC1": 4}


class UnsupportedEncodingError(FrameError):
    """An image encoding the tracker cannot read."""

    kind = "encoding"


class ImageSizeError(FrameError):
    """RGB, depth, camera_info and the tracker's buffers disagree on the image size."""

    kind = "size_mismatch"


class ImageLayoutError(FrameError):
    """`step` or the length of `data` is inconsistent with the image size."""

    kind = "layout"


class CameraInfoError(FrameError):
    """A CameraInfo without usable intrinsics (e.g. uncalibrated, K all zero)."""

    kind = "camera_info"


class PoseMessageError(FrameError):
    """A pose message that is not a rigid transform (NaN, zero quaternion)."""

    kind = "pose"


class DepthContentError(FrameError):
    """A depth image whose content is unusable: no valid pixel, or implausible units."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def _as_bytes(data) -> np.ndarray:
    """Flat uint8 view of a message's `data` (array.array, bytes, ndarray, memoryview)."""
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError, BufferError):
        # Lists (hand-made messages) or non-contiguous arrays: one copy, still correct.
        return np.ascontiguousarray(np.asarray(data), dtype=np.uint8).reshape(-1)


def image_view(msg, bytes_per_pixel: int, dtype: np.dtype) -> np.ndarray:
    """
    Zero-copy strided view of an image message's pixels.

    Args:
        msg: a sensor_msgs/Image (or look-alike) with `height`, `width`, `step`, `data`.
        bytes_per_pixel: size of one pixel, bytes.
        dtype: element type with the message's byte order; `bytes_per_pixel` must be a multiple
            of its size.

    Returns:
        (H, W, C) array, C = bytes_per_pixel / dtype.itemsize, a read-only view of `msg.data`.

    Raises:
        ImageLayoutError: `step` shorter than a row, or `data` shorter than the image.

    """
    dtype = np.dtype(dtype)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    channels = bytes_per_pixel // dtype.itemsize
    row = w * bytes_per_pixel
    if h < 0 or w < 0:
        raise ImageLayoutError(f"image size {w}x{h} is negative")
    if step < row:
        raise ImageLayoutError(
            f"{msg.encoding} image step {step} is shorter than one row of {w} pixels "
            f"({row} bytes): the publisher filled sensor_msgs/Image incorrectly")
    buf = _as_bytes(msg.data)
    need = (h - 1) * step + row if h > 0 and w > 0 else 0
    if buf.size < need:
        raise ImageLayoutError(
            f"{msg.encoding} image {w}x{h} with step {step} needs at least {need} bytes of data, "
            f"got {buf.size}: truncated message")
    if need == 0:
        return np.zeros((h, w, channels), dtype=dtype)
    # `buf` has the right length; numpy handles unaligned and odd strides (slower, still right).
    return np.ndarray((h, w, channels), dtype=dtype, buffer=buf,
                      strides=(step, bytes_per_pixel, dtype.itemsize))


def _check_size(what: str, msg, out_shape: Tuple[int, ...]) -> None:
    """Raise ImageSizeError unless the message is out_shape[0] x out_shape[1] pixels."""
    h, w = int(msg.height), int(msg.width)
    if (h, w) != tuple(out_shape[:2]):
        raise ImageSizeError(
            f"{what} image is {w}x{h} but the tracker is set up for {out_shape[1]}x{out_shape[0]} "
            "(from camera_info): the image, depth and camera_info topics must come from the same "
            "camera stream and depth must be registered to the colour camera "
            "(e.g. aligned_depth_to_color)")


def rgb_into(out: np.ndarray, msg) -> None:
    """
    Write a colour or mono image message into an RGB buffer, in place.

    Args:
        out: (H,W,3) uint8 destination (the tracker's `staging.rgb`).
        msg: sensor_msgs/Image, encoding rgb8, bgr8, rgba8, bgra8 or mono8 (mono8 is repeated
            into the three channels).

    Raises:
        UnsupportedEncodingError, ImageSizeError, ImageLayoutError:
            unknown encoding, size different from `out`, inconsistent step/data.

    """
    enc = str(msg.encoding)
    if enc not in COLOR_ENCODINGS:
        raise UnsupportedEncodingError(
            f"unsupported colour image encoding '{enc}': use one of "
            f"{', '.join(COLOR_ENCODINGS)} (compressed or Bayer images must be decoded first, "
            "e.g. with image_proc / image_transport republish)")
    _check_size("RGB", msg, out.shape)
    bpp, order = COLOR_ENCODINGS[enc]
    view = image_view(msg, bpp, np.uint8)
    if enc == "mono8":
        np.copyto(out, view)  # (H,W,1) broadcasts over the three channels
    elif order == (0, 1, 2):
        np.copyto(out, view[:, :, :3])
    else:
        np.copyto(out, view[:, :, 2::-1])


def depth_into(out: np.ndarray, msg) -> None:
    """
    Write a depth image message into a float32 metres buffer, in place.

    The one decoder of ROS depth images (REP 118) in the project.

    Args:
        out: (H,W) float32 metres destination (the tracker's `staging.depth`), 0 = no reading.
        msg: sensor_msgs/Image, 16UC1 or mono16 millimetres (0 = no reading) or 32FC1 metres
            (NaN/Inf/<=0 = no reading), per REP 118; either byte order.

    Raises:
        UnsupportedEncodingError, ImageSizeError, ImageLayoutError:
            unknown encoding, size different from `out`, inconsistent step/data.

    """
    enc = str(msg.encoding)
    if enc not in DEPTH_ENCODINGS:
        raise UnsupportedEncodingError(
            f"unsupported depth encoding '{enc}': depth must be 16UC1 or mono16 (uint16 "
            "millimetres) or 32FC1 (float32 metres) per REP 118")
    _check_size("depth", msg, out.shape)
    order = ">" if msg.is_bigendian else "<"
    if DEPTH_ENCODINGS[enc] == 2:
        view = image_view(msg, 2, np.dtype(order + "u2"))[:, :, 0]
        depth_mm_to_m(view, out=out)
    else:
        view = image_view(msg, 4, np.dtype(order + "f4"))[:, :, 0]
        # fmax maps NaN, -Inf and negatives to 0 in one pass; +Inf needs its own.
        np.fmax(view, np.float32(0.0), out=out)
        np.copyto(out, np.float32(0.0), where=np.isinf(out))


def depth_from_msg(msg) -> np.ndarray:
    """
    Decode a depth image message (see `depth_into`) into a new array.

    Returns:
        (H,W) float32 metres, 0 = no reading.

    Raises:
        UnsupportedEncodingError, ImageLayoutError:
            as `depth_into`; ImageLayoutError also for a negative size.

    """
    h, w = int(msg.height), int(msg.width)
    if h < 0 or w < 0:
        raise ImageLayoutError(f"image size {w}x{h} is negative")
    out = np.empty((h, w), dtype=np.float32)
    depth_into(out, msg)
    return out


def check_depth_content(depth: np.ndarray, max_median: float = 20.0, stride: int = 8,
                        min_median: float = 0.02) -> float:
    """
    Reject depth frames without valid pixels or with implausible units.

    Looks at every `stride`-th pixel in both directions (cheap: ~5k pixels at 640x480), and at
    the whole image only when that subsample is empty.

    Args:
        depth: (H,W) float32 metres, 0 = no reading (after `depth_into`).
        max_median: metres; a larger median valid depth means wrong units (e.g. 32FC1 holding
            millimetres puts the object 1000x too far).
        stride: subsampling step, pixels.
        min_median: metres; a smaller median valid depth also means wrong units (e.g. 16UC1 holding
            metres puts the object 1000x too near): no RGB-D camera measures that close.

    Returns:
        The median valid depth of the subsample, metres (0 when only the full scan found data).

    Raises:
        DepthContentError: kind "depth_empty" or "depth_units".

    """
    sub = depth[::stride, ::stride]
    valid = sub[sub > 0]
    if valid.size == 0:
        if np.count_nonzero(depth > 0) == 0:
            raise DepthContentError(
                "depth image has no valid pixel (all 0/NaN/Inf): is the depth stream running, "
                "the emitter on, the object within the sensor's range?", "depth_empty")
        return 0.0
    median = float(np.median(valid))
    if median > max_median:
        raise DepthContentError(
            f"median depth is {median:.1f} m (> {max_median:g} m): depth is not in REP 118 units "
            "(16UC1 must be millimetres, 32FC1 metres); fix the publisher's encoding/scale",
            "depth_units")
    if median < min_median:
        raise DepthContentError(
            f"median depth is {median * 1000:.1f} mm (< {min_median * 1000:g} mm): depth is not "
            "in REP 118 units (16UC1 must be millimetres, 32FC1 metres); fix the publisher's "
            "encoding/scale", "depth_units")
    return median


def check_pair(rgb_msg, depth_msg) -> None:
    """Raise ImageSizeError if the RGB and depth messages differ in size."""
    if (int(rgb_msg.height), int(rgb_msg.width)) != (int(depth_msg.height),
                                                     int(depth_msg.width)):
        raise ImageSizeError(
            f"depth image is {depth_msg.width}x{depth_msg.height} but the RGB image is "
            f"{rgb_msg.width}x{rgb_msg.height}: depth must be registered to the colour camera "
            "(e.g. the RealSense aligned_depth_to_color topic)")


def camera_info_to_k(msg) -> Tuple[np.ndarray, Tuple[int, int]]:
    """
    Intrinsics and image size of a sensor_msgs/CameraInfo.

    Args:
        msg: CameraInfo; uses `k` (row-major 3x3), `height`, `width`.

    Returns:
        K: (3,3) float64, pixels.
        size: (H, W).

    Raises:
        CameraInfoError: K or size refused by `pose_tracker.geometry.pinhole.validate_intrinsics`
            (uncalibrated K all zero, non-finite or malformed K, non-positive size).

    """
    h, w = int(msg.height), int(msg.width)
    try:
        K = validate_intrinsics(msg.k, (h, w))
    except FrameError as e:
        raise CameraInfoError(f"camera_info: {e}") from None
    return K, (h, w)


def matrix_to_position_quaternion(T) -> Tuple[np.ndarray, np.ndarray]:
    """Split a rigid (4,4) transform into translation (3,) and quaternion (x,y,z,w) (4,)."""
    T = np.asarray(T, dtype=np.float64).reshape(4, 4)
    if not np.all(np.isfinite(T)):
        raise PoseMessageError("pose contains NaN/Inf")
    q = Rotation.from_matrix(T[:3, :3]).as_quat()  # scalar-last (x, y, z, w), like ROS
    return T[:3, 3].copy(), q


def position_quaternion_to_matrix(p, q) -> np.ndarray:
    """
    Rigid (4,4) float64 transform from translation (3,) and quaternion (x,y,z,w) (4,).

    The quaternion is normalised; a zero or non-finite one raises PoseMessageError.
    """
    p = np.asarray(p, dtype=np.float64).reshape(3)
    q = np.asarray(q, dtype=np.float64).reshape(4)
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
        raise PoseMessageError("pose contains NaN/Inf")
    if np.linalg.norm(q) < 1e-9:
        raise PoseMessageError("pose orientation is a zero quaternion (unset orientation?)")
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(q).as_matrix()
    T[:3, 3] = p
    return T


def matrix_to_pose(T):
    """geometry_msgs/Pose of a (4,4) object -> camera transform, metres."""
    from geometry_msgs.msg import Pose

    p, q = matrix_to_position_quaternion(T)
    msg = Pose()
    msg.position.x, msg.position.y, msg.position.z = (float(v) for v in p)
    (msg.orientation.x, msg.orientation.y, msg.orientation.z,
     msg.orientation.w) = (float(v) for v in q)
    return msg


def pose_to_matrix(pose) -> np.ndarray:
    """(4,4) float64 transform of a geometry_msgs/Pose (or PoseStamped: its `.pose`)."""
    pose = getattr(pose, "pose", pose)
    p, o = pose.position, pose.orientation
    return position_quaternion_to_matrix((p.x, p.y, p.z), (o.x, o.y, o.z, o.w))


def matrix_to_transform_stamped(T, parent: str, child: str, stamp):
    """
    geometry_msgs/TransformStamped placing `child` at T in `parent` (for /tf).

    Args:
        T: (4,4) child -> parent transform (object -> camera), metres.
        parent: parent frame id (the image's frame_id).
        child: child frame id (the object frame).
        stamp: builtin_interfaces/Time (the image stamp).

    """
    from geometry_msgs.msg import TransformStamped

    p, q = matrix_to_position_quaternion(T)
    msg = TransformStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = parent
    msg.child_frame_id = child
    tr, rot = msg.transform.translation, msg.transform.rotation
    tr.x, tr.y, tr.z = (float(v) for v in p)
    rot.x, rot.y, rot.z, rot.w = (float(v) for v in q)
    return msg


def pose_from_list(values) -> np.ndarray:
    """
    (4,4) transform from [x, y, z, qx, qy, qz, qw] (the `initial_pose` parameter).

    Raises:
        ValueError: not 7 numbers, or not a rigid transform.

    """
    v = [float(x) for x in values]
    if len(v) != 7:
        raise ValueError(f"initial_pose must be 7 numbers [x, y, z, qx, qy, qz, qw] (metres, "
                         f"camera frame), got {len(v)}")
    try:
        return position_quaternion_to_matrix(v[:3], v[3:])
    except PoseMessageError as e:
        raise ValueError(f"initial_pose is invalid: {e}") from None


def stamp_to_ns(stamp) -> int:
    """Integer nanoseconds of a builtin_interfaces/Time."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def rgb_to_image_bytes(rgb: np.ndarray) -> Tuple[int, int, int, bytes]:
    """
    (height, width, step, data) of an rgb8 sensor_msgs/Image of a (H,W,3) uint8 array.

    `bytes` is what must go into `msg.data`; assigning an ndarray is element-wise and ~1000x
    slower.
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return h, w, w * 3, rgb.tobytes()
