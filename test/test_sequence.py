# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of the sequence reader on the real YCB-Video clip and on broken folders."""

import os
import pathlib
import shutil
import tempfile

from hypothesis import event, given, settings, strategies as st
import numpy as np
from PIL import Image
import pytest

from pose_tracker.data.sequence import (find_mesh, Frame, load_model_points, Sequence,
                                        SequenceFileNotFoundError)
from pose_tracker.errors import FrameError, MeshError

K_TEXT = "500 0 16\n0 500 12\n0 0 1\n"


def _copy_clip(src, dst, n=3, objects=("025_mug",)):
    """Copy the first ``n`` frames of a clip (rgb, depth, GT and masks of ``objects``)."""
    names = sorted(os.listdir(src / "rgb"))[:n]
    (dst / "rgb").mkdir(parents=True)
    (dst / "depth").mkdir()
    shutil.copy(src / "cam_K.txt", dst / "cam_K.txt")
    for name in names:
        shutil.copy(src / "rgb" / name, dst / "rgb" / name)
        shutil.copy(src / "depth" / name, dst / "depth" / name)
        for obj in objects:
            for sub, ext in (("ob_in_cam", ".txt"), ("masks", ".png")):
                (dst / sub / obj).mkdir(parents=True, exist_ok=True)
                stem = name[:-4] + ext
                shutil.copy(src / sub / obj / stem, dst / sub / obj / stem)
    return names


def test_real_clip_reads_shapes_units_and_gt(ycbv):
    root = ycbv / "sequences" / "0000"
    seq = Sequence(root, "025_mug")
    assert len(seq) == 10
    assert seq.objects() == ["009_gelatin_box", "025_mug", "061_foam_brick"]
    assert seq.image_size == (480, 640)
    assert seq.K.shape == (3, 3) and seq.K.dtype == np.float64
    np.testing.assert_allclose(seq.K, np.loadtxt(root / "cam_K.txt"))

    f = seq.frame(1)
    assert isinstance(f, Frame) and f.index == 1 and f.name == "000002"
    assert f.rgb.shape == (480, 640, 3) and f.rgb.dtype == np.uint8
    assert f.depth.shape == (480, 640) and f.depth.dtype == np.float32
    raw = np.asarray(Image.open(root / "depth" / "000002.png")).astype(np.float64)
    np.testing.assert_allclose(f.depth, raw / 1000.0, rtol=1e-6)
    valid = f.depth[f.depth > 0]
    assert 0.3 < np.median(valid) < 3.0  # metres, not millimetres
    np.testing.assert_array_equal(f.gt_pose,
                                  np.loadtxt(root / "ob_in_cam" / "025_mug" / "000002.txt"))
    assert f.mask.dtype == bool and f.mask.shape == (480, 640) and 0 < f.mask.sum() < f.mask.size
    # The GT pose puts the mug in front of the camera where its mask is.
    u, v, _ = seq.K @ (f.gt_pose[:3, 3] / f.gt_pose[2, 3])
    ys, xs = np.nonzero(f.mask)
    assert xs.min() - 20 < u < xs.max() + 20 and ys.min() - 20 < v < ys.max() + 20

    last = seq.frame(-1)
    assert last.index == 9 and last.name == "000010"
    with pytest.raises(IndexError):
        seq.frame(10)


def test_iteration_and_object_choice(tmp_path, ycbv):
    names = _copy_clip(ycbv / "sequences" / "0000", tmp_path, n=2)
    seq = Sequence(tmp_path)  # one object folder: chosen automatically
    assert seq.object_name == "025_mug"
    frames = list(seq)
    assert [f.name for f in frames] == [n[:-4] for n in names]
    assert all(f.gt_pose is not None for f in frames)
    with pytest.raises(FrameError, match="009_gelatin_box"):
        Sequence(tmp_path, "009_gelatin_box")
    # A frame without a GT file has gt_pose None rather than failing.
    os.remove(tmp_path / "ob_in_cam" / "025_mug" / (names[1][:-4] + ".txt"))
    assert Sequence(tmp_path).frame(1).gt_pose is None


