# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of pose_tracker.ros.conversions: image messages -> staging buffers, poses, K."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose_tracker.errors import FrameError
from pose_tracker.ros import conversions as conv

H, W = 5, 7


def image_msg(pixels: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False):
    """Look-alike sensor_msgs/Image of (H,W[,C]) pixels with `pad` bytes after each row."""
    px = pixels if pixels.ndim == 3 else pixels[:, :, None]
    if bigendian:
        px = px.astype(px.dtype.newbyteorder(">"))
    else:
        px = px.astype(px.dtype.newbyteorder("<"))
    h, w = px.shape[:2]
    rows = px.reshape(h, -1).view(np.uint8).reshape(h, -1)
    step = rows.shape[1] + pad
    buf = np.full((h, step), 0xAB, dtype=np.uint8)  # padding garbage must be ignored
    buf[:, :rows.shape[1]] = rows
    return SimpleNamespace(height=h, width=w, encoding=encoding, is_bigendian=int(bigendian),
                           step=step, data=buf.tobytes())


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.mark.parametrize("pad", [0, 3])
def test_rgb8_and_bgr8(rgb, pad):
    out = np.zeros((H, W, 3), np.uint8)
    conv.rgb_into(out, image_msg(rgb, "rgb8", pad))
    np.testing.assert_array_equal(out, rgb)
    out[:] = 0
    conv.rgb_into(out, image_msg(np.ascontiguousarray(rgb[:, :, ::-1]), "bgr8", pad))
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("pad", [0, 5])
def test_rgba8_and_bgra8(rgb, pad):
    alpha = np.full((H, W, 1), 7, np.uint8)
    out = np.zeros((H, W, 3), np.uint8)
    conv.rgb_into(out, image_msg(np.concatenate([rgb, alpha], 2), "rgba8", pad))
    np.testing.assert_array_equal(out, rgb)
    out[:] = 0
    conv.rgb_into(out, image_msg(np.concatenate([rgb[:, :, ::-1], alpha], 2), "bgra8", pad))
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("pad", [0, 1])
def test_mono8_broadcasts(rgb, pad):
    mono = rgb[:, :, 0].copy()
    out = np.zeros((H, W, 3), np.uint8)
    conv.rgb_into(out, image_msg(mono, "mono8", pad))
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], mono)


@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])  # mono16: millimetres too
@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("pad", [0, 1, 4])
def test_16uc1_millimetres(bigendian, pad, encoding):
    mm = np.random.default_rng(1).integers(0, 5000, (H, W)).astype(np.uint16)
    mm[0, 0] = 0
    mm[0, 1] = 1000
    mm[0, 2] = 258  # 0x0102: byte order matters
    out = np.full((H, W), -1.0, np.float32)
    conv.depth_into(out, image_msg(mm, encoding, pad, bigendian))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, mm / 1000.0, rtol=1e-6)
    assert out[0, 0] == 0.0 and out[0, 1] == 1.0
    np.testing.assert_array_equal(conv.depth_from_msg(image_msg(mm, encoding, pad, bigendian)),
                                  out)


@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("pad", [0, 2])
def test_32fc1_metres_invalid_to_zero(bigendian, pad):
    m = np.random.default_rng(2).uniform(0.2, 3.0, (H, W)).astype(np.float32)
    m[0, :5] = [np.nan, np.inf, -np.inf, -0.5, 0.0]
    out = np.full((H, W), 9.0, np.float32)
    conv.depth_into(out, image_msg(m, "32FC1", pad, bigendian))
    np.testing.assert_array_equal(out[0, :5], 0.0)
    np.testing.assert_array_equal(out[1:], m[1:])
    np.testing.assert_array_equal(out[0, 5:], m[0, 5:])
    np.testing.assert_array_equal(conv.depth_from_msg(image_msg(m, "32FC1", pad, bigendian)),
                                  out)


