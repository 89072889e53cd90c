# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""Tools around the ROS node: rosbag2 reading/writing, the bag player and the demo."""