def test_several_objects_without_choice_have_no_gt(ycbv):
    seq = Sequence(ycbv / "sequences" / "0000")
    assert seq.object_name is None
    f = seq.frame(0)
    assert f.gt_pose is None and f.mask is None


def test_corrupt_png_names_the_file(tmp_path, ycbv):
    names = _copy_clip(ycbv / "sequences" / "0000", tmp_path, n=2)
    bad = tmp_path / "rgb" / names[1]
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])  # truncated PNG
    seq = Sequence(tmp_path, "025_mug")
    seq.frame(0)
    with pytest.raises(FrameError, match=names[1]):
        seq.frame(1)


def test_missing_pieces_give_clear_errors(tmp_path, ycbv):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Sequence(tmp_path / "nope")
    names = _copy_clip(ycbv / "sequences" / "0000", tmp_path, n=2)
    os.remove(tmp_path / "depth" / names[0])
    with pytest.raises(FrameError, match="depth only|rgb only"):
        Sequence(tmp_path)
    shutil.copy(tmp_path / "depth" / names[1], tmp_path / "depth" / names[0])
    Sequence(tmp_path)
    (tmp_path / "cam_K.txt").write_text("1 2 3\n")
    with pytest.raises(FrameError, match="cam_K.txt"):
        Sequence(tmp_path)
    os.remove(tmp_path / "cam_K.txt")
    with pytest.raises(SequenceFileNotFoundError, match="cam_K.txt"):
        Sequence(tmp_path)


def test_eight_bit_depth_is_rejected(tmp_path):
    for sub in ("rgb", "depth"):
        (tmp_path / sub).mkdir()
    (tmp_path / "cam_K.txt").write_text(K_TEXT)
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(tmp_path / "rgb" / "0.png")
    Image.fromarray(np.zeros((24, 32), np.uint8)).save(tmp_path / "depth" / "0.png")
    with pytest.raises(FrameError, match="16-bit"):
        Sequence(tmp_path).frame(0)


def test_find_mesh_and_points(ycbv):
    assert find_mesh(ycbv, "009_gelatin_box").name == "textured.obj"
    assert find_mesh(ycbv / "models", "025_mug").name == "mesh_geometry_only.obj"
    with pytest.raises(MeshError, match="999_nothing"):
        find_mesh(ycbv, "999_nothing")
    pts = load_model_points(ycbv / "models" / "025_mug" / "points.xyz")
    assert pts.ndim == 2 and pts.shape[1] == 3 and len(pts) > 1000
    assert 0.05 < np.ptp(pts, axis=0).max() < 0.2  # a mug, in metres


def test_bad_points_file(tmp_path):
    p = tmp_path / "points.xyz"
    p.write_text("")
    with pytest.raises(MeshError):
        load_model_points(p)
    p.write_text("1 2\n3 4\n")
    with pytest.raises(MeshError):
        load_model_points(p)
    with pytest.raises(MeshError):
        load_model_points(tmp_path / "absent.xyz")


# ---------------------------------------------------------------------------- fuzzing
def _png_bytes(kind, size):
    """Bytes of one candidate image file of the given kind."""
    import io
    h, w = size
    if kind == "garbage":
        return b"\x89PNG\r\n\x1a\n" + bytes(range(40))
    if kind == "empty":
        return b""
    buf = io.BytesIO()
    if kind == "rgb":
        Image.fromarray(np.full((h, w, 3), 100, np.uint8)).save(buf, format="PNG")
    elif kind == "depth16":
        Image.fromarray(np.full((h, w), 800, np.uint16)).save(buf, format="PNG")
    elif kind == "grey8":
        Image.fromarray(np.full((h, w), 7, np.uint8)).save(buf, format="PNG")
    elif kind == "wrong_size":
        Image.fromarray(np.zeros((h + 1, w, 3), np.uint8)).save(buf, format="PNG")
    data = buf.getvalue()
    if kind == "truncated":
        Image.fromarray(np.full((h, w, 3), 3, np.uint8)).save(buf, format="PNG")
        data = buf.getvalue()[:30]
    return data


