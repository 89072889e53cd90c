# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
The tracking state machine of one object, plain Python (no ROS import).

States (`TrackingState.state`):

* `WAITING_FOR_CAMERA_INFO`: no camera yet (`set_camera` not called);
* `WAITING_FOR_POSE`: a camera, no pose (`set_pose` not called, or `clear` since);
* `TRACKING`: results are accepted and published;
* `LOST`: a rule refused a result (`accept`, `begin_frame`) or `declare_lost` was called;
  nothing is tracked until `set_pose`.

A result is refused, and the object LOST, when its pose is not finite, when it jumped farther
than `max_jump` mesh diameters from the last accepted pose, when its quality stayed below
`quality_threshold` for `lost_after_frames` frames in a row, or, on the first frame after a
pose was set, when the depth supports none of the object (before tracking: `begin_frame`;
after: quality 0). The owner (the ROS node) logs, counts and publishes; this class only decides.

Poses are object -> camera (4,4) float64, metres; K is the (3,3) intrinsics in pixels of
images of (H, W) pixels.
"""

from typing import Optional, Tuple

import numpy as np

from pose_tracker.pose_checks import depth_support, initial_pose_problem

#: Tracking states (the strings reported on /diagnostics and ~/status).
WAITING_FOR_CAMERA_INFO = "WAITING_FOR_CAMERA_INFO"
WAITING_FOR_POSE = "WAITING_FOR_INITIAL_POSE"
TRACKING = "TRACKING"
LOST = "LOST"

#: Largest distance, metres, at which a pose is plausible without a depth image.
MAX_PLAUSIBLE_DEPTH = 20.0


class TrackingState:
    """
    Whether there is a pose, whether it is LOST, and which results to accept.

    Args:
        rules: any object with the attributes `quality_threshold` (0..1), `lost_after_frames`
            (int >= 1) and `max_jump` (mesh diameters; 0 = no jump check), e.g. the node's
            `TrackerParams`. Read at every call, so changing them takes effect at once.
        diameter: the object's diameter, metres (0 = unknown: no jump check, smallest
            margins).
        center: (3,) the object's centre in its frame, metres (the point the initial pose
            checks look at); None = its origin.
        points: (N,3) sample points of the object in its frame, metres, for the depth support
            check of the first frame; None or empty = no such check.
        max_depth: farthest plausible pose without a depth image, metres.

    Attributes:
        K: (3,3) intrinsics of the current camera, None before `set_camera`.
        size: (H, W) of its images, None before `set_camera`.
        depth_range: (min, max) valid depth of the latest depth image, metres (set by the
            owner; None = no depth yet); the initial pose checks compare against it.
        has_pose: a pose was set and not cleared.
        lost: the object is LOST (only meaningful with `has_pose`).
        last_pose: (4,4) the last set or accepted pose, None without a pose.
        pending_pose: (4,4) a pose set before the camera was known, to start the tracker
            with (see `take_pending_pose`); None otherwise.
        low_quality: consecutive results below `quality_threshold`.
        frames_since_pose: frames begun since the pose was set.
    """

    def __init__(self, rules, diameter: float = 0.0, center: Optional[np.ndarray] = None,
                 points: Optional[np.ndarray] = None,
                 max_depth: float = MAX_PLAUSIBLE_DEPTH):
        self.rules = rules
        self.diameter = float(diameter)
        self.center = np.zeros(3) if center is None else np.asarray(center, np.float64)
        self.points = np.zeros((0, 3)) if points is None else np.asarray(points, np.float64)
        self.max_depth = float(max_depth)
        self.K: Optional[np.ndarray] = None
        self.size: Optional[Tuple[int, int]] = None
        self.depth_range: Optional[Tuple[float, float]] = None
        self.has_pose = False
        self.lost = False
        self.last_pose: Optional[np.ndarray] = None
        self.pending_pose: Optional[np.ndarray] = None
        self.low_quality = 0
        self.frames_since_pose = 0
        self._first = False

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> str:
        """One of WAITING_FOR_CAMERA_INFO, WAITING_FOR_POSE, LOST and TRACKING."""
        if self.K is None:
            return WAITING_FOR_CAMERA_INFO
        if not self.has_pose:
            return WAITING_FOR_POSE
        return LOST if self.lost else TRACKING

    @property
    def needs_pose(self) -> bool:
        """True when there is no pose to track from: none yet, or the object is LOST."""
        return not self.has_pose or self.lost

    def set_camera(self, K: np.ndarray, size: Tuple[int, int]) -> None:
        """
        Use a (new) camera for the pose checks.

        Args:
            K: (3,3) intrinsics, pixels.
            size: (H, W) of the images, pixels.
        """
        self.K, self.size = K, size

    # ------------------------------------------------------------------ the pose
    def pose_problem(self, T: np.ndarray) -> Optional[str]:
        """
        Why pose T cannot be a right initial pose for the current camera and depth.

        Args:
            T: (4,4) object -> camera, metres.

        Returns:
            The reason, in words, or None when T is plausible.
        """
        return initial_pose_problem(T, self.K, self.size, center=self.center,
                                    diameter=self.diameter, depth_range=self.depth_range,
                                    max_depth=self.max_depth)

    def set_pose(self, T: np.ndarray) -> np.ndarray:
        """
        Start (or restart) tracking from pose T; it is not checked here (see `pose_problem`).

        Before the camera is known the pose is also kept as `pending_pose`.

        Args:
            T: (4,4) object -> camera, metres.

        Returns:
            (4,4) float64 copy of T: the pose to reset the tracker with.
        """
        self.has_pose = True
        self.lost = False
        self.low_quality = 0
        self.frames_since_pose = 0
        self.last_pose = np.array(T, dtype=np.float64)
        self.pending_pose = self.last_pose if self.K is None else None
        return self.last_pose

    def take_pending_pose(self) -> Tuple[Optional[np.ndarray], Optional[str]]:
        """
        Take the pose set before the camera was known, now that it is (call after `set_camera`).

        Returns:
            (pose, None) with the (4,4) pose to reset the tracker with; (None, reason) when
            the pose does not fit the camera (the pose is then cleared); (None, None) when
            there was no pending pose.
        """
        pose = self.pending_pose
        if pose is None:
            return None, None
        problem = self.pose_problem(pose)
        if problem is not None:
            self.clear()
            return None, problem
        self.pending_pose = None
        return pose, None

    def clear(self) -> None:
        """Forget the pose: nothing is tracked until `set_pose`."""
        self.has_pose = False
        self.lost = False
        self.pending_pose = None
        self.last_pose = None
        self.low_quality = 0

    def declare_lost(self) -> None:
        """Mark the object LOST: nothing is tracked until `set_pose`."""
        self.lost = True

    # ------------------------------------------------------------------ frames
    def begin_frame(self, depth: np.ndarray) -> Optional[str]:
        """
        Start tracking one frame; on the first frame after `set_pose`, check the depth.

        Args:
            depth: (H,W) float32 depth of the frame, metres, 0 = no reading.

        Returns:
            None to track the frame; otherwise why the object is LOST at once (no depth
            supports the object at its initial pose), the state being LOST already.
        """
        self._first = self.frames_since_pose == 0
        self.frames_since_pose += 1
        if not self._first or self.last_pose is None or self.K is None:
            return None
        support = depth_support(depth, self.points, self.last_pose, self.K,
                                max(0.05, 0.5 * self.diameter))
        if support > 0.0:
            return None
        lo_hi = self.depth_range
        self.declare_lost()
        return ("no depth supports the object at its initial pose (the depth where it "
                "should be is missing or farther, e.g. all at the far limit: measured "
                f"{lo_hi[0]:.2f}..{lo_hi[1]:.2f} m, object at "
                f"z = {self.last_pose[2, 3]:.2f} m); nothing is published")

    def accept(self, pose: np.ndarray, quality: float) -> Optional[str]:
        """
        Update the state with the tracker's result for the frame begun last.

        Args:
            pose: (4,4) tracked pose, object -> camera, metres.
            quality: depth support of the result, 0..1.

        Returns:
            None when the result is to be published (`last_pose` is now `pose`); otherwise
            why the object is LOST (the state is LOST, nothing is to be published).
        """
        rules = self.rules
        why = None
        if self._first and not quality > 0.0:
            why = ("the depth supports none of the object from the first frame (quality 0): "
                   "the initial pose does not match the scene; nothing is published")
        elif not np.all(np.isfinite(pose)):
            why = "the tracker returned a non-finite pose"
        elif self.last_pose is not None and self.diameter > 0 and rules.max_jump > 0:
            jump = float(np.linalg.norm(pose[:3, 3] - self.last_pose[:3, 3]))
            if jump > rules.max_jump * self.diameter:
                why = (f"the pose jumped {jump:.3f} m in one frame (> {rules.max_jump:g} x "
                       f"diameter {self.diameter:.3f} m), more than the crop can explain")
        if why is None and quality < rules.quality_threshold:
            self.low_quality += 1
            if self.low_quality >= rules.lost_after_frames:
                why = (f"quality below {rules.quality_threshold:g} for {self.low_quality} "
                       f"frames (last {quality:.2f})")
        elif why is None:
            self.low_quality = 0
        if why is not None:
            self.declare_lost()
            return why
        self.last_pose = pose
        return None
