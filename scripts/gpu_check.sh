#!/usr/bin/env bash
# Copyright 2026 The pose_tracker Authors. Apache-2.0.
# GPU checks on a CUDA machine that already has torch: the GPU tests, then the benchmarks.
#
#   OUT=/tmp/out bash scripts/gpu_check.sh [quick]
#
# Python packages the machine lacks can be given as wheels in .whl/ (installed to /tmp/site).
# nvdiffrast (optional; the comparison tests skip without it) is found on PYTHONPATH: build it
# yourself from its own repository, as its README says, and prepend its install folder.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/pose_tracker_gpu}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

# The GPU tests are the *_gpu.py files (each also skips itself without CUDA).
python3 -m pytest -q -ra -p no:cacheprovider test/*_gpu.py 2>&1 | tee "$OUT/gpu_tests.log"
[ "${1:-}" = "quick" ] && exit 0
for faces in 5000 80000; do
  python3 -m pose_tracker.bench --device cuda --faces "$faces" --iterations 2 \
    --compile step --json "$OUT/bench_${faces}.json" 2>&1 | tee -a "$OUT/bench.log"
done
