"""Publishes a recording's frames into the graph one at a time, as the camera node would publish them, for lock-step
replay.

The frames come from the camera node's own frame sources (aria_nav.core.sources: bag, VRS, video) and become the
camera node's messages through its own functions (CameraInfo, IMU), at the sizes the camera section of the params
file asks for; only the pacing differs: the caller decides when each item goes out. Stamps are the items' device
times (the camera node's `stamp_source: device`), so a replay's times do not depend on when it runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

import yaml
from rclpy.node import Node
from rclpy.publisher import Publisher
from sensor_msgs.msg import CameraInfo, Image, Imu
from std_msgs.msg import Header

from aria_nav import topics
from aria_nav.core.sources import IMU, Frame, ImuSample, resize_frame
from aria_nav.core.sources.base import RGB, SLAM_LEFT, SLAM_RIGHT, Item
from aria_nav.core.sources.imu_rate import ImuRate
from aria_nav.ros.camera_params import IMU_QUEUE, IMU_RATE, PARAMS as CAMERA_PARAMS, STREAM_TOPICS
from aria_nav.ros.conversions import camera_info, header_at, imu_message
from aria_nav.ros.conversions import array_to_image
from aria_nav.ros.qos import replay_qos

CAMERA_SIZE_PARAMETERS = ("rgb_width", "rgb_height", "slam_width", "slam_height")


def params_file_section(params_file: str, node: str) -> Dict[str, object]:
    """The `ros__parameters` of `node` in a params file (already checked to be YAML by the Runner)."""
    content = yaml.safe_load(Path(params_file).read_text()) or {}
    section = content.get(node) or {}
    return dict(section.get("ros__parameters") or {}) if isinstance(section, dict) else {}


def camera_settings(params_file: str, overrides: Mapping[str, object]) -> Dict[str, object]:
    """The camera node's parameters as it would run: its declared defaults, the params file, then overrides."""
    settings = {param.name: param.default for param in CAMERA_PARAMS}
    settings.update(params_file_section(params_file, "camera"))
    settings.update(overrides)
    for name in CAMERA_SIZE_PARAMETERS:
        if not isinstance(settings[name], int) or isinstance(settings[name], bool) or settings[name] < 0:
            raise ValueError(f"camera parameter '{name}': {settings[name]!r} is not a size in pixels (0: native)")
    rate = settings["imu_rate_hz"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not IMU_RATE.min <= rate <= IMU_RATE.max:
        raise ValueError(f"camera parameter 'imu_rate_hz': {rate!r} is not a rate of {IMU_RATE.min:g} to "
                         f"{IMU_RATE.max:g} Hz")
    return settings


def published_sizes(settings: Mapping[str, object]) -> Dict[str, Tuple[int, int]]:
    rgb = (int(settings["rgb_width"]), int(settings["rgb_height"]))
    slam = (int(settings["slam_width"]), int(settings["slam_height"]))
    return {RGB: rgb, SLAM_LEFT: slam, SLAM_RIGHT: slam}


class FramePublisher:
    """Reliable publishers (deep history) of the camera node's topics for `streams`; publish() sends one item."""

    def __init__(self, node: Node, streams: List[str], sizes: Mapping[str, Tuple[int, int]], imu_rate_hz: float):
        self._sizes = sizes
        self._imu_rate = ImuRate(imu_rate_hz)
        self._images: Dict[str, Tuple[Publisher, Publisher]] = {}
        self._imu = None
        for stream in streams:
            if stream == IMU:
                self._imu = node.create_publisher(Imu, topics.IMU, replay_qos(IMU_QUEUE))
            else:
                image_topic, info_topic, _ = STREAM_TOPICS[stream]
                self._images[stream] = (node.create_publisher(Image, image_topic, replay_qos()),
                                        node.create_publisher(CameraInfo, info_topic, replay_qos()))

    @property
    def publishers(self) -> List[Publisher]:
        return [p for pair in self._images.values() for p in pair] + ([self._imu] if self._imu else [])

    def prepare(self, item: Item) -> Item:
        """The item as the camera node publishes it (frames resized, calibration scaled)."""
        return resize_frame(item, *self._sizes[item.stream]) if isinstance(item, Frame) else item

    def publish(self, item: Item) -> Optional[Header]:
        """Publishes a prepared item stamped with its device time; returns the header it got (None: an IMU sample
        kept for the mean that goes out at the camera's imu_rate_hz)."""
        if isinstance(item, ImuSample):
            averaged = self._imu_rate.add(item, item.device_ns)
            if averaged is None:
                return None
            header = header_at(averaged[1], topics.IMU_FRAME)
            self._imu.publish(imu_message(averaged[0], header))
            return header
        header = header_at(item.device_ns, STREAM_TOPICS[item.stream][2])
        self.publish_info(item, header)
        self._images[item.stream][0].publish(array_to_image(item.image, item.encoding, header))
        return header

    def publish_info(self, frame: Frame, header: Optional[Header] = None) -> None:
        """The frame's CameraInfo alone: the graph keeps intrinsics, so announcing them early changes no output."""
        header = header or header_at(frame.device_ns, STREAM_TOPICS[frame.stream][2])
        self._images[frame.stream][1].publish(camera_info(frame.calibration, header))
