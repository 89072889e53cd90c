# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of crop warps and network input normalisation (pose_tracker.crop.{warp,normalize})."""

import numpy as np
import pytest
import torch

from pose_tracker.crop.depth import preprocess_depth
from pose_tracker.crop.normalize import normalize_pair, normalize_xyz
from pose_tracker.crop.warp import _inverse_3x3, crop_real, warp_to_crop
from pose_tracker.crop.window import crop_window
from pose_tracker.geometry.camera import depth_to_xyz


def _tf(sx=1.0, sy=1.0, tx=0.0, ty=0.0, B=1):
    tf = torch.tensor([[sx, 0.0, tx], [0.0, sy, ty], [0.0, 0.0, 1.0]])
    return tf.expand(B, 3, 3).clone()


def _pattern(B=1, C=2, H=12, W=16):
    return torch.arange(B * C * H * W, dtype=torch.float32).reshape(B, C, H, W)


EXACT = "pixel_centres"


def test_closed_form_inverse_3x3():
    m = torch.randn(5, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    m[0] = _tf(0.5, 0.25, 30.0, -12.0)[0]  # a crop transform
    torch.testing.assert_close(_inverse_3x3(m), torch.linalg.inv(m), atol=1e-9, rtol=1e-9)


def test_translation_copies_pixels():
    img = _pattern()
    for mode in ("bilinear", "nearest"):
        out = warp_to_crop(img, _tf(tx=-5.0, ty=-3.0), out_size=6, mode=mode, sampling=EXACT)
        torch.testing.assert_close(out, img[:, :, 3:9, 5:11], atol=1e-3, rtol=0)


def test_downscale_samples_every_other_pixel():
    # crop_tf = diag(1/2): crop pixel x reads source pixel 2x (pixel centres at integers).
    img = _pattern()
    out = warp_to_crop(img, _tf(sx=0.5, sy=0.5), out_size=6, mode="bilinear", sampling=EXACT)
    torch.testing.assert_close(out, img[:, :, 0:12:2, 0:12:2], atol=1e-3, rtol=0)


def test_nearest_vs_bilinear_at_subpixel_offset():
    img = _pattern()
    tf = _tf(tx=-2.25, ty=-1.0)  # crop (x, y) reads source (x + 2.25, y + 1)
    bil = warp_to_crop(img, tf, out_size=5, mode="bilinear", sampling=EXACT)
    near = warp_to_crop(img, tf, out_size=5, mode="nearest", sampling=EXACT)
    expected = 0.75 * img[:, :, 1:6, 2:7] + 0.25 * img[:, :, 1:6, 3:8]
    torch.testing.assert_close(bil, expected, atol=1e-3, rtol=0)
    torch.testing.assert_close(near, img[:, :, 1:6, 2:7], atol=0, rtol=0)


def test_outside_the_image_is_zero_and_batch_broadcasts():
    img = _pattern() + 1.0
    tf = torch.cat([_tf(tx=3.0), _tf(tx=-2.0)])
    out = warp_to_crop(img, tf, out_size=6, mode="nearest", sampling=EXACT)
    assert out.shape == (2, 2, 6, 6)
    assert torch.all(out[0, :, :, :3] == 0) and torch.all(out[0, :, :, 3:] > 0)
    torch.testing.assert_close(out[0, :, :, 3:], img[0, :, :6, :3])
    torch.testing.assert_close(out[1], img[0, :, :6, 2:8])
    with pytest.raises(ValueError):
        warp_to_crop(img, tf, mode="bicubic")
    with pytest.raises(ValueError):
        warp_to_crop(img, tf, sampling="corners")


def test_foundationpose_sampling_reads_stretched_positions():
    # On a ramp image (value = column), bilinear sampling returns the sampled x position.
    # FoundationPose's warp (kornia <= 0.8) reads x * W / (W - 1) - 0.5: exact at the image
    # centre, half a pixel outwards at the borders; "pixel_centres" reads x itself.
    H, W = 8, 41
    ramp = torch.arange(W, dtype=torch.float64).expand(1, 1, H, W)
    tf = _tf(sx=0.25, tx=0.0).double()  # crop pixel j reads source x = 4 j
    fp = warp_to_crop(ramp, tf, out_size=11, sampling="foundationpose")[0, 0, 3]
    exact = warp_to_crop(ramp, tf, out_size=11, sampling=EXACT)[0, 0, 3]
    x = 4.0 * torch.arange(11, dtype=torch.float64)
    torch.testing.assert_close(exact, x)
    # Column 0 reads x = -0.5: half the zero padding, bilinear.
    torch.testing.assert_close(fp[1:10], x[1:10] * W / (W - 1) - 0.5)
    assert fp[5] == pytest.approx(20.0) and fp[0] == pytest.approx(0.0)


def _kornia_072_style_warp(img, M, S, mode):
    """
    Warp as FoundationPose's kornia 0.7.2 computes it, written out from its source.

    Corner-aligned normalisation matrices, inverse homography applied to a linspace grid,
    grid_sample with align_corners=False.
    """
    B, _, H, W = img.shape

    def norm(h, w):
        return torch.tensor([[2.0 / (w - 1), 0.0, -1.0], [0.0, 2.0 / (h - 1), -1.0],
                             [0.0, 0.0, 1.0]], dtype=M.dtype)

    src_from_dst = torch.inverse(norm(S, S) @ M @ torch.inverse(norm(H, W)))
    lin = torch.linspace(-1.0, 1.0, S, dtype=M.dtype)
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    pts = torch.stack([gx, gy, torch.ones_like(gx)], -1).view(1, S * S, 3)
    p = pts @ src_from_dst.transpose(1, 2)
    grid = (p[..., :2] / p[..., 2:]).view(B, S, S, 2)
    return torch.nn.functional.grid_sample(img, grid, mode=mode, padding_mode="zeros",
                                           align_corners=False)


def _windows(B=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    K = torch.tensor([[200.0, 0.0, 80.0], [0.0, 200.0, 60.0], [0.0, 0.0, 1.0]])
    pose = torch.eye(4).repeat(B, 1, 1)
    pose[:, :3, 3] = torch.tensor([0.0, 0.0, 0.7]) + 0.1 * torch.randn(B, 3, generator=g)
    return crop_window(pose, K, 0.15, out_size=40).tf


def test_foundationpose_sampling_matches_kornia_072_math():
    g = torch.Generator().manual_seed(1)
    img = torch.rand(1, 3, 120, 160, generator=g)
    tf = _windows()
    for mode in ("bilinear", "nearest"):
        ours = warp_to_crop(img, tf, out_size=40, mode=mode)
        ref = _kornia_072_style_warp(img.expand(len(tf), -1, -1, -1), tf, 40, mode)
        if mode == "bilinear":
            torch.testing.assert_close(ours, ref, atol=2e-4, rtol=0)
        else:  # nearest can pick the other pixel where the position is exactly at .5
            tie = _near_half(tf, 40, stretch_hw=(120, 160))
            assert torch.all((ours == ref) | tie[:, None])


def test_pixel_centres_sampling_matches_kornia_09():
    warp_perspective = pytest.importorskip("kornia.geometry.transform").warp_perspective
    g = torch.Generator().manual_seed(2)
    img = torch.rand(1, 3, 120, 160, generator=g)
    tf = _windows(seed=3)
    for mode in ("bilinear", "nearest"):
        ours = warp_to_crop(img, tf, out_size=40, mode=mode, sampling=EXACT)
        ref = warp_perspective(img.expand(len(tf), -1, -1, -1), tf, dsize=(40, 40), mode=mode,
                               padding_mode="zeros", align_corners=False)
        if mode == "bilinear":
            torch.testing.assert_close(ours, ref, atol=2e-4, rtol=0)
        else:  # identical except where a source position is (almost) exactly at .5
            tie = _near_half(tf, 40)
            assert tie.float().mean() < 0.2
            assert torch.all((ours == ref) | tie[:, None])


def _near_half(tf, S, stretch_hw=None):
    """
    (B,S,S) True where the exact source position of a crop pixel is within 1e-4 of a .5.

    With ``stretch_hw = (H, W)``, positions are FoundationPose's p * n / (n - 1) - 0.5.
    """
    tf = tf.double()
    j = torch.arange(S, dtype=torch.float64)
    u = (j.view(1, S) - tf[:, 0, 2:3]) / tf[:, 0, 0:1]  # (B,S) diagonal crop transforms
    v = (j.view(1, S) - tf[:, 1, 2:3]) / tf[:, 1, 1:2]
    if stretch_hw is not None:
        H, W = stretch_hw
        u, v = u * W / (W - 1) - 0.5, v * H / (H - 1) - 0.5
    tu = ((u - u.floor()) - 0.5).abs() < 1e-4
    tv = ((v - v.floor()) - 0.5).abs() < 1e-4
    return tu[:, None, :] | tv[:, :, None]


def test_crop_real_colour_scaling_and_nearest_xyz():
    rgb8 = torch.randint(0, 256, (1, 3, 10, 10), dtype=torch.uint8)
    xyz = torch.rand(1, 3, 10, 10)
    tf = _tf(tx=-1.5, ty=-2.0)
    rgb_c, xyz_c = crop_real(rgb8, xyz, tf, out_size=4, sampling=EXACT)
    assert rgb_c.dtype == torch.float32 and 0 <= rgb_c.min() and rgb_c.max() <= 1
    expected = (rgb8[:, :, 2:6, 1:5].float() + rgb8[:, :, 2:6, 2:6].float()) / 2 / 255
    torch.testing.assert_close(rgb_c, expected, atol=1e-4, rtol=0)
    # Nearest never blends: every XYZ value in the crop is one of the source's.
    assert torch.isin(xyz_c, xyz).all()
    rgb_f, _ = crop_real(rgb8.float() / 255, xyz, tf, out_size=4, sampling=EXACT)
    torch.testing.assert_close(rgb_f, rgb_c)
    # Same grid as warp_to_crop, for either sampling.
    tf2 = _windows(B=3)
    rgb_b, xyz_b = crop_real(rgb8, xyz, tf2, out_size=8)
    torch.testing.assert_close(rgb_b, warp_to_crop(rgb8.float(), tf2, 8) / 255)
    torch.testing.assert_close(xyz_b, warp_to_crop(xyz, tf2, 8, mode="nearest"))


def test_normalize_invalid_handling():
    S = 4
    t = torch.tensor([[0.1, -0.2, 1.0]])
    D = 0.2  # radius 0.1 m: normalised = (xyz - t) * 10
    xyz = t.view(1, 3, 1, 1).repeat(1, 1, S, S).clone()
    xyz[0, :, 0, 0] = torch.tensor([0.12, -0.21, 1.05])    # -> (0.2, -0.1, 0.5)
    xyz[0, :, 0, 1] = torch.tensor([0.5, -0.2, 0.0])       # Z = 0: all three zero
    xyz[0, :, 0, 2] = torch.tensor([0.35, -0.15, 1.02])    # X -> 2.5: only X zeroed
    xyz[0, :, 0, 3] = torch.tensor([0.1, -0.4, 0.0005])    # Z < 1 mm: all zero
    xyz[0, :, 1, 0] = torch.tensor([-0.1, -0.2, 1.0])      # X -> -2.0 exactly: zeroed (>= 2)
    out = normalize_xyz(xyz, t, D)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.2, -0.1, 0.5]))
    assert torch.all(out[0, :, 0, 1] == 0) and torch.all(out[0, :, 0, 3] == 0)
    torch.testing.assert_close(out[0, :, 0, 2], torch.tensor([0.0, 0.5, 0.2]))
    assert out[0, 0, 1, 0] == 0 and torch.all(out[0, :, 2:] == 0)
    rgb = torch.rand(1, 3, S, S)
    pair = normalize_pair(rgb, xyz, t, torch.tensor([D]))
    assert pair.shape == (1, 6, S, S)
    torch.testing.assert_close(pair[:, :3], rgb, rtol=0, atol=0)
    torch.testing.assert_close(pair[:, 3:], out)
    assert normalize_xyz(xyz.double(), t, D).dtype == torch.float64


