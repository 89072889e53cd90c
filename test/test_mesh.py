# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of mesh loading: units, errors, centring, diameter, subdivision, visuals."""

import warnings

import numpy as np
import pytest
import trimesh

from pose_tracker.errors import MeshError, MeshUnitsError
from pose_tracker.mesh import (centred_to_original, load_mesh, mesh_diameter, mesh_from_trimesh,
                               MeshScaleWarning, original_to_centred, subdivide_long_edges,
                               suggest_scales)


@pytest.fixture(scope='module')
def cracker(ycbv):
    return load_mesh(ycbv / 'models' / '003_cracker_box' / 'textured.obj')


def test_textured_ycb_mesh(cracker, ycbv):
    m = cracker
    raw = trimesh.load(ycbv / 'models' / '003_cracker_box' / 'textured.obj', force='mesh')
    assert m.vertices.dtype == np.float32 and m.vertices.shape[1] == 3
    assert m.faces.dtype == np.int64 and m.faces.shape[1] == 3
    assert m.uv is not None and m.uv.shape == (len(m.vertices), 2) and m.uv.dtype == np.float32
    assert m.texture is not None and m.texture.dtype == np.uint8 and m.texture.shape[2] == 3
    assert m.vertex_colors is None
    # Centred on the bounding-box centre; `center` is that centre in the file frame.
    np.testing.assert_allclose((m.vertices.min(0) + m.vertices.max(0)) / 2, 0, atol=1e-6)
    np.testing.assert_allclose(m.center, (raw.vertices.min(0) + raw.vertices.max(0)) / 2,
                               atol=1e-9)
    # The cracker box is a box: its diameter is about its bounding-box diagonal, in metres.
    diag = np.linalg.norm(raw.vertices.max(0) - raw.vertices.min(0))
    assert 0.9 * diag < m.diameter <= diag + 1e-9 and 0.2 < m.diameter < 0.35
    sample = raw.vertices[np.random.default_rng(0).choice(len(raw.vertices), 500)]
    d = np.linalg.norm(sample[:, None] - sample[None], axis=-1).max()
    assert d <= m.diameter + 1e-9
    # Subdivided to the edge bound, without changing the surface.
    assert m.max_edge <= 0.03 * m.diameter + 1e-9
    assert len(m.faces) > len(raw.faces)
    area = np.linalg.norm(np.cross(*(m.vertices[m.faces[:, 1:]]
                                     - m.vertices[m.faces[:, :1]]).transpose(1, 0, 2)), axis=-1)
    assert area.sum() / 2 == pytest.approx(raw.area, rel=1e-5)
    np.testing.assert_allclose(np.linalg.norm(m.vertex_normals, axis=1), 1.0, atol=1e-5)
    assert m.path.endswith('textured.obj')


def test_geometry_only_mesh_is_plain(ycbv):
    m = load_mesh(ycbv / 'models' / '025_mug' / 'mesh_geometry_only.obj')
    # trimesh's placeholder material (uv but no image) is not a texture.
    assert m.texture is None and m.uv is None and m.vertex_colors is None
    assert 0.1 < m.diameter < 0.15


def box(extents=(0.1, 0.2, 0.3), offset=(1.0, -2.0, 0.5)):
    tm = trimesh.creation.box(extents=extents)
    tm.apply_translation(offset)
    return tm


def test_centre_diameter_and_subdivision_of_a_box():
    tm = box()
    m = mesh_from_trimesh(tm)
    assert m.path is None
    np.testing.assert_allclose(m.center, [1.0, -2.0, 0.5], atol=1e-12)
    assert m.diameter == pytest.approx(np.sqrt(0.01 + 0.04 + 0.09), rel=1e-9)
    assert m.max_edge <= 0.03 * m.diameter + 1e-12
    assert m.vertex_colors is None and m.texture is None
    out = trimesh.Trimesh(m.vertices, m.faces, process=False)
    assert out.is_watertight  # conforming split: no T-junctions, no cracks
    assert out.is_winding_consistent and out.volume == pytest.approx(0.006, rel=1e-5)
    np.testing.assert_allclose(m.vertices.min(0), [-0.05, -0.1, -0.15], atol=1e-7)


