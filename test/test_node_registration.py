# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""The node's registration input with a fake tracker and registrar: ~/mask, ~/register, auto."""

from types import SimpleNamespace

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from pose_tracker.registration import RegistrationError  # noqa: E402
from pose_tracker.ros import diagnostics as diag  # noqa: E402
from test_node import depth_msg, H, ready, rgb_msg, stamp, W  # noqa: E402

REGISTERED = np.array([[0.0, -1, 0, 0.03], [1, 0, 0, 0.01], [0, 0, 1, 0.55], [0, 0, 0, 1]])


class FakeRegistrar:
    """Returns REGISTERED with a settable support; records the masks it was given."""

    def __init__(self):
        self.support = 0.9
        self.masks = []
        self.error = None

    def register(self, rgb, depth, mask):
        self.masks.append(mask.copy())
        if self.error is not None:
            raise self.error
        return SimpleNamespace(pose=REGISTERED.copy(), score=0.8 * self.support, iou=0.8,
                               support=self.support, hypotheses=252)


def mask_msg(i, encoding="mono8", h=H, w=W, value=255):
    m = Image(height=h, width=w, encoding=encoding)
    m.header.stamp = stamp(i)
    c = 3 if encoding == "rgb8" else 1
    m.step = w * c
    data = np.zeros((h, w * c), np.uint8)
    data[h // 4:h // 2, w // 4:w // 2] = value
    m.data = data.tobytes()
    return m


def with_registrar(h):
    fake = FakeRegistrar()
    h.node.registration._factory = lambda tracker: fake
    return fake


def frame(h, i, mask=None):
    if mask is not None:
        h.node.registration.on_mask(mask)
    h.node.process_frame(rgb_msg(i), depth_msg(i))


def test_auto_register_on_first_frame_with_a_mask(harness):
    h = harness()
    fake = with_registrar(h)
    ready(h, pose=False)
    frame(h, 0)  # no mask yet: waits, logs the usual no-pose line
    assert fake.masks == [] and h.node.state == diag.WAITING_FOR_POSE
    # Through DDS: the mask arrives on ~/mask, then the frame with the same stamp.
    pub = h.peer.create_publisher(Image, "/pose_tracker/mask", qos_profile_sensor_data)
    assert h.spin_until(lambda: pub.publish(mask_msg(1)) or len(h.node.registration._masks))
    frame(h, 1)
    assert len(fake.masks) == 1 and fake.masks[0].sum() == (H // 4) * (W // 4)
    assert h.node.state == diag.TRACKING
    np.testing.assert_allclose(h.tracker.resets[-1], REGISTERED)
    assert h.spin_until(lambda: h.poses)
    assert h.poses[0].pose.position.z == pytest.approx(0.55)
    # Tracking from now on: masks no longer trigger registration.
    frame(h, 2, mask_msg(2))
    assert len(fake.masks) == 1 and len(h.tracker.frames) == 1
    h.node.publish_diagnostics()
    assert h.spin_until(lambda: h.diags)
    values = {kv.key: kv.value for kv in h.diags[-1].status[0].values}
    assert values["registrations"] == "1" and values["last_registration_accepted"] == "True"
    assert float(values["last_registration_ms"]) >= 0.0


def test_low_score_is_reported_not_published(harness):
    h = harness(overrides={"quality_threshold": 0.5})
    fake = with_registrar(h)
    ready(h, pose=False)
    fake.support = 0.2
    for i in range(3):
        frame(h, i, mask_msg(i))
    h.spin_until(lambda: False, timeout=0.2)
    assert h.poses == [] and h.node.state == diag.WAITING_FOR_POSE
    assert len(fake.masks) == 3
    assert h.node.log_once.count("registration_low_score") == 1
    assert h.node.stats.skipped["registration_low_score"] == 3
    fake.support = 0.9  # a good registration afterwards is accepted
    frame(h, 3, mask_msg(3))
    assert h.node.state == diag.TRACKING and h.spin_until(lambda: h.poses)


@pytest.mark.parametrize("make_mask, error, kind", [
    (lambda i: mask_msg(i, encoding="rgb8"), None, "mask_encoding"),
    (lambda i: mask_msg(i, h=H // 2, w=W // 2), None, "mask_size"),
    (lambda i: mask_msg(i, value=0), None, "mask_empty"),
    (lambda i: mask_msg(i - 60), None, "mask_stale"),  # 2 s older than the frame
    (lambda i: mask_msg(i), RegistrationError("the mask (64 pixels) has 0 valid depth "
                                              "readings"), "mask_no_depth"),
])
def test_bad_masks_one_message_per_kind(harness, make_mask, error, kind):
    h = harness()
    fake = with_registrar(h)
    fake.error = error
    ready(h, pose=False)
    for i in range(100, 104):
        frame(h, i, make_mask(i))
    assert h.node.log_once.count(kind) == 1
    assert h.node.stats.skipped[kind] == 4
    assert h.poses == [] and h.node.state == diag.WAITING_FOR_POSE
    # The node keeps running: a good mask afterwards registers.
    fake.error = None
    h.node.registration._masks.clear()
    frame(h, 110, mask_msg(110))
    assert h.node.state == diag.TRACKING and h.spin_until(lambda: h.poses)


def test_register_service_and_lost_recovery(harness):
    h = harness(overrides={"auto_register": False, "quality_threshold": 0.5,
                           "lost_after_frames": 1})
    fake = with_registrar(h)
    ready(h, pose=False)
    frame(h, 0, mask_msg(0))
    assert fake.masks == [] and h.node.state == diag.WAITING_FOR_POSE  # auto is off
    cli = h.peer.create_client(Trigger, "/pose_tracker/register")
    assert cli.wait_for_service(timeout_sec=2.0)
    future = cli.call_async(Trigger.Request())
    assert h.spin_until(future.done) and future.result().success
    frame(h, 1)  # no mask with this frame: still waiting
    assert fake.masks == []
    frame(h, 2, mask_msg(2))
    assert len(fake.masks) == 1 and h.node.state == diag.TRACKING
    assert not h.node.registration.requested
    # LOST, then auto_register (switched on at run time) brings the object back.
    h.tracker.quality = 0.1
    frame(h, 3)
    assert h.node.state == diag.LOST
    frame(h, 4, mask_msg(4))
    assert len(fake.masks) == 1  # auto_register off: stays LOST
    h.node.set_parameters([rclpy.parameter.Parameter("auto_register", value=True)])
    frame(h, 5, mask_msg(5))
    assert len(fake.masks) == 2 and h.node.state == diag.TRACKING


def test_mask_after_its_frame_registers_that_frame(harness):
    h = harness()
    fake = with_registrar(h)
    ready(h, pose=False)
    h.node.process_frame(rgb_msg(5, value=77), depth_msg(5))  # a segmenter's mask comes later
    h.node.process_frame(rgb_msg(6, value=88), depth_msg(6))
    assert fake.masks == [] and h.node.state == diag.WAITING_FOR_POSE
    h.node.registration.on_mask(mask_msg(5))
    assert len(fake.masks) == 1 and h.node.state == diag.TRACKING
    assert h.spin_until(lambda: h.poses)
    stamp5 = stamp(5)
    assert (h.poses[0].header.stamp.sec, h.poses[0].header.stamp.nanosec) == (
        stamp5.sec, stamp5.nanosec)
    # A warning and then an info line from the once-log: both logged (no rclpy severity clash).
    h.node.log_once("test_warning", "warning", "w")
    h.node.log_once("test_info", "info", "i")