def _load_ycbv(ycbv, obj):
    PIL = pytest.importorskip("PIL.Image")
    seq = ycbv / "sequences" / "0000"
    rgb = np.array(PIL.open(seq / "rgb" / "000001.png").convert("RGB"))
    depth = np.array(PIL.open(seq / "depth" / "000001.png")).astype(np.float32) / 1000.0
    mask = np.asarray(PIL.open(seq / "masks" / obj / "000001.png")) > 0
    K = np.loadtxt(seq / "cam_K.txt").reshape(3, 3)
    pose = np.loadtxt(seq / "ob_in_cam" / obj / "000001.txt").reshape(4, 4)
    pts = np.loadtxt(ycbv / "models" / obj / "points.xyz")[:, :3]
    return rgb, depth, mask, K, pose, pts


def test_real_ycb_frame_crop_has_object_points_near_t(ycbv):
    rgb, depth, mask, K, pose, pts = _load_ycbv(ycbv, "025_mug")
    centre = (pts.min(0) + pts.max(0)) / 2
    diameter = float(np.linalg.norm(pts[:, None] - pts[None, ::4], axis=-1).max())
    pose_c = pose.copy()
    pose_c[:3, 3] = pose[:3, :3] @ centre + pose[:3, 3]  # centred-object -> camera
    pose_t = torch.from_numpy(pose_c).float()[None]
    K_t = torch.from_numpy(K).float()

    d = preprocess_depth(torch.from_numpy(depth)[None])
    assert (d > 0).float().mean() > 0.5
    xyz = depth_to_xyz(d, K_t)
    win = crop_window(pose_t, K_t, diameter)
    assert win.valid.all()
    t = pose_t[:, :3, 3]
    rgb_c, xyz_c = crop_real(torch.from_numpy(rgb).permute(2, 0, 1)[None], xyz, win.tf, 160)
    inp = normalize_pair(rgb_c, xyz_c, t, diameter)
    assert inp.shape == (1, 6, 160, 160)

    # Crop of the visible-object mask, same window: object pixels hold observed points on the
    # object, i.e. within the mesh radius of t (normalised |xyz| < 1) for nearly all of them.
    mask_c = warp_to_crop(torch.from_numpy(mask).float()[None, None], win.tf, mode="nearest")
    obj = mask_c[0, 0] > 0.5
    assert obj.sum() > 0.1 * 160 * 160
    xyz_n = inp[0, 3:]
    has_depth = (xyz_n != 0).any(0)
    dist = xyz_n.norm(dim=0)
    assert (has_depth & obj).sum() > 0.8 * obj.sum()
    assert (dist[has_depth & obj] < 1.0).float().mean() > 0.9  # mask/depth edges misalign
    # De-normalised, the observed object points lie on the posed model (YCB-Video GT is good to
    # a few millimetres): a wrong crop, K or normalisation would push them centimetres off.
    sel = has_depth & obj
    observed = xyz_n[:, sel].T * (diameter / 2) + t
    model = torch.from_numpy(pts @ pose[:3, :3].T + pose[:3, 3]).float()
    nn = torch.cdist(observed, model).min(dim=1).values
    assert nn.median() < 0.004 and (nn < 0.01).float().mean() > 0.95
    # Background pixels with depth are mostly far from the object (|xyz| >= 2 zeroed or > 1).
    assert (dist[has_depth & ~obj] < 0.5).float().mean() < 0.1
    # The object sits at the crop centre (t projects to pixel ~80, 80).
    ys, xs = torch.nonzero(obj, as_tuple=True)
    assert abs(xs.float().mean() - 80) < 20 and abs(ys.float().mean() - 80) < 20
    # Colour is in [0,1] and not blank.
    assert 0 <= inp[:, :3].min() and inp[:, :3].max() <= 1 + 1e-5 and inp[:, :3].std() > 0.05
