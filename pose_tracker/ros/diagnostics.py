# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Run-time statistics of the node and their /diagnostics message.

`NodeStats` is plain Python (testable without ROS): the node feeds it, and once a second
`diagnostic_status` turns a snapshot into a `diagnostic_msgs/DiagnosticStatus`.
"""

from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Dict, Optional, Tuple

# Tracking states reported by the node (`pose_tracker.tracking_state`), re-exported.
from pose_tracker.tracking_state import (LOST, TRACKING,  # noqa: F401
                                         WAITING_FOR_CAMERA_INFO, WAITING_FOR_POSE)

#: Skip reasons that are states, not bad input.
BENIGN_SKIPS = ("no_camera_info", "no_initial_pose", "lost", "late", "stale")


@dataclass
class NodeStats:
    """
    Counters and recent timings of the node.

    Attributes:
        frames_received: synchronised RGB-D pairs given to the node.
        frames_tracked: pairs that went through the tracker.
        poses_published: poses published.
        skipped: frames skipped, by reason (e.g. "encoding", "no_initial_pose", "depth_units").
        window_s: length of the sliding window of rates and timings, seconds.
        started_s: monotonic time the node started, seconds (None = unknown).
        last_frame_s:
            monotonic time of the last synchronised RGB-D pair, seconds (None = none yet).
        events: findings that did not skip a frame, by kind (e.g. "camera_info.distortion",
            "initial_pose_refused"): reported as ``events.<kind>``.
        last_skip: reason of the latest skip (the node clears it before each frame).

    """

    frames_received: int = 0
    frames_tracked: int = 0
    poses_published: int = 0
    skipped: Dict[str, int] = field(default_factory=dict)
    window_s: float = 5.0
    last_quality: Optional[float] = None
    started_s: Optional[float] = None
    last_frame_s: Optional[float] = None
    events: Dict[str, int] = field(default_factory=dict)
    last_skip: Optional[str] = None
    last_age_ms: Optional[float] = None
    _recent: Deque[Tuple[float, float, float, float]] = field(default_factory=deque)
    _recent_skips: Deque[Tuple[float, str]] = field(default_factory=deque)

    def skip(self, reason: str, now_s: float) -> None:
        """Count one skipped frame (`now_s`: monotonic time, seconds)."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        self.last_skip = reason
        self._recent_skips.append((now_s, reason))
        self._trim(now_s)

    def note(self, kind: str, n: int = 1) -> None:
        """Count `n` findings of `kind` that did not skip a frame."""
        self.events[kind] = self.events.get(kind, 0) + n

    def input_age(self, now_s: float) -> Optional[float]:
        """Seconds since the last RGB-D pair (or the start, if none came yet); None = unknown."""
        ref = self.last_frame_s if self.last_frame_s is not None else self.started_s
        return None if ref is None else max(0.0, now_s - ref)

    def recent_skips(self, now_s: float) -> Dict[str, int]:
        """Frames skipped within the window, by reason."""
        self._trim(now_s)
        out: Dict[str, int] = {}
        for _, reason in self._recent_skips:
            out[reason] = out.get(reason, 0) + 1
        return out

    def tracked(self, now_s: float, latency_ms: float, tracker_ms: float, quality: float,
                age_ms: Optional[float] = None) -> None:
        """
        Record one tracked frame.

        Args:
            now_s: monotonic time of the record, seconds.
            latency_ms: image stamp -> publish, milliseconds (ROS clock).
            tracker_ms: time of the tracker step, milliseconds.
            quality: tracking quality, 0..1.
            age_ms: age of the frame when its processing started (image stamp -> start),
                milliseconds (ROS clock); None = same as the latency.

        """
        self.frames_tracked += 1
        self.last_quality = float(quality)
        age = float(latency_ms if age_ms is None else age_ms)
        self.last_age_ms = age
        self._recent.append((now_s, float(latency_ms), float(tracker_ms), age))
        self._trim(now_s)

    def _trim(self, now_s: float) -> None:
        while self._recent and self._recent[0][0] < now_s - self.window_s:
            self._recent.popleft()
        while self._recent_skips and self._recent_skips[0][0] < now_s - self.window_s:
            self._recent_skips.popleft()

    def summary(self, now_s: float) -> Dict[str, float]:
        """Rate (Hz) and mean/max latency and tracker time (ms) over the window."""
        self._trim(now_s)
        n = len(self._recent)
        if n == 0:
            return {"rate_hz": 0.0}
        span = max(now_s - self._recent[0][0], 1e-3) if n > 1 else self.window_s
        lat = [r[1] for r in self._recent]
        trk = [r[2] for r in self._recent]
        age = [r[3] for r in self._recent]
        return {
            "rate_hz": (n - 1) / span if n > 1 else 1.0 / span,
            "latency_ms_mean": sum(lat) / n,
            "latency_ms_max": max(lat),
            "tracker_ms_mean": sum(trk) / n,
            "tracker_ms_max": max(trk),
            "frame_age_ms_mean": sum(age) / n,
            "frame_age_ms_max": max(age),
        }


