"""Static transforms of the Aria cameras and IMU relative to the device frame, on /tf_static, so rviz (fixed frame
aria_device) and any tf2 user can place the images, depth points and obstacle markers.

Frames: `aria_device` follows REP 103 (x forward, y left, z up) with its origin at the glasses' central pupil frame
(between the eyes); each camera frame is the optical frame (x right, y down, z forward) of the image as the camera node
publishes it, i.e. upright; `aria_imu` has the device's axes at the IMU's position (the camera node turns the IMU
samples into them).

Where the mounts come from, by camera source:
  - sample (and a bag that is the sample): the recording's script (ground_truth.json: yaw, pitch, offset per camera);
  - vrs: the recording's factory calibration (projectaria-tools T_CPF_sensor, Gen1 or Gen2), with the quarter
    turns that make the images upright (Gen1: one, Gen2: none);
  - anything else (video, webcam, other bags, live glasses): the RGB camera at the device origin looking forward,
    since no calibration is known here.
Published as tf2's static broadcaster does (one tf2_msgs/TFMessage, reliable, transient local, depth 1), so a
subscriber that joins later still gets every mount; only tf2_msgs is needed (a ROS distribution has it, set-up builds
it on the PyPI path), not tf2_ros. The mounts themselves need no ROS (camera_mounts()).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from aria_nav import paths, topics
from aria_nav.ros.qos import latched_qos
from aria_nav.core.wearer_frame import DEVICE_FROM_OPTICAL, rotation_to_quaternion


@dataclass(frozen=True)
class Mount:
    """Where frame `child` is in the device frame: x_device = rotation @ x_child + translation."""

    child: str
    rotation: np.ndarray  # 3x3
    translation: Tuple[float, float, float]  # metres

    def quaternion_xyzw(self) -> Tuple[float, float, float, float]:
        return rotation_to_quaternion(self.rotation)


def _yaw_pitch(yaw_right_deg: float, pitch_down_deg: float) -> np.ndarray:
    """Device-from-optical rotation of a camera turned yaw_right_deg to the right and pitch_down_deg down."""
    yaw, pitch = math.radians(-yaw_right_deg), math.radians(pitch_down_deg)  # right is negative about +z
    rz = np.array([[math.cos(yaw), -math.sin(yaw), 0.0], [math.sin(yaw), math.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[math.cos(pitch), 0.0, math.sin(pitch)], [0.0, 1.0, 0.0],
                   [-math.sin(pitch), 0.0, math.cos(pitch)]])  # positive about +y (left) tips forward down
    return rz @ ry @ DEVICE_FROM_OPTICAL


def sample_mounts() -> List[Mount]:
    """The sample recording's cameras (its script's yaw, pitch and offsets) and IMU (in the head frame itself)."""
    from aria_nav.core.sample import GroundTruthFile
    from aria_nav.core.sample.build import truth_path

    cameras = GroundTruthFile.load(truth_path()).cameras
    mounts = [Mount(c["frame_id"], _yaw_pitch(c["yaw_right_deg"], c["pitch_down_deg"]),
                    tuple(float(v) for v in c["offset_in_head_m"])) for c in cameras.values()]
    return mounts + [Mount(topics.IMU_FRAME, np.eye(3), (0.0, 0.0, 0.0))]


def vrs_mounts(path: str, slam_pair: str = "side") -> List[Mount]:
    """The cameras (all four SLAM cameras on Gen2) and the IMU of a VRS recording's factory calibration: upright
    optical frames, and aria_imu with the device's axes at the IMU (core.sources.vrs)."""
    from projectaria_tools.core import data_provider

    from aria_nav.core.sources.base import IMU, native_output
    from aria_nav.core.sources.vrs import (device_from_sensor, recording_generation, stream_labels,
                                           turned_extrinsics, upright_turns)

    with native_output([]):  # projectaria's own log lines
        try:
            provider = data_provider.create_vrs_data_provider(str(path))
        except Exception:  # noqa: BLE001 - a cut file: the camera node reports it
            provider = None
        calibration = provider.get_device_calibration() if provider is not None else None
    if calibration is None:
        return []
    mounts = []
    for stream, label in stream_labels(recording_generation(provider), slam_pair).items():
        if label not in calibration.get_all_labels():
            continue
        device_from = device_from_sensor(calibration, label)
        if stream == IMU:
            mounts.append(Mount(topics.IMU_FRAME, np.eye(3), tuple(float(v) for v in device_from[:3, 3])))
            continue
        device_from = turned_extrinsics(device_from, upright_turns(calibration, label))
        mounts.append(Mount(topics.camera_frame(stream), device_from[:3, :3],
                            tuple(float(v) for v in device_from[:3, 3])))
    return mounts


