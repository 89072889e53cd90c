#!/usr/bin/env bash
# Copyright 2026 The pose_tracker Authors. Apache-2.0.
# Kept for old command lines: the GPU checks now live in scripts/device/gpu_checks.sh.
#
#   OUT=/tmp/out bash scripts/gpu_check.sh [quick]     (quick: the GPU tests only)
if [ "${1:-}" = "quick" ]; then
  exec bash "$(dirname "$0")/device/gpu_checks.sh" tests
fi
exec bash "$(dirname "$0")/device/gpu_checks.sh" nvdiffrast tests bench