def stall_message(stats: NodeStats, now_s: float, input_timeout: float) -> Optional[str]:
    """Say that the RGB-D input stalled, or return None while it flows (or when disabled)."""
    age = stats.input_age(now_s)
    if not input_timeout or age is None or age <= input_timeout:
        return None
    if stats.last_frame_s is None:
        return f"no RGB-D frames received yet ({age:.1f} s since start)"
    return f"no RGB-D frames for {age:.1f} s (camera stopped?)"


def diagnostic_status(stats: NodeStats, state: str, now_s: float, name: str,
                      hardware_id: str = "", sync_dropped: Optional[Dict[str, int]] = None,
                      extra: Optional[Dict[str, str]] = None, input_timeout: float = 0.0):
    """
    Build the node's diagnostic_msgs/DiagnosticStatus.

    Level: OK while TRACKING, WARN while waiting or LOST, WARN when no RGB-D frame came for
    more than `input_timeout` seconds (the message says so, whatever the state), ERROR when,
    within the statistics window, frames were rejected for bad input and none was tracked.

    Args:
        stats: the node's statistics.
        state: one of the states of this module.
        now_s: monotonic time, seconds.
        name: status name, e.g. "pose_tracker: tracking".
        hardware_id: e.g. the camera frame id.
        sync_dropped: synchroniser drops by reason.
        extra: more key/values to report.
        input_timeout: seconds without frames after which the input counts as stalled; 0 disables.

    """
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    summary = stats.summary(now_s)
    if state == TRACKING:
        level, message = DiagnosticStatus.OK, "tracking"
    elif state == LOST:
        level, message = DiagnosticStatus.WARN, "object LOST: publish a new initial pose"
    elif state == WAITING_FOR_POSE:
        level, message = DiagnosticStatus.WARN, "waiting for an initial pose"
    else:
        level, message = DiagnosticStatus.WARN, "waiting for camera_info"
    bad = {k: v for k, v in stats.recent_skips(now_s).items() if k not in BENIGN_SKIPS}
    stalled = stall_message(stats, now_s, input_timeout)
    if stalled is not None:
        # The stall is the problem now, even if the last frames before it were rejected.
        level = max(level, DiagnosticStatus.WARN, key=ord)
        message = f"{stalled}; state {state}"
    elif bad and "latency_ms_mean" not in summary:
        level = DiagnosticStatus.ERROR
        message = "frames arrive but are rejected: " + ", ".join(sorted(bad))
    age = stats.input_age(now_s)
    values = {
        "state": state,
        "frames_received": stats.frames_received,
        "frames_tracked": stats.frames_tracked,
        "poses_published": stats.poses_published,
        "quality": "" if stats.last_quality is None else f"{stats.last_quality:.3f}",
        "input_age_s": "" if age is None else f"{age:.2f}",
        "frame_age_ms": "" if stats.last_age_ms is None else f"{stats.last_age_ms:.1f}",
    }
    values.update({k: f"{v:.2f}" for k, v in summary.items()})
    values.update({f"skipped.{k}": v for k, v in sorted(stats.skipped.items())})
    values.update({f"events.{k}": v for k, v in sorted(stats.events.items())})
    values.update({f"sync_dropped.{k}": v for k, v in sorted((sync_dropped or {}).items())})
    values.update(extra or {})
    return DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
