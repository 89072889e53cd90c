# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
ROS 2 node `pose_tracker_node`: RGB-D in, object pose out.

Subscribes (relative names, remap them; sensor-data QoS):

* `rgb/image_raw` (sensor_msgs/Image: rgb8, bgr8, rgba8, bgra8 or mono8),
* `depth/image_raw` (sensor_msgs/Image: 16UC1 mm or 32FC1 m, registered to the colour camera),
* `rgb/camera_info` (sensor_msgs/CameraInfo of the colour camera; `k` is used, or the left 3x3
  of `p` for a rectified image topic; adjusted for binning / ROI),
* `~/initial_pose` (geometry_msgs/PoseStamped, object -> camera; another frame than the images'
  is transformed through TF when tf2_ros is installed, otherwise refused).

Publishes `~/pose` (geometry_msgs/PoseStamped, header = the RGB image's), /tf (image frame ->
object_frame), `~/marker` (visualization_msgs/Marker of the mesh, latched), `~/overlay`
(sensor_msgs/Image rgb8, optional), /diagnostics (1 Hz) and `~/status`
(diagnostic_msgs/DiagnosticStatus, one per synchronised frame: see `publish_frame_status`).
Service `~/reset` (std_srvs/Trigger) forgets the pose. RGB and depth are matched by approximate
time (message_filters when installed, otherwise `pose_tracker.ros.sync`); camera_info is not
synchronised: its latest value is used. Under load the newest synchronised pair is tracked and
older queued ones are dropped (`drop_stale_frames`). Quietly wrong input (RGB/depth frame_ids,
stamps, camera_info, initial poses) is checked with `pose_tracker.ros.input_checks`; each
finding is logged once and counted on /diagnostics.

