"""Collects what the graph answers to replayed frames: detections of each camera, depth images, obstacles and speech
requests, keyed by the source stamp they carry. Subscriptions are reliable with deep queues (the nodes publish
reliably under process_every_frame), and callbacks only decode and store, so nothing is lost or reordered.
"""
from __future__ import annotations

import threading
import time
from typing import Dict, Iterable, List, Set, Tuple

import numpy as np
from aria_nav_msgs.msg import ObstacleArray
from aria_nav_msgs.msg import SpeechRequest as SpeechRequestMsg
from rclpy.node import Node
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray, LabelInfo

from aria_nav import topics
from aria_nav.core.detection.detections import Detections
from aria_nav.core.replay import DepthStats, DetectionRecord, ObstacleRecord, detection_records
from aria_nav.core.sources.base import RGB, SLAM_LEFT, SLAM_RIGHT
from aria_nav.core.speech.request import URGENCIES, SpeechRequest, SpeechRequestError
from aria_nav.ros.conversions import ImageFormatError, image_to_array
from aria_nav.ros.detections import DetectionFormatError, msg_to_class_names, msg_to_detections
from aria_nav.ros.diagnostics import stamp_to_ns
from aria_nav.ros.obstacles import ObstacleFormatError, band_name, direction_name, msg_to_records
from aria_nav.ros.qos import latched_qos, reliable_qos, replay_qos
from aria_nav.ros.speech_msgs import msg_to_request

DETECTION_TOPICS = {RGB: topics.DETECTIONS, SLAM_LEFT: topics.SLAM_LEFT_DETECTIONS,
                    SLAM_RIGHT: topics.SLAM_RIGHT_DETECTIONS}
DETECTIONS, DEPTH, OBSTACLES = "detections", "depth", "obstacles"
Key = Tuple[str, str, int]  # (output kind, camera, source stamp ns)


class OutputCollector:
    """Subscribes, on `node`, to the outputs of the detectors of `cameras`, depth, fusion and its requests."""

    def __init__(self, node: Node, cameras: Iterable[str]):
        self.cameras = list(cameras)
        self._condition = threading.Condition()
        self._detections: Dict[Tuple[str, int], Detections] = {}
        self._depth: Dict[int, DepthStats] = {}
        self._obstacles: Dict[Tuple[str, int], np.ndarray] = {}  # records of aria_nav.ros.obstacles
        self.requests: List[SpeechRequest] = []  # in arrival order
        self.class_names: Dict[str, List[str]] = {}
        self.errors: List[str] = []  # outputs that could not be decoded
        self._arrived: Set[Key] = set()
        self.subscriptions = []
        for camera in self.cameras:
            topic = DETECTION_TOPICS[camera]
            self.subscriptions.append(node.create_subscription(
                Detection2DArray, topic, lambda msg, c=camera: self._on_detections(c, msg), replay_qos()))
            node.create_subscription(LabelInfo, topic + topics.CLASS_NAMES_SUFFIX,
                                     lambda msg, c=camera: self._on_class_names(c, msg), latched_qos())
        self.subscriptions += [
            node.create_subscription(Image, topics.DEPTH_IMAGE, self._on_depth, replay_qos()),
            node.create_subscription(ObstacleArray, topics.OBSTACLES, self._on_obstacles, replay_qos()),
            node.create_subscription(SpeechRequestMsg, topics.SPEECH_REQUEST, self._on_request, reliable_qos(100))]

    # -- callbacks (executor thread) ----------------------------------------------------------------------------
    def _store(self, key: Key, table: dict, table_key, value) -> None:
        with self._condition:
            table[table_key] = value
            self._arrived.add(key)
            self._condition.notify_all()

    def _error(self, message: str) -> None:
        with self._condition:
            self.errors.append(message)
            self._condition.notify_all()

    def _on_class_names(self, camera: str, msg: LabelInfo) -> None:
        try:
            names = msg_to_class_names(msg)
        except DetectionFormatError as exc:
            self._error(f"class names of {camera}: {exc}")
            return
        with self._condition:
            self.class_names[camera] = names
            self._condition.notify_all()

    def _on_detections(self, camera: str, msg: Detection2DArray) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        try:
            detections = msg_to_detections(msg)
        except DetectionFormatError as exc:
            self._error(f"{DETECTION_TOPICS[camera]}: {exc}")
            return
        self._store((DETECTIONS, camera, stamp), self._detections, (camera, stamp), detections)

    def _on_depth(self, msg: Image) -> None:
        try:
            stats = DepthStats.of(image_to_array(msg))
        except ImageFormatError as exc:
            self._error(f"{topics.DEPTH_IMAGE}: {exc}")
            return
        stamp = stamp_to_ns(msg.header.stamp)
        self._store((DEPTH, RGB, stamp), self._depth, stamp, stats)

    def _on_obstacles(self, msg: ObstacleArray) -> None:
        try:
            records = msg_to_records(msg).copy()
        except ObstacleFormatError as exc:
            self._error(f"{topics.OBSTACLES}: {exc}")
            return
        camera = {topics.RGB_FRAME: RGB, topics.SLAM_LEFT_FRAME: SLAM_LEFT,
                  topics.SLAM_RIGHT_FRAME: SLAM_RIGHT}.get(msg.header.frame_id)
        if camera is None:
            self._error(f"{topics.OBSTACLES}: frame id '{msg.header.frame_id}' is none of the cameras'")
            return
        stamp = stamp_to_ns(msg.header.stamp)
        self._store((OBSTACLES, camera, stamp), self._obstacles, (camera, stamp), records)

    def _on_request(self, msg: SpeechRequestMsg) -> None:
        try:
            request = msg_to_request(msg)
        except SpeechRequestError as exc:
            self._error(f"{topics.SPEECH_REQUEST}: {exc}")
            return
        with self._condition:
            self.requests.append(request)

    # -- caller side --------------------------------------------------------------------------------------------
    def wait_for(self, keys: Iterable[Key], timeout_s: float) -> List[Key]:
        """Blocks until every key has arrived (or `timeout_s`, or an undecodable output); returns the missing."""
        keys = list(keys)
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while True:
                missing = [key for key in keys if key not in self._arrived]
                remaining = deadline - time.monotonic()
                if not missing or remaining <= 0 or self.errors:
                    return missing
                self._condition.wait(remaining)

    def has_class_names(self) -> bool:
        with self._condition:
            return all(camera in self.class_names for camera in self.cameras)

    def detections_of(self, camera: str, stamp: int) -> List[DetectionRecord]:
        detections = self._detections[(camera, stamp)]
        return detection_records(detections.boxes, detections.scores, detections.class_ids,
                                 self.class_names.get(camera, []))

    def depth_of(self, stamp: int) -> DepthStats:
        return self._depth[stamp]

    def obstacles_of(self, camera: str, stamp: int) -> List[ObstacleRecord]:
        names = self.class_names.get(camera, [])
        records = []
        for row in self._obstacles[(camera, stamp)]:
            class_id = int(row["class_id"])
            distance = float(row["distance_m"])
            records.append(ObstacleRecord(
                class_name=names[class_id] if 0 <= class_id < len(names) else f"class {class_id}",
                box=tuple(round(float(row[name]), 2) for name in ("x1", "y1", "x2", "y2")),
                distance_m=round(distance, 4) if np.isfinite(distance) else None,
                bearing_deg=round(float(row["bearing_deg"]), 3), band=band_name(int(row["band"])),
                direction=direction_name(int(row["direction"])), urgency=URGENCIES[int(row["urgency"])],
                priority=round(float(row["priority"]), 4)))
        return records
