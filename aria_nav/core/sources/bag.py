"""rosbag2 bags (MCAP or sqlite3, read with `rosbags`, no ROS installation needed) as a frame source.

The bag must hold the camera node's topics (aria_nav.topics): per camera either sensor_msgs/Image on the image
topic or sensor_msgs/CompressedImage on `<image topic>/compressed` (JPEG or PNG, as image_transport writes it),
sensor_msgs/CameraInfo on the info topic, and sensor_msgs/Imu on the IMU topic. Images are taken to be
undistorted (only K of the CameraInfo is used). A frame's device time is its header stamp (the bag's receive
time where the stamp is zero). The project's sample recording is such a bag.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

import cv2
import numpy as np

from aria_nav import topics
from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.sources.base import (ALL_STREAMS, CAMERA_STREAMS, IMU, RGB, Calibration, Frame, FrameSource,
                                        ImuSample, Item, SourceError)

COMPRESSED_SUFFIX = "/compressed"
IMAGE_TOPICS = {RGB: topics.RGB_IMAGE, "slam_left": topics.SLAM_LEFT_IMAGE, "slam_right": topics.SLAM_RIGHT_IMAGE}
INFO_TOPICS = {RGB: topics.RGB_INFO, "slam_left": topics.SLAM_LEFT_INFO, "slam_right": topics.SLAM_RIGHT_INFO}
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
IMU_MSG = "sensor_msgs/msg/Imu"
_RAW_LAYOUTS = {"rgb8": (3, None), "bgr8": (3, cv2.COLOR_BGR2RGB), "rgba8": (4, cv2.COLOR_RGBA2RGB),
                "bgra8": (4, cv2.COLOR_BGRA2RGB), "mono8": (1, None)}


def stamp_ns(header, fallback_ns: int) -> int:
    value = int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
    return value or fallback_ns


def intrinsics_from_camera_info(msg) -> Optional[PinholeIntrinsics]:
    """K of a (rosbags) CameraInfo as intrinsics, or None when it has none."""
    k = [float(v) for v in msg.k]
    if msg.width == 0 or msg.height == 0 or k[0] <= 0 or k[4] <= 0:
        return None
    return PinholeIntrinsics(int(msg.width), int(msg.height), k[0], k[4], k[2], k[5])


def to_stream_layout(stream: str, image: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) for the RGB stream, grey (H, W) for the SLAM streams, whatever the image came as."""
    colour = stream == RGB
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if colour else image
    return image if colour else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def decode_image_message(msg, msgtype: str, where: str) -> np.ndarray:
    """The image of a rosbags Image or CompressedImage message, RGB or grey; SourceError if unreadable."""
    if msgtype == COMPRESSED_IMAGE:
        image = cv2.imdecode(np.asarray(msg.data, np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None or image.dtype != np.uint8:
            raise SourceError(where, f"compressed image (format '{msg.format}') cannot be decoded as 8-bit")
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
        return image
    if msg.encoding not in _RAW_LAYOUTS:
        raise SourceError(where, f"image encoding '{msg.encoding}' is not supported ({', '.join(_RAW_LAYOUTS)})")
    channels, conversion = _RAW_LAYOUTS[msg.encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.asarray(msg.data, np.uint8)
    if step < width * channels or data.size != step * height:
        raise SourceError(where, f"image {width}x{height} '{msg.encoding}' has {data.size} bytes with step {step}")
    image = data.reshape(height, step)[:, :width * channels].reshape((height, width, channels) if channels > 1
                                                                     else (height, width))
    return cv2.cvtColor(image, conversion) if conversion is not None else image


class BagSource(FrameSource):
    provides = ALL_STREAMS

    def __init__(self, path: Union[str, Path], streams=ALL_STREAMS):
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore

        path = Path(path).expanduser()
        self.description = f"bag {path}"
        if not path.exists():
            raise SourceError(path, "bag does not exist")
        if path.is_file():  # the storage file inside a bag directory
            if not (path.parent / "metadata.yaml").exists():
                raise SourceError(path, "is not a rosbag2 bag (give the bag directory, which holds metadata.yaml)")
            path = path.parent
        elif not (path / "metadata.yaml").exists():
            raise SourceError(path, "is not a rosbag2 bag directory (no metadata.yaml)")
        self.path = path
        self._reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_KILTED))
        try:
            self._reader.open()
        except Exception as exc:  # noqa: BLE001 - rosbags raises several types for unreadable bags
            raise SourceError(path, f"cannot read the bag: {exc}") from None
        by_topic = {c.topic: c for c in self._reader.connections}
        self._image_connections: Dict[str, object] = {}
        self._info_connections: Dict[str, object] = {}
        for stream in CAMERA_STREAMS:
            for topic, msgtype in ((IMAGE_TOPICS[stream], IMAGE),
                                   (IMAGE_TOPICS[stream] + COMPRESSED_SUFFIX, COMPRESSED_IMAGE)):
                if topic in by_topic and by_topic[topic].msgtype == msgtype:
                    self._image_connections[stream] = by_topic[topic]
            if INFO_TOPICS[stream] in by_topic and by_topic[INFO_TOPICS[stream]].msgtype == CAMERA_INFO:
                self._info_connections[stream] = by_topic[INFO_TOPICS[stream]]
        imu = by_topic.get(topics.IMU)
        self._imu_connection = imu if imu is not None and imu.msgtype == IMU_MSG else None
        self.provides = tuple(s for s in CAMERA_STREAMS if s in self._image_connections) + \
            ((IMU,) if self._imu_connection is not None else ())
        if not self.provides:
            found = ", ".join(f"{c.topic} ({c.msgtype})" for c in self._reader.connections) or "no topics"
            raise SourceError(path, f"holds none of the camera node's topics ({topics.RGB_IMAGE}[/compressed], "
                                    f"{topics.SLAM_LEFT_IMAGE}[/compressed], ..., {topics.IMU}); it has: {found}")
        super().__init__(streams)
        self._first_intrinsics = self._first_camera_infos()

    def _first_camera_infos(self) -> Dict[str, PinholeIntrinsics]:
        """The first usable CameraInfo of each wanted camera stream (an image may be logged before its info)."""
        found: Dict[str, PinholeIntrinsics] = {}
        wanted = [self._info_connections[s] for s in self.streams if s in self._info_connections]
        stream_of = {c.topic: s for s, c in self._info_connections.items()}
        for connection, _, raw in self._read(wanted) if wanted else ():  # rosbags reads all topics given none
            stream = stream_of[connection.topic]
            if stream not in found:
                intrinsics = intrinsics_from_camera_info(self._reader.deserialize(raw, connection.msgtype))
                if intrinsics is not None:
                    found[stream] = intrinsics
            if len(found) == len(wanted):
                break
        missing = [s for s in self.streams if s in CAMERA_STREAMS and s not in found]
        if missing:
            raise SourceError(self.path, "no usable camera_info for " +
                              ", ".join(f"{s} (topic {INFO_TOPICS[s]})" for s in missing))
        return found

    def _read(self, connections: List[object]) -> Iterator[Tuple[object, int, bytes]]:
        try:
            yield from self._reader.messages(connections=connections)
        except SourceError:
            raise
        except Exception as exc:  # noqa: BLE001 - a truncated or corrupt storage file
            raise SourceError(self.path, f"cannot read the bag's messages: {exc}") from None

    def items(self) -> Iterator[Item]:
        stream_of = {}
        for stream in self.streams:
            if stream == IMU:
                stream_of[self._imu_connection.topic] = (IMU, "imu")
            else:
                stream_of[self._image_connections[stream].topic] = (stream, "image")
                if stream in self._info_connections:
                    stream_of[self._info_connections[stream].topic] = (stream, "info")
        intrinsics = dict(self._first_intrinsics)
        connections = [c for c in self._reader.connections if c.topic in stream_of]
        for connection, log_ns, raw in self._read(connections):
            stream, kind = stream_of[connection.topic]
            msg = self._reader.deserialize(raw, connection.msgtype)
            if kind == "info":
                intrinsics[stream] = intrinsics_from_camera_info(msg) or intrinsics[stream]
            elif kind == "imu":
                yield ImuSample(stamp_ns(msg.header, log_ns),
                                (msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z),
                                (msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z))
            else:
                where = f"{self.path} topic {connection.topic}"
                image = to_stream_layout(stream, decode_image_message(msg, connection.msgtype, where))
                calibration = Calibration(intrinsics[stream])
                if (calibration.intrinsics.width, calibration.intrinsics.height) != image.shape[1::-1]:
                    calibration = calibration.scaled(image.shape[1], image.shape[0])
                yield Frame(stream, stamp_ns(msg.header, log_ns), image, calibration)

    def close(self) -> None:
        self._reader.close()
