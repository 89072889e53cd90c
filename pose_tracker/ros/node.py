# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
ROS 2 node `pose_tracker_node`: RGB-D in, object pose out.

Subscribes (relative names, remap them; sensor-data QoS):

* `rgb/image_raw` (sensor_msgs/Image: rgb8, bgr8, rgba8, bgra8 or mono8),
* `depth/image_raw` (sensor_msgs/Image: 16UC1 or mono16 mm, or 32FC1 m, registered to the
  colour camera),
* `rgb/camera_info` (sensor_msgs/CameraInfo of the colour camera; `k` is used, or the left 3x3
  of `p` for a rectified image topic; adjusted for binning / ROI),
* `~/initial_pose` (geometry_msgs/PoseStamped, object -> camera; another frame than the images'
  is transformed through TF when tf2_ros is installed, otherwise refused).

Publishes `~/pose` (geometry_msgs/PoseStamped, header = the RGB image's), /tf (image frame ->
object_frame), `~/marker` (visualization_msgs/Marker of the mesh, latched), `~/overlay`
(sensor_msgs/Image rgb8, optional), /diagnostics (1 Hz) and `~/status`
(diagnostic_msgs/DiagnosticStatus, one per synchronised frame: see `publish_frame_status`).
Service `~/reset` (std_srvs/Trigger) forgets the pose. RGB and depth are matched by approximate
time (`pose_tracker.ros.sync.make_image_sync`: message_filters when installed, otherwise our
own synchroniser); camera_info is not synchronised: its latest value is used. Under load the
newest synchronised pair is tracked and older queued ones are dropped (`drop_stale_frames`).
Quietly wrong input (RGB/depth frame_ids, stamps, camera_info, initial poses) is checked with
`pose_tracker.ros.input_checks`; each finding is logged once and counted on /diagnostics.

