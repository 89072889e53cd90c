# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Load a CAD mesh, check its units, centre it and subdivide it for the renderer.

The tracker works in the *centred* mesh frame: vertices are shifted so that the axis-aligned
bounding-box centre ``c`` is the origin. A pose in the original file frame (metres, after
``scale``) is ``T_original = T_centred @ [I | -c]`` (`centred_to_original`, and back with
`original_to_centred`).

Long edges are split (midpoint subdivision, geometry unchanged) until every edge is at most
``max_edge_ratio * diameter`` long. Why: the renderer draws into a crop window that spans
``1.2 * diameter`` (the refiner's crop ratio), so the on-screen footprint of a triangle, measured
in crop pixels, is bounded by its edge length over the diameter (times a perspective factor for the
near side of the object). That bound is what lets our rasterizer test a fixed ``window x window``
block of pixels per triangle (see :mod:`pose_tracker.render.rasterize`) instead of a
data-dependent number, which keeps it graph-safe.
"""

from dataclasses import dataclass
import os
from typing import Dict, Optional
import warnings

import numpy as np

from pose_tracker.errors import MeshError, MeshUnitsError

#: Meshes wider than this (metres) are assumed to be in other units unless ``scale`` is given.
MAX_DIAMETER_M = 3.0
#: Object diameters (metres) that a tabletop RGB-D tracker plausibly sees; outside this range the
#: mesh loads with a :class:`MeshScaleWarning` (units or ``scale`` probably wrong).
PLAUSIBLE_DIAMETER_M = (0.02, 1.5)
#: Units a CAD file is commonly in: name -> factor to metres.
UNIT_SCALES = {'millimetres': 0.001, 'centimetres': 0.01, 'inches': 0.0254}
#: Typical object diameter, metres: among plausible unit guesses the nearest one (in log scale)
#: is suggested first.
TYPICAL_DIAMETER_M = 0.2
#: Default cap on the face count, before and after subdivision. The rasterizer's work and memory
#: grow linearly with it (about 100 bytes per face and window pixel); decimation would need the
#: ``fast_simplification`` package, which we do not depend on, so bigger meshes are refused.
DEFAULT_MAX_FACES = 200_000
#: trimesh's stand-in image for an OBJ with uv but no material (2x2, RGB 100,100,100).
_TRIMESH_PLACEHOLDER_RGB = (100, 100, 100)


class MeshScaleWarning(UserWarning):
    """A mesh loaded fine but its size in metres is implausible for a tracked object."""


def suggest_scales(diameter: float, current: float = 1.0):
    """
    Guess the units of a mesh of ``diameter`` (after ``current`` scale), most likely first.

    Returns:
        list: (units name, scale from file units to metres, resulting diameter in metres) for every
            unit of :data:`UNIT_SCALES` (and metres) that gives a plausible diameter, sorted by how
            close that is to :data:`TYPICAL_DIAMETER_M` in log scale.

    """
    raw = diameter / current
    lo, hi = PLAUSIBLE_DIAMETER_M
    out = [(name, f, raw * f) for name, f in list(UNIT_SCALES.items()) + [('metres', 1.0)]
           if lo <= raw * f <= hi and not np.isclose(f, current)]
    return sorted(out, key=lambda c: abs(np.log(c[2] / TYPICAL_DIAMETER_M)))


def _describe(guesses) -> str:
    return ', '.join(f"scale={f:g} if it is in {name} ({d:.3g} m across)"
                     for name, f, d in guesses)


@dataclass
class Mesh:
    """
    A centred, renderer-ready triangle mesh.

    Attributes:
        vertices: (V,3) float32 metres, centred mesh frame (bounding-box centre at the origin).
        faces: (F,3) int64 vertex indices, counter-clockwise as in the file.
        vertex_normals: (V,3) float32 unit normals, centred mesh frame.
        uv: (V,2) float32 texture coordinates as stored in the file (OBJ convention: v = 0 is the
            bottom row of the image), or None.
        texture: (Ht,Wt,3) uint8 RGB image, row 0 at the top, or None. Set together with ``uv``.
        vertex_colors: (V,3) uint8 RGB, or None. Never set together with ``texture``.
        center: (3,) float64 bounding-box centre in the original file frame (metres, after
            ``scale``): ``T_original = T_centred @ [I | -center]``.
        diameter: largest distance between two vertices, metres (exact, over the convex hull).
        max_edge: longest edge after subdivision, metres.
        path: file the mesh came from, or None for a generated mesh.

    """

    vertices: np.ndarray
    faces: np.ndarray
    vertex_normals: np.ndarray
    uv: Optional[np.ndarray]
    texture: Optional[np.ndarray]
    vertex_colors: Optional[np.ndarray]
    center: np.ndarray
    diameter: float
    max_edge: float
    path: Optional[str] = None

    @property
    def radius(self) -> float:
        """Largest distance of a vertex from the centred origin, metres."""
        return float(np.linalg.norm(self.vertices, axis=1).max())

    @property
    def num_faces(self) -> int:
        """Number of triangles F."""
        return int(self.faces.shape[0])


def centred_to_original(T_centred, center) -> np.ndarray:
    """
    Poses of the centred mesh frame in the original file frame: ``T_centred @ [I | -center]``.

    The one place of this shift (tracker, registration, synthetic sequences, soak).

    Args:
        T_centred: (4,4) or (...,4,4) object -> camera, centred mesh frame, metres.
        center: (3,) `Mesh.center`, metres (original file frame, after ``scale``).

    Returns:
        (4,4) or (...,4,4) float64 object -> camera, original file frame, metres.
    """
    shift = np.eye(4)
    shift[:3, 3] = -np.asarray(center, dtype=np.float64)
    return np.asarray(T_centred, dtype=np.float64) @ shift


def original_to_centred(T_original, center) -> np.ndarray:
    """
    Poses of the original file frame in the centred mesh frame: ``T_original @ [I | center]``.

    The inverse of `centred_to_original`.

    Args:
        T_original: (4,4) or (...,4,4) object -> camera, original file frame, metres.
        center: (3,) `Mesh.center`, metres.

    Returns:
        (4,4) or (...,4,4) float64 object -> camera, centred mesh frame, metres.
    """
    return centred_to_original(T_original, -np.asarray(center, dtype=np.float64))


def load_mesh(path, scale: Optional[float] = None, max_edge_ratio: float = 0.03,
              max_faces: Optional[int] = DEFAULT_MAX_FACES,
              max_texture_size: Optional[int] = 4096) -> Mesh:
    """
    Load a .obj/.ply/.stl (or any format trimesh reads) into a centred :class:`Mesh`.

    Textured meshes (uv + material image), vertex-coloured meshes and plain meshes are supported;
    a multi-part file is merged into one mesh.

    Args:
        path: mesh file. An OBJ's .mtl and texture image are found relative to it.
        scale: multiply the file's coordinates by this to get metres (e.g. 0.001 for a file in
            millimetres). None means the file is already in metres.
        max_edge_ratio: split edges until each is at most this fraction of the diameter.
        max_faces: refuse meshes with more faces than this, before or after subdivision
            (None: no limit).
        max_texture_size: downscale a texture whose larger side exceeds this many pixels
            (None: keep it as it is).

    Returns:
        Mesh: The centred, subdivided :class:`Mesh`.

    Raises:
        MeshError: the file is missing, unreadable, corrupt, has no triangles, or is too large.
        MeshUnitsError:
            the diameter exceeds 3 m and no ``scale`` was given; the message suggests the scale
            that fits (millimetres, centimetres or inches) and the exception's
            ``suggested_scale`` holds the most likely one.

    Warns:
        MeshScaleWarning: the object is smaller than 2 cm or larger than 1.5 m after scaling.

    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MeshError(f"mesh file not found: {path}")
    import trimesh

    try:
        with warnings.catch_warnings():
            # trimesh's vertex merging casts NaN/huge uv to int on some scans (harmless).
            warnings.simplefilter('ignore', RuntimeWarning)
            # trimesh's processing drops non-finite vertices (and their faces) silently, so the
            # file is first read as it is: a NaN vertex means a broken export, refused below.
            raw = trimesh.load(path, force='mesh', process=False)
            bad = (int((~np.isfinite(np.asarray(raw.vertices))).any(axis=1).sum())
                   if isinstance(raw, trimesh.Trimesh) else 0)
            if not bad:
                tm = trimesh.load(path, force='mesh')
    except Exception as exc:  # trimesh raises many exception types for malformed files
        raise MeshError(f"could not read mesh file {path}: {type(exc).__name__}: {exc}") from exc
    if bad:
        raise MeshError(f"{path} is corrupt: {bad} of its {len(raw.vertices)} vertices have "
                        "NaN/Inf coordinates (a broken export); fix or re-export the mesh")
    if not isinstance(tm, trimesh.Trimesh):
        raise MeshError(f"{path} does not contain a triangle mesh (got {type(tm).__name__}); "
                        "point clouds and empty scenes cannot be tracked")
    return mesh_from_trimesh(tm, scale=scale, max_edge_ratio=max_edge_ratio, max_faces=max_faces,
                             max_texture_size=max_texture_size, path=path)


