# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Procedural household-like meshes: primitives, deformations, unions, uv coordinates.

Every shape is a trimesh built from watertight primitives (boxes, cylinders, capsules, cones,
ellipsoids, tori, lathe profiles), optionally non-uniformly scaled, twisted, bent, tapered or
noise-displaced, or 2-3 of them overlapped into one (a concatenation, no CSG), then scaled to a
requested diameter (max vertex distance, metres) and given uv coordinates by a spherical,
cylindrical or box projection so any texture can be applied.

These shapes stand in for real objects during training: they are never the YCB objects (the
unseen test objects). Random streams come from :func:`shape_rng`, whose ``split`` keeps the
training, validation and test-sequence shapes disjoint by construction.
"""

from typing import Optional, Sequence

import numpy as np
from scipy.spatial.transform import Rotation
import trimesh
import trimesh.creation
import trimesh.remesh

from pose_tracker.mesh import mesh_diameter

__all__ = ['SPLITS', 'SHAPE_KINDS', 'shape_rng', 'random_trimesh',
           'spherical_uv', 'cylindrical_uv', 'box_uv', 'random_mesh', 'with_texture']

#: Independent random streams; a (split, seed, ...) key never collides with another split's.
SPLITS = {'train': 0, 'val': 1, 'test': 2}

#: Shape families drawn by :func:`random_trimesh` ('compound' overlaps 2-3 of the others).
SHAPE_KINDS = ('box', 'cylinder', 'capsule', 'cone', 'ellipsoid', 'torus', 'lathe', 'compound')
_KIND_WEIGHTS = np.array([0.18, 0.14, 0.08, 0.06, 0.12, 0.06, 0.16, 0.20])


def shape_rng(split: str, seed: int, *index: int) -> np.random.Generator:
    """
    Return the numpy generator of one shape (or other random item) of a split.

    Args:
        split: 'train', 'val' or 'test'; streams of different splits never coincide, so test
            sequences use shapes the network never saw.
        seed: run seed (non-negative int).
        index: further non-negative ints (e.g. refresh event, slot).

    Returns:
        A ``numpy.random.Generator`` seeded from ``SeedSequence([SPLITS[split], seed, *index])``.
    """
    key = [SPLITS[split], int(seed)] + [int(i) for i in index]
    return np.random.default_rng(np.random.SeedSequence(key))


# ------------------------------------------------------------------------------------------
# primitives (unit-ish size, z is the long / symmetry axis)
# ------------------------------------------------------------------------------------------

def _lathe(rng: np.random.Generator) -> trimesh.Trimesh:
    """Return a revolved random profile: bottle, cup, vase or can-like (height 1)."""
    n = int(rng.integers(3, 7))
    z = np.sort(rng.uniform(0.05, 0.95, n))
    r = rng.uniform(0.15, 0.45, n)
    if rng.random() < 0.5:  # a neck: narrow top like a bottle
        r[-1] *= rng.uniform(0.3, 0.7)
    prof = np.concatenate([[[0.0, 0.0], [r[0], 0.0]], np.stack([r, z], 1),
                           [[r[-1], 1.0], [0.0, 1.0]]])
    return trimesh.creation.revolve(prof, sections=int(rng.integers(24, 40)))


def _primitive(kind: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """Return one watertight primitive of ``kind`` with extent about 1."""
    if kind == 'box':
        return trimesh.creation.box(extents=rng.uniform(0.3, 1.0, 3))
    if kind == 'cylinder':
        return trimesh.creation.cylinder(radius=rng.uniform(0.15, 0.5), height=1.0,
                                         sections=int(rng.integers(6, 40)))
    if kind == 'capsule':
        return trimesh.creation.capsule(height=rng.uniform(0.3, 1.0),
                                        radius=rng.uniform(0.15, 0.4), count=[16, 16])
    if kind == 'cone':
        return trimesh.creation.cone(radius=rng.uniform(0.2, 0.5), height=1.0,
                                     sections=int(rng.integers(8, 40)))
    if kind == 'ellipsoid':
        m = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
        m.apply_scale(rng.uniform(0.4, 1.0, 3))
        return m
    if kind == 'torus':
        major = 0.35
        return trimesh.creation.torus(major, major * rng.uniform(0.15, 0.6),
                                      major_sections=32, minor_sections=16)
    if kind == 'lathe':
        return _lathe(rng)
    raise ValueError(f'unknown shape kind {kind!r}; known: {SHAPE_KINDS}')


# ------------------------------------------------------------------------------------------
# deformations on (V,3) vertex arrays
# ------------------------------------------------------------------------------------------

def _twist(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate each z-slice about z by an angle linear in z (up to +-60 degrees over the extent)."""
    ext = np.ptp(v[:, 2]) + 1e-9
    a = rng.uniform(-1.0, 1.0) * np.pi / 3 * (v[:, 2] - v[:, 2].min()) / ext
    c, s = np.cos(a), np.sin(a)
    return np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1], v[:, 2]], 1)