def test_real_sensor_msgs_image_is_read_zero_copy(rgb):
    Image = pytest.importorskip("sensor_msgs.msg").Image
    msg = Image(height=H, width=W, encoding="rgb8", step=W * 3 + 2)
    padded = np.zeros((H, W * 3 + 2), np.uint8)
    padded[:, :W * 3] = rgb.reshape(H, -1)
    msg.data = padded.tobytes()
    view = conv.image_view(msg, 3, np.uint8)
    assert np.shares_memory(view, np.frombuffer(msg.data, np.uint8))
    out = np.zeros((H, W, 3), np.uint8)
    conv.rgb_into(out, msg)
    np.testing.assert_array_equal(out, rgb)


def test_list_data_is_accepted(rgb):
    msg = image_msg(rgb, "rgb8")
    msg.data = list(msg.data)
    out = np.zeros((H, W, 3), np.uint8)
    conv.rgb_into(out, msg)
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("encoding", ["yuv422", "bayer_rggb8", "8UC3", "rgb16", ""])
def test_unknown_colour_encoding(rgb, encoding):
    msg = image_msg(rgb, "rgb8")
    msg.encoding = encoding
    with pytest.raises(conv.UnsupportedEncodingError, match="unsupported colour") as e:
        conv.rgb_into(np.zeros((H, W, 3), np.uint8), msg)
    assert e.value.kind == "encoding" and isinstance(e.value, FrameError)


@pytest.mark.parametrize("encoding", ["16SC1", "rgb8", "32FC3"])
def test_unknown_depth_encoding(encoding):
    msg = image_msg(np.zeros((H, W), np.uint16), "16UC1")
    msg.encoding = encoding
    with pytest.raises(conv.UnsupportedEncodingError, match="REP 118"):
        conv.depth_into(np.zeros((H, W), np.float32), msg)
    with pytest.raises(conv.UnsupportedEncodingError, match="REP 118"):
        conv.depth_from_msg(msg)


def test_size_mismatch(rgb):
    with pytest.raises(conv.ImageSizeError, match="7x5 but the tracker is set up for 8x5"):
        conv.rgb_into(np.zeros((H, W + 1, 3), np.uint8), image_msg(rgb, "rgb8"))
    with pytest.raises(conv.ImageSizeError, match="depth image is 7x5"):
        conv.depth_into(np.zeros((H + 1, W), np.float32),
                        image_msg(np.zeros((H, W), np.uint16), "16UC1"))


def test_pair_mismatch(rgb):
    conv.check_pair(image_msg(rgb, "rgb8"), image_msg(np.zeros((H, W), np.uint16), "16UC1"))
    with pytest.raises(conv.ImageSizeError, match="registered"):
        conv.check_pair(image_msg(rgb, "rgb8"), image_msg(np.zeros((H, 3), np.uint16), "16UC1"))


def test_step_too_small(rgb):
    msg = image_msg(rgb, "rgb8")
    msg.step = W * 3 - 1
    with pytest.raises(conv.ImageLayoutError, match="step 20 is shorter than one row"):
        conv.rgb_into(np.zeros((H, W, 3), np.uint8), msg)


def test_data_too_short(rgb):
    msg = image_msg(rgb, "rgb8")
    msg.data = msg.data[:-1]
    with pytest.raises(conv.ImageLayoutError, match="needs at least 105 bytes of data, got 104"):
        conv.rgb_into(np.zeros((H, W, 3), np.uint8), msg)


def test_last_row_without_padding_is_enough(rgb):
    msg = image_msg(rgb, "rgb8", pad=4)
    msg.data = msg.data[:-4]  # some publishers omit the padding of the last row
    out = np.zeros((H, W, 3), np.uint8)
    conv.rgb_into(out, msg)
    np.testing.assert_array_equal(out, rgb)


def test_check_depth_content():
    d = np.zeros((48, 64), np.float32)
    with pytest.raises(conv.DepthContentError, match="no valid pixel") as e:
        conv.check_depth_content(d)
    assert e.value.kind == "depth_empty"
    d[3, 5] = 0.8  # off the stride-8 grid: the full scan still finds it
    assert conv.check_depth_content(d) == 0.0
    d[:] = 0.75
    assert conv.check_depth_content(d) == pytest.approx(0.75)
    d[:] = 750.0  # millimetres in a metres buffer
    with pytest.raises(conv.DepthContentError, match="median depth is 750.0 m") as e:
        conv.check_depth_content(d)
    assert e.value.kind == "depth_units"


