# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Reader of RGB-D sequences in the FoundationPose / YCBInEOAT folder layout.

Layout of one sequence folder (one file per frame, the same stem everywhere)::

    rgb/<stem>.png                      RGB (or RGBA / grey, converted to RGB) 8 bit
    depth/<stem>.png                    uint16 millimetres, 0 = no reading
    cam_K.txt                           3x3 intrinsics, pixels
    ob_in_cam/<object>/<stem>.txt       optional GT 4x4 object->camera, metres
    ob_in_cam/<stem>.txt                (single-object variant, YCBInEOAT)
    masks/<object>/<stem>.png           optional visible-object mask (0 / non-zero)
    masks/<stem>.png                    (single-object variant)

Every problem with the files (missing folder, mismatched stems, unreadable or corrupt file) raises
:class:`pose_tracker.errors.FrameError` naming the file; a missing file or folder raises
:class:`SequenceFileNotFoundError`, which is both a ``FrameError`` and a ``FileNotFoundError``.
"""

from dataclasses import dataclass
import os
from pathlib import Path
from typing import Iterator, List, Optional, Union
import warnings

import numpy as np
from PIL import Image

from pose_tracker.errors import FrameError, MeshError
from pose_tracker.geometry.depth_units import depth_mm_to_m
from pose_tracker.geometry.pinhole import validate_intrinsics

PathLike = Union[str, os.PathLike]

#: Image file suffixes accepted for rgb/, depth/ and masks/.
_IMAGE_SUFFIXES = (".png",)
#: Depth PNG modes PIL reports for 16-bit single-channel images.
_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I")


class SequenceFileNotFoundError(FrameError, FileNotFoundError):
    """A file or folder a sequence needs does not exist."""


@dataclass
class Frame:
    """
    One RGB-D frame of a sequence.

    Attributes:
        index: position of the frame in the sequence (0-based).
        name: file stem shared by the frame's files, e.g. ``"000001"``.
        rgb: (H,W,3) uint8 RGB image.
        depth: (H,W) float32 depth in metres along the optical axis, 0 = no reading.
        gt_pose: (4,4) float64 ground-truth object->camera pose in metres (OpenCV optical frame),
            or None when the sequence has no ground truth for this frame / object.
        mask: (H,W) bool visible-object mask, or None when not available.

    """

    index: int
    name: str
    rgb: np.ndarray
    depth: np.ndarray
    gt_pose: Optional[np.ndarray] = None
    mask: Optional[np.ndarray] = None


def _image_stems(folder: Path) -> dict:
    """Map file stem -> path for the image files directly inside ``folder``."""
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise FrameError(f"cannot list folder {folder}: {exc}") from exc
    return {p.stem: p for p in entries
            if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file()}


def _open_image(path: Path, what: str) -> Image.Image:
    """Open and fully decode an image file, turning every decoder failure into FrameError."""
    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError as exc:
        raise SequenceFileNotFoundError(f"{what} file {path} does not exist") from exc
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, zlib.error, ...)
        raise FrameError(f"cannot read {what} file {path}: {exc}. Is it a valid PNG?") from exc
    return img


def _check_size(img: Image.Image, path: Path, image_size, what: str) -> None:
    """Raise FrameError when an image's size differs from the sequence's (H, W)."""
    h, w = image_size
    if img.size != (w, h):
        raise FrameError(f"{what} file {path} is {img.size[0]}x{img.size[1]} (WxH) but the "
                         f"sequence's images are {w}x{h}; all images must have one size")


def read_rgb(path: PathLike, image_size=None) -> np.ndarray:
    """
    Read an 8-bit colour image as RGB.

    Args:
        path: PNG file.
        image_size: optional expected (H, W); a mismatch raises FrameError.

    Returns:
        (H,W,3) uint8 RGB.

    """
    path = Path(path)
    img = _open_image(path, "rgb")
    if image_size is not None:
        _check_size(img, path, image_size, "rgb")
    if img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        raise FrameError(f"rgb file {path} has pixel mode {img.mode!r}; expected an 8-bit "
                         "RGB, RGBA, grey or palette PNG")
    try:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except Exception as exc:
        raise FrameError(f"cannot convert rgb file {path} to RGB: {exc}") from exc


def read_depth(path: PathLike, image_size=None) -> np.ndarray:
    """
    Read a 16-bit millimetre depth PNG.

    Args:
        path: PNG file of uint16 millimetres, 0 = no reading.
        image_size: optional expected (H, W); a mismatch raises FrameError.

    Returns:
        (H,W) float32 metres, 0 = no reading.

    """
    path = Path(path)
    img = _open_image(path, "depth")
    if image_size is not None:
        _check_size(img, path, image_size, "depth")
    if img.mode not in _DEPTH_MODES:
        raise FrameError(f"depth file {path} has pixel mode {img.mode!r}; expected a 16-bit "
                         "single-channel PNG of millimetres (an 8-bit or colour depth image "
                         "cannot hold metric depth)")
    try:
        mm = np.asarray(img).astype(np.int64)
    except Exception as exc:
        raise FrameError(f"cannot decode depth file {path}: {exc}") from exc
    if mm.ndim != 2:
        raise FrameError(f"depth file {path} decoded to shape {mm.shape}, expected (H, W)")
    # Mode "I" is 32-bit: anything outside uint16 is not a millimetre depth map.
    if mm.size and (mm.min() < 0 or mm.max() > 65535):
        raise FrameError(f"depth file {path} has values outside 0..65535 mm")
    return depth_mm_to_m(mm)


def read_mask(path: PathLike, image_size=None) -> np.ndarray:
    """
    Read a mask PNG; non-zero pixels are the object.

    Returns:
        (H,W) bool.

    """
    path = Path(path)
    img = _open_image(path, "mask")
    if image_size is not None:
        _check_size(img, path, image_size, "mask")
    try:
        return np.asarray(img.convert("L")) > 0
    except Exception as exc:
        raise FrameError(f"cannot convert mask file {path} to grey: {exc}") from exc


def _read_matrix(path: Path, shape, what: str) -> np.ndarray:
    """Read a whitespace-separated finite float matrix of a given shape from a text file."""
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError as exc:
        raise SequenceFileNotFoundError(f"{what} file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise FrameError(f"cannot read {what} file {path}: {exc}") from exc
    try:
        values = np.array([float(v) for v in text.split()], dtype=np.float64)
    except ValueError as exc:
        raise FrameError(f"{what} file {path} holds something other than numbers: {exc}") from exc
    n = int(np.prod(shape))
    if values.size != n:
        raise FrameError(f"{what} file {path} holds {values.size} numbers, expected {n} "
                         f"(a {shape[0]}x{shape[1]} matrix)")
    if not np.all(np.isfinite(values)):
        raise FrameError(f"{what} file {path} holds NaN or infinite values")
    return values.reshape(shape)


def read_intrinsics(path: PathLike) -> np.ndarray:
    """
    Read a 3x3 pinhole intrinsics matrix (pixels) from a text file.

    Returns:
        (3,3) float64 K that `pose_tracker.geometry.pinhole.validate_intrinsics` accepts.

    """
    path = Path(path)
    K = _read_matrix(path, (3, 3), "intrinsics")
    try:
        return validate_intrinsics(K)  # the image size is not known yet
    except FrameError as exc:
        raise FrameError(f"intrinsics file {path}: {exc}") from None


def read_pose(path: PathLike) -> np.ndarray:
    """
    Read a 4x4 rigid pose (metres) from a text file.

    Returns:
        (4,4) float64 object->camera pose.

    """
    path = Path(path)
    T = _read_matrix(path, (4, 4), "pose")
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise FrameError(f"pose file {path} has last row {T[3].tolist()}, expected [0, 0, 0, 1]")
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-3) or np.linalg.det(R) <= 0:
        raise FrameError(f"pose file {path} does not hold a rotation in its top-left 3x3 block")
    return T


class Sequence:
    """
    Random-access reader of one RGB-D sequence folder.

    Args:
        root: sequence folder (see the module docstring for the layout).
        object_name: object whose ground truth and masks to read (a sub-folder of
            ``ob_in_cam/``). None: the only object when there is exactly one, the flat
            single-object layout when ``ob_in_cam/*.txt`` exist, else no ground truth.

    Attributes:
        root: the sequence folder.
        object_name: the object in use, or None.
        K: (3,3) float64 intrinsics, pixels.
        image_size: (H, W) of every image.
        names: frame stems in sorted order.

    Raises:
        SequenceFileNotFoundError: the folder, rgb/, depth/ or cam_K.txt is missing, or
            ``object_name`` has no ground-truth folder.
        FrameError: no frames, rgb/ and depth/ stems differ, cam_K.txt or the first image
            is unreadable.

    """

    def __init__(self, root: PathLike, object_name: Optional[str] = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise SequenceFileNotFoundError(f"sequence folder {self.root} does not exist")
        for sub in ("rgb", "depth"):
            if not (self.root / sub).is_dir():
                raise SequenceFileNotFoundError(
                    f"sequence folder {self.root} has no {sub}/ folder; expected rgb/*.png, "
                    "depth/*.png (uint16 mm) and cam_K.txt")
        self.K = read_intrinsics(self.root / "cam_K.txt")

        rgb = _image_stems(self.root / "rgb")
        depth = _image_stems(self.root / "depth")
        if not rgb:
            raise FrameError(f"sequence folder {self.root / 'rgb'} holds no .png images")
        only_rgb = sorted(set(rgb) - set(depth))
        only_depth = sorted(set(depth) - set(rgb))
        if only_rgb or only_depth:
            raise FrameError(
                f"rgb/ and depth/ of {self.root} hold different frames: "
                f"rgb only {only_rgb[:5]}{'...' if len(only_rgb) > 5 else ''}, "
                f"depth only {only_depth[:5]}{'...' if len(only_depth) > 5 else ''}; "
                "every frame needs rgb/<stem>.png and depth/<stem>.png")
        self.names: List[str] = sorted(rgb)
        self._rgb_paths = [rgb[n] for n in self.names]
        self._depth_paths = [depth[n] for n in self.names]

        first = _open_image(self._rgb_paths[0], "rgb")
        self.image_size = (int(first.size[1]), int(first.size[0]))

        self.object_name, self._gt_dir, self._mask_dir = self._resolve_object(object_name)

    def _resolve_object(self, object_name):
        """Pick the ground-truth and mask folders for ``object_name`` (see the class doc)."""
        objects = self.objects()
        gt_root = self.root / "ob_in_cam"
        mask_root = self.root / "masks"
        if object_name is None:
            if len(objects) == 1:
                object_name = objects[0]
            elif not objects:
                flat_gt = gt_root if gt_root.is_dir() and any(gt_root.glob("*.txt")) else None
                flat_mask = mask_root if mask_root.is_dir() and _image_stems(mask_root) else None
                return None, flat_gt, flat_mask
            else:
                return None, None, None
        if object_name not in objects:
            raise SequenceFileNotFoundError(
                f"sequence {self.root} has no ground truth for object {object_name!r} "
                f"(no folder {gt_root / object_name}); objects with ground truth: {objects}")
        mask_dir = mask_root / object_name
        return object_name, gt_root / object_name, mask_dir if mask_dir.is_dir() else None

    def objects(self) -> List[str]:
        """Names of the objects with a ground-truth folder ``ob_in_cam/<object>/``, sorted."""
        gt_root = self.root / "ob_in_cam"
        if not gt_root.is_dir():
            return []
        try:
            return sorted(p.name for p in gt_root.iterdir() if p.is_dir())
        except OSError as exc:
            raise FrameError(f"cannot list folder {gt_root}: {exc}") from exc

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> Frame:
        return self.frame(i)

    def __iter__(self) -> Iterator[Frame]:
        for i in range(len(self)):
            yield self.frame(i)

    def frame(self, i: int) -> Frame:
        """
        Read frame ``i`` (negative indices count from the end).

        Returns:
            Frame with rgb (H,W,3) uint8, depth (H,W) float32 metres, gt_pose (4,4) float64
            metres or None (no file for this frame), mask (H,W) bool or None.

        Raises:
            IndexError: ``i`` out of range.
            FrameError: a file of the frame is unreadable, corrupt or of the wrong size.

        """
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"frame index {i} out of range for a sequence of {n} frames")
        i = i % n
        name = self.names[i]
        rgb = read_rgb(self._rgb_paths[i], self.image_size)
        depth = read_depth(self._depth_paths[i], self.image_size)
        gt = None
        if self._gt_dir is not None:
            gt_path = self._gt_dir / f"{name}.txt"
            if gt_path.is_file():
                gt = read_pose(gt_path)
        mask = None
        if self._mask_dir is not None:
            mask_path = self._mask_dir / f"{name}.png"
            if mask_path.is_file():
                mask = read_mask(mask_path, self.image_size)
        return Frame(index=i, name=name, rgb=rgb, depth=depth, gt_pose=gt, mask=mask)

    def __repr__(self) -> str:
        return (f"Sequence({str(self.root)!r}, object_name={self.object_name!r}, "
                f"frames={len(self)}, image_size={self.image_size})")


def find_mesh(ycbv_root: PathLike, object_name: str) -> Path:
    """
    Find the mesh of a YCB object: ``models/<object>/textured.obj`` else the geometry-only one.

    Args:
        ycbv_root: the YCB-Video data folder (holding ``models/``) or the models folder itself.
        object_name: e.g. ``"025_mug"``.

    Returns:
        Path of ``textured.obj`` or, when there is none, ``mesh_geometry_only.obj``.

    Raises:
        MeshError: neither file exists.

    """
    root = Path(ycbv_root)
    models = root / "models" if (root / "models").is_dir() else root
    folder = models / object_name
    for name in ("textured.obj", "mesh_geometry_only.obj"):
        if (folder / name).is_file():
            return folder / name
    available = sorted(p.name for p in models.iterdir() if p.is_dir()) if models.is_dir() else []
    raise MeshError(f"no mesh for object {object_name!r}: neither {folder / 'textured.obj'} nor "
                    f"{folder / 'mesh_geometry_only.obj'} exists; objects in {models}: "
                    f"{available}")


def load_model_points(path: PathLike) -> np.ndarray:
    """
    Load model points (one ``x y z`` per line, metres, object frame), e.g. YCB ``points.xyz``.

    Returns:
        (N,3) float64 points, N >= 1.

    Raises:
        MeshError: the file is missing, unreadable, empty, not N x 3 numbers or not finite.

    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # An empty file is reported below as an error, not as numpy's warning.
            warnings.simplefilter("ignore")
            pts = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except FileNotFoundError as exc:
        raise MeshError(f"model points file {path} does not exist") from exc
    except Exception as exc:
        raise MeshError(f"cannot read model points file {path}: {exc}") from exc
    if pts.ndim != 2 or pts.shape[1] < 3 or pts.shape[0] == 0:
        raise MeshError(f"model points file {path} must hold one 'x y z' per line, "
                        f"got an array of shape {pts.shape}")
    pts = pts[:, :3]
    if not np.all(np.isfinite(pts)):
        raise MeshError(f"model points file {path} holds NaN or infinite values")
    return pts