def test_subdivision_interpolates_attributes_linearly():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=np.float64)
    f = np.array([[0, 1, 2], [1, 3, 2]])
    attrs = {'uv': v[:, :2] * [0.5, 0.25] + [0.1, 0.2], 'color': v[:, :1] * 200}
    nv, nf, na = subdivide_long_edges(v, f, attrs, max_edge=0.3)
    e = nv[nf] - nv[np.roll(nf, -1, axis=1)]
    assert np.linalg.norm(e, axis=-1).max() <= 0.3
    np.testing.assert_allclose(na['uv'], nv[:, :2] * [0.5, 0.25] + [0.1, 0.2], atol=1e-12)
    np.testing.assert_allclose(na['color'], nv[:, :1] * 200, atol=1e-9)
    # Winding kept: every face normal still points along +z.
    n = np.cross(nv[nf[:, 1]] - nv[nf[:, 0]], nv[nf[:, 2]] - nv[nf[:, 0]])
    assert (n[:, 2] > 0).all() and n[:, 2].sum() / 2 == pytest.approx(1.0)


def test_millimetre_mesh_refused_unless_scaled(tmp_path):
    path = tmp_path / 'box_mm.stl'
    box(extents=(100, 200, 300), offset=(0, 0, 0)).export(path)
    with pytest.raises(MeshUnitsError, match='scale=0.001'):
        load_mesh(path)
    m = load_mesh(path, scale=0.001)
    assert m.diameter == pytest.approx(np.sqrt(0.14), rel=1e-6)
    assert m.texture is None and m.vertex_colors is None


def test_vertex_coloured_ply(tmp_path):
    tm = trimesh.creation.icosphere(subdivisions=1, radius=0.05)
    colors = np.zeros((len(tm.vertices), 4), dtype=np.uint8)
    colors[:, 0] = 255
    colors[:, 1] = (np.arange(len(tm.vertices)) * 7) % 256
    colors[:, 3] = 255
    tm.visual = trimesh.visual.ColorVisuals(tm, vertex_colors=colors)
    path = tmp_path / 'sphere.ply'
    tm.export(path)
    m = load_mesh(path, max_edge_ratio=1.0)  # no subdivision: colours must come back as they were
    assert m.vertex_colors is not None and m.vertex_colors.dtype == np.uint8
    assert m.texture is None and m.uv is None
    assert len(m.vertices) == len(tm.vertices)
    order = np.lexsort(m.vertices.T)
    ref = np.lexsort((tm.vertices - 0).T)
    np.testing.assert_array_equal(m.vertex_colors[order], colors[ref, :3])
    m2 = load_mesh(path)  # subdivided: new vertices get averaged colours, red stays 255
    assert len(m2.vertices) > len(tm.vertices) and (m2.vertex_colors[:, 0] == 255).all()


def test_missing_corrupt_and_empty_files(tmp_path):
    with pytest.raises(MeshError, match='not found'):
        load_mesh(tmp_path / 'nope.obj')
    bad = tmp_path / 'bad.ply'
    bad.write_bytes(b'ply\nformat binary_little_endian 1.0\nelement vertex 99\n\x00\x01garbage')
    with pytest.raises(MeshError):
        load_mesh(bad)
    empty = tmp_path / 'empty.obj'
    empty.write_text('# nothing here\n')
    with pytest.raises(MeshError):
        load_mesh(empty)
    points = tmp_path / 'points.obj'
    points.write_text('v 0 0 0\nv 1 0 0\nv 0 1 0\n')
    with pytest.raises(MeshError):
        load_mesh(points)


def test_face_limit():
    tm = trimesh.creation.icosphere(subdivisions=3, radius=0.05)
    with pytest.raises(MeshError, match='max_faces'):
        mesh_from_trimesh(tm, max_faces=100)
    with pytest.raises(MeshError, match='max_edge_ratio'):
        mesh_from_trimesh(tm, max_faces=len(tm.faces) + 10, max_edge_ratio=0.01)