def _bend(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bend the z axis into a circular arc in the x-z plane (total angle up to 70 degrees)."""
    zc = v[:, 2] - v[:, 2].mean()
    ext = np.ptp(v[:, 2]) + 1e-9
    angle = rng.uniform(0.2, 1.2) * rng.choice([-1.0, 1.0])
    R = ext / angle
    th = zc / R
    x = R - (R - v[:, 0]) * np.cos(th)
    z = (R - v[:, 0]) * np.sin(th)
    return np.stack([x, v[:, 1], z], 1)


def _taper(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale x and y linearly along z (one end up to 45% narrower)."""
    zn = (v[:, 2] - v[:, 2].min()) / (np.ptp(v[:, 2]) + 1e-9)
    k = 1.0 - rng.uniform(0.0, 0.45) * (zn if rng.random() < 0.5 else 1.0 - zn)
    return v * np.stack([k, k, np.ones_like(k)], 1)


def _noise_displace(v: np.ndarray, normals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Displace along the normals by a smooth field: a few random 3D sinusoids (<= 3% of size)."""
    size = np.ptp(v, axis=0).max() + 1e-9
    field = np.zeros(len(v))
    for _ in range(4):
        w = rng.normal(size=3) * rng.uniform(2.0, 8.0) * 2 * np.pi / size
        field += np.sin(v @ w + rng.uniform(0, 2 * np.pi))
    return v + normals * (field / 4.0 * rng.uniform(0.005, 0.03) * size)[:, None]


def _dense(tm: trimesh.Trimesh, max_edge: float) -> trimesh.Trimesh:
    """Subdivide so deformations have vertices to act on (keeps the mesh watertight)."""
    v, f = trimesh.remesh.subdivide_to_size(tm.vertices, tm.faces, max_edge=max_edge, max_iter=8)
    return trimesh.Trimesh(v, f, process=True)


def _deformed_primitive(kind: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """Return a primitive with random anisotropic scale and random deformations."""
    tm = _primitive(kind, rng)
    tm.apply_scale(rng.uniform(0.5, 1.0, 3) if kind not in ('box', 'ellipsoid') else 1.0)
    ops = [op for op, p in ((_twist, 0.25), (_bend, 0.2), (_taper, 0.25), (None, 0.3))
           if rng.random() < p]
    if not ops:
        return tm
    # deformations need vertices to act on; undeformed primitives stay coarse (fewer faces)
    tm = _dense(tm, np.ptp(tm.vertices, axis=0).max() / 10.0)
    v = np.asarray(tm.vertices, dtype=np.float64)
    for op in ops:
        if op is None:  # smooth noise displacement along the (current) normals
            normals = trimesh.Trimesh(v, tm.faces, process=False).vertex_normals
            v = _noise_displace(v, np.asarray(normals), rng)
        else:
            v = op(v, rng)
    return trimesh.Trimesh(v, tm.faces, process=False)


def _compound(rng: np.random.Generator) -> trimesh.Trimesh:
    """Overlap 2-3 deformed primitives (e.g. a mug body and handle, a bottle and a cap)."""
    simple = [k for k in SHAPE_KINDS if k != 'compound']
    w = _KIND_WEIGHTS[:len(simple)] / _KIND_WEIGHTS[:len(simple)].sum()
    parts = []
    for i in range(int(rng.integers(2, 4))):
        tm = _deformed_primitive(str(rng.choice(simple, p=w)), rng)
        if i > 0:
            tm.apply_scale(rng.uniform(0.3, 0.9))
            tm.apply_transform(_random_rigid(rng, offset=rng.uniform(0.15, 0.5)))
        parts.append(tm)
    return trimesh.util.concatenate(parts)


def _random_rigid(rng: np.random.Generator, offset: float) -> np.ndarray:
    """Return a 4x4 with a uniform random rotation and a translation of length ``offset``."""
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=rng).as_matrix()
    d = rng.normal(size=3)
    T[:3, 3] = d / (np.linalg.norm(d) + 1e-12) * offset
    return T


def random_trimesh(rng: np.random.Generator, diameter: Optional[float] = None,
                   kind: Optional[str] = None,
                   diameter_range: Sequence[float] = (0.05, 0.30)) -> trimesh.Trimesh:
    """
    Build one random watertight-per-part mesh, centred on its bounding-box centre.

    Args:
        rng: numpy generator (see :func:`shape_rng`).
        diameter: target diameter in metres; None draws it log-uniformly from ``diameter_range``.
        kind: one of ``SHAPE_KINDS``; None draws one.
        diameter_range: (min, max) metres for a drawn diameter.

    Returns:
        ``trimesh.Trimesh`` in metres, bounding-box centre at the origin, vertex uv in
        ``mesh.metadata['uv']`` ((V,2) float32 in [0,1]) and the projection used in
        ``mesh.metadata['uv_kind']``. Every part is closed (watertight); a compound is the
        concatenation of closed parts.
    """
    if kind is None:
        kind = str(rng.choice(SHAPE_KINDS, p=_KIND_WEIGHTS / _KIND_WEIGHTS.sum()))
    if diameter is None:
        lo, hi = diameter_range
        diameter = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    tm = _compound(rng) if kind == 'compound' else _deformed_primitive(kind, rng)
    v = np.asarray(tm.vertices, dtype=np.float64)
    v = v - 0.5 * (v.min(0) + v.max(0))
    v *= diameter / mesh_diameter(v)
    v = v - 0.5 * (v.min(0) + v.max(0))
    tm = trimesh.Trimesh(v, tm.faces, process=False)
    uv_kind = str(rng.choice(['spherical', 'cylindrical', 'box']))
    uv = {'spherical': spherical_uv, 'cylindrical': cylindrical_uv, 'box': box_uv}[uv_kind](
        v, np.asarray(tm.vertex_normals))
    tm.metadata['uv'] = uv.astype(np.float32)
    tm.metadata['uv_kind'] = uv_kind
    tm.metadata['kind'] = kind
    return tm


# ------------------------------------------------------------------------------------------
# uv projections
# ------------------------------------------------------------------------------------------

def spherical_uv(vertices: np.ndarray, normals: Optional[np.ndarray] = None) -> np.ndarray:
    """Return (V,2) uv in [0,1]: longitude / latitude of each vertex seen from the origin."""
    v = vertices / (np.linalg.norm(vertices, axis=1, keepdims=True) + 1e-12)
    u = np.arctan2(v[:, 1], v[:, 0]) / (2 * np.pi) + 0.5
    w = np.arccos(np.clip(v[:, 2], -1.0, 1.0)) / np.pi
    return np.stack([u, w], 1)


def cylindrical_uv(vertices: np.ndarray, normals: Optional[np.ndarray] = None) -> np.ndarray:
    """Return (V,2) uv in [0,1]: angle about z, and height along z (label-like wrap)."""
    u = np.arctan2(vertices[:, 1], vertices[:, 0]) / (2 * np.pi) + 0.5
    z = vertices[:, 2]
    w = (z - z.min()) / (np.ptp(z) + 1e-12)
    return np.stack([u, w], 1)


def box_uv(vertices: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """
    Return (V,2) uv in [0,1]: planar projection along the dominant normal axis.

    The texture is split into a 3x2 atlas, one tile per axis and sign, so opposite faces of a
    box get different parts of the texture.
    """
    axis = np.abs(normals).argmax(1)
    sign = (np.take_along_axis(normals, axis[:, None], 1)[:, 0] > 0).astype(np.int64)
    lo, span = vertices.min(0), np.ptp(vertices, axis=0).max() + 1e-12
    p = (vertices - lo) / span  # [0,1] per axis
    other = np.array([[1, 2], [0, 2], [0, 1]])[axis]
    a = np.take_along_axis(p, other[:, :1], 1)[:, 0]
    b = np.take_along_axis(p, other[:, 1:], 1)[:, 0]
    tile = axis * 2 + sign  # 0..5 -> column 0..2, row 0..1
    u = (tile % 3 + a) / 3.0
    w = (tile // 3 + b) / 2.0
    return np.clip(np.stack([u, w], 1), 0.0, 1.0)


def random_mesh(rng: np.random.Generator, texture: Optional[np.ndarray] = None,
                diameter: Optional[float] = None, kind: Optional[str] = None,
                diameter_range: Sequence[float] = (0.05, 0.30), **mesh_kwargs):
    """
    Build a random shape as a :class:`pose_tracker.mesh.Mesh` (centred, subdivided).

    Args:
        rng: numpy generator (see :func:`shape_rng`).
        texture: optional (Ht,Wt,3) uint8 texture for the uv coordinates; None leaves the mesh
            untextured (training draws textures per sample on the device instead).
        diameter, kind, diameter_range: as in :func:`random_trimesh`.
        mesh_kwargs: passed to ``mesh_from_trimesh`` (e.g. a subdivision edge length).

    Returns:
        ``(mesh, tm)``: the ``Mesh`` and the source trimesh (with ``TextureVisuals`` when a
        texture was given, ready for ``export('mesh.obj')``).
    """
    from pose_tracker.mesh import mesh_from_trimesh  # late: mesh.py is optional for shapes

    tm = random_trimesh(rng, diameter=diameter, kind=kind, diameter_range=diameter_range)
    tm = with_texture(tm, texture)
    return mesh_from_trimesh(tm, **mesh_kwargs), tm


def with_texture(tm: trimesh.Trimesh, texture: Optional[np.ndarray]) -> trimesh.Trimesh:
    """
    Attach the uv of ``tm.metadata['uv']`` and an (Ht,Wt,3) uint8 texture as TextureVisuals.

    Without a texture the uv are still attached (with a mid-grey 2x2 image) so the mesh keeps
    them through export; returns ``tm`` (modified in place).
    """
    from PIL import Image

    img = np.full((2, 2, 3), 128, np.uint8) if texture is None else np.asarray(texture, np.uint8)
    material = trimesh.visual.material.SimpleMaterial(image=Image.fromarray(img))
    tm.visual = trimesh.visual.TextureVisuals(uv=tm.metadata['uv'], material=material)
    return tm
