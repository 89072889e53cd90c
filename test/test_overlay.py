# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""The shared pose overlay: silhouette outline, box, axes; a rotation changes the drawing."""

import numpy as np
import trimesh

from pose_tracker.tools.eval import rotation_about_axis
from pose_tracker.overlay import (
    draw_estimate_and_gt, draw_pose, EST_RGB, GT_RGB, mask_outline, silhouette_mask)

H, W = 120, 160
K = np.array([[200.0, 0.0, 80.0], [0.0, 200.0, 60.0], [0.0, 0.0, 1.0]])
BOX = trimesh.creation.box(extents=(0.1, 0.06, 0.04))
POSE = np.eye(4)
POSE[2, 3] = 0.5


def test_silhouette_of_a_box_facing_the_camera():
    mask = silhouette_mask(BOX.vertices, BOX.faces, POSE, K, (H, W))
    ys, xs = np.nonzero(mask)
    # 0.1 m x 0.06 m front face at 0.48 m: 41.7 x 25 pixels (the far face is inside it).
    assert abs((xs.max() - xs.min()) - 200 * 0.1 / 0.48) <= 2
    assert abs((ys.max() - ys.min()) - 200 * 0.06 / 0.48) <= 2
    edge = mask_outline(mask, 2)
    assert edge.sum() < 0.4 * mask.sum() and not edge[60, 80]  # a border, not the area


def test_mask_outline_width():
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    assert mask_outline(mask, 1).sum() == 36 and mask_outline(mask, 2).sum() == 36 + 28


def test_non_finite_pose_draws_nothing_and_input_is_kept():
    img = np.zeros((H, W, 3), np.uint8)
    out = draw_pose(img, np.full((4, 4), np.nan), K, BOX.vertices, BOX.faces)
    assert not out.any() and out is not img


def test_rotation_error_is_visible():
    spun = POSE.copy()
    spun[:3, :3] = rotation_about_axis([0.0, 0.0, 1.0], np.radians(10.0))
    img = np.zeros((H, W, 3), np.uint8)
    same = draw_estimate_and_gt(img, K, BOX.vertices, BOX.faces, POSE, POSE)
    off = draw_estimate_and_gt(img, K, BOX.vertices, BOX.faces, spun, POSE)
    assert not img.any()
    for out in (same, off):
        assert np.all(out == EST_RGB, axis=-1).sum() > 50
    green_same = np.all(same == GT_RGB, axis=-1).sum()
    green_off = np.all(off == GT_RGB, axis=-1).sum()
    assert green_off > green_same + 50  # the estimate no longer covers the GT's lines