@pytest.mark.parametrize('extents, units, scale', [
    ((80.0, 60.0, 100.0), 'millimetres', 0.001),   # a 14 cm box in mm
    ((25.0, 15.0, 10.0), 'centimetres', 0.01),     # a 31 cm box in cm
    ((10.0, 6.0, 4.0), 'inches', 0.0254),          # a 31 cm box in inches
])
def test_units_error_suggests_the_scale_that_fits(tmp_path, extents, units, scale):
    path = tmp_path / 'part.obj'
    trimesh.creation.box(extents=extents).export(path)
    with pytest.raises(MeshUnitsError) as info:
        load_mesh(path)
    assert info.value.suggested_scale == pytest.approx(scale)
    first = str(info.value).split('. ', 1)[1].split(',')[0]
    assert first.startswith(f'Pass scale={scale:g} if it is in {units}')
    # Following the advice loads it without complaint, at a plausible size.
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert 0.1 < load_mesh(path, scale=scale).diameter < 0.5


def test_implausible_size_warns_with_the_fitting_scale():
    # A centimetre mesh given scale=0.001 (the old advice): 10x too small, now said.
    with pytest.warns(MeshScaleWarning,
                      match=r'implausibly small.*try scale=0\.01 if it is in centimetres'):
        m = mesh_from_trimesh(box(extents=(8.0, 6.0, 10.0)), scale=0.001)
    assert m.diameter == pytest.approx(0.01414, rel=1e-3)
    with pytest.warns(MeshScaleWarning, match='implausibly large'):
        mesh_from_trimesh(box(extents=(2.0, 1.0, 1.5)))
    assert [g[0] for g in suggest_scales(0.0141, 0.001)] == ['centimetres', 'inches']


def test_nan_vertex_refused_not_dropped(tmp_path):
    path = tmp_path / 'broken.obj'
    path.write_text('v 0 0 0\nv 0.1 0 0\nv 0 0.1 0\nv nan 0 0.1\nf 1 2 3\nf 1 3 4\n')
    with pytest.raises(MeshError, match='1 of its 4 vertices have NaN'):
        load_mesh(path)
    tm = trimesh.Trimesh(np.array([[0, 0, 0], [0.1, 0, 0], [0, 0.1, np.nan]]), [[0, 1, 2]],
                         process=False)
    with pytest.raises(MeshError, match='NaN/Inf'):
        mesh_from_trimesh(tm)


def test_mesh_diameter_is_the_exact_farthest_pair():
    rng = np.random.default_rng(3)
    R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    clouds = [rng.normal(size=(1500, 3)) * [1.0, 0.3, 0.1],                      # 3D
              np.c_[rng.uniform(size=(800, 2)), np.zeros(800)],                 # flat
              np.c_[np.linspace(0, 1, 50), np.zeros(50), np.zeros(50)]]         # collinear
    for v in clouds:
        v = v @ R.T + [0.5, -1.0, 2.0]  # tilted, far from the origin
        brute = np.sqrt(((v[:, None] - v[None]) ** 2).sum(-1)).max()
        assert mesh_diameter(v) == pytest.approx(brute, rel=1e-12)
        # A hull larger than max_points: a lower bound, close to the exact value.
        assert brute * (1 - 1e-3) <= mesh_diameter(v, max_points=20) <= brute * (1 + 1e-12)
    assert mesh_diameter(np.array([[0.0, 0, 0], [3, 4, 0], [np.nan, 0, 0]])) == 5.0
    assert mesh_diameter(np.zeros((5, 3))) == 0.0 and mesh_diameter(np.zeros((0, 3))) == 0.0


def test_centred_and_original_pose_frames():
    rng = np.random.default_rng(4)
    c = np.array([0.01, -0.02, 0.03])
    T = np.tile(np.eye(4), (2, 1, 1))
    T[:, :3, :3] = np.linalg.qr(rng.normal(size=(3, 3)))[0]  # orthonormal is enough here
    T[:, :3, 3] = [[0.1, 0.0, 0.6], [0.0, 0.2, 0.8]]
    T_orig = centred_to_original(T, c)
    shift = np.eye(4)
    shift[:3, 3] = -c
    np.testing.assert_array_equal(T_orig[1], T[1] @ shift)
    # A vertex x of the original file is x - c in the centred mesh: same camera point.
    x = np.array([0.05, 0.04, -0.01, 1.0])
    np.testing.assert_allclose(T_orig[0] @ x, T[0] @ (x - np.r_[c, 0.0]), atol=1e-15)
    np.testing.assert_allclose(original_to_centred(T_orig, c), T, atol=1e-15)
