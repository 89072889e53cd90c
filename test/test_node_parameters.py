# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""The node's parameter table (no ROS needed): one source, mirrored by config/tracker.yaml."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from pose_tracker.ros import node_parameters as NP

ROOT = Path(__file__).resolve().parents[1]


def test_yaml_matches_parameter_table():
    cfg = yaml.safe_load((ROOT / "config" / "tracker.yaml").read_text())
    values = cfg["/**"]["ros__parameters"]
    declared = {p.name: p.default for p in NP.PARAMETERS if p.default is not None}
    assert values == declared
    # The one parameter without a default is shown, commented out, with a valid example.
    text = (ROOT / "config" / "tracker.yaml").read_text()
    unset = [p.name for p in NP.PARAMETERS if p.default is None]
    assert unset == ["initial_pose"] and "# initial_pose: [" in text


def test_parameter_table_is_the_params_dataclass():
    fields = dataclasses.fields(NP.TrackerParams)
    assert [p.name for p in NP.PARAMETERS] == [f.name for f in fields]
    defaults = dataclasses.asdict(NP.TrackerParams())
    for spec in NP.PARAMETERS:
        assert defaults[spec.name] == spec.default, spec.name
        assert spec.description and spec.description.strip()[-1] in ".)", spec.name
        assert NP.PARAMETERS_BY_NAME[spec.name] is spec
        if spec.default is not None:
            assert NP.validate(spec.name, spec.default) is None, spec.name
        if spec.limits is not None:
            lo, hi = spec.limits
            assert lo <= spec.default <= hi, spec.name
    run_time = {p.name for p in NP.PARAMETERS if not p.read_only}
    assert run_time == {"publish_tf", "publish_overlay", "accept_frame_id_mismatch",
                        "drop_stale_frames", "initial_pose", "auto_register",
                        "quality_threshold", "lost_after_frames", "max_jump", "input_timeout"}


@pytest.mark.parametrize("name, value, reason", [
    ("device", "tpu", "device must be one of auto, cpu, cuda"),
    ("compile", "all", "compile must be one of none, network, step"),
    ("image_rectified", "maybe", "image_rectified must be one of auto, true, false"),
    ("object_frame", " ", "object_frame must not be empty"),
    ("quality_threshold", 1.5, "quality_threshold must be in [0.0, 1.0], got 1.5"),
    ("initial_pose", [0.0, 1.0], "7 numbers"),
])
def test_validate_says_why(name, value, reason):
    assert reason in NP.validate(name, value)
