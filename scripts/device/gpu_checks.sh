#!/usr/bin/env bash
# Copyright 2026 The pose_tracker Authors. Apache-2.0.
# GPU checks on a CUDA machine with torch and no internet, as one command, in stages:
#
#   OUT=/tmp/out bash scripts/device/gpu_checks.sh [nvdiffrast] [tests] [synth] [cache] [bench] [soak]
#
# No argument: all stages. Stages always run in the order above (nvdiffrast first, so its
# one-time JIT build is timed there and not inside a test); a failed stage does not stop the next
# ones, the exit status is non-zero if any failed. Each takes (H200, rough): nvdiffrast 1-3 min
# cold, tests 1-3 min, cache 2 cold compiles, bench about 1-2 min per run, soak 1-2 min; pick
# subsets to stay inside a 10-minute command.
#
# Wheels in .whl/ (kornia, kornia_rs, trimesh, diffrp-nvdiffrast) go to /tmp/site first.
# YCB-Video models for the renderer tests: $POSE_TRACKER_YCBV, else ./.ycbv or ./shared/data/ycbv
# if there (the tests skip without them).
#
# Files under $OUT (the device returns 8 at most: pick stages accordingly): run.log (setup and
# the summary), nvdiffrast.log, gpu_tests.log, synth.log + synth/eval_summary.{md,json} and a plot,
# compile_cache.log, bench.log, bench.json (all bench runs, keyed by label), soak.log, soak.json.
set -uo pipefail
cd "$(dirname "$0")/../.."

# ---- Adapt these (environment variables override them) ------------------------------------------
# Bench runs: "label:flags" separated by ';'. bench.py flags: --faces N | --mesh FILE,
# --network-iterations N, --icp-iterations M, --width official|shipped|w1,w2,.., --compile none|network|step, --fp32,
# --no-overlap, --compare-overlap, --repeat N (timed frames, >= 300 for the README medians).
BENCH_COMMON=${BENCH_COMMON:-"--device cuda --repeat 300"}
BENCH_RUNS=${BENCH_RUNS:-"hybrid_5k:--faces 5000 --width shipped --compile step;\
hybrid_80k:--faces 80000 --width shipped --compile step;\
network_5k:--faces 5000 --width shipped --compile step --icp-iterations 0"}
# The cold/warm compile-cache check: one bench run, twice, on an empty cache folder.
CACHE_RUN=${CACHE_RUN:-"--device cuda --faces 5000 --width shipped --compile step --repeat 50"}
# soak.py flags: --frames, --device, --size HxW, --mesh | --faces, --net, --network-iterations, --icp-iterations,
# --no-graph, --pool, --gap-every, --gap-frames, --warmup, --sample-every, --max-seconds,
# --host-tolerance-mb, --gpu-tolerance-mb, --seed, --json, --quiet.
# (bench, soak and eval take --network-iterations N --icp-iterations M; default 2 and 2.)
SOAK_ARGS=${SOAK_ARGS:-"--frames 20000 --device cuda --max-seconds 480"}
# -------------------------------------------------------------------------------------------------

OUT=${OUT:-/tmp/pose_tracker_gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
RUNLOG="$OUT/run.log"
: >"$RUNLOG"
log() { echo "$*" | tee -a "$RUNLOG"; }

# torch.compile cache. Inductor reads TORCHINDUCTOR_CACHE_DIR when it first needs the folder, and
# pose_tracker.compile_cache.enable_persistent_compile_cache() leaves a value set here alone, so
# every process of this script (bench runs, soak, tests) shares one cache: a graph compiled by one
# process (same torch, GPU, shapes, config) is a cache hit in the next, which then pays only
# Dynamo's tracing. FX_GRAPH_CACHE=1 forces the FX-graph cache (compiled Triton kernels are
# bundled into its entries; TRITON_CACHE_DIR, unset, follows as <cache>/triton); AUTOGRAD_CACHE=1
# the AOTAutograd cache. /tmp lasts as long as the machine is warm: the next command on the same
# machine reuses it, a fresh machine starts cold. The `cache` stage measures cold vs warm in a
# folder of its own, so the other stages do not warm it.
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-/tmp/pose_tracker_inductor}
export TORCHINDUCTOR_FX_GRAPH_CACHE=1
export TORCHINDUCTOR_AUTOGRAD_CACHE=1