def peripheral_yaw_deg(mounts: List[Mount]) -> Optional[float]:
    """The mean horizontal angle between the RGB camera's optical axis and each SLAM camera's (fusion's
    `peripheral_yaw_deg`), from mounts that have all three; None otherwise. Gen1: ~38, Gen2's side pair: ~84."""
    axes = {m.child: m.rotation[:, 2] for m in mounts}  # optical z in aria_device
    if not {topics.RGB_FRAME, topics.SLAM_LEFT_FRAME, topics.SLAM_RIGHT_FRAME} <= set(axes):
        return None
    yaw = {frame: math.degrees(math.atan2(axis[1], axis[0])) for frame, axis in axes.items()}
    return (abs(yaw[topics.SLAM_LEFT_FRAME] - yaw[topics.RGB_FRAME]) +
            abs(yaw[topics.SLAM_RIGHT_FRAME] - yaw[topics.RGB_FRAME])) / 2.0


def camera_mounts(source: str, path: str, slam_pair: str = "side") -> Tuple[List[Mount], str]:
    """The mounts for the camera node's `source` and `path`, and where they come from (for the log)."""
    is_sample = source == "sample" or (source == "bag" and (not path or Path(path).resolve() == paths.sample_dir()))
    if is_sample:
        return sample_mounts(), "the sample recording's script"
    if source == "vrs":
        mounts = vrs_mounts(path, slam_pair)
        if mounts:
            return mounts, f"the factory calibration in {path}"
    return [Mount(topics.RGB_FRAME, DEVICE_FROM_OPTICAL, (0.0, 0.0, 0.0))], \
        "no calibration for this source: the RGB camera at the device origin, looking forward"


def transform_message(mount: Mount, stamp, parent: str = topics.DEVICE_FRAME):
    """geometry_msgs/TransformStamped of a mount (parent = the device frame)."""
    from geometry_msgs.msg import TransformStamped

    msg = TransformStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = parent
    msg.child_frame_id = mount.child
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = mount.translation
    q = msg.transform.rotation
    q.x, q.y, q.z, q.w = mount.quaternion_xyzw()
    return msg


def static_transforms_message(mounts: List[Mount], stamp):
    """tf2_msgs/TFMessage of `mounts`, each a transform from the device frame."""
    from tf2_msgs.msg import TFMessage

    return TFMessage(transforms=[transform_message(m, stamp) for m in mounts])


def publish_camera_transforms(node, source: str, path: str, slam_pair: str = "side") -> Optional[object]:
    """Publishes the mounts on /tf_static through `node` and returns the publisher (keep it alive: it holds the
    latched message); None, after one log line, where tf2_msgs is not installed."""
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:
        node.get_logger().warning("tf2_msgs is not installed (run tools/setup.sh, or install ros-<distro>-tf2-msgs): "
                                  "the cameras' static transforms are not published; rviz needs them (docs/rviz.md)")
        return None
    mounts, origin = camera_mounts(source, path, slam_pair)
    publisher = node.create_publisher(TFMessage, topics.TF_STATIC, latched_qos())  # as tf2's static broadcaster
    publisher.publish(static_transforms_message(mounts, node.get_clock().now().to_msg()))
    node.get_logger().info(f"static transforms {topics.DEVICE_FRAME} -> {', '.join(m.child for m in mounts)} "
                           f"from {origin}")
    return publisher
