#!/usr/bin/env bash
# Copyright 2026 The pose_tracker Authors. Apache-2.0.
#
# One script for the whole development / CI environment, from nothing:
#   .venv with torch (CPU build without an NVIDIA GPU, CUDA build with one), the core, ROS-wheel
#   and test requirements, tf2_msgs built into the venv, pose_tracker installed in editable mode,
#   and .venv/activate-pose-tracker (source it for the ROS variables).
#
# Usage: scripts/setup_env.sh [--force]
#   Idempotent: each step keeps a stamp keyed on a hash of its inputs, and a run with nothing
#   changed returns in well under a second. --force redoes every step (the venv is kept).
#
# Environment:
#   POSE_TRACKER_VENV    venv folder (default: <repo>/.venv)
#   POSE_TRACKER_PYTHON  interpreter that creates the venv (default: python3; 3.11 or 3.12)
#   POSE_TRACKER_TORCH   pip requirement for torch, e.g. 'torch==2.13.0', or 'skip' to leave
#                        torch alone (default: torch==2.13.0+cpu without a GPU, else torch==2.13.0)
#   POSE_TRACKER_JOBS    parallel build jobs for tf2_msgs (default: nproc)
set -euo pipefail

TORCH_VERSION=2.13.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${POSE_TRACKER_VENV:-$root/.venv}
python=${POSE_TRACKER_PYTHON:-python3}
state=$venv/.pose_tracker_env
force=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    -h|--help) sed -n '3,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup_env: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

# A marker inherited from a process of another venv would stop the ROS wheels' .pth hook from
# setting LD_LIBRARY_PATH for this venv (docs: ros-pip-env.md).
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off

t_start=$(date +%s)
log() { printf '[setup_env %4ss] %s\n' "$(( $(date +%s) - t_start ))" "$*"; }
die() { printf 'setup_env: ERROR: %s\n' "$*" >&2; exit 1; }

# pip on these machines prints one "Location '...' is ignored" warning per package that the
# local file indexes lack: harmless noise, dropped from the log (sed keeps pip's exit status
# visible through pipefail, where grep -v would fail on empty output).
pip_quiet() {
  "$venv/bin/python" -m pip "$@" 2>&1 | sed -e "/^WARNING: Location '.*' is ignored/d"
}

# sha256 over the contents of the given files (a missing file hashes as its name).
hash_inputs() {
  local f
  {
    for f in "$@"; do
      if [ -f "$f" ]; then sha256sum "$f"; else echo "absent $f"; fi
    done
  } | sha256sum | cut -c1-64
}

# step NAME KEY COMMAND...: run COMMAND unless the stamp of NAME holds KEY.
step() {
  local name=$1 key=$2
  shift 2
  if [ "$force" = 0 ] && [ -f "$state/$name.stamp" ] && [ "$(cat "$state/$name.stamp")" = "$key" ]
  then
    log "$name: up to date"
    return 0
  fi
  rm -f "$state/$name.stamp"
  local t0
  t0=$(date +%s)
  log "$name: ..."
  "$@"
  echo "$key" >"$state/$name.stamp"
  log "$name: done in $(( $(date +%s) - t0 )) s"
}

have_nvidia_gpu() {
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $*"
  fi
}

apt_updated=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 \
    || die "missing system packages ($*) and no apt-get here: install them by hand"
  log "apt-get install $*"
  if [ "$apt_updated" = 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    >/dev/null
}

# ---------------------------------------------------------------- inputs and the fast path
torch_spec=${POSE_TRACKER_TORCH:-}
torch_fallback=
if [ -z "$torch_spec" ]; then
  if have_nvidia_gpu; then
    torch_spec="torch==$TORCH_VERSION"
  else
    torch_spec="torch==$TORCH_VERSION+cpu"
    # The +cpu wheel is not on PyPI for every Python (here: a local file for cp311 only); the
    # default build runs on the CPU too, it is only much larger.
    torch_fallback="torch==$TORCH_VERSION"
  fi
fi

req=$root/requirements
script_files=("$root/scripts/setup_env.sh" "$root/scripts/env/build_tf2_msgs.sh"
  "$root/scripts/env/fix_rosidl_cmake.py")
mapfile -t iface_files < <(find "$root/ros_interfaces/tf2_msgs" -type f | LC_ALL=C sort)
key_script=$(hash_inputs "${script_files[@]}")
key_torch=$(echo "$key_script $torch_spec" | sha256sum | cut -c1-64)
key_reqs=$(hash_inputs "${script_files[@]}" "$req/core.txt" "$req/ros-pip.txt" "$req/test.txt")
key_tf2=$(hash_inputs "${script_files[@]}" "$req/ros-build.txt" "$req/ros-pip.txt" \
  "${iface_files[@]}")
key_pkg=$(hash_inputs "${script_files[@]}" "$root/setup.py" "$root/setup.cfg")
key_env=$(echo "$key_script $venv $root" | sha256sum | cut -c1-64)
key_all=$(echo "$key_torch $key_reqs $key_tf2 $key_pkg $key_env ${POSE_TRACKER_PYTHON:-}" \
  | sha256sum | cut -c1-64)

if [ "$force" = 0 ] && [ -x "$venv/bin/python" ] && [ -f "$state/all.stamp" ] \
  && [ "$(cat "$state/all.stamp")" = "$key_all" ]; then
  echo "setup_env: $venv is up to date (scripts/setup_env.sh --force to redo)"
  exit 0
fi

# ---------------------------------------------------------------- system tools
missing=()
for tool in cmake make gcc g++; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "missing build tools: ${missing[*]}"
  apt_install cmake make gcc g++
fi