def test_camera_info_to_k():
    K = np.array([[600.0, 0, 320], [0, 610, 240], [0, 0, 1]])
    info = SimpleNamespace(k=K.reshape(-1), height=480, width=640)
    K2, size = conv.camera_info_to_k(info)
    np.testing.assert_array_equal(K2, K)
    assert size == (480, 640)
    with pytest.raises(conv.CameraInfoError, match="uncalibrated"):
        conv.camera_info_to_k(SimpleNamespace(k=np.zeros(9), height=480, width=640))
    with pytest.raises(conv.CameraInfoError, match="image size is 0x0"):
        conv.camera_info_to_k(SimpleNamespace(k=K.reshape(-1), height=0, width=0))
    bad = K.copy()
    bad[1, 1] = np.nan
    with pytest.raises(conv.CameraInfoError, match="not a valid intrinsics"):
        conv.camera_info_to_k(SimpleNamespace(k=bad.reshape(-1), height=480, width=640))


def _random_pose(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=seed).as_matrix()
    T[:3, 3] = rng.uniform(-1, 1, 3)
    return T


def test_pose_round_trip():
    pytest.importorskip("geometry_msgs.msg")
    for seed in range(5):
        T = _random_pose(seed)
        msg = conv.matrix_to_pose(T)
        q = [msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w]
        assert np.linalg.norm(q) == pytest.approx(1.0)
        np.testing.assert_allclose(conv.pose_to_matrix(msg), T, atol=1e-12)


def test_pose_stamped_to_matrix_and_transform():
    gm = pytest.importorskip("geometry_msgs.msg")
    T = _random_pose(7)
    ps = gm.PoseStamped()
    ps.pose = conv.matrix_to_pose(T)
    np.testing.assert_allclose(conv.pose_to_matrix(ps), T, atol=1e-12)
    bi = pytest.importorskip("builtin_interfaces.msg")
    tf = conv.matrix_to_transform_stamped(T, "cam", "object", bi.Time(sec=3, nanosec=4))
    assert (tf.header.frame_id, tf.child_frame_id) == ("cam", "object")
    assert (tf.header.stamp.sec, tf.header.stamp.nanosec) == (3, 4)
    r = tf.transform.rotation
    np.testing.assert_allclose(Rotation.from_quat([r.x, r.y, r.z, r.w]).as_matrix(), T[:3, :3],
                               atol=1e-12)
    assert tf.transform.translation.z == pytest.approx(T[2, 3])


def test_pose_errors():
    gm = pytest.importorskip("geometry_msgs.msg")
    np.testing.assert_array_equal(conv.pose_to_matrix(gm.Pose()), np.eye(4))  # w defaults to 1
    pose = gm.Pose()
    pose.orientation.w = 0.0
    with pytest.raises(conv.PoseMessageError, match="zero quaternion"):
        conv.pose_to_matrix(pose)
    with pytest.raises(conv.PoseMessageError, match="NaN"):
        conv.matrix_to_pose(np.full((4, 4), np.nan))


def test_pose_from_list():
    T = conv.pose_from_list([0.1, 0.2, 0.5, 0, 0, 0, 2.0])  # quaternion normalised
    np.testing.assert_allclose(T[:3, :3], np.eye(3))
    np.testing.assert_allclose(T[:3, 3], [0.1, 0.2, 0.5])
    with pytest.raises(ValueError, match="7 numbers"):
        conv.pose_from_list([0, 0, 1])
    with pytest.raises(ValueError, match="zero quaternion"):
        conv.pose_from_list([0, 0, 1, 0, 0, 0, 0])


def test_stamp_to_ns():
    assert conv.stamp_to_ns(SimpleNamespace(sec=2, nanosec=5)) == 2_000_000_005
