# Copyright 2026 The pose_tracker Authors. Apache-2.0.
"""
Broadcast the object's transform on /tf, with or without tf2_ros.

Backends, in order of preference:

1. `tf2_ros.TransformBroadcaster` (a real ROS install);
2. a plain publisher of `tf2_msgs/TFMessage` on /tf with the QoS tf2_ros uses (reliable, volatile,
   keep last 100): for the PyPI wheels, where tf2_ros does not exist but tf2_msgs can be built;
3. nothing: neither is importable; one warning is logged and `send` does nothing.
"""

from typing import Optional


def _import_broadcaster():
    try:
        from tf2_ros import TransformBroadcaster
    except ImportError:
        return None
    return TransformBroadcaster


def _import_tf_message():
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:
        return None
    return TFMessage


class TfPublisher:
    """
    Publish `geometry_msgs/TransformStamped` messages on /tf.

    Args:
        node: the rclpy node to publish from.
        backend: force "tf2_ros", "tf2_msgs" or "none"; None picks the first that imports.

    Attributes:
        backend: the backend in use, "tf2_ros", "tf2_msgs" or "none".

    """

    def __init__(self, node, backend: Optional[str] = None):
        self._node = node
        self._broadcaster = None
        self._publisher = None
        self._tf_message = None
        broadcaster = _import_broadcaster() if backend in (None, "tf2_ros") else None
        tf_message = _import_tf_message() if backend in (None, "tf2_msgs") else None
        if broadcaster is not None:
            self._broadcaster = broadcaster(node)
            self.backend = "tf2_ros"
        elif tf_message is not None:
            from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

            qos = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.VOLATILE)
            self._tf_message = tf_message
            self._publisher = node.create_publisher(tf_message, "/tf", qos)
            self.backend = "tf2_msgs"
        else:
            self.backend = "none"
            node.get_logger().warning(
                "neither tf2_ros nor tf2_msgs can be imported: the object pose is NOT published "
                "on /tf (still on ~/pose). Install tf2_ros (real ROS) or build tf2_msgs into the "
                "venv (see the Makefile) to get TF.")

    def send(self, transform) -> None:
        """Publish one geometry_msgs/TransformStamped (no-op without a backend)."""
        if self._broadcaster is not None:
            self._broadcaster.sendTransform(transform)
        elif self._publisher is not None:
            self._publisher.publish(self._tf_message(transforms=[transform]))