def mesh_from_trimesh(tm, scale: Optional[float] = None, max_edge_ratio: float = 0.03,
                      max_faces: Optional[int] = DEFAULT_MAX_FACES,
                      max_texture_size: Optional[int] = 4096,
                      path: Optional[str] = None) -> Mesh:
    """
    Build a centred :class:`Mesh` from a ``trimesh.Trimesh`` (e.g. a generated one).

    Args:
        tm: the triangle mesh; its visual (texture, vertex or face colours) is used when present.
            It is not modified.
        scale, max_edge_ratio, max_faces, max_texture_size: as in :func:`load_mesh`.
        path: recorded in ``Mesh.path``.

    Returns:
        Mesh: The centred, subdivided :class:`Mesh`.

    Raises:
        MeshError, MeshUnitsError: as in :func:`load_mesh`.

    """
    where = path if path is not None else 'mesh'
    vertices = np.asarray(tm.vertices, dtype=np.float64)
    faces = np.asarray(tm.faces, dtype=np.int64).reshape(-1, 3)
    if len(vertices) == 0 or len(faces) == 0:
        raise MeshError(f"{where} has no triangles (empty or not a surface mesh)")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshError(f"{where} is corrupt: face indices out of range")
    if not np.isfinite(vertices).all():
        bad = int((~np.isfinite(vertices)).any(axis=1).sum())
        raise MeshError(f"{where} is corrupt: {bad} of its {len(vertices)} vertices have NaN/Inf "
                        "coordinates (a broken export); fix or re-export the mesh")
    if max_faces is not None and len(faces) > max_faces:
        raise MeshError(
            f"{where} has {len(faces)} faces, more than max_faces={max_faces}; the renderer's "
            "cost grows with the face count. Decimate it first (e.g. MeshLab/Blender, or "
            "trimesh.simplify_quadric_decimation with the fast_simplification package), or pass "
            "a larger max_faces")
    if scale is not None:
        if not (np.isfinite(scale) and scale > 0):
            raise MeshError(f"scale must be a positive number, got {scale!r}")
        vertices = vertices * float(scale)

    normals = _vertex_normals(tm, len(vertices))
    uv, texture, colors = _visual(tm, len(vertices), max_texture_size)

    # Keep only referenced vertices, so the bounding box and diameter describe the surface.
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.reshape(-1)] = True
    if not used.all():
        remap = np.cumsum(used) - 1
        faces = remap[faces]
        vertices, normals = vertices[used], normals[used]
        uv = None if uv is None else uv[used]
        colors = None if colors is None else colors[used]

    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    center = (lo + hi) / 2.0
    vertices = vertices - center
    diameter = mesh_diameter(vertices)
    if not diameter > 0:
        raise MeshError(f"{where} is degenerate: all vertices coincide")
    if diameter > MAX_DIAMETER_M and scale is None:
        guesses = suggest_scales(diameter)
        hint = (f"pass {_describe(guesses)}" if guesses else
                "pass scale= the factor that converts its units to metres")
        error = MeshUnitsError(
            f"{where} is {diameter:.4g} units across; meshes must be in metres. "
            f"{hint[0].upper() + hint[1:]}")
        error.suggested_scale = guesses[0][1] if guesses else None
        raise error
    lo, hi = PLAUSIBLE_DIAMETER_M
    if not lo <= diameter <= hi:
        current = float(scale) if scale is not None else 1.0
        guesses = suggest_scales(diameter, current)
        warnings.warn(MeshScaleWarning(
            f"{where} is {diameter:.3g} m across with scale={current:g}: implausibly "
            f"{'small' if diameter < lo else 'large'} for a tracked object "
            f"({lo:g}-{hi:g} m). Check the units" + (
                f": try {_describe(guesses)}" if guesses else "")), stacklevel=3)

    attrs = {'normal': normals}
    if uv is not None:
        attrs['uv'] = uv
    if colors is not None:
        attrs['color'] = colors.astype(np.float64)
    vertices, faces, attrs = subdivide_long_edges(
        vertices, faces, attrs, max_edge_ratio * diameter, max_faces=max_faces, where=where)

    normals = attrs['normal']
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(norm > 0, normals / np.maximum(norm, 1e-12), 0.0)
    uv = attrs['uv'].astype(np.float32) if 'uv' in attrs else None
    if 'color' in attrs:
        colors = np.clip(np.rint(attrs['color']), 0, 255).astype(np.uint8)
    return Mesh(
        vertices=vertices.astype(np.float32),
        faces=faces.astype(np.int64),
        vertex_normals=normals.astype(np.float32),
        uv=uv,
        texture=texture if uv is not None else None,
        vertex_colors=colors,
        center=center.astype(np.float64),
        diameter=float(diameter),
        max_edge=float(_edge_lengths(vertices, faces).max()),
        path=path,
    )


