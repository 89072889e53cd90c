# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tests of ADD, ADD-S, AUC and pose errors with hand-computed answers."""

import math

import numpy as np
import pytest
import torch

from pose_tracker import metrics


def _rot_z(deg):
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _pose(R=np.eye(3), t=(0.0, 0.0, 0.5)):
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


@pytest.fixture
def pts():
    return np.random.default_rng(1).uniform(-0.05, 0.05, size=(300, 3))


def test_identity_is_zero(pts):
    gt = _pose(_rot_z(30), (0.1, -0.05, 0.7))
    assert metrics.add(gt, gt, pts) == pytest.approx(0.0, abs=1e-12)
    assert metrics.adds(gt, gt, pts) == pytest.approx(0.0, abs=1e-12)
    assert metrics.translation_error(gt, gt) == 0.0
    assert metrics.rotation_error_deg(gt, gt) == pytest.approx(0.0, abs=1e-6)


def test_pure_translation_of_one_cm(pts):
    gt = _pose(_rot_z(20))
    pred = gt.copy()
    pred[:3, 3] += [0.006, 0.0, 0.008]
    assert metrics.add(pred, gt, pts) == pytest.approx(0.01, rel=1e-9)
    assert metrics.translation_error(pred, gt) == pytest.approx(0.01, rel=1e-12)
    assert metrics.rotation_error_deg(pred, gt) == pytest.approx(0.0, abs=1e-6)
    assert metrics.adds(pred, gt, pts) <= metrics.add(pred, gt, pts)


def test_rotation_error_and_add_of_a_rotation():
    # Points on a ring of radius r around z: a rotation by a about z moves each by 2 r sin(a/2).
    r, a = 0.05, 30.0
    ang = np.linspace(0, 2 * np.pi, 360, endpoint=False)
    ring = np.stack([r * np.cos(ang), r * np.sin(ang), np.zeros_like(ang)], axis=1)
    gt, pred = _pose(), _pose(_rot_z(a))
    assert metrics.rotation_error_deg(pred, gt) == pytest.approx(a, rel=1e-9)
    assert metrics.add(pred, gt, ring) == pytest.approx(2 * r * math.sin(math.radians(a) / 2))
    # The ring is symmetric about z: 30 deg is a multiple of the 1 deg point spacing.
    assert metrics.adds(pred, gt, ring) == pytest.approx(0.0, abs=1e-9)
    assert metrics.rotation_error_deg(_pose(_rot_z(180.0)), gt) == pytest.approx(180.0)
    assert metrics.rotation_error_deg(_pose(_rot_z(1e-5)), gt) == pytest.approx(1e-5, rel=1e-4)


def test_symmetric_object_adds_below_add():
    # A box symmetric under a 180 deg turn about z, sampled densely on its surface.
    g = np.linspace(-1, 1, 11)
    x, y = np.meshgrid(g, g)
    faces = [np.stack([x.ravel() * 0.04, y.ravel() * 0.02, np.full(x.size, s * 0.01)], 1)
             for s in (-1, 1)]
    box = np.concatenate(faces)
    gt, pred = _pose(), _pose(_rot_z(180.0))
    assert metrics.add(pred, gt, box) > 0.02
    assert metrics.adds(pred, gt, box) == pytest.approx(0.0, abs=1e-9)
    pred_off = pred.copy()
    pred_off[0, 3] += 0.003
    assert metrics.adds(pred_off, gt, box) < metrics.add(pred_off, gt, box)


def test_non_finite_prediction_is_a_failure(pts):
    gt = _pose()
    bad = gt.copy()
    bad[0, 3] = np.nan
    for fn in (metrics.add, metrics.adds):
        assert fn(bad, gt, pts) == math.inf
    assert metrics.translation_error(bad, gt) == math.inf
    assert metrics.rotation_error_deg(np.full((4, 4), np.inf), gt) == math.inf


def test_accepts_torch_tensors(pts):
    gt = _pose()
    pred = gt.copy()
    pred[2, 3] += 0.01
    v = metrics.add(torch.as_tensor(pred), torch.as_tensor(gt), torch.as_tensor(pts))
    assert v == pytest.approx(0.01)
    with pytest.raises(ValueError):
        metrics.add(pred[:3], gt, pts)


def test_auc_known_values():
    assert metrics.auc([0.0] * 7) == pytest.approx(100.0)
    assert metrics.auc([0.1, 0.2, 5.0]) == pytest.approx(0.0)
    assert metrics.auc([math.inf, math.nan]) == pytest.approx(0.0)
    # Accuracy curve of {0, 0.05, 0.1, inf} on [0, 0.1]: 1/4 from 0 to 0.05, 2/4 up to 0.1.
    # Area = 0.05 * 0.25 + 0.05 * 0.5 = 0.0375 -> 37.5 % of 0.1.
    assert metrics.auc([0.0, 0.05, 0.1, math.inf]) == pytest.approx(37.5)
    # One error of 2 cm: accuracy 0 up to 2 cm, 1 after -> 80 %.
    assert metrics.auc([0.02]) == pytest.approx(80.0)
    assert metrics.auc(np.array([0.02, 0.04]), max_threshold=0.05) == pytest.approx(
        100 * (0.6 + 0.2) / 2)
    assert math.isnan(metrics.auc([]))
    with pytest.raises(ValueError):
        metrics.auc([-0.1])


def test_auc_matches_a_fine_numerical_integral():
    errs = np.random.default_rng(3).exponential(0.03, size=200)
    x = np.linspace(0, 0.1, 20001)
    acc = (np.sort(errs)[None, :] <= x[:, None]).mean(axis=1)
    numeric = 100 * np.trapezoid(acc, x) / 0.1
    assert metrics.auc(errs) == pytest.approx(numeric, abs=0.01)


def test_accuracy_threshold():
    assert metrics.accuracy([0.01, 0.02, 0.03, math.nan], 0.02) == pytest.approx(50.0)
