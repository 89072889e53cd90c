# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Write RGB-D sequences to rosbag2 files and read them back, with ``rosbags`` (no rclpy).

    python -m pose_tracker.ros.tools.bag_io --seq DIR [--object NAME] --out BAG [--rate 30]
        [--depth-encoding 16UC1|32FC1] [--frame-id camera_color_optical_frame] [--no-gt]

A bag holds, per frame and all with the frame's stamp (header stamp = log time):

=============================  =================================  ===============================
topic                          type                               content
=============================  =================================  ===============================
``/camera/color/image_raw``    sensor_msgs/msg/Image              ``rgb8``
``/camera/depth/image_raw``    sensor_msgs/msg/Image              ``16UC1`` mm (0 = no reading) or
                                                                  ``32FC1`` m (NaN = no reading)
``/camera/color/camera_info``  sensor_msgs/msg/CameraInfo         k, p = [K|0], d = 0, plumb_bob
``/ground_truth/pose``         geometry_msgs/msg/PoseStamped      object pose in the camera frame
``/camera/mask``               sensor_msgs/msg/Image              ``mono8`` object mask (255 =
                                                                  object), frames that have one
=============================  =================================  ===============================

The depth image is registered to the colour image (same K, same frame_id).
"""

import argparse
from collections import namedtuple
from pathlib import Path
import sys
from typing import Iterable, Iterator, Optional, Sequence as SequenceT

import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores

from pose_tracker.errors import FrameError, PoseTrackerError
from pose_tracker.ros.conversions import (depth_from_msg, matrix_to_position_quaternion,
                                          position_quaternion_to_matrix, stamp_to_ns)

RGB_TOPIC = "/camera/color/image_raw"
DEPTH_TOPIC = "/camera/depth/image_raw"
INFO_TOPIC = "/camera/color/camera_info"
GT_TOPIC = "/ground_truth/pose"
MASK_TOPIC = "/camera/mask"
DEFAULT_FRAME_ID = "camera_color_optical_frame"
#: Stamp of the first frame when none is given: 2026-01-01T00:00:00Z, fixed so bags are
#: reproducible (and non-zero: stamp 0 means "latest" to TF lookups).
DEFAULT_START_NS = 1_767_225_600 * 10**9

IMAGE_T = "sensor_msgs/msg/Image"
INFO_T = "sensor_msgs/msg/CameraInfo"
POSE_T = "geometry_msgs/msg/PoseStamped"

#: One frame read back from a bag. stamp_ns: int header stamp, nanoseconds; rgb: (H,W,3) uint8;
#: depth: (H,W) float32 metres, 0 = no reading; K: (3,3) float64 or None; gt_pose: (4,4)
#: float64 metres or None; mask: (H,W) bool or None.
BagFrame = namedtuple("BagFrame", ["stamp_ns", "rgb", "depth", "K", "gt_pose", "mask"],
                      defaults=(None,))

_TYPESTORE = None


def typestore():
    """Return the ROS 2 Jazzy message typestore of ``rosbags`` (created once)."""
    global _TYPESTORE
    if _TYPESTORE is None:
        _TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
    return _TYPESTORE


# ---------------------------------------------------------------------------- message builders
def _header(stamp_ns: int, frame_id: str):
    ts = typestore()
    Time = ts.types["builtin_interfaces/msg/Time"]
    Header = ts.types["std_msgs/msg/Header"]
    sec, nanosec = divmod(int(stamp_ns), 10**9)
    return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def depth_to_wire(depth_m: np.ndarray, encoding: str) -> np.ndarray:
    """
    Encode (H,W) float32 metres (0 / NaN = no reading) for a depth Image.

    Returns:
        (H,W) uint16 millimetres (0 = no reading, readings beyond 65.535 m dropped) for
        ``16UC1``, or (H,W) float32 metres with NaN for no reading for ``32FC1``.

    """
    d = np.asarray(depth_m, dtype=np.float32)
    valid = np.isfinite(d) & (d > 0)
    if encoding == "16UC1":
        mm = np.where(valid, np.round(d * 1000.0), 0.0)
        return np.where(mm <= 65535, mm, 0).astype(np.uint16)
    if encoding == "32FC1":
        return np.where(valid, d, np.float32(np.nan)).astype(np.float32)
    raise ValueError(f"depth encoding must be '16UC1' or '32FC1', got {encoding!r}")


def image_msg(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str):
    """Build a rosbags ``sensor_msgs/msg/Image`` of a C-contiguous little-endian array."""
    a = np.ascontiguousarray(array)
    h, w = a.shape[:2]
    Image = typestore().types[IMAGE_T]
    return Image(header=_header(stamp_ns, frame_id), height=h, width=w, encoding=encoding,
                 is_bigendian=0, step=int(a.strides[0]),
                 data=a.reshape(-1).view(np.uint8))


def camera_info_msg(K, image_size, stamp_ns: int, frame_id: str):
    """Build a rosbags ``sensor_msgs/msg/CameraInfo``: k = K, p = [K|0], r = I, d = 0."""
    ts = typestore()
    K = np.asarray(K, dtype=np.float64).reshape(3, 3)
    P = np.zeros((3, 4))
    P[:, :3] = K
    Roi = ts.types["sensor_msgs/msg/RegionOfInterest"]
    return ts.types[INFO_T](
        header=_header(stamp_ns, frame_id), height=int(image_size[0]), width=int(image_size[1]),
        distortion_model="plumb_bob", d=np.zeros(5), k=K.reshape(-1).copy(),
        r=np.eye(3).reshape(-1), p=P.reshape(-1), binning_x=0, binning_y=0,
        roi=Roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def pose_msg(T, stamp_ns: int, frame_id: str):
    """Build a rosbags ``geometry_msgs/msg/PoseStamped`` of a (4,4) pose (R re-orthonormalised)."""
    ts = typestore()
    p, (x, y, z, w) = matrix_to_position_quaternion(T)
    Point = ts.types["geometry_msgs/msg/Point"]
    Quaternion = ts.types["geometry_msgs/msg/Quaternion"]
    Pose = ts.types["geometry_msgs/msg/Pose"]
    position = Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))
    orientation = Quaternion(x=float(x), y=float(y), z=float(z), w=float(w))
    return ts.types[POSE_T](header=_header(stamp_ns, frame_id),
                            pose=Pose(position=position, orientation=orientation))


# ---------------------------------------------------------------------------- writing
def write_sequence_bag(frames: Iterable, K, out_path, frame_id: str = DEFAULT_FRAME_ID,
                       rate_hz: float = 30.0, depth_encoding: str = "16UC1",
                       gt_topic: bool = True, start_ns: int = DEFAULT_START_NS,
                       storage: str = "mcap", mask_topic: bool = True) -> int:
    """
    Write RGB-D frames (and ground-truth poses) to a new rosbag2 folder.

    Args:
        frames: iterable of objects with ``rgb`` (H,W,3) uint8, ``depth`` (H,W) float32 metres
            (0 or NaN = no reading), ``gt_pose`` (4,4) metres (object->camera) or None and
            optionally ``mask`` (H,W) bool or None; e.g. a `pose_tracker.data.sequence.Sequence`.
            All frames must have one size.
        K: (3,3) intrinsics of the (registered) colour and depth images, pixels.
        out_path: bag folder to create; it must not exist.
        frame_id: optical frame of the camera, the ``header.frame_id`` of every message.
        rate_hz: frame rate; frame i is stamped ``start_ns + round(i * 1e9 / rate_hz)``.
        depth_encoding: ``"16UC1"`` (uint16 mm) or ``"32FC1"`` (float32 m).
        gt_topic: write ``/ground_truth/pose`` for frames whose ``gt_pose`` is not None.
        start_ns: stamp of the first frame, nanoseconds since the epoch.
        storage: ``"mcap"`` or ``"sqlite3"``.
        mask_topic:
            write ``/camera/mask`` (mono8, 255 = object) for frames whose ``mask`` is not None.

    Returns:
        Number of frames written.

    Raises:
        FrameError: a frame has the wrong shape/dtype or a different size than the first.
        FileExistsError: ``out_path`` exists.

    """
    if depth_encoding not in ("16UC1", "32FC1"):
        raise ValueError(f"depth_encoding must be '16UC1' or '32FC1', got {depth_encoding!r}")
    if rate_hz <= 0:
        raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
    out_path = Path(out_path)
    if out_path.exists():
        raise FileExistsError(f"bag {out_path} exists already; choose a new path or delete it")
    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
    ts = typestore()
    n = 0
    size = None
    with Writer(out_path, version=9, storage_plugin=plugin) as writer:
        c_rgb = writer.add_connection(RGB_TOPIC, IMAGE_T, typestore=ts)
        c_depth = writer.add_connection(DEPTH_TOPIC, IMAGE_T, typestore=ts)
        c_info = writer.add_connection(INFO_TOPIC, INFO_T, typestore=ts)
        c_gt = writer.add_connection(GT_TOPIC, POSE_T, typestore=ts) if gt_topic else None
        c_mask = None
        for i, frame in enumerate(frames):
            rgb = np.asarray(frame.rgb)
            depth = np.asarray(frame.depth)
            if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
                raise FrameError(f"frame {i}: rgb must be (H,W,3) uint8, got {rgb.shape} "
                                 f"{rgb.dtype}")
            if depth.shape != rgb.shape[:2]:
                raise FrameError(f"frame {i}: depth shape {depth.shape} differs from the rgb "
                                 f"size {rgb.shape[:2]}")
            if size is None:
                size = rgb.shape[:2]
            elif rgb.shape[:2] != size:
                raise FrameError(f"frame {i} is {rgb.shape[:2]} but the first frame is {size}")
            stamp = int(start_ns) + int(round(i * 1e9 / rate_hz))
            # camera_info first: a node builds its tracker from it, so frame 0 is not dropped.
            writer.write(c_info, stamp,
                         ts.serialize_cdr(camera_info_msg(K, size, stamp, frame_id), INFO_T))
            writer.write(c_rgb, stamp,
                         ts.serialize_cdr(image_msg(rgb, "rgb8", stamp, frame_id), IMAGE_T))
            mask = getattr(frame, "mask", None)
            if mask_topic and mask is not None:
                # Before the images: a node that registers on this frame then has its mask.
                if c_mask is None:
                    c_mask = writer.add_connection(MASK_TOPIC, IMAGE_T, typestore=ts)
                wire = np.where(np.asarray(mask) != 0, 255, 0).astype(np.uint8)
                if wire.shape != size:
                    raise FrameError(f"frame {i}: mask shape {wire.shape} differs from the rgb "
                                     f"size {size}")
                writer.write(c_mask, stamp,
                             ts.serialize_cdr(image_msg(wire, "mono8", stamp, frame_id), IMAGE_T))
            wire = depth_to_wire(depth, depth_encoding)
            writer.write(c_depth, stamp, ts.serialize_cdr(
                image_msg(wire, depth_encoding, stamp, frame_id), IMAGE_T))
            gt = getattr(frame, "gt_pose", None)
            if c_gt is not None and gt is not None:
                writer.write(c_gt, stamp, ts.serialize_cdr(pose_msg(gt, stamp, frame_id), POSE_T))
            n += 1
    return n


# ---------------------------------------------------------------------------- reading
def image_to_array(msg) -> np.ndarray:
    """
    Decode a rosbags Image message to an array (copy), honouring ``step`` and endianness.

    Returns:
        (H,W,3) uint8 RGB for rgb8/bgr8/rgba8/bgra8, (H,W) uint8 for mono8, (H,W) uint16 for
        16UC1/mono16, (H,W) float32 for 32FC1.

    """
    enc = msg.encoding
    spec = {"rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "rgba8": (np.uint8, 4),
            "bgra8": (np.uint8, 4), "mono8": (np.uint8, 1), "8UC1": (np.uint8, 1),
            "16UC1": (np.uint16, 1), "mono16": (np.uint16, 1), "32FC1": (np.float32, 1)}
    if enc not in spec:
        raise FrameError(f"unsupported image encoding {enc!r}")
    dtype, ch = spec[enc]
    dtype = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    row = w * ch * dtype.itemsize
    data = np.asarray(msg.data, dtype=np.uint8)
    if step < row or data.size < step * h:
        raise FrameError(f"image of {w}x{h} {enc} has step {step} and {data.size} bytes")
    rows = data[:step * h].reshape(h, step)[:, :row]
    a = np.ascontiguousarray(rows).view(dtype).reshape((h, w, ch) if ch > 1 else (h, w))
    a = a.astype(dtype.newbyteorder("="))
    if enc in ("bgr8", "bgra8"):
        a = a[..., 2::-1]
    elif enc == "rgba8":
        a = a[..., :3]
    return np.ascontiguousarray(a)


def pose_from_msg(msg) -> np.ndarray:
    """(4,4) float64 pose of a rosbags PoseStamped / Pose message."""
    p = getattr(msg, "pose", msg)
    q = p.orientation
    return position_quaternion_to_matrix([p.position.x, p.position.y, p.position.z],
                                         [q.x, q.y, q.z, q.w])


def read_bag_frames(path, rgb_topic: str = RGB_TOPIC, depth_topic: str = DEPTH_TOPIC,
                    info_topic: str = INFO_TOPIC, gt_topic: str = GT_TOPIC,
                    mask_topic: str = MASK_TOPIC) -> Iterator[BagFrame]:
    """
    Yield the RGB-D frames of a bag, matching the topics by header stamp.

    A frame is emitted once its colour image, depth image, camera info (if the bag has the
    topic), ground truth and mask (each if the bag has the topic) with the same header stamp have
    been
    read; frames still missing a part when a later frame completes, or at the end of the bag,
    are emitted with what they have (K falls back to the last camera info, gt_pose to None).
    Frames come out in stamp order for bags written by `write_sequence_bag`.

    Yields:
        BagFrame(stamp_ns, rgb (H,W,3) uint8, depth (H,W) float32 metres, K (3,3) | None,
        gt_pose (4,4) | None, mask (H,W) bool | None).

    """
    ts = typestore()
    with Reader(Path(path)) as reader:
        conns = [c for c in reader.connections
                 if c.topic in (rgb_topic, depth_topic, info_topic, gt_topic, mask_topic)]
        topics = {c.topic for c in conns}
        for needed in (rgb_topic, depth_topic):
            if needed not in topics:
                raise FrameError(f"bag {path} has no topic {needed}; topics: "
                                 f"{sorted(c.topic for c in reader.connections)}")
        kind = {rgb_topic: "rgb", depth_topic: "depth", info_topic: "K", gt_topic: "gt",
                mask_topic: "mask"}
        required = {"rgb", "depth"} | ({"K"} if info_topic in topics else set()) \
            | ({"gt"} if gt_topic in topics else set()) \
            | ({"mask"} if mask_topic in topics else set())
        pending = {}
        last_K = None

        def emit(stamp):
            nonlocal last_K
            parts = pending.pop(stamp)
            if "K" in parts:
                last_K = parts["K"]
            return BagFrame(stamp, parts["rgb"], parts["depth"], parts.get("K", last_K),
                            parts.get("gt"), parts.get("mask"))

        for conn, _, raw in reader.messages(connections=conns):
            msg = ts.deserialize_cdr(raw, conn.msgtype)
            stamp = stamp_to_ns(msg.header.stamp)
            what = kind[conn.topic]
            if what == "rgb":
                value = image_to_array(msg)
                if value.ndim == 2:
                    value = np.repeat(value[..., None], 3, axis=2)
            elif what == "depth":
                value = depth_from_msg(msg)
            elif what == "mask":
                value = image_to_array(msg) != 0
            elif what == "K":
                value = np.asarray(msg.k, dtype=np.float64).reshape(3, 3).copy()
            else:
                value = pose_from_msg(msg)
            pending.setdefault(stamp, {})[what] = value
            if required <= pending[stamp].keys():
                for older in sorted(s for s in pending if s < stamp):
                    if {"rgb", "depth"} <= pending[older].keys():
                        yield emit(older)
                    else:
                        del pending[older]
                yield emit(stamp)
        for stamp in sorted(pending):
            if {"rgb", "depth"} <= pending[stamp].keys():
                yield emit(stamp)


# ---------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the CLI."""
    p = argparse.ArgumentParser(prog="python -m pose_tracker.ros.tools.bag_io",
                                description="Convert a sequence folder (rgb/, depth/, "
                                "cam_K.txt, ob_in_cam/) into a rosbag2 bag.")
    p.add_argument("--seq", required=True, help="sequence folder")
    p.add_argument("--object", default=None, help="object whose GT pose to write")
    p.add_argument("--out", required=True, help="bag folder to create")
    p.add_argument("--rate", type=float, default=30.0, help="frame rate of the stamps, Hz")
    p.add_argument("--depth-encoding", choices=("16UC1", "32FC1"), default="16UC1")
    p.add_argument("--frame-id", default=DEFAULT_FRAME_ID)
    p.add_argument("--no-gt", action="store_true", help="do not write /ground_truth/pose")
    p.add_argument("--start-time", type=float, default=DEFAULT_START_NS / 1e9,
                   help="stamp of the first frame, seconds since the epoch")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    return p


def main(argv: Optional[SequenceT[str]] = None) -> int:
    """Command-line entry point; returns the process exit status."""
    from pose_tracker.data.sequence import Sequence

    args = build_parser().parse_args(argv)
    try:
        seq = Sequence(args.seq, args.object)
        if not args.no_gt and seq.object_name is None and seq.objects():
            raise PoseTrackerError(f"sequence {args.seq} has several objects {seq.objects()}: "
                                   "choose one with --object, or pass --no-gt")
        n = write_sequence_bag(seq, seq.K, args.out, frame_id=args.frame_id,
                               rate_hz=args.rate, depth_encoding=args.depth_encoding,
                               gt_topic=not args.no_gt,
                               start_ns=int(round(args.start_time * 1e9)),
                               storage=args.storage)
    except (PoseTrackerError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} frames of {args.seq} (object {seq.object_name}) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
