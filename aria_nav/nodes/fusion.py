"""Fusion node: detections + depth + IMU -> tracked obstacles with distance, direction and priority, and the
speech requests the guidance policy decides on (docs/guidance.md).

Subscribes: detections (RGB) with their class names, depth image, RGB camera_info, the two SLAM cameras'
detections and camera_info (peripheral obstacles), IMU (walking/standing), RGB image (annotated view only).
Publishes: obstacles (PointCloud2, aria_nav.ros.obstacles), markers, annotated image, speech requests
(std_msgs/String JSON, reliable), /diagnostics.
All message work runs on the executor thread (it is light: a few percentiles per frame); only drawing the annotated
image runs on a worker.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Dict, List, Optional

from sensor_msgs.msg import CameraInfo, Image, Imu, PointCloud2
from std_msgs.msg import Header, String
from visualization_msgs.msg import MarkerArray

from aria_nav import topics
from aria_nav.core.detections import Detections
from aria_nav.core.fusion.annotate import annotate
from aria_nav.core.fusion.box_distance import BoxDistanceConfig
from aria_nav.core.fusion.motion import MotionConfig
from aria_nav.core.fusion.obstacle import RGB, SLAM_LEFT, SLAM_RIGHT
from aria_nav.core.fusion.pairing import Pairing, StampPairer
from aria_nav.core.fusion.pipeline import FusionConfig, FusionPipeline, FrameResult
from aria_nav.core.fusion.policy import DEFAULT_CLASS_PRIORITIES, DEFAULT_CRITICAL_CLASSES, PolicyConfig
from aria_nav.core.fusion.tracker import TrackerConfig
from aria_nav.core.fusion.watchdog import DEPTH, DETECTIONS, SLOW_STATE, STALE, WAITING, VisionHealth
from aria_nav.core.health import OutagePolicy, RatePolicy
from aria_nav.core.latest import LatestWorker
from aria_nav.core.speech.request import (APPROXIMATE, DEGRADED, DISTANCE_KINDS, INFO, METRIC, SLOW, WARNING,
                                         SpeechRequest)
from aria_nav.ros.conversions import (ImageFormatError, array_to_image, camera_info_to_intrinsics, image_to_array,
                                      image_to_rgb)
from aria_nav.ros.detections import DetectionFormatError, msg_to_detections
from aria_nav.ros.diagnostics import ERROR, OK, WARN, NodeDiagnostics, stamp_to_ns
from aria_nav.ros.obstacles import obstacle_markers, obstacles_to_msg
from aria_nav.ros.params import Param, ParameterError, declare_parameters
from aria_nav.ros.qos import frame_qos, latched_qos, reliable_qos, result_qos, sensor_qos
from aria_nav.ros.runtime import WORKER_JOIN_S, AriaNode, main_for
from aria_nav.ros.speech_msgs import request_to_msg

BAND_WEIGHT_ORDER = ("very_close", "close", "medium", "far", "unknown")


def _ascending_positive(values) -> Optional[str]:
    if len(values) != 3 or any(v <= 0 for v in values) or list(values) != sorted(set(values)):
        return f"{list(values)} must be three increasing positive distances (very close, close, medium limits)"
    return None


def _class_priority_entries(values) -> Optional[str]:
    for entry in values:
        name, sep, number = entry.rpartition(":")
        if not sep or not name.strip() or not number.strip().lstrip("-").isdigit():
            return f"entry '{entry}' is not 'class name:integer priority'"
    return None


PARAMS = [
    Param("process_every_frame", False,
          "Deterministic replay: reliable QoS on detections and depth and every frame processed in order "
          "(false: newest frames, sensor-data QoS)."),
    Param("pair_tolerance_s", 0.1, "Largest stamp difference between a detection set and the depth image it is "
          "paired with, seconds.", min=0.0, max=1.0),
    Param("pair_max_wait_s", 0.5, "How long a detection set waits for the depth image of its frame (receive "
          "time) before it is paired with an earlier one or dropped, seconds (process_every_frame: no limit).",
          min=0.0, max=5.0),
    Param("depth_cache", 4, "Depth images kept for pairing (process_every_frame: at least 32).", min=1, max=64),
    Param("centre_zone", 0.3, "Half-width of the 'ahead' zone as a fraction of the image width (0.3: the middle "
          "60% of the image is ahead).", min=0.0, max=0.5),
    Param("peripheral_yaw_deg", 38.0, "Horizontal angle between the RGB camera's axis and each SLAM camera's axis "
          "(Aria gen 1 factory calibration: about 38), degrees.", min=0.0, max=90.0),
    Param("box_core_fraction", 0.5, "Width and height of the central part of a box whose depths give the distance, "
          "as a fraction of the box.", min=0.05, max=1.0),
    Param("box_depth_percentile", 10.0, "Percentile of the valid depths in the box's central part taken as its "
          "distance (low: the nearest surface).", min=0.0, max=100.0),
    Param("box_min_valid_fraction", 0.1, "Smallest fraction of valid depth pixels in the central part for a "
          "distance.", min=0.0, max=1.0),
    Param("track_min_iou", 0.3, "Smallest box overlap (IoU) continuing a track.", min=0.0, max=1.0),
    Param("track_max_centre_jump", 0.5, "Largest centre displacement continuing a track without overlap, in box "
          "diagonals.", min=0.0, max=10.0),
    Param("track_max_missed", 5, "Frames a track may go unseen before the obstacle has left.", min=0, max=1000),
    Param("speed_window_s", 1.0, "Time window of the approach speed estimate, seconds.", min=0.1, max=10.0),
    Param("motion_window_s", 1.0, "Sliding window of the walking detector (std of |acceleration|), seconds.",
          min=0.2, max=10.0),
    Param("walk_threshold", 0.6, "Std of |acceleration| above which the wearer is walking, m/s^2.", min=0.0,
          max=20.0),
    Param("stand_threshold", 0.3, "Std of |acceleration| below which the wearer is standing, m/s^2 (at most "
          "walk_threshold).", min=0.0, max=20.0),
    Param("min_walk_s", 0.5, "How long the deviation must stay above walk_threshold to switch to walking, s.",
          min=0.0, max=10.0),
    Param("min_stand_s", 1.0, "How long it must stay below stand_threshold to switch to standing, s.", min=0.0,
          max=10.0),
    Param("band_limits_m", [1.5, 3.0, 5.0], "Upper limits of the very close, close and medium distance bands "
          "(beyond: far), metres.", item_type=float, check=_ascending_positive),
    Param("band_hysteresis_m", 0.2, "How far beyond a band limit an obstacle must get to move to the farther band "
          "(nearer bands are entered at once); also the margin for leaving the critical state, metres.",
          min=0.0, max=2.0),
    Param("band_weights", [1.0, 0.7, 0.4, 0.1, 0.3], "Priority weights of the very close, close, medium, far and "
          "unknown-distance bands.", item_type=float, min=0.0, max=10.0,
          check=lambda v: None if len(v) == 5 else f"has {len(v)} values, needs 5 ({', '.join(BAND_WEIGHT_ORDER)})"),
    Param("class_priorities", [f"{name}:{value}" for name, value in DEFAULT_CLASS_PRIORITIES.items()],
          "Class importance as 'class name:priority' (detector class names).", check=_class_priority_entries),
    Param("default_class_priority", 1, "Importance of classes not listed in class_priorities.", min=0, max=100),
    Param("critical_classes", sorted(DEFAULT_CRITICAL_CLASSES), "Classes whose nearness is a critical warning."),
    Param("side_weight", 0.6, "Priority weight of an obstacle left or right in the RGB image (ahead: 1).",
          min=0.0, max=1.0),
    Param("peripheral_weight", 0.4, "Priority weight of an obstacle seen only by a SLAM (peripheral) camera.",
          min=0.0, max=1.0),
    Param("approach_gain", 2.0, "Priority added per m/s of approach speed.", min=0.0, max=100.0),
    Param("approach_speed_mps", 0.3, "Approach speed from which getting nearer is said as 'approaching', m/s.",
          min=0.0, max=10.0),
    Param("critical_distance_walking_m", 3.0, "Distance under which a critical class is a critical warning while "
          "walking, metres.", min=0.0, max=50.0),
    Param("critical_distance_standing_m", 1.5, "The same while standing, metres.", min=0.0, max=50.0),
    Param("critical_cooldown_walking_s", 1.0, "Least time before the same critical warning is repeated while "
          "walking, seconds.", min=0.0, max=60.0),
    Param("critical_cooldown_standing_s", 2.0, "The same while standing, seconds.", min=0.0, max=60.0),
    Param("critical_confirm_frames", 2, "Consecutive frames a critical obstacle must be seen before it is "
          "spoken of (2: one-frame flicker is never spoken).", min=1, max=100),
    Param("confirm_frames", 3, "Consecutive frames an ordinary obstacle must be seen before it is spoken of.",
          min=1, max=100),
    Param("obstacle_cooldown_s", 2.5, "Least time before an ordinary obstacle is spoken of again (only if its "
          "direction changed), seconds.", min=0.0, max=600.0),
    Param("min_gap_s", 0.8, "Least time between two requests except critical ones, and before the same obstacle is "
          "re-announced for a nearer band, seconds.", min=0.0, max=60.0),
    Param("announce_max_distance_m", 5.0, "Obstacles farther than this are not spoken of, metres.", min=0.0,
          max=100.0),
    Param("min_priority_without_distance", 1, "Class priority from which an obstacle without a distance "
          "(peripheral camera, depth down) is spoken of.", min=0, max=100),
    Param("stale_after_s", 2.0, "Seconds without detections (or depth) after which vision is degraded, at the "
          "least (see stale_intervals).", min=0.1, max=600.0),
    Param("stale_intervals", 4.0, "An input is out only once silent for this many of its own typical intervals "
          "if that is longer than stale_after_s (a stage slow on this machine is not a dead one).", min=1.0,
          max=100.0),
    Param("max_stale_after_s", 30.0, "The longest silence threshold stale_intervals may give, seconds.",
          min=0.1, max=600.0),
    Param("detections_min_rate_hz", 0.0, "Rate below which detections are 'slow' (said once, on /diagnostics as "
          "slow); 0: half their own rate over their first 10 intervals.", min=0.0, max=1000.0),
    Param("depth_min_rate_hz", 0.0, "The same for depth images.", min=0.0, max=1000.0),
    Param("slow_repeat_s", 600.0, "At most one 'slow' sentence per this time, whichever the input, seconds.",
          min=0.0, max=86400.0),
    Param("restore_messages", 1, "Messages an input that was out must send before it is said to be restored.",
          min=1, max=1000),
    Param("flap_window_s", 120.0, "An input out again within this time of its recovery is said to be restored "
          "only once it has been back for restore_stable_s, seconds (no degraded/restored loop).", min=0.0,
          max=86400.0),
    Param("restore_stable_s", 30.0, "See flap_window_s, seconds.", min=0.0, max=3600.0),
    Param("startup_grace_s", 30.0, "Seconds after start during which inputs never seen are awaited, not "
          "degraded (models load).", min=0.0, max=3600.0),
    Param("use_slam_cameras", True, "Use the SLAM cameras' detections as peripheral obstacles."),
    Param("publish_markers", True, "Publish obstacle markers (boxes and labels) for rviz."),
    Param("publish_annotated", True, "Publish the RGB image with obstacles drawn (only while someone subscribes)."),
]


def fusion_config(cfg) -> FusionConfig:
    if cfg.stand_threshold > cfg.walk_threshold:
        raise ParameterError("stand_threshold", f"{cfg.stand_threshold} exceeds walk_threshold "
                                                f"{cfg.walk_threshold}")
    priorities = {}
    for entry in cfg.class_priorities:
        name, _, number = entry.rpartition(":")
        priorities[name.strip()] = int(number)
    policy = PolicyConfig(
        band_limits_m=tuple(cfg.band_limits_m), band_hysteresis_m=cfg.band_hysteresis_m,
        band_weights=dict(zip(BAND_WEIGHT_ORDER, cfg.band_weights)), class_priorities=priorities,
        default_class_priority=cfg.default_class_priority, side_weight=cfg.side_weight,
        peripheral_weight=cfg.peripheral_weight, approach_gain=cfg.approach_gain,
        approach_speed_mps=cfg.approach_speed_mps, critical_classes=frozenset(cfg.critical_classes),
        critical_distance_walking_m=cfg.critical_distance_walking_m,
        critical_distance_standing_m=cfg.critical_distance_standing_m,
        critical_cooldown_walking_s=cfg.critical_cooldown_walking_s,
        critical_cooldown_standing_s=cfg.critical_cooldown_standing_s,
        critical_confirm_frames=cfg.critical_confirm_frames, confirm_frames=cfg.confirm_frames,
        obstacle_cooldown_s=cfg.obstacle_cooldown_s, min_gap_s=cfg.min_gap_s,
        announce_max_distance_m=cfg.announce_max_distance_m,
        min_priority_without_distance=cfg.min_priority_without_distance)
    return FusionConfig(
        centre_zone=cfg.centre_zone, peripheral_yaw_deg=cfg.peripheral_yaw_deg,
        box_distance=BoxDistanceConfig(cfg.box_core_fraction, cfg.box_depth_percentile, cfg.box_min_valid_fraction),
        tracker=TrackerConfig(min_iou=cfg.track_min_iou, max_centre_jump=cfg.track_max_centre_jump,
                              max_missed=cfg.track_max_missed, speed_window_s=cfg.speed_window_s),
        motion=MotionConfig(window_s=cfg.motion_window_s, walk_threshold=cfg.walk_threshold,
                            stand_threshold=cfg.stand_threshold, min_walk_s=cfg.min_walk_s,
                            min_stand_s=cfg.min_stand_s),
        policy=policy)


def vision_health(cfg, start_s: float) -> VisionHealth:
    def rate(min_rate_hz: float) -> RatePolicy:
        return RatePolicy(cfg.stale_after_s, cfg.stale_intervals, max(cfg.max_stale_after_s, cfg.stale_after_s),
                          min_rate_hz)

    return VisionHealth(cfg.stale_after_s, cfg.startup_grace_s, start_s,
                        {DETECTIONS: rate(cfg.detections_min_rate_hz), DEPTH: rate(cfg.depth_min_rate_hz)},
                        OutagePolicy(cfg.restore_messages, cfg.flap_window_s, cfg.restore_stable_s),
                        cfg.slow_repeat_s)


DEGRADED_PRIORITY = 100.0  # above any obstacle: the wearer must know the warnings have stopped
LIVE_PENDING, REPLAY_PENDING = 16, 256  # detection sets waiting for depth (replay: the detector may run ahead)
REPLAY_CACHE = 32  # depth images kept in replay at least (depth may run ahead)
RGB_CACHE = 8  # RGB frames kept for the annotated image (detection latency, in frames)


class FusionNode(AriaNode):
    def __init__(self):
        super().__init__("fusion")
        self.cfg = declare_parameters(self, PARAMS)
        cfg = self.cfg
        self.config: FusionConfig = fusion_config(cfg)
        self.pipeline = FusionPipeline(self.config)
        # Replay processes every frame: a detection set then waits for its depth image however long depth takes,
        # and either stage may run ahead of the other by many frames.
        if cfg.process_every_frame:
            self.pairer = StampPairer(cfg.pair_tolerance_s, math.inf, max(cfg.depth_cache, REPLAY_CACHE),
                                      pending_cache=REPLAY_PENDING)
        else:
            self.pairer = StampPairer(cfg.pair_tolerance_s, cfg.pair_max_wait_s, cfg.depth_cache,
                                      pending_cache=LIVE_PENDING)
        self._started = time.monotonic()
        self.health = vision_health(cfg, self._started)
        self.diag = NodeDiagnostics(self)
        self._intrinsics = {RGB: None, SLAM_LEFT: None, SLAM_RIGHT: None}
        self._class_names: Dict[str, List[str]] = {RGB: [], SLAM_LEFT: [], SLAM_RIGHT: []}
        self._rgb_frames: Dict[int, Image] = {}
        self._counts = {"requests": 0, "no_camera_info": 0, "pairing_misses_skipped": 0, "slam_frames": 0,
                        "annotated": 0, "annotated_no_image": 0}
        self._last_motion = self.pipeline.motion.state
        # Metres are spoken only once the depth stage says they are measured (docs/depth.md: approximate metres
        # from a relative model must not be spoken as measurements).
        self._distance_kind = APPROXIMATE

        per_frame = frame_qos(cfg.process_every_frame, depth=5)
        self._obstacles_pub = self.create_publisher(PointCloud2, topics.OBSTACLES, per_frame)
        self._markers_pub = self.create_publisher(MarkerArray, topics.OBSTACLE_MARKERS, result_qos())
        self._speech_pub = self.create_publisher(String, topics.SPEECH_REQUEST, reliable_qos())
        # Each camera's camera_info is subscribed before its detections and depth: the executor serves ready
        # subscriptions in creation order, so a frame whose camera_info, depth and detections arrive together is
        # placed with its own intrinsics (the camera publishes camera_info first), not the previous ones.
        self._subscribe_camera(RGB, topics.DETECTIONS, topics.RGB_INFO, with_detections=False)
        if cfg.use_slam_cameras:
            self._subscribe_camera(SLAM_LEFT, topics.SLAM_LEFT_DETECTIONS, topics.SLAM_LEFT_INFO)
            self._subscribe_camera(SLAM_RIGHT, topics.SLAM_RIGHT_DETECTIONS, topics.SLAM_RIGHT_INFO)
        self.create_subscription(PointCloud2, topics.DETECTIONS, self._on_detections, per_frame)
        self.create_subscription(Image, topics.DEPTH_IMAGE, self._on_depth, per_frame)
        self.create_subscription(Imu, topics.IMU, self._on_imu, sensor_qos(depth=200))
        self.create_subscription(String, topics.DEPTH_MODE, self._on_depth_mode, latched_qos())
        self._annotated_pub = None
        self._annotator: Optional[LatestWorker] = None
        if cfg.publish_annotated:
            self._annotated_pub = self.create_publisher(Image, topics.ANNOTATED_IMAGE, sensor_qos())
            self.create_subscription(Image, topics.RGB_IMAGE, self._on_rgb, sensor_qos(depth=2))
            self._annotator = LatestWorker(self._draw, self._on_worker_error, name="annotate")
        self.create_timer(0.1, self._on_timer)
        self.diag.set_value("motion_state", self._last_motion)
        self.diag.set_value("distance_kind", f"{APPROXIMATE} (until {topics.DEPTH_MODE} says metric)")
        self.get_logger().info(f"fusion: centre zone ±{cfg.centre_zone:.0%}, bands {cfg.band_limits_m} m, "
                               f"SLAM cameras {'on' if cfg.use_slam_cameras else 'off'}")

    # ---- subscriptions -------------------------------------------------------------------------------------

    def _subscribe_camera(self, camera: str, detections_topic: str, info_topic: str,
                          with_detections: bool = True) -> None:
        names_topic = self.resolve_topic_name(detections_topic) + topics.CLASS_NAMES_SUFFIX
        self.create_subscription(String, names_topic, lambda msg: self._on_class_names(camera, msg), latched_qos())
        self.create_subscription(CameraInfo, info_topic, lambda msg: self._on_info(camera, msg), sensor_qos())
        if with_detections:
            self.create_subscription(PointCloud2, detections_topic,
                                     lambda msg: self._on_peripheral(camera, msg),
                                     frame_qos(self.cfg.process_every_frame, depth=5))

    def _on_class_names(self, camera: str, msg: String) -> None:
        try:
            names = json.loads(msg.data)
            if not isinstance(names, list):
                raise ValueError("not a JSON list")
        except ValueError as exc:
            self._input_error(f"class names for {camera} are not a JSON list of names: {exc}")
            return
        self._class_names[camera] = [str(n) for n in names]

    def _on_depth_mode(self, msg: String) -> None:
        try:
            mode = json.loads(msg.data).get("mode")
        except (ValueError, AttributeError) as exc:
            self._input_error(f"depth mode on {topics.DEPTH_MODE} is not a JSON object: {exc}")
            return
        if mode not in DISTANCE_KINDS:  # what the depth node publishes
            self._input_error(f"depth mode on {topics.DEPTH_MODE} is {str(mode)[:40]!r}, not "
                              f"{' or '.join(DISTANCE_KINDS)}")
            return
        if mode != self._distance_kind:
            self.get_logger().info(f"depth is {mode}: distances are spoken "
                                   f"{'in metres' if mode == METRIC else 'as near/far bands, not metres'}")
        self._distance_kind = mode
        self.diag.set_value("distance_kind", mode)

    def _on_info(self, camera: str, msg: CameraInfo) -> None:
        try:
            self._intrinsics[camera] = camera_info_to_intrinsics(msg)
        except ImageFormatError as exc:
            self._input_error(f"{camera} camera_info: {exc}")

    def _on_imu(self, msg: Imu) -> None:
        a = msg.linear_acceleration
        state = self.pipeline.motion.add(stamp_to_ns(msg.header.stamp) / 1e9, a.x, a.y, a.z)
        if state != self._last_motion:
            self.get_logger().info(f"wearer is {state} (acceleration deviation "
                                   f"{self.pipeline.motion.deviation:.2f} m/s^2)")
            self._last_motion = state
            self.diag.set_value("motion_state", state)

    def _on_detections(self, msg: PointCloud2) -> None:
        detections = self._decode(msg, "detections")
        if detections is None:
            return
        now = time.monotonic()
        self.health.seen(DETECTIONS, now)
        pairings = self.pairer.add_detections(stamp_to_ns(msg.header.stamp), (msg.header, detections), now)
        if self.health.depth_down:  # no depth is coming: go on without distances
            pairings += self.pairer.drain()
        self._process_pairings(pairings)

    def _on_depth(self, msg: Image) -> None:
        if msg.encoding != "32FC1":
            self._input_error(f"depth image encoding '{msg.encoding}' is not 32FC1 (metres)")
            return
        try:
            depth = image_to_array(msg)
        except ImageFormatError as exc:
            self._input_error(f"depth image: {exc}")
            return
        now = time.monotonic()
        self.health.seen(DEPTH, now)
        self._process_pairings(self.pairer.add_depth(stamp_to_ns(msg.header.stamp), depth, now))

    def _on_peripheral(self, camera: str, msg: PointCloud2) -> None:
        detections = self._decode(msg, f"{camera} detections")
        if detections is not None:
            self._counts["slam_frames"] += 1
            self._process_frame(camera, msg.header, detections, None)

    def _on_rgb(self, msg: Image) -> None:
        if self._annotated_pub.get_subscription_count() == 0:
            self._rgb_frames.clear()
            return
        self._rgb_frames[stamp_to_ns(msg.header.stamp)] = msg
        while len(self._rgb_frames) > RGB_CACHE:
            del self._rgb_frames[min(self._rgb_frames)]

    def _on_timer(self) -> None:
        now = time.monotonic()
        self._process_pairings(self.pairer.poll(now))
        for change in self.health.update(now):
            self._announce_health(change.event, change.reason, now)
        self._update_diagnostics(now)

    # ---- processing ----------------------------------------------------------------------------------------

    def _process_pairings(self, pairings: List[Pairing]) -> None:
        for pairing in pairings:
            header, detections = pairing.detections
            if pairing.depth is None and not self.health.depth_down:
                self._counts["pairing_misses_skipped"] += 1  # depth is running, this frame just has none
                continue
            self._process_frame(RGB, header, detections, pairing.depth)

    def _process_frame(self, camera: str, header: Header, detections: Detections, depth) -> None:
        intrinsics = self._intrinsics[camera]
        if intrinsics is None:
            self._counts["no_camera_info"] += 1
            return
        result = self.pipeline.process(camera, detections, self._class_names[camera], intrinsics, depth,
                                       stamp_to_ns(header.stamp))
        self._obstacles_pub.publish(obstacles_to_msg(result.obstacles, header))
        if self.cfg.publish_markers:
            self._markers_pub.publish(obstacle_markers(result.obstacles, header, intrinsics))
        if camera == RGB:
            self.diag.record(header.stamp)
            self._queue_annotation(header, result)
        if result.request is not None and self.health.reason != DETECTIONS:
            self._send(dataclasses.replace(result.request, distance_kind=self._distance_kind))

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
        self._counts["requests"] += 1
        self.get_logger().debug(f"speech request: {request.to_json()}")

    def _announce_health(self, event: str, reason: str, now: float) -> None:
        rate = self.health.inputs[reason]
        if event == DEGRADED:
            self.get_logger().warning(f"vision degraded: no {reason} for {self.health.silent_for(reason, now) or 0:.1f}"
                                      f" s (threshold {rate.silence_threshold_s():.1f} s)")
        elif event == SLOW:
            self.get_logger().warning(f"{reason} slow: {rate.rate_hz() or 0:.2f} Hz, below its floor "
                                      f"{rate.floor_hz() or 0:.2f} Hz")
        else:
            self.get_logger().info(f"vision restored: {reason} back")
        self._send(SpeechRequest(event=event, urgency=WARNING if event == DEGRADED else INFO,
                                 priority=DEGRADED_PRIORITY, key=f"vision:{reason}",
                                 stamp_ns=self.get_clock().now().nanoseconds, reason=reason))

    # ---- errors and diagnostics ----------------------------------------------------------------------------

    def _decode(self, msg: PointCloud2, what: str) -> Optional[Detections]:
        try:
            return msg_to_detections(msg)
        except DetectionFormatError as exc:
            self._input_error(f"{what}: {exc}")
            return None

    def _input_error(self, message: str) -> None:
        self.diag.stats.record_error(message)
        self.get_logger().warning(message, throttle_duration_sec=5.0)

    def _on_worker_error(self, exc: BaseException) -> None:
        self._input_error(f"annotated image: {exc}")

    def _update_diagnostics(self, now: float) -> None:
        states = {name: self.health.state(name, now) for name in (DETECTIONS, DEPTH)}
        for name, state in states.items():
            silent = self.health.silent_for(name, now)
            self.diag.set_value(f"{name}_input", state if silent is None else f"{state} ({silent:.1f} s ago)")
            rate = self.health.inputs[name]
            self.diag.set_value(f"{name}_rate_hz", f"{rate.rate_hz() or 0:.2f}")
            self.diag.set_value(f"{name}_floor_hz", f"{rate.floor_hz() or 0:.2f}")
            self.diag.set_value(f"{name}_stale_after_s", f"{rate.silence_threshold_s():.1f}")
        self.diag.set_value("uptime_s", f"{now - self._started:.1f}")  # the speech node's guidance watch reads it
        self.diag.set_value("pairs", self.pairer.paired)
        self.diag.set_value("pairing_misses", self.pairer.misses)
        self.diag.set_value("waiting_for_depth", self.pairer.waiting)
        self.diag.set_value("acceleration_deviation", f"{self.pipeline.motion.deviation:.2f}")
        for camera, tracker in self.pipeline.trackers.items():
            self.diag.set_value(f"tracks_{camera}", len(tracker.tracks))
        for key, value in self._counts.items():
            self.diag.set_value(key, value)
        if states[DETECTIONS] == STALE:
            self.diag.set_status(ERROR, "no detections: obstacle warnings stopped")
        elif states[DEPTH] == STALE:
            self.diag.set_status(WARN, "no depth: obstacles without distances")
        elif SLOW_STATE in states.values():
            slow = [name for name, state in states.items() if state == SLOW_STATE]
            self.diag.set_status(WARN, f"slow: {' and '.join(slow)} below the rate floor")
        elif WAITING in states.values():
            waiting = [name for name, state in states.items() if state == WAITING]
            self.diag.set_status(WARN, f"waiting for {' and '.join(waiting)}")
        elif self._intrinsics[RGB] is None:
            self.diag.set_status(WARN, f"waiting for camera_info on {topics.RGB_INFO}")
        else:
            self.diag.set_status(OK, "running")

    def close(self) -> None:
        if self._annotator is not None:
            self._annotator.stop(WORKER_JOIN_S)


main = main_for(FusionNode, "fusion")
