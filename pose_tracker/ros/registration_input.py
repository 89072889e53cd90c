# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
The node's registration input: ``~/mask`` images, the ``~/register`` service, auto_register.

A mask (``sensor_msgs/Image``, mono8 or 8UC1, the RGB's size, non-zero = object, from any
segmenter) is paired with an RGB-D frame by stamp (within ``sync_slop``), whichever arrives first:
a segmenter's mask usually comes after its frame, so while a registration is wanted the last
``FRAME_QUEUE`` frames are kept (copies) until their mask arrives. Registration
(`pose_tracker.registration.Registrar`) runs on a frame that has a mask when ``~/register`` was
called, or, with ``auto_register``, while there is no pose or the object is LOST. The registered
pose must pass the tracking acceptance test (finite, depth support >= ``quality_threshold``)
before the node tracks from it and publishes it; a low score is logged, not published.

Bad masks (other encoding or size, empty, no valid depth inside, far older than the frame) are
reported once per kind through the node's ``_reject`` (counted on /diagnostics); the frame is
skipped and the node keeps running. No rclpy import at module level: the logic is testable with
plain objects.
"""

from collections import deque
import time
from typing import Callable, Deque, Optional, Tuple

import numpy as np

from pose_tracker.errors import FrameError

#: Mask encodings accepted on ~/mask (one byte per pixel).
MASK_ENCODINGS = ("mono8", "8UC1")
#: A mask older than the frame by more than this (seconds) is stale: reported, not used.
MASK_MAX_AGE_S = 0.5
#: Masks kept while waiting for their frame.
MASK_QUEUE = 10
#: Frames kept (only while a registration is wanted) while waiting for their mask.
FRAME_QUEUE = 5


def mask_from_image(msg, size: Tuple[int, int]) -> np.ndarray:
    """
    Decode a mask image into an (H,W) bool array (non-zero = object).

    Args:
        msg: sensor_msgs/Image-like (encoding, height, width, step, data).
        size: (H, W) of the RGB images.

    Raises:
        FrameError: with ``kind`` "mask_encoding" or "mask_size".
    """
    if msg.encoding not in MASK_ENCODINGS:
        raise _kind(FrameError(f"mask encoding '{msg.encoding}' is not one of "
                               f"{MASK_ENCODINGS} (one byte per pixel, non-zero = object)"),
                    "mask_encoding")
    H, W = size
    if (int(msg.height), int(msg.width)) != (H, W):
        raise _kind(FrameError(f"mask is {msg.width}x{msg.height} but the RGB images are "
                               f"{W}x{H}: masks must have the RGB's size"), "mask_size")
    step = int(msg.step) or W
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if step < W or data.size < step * H:
        raise _kind(FrameError(f"mask data holds {data.size} bytes, expected {step * H} "
                               f"(step {step} x height {H})"), "mask_size")
    return data[:step * H].reshape(H, step)[:, :W] != 0


def _kind(err: FrameError, kind: str) -> FrameError:
    err.kind = kind
    return err


def default_registrar_factory(tracker):
    """`pose_tracker.registration.Registrar` for the node's tracker (imported lazily)."""
    from pose_tracker.registration import Registrar

    return Registrar(tracker)


