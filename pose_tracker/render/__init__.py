# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Rasterization, interpolation and texturing ops and the mesh renderer."""

# The ops live in submodules of the same name (``rasterize.rasterize``,
# ``interpolate.interpolate``, ``texture.texture``); they are not re-exported here, so that
# ``import pose_tracker.render.rasterize`` keeps meaning the module.
from pose_tracker.render.projection import crop_projection, transform_points
from pose_tracker.render.rasterize import max_pixel_extent
from pose_tracker.render.renderer import MeshRenderer, RenderOutput, window_for_mesh

__all__ = ['MeshRenderer', 'RenderOutput', 'crop_projection', 'max_pixel_extent',
           'transform_points', 'window_for_mesh']