The tracker is built by a factory (see `TrackerSetup`), so tests run the node with a fake.
"""

from dataclasses import dataclass
import functools
import os
import time
from typing import Any, Callable, Optional, Tuple

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)

from pose_tracker.errors import (FrameError, MeshError, MeshUnitsError, PoseTrackerError,
                                 WeightsError)
from pose_tracker.ros import conversions as conv
from pose_tracker.ros import diagnostics as diag
from pose_tracker.ros import input_checks as ic
from pose_tracker.ros import params as P
from pose_tracker.ros.markers import DisplayMesh, mesh_marker
from pose_tracker.ros.overlay import draw_overlay, subsample_points
from pose_tracker.ros.registration_input import default_registrar_factory, RegistrationInput
from pose_tracker.ros.sync import ApproximateTimeSync, LATE
from pose_tracker.ros.tf_publisher import TfPublisher

#: Input topics (relative: they follow the node's namespace and remappings).
RGB_TOPIC = "rgb/image_raw"
DEPTH_TOPIC = "depth/image_raw"
CAMERA_INFO_TOPIC = "rgb/camera_info"
#: A stamp this much older than the newest one on its topic is a restart (bag loop), seconds.
TIME_JUMP_S = 1.0


@dataclass
class TrackerSetup:
    """
    What a tracker factory returns: how to build the tracker, and the mesh to display.

    Attributes
    ----------
    build
        `build(K, (H, W)) -> tracker`, called on the first valid camera_info. The tracker
        implements the `pose_tracker.tracker.Tracker` API: `staging.rgb` (H,W,3) uint8,
        `staging.depth` (H,W) float32 m, `reset(pose)`, `track_staged() -> result` with
        `pose` (4,4), `quality` float, `ms` float, and `set_camera(K, (H, W))`.
    mesh
        the object's geometry in the original mesh frame, metres, for the marker, the
        overlay and the jump check; None disables those.

    """

    build: Callable[[np.ndarray, Tuple[int, int]], Any]
    mesh: Optional[DisplayMesh] = None


#: `factory(params) -> TrackerSetup`; called once in the node's constructor. It should load and
#: check everything that can be wrong (mesh, weights, device) and raise PoseTrackerError.
TrackerFactory = Callable[[P.TrackerParams], TrackerSetup]


def default_tracker_factory(params: P.TrackerParams,
                            logger=None) -> TrackerSetup:
    """
    Load the mesh and the weights now; build `pose_tracker.tracker.Tracker` lazily.

    `logger` (an rclpy logger), when given, receives progress lines (what is loaded, how long
    it took) and the mesh's warnings (implausible size).

    Raises
    ------
    MeshError
        mesh_path empty, missing, unreadable or not in metres.
    WeightsError
        weights missing, corrupt or of an unknown architecture.
    PoseTrackerError
        the device cannot be used.

    """
    if not params.mesh_path:
        raise MeshError("the mesh_path parameter is empty: give the object's mesh file "
                        "(e.g. --ros-args -p mesh_path:=/path/to/object.obj)")
    if not os.path.isfile(params.mesh_path):
        raise MeshError(f"mesh file not found: '{params.mesh_path}' (mesh_path parameter)")

    def log(text: str) -> None:
        if logger is not None:
            logger.info(text)
    t0 = time.monotonic()
    log("importing torch and the tracker ...")
    # Imported here: torch is heavy and tests with a fake tracker do not need it.
    import warnings
    from pose_tracker.mesh import load_mesh
    from pose_tracker.network.checkpoint import load_refiner
    from pose_tracker.tracker import DEFAULT_WEIGHTS, Tracker, resolve_device

    log(f"imported in {time.monotonic() - t0:.1f} s; loading mesh '{params.mesh_path}' ...")
    t0 = time.monotonic()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mesh = (load_mesh(params.mesh_path) if params.mesh_scale == 0.0
                    else load_mesh(params.mesh_path, params.mesh_scale))
    except MeshUnitsError as e:
        scale = getattr(e, "suggested_scale", None)
        raise MeshUnitsError(f"{e} -- for this node set the mesh_scale parameter: "
                             f"--ros-args -p mesh_scale:={scale if scale else 0.001:g}") from e
    except PoseTrackerError:
        raise
    except Exception as e:
        raise MeshError(f"cannot load mesh '{params.mesh_path}': {e}") from e
    for w in caught:
        if issubclass(w.category, UserWarning):
            if logger is not None:
                logger.warning(str(w.message))
    log(f"mesh loaded in {time.monotonic() - t0:.1f} s: {mesh.num_faces} faces, diameter "
        f"{mesh.diameter:.3f} m")
    weights_path = params.weights_path or str(DEFAULT_WEIGHTS)
    t0 = time.monotonic()
    log(f"loading refiner weights '{weights_path}' ...")
    if not os.path.isfile(weights_path):
        raise WeightsError(
            f"refiner weights not found: '{weights_path}'" + (
                "" if params.weights_path else
                " (the shipped weights are missing from this install; set weights_path)"))
    try:
        model = load_refiner(weights_path)
    except PoseTrackerError:
        raise
    except Exception as e:
        raise WeightsError(f"cannot load refiner weights '{weights_path}': {e}") from e
    try:
        device = str(resolve_device(params.device))
    except RuntimeError as e:
        raise PoseTrackerError(str(e)) from e
    log(f"weights loaded in {time.monotonic() - t0:.1f} s; device {device}")
    # The display mesh is the tracker's, back in the original file frame (the frame of the
    # published poses): one load, and the marker matches what is tracked.
    display = DisplayMesh(np.asarray(mesh.vertices, np.float64) + np.asarray(mesh.center),
                          np.asarray(mesh.faces), os.path.abspath(params.mesh_path),
                          params.mesh_scale if params.mesh_scale > 0 else 1.0,
                          float(mesh.diameter))

    def build(K: np.ndarray, image_size: Tuple[int, int]):
        return Tracker(mesh, K, image_size, weights=model, device=device,
                       network_iterations=params.network_iterations,
                       icp_iterations=params.icp_iterations,
                       icp_gates=(params.icp_gate_start, params.icp_gate_end),
                       use_cuda_graph=params.use_cuda_graph,
                       compile=params.compile)

    return TrackerSetup(build=build, mesh=display)


class _OnceLog:
    """Log each kind of problem once (until `clear`), keeping a record for tests."""

    def __init__(self, logger):
        self._logger = logger
        self._seen = set()
        self.records = []  # (key, level, message) of every emitted line

    def __call__(self, key: str, level: str, message: str) -> bool:
        if key in self._seen:
            return False
        self._seen.add(key)
        self.records.append((key, level, message))
        # One call site per severity: rclpy refuses two severities from one line.
        if level == "info":
            self._logger.info(message)
        elif level == "warning":
            self._logger.warning(message)
        elif level == "error":
            self._logger.error(message)
        else:
            getattr(self._logger, level)(message)
        return True

    def clear(self, *keys: str) -> bool:
        """Forget `keys` (they will be logged again); True when one of them had been logged."""
        found = False
        for key in keys:
            found = found or key in self._seen
            self._seen.discard(key)
        return found

    def count(self, key: str) -> int:
        return sum(1 for k, _, _ in self.records if k == key)


def _make_tf_buffer(node):
    """Return a tf2_ros Buffer fed by a TransformListener, or None without tf2_ros."""
    try:
        from tf2_ros import Buffer, TransformListener
    except ImportError:
        return None
    buffer = Buffer()
    node._tf_listener = TransformListener(buffer, node)
    return buffer


def _take(subscription):
    """Take one pending message from an rclpy subscription without waiting; None when none."""
    if subscription is None:
        return None
    try:
        with subscription.handle:
            info = subscription.handle.take_message(subscription.msg_type, subscription.raw)
    except Exception:  # destroyed, or an rclpy without this internal API: nothing to drain
        return None
    return None if info is None else info[0]


def _import_message_filters():
    try:
        import message_filters
    except ImportError:
        return None
    return message_filters


class PoseTrackerNode(Node):
    """
    The pose tracker node.

    Parameters
    ----------
    tracker_factory
        `factory(params) -> TrackerSetup`; None = `default_tracker_factory`
        (real mesh, weights and `pose_tracker.tracker.Tracker`).
    node_name
        default node name (remappable with `__node:=`).
    use_message_filters
        use message_filters' synchroniser when it is installed; False
        always uses `pose_tracker.ros.sync`.
    **node_kwargs
        passed to `rclpy.node.Node` (context, namespace, parameter_overrides, ...).

    Raises
    ------
    ValueError
        an invalid parameter value.
    PoseTrackerError
        the factory could not load the mesh, the weights or the device.

    """

    def __init__(self, tracker_factory: Optional[TrackerFactory] = None,
                 node_name: str = "pose_tracker", use_message_filters: bool = True,
                 registrar_factory=None, **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        self._registrar_factory = registrar_factory or default_registrar_factory
        try:
            factory = tracker_factory or functools.partial(default_tracker_factory,
                                                           logger=self.get_logger())
            self._setup(factory, use_message_filters)
        except BaseException:
            self.destroy_node()
            raise

    # ------------------------------------------------------------------ construction
    def _setup(self, factory: TrackerFactory, use_message_filters: bool) -> None:
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
        from geometry_msgs.msg import PoseStamped
        from sensor_msgs.msg import CameraInfo, Image
        from std_srvs.srv import Trigger
        from visualization_msgs.msg import Marker

        self._log = _OnceLog(self.get_logger())
        self.params = P.declare(self)
        t0 = time.monotonic()
        self.get_logger().info(
            f"starting: loading mesh '{self.params.mesh_path}' and refiner weights "
            f"'{self.params.weights_path or 'shipped'}' (device {self.params.device})")
        setup = factory(self.params)
        self.get_logger().info(f"mesh and weights ready in {time.monotonic() - t0:.1f} s; the "
                               "tracker (buffers, CUDA graph capture / compile) is built on the "
                               "first camera_info")
        self._build = setup.build
        self.mesh = setup.mesh
        # The overlay outlines the mesh's silhouette; without faces, its points' convex hull.
        self._overlay_points, self._overlay_faces = np.zeros((0, 3)), None
        if self.mesh is not None and self.mesh.faces is not None:
            self._overlay_points, self._overlay_faces = self.mesh.vertices, self.mesh.faces
        elif self.mesh is not None:
            self._overlay_points = subsample_points(self.mesh.vertices)
        has_mesh = self.mesh is not None and len(self.mesh.vertices) > 0
        self._mesh_center = (0.5 * (self.mesh.vertices.min(0) + self.mesh.vertices.max(0))
                             if has_mesh else np.zeros(3))

        self.tracker = None
        self._K: Optional[np.ndarray] = None
        self._size: Optional[Tuple[int, int]] = None
        self._camera_info_problem: Optional[str] = None
        self._build_failed = False
        self._has_pose = False
        self._pending_pose: Optional[np.ndarray] = None
        self._last_pose: Optional[np.ndarray] = None
        self._low_quality = 0
        self._lost = False
        self._last_stamp_ns: Optional[int] = None
        self._newest_ns = [None, None]
        self._frame_id = ""
        self._info_frame_id = ""
        self._topic_stamps = [None, None]  # last header stamp per image topic, ns
        self._frames_since_pose = 0
        self._depth_range: Optional[Tuple[float, float]] = None
        self._pending_pair = None
        self._draining = False
        self._last_result = None
        self.stats = diag.NodeStats(started_s=time.monotonic())
        mode = self.params.image_rectified
        self.rectified = (ic.is_rectified_topic(self._topic(RGB_TOPIC)) if mode == "auto"
                          else mode == "true")
        self._tf_buffer = _make_tf_buffer(self)

        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                              history=HistoryPolicy.KEEP_LAST)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             history=HistoryPolicy.KEEP_LAST,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._pose_pub = self.create_publisher(PoseStamped, "~/pose", reliable)
        self._overlay_pub = self.create_publisher(
            Image, "~/overlay", QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE))
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", reliable)
        self._status_pub = self.create_publisher(DiagnosticStatus, "~/status", reliable)
        self._marker_pub = self.create_publisher(Marker, "~/marker", latched)
        self._tf = TfPublisher(self) if self.params.publish_tf else None

        # Created before the image subscriptions: the executor serves ready subscriptions in
        # creation order, so a camera_info that arrives with the first images builds the
        # tracker before that frame is processed (else the first frame is dropped).
        self._info_sub = self.create_subscription(
            CameraInfo, CAMERA_INFO_TOPIC, self._on_camera_info, qos_profile_sensor_data)
        mf = _import_message_filters() if use_message_filters else None
        self.sync = None
        self._mf_sync = None
        if mf is not None:
            subs = [mf.Subscriber(self, Image, topic, qos_profile=qos_profile_sensor_data)
                    for topic in (RGB_TOPIC, DEPTH_TOPIC)]
            # Registered before the synchroniser's own callback, so a time jump clears its
            # queues before the new message is queued.
            for i, sub in enumerate(subs):
                sub.registerCallback(self._on_raw_image_mf, i)
            self._mf_sync = mf.ApproximateTimeSynchronizer(
                subs, self.params.sync_queue_size, self.params.sync_slop)
            self._mf_sync.registerCallback(self._on_pair)
            self._mf_subs = subs
            self.sync_backend = "message_filters"
        else:
            self.sync = ApproximateTimeSync(
                2, self.params.sync_queue_size, self.params.sync_slop, self._on_pair,
                loop_threshold=TIME_JUMP_S, on_reset=self._on_time_jump)
            self._image_subs = [
                self.create_subscription(Image, topic, functools.partial(self._on_image, i),
                                         qos_profile_sensor_data)
                for i, topic in enumerate((RGB_TOPIC, DEPTH_TOPIC))]
            self.sync_backend = "pose_tracker.ros.sync"
        self._pose_sub = self.create_subscription(
            PoseStamped, "~/initial_pose", self._on_initial_pose, reliable)
        self._reset_srv = self.create_service(Trigger, "~/reset", self._on_reset)
        # ~/mask, ~/register and auto_register (pose_tracker.ros.registration_input).
        self.registration = RegistrationInput(self, self._registrar_factory)
        self.registration.attach()
        self._diag_timer = self.create_timer(1.0, self.publish_diagnostics)

        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)

        if self.params.publish_marker and self.mesh is not None:
            self._marker_pub.publish(mesh_marker(self.mesh, self.params.object_frame))
        if self.params.initial_pose is not None:
            T = conv.pose_from_list(self.params.initial_pose)
            problem = self._pose_problem(T)
            if problem is not None:
                raise ValueError(f"parameter initial_pose is refused: {problem}")
            self._set_pose(T, "initial_pose parameter")
        self.get_logger().info(
            f"pose tracker ready: waiting for {self._topic(RGB_TOPIC)}, "
            f"{self._topic(DEPTH_TOPIC)}, {self._topic(CAMERA_INFO_TOPIC)} "
            f"(sync: {self.sync_backend}, slop {self.params.sync_slop} s, "
            f"TF: {self._tf.backend if self._tf else 'off'}, intrinsics: "
            f"{'P (rectified image)' if self.rectified else 'K (raw image)'}; per-frame status "
            f"on {self._topic('~/status')})")

    def _topic(self, name: str) -> str:
        return self.resolve_topic_name(name)

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> str:
        """Tracking state, one of the `pose_tracker.ros.diagnostics` states."""
        if self.tracker is None:
            return diag.WAITING_FOR_CAMERA_INFO
        if not self._has_pose:
            return diag.WAITING_FOR_POSE
        return diag.LOST if self._lost else diag.TRACKING

    def _set_pose(self, T: np.ndarray, source: str) -> None:
        """Start (or restart) tracking from pose T (object -> camera, metres)."""
        self._has_pose = True
        self._lost = False
        self._low_quality = 0
        self._frames_since_pose = 0
        self._last_pose = np.array(T, dtype=np.float64)
        self._log.clear("no_initial_pose")
        if self.tracker is not None:
            self.tracker.reset(self._last_pose)
            self._pending_pose = None
        else:
            self._pending_pose = self._last_pose
        t = self._last_pose[:3, 3]
        self.get_logger().info(
            f"initial pose from {source}: t = [{t[0]:.3f}, {t[1]:.3f}, {t[2]:.3f}] m; tracking")

    def _pose_problem(self, T: np.ndarray) -> Optional[str]:
        """Why pose T cannot be a right initial pose for the current camera, or None."""
        return ic.initial_pose_problem(
            T, self._K, self._size, center=self._mesh_center,
            diameter=self.mesh.diameter if self.mesh is not None else 0.0,
            depth_range=self._depth_range, max_depth=P.MAX_PLAUSIBLE_MEDIAN_DEPTH)

    def _refuse_pose(self, source: str, reason: str) -> None:
        self.stats.note("initial_pose_refused")
        self.get_logger().warning(f"initial pose from {source} refused: {reason}. Nothing is "
                                  "tracked from it; send a corrected one (counted on "
                                  "/diagnostics as events.initial_pose_refused)")

    def clear_pose(self) -> None:
        """Forget the pose: nothing is tracked until a new initial pose arrives."""
        self._has_pose = False
        self._lost = False
        self._pending_pose = None
        self._last_pose = None
        self._low_quality = 0
        self._log.clear("no_initial_pose")

    def _declare_lost(self, why: str) -> None:
        self._lost = True
        self.get_logger().warning(
            f"object LOST: {why}. Pose publishing stopped until a new initial pose arrives on "
            f"{self._topic('~/initial_pose')} (or the initial_pose parameter is set).")

    def _reject(self, kind: str, message: str, level: str = "warning") -> None:
        """Skip the current frame for `kind`, logging the first occurrence only."""
        self.stats.skip(kind, time.monotonic())
        self._log(kind, level, f"{message} -- skipping such frames (reported once; counted on "
                               "/diagnostics)")

    # ------------------------------------------------------------------ callbacks
    def _on_image(self, index: int, msg) -> None:
        stamp = conv.stamp_to_ns(msg.header.stamp)
        if self._stamp_problem(index, stamp):
            return
        if self.sync.add(index, stamp, msg) == LATE:
            self._log_late((RGB_TOPIC, DEPTH_TOPIC)[index])

    def _stamp_problem(self, index: int, stamp_ns: int) -> bool:
        """Drop (True) a message whose stamp is zero or repeats the previous one on its topic."""
        topic = self._topic((RGB_TOPIC, DEPTH_TOPIC)[index])
        if stamp_ns == 0:
            self.stats.skip("stamp_zero", time.monotonic())
            self._log("stamp_zero", "warning",
                      f"header.stamp is zero on {topic}: the camera driver does not stamp its "
                      "images, so RGB and depth cannot be matched by time nor latency measured. "
                      "Fix the driver (or the bag) to fill header.stamp; such messages are "
                      "dropped (reported once; counted on /diagnostics as skipped.stamp_zero)")
            return True
        if stamp_ns == self._topic_stamps[index]:
            self.stats.skip("stamp_repeated", time.monotonic())
            self._log("stamp_repeated", "warning",
                      f"the same header.stamp ({stamp_ns / 1e9:.6f} s) came twice in a row on "
                      f"{topic}: the driver repeats stamps (frozen clock, or each image "
                      "published twice); the repeat is dropped (reported once; counted on "
                      "/diagnostics as skipped.stamp_repeated)")
            return True
        self._topic_stamps[index] = stamp_ns
        return False

    def _log_late(self, topic: str) -> None:
        self._log("late", "warning",
                  f"a message on {self._topic(topic)} is not newer than the last processed "
                  "frame (out-of-order delivery): dropped (reported once; counted on "
                  "/diagnostics)")

    def _on_raw_image_mf(self, msg, index: int) -> None:
        """Time-jump detection for the message_filters path (called before its queueing)."""
        stamp = conv.stamp_to_ns(msg.header.stamp)
        if stamp == 0:
            return  # not a time jump: _on_frame refuses such pairs and says why
        newest = self._newest_ns[index]
        if newest is not None and stamp < newest - int(TIME_JUMP_S * 1e9):
            for queue in getattr(self._mf_sync, "queues", []):
                queue.clear()  # in place: message_filters holds references to these dicts
            self._newest_ns = [None, None]
            self._on_time_jump(index, stamp, newest)
        if self._newest_ns[index] is None or stamp > self._newest_ns[index]:
            self._newest_ns[index] = stamp

    def _on_time_jump(self, index: int, stamp_ns: int, newest_ns: int) -> None:
        self.stats.skip("time_backwards", time.monotonic())
        self._last_stamp_ns = None
        topic = (RGB_TOPIC, DEPTH_TOPIC)[index]
        self._log("time_backwards", "warning",
                  f"time went backwards by {(newest_ns - stamp_ns) / 1e9:.2f} s on "
                  f"{self._topic(topic)} (bag played in a loop? driver restart?): synchroniser "
                  "reset; tracking restarts from the initial_pose parameter if set, else the "
                  "object is LOST (reported once; counted on /diagnostics)")
        # The pose tracked so far belongs to the old stream: restart from the configured
        # initial pose (a looping bag starts where it started), or stop publishing.
        if not self._has_pose:
            return
        if self.params.initial_pose is not None:
            self._set_pose(conv.pose_from_list(self.params.initial_pose),
                           "initial_pose parameter (the stream restarted)")
        elif not self._lost:
            self._declare_lost("time went backwards (the stream restarted), so the tracked pose "
                               "no longer applies")

    def _on_camera_info(self, msg) -> None:
        try:
            K, size, notes = ic.intrinsics(msg, self.rectified)
        except FrameError as e:
            self._camera_info_problem = str(e)
            self._log(getattr(e, "kind", "camera_info"), "warning",
                      f"{e} -- ignoring camera_info (reported once)")
            return
        self._camera_info_problem = None
        self._info_frame_id = msg.header.frame_id
        for kind, text in notes:
            self.stats.note("camera_info." + kind)
            self._log("camera_info." + kind, "warning",
                      f"{text} (reported once; counted on /diagnostics as "
                      f"events.camera_info.{kind})")
        if self.tracker is None:
            if self._build_failed:
                return
            t0 = time.monotonic()
            self.get_logger().info(
                f"building the tracker for {size[1]}x{size[0]} images (device "
                f"{self.params.device}, buffers, CUDA graph capture "
                f"{'on' if self.params.use_cuda_graph else 'off'}, compile "
                f"{self.params.compile}) ...")
            try:
                self.tracker = self._build(K, size)
            except Exception as e:  # a tracker that cannot be built must not kill the node
                self._build_failed = True
                self._log("tracker_build", "error",
                          f"cannot build the tracker for K={K.tolist()}, size "
                          f"{size[1]}x{size[0]}: {type(e).__name__}: {e} -- no frame will be "
                          "tracked; fix the cause and restart the node")
                return
            self._K, self._size = K, size
            self.get_logger().info(f"tracker ready for {size[1]}x{size[0]} images in "
                                   f"{time.monotonic() - t0:.1f} s, fx={K[0, 0]:.1f} "
                                   f"fy={K[1, 1]:.1f} ({'P' if self.rectified else 'K'})")
            if self._pending_pose is not None:
                problem = self._pose_problem(self._pending_pose)
                if problem is not None:
                    self._refuse_pose("before camera_info", problem)
                    self.clear_pose()
                    return
                self.tracker.reset(self._pending_pose)
                self._pending_pose = None
            return
        if size != self._size or not np.allclose(K, self._K, rtol=1e-6, atol=1e-6):
            try:
                self.tracker.set_camera(K, size)
            except Exception as e:
                self._log("set_camera", "error", f"cannot switch the tracker to the new "
                                                 f"camera_info: {e}")
                return
            self.get_logger().info(f"camera_info changed: now {size[1]}x{size[0]}, "
                                   f"fx={K[0, 0]:.1f} fy={K[1, 1]:.1f}")
            self._K, self._size = K, size

    def _on_initial_pose(self, msg) -> None:
        try:
            T = conv.pose_to_matrix(msg.pose)
        except FrameError as e:
            self._log("initial_pose_invalid", "warning", f"ignoring initial pose: {e}")
            return
        source = self._topic('~/initial_pose')
        frame = msg.header.frame_id
        camera = self._frame_id or self._info_frame_id
        if frame and frame != camera:
            if not camera:
                self._refuse_pose(source, f"it is in frame '{frame}' but no image or "
                                  "camera_info has arrived yet, so the camera frame is unknown; "
                                  "send it again once the camera runs")
                return
            T_cam_frame, why = self._lookup(camera, frame, msg.header.stamp)
            if T_cam_frame is None:
                self._refuse_pose(source, f"it is in frame '{frame}', the images in "
                                  f"'{camera}', and {why}; give it in '{camera}'")
                return
            T = T_cam_frame @ T
            source += f" (transformed from '{frame}' to '{camera}' through TF)"
        problem = self._pose_problem(T)
        if problem is not None:
            self._refuse_pose(source, problem)
            return
        self._set_pose(T, source)

    def _lookup(self, target: str, source: str, stamp):
        """(T target <- source (4,4), None), or (None, why not) when TF cannot say."""
        if self._tf_buffer is None:
            return None, "tf2_ros is not installed, so it cannot be transformed"
        from rclpy.duration import Duration
        from rclpy.time import Time

        try:
            when = Time.from_msg(stamp) if conv.stamp_to_ns(stamp) else Time()
            tf = self._tf_buffer.lookup_transform(target, source, when,
                                                  timeout=Duration(seconds=0.2))
        except Exception as e:  # tf2's LookupException, ExtrapolationException, ...
            return None, f"TF has no transform between them ({type(e).__name__}: {e})"
        t, q = tf.transform.translation, tf.transform.rotation
        return conv.position_quaternion_to_matrix([t.x, t.y, t.z], [q.x, q.y, q.z, q.w]), None

    def _on_reset(self, request, response):
        self.clear_pose()
        response.success = True
        response.message = "pose cleared: waiting for a new initial pose"
        self.get_logger().info("reset: " + response.message)
        return response

    def _validate_parameters(self, parameters):
        from rcl_interfaces.msg import SetParametersResult

        for p in parameters:
            value = p.value
            if p.name == "initial_pose" and value is not None:
                value = list(value)
                if not value:
                    return SetParametersResult(
                        successful=False,
                        reason="initial_pose cannot be emptied: call ~/reset to clear the pose")
            reason = P.validate(p.name, value)
            if reason is None and p.name == "initial_pose" and value is not None:
                problem = self._pose_problem(conv.pose_from_list(value))
                reason = None if problem is None else f"initial_pose is refused: {problem}"
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters) -> None:
        for p in parameters:
            if p.name not in P.PARAMETERS_BY_NAME:
                continue
            value = p.value
            if p.name == "initial_pose":
                value = tuple(float(v) for v in value) if value is not None else None
                setattr(self.params, p.name, value)
                if value is not None:
                    self._set_pose(conv.pose_from_list(value), "initial_pose parameter")
                continue
            setattr(self.params, p.name, value)
            if p.name == "publish_tf" and value and self._tf is None:
                self._tf = TfPublisher(self)

    # ------------------------------------------------------------------ the frame
    def _on_pair(self, rgb, depth) -> None:
        """
        Track the newest synchronised pair (the synchroniser's callback).

        With `drop_stale_frames`, the image messages already waiting in the subscriptions are
        taken and synchronised first; only the newest resulting pair is tracked, the older
        ones are dropped and counted (skipped.stale). A slow step then never works through a
        backlog of old frames.
        """
        if self._draining:
            if self._pending_pair is not None:
                self.stats.skip("stale", time.monotonic())
                self._log("stale", "info",
                          "frames arrive faster than they are tracked: the newest synchronised "
                          "pair is tracked and older queued ones are dropped (reported once; "
                          "counted on /diagnostics as skipped.stale; frame_age_ms says how old "
                          "the tracked frames are)")
            self._pending_pair = (rgb, depth)
            return
        if not self.params.drop_stale_frames:
            self._on_frame(rgb, depth)
            return
        self._pending_pair = (rgb, depth)
        self._draining = True
        try:
            self._drain_images()
        finally:
            self._draining = False
        pair, self._pending_pair = self._pending_pair, None
        self._on_frame(*pair)

    def _drain_images(self, max_messages: int = 200) -> None:
        """Feed every image message waiting in the subscriptions to the synchroniser."""
        if self.sync is not None:
            subs = self._image_subs
            feed = [functools.partial(self._on_image, i) for i in range(len(subs))]
        else:
            subs = [getattr(s, "sub", None) for s in self._mf_subs]
            feed = [getattr(s, "signalMessage", None) or getattr(s, "signal") for s in
                    self._mf_subs]
        for _ in range(max_messages):
            took = False
            for sub, give in zip(subs, feed):
                msg = _take(sub)
                if msg is not None:
                    took = True
                    give(msg)
            if not took:
                return

    def _on_frame(self, rgb, depth) -> None:
        """Process one synchronised RGB-D pair and publish its status on ~/status."""
        self.stats.last_skip = None
        self._last_result = None
        published = self.stats.poses_published
        age_ms = (self.get_clock().now().nanoseconds - conv.stamp_to_ns(rgb.header.stamp)) / 1e6
        try:
            self._track_frame(rgb, depth, age_ms)
        finally:
            self.publish_frame_status(rgb.header, self.stats.poses_published > published,
                                      age_ms)

    def publish_frame_status(self, header, published: bool, age_ms: float) -> None:
        """
        Publish the outcome of one frame on `~/status` (diagnostic_msgs/DiagnosticStatus).

        level: OK = a pose was published for this frame, WARN = no pose (waiting, LOST, stale
        or a benign skip), ERROR = the frame was rejected for bad input or the tracker failed.
        name: "<node name>: frame"; message: the state, or "skipped: <reason>";
        hardware_id: the image frame_id. values (all strings): state, published (true/false),
        stamp (s), frame_age_ms (image stamp -> processing start, ROS clock), quality,
        tracker_ms ("" when not tracked), skip_reason ("" when none).
        """
        from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

        reason = self.stats.last_skip or ""
        result = self._last_result
        if published:
            level, message = DiagnosticStatus.OK, self.state
        elif reason and reason not in diag.BENIGN_SKIPS:
            level, message = DiagnosticStatus.ERROR, f"skipped: {reason}"
        else:
            level = DiagnosticStatus.WARN
            message = f"skipped: {reason}" if reason else self.state
        values = {
            "state": self.state,
            "published": "true" if published else "false",
            "stamp": f"{conv.stamp_to_ns(header.stamp) / 1e9:.6f}",
            "frame_age_ms": f"{age_ms:.1f}",
            "quality": "" if result is None else f"{result[0]:.3f}",
            "tracker_ms": "" if result is None else f"{result[1]:.2f}",
            "skip_reason": reason,
        }
        self._status_pub.publish(DiagnosticStatus(
            level=level, name=f"{self.get_name()}: frame", message=message,
            hardware_id=header.frame_id,
            values=[KeyValue(key=k, value=v) for k, v in values.items()]))

    def _track_frame(self, rgb, depth, age_ms: float) -> None:
        self.stats.frames_received += 1
        now = time.monotonic()
        if self._log.clear("input_stalled"):
            gap = now - (self.stats.last_frame_s or self.stats.started_s or now)
            self.get_logger().info(f"RGB-D frames are back after {gap:.1f} s without input")
        self.stats.last_frame_s = now
        stamp_ns = conv.stamp_to_ns(rgb.header.stamp)
        if stamp_ns == 0:
            # Only reachable with message_filters (our synchroniser path drops these itself).
            self._stamp_problem(0, 0)
            return
        if self._last_stamp_ns is not None and stamp_ns == self._last_stamp_ns:
            # A pair with the stamp of the last one (message_filters, or direct calls).
            self._topic_stamps[0] = stamp_ns
            self._stamp_problem(0, stamp_ns)
            return
        if self._last_stamp_ns is not None and stamp_ns < self._last_stamp_ns:
            # Only reachable with message_filters (our synchroniser drops these itself).
            self.stats.skip("late", now)
            self._log_late(RGB_TOPIC)
            return
        self._last_stamp_ns = stamp_ns
        self._frame_id = rgb.header.frame_id
        if rgb.header.frame_id != depth.header.frame_id:
            what = (f"RGB is in frame '{rgb.header.frame_id}' but depth in "
                    f"'{depth.header.frame_id}'")
            if not self.params.accept_frame_id_mismatch:
                self._reject("frame_id_mismatch",
                             f"{what}: depth that is not registered to the colour camera would "
                             "be tracked wrongly. Use depth aligned to colour (e.g. RealSense "
                             "aligned_depth_to_color), or set accept_frame_id_mismatch:=true "
                             "if it is registered and only named differently")
                return
            self.stats.note("frame_id_mismatch_accepted")
            self._log("frame_id_mismatch_accepted", "warning",
                      f"{what}: tracked anyway because accept_frame_id_mismatch is true (the "
                      "depth is taken as registered to colour; reported once; counted on "
                      "/diagnostics as events.frame_id_mismatch_accepted)")
        tracker = self.tracker
        if tracker is None:
            if self._build_failed:
                self.stats.skip("tracker_build", now)
            elif self._camera_info_problem is not None:
                self.stats.skip("camera_info", now)
            else:
                self.stats.skip("no_camera_info", now)
                self._log("no_camera_info", "info",
                          f"images arrive but no camera_info yet on "
                          f"{self._topic(CAMERA_INFO_TOPIC)}: waiting for it")
            return
        try:
            conv.check_pair(rgb, depth)
            conv.rgb_into(tracker.staging.rgb, rgb)
            conv.depth_into(tracker.staging.depth, depth)
            conv.check_depth_content(tracker.staging.depth, P.MAX_PLAUSIBLE_MEDIAN_DEPTH,
                                     min_median=P.MIN_PLAUSIBLE_MEDIAN_DEPTH)
        except FrameError as e:
            self._reject(getattr(e, "kind", "frame"), str(e))
            return
        self._depth_range = ic.depth_range(tracker.staging.depth)
        if self.registration.on_frame(rgb.header, stamp_ns):
            return
        if not self._has_pose:
            self.stats.skip("no_initial_pose", now)
            self._log("no_initial_pose", "info",
                      f"no initial pose yet: nothing is tracked until one arrives on "
                      f"{self._topic('~/initial_pose')} (geometry_msgs/PoseStamped, object -> "
                      "camera) or the initial_pose parameter is set")
            return
        if self._lost:
            self.stats.skip("lost", now)
            return
        first = self._frames_since_pose == 0
        self._frames_since_pose += 1
        if first and self._last_pose is not None and self._K is not None:
            diameter = self.mesh.diameter if self.mesh is not None else 0.0
            support = ic.depth_support(tracker.staging.depth, self._overlay_points,
                                       self._last_pose, self._K, max(0.05, 0.5 * diameter))
            if support <= 0.0:
                self.stats.skip("no_depth_support", now)
                lo_hi = self._depth_range
                self._declare_lost(
                    "no depth supports the object at its initial pose (the depth where it "
                    "should be is missing or farther, e.g. all at the far limit: measured "
                    f"{lo_hi[0]:.2f}..{lo_hi[1]:.2f} m, object at "
                    f"z = {self._last_pose[2, 3]:.2f} m); nothing is published")
                return
        try:
            result = tracker.track_staged()
        except PoseTrackerError as e:
            self._reject("tracker", f"tracker rejected the frame: {e}")
            return
        except Exception as e:
            self._reject("tracker_exception", f"tracker failed: {type(e).__name__}: {e}",
                         level="error")
            return
        pose = np.asarray(result.pose, dtype=np.float64).reshape(4, 4)
        quality = float(result.quality)
        latency_ms = (self.get_clock().now().nanoseconds - stamp_ns) / 1e6
        self.stats.tracked(now, latency_ms, float(result.ms), quality, age_ms=age_ms)
        self._last_result = (quality, float(result.ms))
        if first and not quality > 0.0:
            self._declare_lost("the depth supports none of the object from the first frame "
                               "(quality 0): the initial pose does not match the scene; "
                               "nothing is published")
            return
        if not self._accept(pose, quality):
            return
        self._publish(rgb.header, pose)

    def _accept(self, pose: np.ndarray, quality: float) -> bool:
        """Update the tracking state with a new result; False = do not publish it."""
        if not np.all(np.isfinite(pose)):
            self._declare_lost("the tracker returned a non-finite pose")
            return False
        diameter = self.mesh.diameter if self.mesh is not None else 0.0
        if self._last_pose is not None and diameter > 0 and self.params.max_jump > 0:
            jump = float(np.linalg.norm(pose[:3, 3] - self._last_pose[:3, 3]))
            if jump > self.params.max_jump * diameter:
                self._declare_lost(
                    f"the pose jumped {jump:.3f} m in one frame (> {self.params.max_jump:g} x "
                    f"diameter {diameter:.3f} m), more than the crop can explain")
                return False
        if quality < self.params.quality_threshold:
            self._low_quality += 1
            if self._low_quality >= self.params.lost_after_frames:
                self._declare_lost(
                    f"quality below {self.params.quality_threshold:g} for "
                    f"{self._low_quality} frames (last {quality:.2f})")
                return False
        else:
            self._low_quality = 0
        self._last_pose = pose
        return True

    def _publish(self, header, pose: np.ndarray) -> None:
        from geometry_msgs.msg import PoseStamped
        from sensor_msgs.msg import Image

        msg = PoseStamped()
        msg.header = header
        msg.pose = conv.matrix_to_pose(pose)
        self._pose_pub.publish(msg)
        self.stats.poses_published += 1
        if self.params.publish_tf and self._tf is not None:
            if header.frame_id:
                self._tf.send(conv.matrix_to_transform_stamped(
                    pose, header.frame_id, self.params.object_frame, header.stamp))
            else:
                self._log("no_frame_id", "warning",
                          "images have an empty header.frame_id: TF is not published")
        if self.params.publish_overlay and self._overlay_pub.get_subscription_count() > 0:
            box = ((self.mesh.vertices.min(0), self.mesh.vertices.max(0))
                   if self.mesh is not None and len(self.mesh.vertices) else (None, None))
            axis = 0.5 * self.mesh.diameter if self.mesh is not None else 0.0
            img = draw_overlay(self.tracker.staging.rgb, self._overlay_points, pose, self._K,
                               box[0], box[1], axis, faces=self._overlay_faces)
            out = Image()
            out.header = header
            out.height, out.width, out.step, data = conv.rgb_to_image_bytes(img)
            out.encoding = "rgb8"
            out.data = data
            self._overlay_pub.publish(out)

    # ------------------------------------------------------------------ diagnostics
    def publish_diagnostics(self) -> None:
        """Publish one diagnostic_msgs/DiagnosticArray on /diagnostics (and log a stall once)."""
        from diagnostic_msgs.msg import DiagnosticArray

        now = time.monotonic()
        stalled = diag.stall_message(self.stats, now, self.params.input_timeout)
        if stalled is not None:
            self._log("input_stalled", "warning",
                      f"{stalled} on {self._topic(RGB_TOPIC)} + {self._topic(DEPTH_TOPIC)}: "
                      "is the camera running and are the topics remapped right? Tracking "
                      "resumes with the next frames (logged once per stall)")
        status = diag.diagnostic_status(
            self.stats, self.state, now, f"{self.get_name()}: tracking",
            hardware_id=self._frame_id,
            sync_dropped=dict(self.sync.stats.dropped) if self.sync is not None else None,
            extra={"sync": self.sync_backend,
                   "tf": self._tf.backend if self._tf is not None else "off",
                   **self.registration.diagnostics()},
            input_timeout=self.params.input_timeout)
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [status]
        self._diag_pub.publish(msg)


def main(args=None) -> None:
    """Entry point of `pose_tracker_node`; exits with status 1 when it cannot start."""
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    try:
        node = PoseTrackerNode()
    except (PoseTrackerError, ValueError) as e:
        rclpy.logging.get_logger("pose_tracker").fatal(f"cannot start: {e}")
        rclpy.try_shutdown()
        raise SystemExit(1)
    except Exception as e:  # e.g. rclpy's InvalidParameterValueException
        rclpy.logging.get_logger("pose_tracker").fatal(
            f"cannot start: {type(e).__name__}: {e}")
        rclpy.try_shutdown()
        raise SystemExit(1)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
