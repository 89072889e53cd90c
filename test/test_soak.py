# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Short CPU version of the long-run check (`python -m pose_tracker.tools.soak`; GPU: 20k)."""

import json

import pytest

from pose_tracker.tools import soak


def _run(tmp_path, *extra):
    out = tmp_path / "soak.json"
    args = soak.build_parser().parse_args(
        ["--device", "cpu", "--size", "96x128", "--sample-every", "25", "--warmup", "50",
         "--json", str(out), "--quiet", *extra])
    return soak.run(args), out


def test_short_soak_memory_flat_and_tracking(tmp_path):
    # 300 frames with the shipped weights, the object leaving the view twice (gap + re-init).
    report, _ = _run(tmp_path, "--frames", "300", "--gap-every", "120", "--gap-frames", "5")
    assert report["frames"] == 300
    assert report["ok"], report["failures"]
    assert report["nonfinite_poses"] == 0
    # Tracking, not drifting: the rendered object sits on the observed depth most of the time.
    assert report["quality_median"] > 0.5
    host = report["host_rss"]
    assert host is not None and host["growth_mb"] < 16.0
    assert report["captures"] == report["captures_at_start"] == 0  # CPU: no graph


def test_soak_flags_memory_growth(tmp_path, monkeypatch):
    # The check must be able to fail: fake an RSS that grows by 1 MB per sample.
    calls = {"n": 0}

    def growing_rss():
        calls["n"] += 1
        return 100 * (1 << 20) + calls["n"] * (1 << 20), "fake"

    monkeypatch.setattr(soak, "host_rss_bytes", growing_rss)
    report, _ = _run(tmp_path, "--frames", "200", "--net", "tiny", "--gap-every", "0",
                     "--host-tolerance-mb", "2")
    assert not report["ok"]
    assert any("host RSS grew" in f for f in report["failures"])


def test_main_writes_json_and_exit_code(tmp_path):
    out = tmp_path / "r.json"
    rc = soak.main(["--device", "cpu", "--size", "64x80", "--frames", "40", "--net", "tiny",
                    "--warmup", "10", "--sample-every", "10", "--quiet", "--json", str(out)])
    data = json.loads(out.read_text())
    assert rc == (0 if data["ok"] else 1)
    assert data["frames"] == 40 and data["device"] == "cpu"
    assert len(data["samples"]) >= 4


@pytest.mark.parametrize("bad", ["0x10", "abc"])
def test_size_argument_rejects_garbage(bad):
    with pytest.raises(SystemExit):
        soak.build_parser().parse_args(["--size", bad])