def _vertex_normals(tm, num_vertices: int) -> np.ndarray:
    """Return trimesh's (V,3) float64 vertex normals (file normals when it kept them)."""
    try:
        normals = np.asarray(tm.vertex_normals, dtype=np.float64)
    except Exception:  # degenerate geometry can make trimesh's normal computation fail
        normals = np.zeros((num_vertices, 3))
    if normals.shape != (num_vertices, 3) or not np.isfinite(normals).all():
        normals = np.zeros((num_vertices, 3))
    return normals


def _visual(tm, num_vertices: int, max_texture_size: Optional[int]):
    """
    Return (uv (V,2) float64 | None, texture (Ht,Wt,3) uint8 | None, colours (V,3) | None).

    A texture needs both per-vertex uv and a material image; trimesh's 2x2 grey placeholder for an
    OBJ with uv but no material counts as no texture (the renderer then uses plain grey).
    """
    visual = getattr(tm, 'visual', None)
    kind = getattr(visual, 'kind', None)
    if kind == 'texture':
        uv = getattr(visual, 'uv', None)
        material = getattr(visual, 'material', None)
        image = _material_image(material)
        if uv is not None and image is not None:
            uv = np.nan_to_num(np.asarray(uv, dtype=np.float64).reshape(-1, 2)[:num_vertices])
            if len(uv) == num_vertices:
                return uv, _texture_array(image, max_texture_size), None
        return None, None, None
    if kind in ('vertex', 'face'):
        # Face colours are averaged onto vertices by trimesh, as FoundationPose renders them.
        colors = np.asarray(visual.vertex_colors)[:, :3].astype(np.uint8)
        if colors.shape == (num_vertices, 3):
            return None, None, colors
    return None, None, None


