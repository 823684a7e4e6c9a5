"""Fusion node: detections + depth + IMU -> tracked obstacles with distance, direction and priority, and the
speech requests the guidance policy decides on (docs/guidance.md).

Subscribes: detections (RGB, vision_msgs/Detection2DArray) with their class names (LabelInfo), depth image, RGB
camera_info, the two SLAM cameras' detections and camera_info (peripheral obstacles), IMU (walking/standing, and the
camera's tilt), device odometry (Aria Gen2's VIO on /aria/odom: walking/standing from the wearer's speed, preferred
to the IMU while it flows), RGB image (annotated view only).
Publishes: obstacles (aria_nav_msgs/ObstacleArray, aria_nav.ros.obstacles), markers, annotated image, speech
requests (aria_nav_msgs/SpeechRequest, reliable), the RGB camera's tilt in the gravity-aligned wearer frame
(TransformStamped, one per fused RGB frame, aria_nav.core.wearer_frame), /diagnostics.
Each callback decodes its message, makes one call into core.fusion.session.FusionSession (which holds every
decision: pairing, health, the pipeline, what is said) and publishes the Step it returns (docs/design.md "How data
flows through fusion"). All message work runs on the executor thread (it is light: a few percentiles per frame);
only drawing the annotated image runs on a worker.
"""
from __future__ import annotations

import dataclasses
import json
import time
from typing import Dict, Optional

from aria_nav_msgs.msg import ObstacleArray
from aria_nav_msgs.msg import SpeechRequest as SpeechRequestMsg
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TransformStamped
from nav_msgs.msg import Odometry
from rclpy.subscription import MessageInfo
from sensor_msgs.msg import CameraInfo, Image, Imu
from std_msgs.msg import Header, String
from vision_msgs.msg import Detection2DArray, LabelInfo
from visualization_msgs.msg import MarkerArray

from aria_nav import topics
from aria_nav.core.detection.detections import Detections
from aria_nav.core.fusion.annotate import annotate
from aria_nav.core.fusion.obstacle import RGB, SLAM_LEFT, SLAM_RIGHT
from aria_nav.core.fusion.pipeline import FrameResult
from aria_nav.core.fusion.session import ERROR, OK, WARN, WARNING_LINE, FusedFrame, FusionSession, SessionConfig, Step
from aria_nav.core.latest import LatestWorker
from aria_nav.core.speech.request import SpeechRequest
from aria_nav.ros import diagnostics
from aria_nav.ros.conversions import (ImageFormatError, array_to_image, camera_info_to_intrinsics, image_to_array,
                                      image_to_rgb)
from aria_nav.ros.depth_mode import msg_to_distance_kind
from aria_nav.ros.detections import DetectionFormatError, msg_to_class_names, msg_to_detections
from aria_nav.ros.diagnostics import INPUT_LOG_PERIOD_S, NodeDiagnostics, stamp_to_ns
from aria_nav.ros.fusion_params import GEN1_PERIPHERAL_YAW_DEG, PARAMS, fusion_config, source_calibration, vision_health
from aria_nav.ros.obstacles import corridor_markers, obstacle_markers, obstacles_to_msg
from aria_nav.ros.params import config_from, declare_parameters
from aria_nav.ros.qos import RESULT_DEPTH, frame_qos, latched_qos, reliable_qos, result_qos, sensor_qos
from aria_nav.ros.runtime import WORKER_JOIN_S, AriaNode, main_for
from aria_nav.ros.speech_msgs import request_to_msg
from aria_nav.ros.tilt import tilt_to_msg

RGB_CACHE = 8  # RGB frames kept for the annotated image (detection latency, in frames)
DIAGNOSTIC_LEVELS = {OK: diagnostics.OK, WARN: diagnostics.WARN, ERROR: diagnostics.ERROR}


