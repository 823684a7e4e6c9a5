"""Topic names and frame ids of the graph: the README's topic contract, in code.

Nodes take these as defaults and users remap them; nothing else in the package spells a topic name.
"""

# Camera node outputs (device capture time in header.stamp).
RGB_IMAGE = "/aria/rgb/image_raw"
RGB_INFO = "/aria/rgb/camera_info"
SLAM_LEFT_IMAGE = "/aria/slam_left/image_raw"
SLAM_LEFT_INFO = "/aria/slam_left/camera_info"
SLAM_RIGHT_IMAGE = "/aria/slam_right/image_raw"
SLAM_RIGHT_INFO = "/aria/slam_right/camera_info"
IMU = "/aria/imu"
# std_msgs/String (JSON, latched): {"state": "playing" | "ended", "source": ..., "live": ..., and when ended
# "published": {stream: messages}}. "ended" is a
# recording's normal end of input, which the rest of the graph must not take for a fault.
SOURCE_STATE = "/aria/source_state"
ODOM = "/aria/odom"  # nav_msgs/Odometry from Aria Gen2's on-device VIO


def camera_image_topic(stream: str) -> str:
    """/aria/<stream>/image_raw, e.g. for Gen2's second SLAM pair (slam_front_left, ...)."""
    return f"/aria/{stream}/image_raw"


def camera_info_topic(stream: str) -> str:
    return f"/aria/{stream}/camera_info"


def camera_detections_topic(stream: str) -> str:
    """/aria_nav/<stream>/detections: a SLAM camera's detections (SLAM_LEFT_DETECTIONS, ..., Gen2's second pair)."""
    return f"/aria_nav/{stream}/detections"


def camera_frame(stream: str) -> str:
    return f"aria_{stream}_optical"

# Detection (vision_msgs/Detection2DArray; class names beside it as vision_msgs/LabelInfo, latched).
DETECTIONS = "/aria_nav/detections"
SLAM_LEFT_DETECTIONS = camera_detections_topic("slam_left")
SLAM_RIGHT_DETECTIONS = camera_detections_topic("slam_right")
CLASS_NAMES_SUFFIX = "/class_names"
ANNOTATED_SUFFIX = "/image"

# Depth (32FC1 meters, NaN where invalid).
DEPTH_IMAGE = "/aria_nav/depth/image"
DEPTH_INFO = "/aria_nav/depth/camera_info"
DEPTH_MODE = "/aria_nav/depth/mode"
DEPTH_COLORED = "/aria_nav/depth/colored"
DEPTH_POINTS = "/aria_nav/depth/points"

# Fusion and speech.
OBSTACLES = "/aria_nav/obstacles"
OBSTACLE_MARKERS = "/aria_nav/obstacles/markers"
ANNOTATED_IMAGE = "/aria_nav/annotated/image"
SPEECH_REQUEST = "/aria_nav/speech/request"
SPEECH_SPOKEN = "/aria_nav/speech/spoken"
# The RGB camera's tilt in the gravity-aligned wearer frame (geometry_msgs/TransformStamped); not on /tf, where the
# optical frame's parent is aria_device (/tf_static) and a frame has one parent.
WEARER_TILT = "/aria_nav/wearer/tilt"

# Scene description on request ("what is around me?").
DESCRIBE_SERVICE = "/aria_nav/describe"  # std_srvs/srv/Trigger
DESCRIBE_REQUEST = "/aria_nav/describe/request"  # std_msgs/Empty: a button, a phone app, a voice front end
DESCRIPTION = "/aria_nav/describe/description"  # std_msgs/String: the sentence said

DIAGNOSTICS = "/diagnostics"
TF_STATIC = "/tf_static"  # tf2_msgs/TFMessage, latched: the camera node's mounts (aria_nav.ros.static_tf)

# Frame ids (optical frames: x right, y down, z forward).
DEVICE_FRAME = "aria_device"
RGB_FRAME = "aria_rgb_optical"
SLAM_LEFT_FRAME = "aria_slam_left_optical"
SLAM_RIGHT_FRAME = "aria_slam_right_optical"
IMU_FRAME = "aria_imu"  # REP 103 axes of the device (x forward, y left, z up) at the IMU
ODOM_FRAME = "aria_odom"  # the Gen2 VIO's odometry frame (z up), parent of aria_device on /aria/odom
WEARER_FRAME = "aria_wearer"  # gravity-aligned (REP 103: x forward, y left, z up), origin at the RGB camera