The tracking state (pose set, cleared, LOST; which results are accepted) is the core's
`pose_tracker.tracking_state.TrackingState`; this node feeds it and logs, counts and publishes.
The tracker is built by a factory (see `pose_tracker.ros.tracker_setup.TrackerSetup`), so tests
run the node with a fake.
"""

import functools
import time
from typing import Optional

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)

from pose_tracker.errors import FrameError, PoseTrackerError
from pose_tracker.overlay import draw_pose, subsample_points
from pose_tracker.pose_checks import depth_range
from pose_tracker.ros import conversions as conv
from pose_tracker.ros import diagnostics as diag
from pose_tracker.ros import input_checks as ic
from pose_tracker.ros import node_parameters as NP
from pose_tracker.ros.markers import mesh_marker
from pose_tracker.ros.once_log import OnceLog
from pose_tracker.ros.registration_input import default_registrar_factory, RegistrationInput
from pose_tracker.ros.sync import make_image_sync
from pose_tracker.ros.tf_publisher import TfPublisher
from pose_tracker.ros.tracker_setup import default_tracker_factory, TrackerFactory
from pose_tracker.tracking_state import TrackingState

#: Input topics (relative: they follow the node's namespace and remappings).
RGB_TOPIC = "rgb/image_raw"
DEPTH_TOPIC = "depth/image_raw"
CAMERA_INFO_TOPIC = "rgb/camera_info"
IMAGE_TOPICS = (RGB_TOPIC, DEPTH_TOPIC)
#: A stamp this much older than the newest one on its topic is a restart (bag loop), seconds.
TIME_JUMP_S = 1.0
#: Colour (RGB uint8) of the object's outline and box on ~/overlay (axes: x red, y green, z blue).
OVERLAY_RGB = (0, 255, 0)


def _make_tf_buffer(node):
    """Return a tf2_ros Buffer fed by a TransformListener, or None without tf2_ros."""
    try:
        from tf2_ros import Buffer, TransformListener
    except ImportError:
        return None
    buffer = Buffer()
    node._tf_listener = TransformListener(buffer, node)
    return buffer


class PoseTrackerNode(Node):
    """
    The pose tracker node.

    Args:
        tracker_factory: `factory(params) -> TrackerSetup`; None = `default_tracker_factory`
            (real mesh, weights and `pose_tracker.tracker.Tracker`).
        node_name: default node name (remappable with `__node:=`).
        use_message_filters: use message_filters' synchroniser when it is installed; False
            always uses `pose_tracker.ros.sync`.
        registrar_factory: `tracker -> registrar` for `~/mask` registration; None = the real
            `pose_tracker.registration.Registrar`.
        **node_kwargs: passed to `rclpy.node.Node` (context, namespace, parameter_overrides,
            ...).

    Attributes:
        params: the `TrackerParams` (run-time changes are applied to it).
        tracking: the `TrackingState` (pose, LOST, camera).
        tracker: the tracker, None until the first valid camera_info.
        sync: the `pose_tracker.ros.sync.ImageSync` of the RGB and depth subscriptions.
        stats: the `NodeStats` reported on /diagnostics.
        log_once: the `OnceLog` of the findings (each kind logged once).
        tf_publisher: the /tf `TfPublisher`, None while publish_tf is false.
        tf_buffer: tf2_ros Buffer for initial poses in other frames, None without tf2_ros.

    Raises:
        ValueError: an invalid parameter value.
        PoseTrackerError: the factory could not load the mesh, the weights or the device.
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
        self.log_once = OnceLog(self.get_logger())
        self.params = NP.declare(self)
        self._load_tracker_setup(factory)
        self._init_frame_state()
        self._create_publishers()
        # Created before the image subscriptions: the executor serves ready subscriptions in
        # creation order, so a camera_info that arrives with the first images builds the
        # tracker before that frame is processed (else the first frame is dropped).
        self._create_inputs(use_message_filters)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        if self.params.publish_marker and self.mesh is not None:
            self._marker_pub.publish(mesh_marker(self.mesh, self.params.object_frame))
        self._apply_initial_pose_parameter()
        self._log_ready()

    def _load_tracker_setup(self, factory: TrackerFactory) -> None:
        """Run the factory (mesh, weights); set up the mesh's overlay points and the state."""
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
        center = (0.5 * (self.mesh.vertices.min(0) + self.mesh.vertices.max(0))
                  if has_mesh else np.zeros(3))
        self.tracking = TrackingState(
            self.params, diameter=self.mesh.diameter if self.mesh is not None else 0.0,
            center=center, points=self._overlay_points,
            max_depth=NP.MAX_PLAUSIBLE_MEDIAN_DEPTH)

    def _init_frame_state(self) -> None:
        """Set up what the node remembers between frames, besides the tracking state."""
        self.tracker = None
        self._camera_info_problem: Optional[str] = None
        self._build_failed = False
        self._last_stamp_ns: Optional[int] = None
        self._frame_id = ""
        self._info_frame_id = ""
        self._topic_stamps = [None, None]  # last header stamp per image topic, ns
        self._pending_pair = None
        self._draining = False
        self._last_result = None
        self.stats = diag.NodeStats(started_s=time.monotonic())
        mode = self.params.image_rectified
        self.rectified = (ic.is_rectified_topic(self._topic(RGB_TOPIC)) if mode == "auto"
                          else mode == "true")
        self.tf_buffer = _make_tf_buffer(self)

    def _create_publishers(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
        from geometry_msgs.msg import PoseStamped
        from sensor_msgs.msg import Image
        from visualization_msgs.msg import Marker

        self._reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                                    history=HistoryPolicy.KEEP_LAST)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             history=HistoryPolicy.KEEP_LAST,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._pose_pub = self.create_publisher(PoseStamped, "~/pose", self._reliable)
        self._overlay_pub = self.create_publisher(
            Image, "~/overlay", QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE))
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", self._reliable)
        self._status_pub = self.create_publisher(DiagnosticStatus, "~/status", self._reliable)
        self._marker_pub = self.create_publisher(Marker, "~/marker", latched)
        self.tf_publisher = TfPublisher(self) if self.params.publish_tf else None

    def _create_inputs(self, use_message_filters: bool) -> None:
        """Subscriptions (camera_info first, then the synchronised images), services, timer."""
        from geometry_msgs.msg import PoseStamped
        from sensor_msgs.msg import CameraInfo, Image
        from std_srvs.srv import Trigger

        self._info_sub = self.create_subscription(
            CameraInfo, CAMERA_INFO_TOPIC, self.on_camera_info, qos_profile_sensor_data)
        self.sync = make_image_sync(
            self, Image, IMAGE_TOPICS, qos_profile_sensor_data, self.params.sync_queue_size,
            self.params.sync_slop, self._on_pair, self._on_time_jump,
            screen=self._stamp_problem, on_late=lambda i: self._log_late(IMAGE_TOPICS[i]),
            loop_threshold=TIME_JUMP_S, use_message_filters=use_message_filters)
        self._pose_sub = self.create_subscription(
            PoseStamped, "~/initial_pose", self.on_initial_pose, self._reliable)
        self._reset_srv = self.create_service(Trigger, "~/reset", self._on_reset)
        # ~/mask, ~/register and auto_register (pose_tracker.ros.registration_input).
        self.registration = RegistrationInput(self, self._registrar_factory)
        self.registration.attach()
        self._diag_timer = self.create_timer(1.0, self.publish_diagnostics)

    def _apply_initial_pose_parameter(self) -> None:
        """Start from the initial_pose parameter when set; ValueError when it is implausible."""
        if self.params.initial_pose is None:
            return
        T = conv.pose_from_list(self.params.initial_pose)
        problem = self.tracking.pose_problem(T)
        if problem is not None:
            raise ValueError(f"parameter initial_pose is refused: {problem}")
        self._set_pose(T, "initial_pose parameter")

    def _log_ready(self) -> None:
        tf = self.tf_publisher
        self.get_logger().info(
            f"pose tracker ready: waiting for {self._topic(RGB_TOPIC)}, "
            f"{self._topic(DEPTH_TOPIC)}, {self._topic(CAMERA_INFO_TOPIC)} "
            f"(sync: {self.sync.backend}, slop {self.params.sync_slop} s, "
            f"TF: {tf.backend if tf else 'off'}, intrinsics: "
            f"{'P (rectified image)' if self.rectified else 'K (raw image)'}; per-frame status "
            f"on {self._topic('~/status')})")

    def _topic(self, name: str) -> str:
        return self.resolve_topic_name(name)

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> str:
        """Tracking state, one of the `pose_tracker.tracking_state` states."""
        return self.tracking.state

    def _set_pose(self, T: np.ndarray, source: str) -> None:
        """Start (or restart) tracking from pose T (object -> camera, metres)."""
        pose = self.tracking.set_pose(T)
        self.log_once.clear("no_initial_pose")
        if self.tracker is not None:
            self.tracker.reset(pose)
        t = pose[:3, 3]
        self.get_logger().info(
            f"initial pose from {source}: t = [{t[0]:.3f}, {t[1]:.3f}, {t[2]:.3f}] m; tracking")

    def _refuse_pose(self, source: str, reason: str) -> None:
        self.stats.note("initial_pose_refused")
        self.get_logger().warning(f"initial pose from {source} refused: {reason}. Nothing is "
                                  "tracked from it; send a corrected one (counted on "
                                  "/diagnostics as events.initial_pose_refused)")

    def clear_pose(self) -> None:
        """Forget the pose: nothing is tracked until a new initial pose arrives."""
        self.tracking.clear()
        self.log_once.clear("no_initial_pose")

    def _report_lost(self, why: str) -> None:
        """Log that the object is LOST (the tracking state says so already)."""
        self.get_logger().warning(
            f"object LOST: {why}. Pose publishing stopped until a new initial pose arrives on "
            f"{self._topic('~/initial_pose')} (or the initial_pose parameter is set).")

    def _reject(self, kind: str, message: str, level: str = "warning") -> None:
        """Skip the current frame for `kind`, logging the first occurrence only."""
        self.stats.skip(kind, time.monotonic())
        self.log_once(kind, level, f"{message} -- skipping such frames (reported once; counted "
                                   "on /diagnostics)")

    # ------------------------------------------------------------------ callbacks
    def _stamp_problem(self, index: int, stamp_ns: int) -> bool:
        """Drop (True) a message whose stamp is zero or repeats the previous one on its topic."""
        topic = self._topic(IMAGE_TOPICS[index])
        if stamp_ns == 0:
            self.stats.skip("stamp_zero", time.monotonic())
            self.log_once(
                "stamp_zero", "warning",
                f"header.stamp is zero on {topic}: the camera driver does not stamp its "
                "images, so RGB and depth cannot be matched by time nor latency measured. "
                "Fix the driver (or the bag) to fill header.stamp; such messages are "
                "dropped (reported once; counted on /diagnostics as skipped.stamp_zero)")
            return True
        if stamp_ns == self._topic_stamps[index]:
            self.stats.skip("stamp_repeated", time.monotonic())
            self.log_once(
                "stamp_repeated", "warning",
                f"the same header.stamp ({stamp_ns / 1e9:.6f} s) came twice in a row on "
                f"{topic}: the driver repeats stamps (frozen clock, or each image "
                "published twice); the repeat is dropped (reported once; counted on "
                "/diagnostics as skipped.stamp_repeated)")
            return True
        self._topic_stamps[index] = stamp_ns
        return False

    def _log_late(self, topic: str) -> None:
        self.log_once("late", "warning",
                      f"a message on {self._topic(topic)} is not newer than the last processed "
                      "frame (out-of-order delivery): dropped (reported once; counted on "
                      "/diagnostics)")

    def _on_time_jump(self, index: int, stamp_ns: int, newest_ns: int) -> None:
        self.stats.skip("time_backwards", time.monotonic())
        self._last_stamp_ns = None
        self.log_once(
            "time_backwards", "warning",
            f"time went backwards by {(newest_ns - stamp_ns) / 1e9:.2f} s on "
            f"{self._topic(IMAGE_TOPICS[index])} (bag played in a loop? driver restart?): "
            "synchroniser reset; tracking restarts from the initial_pose parameter if set, "
            "else the object is LOST (reported once; counted on /diagnostics)")
        # The pose tracked so far belongs to the old stream: restart from the configured
        # initial pose (a looping bag starts where it started), or stop publishing.
        if not self.tracking.has_pose:
            return
        if self.params.initial_pose is not None:
            self._set_pose(conv.pose_from_list(self.params.initial_pose),
                           "initial_pose parameter (the stream restarted)")
        elif not self.tracking.lost:
            self.tracking.declare_lost()
            self._report_lost("time went backwards (the stream restarted), so the tracked "
                              "pose no longer applies")

    def on_camera_info(self, msg) -> None:
        """Handle one sensor_msgs/CameraInfo: build the tracker, or follow a camera change."""
        try:
            K, size, notes = ic.intrinsics(msg, self.rectified)
        except FrameError as e:
            self._camera_info_problem = str(e)
            self.log_once(getattr(e, "kind", "camera_info"), "warning",
                          f"{e} -- ignoring camera_info (reported once)")
            return
        self._camera_info_problem = None
        self._info_frame_id = msg.header.frame_id
        for kind, text in notes:
            self.stats.note("camera_info." + kind)
            self.log_once("camera_info." + kind, "warning",
                          f"{text} (reported once; counted on /diagnostics as "
                          f"events.camera_info.{kind})")
        if self.tracker is None:
            if not self._build_failed:
                self._build_tracker(K, size)
            return
        if size != self.tracking.size or not np.allclose(K, self.tracking.K, rtol=1e-6,
                                                         atol=1e-6):
            try:
                self.tracker.set_camera(K, size)
            except Exception as e:
                self.log_once("set_camera", "error", f"cannot switch the tracker to the new "
                                                     f"camera_info: {e}")
                return
            self.get_logger().info(f"camera_info changed: now {size[1]}x{size[0]}, "
                                   f"fx={K[0, 0]:.1f} fy={K[1, 1]:.1f}")
            self.tracking.set_camera(K, size)

    def _build_tracker(self, K: np.ndarray, size) -> None:
        """Build the tracker for the first valid camera_info; start from a pending pose."""
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
            self.log_once("tracker_build", "error",
                          f"cannot build the tracker for K={K.tolist()}, size "
                          f"{size[1]}x{size[0]}: {type(e).__name__}: {e} -- no frame will be "
                          "tracked; fix the cause and restart the node")
            return
        self.tracking.set_camera(K, size)
        self.get_logger().info(f"tracker ready for {size[1]}x{size[0]} images in "
                               f"{time.monotonic() - t0:.1f} s, fx={K[0, 0]:.1f} "
                               f"fy={K[1, 1]:.1f} ({'P' if self.rectified else 'K'})")
        pose, problem = self.tracking.take_pending_pose()
        if problem is not None:
            self._refuse_pose("before camera_info", problem)
            self.log_once.clear("no_initial_pose")
        elif pose is not None:
            self.tracker.reset(pose)

    def on_initial_pose(self, msg) -> None:
        """Handle one geometry_msgs/PoseStamped on ~/initial_pose: check it, track from it."""
        try:
            T = conv.pose_to_matrix(msg.pose)
        except FrameError as e:
            self.log_once("initial_pose_invalid", "warning", f"ignoring initial pose: {e}")
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
        problem = self.tracking.pose_problem(T)
        if problem is not None:
            self._refuse_pose(source, problem)
            return
        self._set_pose(T, source)

    def _lookup(self, target: str, source: str, stamp):
        """(T target <- source (4,4), None), or (None, why not) when TF cannot say."""
        if self.tf_buffer is None:
            return None, "tf2_ros is not installed, so it cannot be transformed"
        from rclpy.duration import Duration
        from rclpy.time import Time

        try:
            when = Time.from_msg(stamp) if conv.stamp_to_ns(stamp) else Time()
            tf = self.tf_buffer.lookup_transform(target, source, when,
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
            reason = NP.validate(p.name, value)
            if reason is None and p.name == "initial_pose" and value is not None:
                problem = self.tracking.pose_problem(conv.pose_from_list(value))
                reason = None if problem is None else f"initial_pose is refused: {problem}"
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters) -> None:
        for p in parameters:
            if p.name not in NP.PARAMETERS_BY_NAME:
                continue
            value = p.value
            if p.name == "initial_pose":
                value = tuple(float(v) for v in value) if value is not None else None
                setattr(self.params, p.name, value)
                if value is not None:
                    self._set_pose(conv.pose_from_list(value), "initial_pose parameter")
                continue
            setattr(self.params, p.name, value)
            if p.name == "publish_tf" and value and self.tf_publisher is None:
                self.tf_publisher = TfPublisher(self)

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
                self.log_once(
                    "stale", "info",
                    "frames arrive faster than they are tracked: the newest synchronised "
                    "pair is tracked and older queued ones are dropped (reported once; "
                    "counted on /diagnostics as skipped.stale; frame_age_ms says how old "
                    "the tracked frames are)")
            self._pending_pair = (rgb, depth)
            return
        if not self.params.drop_stale_frames:
            self.process_frame(rgb, depth)
            return
        self._pending_pair = (rgb, depth)
        self._draining = True
        try:
            self.sync.drain()
        finally:
            self._draining = False
        pair, self._pending_pair = self._pending_pair, None
        self.process_frame(*pair)

    def process_frame(self, rgb, depth) -> None:
        """
        Process one synchronised RGB-D pair and publish its status on ~/status.

        Args:
            rgb: the sensor_msgs/Image of the colour camera.
            depth: the sensor_msgs/Image of the depth, registered to the colour camera.
        """
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
        now = time.monotonic()
        self._note_frame_arrived(now)
        stamp_ns = conv.stamp_to_ns(rgb.header.stamp)
        if not self._stamp_in_order(stamp_ns, now):
            return
        self._last_stamp_ns = stamp_ns
        self._frame_id = rgb.header.frame_id
        if not self._frame_ids_match(rgb, depth):
            return
        tracker = self._tracker_or_skip(now)
        if tracker is None or not self._stage(tracker, rgb, depth):
            return
        if self.registration.on_frame(rgb.header, stamp_ns):
            return
        if not self._has_pose_to_track(now):
            return
        why = self.tracking.begin_frame(tracker.staging.depth)
        if why is not None:
            self.stats.skip("no_depth_support", now)
            self._report_lost(why)
            return
        result = self._run_tracker(tracker)
        if result is None:
            return
        pose = np.asarray(result.pose, dtype=np.float64).reshape(4, 4)
        quality = float(result.quality)
        latency_ms = (self.get_clock().now().nanoseconds - stamp_ns) / 1e6
        self.stats.tracked(now, latency_ms, float(result.ms), quality, age_ms=age_ms)
        self._last_result = (quality, float(result.ms))
        why = self.tracking.accept(pose, quality)
        if why is not None:
            self._report_lost(why)
            return
        self._publish(rgb.header, pose)

    def _note_frame_arrived(self, now: float) -> None:
        """Count the pair; say once that frames are back after a stall."""
        self.stats.frames_received += 1
        if self.log_once.clear("input_stalled"):
            gap = now - (self.stats.last_frame_s or self.stats.started_s or now)
            self.get_logger().info(f"RGB-D frames are back after {gap:.1f} s without input")
        self.stats.last_frame_s = now

    def _stamp_in_order(self, stamp_ns: int, now: float) -> bool:
        """Check the stamp: False (skipped, said) when zero, repeated or older than the last."""
        if stamp_ns == 0:
            # Only reachable with message_filters (our synchroniser path drops these itself).
            self._stamp_problem(0, 0)
            return False
        if self._last_stamp_ns is not None and stamp_ns == self._last_stamp_ns:
            # A pair with the stamp of the last one (message_filters, or direct calls).
            self._topic_stamps[0] = stamp_ns
            self._stamp_problem(0, stamp_ns)
            return False
        if self._last_stamp_ns is not None and stamp_ns < self._last_stamp_ns:
            # Only reachable with message_filters (our synchroniser drops these itself).
            self.stats.skip("late", now)
            self._log_late(RGB_TOPIC)
            return False
        return True

    def _frame_ids_match(self, rgb, depth) -> bool:
        """Check the frame_ids: False (skipped, said) when they differ and that is refused."""
        if rgb.header.frame_id == depth.header.frame_id:
            return True
        what = (f"RGB is in frame '{rgb.header.frame_id}' but depth in "
                f"'{depth.header.frame_id}'")
        if not self.params.accept_frame_id_mismatch:
            self._reject("frame_id_mismatch",
                         f"{what}: depth that is not registered to the colour camera would "
                         "be tracked wrongly. Use depth aligned to colour (e.g. RealSense "
                         "aligned_depth_to_color), or set accept_frame_id_mismatch:=true "
                         "if it is registered and only named differently")
            return False
        self.stats.note("frame_id_mismatch_accepted")
        self.log_once("frame_id_mismatch_accepted", "warning",
                      f"{what}: tracked anyway because accept_frame_id_mismatch is true (the "
                      "depth is taken as registered to colour; reported once; counted on "
                      "/diagnostics as events.frame_id_mismatch_accepted)")
        return True

    def _tracker_or_skip(self, now: float):
        """Return the tracker, or None (frame skipped, said) while there is none."""
        if self.tracker is not None:
            return self.tracker
        if self._build_failed:
            self.stats.skip("tracker_build", now)
        elif self._camera_info_problem is not None:
            self.stats.skip("camera_info", now)
        else:
            self.stats.skip("no_camera_info", now)
            self.log_once("no_camera_info", "info",
                          f"images arrive but no camera_info yet on "
                          f"{self._topic(CAMERA_INFO_TOPIC)}: waiting for it")
        return None

    def _stage(self, tracker, rgb, depth) -> bool:
        """Convert the pair into the tracker's staging buffers; False (rejected) when bad."""
        try:
            conv.check_pair(rgb, depth)
            conv.rgb_into(tracker.staging.rgb, rgb)
            conv.depth_into(tracker.staging.depth, depth)
            conv.check_depth_content(tracker.staging.depth, NP.MAX_PLAUSIBLE_MEDIAN_DEPTH,
                                     min_median=NP.MIN_PLAUSIBLE_MEDIAN_DEPTH)
        except FrameError as e:
            self._reject(getattr(e, "kind", "frame"), str(e))
            return False
        self.tracking.depth_range = depth_range(tracker.staging.depth)
        return True

    def _has_pose_to_track(self, now: float) -> bool:
        """Check that there is a pose to track from: False (skipped) without one or when LOST."""
        if not self.tracking.has_pose:
            self.stats.skip("no_initial_pose", now)
            self.log_once("no_initial_pose", "info",
                          f"no initial pose yet: nothing is tracked until one arrives on "
                          f"{self._topic('~/initial_pose')} (geometry_msgs/PoseStamped, object "
                          "-> camera) or the initial_pose parameter is set")
            return False
        if self.tracking.lost:
            self.stats.skip("lost", now)
            return False
        return True

    def _run_tracker(self, tracker):
        """Track the staged frame: the result, or None (rejected, said) when the tracker fails."""
        try:
            return tracker.track_staged()
        except PoseTrackerError as e:
            self._reject("tracker", f"tracker rejected the frame: {e}")
        except Exception as e:
            self._reject("tracker_exception", f"tracker failed: {type(e).__name__}: {e}",
                         level="error")
        return None

    def _publish(self, header, pose: np.ndarray) -> None:
        from geometry_msgs.msg import PoseStamped
        from sensor_msgs.msg import Image

        msg = PoseStamped()
        msg.header = header
        msg.pose = conv.matrix_to_pose(pose)
        self._pose_pub.publish(msg)
        self.stats.poses_published += 1
        if self.params.publish_tf and self.tf_publisher is not None:
            if header.frame_id:
                self.tf_publisher.send(conv.matrix_to_transform_stamped(
                    pose, header.frame_id, self.params.object_frame, header.stamp))
            else:
                self.log_once("no_frame_id", "warning",
                              "images have an empty header.frame_id: TF is not published")
        if self.params.publish_overlay and self._overlay_pub.get_subscription_count() > 0:
            box = ((self.mesh.vertices.min(0), self.mesh.vertices.max(0))
                   if self.mesh is not None and len(self.mesh.vertices) else None)
            axis = 0.5 * self.mesh.diameter if self.mesh is not None else 0.0
            img = draw_pose(self.tracker.staging.rgb, pose, self.tracking.K,
                            self._overlay_points, self._overlay_faces, OVERLAY_RGB, box, axis)
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
            self.log_once("input_stalled", "warning",
                          f"{stalled} on {self._topic(RGB_TOPIC)} + {self._topic(DEPTH_TOPIC)}: "
                          "is the camera running and are the topics remapped right? Tracking "
                          "resumes with the next frames (logged once per stall)")
        status = diag.diagnostic_status(
            self.stats, self.state, now, f"{self.get_name()}: tracking",
            hardware_id=self._frame_id,
            sync_dropped=self.sync.dropped,
            extra={"sync": self.sync.backend,
                   "tf": self.tf_publisher.backend if self.tf_publisher is not None else "off",
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