class RegistrationInput:
    """
    Masks, the register request and the auto_register decision of one node.

    Args:
        node: the `pose_tracker.ros.node.PoseTrackerNode` (its params, tracker, tracking
            state, stats, ``_reject``, ``_set_pose``, ``_publish`` and logger are used).
        registrar_factory: ``tracker -> registrar`` with ``register(rgb, depth, mask)``
            returning a `pose_tracker.registration.RegistrationResult`-like object.
    """

    def __init__(self, node, registrar_factory: Callable = default_registrar_factory):
        self.node = node
        self._factory = registrar_factory
        self._registrar = None
        self._registrar_tracker = None
        self._masks: Deque = deque(maxlen=MASK_QUEUE)
        self._frames: Deque = deque(maxlen=FRAME_QUEUE)
        self.requested = False
        self.runs = 0
        self.accepted = 0
        self.last: Optional[dict] = None

    # ------------------------------------------------------------------ ROS plumbing
    def attach(self) -> None:
        """Create the ``~/mask`` subscription and the ``~/register`` service on the node."""
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image
        from std_srvs.srv import Trigger

        self._sub = self.node.create_subscription(Image, "~/mask", self.on_mask,
                                                  qos_profile_sensor_data)
        self._srv = self.node.create_service(Trigger, "~/register", self.on_register)

    def on_mask(self, msg) -> None:
        """Register on a kept frame with this mask's stamp, else queue it for its frame."""
        from pose_tracker.ros import conversions as conv

        stamp = conv.stamp_to_ns(msg.header.stamp)
        slop = int(self.node.params.sync_slop * 1e9)
        match = [f for f in self._frames if abs(f[0] - stamp) <= slop]
        if not match or not self.wanted() or self.node.tracker is None:
            self._masks.append((stamp, msg))
            return
        frame = min(match, key=lambda f: abs(f[0] - stamp))
        self._frames.clear()
        _, header, rgb, depth = frame
        try:
            mask = self._decode(msg)
        except FrameError as e:
            self.node._reject(e.kind, f"registration: {e}")
            return
        self._run(header, mask, rgb, depth)

    def on_register(self, request, response):
        """``~/register``: register on the next frame that has a mask."""
        self.requested = True
        response.success = True
        response.message = "registration requested: it runs on the next frame with a mask"
        self.node.get_logger().info("register: " + response.message)
        return response

    # ------------------------------------------------------------------ the decision
    def wanted(self) -> bool:
        """Whether the current frame should be registered (requested, or auto and no pose)."""
        node = self.node
        auto = bool(node.params.auto_register) and node.tracking.needs_pose
        return self.requested or auto

    def take_mask(self, stamp_ns: int):
        """Return the queued mask paired with a frame stamp, or None; raises when stale."""
        slop = int(self.node.params.sync_slop * 1e9)
        best = None
        for stamp, msg in self._masks:
            if abs(stamp - stamp_ns) <= slop and (
                    best is None or abs(stamp - stamp_ns) < abs(best[0] - stamp_ns)):
                best = (stamp, msg)
        if best is not None:
            return best[1]
        if self._masks:
            newest = max(s for s, _ in self._masks)
            if stamp_ns - newest > MASK_MAX_AGE_S * 1e9:
                raise _kind(FrameError(
                    f"the newest mask is {(stamp_ns - newest) / 1e9:.2f} s older than the frame "
                    f"(more than {MASK_MAX_AGE_S} s): is the segmenter keeping up, and does it "
                    "copy the image stamps?"), "mask_stale")
        return None

    def _decode(self, msg) -> np.ndarray:
        """(H,W) bool mask of a message; raises FrameError (with ``kind``) when unusable."""
        mask = mask_from_image(msg, self.node.tracking.size)
        if not mask.any():
            raise _kind(FrameError("the mask is empty (no non-zero pixel)"), "mask_empty")
        return mask

    def on_frame(self, header, stamp_ns: int) -> bool:
        """
        Register on the staged frame if wanted and a mask is paired; True = frame consumed.

        Without a mask yet, a copy of the frame is kept for a mask that arrives later.
        """
        if not self.wanted():
            self._frames.clear()
            return False
        node = self.node
        staging = node.tracker.staging
        try:
            msg = self.take_mask(stamp_ns)
            if msg is None:
                self._frames.append((stamp_ns, header, staging.rgb.copy(),
                                     staging.depth.copy()))
                return False
            mask = self._decode(msg)
        except FrameError as e:
            node._reject(e.kind, f"registration: {e}")
            return True
        self._run(header, mask, staging.rgb, staging.depth)
        return True

    def _run(self, header, mask: np.ndarray, rgb: np.ndarray, depth: np.ndarray) -> None:
        """
        Register one frame, apply the acceptance test, start tracking and publish on success.

        Args:
            header: the frame's std_msgs/Header (of the published pose).
            mask: (H,W) bool.
            rgb: (H,W,3) uint8.
            depth: (H,W) float32 metres.
        """
        from pose_tracker.registration import RegistrationError

        node = self.node
        tracker = node.tracker
        if self._registrar is None or self._registrar_tracker is not tracker:
            self._registrar = self._factory(tracker)
            self._registrar_tracker = tracker
        self.requested = False
        t0 = time.perf_counter()
        try:
            result = self._registrar.register(rgb, depth, mask)
        except RegistrationError as e:
            kind = "mask_empty" if "empty" in str(e) else "mask_no_depth"
            node._reject(kind, f"registration: {e}")
            return
        ms = (time.perf_counter() - t0) * 1e3
        self.runs += 1
        pose = np.asarray(result.pose, dtype=np.float64).reshape(4, 4)
        ok = bool(np.all(np.isfinite(pose))) and result.support >= node.params.quality_threshold
        self.last = {"score": float(result.score), "support": float(result.support),
                     "ms": ms, "accepted": ok, "hypotheses": int(result.hypotheses)}
        text = (f"registration ran: score {result.score:.3f} (depth support "
                f"{result.support:.3f}, IoU {result.iou:.3f}), {result.hypotheses} hypotheses "
                f"in {ms / 1e3:.2f} s")
        if not ok:
            node._reject("registration_low_score",
                         f"{text}: below quality_threshold {node.params.quality_threshold:g}, "
                         "not published; retrying on the next frame with a mask")
            return
        self.accepted += 1
        node.get_logger().info(text + ": accepted")
        node._set_pose(pose, "registration")
        node._publish(header, pose)

    def diagnostics(self) -> dict:
        """Key/values for /diagnostics: runs, accepted, last score and time."""
        out = {"registrations": str(self.runs), "registrations_accepted": str(self.accepted),
               "auto_register": str(bool(self.node.params.auto_register))}
        if self.last is not None:
            out.update(last_registration_score=f"{self.last['score']:.3f}",
                       last_registration_support=f"{self.last['support']:.3f}",
                       last_registration_ms=f"{self.last['ms']:.1f}",
                       last_registration_accepted=str(self.last["accepted"]))
        return out
