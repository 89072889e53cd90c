# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
The object's mesh for display: geometry loading and the RViz `visualization_msgs/Marker`.

The marker lives in the object frame (identity pose), so RViz places it with the TF the node
broadcasts. A file RViz can load itself is sent as MESH_RESOURCE with a `file://` URI (RViz must
run on the same machine); anything else is sent as a TRIANGLE_LIST of the triangles.
"""

from dataclasses import dataclass
import os
from typing import Optional, Tuple

import numpy as np

from pose_tracker.mesh import mesh_diameter

#: Extensions RViz's mesh loader (Ogre/STL/assimp) reads.
RVIZ_MESH_EXTENSIONS = (".stl", ".dae", ".obj", ".ply", ".mesh")
#: Triangle cap of the TRIANGLE_LIST fallback (3 Points per triangle in one message).
MAX_TRIANGLES = 20000
#: Marker colour (RGBA, 0..1): green, slightly transparent to see the camera image behind.
MARKER_RGBA = (0.1, 0.9, 0.2, 0.7)


@dataclass
class DisplayMesh:
    """
    Mesh geometry for markers, overlays and pose sanity checks.

    Attributes:
        vertices: (N,3) float64 metres, original mesh frame.
        faces: (F,3) int64 vertex indices, or None (points only).
        path: source file, or None.
        scale: factor from file units to metres (1 for metre meshes).
        diameter:
            largest vertex distance, metres (`pose_tracker.mesh.mesh_diameter` when not given).

    """

    vertices: np.ndarray
    faces: Optional[np.ndarray] = None
    path: Optional[str] = None
    scale: float = 1.0
    diameter: float = 0.0

    def __post_init__(self):
        self.vertices = np.asarray(self.vertices, dtype=np.float64).reshape(-1, 3)
        if self.faces is not None:
            self.faces = np.asarray(self.faces, dtype=np.int64).reshape(-1, 3)
        if not self.diameter:
            self.diameter = mesh_diameter(self.vertices)


def load_display_mesh(path: str, scale: float = 1.0) -> DisplayMesh:
    """
    Load a mesh file for display with trimesh (no centring, no subdivision).

    Args:
        path: mesh file.
        scale: factor from file units to metres.

    Raises:
        pose_tracker.errors.MeshError: missing, unreadable or empty file.

    """
    import trimesh

    from pose_tracker.errors import MeshError

    if not os.path.isfile(path):
        raise MeshError(f"mesh file not found: '{path}' (set the mesh_path parameter)")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as e:  # trimesh raises many types for corrupt files
        raise MeshError(f"cannot read mesh '{path}': {e}") from e
    vertices = np.asarray(getattr(mesh, "vertices", np.zeros((0, 3))), dtype=np.float64)
    faces = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), dtype=np.int64)
    if len(vertices) == 0 or len(faces) == 0:
        raise MeshError(f"mesh '{path}' has no triangles")
    return DisplayMesh(vertices * scale, faces, os.path.abspath(path), float(scale))


def _color(rgba: Tuple[float, float, float, float]):
    from std_msgs.msg import ColorRGBA

    return ColorRGBA(r=float(rgba[0]), g=float(rgba[1]), b=float(rgba[2]), a=float(rgba[3]))


def mesh_marker(mesh: DisplayMesh, frame_id: str, rgba=MARKER_RGBA,
                max_triangles: int = MAX_TRIANGLES):
    """
    Build a visualization_msgs/Marker drawing the mesh in `frame_id` (the object frame).

    Args:
        mesh: the display mesh.
        frame_id: the object frame (TF child the node broadcasts).
        rgba: colour, 0..1.
        max_triangles: cap of the TRIANGLE_LIST fallback; larger meshes are evenly subsampled.

    Returns:
        Marker of type MESH_RESOURCE (file the RViz loader reads) or TRIANGLE_LIST.

    """
    from geometry_msgs.msg import Point
    from visualization_msgs.msg import Marker

    m = Marker()
    m.header.frame_id = frame_id  # stamp 0: RViz uses the latest transform
    m.ns = "pose_tracker"
    m.id = 0
    m.action = Marker.ADD
    m.pose.orientation.w = 1.0
    m.color = _color(rgba)
    m.frame_locked = True  # follow the object frame as TF updates
    path = mesh.path
    if path and os.path.isfile(path) and path.lower().endswith(RVIZ_MESH_EXTENSIONS):
        m.type = Marker.MESH_RESOURCE
        m.mesh_resource = "file://" + os.path.abspath(path)
        m.mesh_use_embedded_materials = False
        m.scale.x = m.scale.y = m.scale.z = float(mesh.scale)
        return m
    m.type = Marker.TRIANGLE_LIST
    m.scale.x = m.scale.y = m.scale.z = 1.0  # vertices are already in metres
    faces = mesh.faces if mesh.faces is not None else np.zeros((0, 3), np.int64)
    if len(faces) > max_triangles:
        faces = faces[np.linspace(0, len(faces) - 1, max_triangles).astype(np.int64)]
    tri = mesh.vertices[faces.reshape(-1)]
    m.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in tri]
    return m
