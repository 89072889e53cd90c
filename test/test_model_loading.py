# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Loading the mesh, the weights and the device, and the messages when one is wrong."""

import pytest

from pose_tracker.errors import MeshError, MeshUnitsError, PoseTrackerError, WeightsError
from pose_tracker.model_loading import (load_model, load_object_mesh, load_refiner_weights,
                                        LoadHints, resolve_device_name, weights_file)

trimesh = pytest.importorskip("trimesh")
torch = pytest.importorskip("torch")

HINTS = LoadHints(empty_mesh="give --mesh", mesh_source=" (--mesh)",
                  mesh_scale="pass --mesh-scale {scale:g}", weights="pass --weights")


@pytest.fixture(scope="module")
def meshes(tmp_path_factory):
    d = tmp_path_factory.mktemp("meshes")
    trimesh.creation.box(extents=(0.08, 0.06, 0.1)).export(d / "box.obj")
    trimesh.creation.box(extents=(80.0, 60.0, 100.0)).export(d / "box_mm.obj")
    (d / "corrupt.ply").write_bytes(
        b"ply\nformat binary_little_endian 1.0\nelement vertex 9\n\x00")
    return d


def test_mesh_errors_name_the_input(meshes):
    with pytest.raises(MeshError, match="^give --mesh$"):
        load_object_mesh("", hints=HINTS)
    with pytest.raises(MeshError, match=r"^mesh file not found: '/no/such\.obj' \(--mesh\)$"):
        load_object_mesh("/no/such.obj", hints=HINTS)
    with pytest.raises(MeshError, match="^no mesh file given"):
        load_object_mesh("")
    with pytest.raises(MeshError, match="could not read mesh file"):
        load_object_mesh(str(meshes / "corrupt.ply"))
    # Millimetres: the loader's message, plus how to give the scale when the caller says.
    with pytest.raises(MeshUnitsError) as plain:
        load_object_mesh(str(meshes / "box_mm.obj"))
    assert " -- " not in str(plain.value)
    with pytest.raises(MeshUnitsError, match=r" -- pass --mesh-scale 0\.001$"):
        load_object_mesh(str(meshes / "box_mm.obj"), hints=HINTS)
    mesh = load_object_mesh(str(meshes / "box_mm.obj"), 0.001)
    assert mesh.diameter == pytest.approx((0.08 ** 2 + 0.06 ** 2 + 0.1 ** 2) ** 0.5)


def test_weights_and_device_errors(tmp_path):
    with pytest.raises(WeightsError, match=r"^refiner weights not found: '.*none\.pt'$"):
        load_refiner_weights(str(tmp_path / "none.pt"), HINTS)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        load_refiner_weights(str(bad))
    assert weights_file(None) == weights_file("") and weights_file("x.pt") == "x.pt"
    assert resolve_device_name("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(PoseTrackerError, match="torch sees no CUDA device"):
            resolve_device_name("cuda")


def test_load_model_reports_progress(meshes):
    lines, warnings = [], []
    model = load_model(str(meshes / "box.obj"), device="cpu", log=lines.append,
                       warn=warnings.append)
    assert model.device == "cpu" and model.weights_path == weights_file(None)
    assert model.mesh.num_faces > 0 and warnings == []
    text = "\n".join(lines)
    assert "loading mesh" in text and "mesh loaded in" in text and "faces, diameter" in text
    assert "loading refiner weights" in text and "weights loaded in" in text
    assert model.display_vertices().min(0) == pytest.approx([-0.04, -0.03, -0.05])
