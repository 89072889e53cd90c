# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""`pose_tracker_node` refuses to start on a bad mesh or bad weights: exit 1 with the reason."""

import os
from pathlib import Path
import subprocess
import sys

import pytest

pytest.importorskip("rclpy")
torch = pytest.importorskip("torch")
trimesh = pytest.importorskip("trimesh")
pytestmark = pytest.mark.ros

from pose_tracker.network.presets import NARROW  # noqa: E402
from pose_tracker.network.refinenet import RefineNet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good and bad meshes and weights files."""
    d = tmp_path_factory.mktemp("startup")
    out = {"missing": str(d / "missing.obj")}
    trimesh.creation.box(extents=(0.08, 0.06, 0.1)).export(d / "box.obj")
    trimesh.creation.box(extents=(80.0, 60.0, 100.0)).export(d / "box_mm.obj")
    (d / "empty.obj").write_bytes(b"")
    (d / "corrupt.ply").write_bytes(
        b"ply\nformat binary_little_endian 1.0\nelement vertex 9\n\x00")
    (d / "garbage.pt").write_bytes(b"garbage\n")
    torch.save(torch.nn.Linear(3, 4).state_dict(), d / "linear.pt")
    # A FoundationPose-like network of another kind: the refiner's trunk, no pose heads.
    state = {k: v for k, v in RefineNet(**NARROW).state_dict().items()
             if not k.startswith(("trans_head", "rot_head"))}
    torch.save(state, d / "scorer_like.pt")
    for name in ("box.obj", "box_mm.obj", "empty.obj", "corrupt.ply", "garbage.pt", "linear.pt",
                 "scorer_like.pt"):
        out[name.split(".")[0]] = str(d / name)
    return out


# (parameters, text the FATAL line must contain)
CASES = {
    "mesh_missing": (["mesh_path:={missing}"], "mesh file not found"),
    "mesh_millimetres": (["mesh_path:={box_mm}"], "mesh_scale:=0.001"),
    "weights_wrong_arch": (["mesh_path:={box}", "weights_path:={linear}"],
                           "not a RefineNet"),
}


def _start(params, files):
    cmd = [sys.executable, "-m", "pose_tracker.ros.node", "--ros-args"]
    for p in params:
        cmd += ["-p", p.format(**files)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_node_exits_nonzero_with_the_reason(files):
    # All processes at once: each pays the rclpy + torch import, and they overlap.
    procs = {name: _start(params, files) for name, (params, _) in CASES.items()}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"{name}: the node kept running on bad input instead of exiting")
        text = out + err
        assert proc.returncode == 1, f"{name}: exit {proc.returncode}\n{text}"
        fatal = [line for line in text.splitlines() if "cannot start:" in line]
        assert len(fatal) == 1, f"{name}: expected one FATAL line\n{text}"
        assert "[FATAL]" in fatal[0] and CASES[name][1] in fatal[0], f"{name}: {fatal[0]}"
        assert "Traceback" not in text, f"{name}: a traceback instead of a message\n{text}"


def test_factory_rejects_each_bad_file(files):
    """The same checks in-process (cheaper), for the cases the subprocess test does not run."""
    from pose_tracker.errors import MeshError, WeightsError
    from pose_tracker.ros import node_parameters as P
    from pose_tracker.ros.tracker_setup import default_tracker_factory

    with pytest.raises(MeshError, match="no triangles"):
        default_tracker_factory(P.TrackerParams(mesh_path=files["empty"]))
    with pytest.raises(MeshError, match="could not read mesh file"):
        default_tracker_factory(P.TrackerParams(mesh_path=files["corrupt"]))
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint.*corrupt"):
        default_tracker_factory(P.TrackerParams(mesh_path=files["box"],
                                                weights_path=files["garbage"]))
    with pytest.raises(WeightsError, match="not a RefineNet.*trans_head"):
        default_tracker_factory(P.TrackerParams(mesh_path=files["box"],
                                                weights_path=files["scorer_like"]))
    with pytest.raises(WeightsError, match="not found"):
        default_tracker_factory(P.TrackerParams(mesh_path=files["box"],
                                                weights_path=files["missing"]))
    # A good mesh with the shipped weights loads (the factory does not build the tracker yet).
    setup = default_tracker_factory(P.TrackerParams(mesh_path=files["box"], device="cpu"))
    assert setup.mesh.diameter == pytest.approx((0.08 ** 2 + 0.06 ** 2 + 0.1 ** 2) ** 0.5)
