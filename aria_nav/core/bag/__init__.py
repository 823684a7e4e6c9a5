"""rosbag2 recordings (MCAP or SQLite 3) without ROS: reading, writing, message definitions, playback timing.

Built on the `rosbags` library, so the camera's bag source, the sample builder and tests use bags without a ROS
installation; aria_nav.ros.bag_io adds the rclpy side (recording from and playing into a running graph).
"""
from aria_nav.core.bag.definitions import MessageDefinitions, TypeDefinition
from aria_nav.core.bag.errors import BagError
from aria_nav.core.bag.playback import Pacer, playback_messages
from aria_nav.core.bag.reader import BagMessage, BagReader, TopicSummary, format_info
from aria_nav.core.bag.writer import STORAGES, BagWriter

__all__ = ["BagError", "BagMessage", "BagReader", "BagWriter", "MessageDefinitions", "Pacer", "STORAGES",
           "TopicSummary", "TypeDefinition", "format_info", "playback_messages"]