def _material_image(material):
    """Return the material's PIL image, or None (no image, or trimesh's placeholder)."""
    if material is None:
        return None
    image = getattr(material, 'image', None)
    if image is None:
        image = getattr(material, 'baseColorTexture', None)  # PBR materials (glTF)
    if image is None:
        return None
    arr = np.asarray(image.convert('RGB'))
    if arr.shape[:2] == (2, 2) and (arr == np.array(_TRIMESH_PLACEHOLDER_RGB)).all():
        return None
    return image


def _texture_array(image, max_texture_size: Optional[int]) -> np.ndarray:
    """Convert a PIL image to (Ht,Wt,3) uint8 RGB, downscaled if larger than the limit."""
    image = image.convert('RGB')
    if max_texture_size is not None and max(image.size) > max_texture_size:
        from PIL import Image
        factor = max_texture_size / max(image.size)
        size = (max(1, round(image.size[0] * factor)), max(1, round(image.size[1] * factor)))
        image = image.resize(size, Image.BILINEAR)
    return np.array(image, dtype=np.uint8)  # a writable copy


#: Largest number of convex-hull vertices compared pairwise in `mesh_diameter` (an O(n^2) step:
#: about 0.5 s at 5000 on one CPU core). Real object meshes stay far below it (the YCB-Video
#: models' hulls have 360 to 3400 vertices).
MAX_DIAMETER_POINTS = 5000