GOOD_POSE = "1 0 0 0\n0 1 0 0\n0 0 1 0.5\n0 0 0 1\n"
BAD_TEXT = ["", "nan 0 0 0 1 0 0 0 1", "a b c", "\xff\xfe", "1 0 0 0 0 1 0 0 0 0 1 0.5 1 1 1 1",
            "2 0 0 0 0 1 0 0 0 0 1 0.5 0 0 0 1"]
IMAGE_DAMAGE = ["rgb", "depth16", "grey8", "garbage", "empty", "truncated", "wrong_size",
                "delete"]
# A damage: (file kind, frame index, what to put there); "delete" removes the file.
DAMAGE = st.one_of(
    st.tuples(st.sampled_from(["rgb", "depth", "mask"]), st.integers(0, 3),
              st.sampled_from(IMAGE_DAMAGE)),
    st.tuples(st.sampled_from(["pose", "K"]), st.integers(0, 3),
              st.sampled_from(BAD_TEXT + ["delete"])),
    st.tuples(st.just("folder"), st.integers(0, 0),
              st.sampled_from(["rgb", "depth", "ob_in_cam/obj", "masks/obj", "."])))


def _write_valid_sequence(root, n):
    """Write a valid n-frame 8x6 sequence with GT and masks of object ``obj``."""
    for sub in ("rgb", "depth", "ob_in_cam/obj", "masks/obj"):
        (root / sub).mkdir(parents=True)
    (root / "cam_K.txt").write_text(K_TEXT)
    for i in range(n):
        (root / "rgb" / f"{i:06d}.png").write_bytes(_png_bytes("rgb", (6, 8)))
        (root / "depth" / f"{i:06d}.png").write_bytes(_png_bytes("depth16", (6, 8)))
        (root / "masks/obj" / f"{i:06d}.png").write_bytes(_png_bytes("grey8", (6, 8)))
        (root / "ob_in_cam/obj" / f"{i:06d}.txt").write_text(GOOD_POSE)


def _damage(root, what, i, kind):
    """Apply one damage to a sequence folder (see DAMAGE)."""
    if what == "folder":
        shutil.rmtree(root / kind, ignore_errors=True)
        return
    path = {"rgb": root / "rgb" / f"{i:06d}.png", "depth": root / "depth" / f"{i:06d}.png",
            "mask": root / "masks/obj" / f"{i:06d}.png",
            "pose": root / "ob_in_cam/obj" / f"{i:06d}.txt", "K": root / "cam_K.txt"}[what]
    if not path.parent.is_dir():
        return
    if kind == "delete":
        if path.exists():
            path.unlink()
    elif what in ("pose", "K"):
        path.write_bytes(kind.encode("latin-1"))
    else:
        path.write_bytes(_png_bytes(kind, (6, 8)))


@settings(max_examples=80)
@given(n=st.integers(0, 3), damages=st.lists(DAMAGE, max_size=2), with_object=st.booleans())
def test_fuzz_only_frame_errors(n, damages, with_object):
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp) / "seq"
        _write_valid_sequence(root, n)
        for damage in damages:
            _damage(root, *damage)
        try:
            seq = Sequence(root, "obj" if with_object else None)
            for f in seq:
                assert f.rgb.shape == seq.image_size + (3,) and f.rgb.dtype == np.uint8
                assert f.depth.shape == seq.image_size and f.depth.dtype == np.float32
                assert f.gt_pose is None or f.gt_pose.shape == (4, 4)
                assert f.mask is None or f.mask.shape == seq.image_size
            event(f"read {len(seq)} frames")
        except FrameError as exc:
            assert str(exc)
            event(type(exc).__name__)
