# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""`OnceLog` with a plain logger: one line per kind until cleared, at the asked severity."""

from types import SimpleNamespace

from pose_tracker.ros.once_log import OnceLog


def test_each_kind_once_until_cleared():
    lines = []
    logger = SimpleNamespace(**{level: (lambda lv: lambda m: lines.append((lv, m)))(level)
                                for level in ("info", "warning", "error", "fatal")})
    log = OnceLog(logger)
    assert log("late", "warning", "w1") and not log("late", "warning", "w2")
    assert log("stale", "info", "i") and log("broken", "error", "e")
    assert log("odd", "fatal", "f")
    assert lines == [("warning", "w1"), ("info", "i"), ("error", "e"), ("fatal", "f")]
    assert log.count("late") == 1 and log.records[0] == ("late", "warning", "w1")
    assert log.clear("late", "never") and not log.clear("never")
    assert log("late", "warning", "w3") and log.count("late") == 2
