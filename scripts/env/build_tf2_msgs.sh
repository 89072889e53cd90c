#!/usr/bin/env bash
# Copyright 2026 The pose_tracker Authors. Apache-2.0.
#
# Build ros_interfaces/tf2_msgs (TFMessage) into a venv that holds the PyPI ROS wheels, with
# the wheels' own rosidl toolchain (requirements/ros-build.txt must already be installed).
# Usage: scripts/env/build_tf2_msgs.sh <venv>
# Needs cmake, make, a C/C++ compiler and the Python headers (scripts/setup_env.sh checks).
# Installed into the venv prefix, the result needs nothing at run time but
# AMENT_PREFIX_PATH=<venv>.
set -euo pipefail

venv=$(cd "${1:?usage: build_tf2_msgs.sh <venv>}" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
src=$root/ros_interfaces/tf2_msgs
build=$venv/.pose_tracker_env/build/tf2_msgs
jobs=${POSE_TRACKER_JOBS:-$(nproc 2>/dev/null || echo 2)}

# The wheels' .pth hook re-executes Python with LD_LIBRARY_PATH set, but only when its marker
# is absent: a marker inherited from another venv's process would skip that (see
# docs in shared/docs/ros-pip-env.md), so start clean.
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE
export AMENT_PREFIX_PATH=$venv
export CMAKE_PREFIX_PATH=$venv
# Some ament/rosidl CMake code runs "python3" from PATH: make it the venv's.
export PATH=$venv/bin:$PATH

"$venv/bin/python" "$root/scripts/env/fix_rosidl_cmake.py" "$venv"

rm -rf "$build"
mkdir -p "$build"
cmake -S "$src" -B "$build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_TESTING=OFF \
  -DCMAKE_PREFIX_PATH="$venv" \
  -DCMAKE_INSTALL_PREFIX="$venv" \
  -DPython3_EXECUTABLE="$venv/bin/python" \
  -DPython3_FIND_VIRTUALENV=ONLY \
  >"$build/configure.log" 2>&1 || { tail -n 60 "$build/configure.log" >&2; exit 1; }
cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1 \
  || { tail -n 60 "$build/build.log" >&2; exit 1; }
cmake --install "$build" >"$build/install.log" 2>&1 \
  || { tail -n 60 "$build/install.log" >&2; exit 1; }

# Prove it loads and its C type support works (serialisation goes through it).
"$venv/bin/python" - <<'EOF'
from geometry_msgs.msg import TransformStamped
from rclpy.serialization import deserialize_message, serialize_message
from tf2_msgs.msg import TFMessage

t = TransformStamped()
t.header.frame_id = 'camera_color_optical_frame'
t.child_frame_id = 'object'
t.transform.translation.z = 0.5
t.transform.rotation.w = 1.0
msg = TFMessage(transforms=[t])
back = deserialize_message(serialize_message(msg), TFMessage)
assert back.transforms[0].transform.translation.z == 0.5, back
assert back.transforms[0].child_frame_id == 'object', back
print('tf2_msgs: TFMessage builds, imports and round-trips through CDR')
EOF
