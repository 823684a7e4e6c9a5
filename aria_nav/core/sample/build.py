"""Writes the sample recording: a rosbag2 bag (MCAP) directory holding the rendered scene, plus ground_truth.json.

Files in the output folder (aria_nav/data/sample/ by default):
- metadata.yaml, sample.mcap: the bag. Per camera sensor_msgs/CompressedImage (JPEG) on `<image topic>/compressed`
  and sensor_msgs/CameraInfo on the info topic (aria_nav.topics), sensor_msgs/Imu on /aria/imu. Header stamps
  and bag times are device time (ns). `ros2 bag play` and the camera node's bag source both read it.
- ground_truth.json: see truth.py.
The output depends only on the scene script and the library versions, so building twice gives the same files.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable, List, Optional

import cv2
import numpy as np

from aria_nav import paths, topics
from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.sample import script
from aria_nav.core.sample.scene import CAMERA_NAMES, FRAME_IDS, SampleScene
from aria_nav.core.sample.truth import FrameTruth
from aria_nav.core.sources.bag import (CAMERA_INFO, COMPRESSED_IMAGE, COMPRESSED_SUFFIX, IMAGE_TOPICS, IMU_MSG,
                                       INFO_TOPICS)

BAG_NAME = "sample"  # the storage file is sample.mcap
TRUTH_FILE = "ground_truth.json"
JPEG_QUALITY = 75
COMPRESSED_FORMATS = {True: "rgb8; jpeg compressed bgr8", False: "mono8; jpeg compressed mono8"}


def truth_path(directory: Optional[Path] = None) -> Path:
    """ground_truth.json of the sample recording in `directory` (default: the packaged one)."""
    return Path(directory or paths.sample_dir()) / TRUTH_FILE


def encode_jpeg(image: np.ndarray) -> bytes:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()


class BagMessages:
    """CDR-serialised rosbags messages of the three types the recording holds (CompressedImage, CameraInfo, Imu)."""

    def __init__(self):
        from rosbags.typesys import Stores, get_typestore

        self.typestore = get_typestore(Stores.ROS2_KILTED)
        self._types = self.typestore.types

    def _header(self, stamp_ns: int, frame_id: str):
        time = self._types["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000,
                                                          nanosec=stamp_ns % 1_000_000_000)
        return self._types["std_msgs/msg/Header"](stamp=time, frame_id=frame_id)

    def compressed_image(self, stamp_ns: int, frame_id: str, image: np.ndarray) -> bytes:
        msg = self._types[COMPRESSED_IMAGE](header=self._header(stamp_ns, frame_id),
                                            format=COMPRESSED_FORMATS[image.ndim == 3],
                                            data=np.frombuffer(encode_jpeg(image), np.uint8))
        return self.typestore.serialize_cdr(msg, COMPRESSED_IMAGE)

    def camera_info(self, stamp_ns: int, frame_id: str, k: PinholeIntrinsics) -> bytes:
        roi = self._types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                              do_rectify=False)
        msg = self._types[CAMERA_INFO](
            header=self._header(stamp_ns, frame_id), height=k.height, width=k.width, distortion_model="plumb_bob",
            d=np.zeros(5), k=np.array([k.fx, 0, k.cx, 0, k.fy, k.cy, 0, 0, 1], float), r=np.eye(3).reshape(-1),
            p=np.array([k.fx, 0, k.cx, 0, 0, k.fy, k.cy, 0, 0, 0, 1, 0], float), binning_x=0, binning_y=0, roi=roi)
        return self.typestore.serialize_cdr(msg, CAMERA_INFO)

    def imu(self, stamp_ns: int, accel: np.ndarray, gyro: np.ndarray) -> bytes:
        vector = self._types["geometry_msgs/msg/Vector3"]
        no_orientation = np.zeros(9)
        no_orientation[0] = -1.0  # REP 145: orientation not provided
        msg = self._types[IMU_MSG](
            header=self._header(stamp_ns, topics.IMU_FRAME),
            orientation=self._types["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
            orientation_covariance=no_orientation,
            angular_velocity=vector(x=float(gyro[0]), y=float(gyro[1]), z=float(gyro[2])),
            angular_velocity_covariance=np.diag([script.IMU_GYRO_NOISE ** 2] * 3).reshape(-1),
            linear_acceleration=vector(x=float(accel[0]), y=float(accel[1]), z=float(accel[2])),
            linear_acceleration_covariance=np.diag([script.IMU_ACCEL_NOISE ** 2] * 3).reshape(-1))
        return self.typestore.serialize_cdr(msg, IMU_MSG)


def _write_bag(bag_dir: Path, scene: SampleScene, progress: Callable[[str], None]) -> List[FrameTruth]:
    """Writes the bag; returns each frame's ground truth, taken from the same renderings as the images."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    messages = BagMessages()
    imu = scene.imu()
    writer = Writer(bag_dir, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    try:
        image_connections, info_connections = {}, {}
        for camera in CAMERA_NAMES:
            info_connections[camera] = writer.add_connection(INFO_TOPICS[camera], CAMERA_INFO,
                                                             typestore=messages.typestore)
            image_connections[camera] = writer.add_connection(IMAGE_TOPICS[camera] + COMPRESSED_SUFFIX,
                                                              COMPRESSED_IMAGE, typestore=messages.typestore)
        imu_connection = writer.add_connection(topics.IMU, IMU_MSG, typestore=messages.typestore)
        next_imu = 0
        truth = []
        for index in range(scene.frame_count):
            stamp = int(scene.stamps_ns[index])
            end = scene.stamps_ns[index + 1] if index + 1 < scene.frame_count else np.iinfo(np.int64).max
            for camera in CAMERA_NAMES:
                image = scene.render_rgb(index) if camera == "rgb" else scene.render_slam(index, camera[5:])
                writer.write(info_connections[camera], stamp,
                             messages.camera_info(stamp, FRAME_IDS[camera], scene.intrinsics[camera]))
                writer.write(image_connections[camera], stamp,
                             messages.compressed_image(stamp, FRAME_IDS[camera], image))
            truth.append(scene.ground_truth(index))  # renderings of this frame are still cached
            while next_imu < len(imu) and imu.stamps_ns[next_imu] < end:
                imu_stamp = int(imu.stamps_ns[next_imu])
                writer.write(imu_connection, imu_stamp, messages.imu(imu_stamp, imu.linear_acceleration[next_imu],
                                                                     imu.angular_velocity[next_imu]))
                next_imu += 1
            if index % 10 == 9:
                progress(f"sample: {index + 1}/{scene.frame_count} frames written")
    finally:
        writer.close()
    return truth


def build(out_dir: Optional[Path] = None, progress: Callable[[str], None] = print) -> List[Path]:
    """Render the scene and write the recording into `out_dir` (default: the packaged sample folder), replacing
    the files it had. Returns the written files."""
    out_dir = Path(out_dir or paths.sample_dir())
    out_dir.mkdir(parents=True, exist_ok=True)
    scene = SampleScene()
    with tempfile.TemporaryDirectory(prefix="aria_nav_sample_") as tmp:
        bag_dir = Path(tmp) / BAG_NAME
        frames = _write_bag(bag_dir, scene, progress)
        (bag_dir / TRUTH_FILE).write_text(scene.ground_truth_file(frames).to_json())
        written = []
        for produced in sorted(bag_dir.iterdir()):
            target = out_dir / produced.name
            shutil.copyfile(produced, target)
            written.append(target)
    return written