STAGES=("$@")
[ ${#STAGES[@]} -eq 0 ] && STAGES=(nvdiffrast tests synth cache bench soak)
for s in "${STAGES[@]}"; do
  case $s in nvdiffrast|tests|synth|cache|bench|soak) ;;
    *) echo "unknown stage '$s' (nvdiffrast tests synth cache bench soak)" >&2; exit 2 ;; esac
done
wanted() { local s; for s in "${STAGES[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

declare -A RESULT SECONDS_OF
ORDER=()
record() {  # record STAGE RC SECONDS
  ORDER+=("$1"); SECONDS_OF[$1]=$3
  if [ "$2" -eq 0 ]; then RESULT[$1]=ok; else RESULT[$1]="FAILED (rc $2)"; fi
}

# ---- setup --------------------------------------------------------------------------------------
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  command -v nvcc >/dev/null && nvcc --version | tail -n 2 || echo "nvcc: not on PATH"
  command -v ninja >/dev/null && echo "ninja $(ninja --version)" || echo "ninja: not on PATH"
} 2>&1 | tee -a "$RUNLOG"
t0=$(date +%s)
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl 2>&1 | tee -a "$RUNLOG"
  rc=${PIPESTATUS[0]}
else
  log "no wheels in .whl/: using what is installed"; rc=0
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ -z "${POSE_TRACKER_YCBV:-}" ]; then
  for d in .ycbv shared/data/ycbv; do
    [ -d "$d/models" ] && export POSE_TRACKER_YCBV=$PWD/$d && break
  done
fi
python3 - <<'EOF' 2>&1 | tee -a "$RUNLOG"
import importlib, os, torch
print('torch', torch.__version__, 'cuda', torch.version.cuda,
      'gpu', torch.cuda.get_device_name() if torch.cuda.is_available() else None)
for m in ('kornia', 'kornia_rs', 'trimesh', 'scipy', 'yaml', 'PIL', 'nvdiffrast'):
    try:
        mod = importlib.import_module(m)
        print(f'{m} {getattr(mod, "__version__", "?")} {os.path.dirname(mod.__file__)}')
    except Exception as e:
        print(f'{m}: MISSING ({type(e).__name__}: {e})')
for v in ('TORCHINDUCTOR_CACHE_DIR', 'TORCH_EXTENSIONS_DIR', 'POSE_TRACKER_YCBV'):
    print(v, '=', os.environ.get(v))
EOF
[ "${PIPESTATUS[0]}" -ne 0 ] && rc=1
record setup "$rc" $(( $(date +%s) - t0 ))

# ---- stages -------------------------------------------------------------------------------------
nvdiffrast_once() {
  python3 - <<'EOF'
import time
import torch
t = time.perf_counter()
from pose_tracker.render import nvdiffrast_backend as nb
if nb.unavailable_reason():
    raise SystemExit('nvdiffrast unavailable: ' + nb.unavailable_reason())
nb.load()  # raises RuntimeError with the reason when the build or load fails
info = nb.load_info()
pos = torch.tensor([[[-.5, -.5, 0, 1], [.5, -.5, 0, 1], [0, .5, 0, 1]]], device='cuda')
rast = nb.rasterize(pos, torch.tensor([[0, 1, 2]], device="cuda"), (16, 16))
assert 24 <= (rast[..., 3] == 1).sum() <= 40, 'nvdiffrast drew the wrong area'
print('nvdiffrast load %.1f s (includes the build on first use), process %.1f s, plugin %s'
      % (info['load_seconds'], time.perf_counter() - t, info['plugin_dir']))
EOF
}

stage_nvdiffrast() {  # JIT build (cold) and load, then a load from the built plugin (warm)
  echo "--- first load (builds when the plugin folder is empty)"
  nvdiffrast_once || return 1
  echo "--- second load (from the built plugin)"
  nvdiffrast_once
}

