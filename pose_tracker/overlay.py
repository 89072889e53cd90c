# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Pose overlays: the object drawn as an outline at a pose on a camera image (numpy + PIL only).

One drawing for every overlay of the project (the node's ``~/overlay``, the demo's pictures and
the eval plot). At a pose it draws

* the silhouette outline of the mesh (its projected triangles filled into a mask, the mask's
  border drawn; with points only, the outline of their convex hull),
* the edges of the object's axis-aligned bounding box (object frame), hidden edges included,
* optionally the object's axes from its origin (x red, y green, z blue).

Unlike dense dots, an outline and a box show a rotation error: a turned estimate's box edges
leave the ground truth's, and the silhouette changes for every asymmetric object.

Frames and units: points and boxes are in the object frame, metres; poses are (4,4)
object -> camera (OpenCV optical frame), metres; ``K`` is (3,3) pixels; images are (H,W,3) uint8
RGB with pixel (u, v) = (column, row). Cost: linear in the mesh triangles (``docs/timings.md``).
"""

from typing import Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw

from pose_tracker.geometry.pinhole import project

#: Colours (RGB uint8) of the ground truth, the estimate and the axes.
GT_RGB = (0, 255, 0)
EST_RGB = (255, 0, 255)
AXES_RGB = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
#: Points nearer than this (metres, camera z) are not drawn.
MIN_Z = 1e-3
#: The 12 edges of a box as pairs of `box_corners` indices.
BOX_EDGES = ((0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 3), (2, 6), (3, 7), (4, 5), (4, 6),
             (5, 7), (6, 7))


def subsample_points(vertices: np.ndarray, max_points: int = 2000) -> np.ndarray:
    """Evenly spaced subset of at most `max_points` rows of (N,3) vertices (float64)."""
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    if len(v) <= max_points:
        return v
    return v[np.linspace(0, len(v) - 1, max_points).astype(np.int64)]


def bounding_box(vertices: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """((3,), (3,)) float64 min and max corners of the axis-aligned box of (N,3) vertices."""
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    return v.min(axis=0), v.max(axis=0)


def box_corners(box_min, box_max) -> np.ndarray:
    """(8,3) float64 corners of an axis-aligned box; bit 2/1/0 of the index picks max x/y/z."""
    lo, hi = np.asarray(box_min, np.float64), np.asarray(box_max, np.float64)
    return np.array([[(hi if i & 4 else lo)[0], (hi if i & 2 else lo)[1],
                      (hi if i & 1 else lo)[2]] for i in range(8)])


def silhouette_mask(vertices: np.ndarray, faces: np.ndarray, pose: np.ndarray, K: np.ndarray,
                    image_size: Tuple[int, int]) -> np.ndarray:
    """
    Pixels covered by the mesh at a pose (its projected triangles filled; no depth test needed).

    Args:
        vertices: (V,3) metres, object frame.
        faces: (F,3) vertex indices.
        pose: (4,4) object -> camera, metres.
        K: (3,3) intrinsics, pixels.
        image_size: (H, W).

    Returns:
        (H,W) bool. Triangles with a corner nearer than `MIN_Z` are left out.

    """
    h, w = int(image_size[0]), int(image_size[1])
    uv, z = project(vertices, pose, K)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    keep = np.all(z[faces] > MIN_Z, axis=1) & np.all(np.isfinite(uv[faces]), axis=(1, 2))
    tri = uv[faces[keep]]                                   # (F',3,2)
    # Triangles entirely outside the image change nothing: skip them (cheap on close-ups).
    lo, hi = tri.min(axis=1), tri.max(axis=1)
    inside = (hi[:, 0] >= -1) & (lo[:, 0] <= w) & (hi[:, 1] >= -1) & (lo[:, 1] <= h)
    mask = Image.new("1", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    # PIL's pixel centres are at integer coordinates, like `project`'s (geometry.pinhole).
    for corners in tri[inside].reshape(-1, 6).tolist():
        draw.polygon(corners, fill=1, outline=1)
    return np.asarray(mask, dtype=bool)


def mask_outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """
    (H,W) bool inner border of a mask, `width` pixels wide (4-neighbour erosions).

    The image border does not count as outside (an object cut by the image edge is not
    outlined there).
    """
    m = np.asarray(mask, dtype=bool)
    inner = m
    for _ in range(max(1, int(width))):
        inner = inner.copy()
        prev = inner.copy()
        inner[1:, :] &= prev[:-1, :]
        inner[:-1, :] &= prev[1:, :]
        inner[:, 1:] &= prev[:, :-1]
        inner[:, :-1] &= prev[:, 1:]
    return m & ~inner


def _hull_outline(draw: ImageDraw.ImageDraw, uv: np.ndarray, colour, width: int) -> None:
    """Draw the convex hull of (N,2) pixel points; a dot when they span no area."""
    from scipy.spatial import ConvexHull, QhullError

    try:
        ring = uv[ConvexHull(uv).vertices]
    except (QhullError, ValueError):  # fewer than 3 points, or all on a line
        r = max(1, width // 2)
        for u, v in np.round(uv).tolist():
            draw.rectangle((u - r, v - r, u + r, v + r), fill=colour)
        return
    draw.line([tuple(p) for p in ring] + [tuple(ring[0])], fill=colour, width=width)


def _segments(draw: ImageDraw.ImageDraw, a: np.ndarray, b: np.ndarray, pose, K, colour,
              width: int) -> None:
    """Draw the object-frame segments a[i] -> b[i] ((N,3) metres) in front of the camera."""
    uva, za = project(a, pose, K)
    uvb, zb = project(b, pose, K)
    for pa, pb, ok in zip(uva.tolist(), uvb.tolist(), (za > MIN_Z) & (zb > MIN_Z)):
        if ok and np.all(np.isfinite(pa + pb)):
            draw.line((pa[0], pa[1], pb[0], pb[1]), fill=colour, width=width)


def draw_pose(rgb: np.ndarray, pose: np.ndarray, K: np.ndarray, vertices: np.ndarray,
              faces: Optional[np.ndarray] = None, colour=EST_RGB, box=None,
              axis_length: float = 0.0, width: int = 2) -> np.ndarray:
    """
    Draw the object's outline (and box, axes) at `pose` onto a copy of the image.

    Args:
        rgb: (H,W,3) uint8 image (not modified).
        pose: (4,4) object -> camera, metres; a non-finite pose draws nothing.
        K: (3,3) intrinsics, pixels.
        vertices: (V,3) metres, object frame: mesh vertices, or model points when `faces` is None.
        faces: (F,3) triangle indices into `vertices` (silhouette outline), or None (outline of
            the points' convex hull).
        colour: RGB of the outline and the box.
        box: (box_min, box_max), each (3,) metres in the object frame, e.g.
            `bounding_box(vertices)`; None = no box.
        axis_length:
            length of the drawn axes (x red, y green, z blue) from the object origin, metres;
            0 = none.
        width: line width of the outline and the axes, pixels (the box is drawn 1 pixel thinner).

    Returns:
        (H,W,3) uint8 new image.

    """
    out = np.array(rgb, dtype=np.uint8, copy=True)
    pose = np.asarray(pose, dtype=np.float64)
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    if not np.all(np.isfinite(pose)) or len(vertices) == 0:
        return out
    colour = tuple(int(c) for c in colour)
    if faces is not None and len(faces):
        edge = mask_outline(silhouette_mask(vertices, faces, pose, K, out.shape[:2]), width)
        out[edge] = colour
    pil = Image.fromarray(out)
    draw = ImageDraw.Draw(pil)
    if faces is None or not len(faces):
        uv, z = project(vertices, pose, K)
        front = (z > MIN_Z) & np.all(np.isfinite(uv), axis=1)
        if front.any():
            _hull_outline(draw, uv[front], colour, width)
    if box is not None:
        corners = box_corners(*box)
        edges = np.asarray(BOX_EDGES)
        _segments(draw, corners[edges[:, 0]], corners[edges[:, 1]], pose, K, colour,
                  max(1, width - 1))
    if axis_length > 0:
        ends = np.eye(3) * float(axis_length)
        for i, axis_colour in enumerate(AXES_RGB):
            _segments(draw, np.zeros((1, 3)), ends[i:i + 1], pose, K, axis_colour, width)
    return np.asarray(pil).copy()


def draw_label(rgb: np.ndarray, label: str) -> np.ndarray:
    """Copy of a (H,W,3) uint8 image with `label` in white on black at the top left."""
    pil = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    draw = ImageDraw.Draw(pil)
    draw.rectangle((0, 0, 8 + 6 * len(label), 14), fill=(0, 0, 0))
    draw.text((4, 2), label, fill=(255, 255, 255))
    return np.asarray(pil).copy()


def draw_estimate_and_gt(rgb: np.ndarray, K: np.ndarray, vertices: np.ndarray,
                         faces: Optional[np.ndarray], est: Optional[np.ndarray],
                         gt: Optional[np.ndarray], label: str = "",
                         axes: bool = True) -> np.ndarray:
    """
    Draw the estimate (magenta) over the ground truth (green, wider) as outlines + boxes.

    Where the two agree the magenta line runs along the green band; a rotation error shows as
    box edges, axes and (for asymmetric shapes) silhouettes that part.

    Args:
        rgb: (H,W,3) uint8 image (not modified).
        K: (3,3) intrinsics, pixels.
        vertices, faces: the object as for `draw_pose` (object frame, metres).
        est, gt: (4,4) object -> camera poses, metres, or None (not drawn).
        label: text drawn at the top left ("" = none).
        axes: also draw the axes of both poses (the GT's wider), half a box diagonal long, so
            that a rotation shows as diverging axes.

    Returns:
        (H,W,3) uint8 new image.

    """
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    box = bounding_box(vertices) if len(vertices) else None
    axis = 0.5 * float(np.linalg.norm(box[1] - box[0])) if axes and box is not None else 0.0
    img = np.array(rgb, dtype=np.uint8, copy=True)
    for T, colour, width in ((gt, GT_RGB, 3), (est, EST_RGB, 2)):
        if T is not None:
            img = draw_pose(img, T, K, vertices, faces, colour, box, axis, width)
    return draw_label(img, label) if label else img
