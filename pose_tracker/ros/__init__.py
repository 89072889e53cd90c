# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""ROS 2 adapter: the only part of pose_tracker that imports ROS."""