stage_tests() {
  python3 -m pytest -p no:cacheprovider -q -ra test/*_gpu.py
}

stage_synth() {  # synthetic sequences (rendered here, fast on CUDA) and their tracking eval
  python3 scripts/eval_suite.py --stages synth --synth-seeds ${SYNTH_SEEDS:-1000 1001} \
    --methods ${SYNTH_METHODS:-hybrid network icp hold} --device cuda --synth-root /tmp/synth \
    --out /tmp/eval_synth --results "$OUT/synth"
}

stage_cache() {  # the same compiled bench twice on an empty cache: cold, then warm start
  local dir=/tmp/pose_tracker_inductor_coldwarm rc=0 t pass
  rm -rf "$dir"
  for pass in cold warm; do
    t=$(date +%s%N)
    # shellcheck disable=SC2086
    TORCHINDUCTOR_CACHE_DIR=$dir python3 -m pose_tracker.tools.bench $CACHE_RUN || rc=1
    echo "compile cache $pass: process wall $(( ($(date +%s%N) - t) / 1000000 )) ms"
  done
  echo "cache folder $dir: $(du -sh "$dir" | cut -f1)"
  return $rc
}

stage_bench() {  # every BENCH_RUNS entry, then one bench.json keyed by label
  local rc=0 entry label flags runs tmp=/tmp/pose_tracker_bench
  rm -rf "$tmp"; mkdir -p "$tmp"
  IFS=';' read -r -a runs <<<"$BENCH_RUNS"
  for entry in "${runs[@]}"; do
    label=${entry%%:*}; flags=${entry#*:}
    echo "=== bench $label: $BENCH_COMMON $flags"
    local t=$(date +%s)
    # shellcheck disable=SC2086
    python3 -m pose_tracker.tools.bench $BENCH_COMMON $flags --json "$tmp/$label.json" || rc=1
    echo "bench $label: process wall $(( $(date +%s) - t )) s (compile cache: $TORCHINDUCTOR_CACHE_DIR)"
  done
  python3 - "$tmp" "$OUT/bench.json" <<'EOF' || rc=1
import glob, json, os, sys
runs = {os.path.basename(p)[:-5]: json.load(open(p)) for p in sorted(glob.glob(sys.argv[1] + '/*.json'))}
json.dump(runs, open(sys.argv[2], 'w'), indent=2)
bad = [k for k, r in runs.items() if r.get('compile_error')]
for k, r in runs.items():
    print(f"{k:>16}: graph {r.get('graph_ms_median')} ms median (p99 {r.get('graph_ms_p99')}), "
          f"plain graph {r.get('graph_plain_ms_median')}, eager {r.get('eager_ms_median')}, "
          f"faces {r.get('faces')}, compile_error {r.get('compile_error')}")
sys.exit(1 if bad else 0)
EOF
  return $rc
}

stage_soak() {
  # shellcheck disable=SC2086
  python3 -m pose_tracker.tools.soak $SOAK_ARGS --json "$OUT/soak.json"
}

declare -A LOGFILE=([nvdiffrast]=nvdiffrast.log [tests]=gpu_tests.log [synth]=synth.log
                    [cache]=compile_cache.log [bench]=bench.log [soak]=soak.log)
for s in nvdiffrast tests synth cache bench soak; do
  wanted "$s" || continue
  log "=== stage $s ($(date -u +%T))"
  t0=$(date +%s)
  "stage_$s" 2>&1 | tee "$OUT/${LOGFILE[$s]}"
  record "$s" "${PIPESTATUS[0]}" $(( $(date +%s) - t0 ))
done

# ---- summary ------------------------------------------------------------------------------------
failed=0
log ""
log "$(printf '%-12s %-16s %8s  %s' stage result seconds log)"
for s in "${ORDER[@]}"; do
  [ "${RESULT[$s]}" = ok ] || failed=1
  log "$(printf '%-12s %-16s %8s  %s' "$s" "${RESULT[$s]}" "${SECONDS_OF[$s]}" \
    "${LOGFILE[$s]:-run.log}")"
done
if [ -f "$OUT/gpu_tests.log" ]; then
  log "tests: $(grep -E '(passed|failed|error)' "$OUT/gpu_tests.log" | tail -n 1)"
fi
exit $failed