class FusionNode(AriaNode):
    def __init__(self, **node_options):  # node_options: rclpy Node's (aria_nav.nodes.composed passes cli_args)
        super().__init__("fusion", **node_options)
        self.cfg = cfg = declare_parameters(self, PARAMS)
        extrinsics, calibrated_yaw, extrinsics_origin = source_calibration(cfg.camera_source, cfg.camera_path)
        yaw = cfg.peripheral_yaw_deg or calibrated_yaw or GEN1_PERIPHERAL_YAW_DEG
        config = dataclasses.replace(fusion_config(cfg), camera_from_imu=extrinsics, peripheral_yaw_deg=yaw)
        now = time.monotonic()
        self.session = FusionSession(config, config_from(cfg, SessionConfig), vision_health(cfg, now), now)
        self.diag = NodeDiagnostics(self)
        self._rgb_frames: Dict[int, Image] = {}
        self._counts = {"annotated": 0, "annotated_no_image": 0}

        # Every subscription is taken on a thread of its own (aria_nav.ros.taking: less time per hop than the
        # executor's); the timer, on the executor, holds its lock.
        self._taking = self.take_thread("fusion-take")
        per_frame = frame_qos(cfg.process_every_frame, depth=RESULT_DEPTH)
        self._obstacles_pub = self.create_publisher(ObstacleArray, topics.OBSTACLES, per_frame)
        self._markers_pub = self.create_publisher(MarkerArray, topics.OBSTACLE_MARKERS, result_qos())
        self._speech_pub = self.create_publisher(SpeechRequestMsg, topics.SPEECH_REQUEST, reliable_qos())
        self._tilt_pub = self.create_publisher(TransformStamped, topics.WEARER_TILT, result_qos())
        # Each camera's camera_info is subscribed before its detections and depth: ready subscriptions are served
        # in creation order, so a frame whose camera_info, depth and detections arrive together is
        # placed with its own intrinsics (the camera publishes camera_info first), not the previous ones.
        self._subscribe_camera(RGB, topics.DETECTIONS, topics.RGB_INFO, with_detections=False)
        if cfg.use_slam_cameras:
            self._subscribe_camera(SLAM_LEFT, topics.SLAM_LEFT_DETECTIONS, topics.SLAM_LEFT_INFO)
            self._subscribe_camera(SLAM_RIGHT, topics.SLAM_RIGHT_DETECTIONS, topics.SLAM_RIGHT_INFO)
        self._taking.subscribe(Detection2DArray, topics.DETECTIONS, self._on_detections, per_frame)
        self._taking.subscribe(Image, topics.DEPTH_IMAGE, self._on_depth, per_frame)
        self._taking.subscribe(Imu, topics.IMU, self._on_imu, sensor_qos(depth=200))
        self._taking.subscribe(Odometry, topics.ODOM, self._on_odometry, sensor_qos(depth=200))
        self._taking.subscribe(String, topics.DEPTH_MODE, self._on_depth_mode, latched_qos())
        if cfg.heartbeat_timeout_s > 0:
            self._taking.subscribe(DiagnosticArray, topics.DIAGNOSTICS, self._on_diagnostics, reliable_qos(50))
        self._taking.subscribe(String, topics.SOURCE_STATE, self._on_source_state, latched_qos())
        self._annotated_pub = None
        self._annotator: Optional[LatestWorker] = None
        if cfg.publish_annotated:
            self._annotated_pub = self.create_publisher(Image, topics.ANNOTATED_IMAGE, sensor_qos())
            self._taking.subscribe(Image, topics.RGB_IMAGE, self._on_rgb, sensor_qos(depth=2))
            self._annotator = LatestWorker(self._draw, self._on_worker_error, name="annotate")
        self.create_timer(0.1, self._on_timer)
        for key, value in self.session.values.items():
            self.diag.set_value(key, value)
        if self.session.pipeline.corridor is not None:
            self.get_logger().info(f"corridor model: {cfg.corridor_width_m} m x {cfg.corridor_length_m} m, "
                                   f"{self.session.corridor_state}")
        self.get_logger().info(f"fusion: centre zone ±{cfg.centre_zone:.0%}, bands {cfg.band_limits_m} m, "
                               f"SLAM cameras {'awaited' if cfg.use_slam_cameras else 'off'}, IMU-to-camera "
                               f"extrinsics from {extrinsics_origin}, SLAM cameras {yaw:.0f} degrees to the sides")
        self._taking.start()

    # ---- subscriptions: decode, call the session, publish its step -----------------------------------------

    def _subscribe_camera(self, camera: str, detections_topic: str, info_topic: str,
                          with_detections: bool = True) -> None:
        names_topic = self.resolve_topic_name(detections_topic) + topics.CLASS_NAMES_SUFFIX
        self._taking.subscribe(LabelInfo, names_topic, lambda msg: self._on_class_names(camera, msg), latched_qos())
        self._taking.subscribe(CameraInfo, info_topic, lambda msg: self._on_info(camera, msg), sensor_qos())
        if with_detections:
            self._taking.subscribe(Detection2DArray, detections_topic, lambda msg: self._on_peripheral(camera, msg),
                                   frame_qos(self.cfg.process_every_frame, depth=RESULT_DEPTH))

    def _on_class_names(self, camera: str, msg: LabelInfo) -> None:
        try:
            self.session.on_class_names(camera, msg_to_class_names(msg))
        except DetectionFormatError as exc:
            self._input_error(f"{camera}: {exc}")

    def _on_depth_mode(self, msg: String) -> None:
        try:
            mode = msg_to_distance_kind(msg)
        except ValueError as exc:
            self._input_error(str(exc))
            return
        self._publish(self.session.on_depth_mode(mode))

    def _on_info(self, camera: str, msg: CameraInfo) -> None:
        try:
            self.session.on_camera_info(camera, camera_info_to_intrinsics(msg))
        except ImageFormatError as exc:
            self._input_error(f"{camera} camera_info: {exc}")

    def _on_imu(self, msg: Imu) -> None:
        a, w = msg.linear_acceleration, msg.angular_velocity
        # REP 145: a first covariance element of -1 means the gyroscope is not provided.
        gyro = None if msg.angular_velocity_covariance[0] == -1.0 else (w.x, w.y, w.z)
        self._publish(self.session.on_imu(stamp_to_ns(msg.header.stamp) / 1e9, (a.x, a.y, a.z), gyro))

    def _on_odometry(self, msg: Odometry) -> None:
        q, v, w = msg.pose.pose.orientation, msg.twist.twist.linear, msg.twist.twist.angular
        self._publish(self.session.on_odometry(stamp_to_ns(msg.header.stamp) / 1e9, (q.x, q.y, q.z, q.w),
                                               (v.x, v.y, v.z), (w.x, w.y, w.z)))

    def _on_detections(self, msg: Detection2DArray, info: MessageInfo) -> None:
        self.diag.record_arrival("detections_", msg.header.stamp, info)
        detections = self._decode(msg, "detections")
        if detections is not None:
            self._publish(self.session.on_detections(msg.header, stamp_to_ns(msg.header.stamp), detections,
                                                     time.monotonic()))

    def _on_depth(self, msg: Image, info: MessageInfo) -> None:
        self.diag.record_arrival("depth_", msg.header.stamp, info)
        if msg.encoding != "32FC1":
            self._input_error(f"depth image encoding '{msg.encoding}' is not 32FC1 (metres)")
            return
        try:
            depth = image_to_array(msg)
        except ImageFormatError as exc:
            self._input_error(f"depth image: {exc}")
            return
        self._publish(self.session.on_depth(stamp_to_ns(msg.header.stamp), depth, time.monotonic()))

    def _on_peripheral(self, camera: str, msg: Detection2DArray) -> None:
        detections = self._decode(msg, f"{camera} detections")
        if detections is not None:
            self._publish(self.session.on_peripheral(camera, msg.header, stamp_to_ns(msg.header.stamp), detections))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        # How late statuses are read: the stamp against the same clock (ROS time, like the senders'), in seconds.
        statuses = [(status.name, next((kv.value for kv in status.values if kv.key == "pid"), None))
                    for status in msg.status]
        self.session.on_statuses(time.monotonic(), self.get_clock().now().nanoseconds / 1e9,
                                 stamp_to_ns(msg.header.stamp) / 1e9, statuses)

    def _on_source_state(self, msg: String) -> None:
        try:
            state = json.loads(msg.data).get("state")
        except (ValueError, AttributeError):
            self._input_error(f"{topics.SOURCE_STATE} is not a JSON object with a 'state'")
            return
        self._publish(self.session.on_source_state(state, time.monotonic(), self.get_clock().now().nanoseconds))

    def _on_rgb(self, msg: Image) -> None:
        if self._annotated_pub.get_subscription_count() == 0:
            self._rgb_frames.clear()
            return
        self._rgb_frames[stamp_to_ns(msg.header.stamp)] = msg
        while len(self._rgb_frames) > RGB_CACHE:
            del self._rgb_frames[min(self._rgb_frames)]

    def _on_timer(self) -> None:
        with self._taking.lock:
            self._tick()

    def _tick(self) -> None:
        now = time.monotonic()
        self._publish(self.session.tick(now, self.get_clock().now().nanoseconds))
        level, message, values = self.session.status(now)
        for key, value in values.items():
            self.diag.set_value(key, value)
        for key, value in self._counts.items():
            self.diag.set_value(key, value)
        self.diag.set_status(DIAGNOSTIC_LEVELS[level], message)

    # ---- publishing ----------------------------------------------------------------------------------------

    def _publish(self, step: Step) -> None:
        for fused in step.frames:
            self._publish_frame(fused)
        for request in step.requests:
            self._send(request)
        for line in step.lines:  # one call site per severity: rclpy refuses to change it at one
            if line.level == WARNING_LINE:
                self.get_logger().warning(line.text)
            else:
                self.get_logger().info(line.text)

    def _publish_frame(self, fused: FusedFrame) -> None:
        header, result = fused.frame, fused.result
        self._obstacles_pub.publish(obstacles_to_msg(result.obstacles, header))
        if fused.camera == RGB:
            self.diag.record_hop("published", header.stamp)
        if self.cfg.publish_markers:
            markers = obstacle_markers(result.obstacles, header, fused.intrinsics)
            if result.corridor is not None:
                markers.markers += corridor_markers(result.corridor, result.tilt, self.session.config.corridor,
                                                    header)
            self._markers_pub.publish(markers)
        if fused.camera == RGB:
            self.diag.record(header.stamp)
            self._tilt_pub.publish(tilt_to_msg(header, result.tilt))
            self._queue_annotation(header, result)
        if fused.request is not None:
            self._send(fused.request)

    def _queue_annotation(self, header: Header, result: FrameResult) -> None:
        if self._annotator is None or self._annotated_pub.get_subscription_count() == 0:
            return
        frame = self._rgb_frames.get(stamp_to_ns(header.stamp))
        if frame is None:
            self._counts["annotated_no_image"] += 1
            return
        self._annotator.submit((frame, result.obstacles))

    def _draw(self, item) -> None:
        frame, obstacles = item
        drawn = annotate(image_to_rgb(frame), obstacles, self.cfg.centre_zone)
        self._annotated_pub.publish(array_to_image(drawn, "rgb8", frame.header))
        self._counts["annotated"] += 1

    def _send(self, request: SpeechRequest) -> None:
        self._speech_pub.publish(request_to_msg(request))
        self.get_logger().debug(f"speech request: {request.to_json()}")

    # ---- errors --------------------------------------------------------------------------------------------

    def _decode(self, msg: Detection2DArray, what: str) -> Optional[Detections]:
        try:
            return msg_to_detections(msg)
        except DetectionFormatError as exc:
            self._input_error(f"{what}: {exc}")
            return None

    def _input_error(self, message: str) -> None:
        self.diag.stats.record_error(message)
        self.get_logger().warning(message, throttle_duration_sec=INPUT_LOG_PERIOD_S)

    def _on_worker_error(self, exc: BaseException) -> None:
        self._input_error(f"annotated image: {exc}")

    def close(self) -> None:
        if self._annotator is not None:
            self._annotator.stop(WORKER_JOIN_S)


main = main_for(FusionNode, "fusion")
