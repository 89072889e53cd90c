# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Build the package the way a robot does (`colcon build`, plain and --symlink-install).

Checks the install layout that `ros2 run` / `ros2 launch` rely on (ament index marker,
share/pose_tracker with package.xml, launch and config, lib/pose_tracker executables, the
package with its weights) and that the launch file's default paths exist in the install. Needs
colcon-core and colcon-ros (requirements/test.txt); a few seconds, in a temporary directory.
"""

import importlib.util
import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "pose_tracker"
SOURCES = ("setup.py", "setup.cfg", "package.xml", "resource", "pose_tracker", "launch", "config")


def _colcon_missing():
    for module in ("colcon_core", "colcon_ros"):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return module
    return None


pytestmark = pytest.mark.skipif(
    _colcon_missing() is not None,
    reason=f"{_colcon_missing()} is not importable: pip install colcon-core colcon-ros "
           "(requirements/test.txt; scripts/setup_env.sh installs them)")


@pytest.fixture(scope="module")
def installs(tmp_path_factory):
    """Build both variants at once (two processes) from a copy of the package; yield installs."""
    base = tmp_path_factory.mktemp("colcon")
    src = base / "src" / PACKAGE
    src.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    procs = {}
    for variant, extra in (("plain", []), ("symlink", ["--symlink-install"])):
        cmd = [sys.executable, "-m", "colcon", "--log-base", str(base / f"log_{variant}"),
               "build", "--base-paths", str(base / "src"),
               "--build-base", str(base / f"build_{variant}"),
               "--install-base", str(base / f"install_{variant}"),
               "--event-handlers", "console_direct-"] + extra
        procs[variant] = subprocess.Popen(cmd, cwd=base, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True)
    out = {}
    for variant, proc in procs.items():
        try:
            text, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"colcon build ({variant}) did not finish in 120 s")
        assert proc.returncode == 0, f"colcon build ({variant}) failed:\n{text}"
        out[variant] = base / f"install_{variant}" / PACKAGE
    return out


@pytest.mark.parametrize("variant", ["plain", "symlink"])
def test_install_layout(installs, variant):
    prefix = installs[variant]
    share = prefix / "share" / PACKAGE
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file()
    for rel in ("package.xml", "launch/tracker.launch.py", "config/tracker.yaml",
                "config/tracker.rviz", "config/fastdds_shm.xml"):
        assert (share / rel).is_file(), f"{variant}: share/{PACKAGE}/{rel} missing"
    for exe in ("pose_tracker_node", "pose_tracker_player"):
        path = prefix / "lib" / PACKAGE / exe
        assert path.is_file() and os.access(path, os.X_OK), f"{variant}: lib/{PACKAGE}/{exe}"
    # The Python package (with the shipped weights) is where the install's python path says.
    site = list(prefix.glob("lib/python3*/site-packages"))
    assert len(site) == 1, f"{variant}: no site-packages in {prefix}"
    if variant == "plain":
        pkg = site[0] / PACKAGE
    else:  # --symlink-install: the build folder is on the path, linked to the sources
        pth = [p for p in site[0].iterdir() if p.suffix in (".pth", ".egg-link")]
        assert pth, f"{variant}: no .pth/.egg-link in {site[0]}"
        pkg = Path(pth[0].read_text().split()[0]) / PACKAGE
    assert (pkg / "__init__.py").is_file() and (pkg / "weights" / "refiner_small.pt").is_file()
    assert (pkg / "ros" / "node.py").is_file()


@pytest.mark.parametrize("variant", ["plain", "symlink"])
def test_launch_defaults_exist_in_install(installs, variant):
    share = installs[variant] / "share" / PACKAGE
    spec = importlib.util.spec_from_file_location("tracker_launch",
                                                  share / "launch" / "tracker.launch.py")
    launch_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_file)  # standard library only at import time
    paths = launch_file.default_paths(str(share))
    assert set(paths) == {"params_file", "rviz_config", "fastdds_profile"}
    for name, path in paths.items():
        assert os.path.isfile(path), f"{variant}: default {name} {path} is not installed"
    assert launch_file.DEFAULT_CAMERA == "/camera/camera"  # realsense-ros 4.x
