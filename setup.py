# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Packaging for pose_tracker (ament_python: colcon build, or pip install -e . in a venv)."""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = 'pose_tracker'


def files(pattern):
    """Return the files matching ``pattern`` (sorted; empty when none exist yet)."""
    return sorted(path for path in glob(pattern) if os.path.isfile(path))


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=[PACKAGE, PACKAGE + '.*']),
    # Shipped RefineNet weights live inside the package so they install with it.
    package_data={PACKAGE: ['weights/*.pt']},
    include_package_data=False,
    data_files=[
        # ament index marker: lets `ros2 run`/`get_package_share_directory` find the package.
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', files('launch/*.launch.py')),
        ('share/' + PACKAGE + '/config',
         files('config/*.yaml') + files('config/*.rviz') + files('config/*.xml')),
    ],
    python_requires='>=3.10',
    # Runtime dependencies come from rosdep (package.xml) or requirements/*.txt, not from here:
    # pip must not pull torch's default build over the one scripts/setup_env.sh chose.
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='pose_tracker Authors',
    maintainer_email='pose_tracker@example.com',
    description='Real-time 6-DoF object pose tracking in RGB-D (FoundationPose-style), ROS 2.',
    license='Apache-2.0',
    extras_require={
        'test': ['pytest'],
        # Optional, CUDA machines only (NVIDIA Source Code License, never required): the eager
        # nvdiffrast backend (renderer comparison, training data); nvcc builds it at first use.
        'nvdiffrast': ['diffrp-nvdiffrast==0.3.3.1'],
    },
    entry_points={
        'console_scripts': [
            'pose_tracker_node = pose_tracker.ros.node:main',
            'pose_tracker_player = pose_tracker.ros.tools.player:main',
            'pose_tracker_demo = pose_tracker.ros.tools.demo:main',
            'pose_tracker_eval = pose_tracker.tools.eval:main',
            'pose_tracker_bench = pose_tracker.tools.bench:main',
            'pose_tracker_soak = pose_tracker.tools.soak:main',
        ],
    },
)
