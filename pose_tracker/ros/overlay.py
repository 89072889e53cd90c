# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Debug overlay of the node (``~/overlay``): the tracked object drawn onto the camera image.

The drawing itself is `pose_tracker.overlay.draw_pose` (one drawing for every overlay of the
project): the mesh's silhouette outline (the points' convex hull when there are no faces), the
object's bounding box and its axes (x red, y green, z blue) at the tracked pose. This module
keeps the node's entry point and names.
"""

from typing import Optional

import numpy as np

from pose_tracker.overlay import AXES_RGB, BOX_EDGES, draw_pose, subsample_points

__all__ = ["AXES_RGB", "BOX_EDGES", "POINT_RGB", "draw_overlay", "subsample_points"]

#: Colour (RGB uint8) of the outline and the box.
POINT_RGB = (0, 255, 0)


def draw_overlay(rgb: np.ndarray, points: np.ndarray, pose: np.ndarray, K: np.ndarray,
                 box_min=None, box_max=None, axis_length: float = 0.0,
                 point_rgb=POINT_RGB, faces: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Draw the object at `pose` onto a copy of the image.

    Args:
        rgb: (H,W,3) uint8 image (not modified).
        points: (N,3) metres, object frame: the mesh vertices when `faces` is given, else any
            points of the object (e.g. `subsample_points(mesh.vertices)`).
        pose: (4,4) object -> camera, metres.
        K: (3,3) intrinsics, pixels.
        box_min, box_max:
            (3,) corners of the object's axis-aligned box, object frame; None = no box.
        axis_length: length of the drawn object axes, metres; 0 = none.
        point_rgb: colour of the outline (and of the box).
        faces: (F,3) triangles into `points`: outline the silhouette; None: outline the points'
            convex hull (a single point is a 3x3 dot).

    Returns:
        (H,W,3) uint8 new image.

    """
    box = None if box_min is None or box_max is None else (box_min, box_max)
    return draw_pose(rgb, pose, K, points, faces, point_rgb, box, axis_length, width=2)
