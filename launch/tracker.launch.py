# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Launch pose_tracker_node on a camera's topics, optionally with RViz.

Example (RealSense driver in namespace /camera):

    ros2 launch pose_tracker tracker.launch.py mesh_path:=/data/mug.obj camera:=/camera rviz:=true

The node's inputs rgb/image_raw, depth/image_raw and rgb/camera_info are remapped to
<camera>/<rgb_topic>, <camera>/<depth_topic> and <camera>/<camera_info_topic>; the defaults are
the RealSense names (colour image, depth aligned to colour, colour camera_info).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

#: Parameters settable from the command line; an empty value keeps the params_file's value.
OVERRIDABLE = ("mesh_path", "mesh_scale", "weights_path", "device", "initial_pose")


def _topic(camera: str, name: str) -> str:
    """Join a camera namespace and a topic name ("" namespace = relative name)."""
    if name.startswith("/") or not camera:
        return name
    return camera.rstrip("/") + "/" + name


def _parse(name: str, text: str):
    """Command-line text -> parameter value of the right type."""
    if name == "mesh_scale":
        return float(text)
    if name == "initial_pose":
        return [float(v) for v in text.replace(",", " ").strip("[] ").split()]
    return text


def _launch_setup(context, *args, **kwargs):
    """Build the node with the resolved launch arguments."""
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    overrides = {name: _parse(name, arg(name)) for name in OVERRIDABLE if arg(name)}
    overrides["use_sim_time"] = arg("use_sim_time").lower() in ("true", "1")
    camera = arg("camera")
    remappings = [
        ("rgb/image_raw", _topic(camera, arg("rgb_topic"))),
        ("depth/image_raw", _topic(camera, arg("depth_topic"))),
        ("rgb/camera_info", _topic(camera, arg("camera_info_topic"))),
    ]
    node = Node(
        package="pose_tracker",
        executable="pose_tracker_node",
        name=arg("node_name"),
        output="screen",
        parameters=[arg("params_file"), overrides],
        remappings=remappings,
    )
    return [node]


def generate_launch_description():
    """Declare the arguments, the tracker node and (rviz:=true) RViz."""
    share = get_package_share_directory("pose_tracker")
    rviz_config = os.path.join(share, "config", "tracker.rviz")
    args = [
        DeclareLaunchArgument("mesh_path", default_value="",
                              description="object mesh file (required unless in params_file)"),
        DeclareLaunchArgument("mesh_scale", default_value="",
                              description="mesh units -> metres (0 = metres); "
                                          "empty = params_file"),
        DeclareLaunchArgument("weights_path", default_value="",
                              description="refiner checkpoint; empty = shipped weights"),
        DeclareLaunchArgument("device", default_value="",
                              description="auto | cpu | cuda; empty = params_file"),
        DeclareLaunchArgument("initial_pose", default_value="",
                              description="'x y z qx qy qz qw' object -> camera, metres; "
                                          "empty = wait for ~/initial_pose"),
        DeclareLaunchArgument("camera", default_value="/camera",
                              description="camera namespace the input topics live in"),
        DeclareLaunchArgument("rgb_topic", default_value="color/image_raw",
                              description="colour image topic, relative to camera"),
        DeclareLaunchArgument("depth_topic", default_value="aligned_depth_to_color/image_raw",
                              description="depth topic registered to colour, relative to camera"),
        DeclareLaunchArgument("camera_info_topic", default_value="color/camera_info",
                              description="colour camera_info topic, relative to camera"),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(share, "config", "tracker.yaml"),
                              description="node parameters YAML"),
        DeclareLaunchArgument("node_name", default_value="pose_tracker",
                              description="name of the tracker node"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock (bag playback with --clock)"),
        DeclareLaunchArgument("rviz", default_value="false",
                              description="start RViz with config/tracker.rviz"),
    ]
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", rviz_config],
        parameters=[{"use_sim_time": LaunchConfiguration("use_sim_time")}],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription(args + [OpaqueFunction(function=_launch_setup), rviz])
