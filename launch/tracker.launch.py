# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Launch pose_tracker_node on a camera's topics, optionally with RViz.

Example (realsense-ros 4.x, `ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true`,
which publishes under /camera/camera):

    ros2 launch pose_tracker tracker.launch.py mesh_path:=/data/mug.obj rviz:=true

The node's inputs rgb/image_raw, depth/image_raw and rgb/camera_info are remapped to
<camera>/<rgb_topic>, <camera>/<depth_topic> and <camera>/<camera_info_topic>; the defaults are
the realsense-ros 4.x names (camera /camera/camera: colour image, depth aligned to colour, colour
camera_info). For a realsense-ros 3.x / 2.x driver pass camera:=/camera. `namespace` puts the
node (and its ~/pose, ~/status, ... topics) in a namespace; `use_sim_time:=true` for bag replays
with a /clock (ros2 bag play --clock, or pose_tracker_player --clock).

Fast DDS: the node process gets FASTRTPS_DEFAULT_PROFILES_FILE=<fastdds_profile> (default: the
installed config/fastdds_shm.xml, or the variable's value when it is already set), a shared-memory
transport sized for camera images. The camera driver must run with the same profile (export the
variable before starting it), else 640x480 at 30 Hz loses about half the frames between the two
processes. fastdds_profile:='' leaves the environment as it is.

Only the standard library is imported at module level, so `default_paths` can be checked where
`launch` is not installed (test/test_colcon_build.py).
"""

import os

#: Parameters settable from the command line; an empty value keeps the params_file's value.
OVERRIDABLE = ("mesh_path", "mesh_scale", "weights_path", "device", "initial_pose")
#: Default camera namespace: realsense-ros 4.x publishes under /<camera_namespace>/<camera_name>.
DEFAULT_CAMERA = "/camera/camera"


def default_paths(share: str) -> dict:
    """Files the launch arguments point at by default, in the package's share directory."""
    return {
        "params_file": os.path.join(share, "config", "tracker.yaml"),
        "rviz_config": os.path.join(share, "config", "tracker.rviz"),
        "fastdds_profile": os.path.join(share, "config", "fastdds_shm.xml"),
    }


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
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

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
    profile = arg("fastdds_profile")
    env = {"FASTRTPS_DEFAULT_PROFILES_FILE": profile} if profile else None
    if profile and not os.path.isfile(profile):
        raise RuntimeError(f"fastdds_profile '{profile}' does not exist (pass fastdds_profile:='' "
                           "to keep the environment's Fast DDS settings)")
    node = Node(
        package="pose_tracker",
        executable="pose_tracker_node",
        name=arg("node_name"),
        namespace=arg("namespace"),
        output="screen",
        parameters=[arg("params_file"), overrides],
        remappings=remappings,
        additional_env=env,
    )
    return [node]


def generate_launch_description():
    """Declare the arguments, the tracker node and (rviz:=true) RViz."""
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    paths = default_paths(get_package_share_directory("pose_tracker"))
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
        DeclareLaunchArgument("camera", default_value=DEFAULT_CAMERA,
                              description="camera namespace the input topics live in "
                                          "(realsense-ros 4.x: /camera/camera; 3.x: /camera)"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the tracker node and its topics"),
        DeclareLaunchArgument("rgb_topic", default_value="color/image_raw",
                              description="colour image topic, relative to camera"),
        DeclareLaunchArgument("depth_topic", default_value="aligned_depth_to_color/image_raw",
                              description="depth topic registered to colour, relative to camera"),
        DeclareLaunchArgument("camera_info_topic", default_value="color/camera_info",
                              description="colour camera_info topic, relative to camera"),
        DeclareLaunchArgument("params_file",
                              default_value=paths["params_file"],
                              description="node parameters YAML"),
        DeclareLaunchArgument("node_name", default_value="pose_tracker",
                              description="name of the tracker node"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock (bag playback with --clock)"),
        DeclareLaunchArgument("fastdds_profile",
                              default_value=os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE",
                                                           paths["fastdds_profile"]),
                              description="Fast DDS XML profile for the node process "
                                          "(shared memory sized for images); '' = leave the "
                                          "environment as it is"),
        DeclareLaunchArgument("rviz", default_value="false",
                              description="start RViz with config/tracker.rviz"),
    ]
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", paths["rviz_config"]],
        parameters=[{"use_sim_time": LaunchConfiguration("use_sim_time")}],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription(args + [OpaqueFunction(function=_launch_setup), rviz])