def _hull_points(v: np.ndarray) -> np.ndarray:
    """Return the rows of (N,3) points on their convex hull (all of them when N <= 4)."""
    from scipy.spatial import ConvexHull, QhullError

    if len(v) <= 4:
        return v
    try:
        return v[ConvexHull(v).vertices]
    except (QhullError, ValueError):
        pass
    # Flat points: the farthest pair lies on the hull in their plane (distances kept exactly).
    c = v - v.mean(axis=0)
    axes = np.linalg.svd(c, full_matrices=False)[2]
    try:
        return v[ConvexHull(c @ axes[:2].T).vertices]
    except (QhullError, ValueError):  # collinear: the two ends of the line
        x = c @ axes[0]
        return v[[int(np.argmin(x)), int(np.argmax(x))]]


def mesh_diameter(vertices: np.ndarray, max_points: int = MAX_DIAMETER_POINTS) -> float:
    """
    Largest distance between two vertices, metres: exact, over the convex hull's vertices.

    Why exact: the diameter sets the crop window, the normalisation of the network inputs, the
    ICP gates and the ADD-0.1d threshold, and the synthetic shapes are scaled to a requested
    diameter; every user must see the same number for the same mesh. The farthest pair of
    points lies on the convex hull, so only the hull's vertices are compared pairwise. A hull of
    more than ``max_points`` vertices (dense scans of round objects) is compared on an even
    subsample of them, refined by the farthest hull vertex from each end of the best pair: a
    lower bound, short by about 1e-4 relative at that density, so that the cost stays bounded.

    Args:
        vertices: (N,3) float metres (any frame); rows with NaN/Inf are ignored.
        max_points: largest number of hull vertices compared pairwise.

    Returns:
        The diameter, metres; 0.0 for fewer than two distinct finite vertices.
    """
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    v = np.unique(v[np.all(np.isfinite(v), axis=1)], axis=0)
    if len(v) < 2:
        return 0.0
    hull = _hull_points(v)
    sub = hull
    if len(hull) > max_points:
        sub = hull[np.linspace(0, len(hull) - 1, max_points).astype(np.int64)]
    # Centred, |a - b|^2 = |a|^2 + |b|^2 - 2 a.b loses no precision worth mentioning and runs as
    # a matrix product; the chosen pair's distance is then recomputed directly.
    c = sub - sub.mean(axis=0)
    sq = (c * c).sum(axis=1)
    best, pair = -1.0, (0, 0)
    chunk = max(1, 4_000_000 // len(c))
    for start in range(0, len(c), chunk):
        d2 = sq[start:start + chunk, None] + sq[None, :] - 2.0 * (c[start:start + chunk] @ c.T)
        i, j = np.unravel_index(int(np.argmax(d2)), d2.shape)
        if d2[i, j] > best:
            best, pair = float(d2[i, j]), (start + int(i), int(j))
    a, b = sub[pair[0]], sub[pair[1]]
    if len(hull) > len(sub):  # the farthest hull vertex from either end of the subsample's pair
        a, b = max(((p, hull[np.argmax(((hull - p) ** 2).sum(axis=1))]) for p in (a, b)),
                   key=lambda ab: float(((ab[0] - ab[1]) ** 2).sum()))
    return float(np.sqrt(((a - b) ** 2).sum()))


def _edge_lengths(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Return the (F*3,) lengths of the face edges (v0v1, v1v2, v2v0 for each face)."""
    a = vertices[faces]
    return np.linalg.norm(a - np.roll(a, -1, axis=1), axis=-1).reshape(-1)


def subdivide_long_edges(vertices: np.ndarray, faces: np.ndarray, attrs: Dict[str, np.ndarray],
                         max_edge: float, max_faces: Optional[int] = None, max_iter: int = 40,
                         where: str = 'mesh'):
    """
    Split every edge longer than ``max_edge`` at its midpoint until none is left.

    The split is conforming: an edge is split in every face that uses it, and each face is
    re-triangulated by the number of its split edges (1 -> 2 faces, 2 -> 3, 3 -> 4), so no
    T-junctions (which would leave pinholes in the rasterized mask) are created. Positions and the
    per-vertex attributes are interpolated linearly at the midpoints; the surface and any affine
    quantity on it (uv) are unchanged. Winding is preserved.

    Args:
        vertices: (V,3) float64.
        faces: (F,3) int64.
        attrs: name -> (V,k) float per-vertex attributes, interpolated at new vertices.
        max_edge: target largest edge length (same units as ``vertices``).
        max_faces: raise :class:`MeshError` when the face count would exceed this.
        max_iter: safety bound on the number of splitting rounds.
        where: name of the mesh, for error messages.

    Returns:
        tuple: (vertices (V',3), faces (F',3) int64, attrs with (V',k) arrays).

    """
    attrs = {k: np.asarray(v, dtype=np.float64) for k, v in attrs.items()}
    if not max_edge > 0:
        return vertices, faces, attrs
    for _ in range(max_iter):
        edges = np.sort(faces[:, [[0, 1], [1, 2], [2, 0]]], axis=2).reshape(-1, 2)
        uniq, inverse = np.unique(edges, axis=0, return_inverse=True)
        length = np.linalg.norm(vertices[uniq[:, 0]] - vertices[uniq[:, 1]], axis=1)
        long = length > max_edge
        if not long.any():
            break
        nv = len(vertices)
        mid_of_edge = np.full(len(uniq), -1, dtype=np.int64)
        mid_of_edge[long] = nv + np.arange(int(long.sum()))
        a, b = uniq[long, 0], uniq[long, 1]
        vertices = np.concatenate([vertices, 0.5 * (vertices[a] + vertices[b])])
        attrs = {k: np.concatenate([v, 0.5 * (v[a] + v[b])]) for k, v in attrs.items()}
        mid = mid_of_edge[inverse.reshape(-1)].reshape(-1, 3)  # mid[f, k]: midpoint of edge k
        faces = _split_faces(faces, mid, vertices)
        if max_faces is not None and len(faces) > max_faces:
            raise MeshError(
                f"subdividing {where} to edges <= {max_edge:.4g} m gives more than "
                f"max_faces={max_faces} faces; pass a larger max_edge_ratio or max_faces")
    return vertices, faces, attrs


def _split_faces(faces: np.ndarray, mid: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """
    Re-triangulate faces given the midpoint vertex of each split edge (-1: not split).

    Edge k of a face runs from vertex k to vertex (k+1) % 3.
    """
    split = mid >= 0
    count = split.sum(axis=1)
    out = [faces[count == 0]]
    rows = np.arange(len(faces))

    def rolled(sel, r):
        """Vertices and midpoints of faces ``sel`` rotated so that index r comes first."""
        idx = (r[:, None] + np.arange(3)[None, :]) % 3
        return faces[sel][rows[:len(idx), None], idx], mid[sel][rows[:len(idx), None], idx]

    sel = count == 1
    if sel.any():
        v, m = rolled(sel, np.argmax(split[sel], axis=1))  # split edge is v0-v1
        out += [np.stack([v[:, 0], m[:, 0], v[:, 2]], 1), np.stack([m[:, 0], v[:, 1], v[:, 2]], 1)]
    sel = count == 2
    if sel.any():
        # Rotate so that the unsplit edge is v1-v2; split edges are v0-v1 (m0) and v2-v0 (m2).
        v, m = rolled(sel, (np.argmin(split[sel], axis=1) + 2) % 3)
        m0, m2 = m[:, 0], m[:, 2]
        out.append(np.stack([v[:, 0], m0, m2], 1))
        # The quad m0-v1-v2-m2 is cut along its shorter diagonal.
        d_a = np.linalg.norm(vertices[m0] - vertices[v[:, 2]], axis=1)
        d_b = np.linalg.norm(vertices[v[:, 1]] - vertices[m2], axis=1)
        use_a = (d_a <= d_b)[:, None]
        out.append(np.where(use_a, np.stack([m0, v[:, 1], v[:, 2]], 1),
                            np.stack([m0, v[:, 1], m2], 1)))
        out.append(np.where(use_a, np.stack([m0, v[:, 2], m2], 1),
                            np.stack([v[:, 1], v[:, 2], m2], 1)))
    sel = count == 3
    if sel.any():
        v, m = faces[sel], mid[sel]
        out += [np.stack([v[:, 0], m[:, 0], m[:, 2]], 1), np.stack([m[:, 0], v[:, 1], m[:, 1]], 1),
                np.stack([m[:, 2], m[:, 1], v[:, 2]], 1), np.stack([m[:, 0], m[:, 1], m[:, 2]], 1)]
    return np.concatenate(out).astype(np.int64)
