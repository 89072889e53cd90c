# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Smooth hand-held motion for synthetic test sequences (numpy, float64).

Motion is built from sums of sinusoids with random frequencies (0.05-1.2 Hz), amplitudes
falling with frequency and random phases, plus a small physiological tremor (8-12 Hz, sub-mm,
sub-degree). Three modes:

* ``camera``: a hand-held camera moves around a static object, looking at it (with a wobbling
  aim point and roll);
* ``object``: a static camera, the object moved and turned by a hand;
* ``both``: the two at once.

The amplitudes are then scaled so that the object's motion *relative to the camera* peaks at
the requested linear and angular speeds (default up to 0.5 m/s and 60 deg/s at 30 fps), while its
centre stays inside the image and within a depth range.
"""

from dataclasses import dataclass
import math
from typing import Sequence, Tuple

import numpy as np
from scipy.spatial.transform import Rotation

from pose_tracker.geometry.pinhole import project
from pose_tracker.synth.simple_scene import default_camera

__all__ = ['Trajectory', 'smooth_signal', 'look_at', 'relative_speeds', 'handheld_trajectory']


@dataclass
class Trajectory:
    """
    Poses of one sequence.

    Attributes:
        cam_in_world: (N,4,4) camera -> world.
        obj_in_world: (N,4,4) centred object -> world.
        obj_in_cam: (N,4,4) centred object -> camera (OpenCV frame).
        max_speed: peak linear speed of the object centre relative to the camera, m/s.
        max_ang_speed: peak relative angular speed, degrees/s.
        mode: 'camera', 'object' or 'both'.
    """

    cam_in_world: np.ndarray
    obj_in_world: np.ndarray
    obj_in_cam: np.ndarray
    max_speed: float
    max_ang_speed: float
    mode: str


def smooth_signal(n: int, fps: float, dims: int, rng: np.random.Generator,
                  freq_range: Tuple[float, float] = (0.05, 1.2), n_terms: int = 5) -> np.ndarray:
    """
    Return an (n, dims) smooth random signal, each column with peak |value| 1.

    A sum of ``n_terms`` sinusoids per dimension, frequencies log-uniform in ``freq_range`` (Hz),
    amplitudes proportional to 1/frequency, random phases.
    """
    t = np.arange(n) / fps
    out = np.zeros((n, dims))
    for d in range(dims):
        f = np.exp(rng.uniform(np.log(freq_range[0]), np.log(freq_range[1]), n_terms))
        a = 1.0 / f
        ph = rng.uniform(0, 2 * np.pi, n_terms)
        out[:, d] = (a[None] * np.sin(2 * np.pi * f[None] * t[:, None] + ph[None])).sum(1)
        out[:, d] /= max(np.abs(out[:, d]).max(), 1e-9)
    return out


def _tremor(n: int, fps: float, dims: int, rng: np.random.Generator) -> np.ndarray:
    """Return (n, dims) hand tremor: 8-12 Hz sinusoids of unit amplitude (aliased at 30 fps)."""
    t = np.arange(n) / fps
    f = rng.uniform(8.0, 12.0, dims)
    ph = rng.uniform(0, 2 * np.pi, dims)
    return np.sin(2 * np.pi * f[None] * t[:, None] + ph[None])


def look_at(eye: np.ndarray, target: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """
    Return (N,3,3) camera->world rotations of OpenCV cameras at ``eye`` aimed at ``target``.

    World "down" is +y (the world frame is the first camera's frame); ``roll`` (N,) radians
    turns each camera about its optical axis.
    """
    f = target - eye
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    down = np.array([0.0, 1.0, 0.0])
    x = np.cross(down[None], f)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = np.cross(f, x)
    R = np.stack([x, y, f], axis=2)  # columns: camera axes in world
    Rr = Rotation.from_rotvec(np.array([0.0, 0.0, 1.0])[None] * roll[:, None]).as_matrix()
    return R @ Rr


def _rigid(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.tile(np.eye(4), (len(R), 1, 1))
    T[:, :3, :3] = R
    T[:, :3, 3] = t
    return T


def relative_speeds(obj_in_cam: np.ndarray, fps: float) -> Tuple[np.ndarray, np.ndarray]:
    """Return per-frame-step linear (m/s) and angular (deg/s) speeds, each (N-1,)."""
    v = np.linalg.norm(np.diff(obj_in_cam[:, :3, 3], axis=0), axis=1) * fps
    dR = obj_in_cam[1:, :3, :3] @ np.transpose(obj_in_cam[:-1, :3, :3], (0, 2, 1))
    ang = np.linalg.norm(Rotation.from_matrix(dR).as_rotvec(), axis=1)
    return v, np.degrees(ang) * fps


def handheld_trajectory(n_frames: int, rng: np.random.Generator, fps: float = 30.0,
                        mode: str = 'both', max_speed: float = 0.5, max_ang_speed: float = 60.0,
                        distance: Tuple[float, float] = (0.45, 0.9),
                        K: np.ndarray = None, image_size: Sequence[int] = (480, 640),
                        depth_range: Tuple[float, float] = (0.25, 1.6),
                        margin: float = 0.12) -> Trajectory:
    """
    Draw a smooth hand-held trajectory.

    Args:
        n_frames: number of frames N.
        rng: numpy generator.
        fps: frame rate.
        mode: 'camera', 'object' or 'both' (see the module docstring).
        max_speed: upper bound of the relative linear speed, m/s; the peak is drawn in
            [0.6, 1] times it.
        max_ang_speed: upper bound of the relative angular speed, deg/s (peak drawn likewise).
        distance: range of the initial object distance, metres.
        K: (3,3) intrinsics for the visibility check (default: ``default_camera(image_size)``).
        image_size: (H, W).
        depth_range: allowed object centre depths, metres.
        margin: the object centre stays this share of the image size away from the borders.

    Returns:
        :class:`Trajectory`; both peak speeds are at most the bounds, and one of them reaches
        its drawn target unless the visibility constraints forced smaller motion.
    """
    if mode not in ('camera', 'object', 'both'):
        raise ValueError(f"mode must be 'camera', 'object' or 'both', got {mode!r}")
    H, W = image_size
    if K is None:
        K = default_camera((H, W))
    n = int(n_frames)
    z0 = rng.uniform(*distance)
    target = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.04, 0.04), z0])
    R0 = Rotation.random(random_state=rng).as_matrix()
    cam_on = mode in ('camera', 'both')
    obj_on = mode in ('object', 'both')
    # unit-amplitude motion patterns, scaled below
    cam_pos = smooth_signal(n, fps, 3, rng) * np.array([1.0, 0.7, 0.8])
    aim = smooth_signal(n, fps, 3, rng) * 0.03
    roll = smooth_signal(n, fps, 1, rng)[:, 0] * math.radians(10)
    obj_pos = smooth_signal(n, fps, 3, rng) * np.array([1.0, 0.8, 0.8])
    obj_rot = smooth_signal(n, fps, 3, rng, freq_range=(0.05, 0.8))
    trem_t = _tremor(n, fps, 3, rng) * 0.0004
    trem_r = _tremor(n, fps, 3, rng) * math.radians(0.15)
    v_goal = max_speed * rng.uniform(0.6, 1.0)
    w_goal = max_ang_speed * rng.uniform(0.6, 1.0)

    def build(a_lin: float, a_rot: float):
        eye = np.zeros((n, 3))
        Rc = np.tile(np.eye(3), (n, 1, 1))
        if cam_on:
            eye = cam_pos * a_lin
            Rc = look_at(eye, target[None] + aim, roll * min(1.0, a_rot))
        Rc = Rotation.from_rotvec(trem_r).as_matrix() @ Rc
        eye = eye + trem_t
        Ro = np.tile(R0, (n, 1, 1))
        po = np.tile(target, (n, 1))
        if obj_on:
            po = po + obj_pos * a_lin * (0.7 if cam_on else 1.0)
            Ro = Rotation.from_rotvec(obj_rot * a_rot).as_matrix() @ R0
        T_wc, T_wo = _rigid(Rc, eye), _rigid(Ro, po)
        T_cw = np.linalg.inv(T_wc)
        return T_wc, T_wo, T_cw @ T_wo

    def visible(T_co) -> bool:
        t = T_co[:, :3, 3]
        if t[:, 2].min() < depth_range[0] or t[:, 2].max() > depth_range[1]:
            return False
        uv, _ = project(t, None, K)  # z > 0: checked above
        return bool((uv[:, 0] > margin * W).all() and (uv[:, 0] < (1 - margin) * W).all()
                    and (uv[:, 1] > margin * H).all() and (uv[:, 1] < (1 - margin) * H).all())

    a_lin, a_rot = 0.1, 0.5
    for _ in range(12):  # fixed-point iterations on the speed scale
        T_wc, T_wo, T_co = build(a_lin, a_rot)
        v, w = relative_speeds(T_co, fps)
        k = min(v_goal / max(v.max(), 1e-9), w_goal / max(w.max(), 1e-9))
        a_lin, a_rot = a_lin * k, a_rot * k
    T_wc, T_wo, T_co = build(a_lin, a_rot)
    for _ in range(40):  # shrink until inside the view and the speed bounds
        v, w = relative_speeds(T_co, fps)
        if visible(T_co) and v.max() <= max_speed and w.max() <= max_ang_speed:
            break
        a_lin, a_rot = a_lin * 0.9, a_rot * 0.9
        T_wc, T_wo, T_co = build(a_lin, a_rot)
    v, w = relative_speeds(T_co, fps)
    return Trajectory(cam_in_world=T_wc, obj_in_world=T_wo, obj_in_cam=T_co,
                      max_speed=float(v.max()), max_ang_speed=float(w.max()), mode=mode)