command -v "$python" >/dev/null 2>&1 || die "no '$python' on PATH (set POSE_TRACKER_PYTHON)"
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case $pyver in
  3.11|3.12) ;;
  *) die "$python is Python $pyver; the ROS 2 Jazzy wheels exist for 3.11 and 3.12 only \
(set POSE_TRACKER_PYTHON=python3.11 or python3.12)" ;;
esac
# Debian's own python3 needs python3-venv for ensurepip and python3-dev for Python.h.
if ! "$python" -c 'import ensurepip' >/dev/null 2>&1; then
  apt_install "python$pyver-venv"
fi
if ! "$python" -c 'import os, sysconfig, sys
sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  apt_install "python$pyver-dev"
fi

# ---------------------------------------------------------------- venv
if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c 'pass' >/dev/null 2>&1; then
  log "$venv/bin/python does not run: making the venv anew"
  rm -rf "$venv"
fi
if [ -x "$venv/bin/python" ] && [ -n "${POSE_TRACKER_PYTHON:-}" ]; then
  venv_pyver=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ "$venv_pyver" != "$pyver" ]; then
    log "$venv has Python $venv_pyver, POSE_TRACKER_PYTHON is $pyver: making the venv anew"
    rm -rf "$venv"
  fi
fi
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv with $python (Python $pyver)"
  "$python" -m venv "$venv"
  pip_quiet install -q --upgrade pip
fi
mkdir -p "$state"

# ---------------------------------------------------------------- torch
install_torch() {
  if [ "$torch_spec" = skip ]; then
    log "torch: POSE_TRACKER_TORCH=skip, leaving torch as it is"
    return 0
  fi
  log "torch: installing $torch_spec"
  # pip takes an installed 2.13.0+cpu as satisfying ==2.13.0 (local labels are ignored), so a
  # venv moved onto a GPU machine would keep its CPU build without this.
  case $torch_spec in
    *+*) ;;
    *) if "$venv/bin/python" -m pip show torch 2>/dev/null | grep -q '^Version: .*+cpu$'; then
         pip_quiet uninstall -q -y torch
       fi ;;
  esac
  if ! pip_quiet install -q "$torch_spec"; then
    [ -n "$torch_fallback" ] || die "could not install $torch_spec"
    log "torch: $torch_spec is not available for Python $pyver here;" \
      "falling back to $torch_fallback (the default build: several GB, runs on the CPU too)"
    pip_quiet install -q "$torch_fallback"
  fi
}
step torch "$key_torch" install_torch

# ---------------------------------------------------------------- requirements
install_requirements() {
  pip_quiet install -q -r "$req/core.txt" -r "$req/ros-pip.txt" -r "$req/test.txt"
}
step requirements "$key_reqs" install_requirements

# ---------------------------------------------------------------- tf2_msgs
build_tf2() {
  pip_quiet install -q -r "$req/ros-build.txt"
  bash "$root/scripts/env/build_tf2_msgs.sh" "$venv"
}
step tf2_msgs "$key_tf2" build_tf2

# ---------------------------------------------------------------- pose_tracker itself
install_package() {
  # Editable: python -m pose_tracker.* and the console scripts run the work tree. The build
  # backend's chatter goes to a log that is shown only when the install fails.
  if ! pip_quiet install -q --no-deps -e "$root" >"$state/pip-editable.log" 2>&1; then
    cat "$state/pip-editable.log" >&2
    die "pip install -e $root failed"
  fi
  # setuptools' editable installs leave out data_files, so lay out what colcon would install
  # (ament index marker, share/pose_tracker, lib/pose_tracker executables) as symlinks into
  # the work tree: edits to launch/ and config/ show up without reinstalling.
  local share=$venv/share/pose_tracker lib=$venv/lib/pose_tracker exe
  mkdir -p "$venv/share/ament_index/resource_index/packages" "$share" "$lib"
  : >"$venv/share/ament_index/resource_index/packages/pose_tracker"
  ln -sfn "$root/package.xml" "$share/package.xml"
  ln -sfn "$root/launch" "$share/launch"
  ln -sfn "$root/config" "$share/config"
  for exe in pose_tracker_node pose_tracker_player; do
    ln -sfn "$venv/bin/$exe" "$lib/$exe"
  done
  AMENT_PREFIX_PATH=$venv "$venv/bin/python" -c '
import pose_tracker
from ament_index_python.packages import get_package_share_directory
print("pose_tracker", pose_tracker.__file__, "share:", get_package_share_directory("pose_tracker"))'
}
step package "$key_pkg" install_package

# ---------------------------------------------------------------- env file
write_env_file() {
  cat >"$venv/activate-pose-tracker" <<EOF
# Generated by scripts/setup_env.sh: the environment for pose_tracker with the PyPI ROS wheels.
# Source it from sh or bash:  . $venv/activate-pose-tracker
. "$venv/bin/activate"
case ":\${AMENT_PREFIX_PATH:-}:" in
  *":$venv:"*) ;;
  *) AMENT_PREFIX_PATH="$venv\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}" ;;
esac
export AMENT_PREFIX_PATH
export RMW_IMPLEMENTATION="\${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# Shared-memory transport sized for camera images (plain defaults drop ~half the frames).
export FASTRTPS_DEFAULT_PROFILES_FILE="\${FASTRTPS_DEFAULT_PROFILES_FILE:-$root/config/fastdds_shm.xml}"
EOF
}
step env_file "$key_env" write_env_file

"$venv/bin/python" -c 'import torch; print("torch", torch.__version__, "with CUDA" if
  torch.cuda.is_available() else "(no CUDA device)")' 2>/dev/null || log "torch: not importable"
echo "$key_all" >"$state/all.stamp"
log "environment ready: . $venv/activate-pose-tracker"
