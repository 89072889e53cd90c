# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""The command-line tools refuse an unusable --device with one clear message (exit status 2)."""

import pytest
import torch

from pose_tracker.tools import bench, soak


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present: the error cannot occur")
@pytest.mark.parametrize("tool", [bench, soak], ids=["bench", "soak"])
def test_cuda_without_a_gpu_is_one_clear_error(tool, capsys):
    assert tool.main(["--device", "cuda", "--repeat" if tool is bench else "--frames", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no CUDA device" in err and "Traceback" not in err
