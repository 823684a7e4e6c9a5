"""What the camera node offers the graph, apart from the node itself: its parameter table, its topics and frame id
per stream, the IMU queue depth and the start-up warning about missing streams. The replay feed publishes as the
camera node would and the demo reads its warning, without importing the node."""
from __future__ import annotations

from typing import Optional

from aria_nav import topics
from aria_nav.core.sources import SOURCE_KINDS
from aria_nav.core.sources.base import EXTRA_CAMERA_STREAMS, IMU, RGB, SLAM_LEFT, SLAM_PAIRS, SLAM_RIGHT
from aria_nav.core.sources.pacing import PACING_MODES, STAMP_SOURCES
from aria_nav.ros.params import Param

MAX_SIZE = 4096
IMU_QUEUE = 200  # IMU samples held for a slow subscriber (0.2 s at 1 kHz)


def _size_check(value: int) -> Optional[str]:
    return None if value == 0 or 16 <= value <= MAX_SIZE else f"{value} is not 0 (native) or 16..{MAX_SIZE}"


# Each IMU message is a callback in every subscriber: 200 a second is plenty for gravity and walking/standing.
IMU_RATE = Param("imu_rate_hz", 200.0, "IMU messages per second, each the mean of the samples measured in its "
                                       "period (Aria measures at 800-1000 Hz; 0 = every sample as measured)",
                 min=0.0, max=1000.0)

PARAMS = [
    Param("source", "sample", "where frames come from: sample (the packaged recording), vrs (Aria VRS file), "
                              "video (file), webcam, bag (rosbag2 directory), live (Aria glasses, client SDK)",
          choices=SOURCE_KINDS),
    Param("path", "", "the file or bag directory to read (sample: must be empty; bag: empty = the packaged "
                      "sample), the webcam index or device path (empty = 0), or the glasses' IP address for "
                      "live Wi-Fi streaming (empty = USB)"),
    Param("pacing", "realtime", "recordings: realtime (the recording's own timing), fixed (lead camera frames "
                                "at rate_hz) or fast (as fast as possible); live sources ignore it",
          choices=PACING_MODES),
    Param("rate_hz", 10.0, "frame rate of fixed pacing (Hz)", min=0.1, max=1000.0),
    Param("loop", False, "restart a recording at its end; device time keeps increasing across loops"),
    Param("max_duration_s", 0.0, "recordings: end the input after this many seconds of the recording "
                                 "(0 = play it to its end)", min=0.0, max=1e6),
    Param("exit_at_end", False, "exit with code 0 at the end of a recording that is not looped, instead of "
                                "staying up idle"),
    Param("rgb_width", 704, "published RGB width in pixels, 0 = from rgb_height and the camera's aspect (both 0: "
                            "native, 1408x1408 for Gen1, 2016x1512 for Gen2); 704 halves Gen1's image exactly, "
                            "still above the detector (640) and depth (518) inputs", check=_size_check),
    Param("rgb_height", 0, "published RGB height in pixels, 0 = from rgb_width and the camera's aspect (Gen1 704, "
                           "Gen2 528); another aspect is a centred crop, pixels stay square", check=_size_check),
    Param("slam_width", 0, "published SLAM camera width in pixels, 0 = from the aspect (both 0: native)",
          check=_size_check),
    Param("slam_height", 0, "published SLAM camera height in pixels, 0 = from the aspect", check=_size_check),
    Param("slam_pair", "side", "Aria Gen2 (four SLAM cameras): the pair published as slam_left/slam_right and read "
                               "by the SLAM detectors: side (the peripheral views) or front; the other pair is "
                               "published as /aria/slam_<pair>_left|right", choices=SLAM_PAIRS),
    Param("publish_other_slam_pair", True, "Aria Gen2: also publish the SLAM pair not chosen by slam_pair"),
    Param("publish_odom", True, "Aria Gen2 recordings: publish the on-device VIO's device poses as "
                                "nav_msgs/Odometry on /aria/odom (frame aria_odom -> aria_device)"),
    Param("odom_rate_hz", 100.0, "most /aria/odom messages per second (Gen2 VIO runs at 800 Hz)", min=1.0,
          max=1000.0),
    Param("undistort", True, "Aria sources (vrs, live): undistort the fisheye images to a linear pinhole camera "
                             "(false: raw fisheye, CameraInfo distortion_model fisheye624)"),
    Param("publish_rgb", True, "publish the RGB camera"),
    Param("publish_slam", True, "publish the SLAM cameras (Gen1: two; Gen2: four, see slam_pair)"),
    Param("publish_imu", True, "publish the IMU (sensor_msgs/Imu, frame aria_imu: x forward, y left, z up)"),
    IMU_RATE,
    Param("stamp_source", "host", "header.stamp: host (capture time on the host clock: latency = now - stamp) or "
                                  "device (the recording's device time)", choices=STAMP_SOURCES),
    Param("process_every_frame", False, "deterministic replay: reliable QoS so no subscriber misses a frame"),
    Param("video_hfov_deg", 70.0, "video/webcam: horizontal field of view assumed for the CameraInfo (degrees)",
          min=10.0, max=170.0),
    Param("live_interface", "usb", "live glasses: streaming interface", choices=("usb", "wifi")),
    Param("live_profile", "profile18", "live glasses: streaming profile name (see docs/camera.md)"),
]

STREAM_TOPICS = {RGB: (topics.RGB_IMAGE, topics.RGB_INFO, topics.RGB_FRAME),
                 SLAM_LEFT: (topics.SLAM_LEFT_IMAGE, topics.SLAM_LEFT_INFO, topics.SLAM_LEFT_FRAME),
                 SLAM_RIGHT: (topics.SLAM_RIGHT_IMAGE, topics.SLAM_RIGHT_INFO, topics.SLAM_RIGHT_FRAME)}
STREAM_TOPICS.update({stream: (topics.camera_image_topic(stream), topics.camera_info_topic(stream),
                               topics.camera_frame(stream)) for stream in EXTRA_CAMERA_STREAMS})
# What the rest of the graph reads: a requested stream of these that the source lacks is a start-up warning.
MISSING_INPUT = "they get no input"  # ends the start-up warning about missing streams (the demo quotes it)
GRAPH_INPUTS = {RGB: "the detector, depth and fusion", SLAM_LEFT: "slam_detector_left",
                SLAM_RIGHT: "slam_detector_right", IMU: "fusion's motion state"}
