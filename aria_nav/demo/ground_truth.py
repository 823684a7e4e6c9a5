"""Ground-truth perception of the sample recording, published in place of the detector and depth nodes (the demo's
`--perception truth`): like a detector, it takes each camera's images and answers each with the objects the
recording's ground truth lists in that frame, on that camera's detections topic, with the image's header, score 1;
like a metric depth model, it answers each RGB image with the frame's exact depth (ray cast by the sample's
renderer, aria_nav.core.sample.depth_truth) and says on the depth mode topic that it is metric ground truth.

Frames are found from their stamps: the camera node stamps a realtime replay with host time = device time + a
constant it reports on /diagnostics (`stamp_minus_device_time_ns`), so the device time, and with it the frame of the
recording, is exact. Until that value arrives (its first diagnostics, within a second) frames wait.

PerceptionPublishers (those outputs on the nodes' own topics) also serves the hazard scene's player
(aria_nav.demo.hazard_scene_player).
"""
from __future__ import annotations

import json
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from std_msgs.msg import String
from vision_msgs.msg import Detection2DArray, LabelInfo

from aria_nav import topics
from aria_nav.core.detection.classes import COCO_NAMES
from aria_nav.core.detection.detections import Detections
from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.sample import GroundTruthFile, scaled_box
from aria_nav.core.sources.base import RGB, SLAM_LEFT, SLAM_RIGHT
from aria_nav.ros.conversions import array_to_image, intrinsics_to_camera_info
from aria_nav.ros.detections import class_names_to_msg, detections_to_msg
from aria_nav.ros.diagnostics import stamp_to_ns
from aria_nav.ros.qos import latched_qos, result_qos, sensor_qos
from aria_nav.replay.outputs import DETECTION_TOPICS

IMAGE_TOPICS = {RGB: topics.RGB_IMAGE, SLAM_LEFT: topics.SLAM_LEFT_IMAGE, SLAM_RIGHT: topics.SLAM_RIGHT_IMAGE}
MAX_WAITING = 100  # frames held until the stamp offset is known (10 s at 10 Hz)


class PerceptionPublishers:
    """The detector and depth nodes' outputs, published from the demo's process: detections with the COCO class
    names (latched) on each camera's detections topic, metric depth with its camera_info, and the depth mode that
    says the depth is metric ground truth (fusion speaks metres and runs its corridor model only then)."""

    def __init__(self, node: Node, cameras=tuple(DETECTION_TOPICS), depth: bool = True):
        self._detections = {camera: node.create_publisher(Detection2DArray, DETECTION_TOPICS[camera], result_qos())
                            for camera in cameras}
        self._names = [node.create_publisher(LabelInfo, DETECTION_TOPICS[camera] + topics.CLASS_NAMES_SUFFIX,
                                             latched_qos()) for camera in cameras]
        for publisher in self._names:
            publisher.publish(class_names_to_msg(COCO_NAMES, 0.0))  # ground truth: no threshold
        if depth:
            self._depth_pub = node.create_publisher(Image, topics.DEPTH_IMAGE, result_qos())
            self._depth_info_pub = node.create_publisher(CameraInfo, topics.DEPTH_INFO, result_qos())
            self._mode_pub = node.create_publisher(String, topics.DEPTH_MODE, latched_qos())
            self._mode_pub.publish(String(data=json.dumps({"mode": "metric", "model": "ground truth (ray cast)",
                                                           "scaling": "none", "provider": "none"})))

    def detections(self, camera: str, detections: Detections, header: Header) -> None:
        self._detections[camera].publish(detections_to_msg(detections, header))

    def depth(self, depth: np.ndarray, intrinsics: PinholeIntrinsics, header: Header) -> None:
        self._depth_info_pub.publish(intrinsics_to_camera_info(intrinsics, header))
        self._depth_pub.publish(array_to_image(depth, "32FC1", header))


class GroundTruthPerception:
    """Publishes on `node`; `offset_ns()` gives the camera's stamp - device time offset (None until known);
    `depth_frames`: the exact depth of every RGB frame (core.sample.depth_truth), None to leave depth to the depth
    node."""

    def __init__(self, node: Node, truth: GroundTruthFile, offset_ns: Callable[[], Optional[int]],
                 depth_frames: Optional[List[np.ndarray]] = None):
        self._truth = truth
        self._depth_frames = depth_frames
        self._offset_ns = offset_ns
        self._period_ns = round(1e9 / truth.frame_rate_hz)
        self._native = {name: (camera["width"], camera["height"]) for name, camera in truth.cameras.items()}
        self._waiting: List[Tuple[str, Header, Tuple[int, int]]] = []  # camera, image header, (width, height)
        self.published = 0
        self._outputs = PerceptionPublishers(node, depth=depth_frames is not None)
        if depth_frames is not None:
            rgb = truth.cameras[RGB]
            native = PinholeIntrinsics(rgb["width"], rgb["height"], rgb["fx"], rgb["fy"], rgb["cx"], rgb["cy"])
            height, width = depth_frames[0].shape
            self._depth_intrinsics = native.scaled(width, height)
        for camera, topic in IMAGE_TOPICS.items():
            node.create_subscription(Image, topic, lambda msg, c=camera: self._on_image(c, msg), sensor_qos(depth=10))
        node.create_timer(0.1, self._flush)

    def frame_index(self, stamp_ns: int, offset_ns: int) -> Optional[int]:
        """The recording's frame at this stamp, None outside the recording."""
        index = round((stamp_ns - offset_ns - self._truth.device_start_ns) / self._period_ns)
        return index if 0 <= index < len(self._truth.frames) else None

    def detections(self, camera: str, index: int, size: Tuple[int, int]) -> Detections:
        objects = self._truth.frames[index].in_camera(camera)
        boxes = np.array([scaled_box(o.box_xyxy, self._native[camera], size) for o in objects], np.float32)
        return Detections(boxes.reshape(-1, 4), np.ones(len(objects), np.float32), [o.class_id for o in objects])

    def _on_image(self, camera: str, msg: Image) -> None:
        self._waiting.append((camera, msg.header, (msg.width, msg.height)))
        del self._waiting[:-MAX_WAITING]
        self._flush()

    def _flush(self) -> None:
        offset = self._offset_ns()
        if offset is None:
            return
        for camera, header, size in self._waiting:
            index = self.frame_index(stamp_to_ns(header.stamp), offset)
            if index is None:
                continue
            self._outputs.detections(camera, self.detections(camera, index, size), header)
            self.published += 1
            if camera == RGB and self._depth_frames is not None:
                self._outputs.depth(self._depth_frames[index], self._depth_intrinsics, header)
        self._waiting.clear()


def camera_offset(diagnostics: Callable[[str], Dict[str, str]]) -> Callable[[], Optional[int]]:
    """The camera node's stamp - device time offset from its diagnostics (GraphSession.diagnostics)."""
    def offset() -> Optional[int]:
        value = diagnostics("camera").get("stamp_minus_device_time_ns")
        return int(value) if value not in (None, "None") else None
    return offset
