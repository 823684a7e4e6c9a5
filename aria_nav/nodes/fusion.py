"""Fusion node: detections + depth + IMU -> tracked obstacles with distance, direction and priority, and the
speech requests the guidance policy decides on (docs/guidance.md).

Subscribes: detections (RGB) with their class names, depth image, RGB camera_info, the two SLAM cameras'
detections and camera_info (peripheral obstacles), IMU (walking/standing, and the camera's tilt), device odometry
(Aria Gen2's VIO on /aria/odom: walking/standing from the wearer's speed, preferred to the IMU while it flows), RGB
image (annotated view only).
Publishes: obstacles (PointCloud2, aria_nav.ros.obstacles), markers, annotated image, speech requests
(std_msgs/String JSON, reliable), the RGB camera's tilt in the gravity-aligned wearer frame (TransformStamped, one per
fused RGB frame, aria_nav.core.wearer_frame), /diagnostics.
All message work runs on the executor thread (it is light: a few percentiles per frame); only drawing the annotated
image runs on a worker.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Dict, List, Optional

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TransformStamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, Image, Imu, PointCloud2
from std_msgs.msg import Header, String
from visualization_msgs.msg import MarkerArray

from aria_nav import topics
from aria_nav.core.detections import Detections
from aria_nav.core.fusion.annotate import annotate
from aria_nav.core.fusion.box_distance import BoxDistanceConfig
from aria_nav.core.fusion.motion import MotionConfig
from aria_nav.core.fusion.vio_motion import quaternion_matrix
from aria_nav.core.fusion.obstacle import RGB, SLAM_LEFT, SLAM_RIGHT
from aria_nav.core.fusion.pairing import Pairing, StampPairer
from aria_nav.core.fusion.pipeline import FusionConfig, FusionPipeline, FrameResult
from aria_nav.core.fusion.policy import PolicyConfig
from aria_nav.core.hazards.corridor import CorridorConfig
from aria_nav.core.hazards.ground import GROUND_METHODS, GroundConfig
from aria_nav.core.hazards.names import CLASS_PRIORITIES, CRITICAL_CLASSES
from aria_nav.core.fusion.tracker import TrackerConfig
from aria_nav.core.fusion.watchdog import CAMERA, DEPTH, DETECTIONS, SLOW_STATE, STALE, WAITING, VisionHealth
from aria_nav.core.health import OutagePolicy, RatePolicy
from aria_nav.core.latest import LatestWorker
from aria_nav.core.wearer_frame import HeightBandConfig, Tilt, TiltConfig
from aria_nav.core.speech.request import (APPROXIMATE, DEGRADED, ENDED, INFO, METRIC, SLOW, WARNING,
                                         SpeechRequest)
from aria_nav.ros.conversions import (ImageFormatError, array_to_image, camera_info_to_intrinsics, image_to_array,
                                      image_to_rgb)
from aria_nav.ros.depth_mode import msg_to_distance_kind
from aria_nav.ros.detections import DetectionFormatError, msg_to_class_names, msg_to_detections
from aria_nav.ros.diagnostics import ERROR, OK, WARN, NodeDiagnostics, stamp_to_ns
from aria_nav.ros.obstacles import corridor_markers, obstacle_markers, obstacles_to_msg
from aria_nav.ros.params import Param, ParameterError, declare_parameters
from aria_nav.ros.qos import frame_qos, latched_qos, reliable_qos, result_qos, sensor_qos
from aria_nav.ros.runtime import WORKER_JOIN_S, AriaNode, main_for
from aria_nav.ros.speech_msgs import request_to_msg
from aria_nav.ros.static_tf import camera_mounts, peripheral_yaw_deg

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
    Param("peripheral_yaw_deg", 0.0, "Horizontal angle between the RGB camera's axis and each SLAM camera's axis, "
          "degrees; 0: from the calibration of the camera's source (camera_source, camera_path: Aria Gen1 about 38, "
          "Gen2's side pair about 84, the sample 60), 38 where it has none.", min=0.0, max=90.0),
    Param("box_core_fraction", 0.5, "Width and height of the central part of a box whose depths give the distance, "
          "as a fraction of the box.", min=0.05, max=1.0),
    Param("box_depth_percentile", 10.0, "Percentile of the horizontal ranges of the object's depth cluster taken "
          "as its distance (low: its nearest part).", min=0.0, max=100.0),
    Param("box_min_valid_fraction", 0.1, "Smallest fraction of valid depth pixels in the central part for a "
          "distance.", min=0.0, max=1.0),
    Param("box_cluster_bin", 0.05, "Width of the depth histogram's bins separating the surfaces in a box, in "
          "log-depth (0.05: 5% of the depth).", min=0.005, max=1.0),
    Param("box_min_cluster_share", 0.2, "The nearest depth cluster holding this share of a box's valid pixels is "
          "the object (nearer, smaller ones are something else); none: the largest.", min=0.0, max=1.0),
    Param("track_min_iou", 0.3, "Smallest box overlap (IoU) continuing a track.", min=0.0, max=1.0),
    Param("track_max_centre_jump", 0.5, "Largest centre displacement continuing a track without overlap, in box "
          "diagonals.", min=0.0, max=10.0),
    Param("track_max_missed", 5, "Frames a track may go unseen before the obstacle has left.", min=0, max=1000),
    Param("distance_filter_frames", 3, "A track's distance is the median of its last this many frames (moved "
          "along its approach speed): one glitched frame cannot move it. 1: no filter.", min=1, max=30),
    Param("speed_window_s", 1.0, "Time window of the approach speed estimate, seconds.", min=0.1, max=10.0),
    Param("motion_window_s", 1.0, "Sliding window of the std of |acceleration| that decides standing, seconds.",
          min=0.2, max=10.0),
    Param("walk_window_s", 0.5, "Sliding window of the std of |acceleration| that decides walking (about one "
          "step, so the first steps show at once), seconds.", min=0.1, max=10.0),
    Param("walk_threshold", 0.6, "Std of |acceleration| above which the wearer is walking, m/s^2.", min=0.0,
          max=20.0),
    Param("stand_threshold", 0.3, "Std of |acceleration| below which the wearer is standing, m/s^2 (at most "
          "walk_threshold).", min=0.0, max=20.0),
    Param("min_walk_s", 0.2, "How long the deviation must stay above walk_threshold to switch to walking, s.",
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
    Param("class_priorities", [f"{name}:{value}" for name, value in CLASS_PRIORITIES.items()],
          "Class importance as 'class name:priority' (detector class names, and the corridor's hazards: obstacle, "
          "head-height obstacle, step down, steps up).", check=_class_priority_entries),
    Param("default_class_priority", 1, "Importance of classes not listed in class_priorities.", min=0, max=100),
    Param("critical_classes", sorted(CRITICAL_CLASSES), "Classes (and hazards) whose nearness is a critical "
          "warning."),
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
    Param("critical_cooldown_walking_s", 3.0, "A still critical obstacle is warned of again this long after its "
          "last request while walking, seconds (the only repeat rule: speech's repeat_cooldown_s is shorter).",
          min=0.0, max=60.0),
    Param("critical_cooldown_standing_s", 5.0, "The same while standing, seconds.", min=0.0, max=60.0),
    Param("critical_ttc_s", 2.0, "A critical class closing in faster than ttc_min_speed_mps is critical when its "
          "time to collision (distance / approach speed) is under this, seconds.", min=0.0, max=30.0),
    Param("ttc_min_speed_mps", 0.5, "Approach speed from which the time to collision counts, m/s.", min=0.0,
          max=20.0),
    Param("ttc_hysteresis_s", 0.5, "How much longer the time to collision must get to stop being critical, s.",
          min=0.0, max=10.0),
    Param("critical_confirm_frames", 3, "Consecutive frames a track must be seen, and frames it must be in the "
          "critical state, before it is a critical warning (announced on that frame; until then it is held).",
          min=1, max=100),
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
    Param("heartbeat_timeout_s", 4.0, "Seconds without the /diagnostics status of the node behind an input "
          "(detections_status, depth_status; sent every second whatever its rate) after which that node is dead "
          "and its input out, however slow its data; 0: data silence only. At least 2 (one status may be late).",
          min=0.0, max=600.0),
    Param("detections_status", "aria_nav/detector", "/diagnostics status that is the detector's heartbeat."),
    Param("depth_status", "aria_nav/depth", "/diagnostics status that is the depth node's heartbeat."),
    Param("camera_status", "aria_nav/camera", "/diagnostics status that is the camera's heartbeat (its death is "
          "said as the camera's, once)."),
    Param("tilt_time_constant_s", 1.0, "Time constant with which the accelerometer corrects the gyroscope's "
          "estimate of gravity (longer: steadier while walking, slower to recover from drift), seconds.",
          min=0.05, max=30.0),
    Param("tilt_max_deviation", 5.0, "IMU samples whose |acceleration| differs from g by more than this do not "
          "correct the gravity estimate (foot strikes), m/s^2.", min=0.1, max=50.0),
    Param("camera_height_m", 1.6, "Height of the RGB camera above the floor (the wearer's eye height), for the "
          "height band of obstacles, metres.", min=0.3, max=2.5),
    Param("floor_band_top_m", 0.3, "An obstacle whose top is lower than this is in the floor band, metres.",
          min=0.0, max=2.0),
    Param("head_band_bottom_m", 1.2, "An obstacle whose bottom is higher than this (free space below) is in the "
          "head band, metres.", min=0.0, max=3.0),
    Param("corridor_enabled", True, "Run the walking-corridor model (hazards without a class) on metric depth; "
          "with approximate depth it is off whatever this says."),
    Param("corridor_width_m", 0.8, "Width of the walking corridor straight ahead, metres.", min=0.2, max=4.0),
    Param("corridor_length_m", 4.0, "How far ahead the corridor reaches, metres.", min=1.0, max=15.0),
    Param("corridor_min_forward_m", 0.3, "Where the corridor starts (nearer: the wearer's own feet), metres.",
          min=0.0, max=2.0),
    Param("corridor_bin_m", 0.1, "Depth of the corridor's slices, metres.", min=0.02, max=1.0),
    Param("corridor_stride", 2, "Every n-th depth row and column is used by the corridor model.", min=1, max=16),
    Param("corridor_min_points", 12, "Points of a kind in one slice for a hazard, at Aria's RGB field of view on a "
          "518-pixel depth image with stride 2 (scaled to the actual sampling).", min=1, max=10000),
    Param("ground_method", "histogram", "Ground fit: histogram (most common height near the camera-height prior) "
          "or ransac.", choices=GROUND_METHODS),
    Param("ground_prior_window_m", 0.5, "Ground candidates lie within this of the camera-height prior, metres.",
          min=0.05, max=2.0),
    Param("ground_tolerance_m", 0.05, "Points within this of the fitted ground are ground, metres.", min=0.01,
          max=0.3),
    Param("drop_min_m", 0.08, "Ground this much lower than the fitted ground is a step down, metres.", min=0.02,
          max=1.0),
    Param("step_max_m", 0.3, "Highest step up; anything rising higher within one slice is an obstacle, metres.",
          min=0.05, max=1.0),
    Param("wearer_height_m", 1.8, "The wearer's height: head-height obstacles are looked for up to this plus "
          "head_margin_m, metres.", min=0.5, max=2.5),
    Param("head_margin_m", 0.1, "Clearance above the wearer's head, metres.", min=0.0, max=1.0),
    Param("camera_source", "", "The camera node's source (sample, vrs, ...): the IMU-to-camera extrinsics come "
          "from its calibration where it has one (empty: IMU with the device's axes, camera looking forward)."),
    Param("camera_path", "", "The camera node's input path (the VRS file whose calibration is read)."),
    Param("use_slam_cameras", True, "Use the SLAM cameras' detections as peripheral obstacles."),
    Param("publish_markers", True, "Publish obstacle markers (boxes and labels) for rviz, and the walking "
          "corridor's outline on the fitted ground while the corridor model runs."),
    Param("publish_annotated", True, "Publish the RGB image with obstacles drawn (only while someone subscribes)."),
]


def fusion_config(cfg) -> FusionConfig:
    if cfg.stand_threshold > cfg.walk_threshold:
        raise ParameterError("stand_threshold", f"{cfg.stand_threshold} exceeds walk_threshold "
                                                f"{cfg.walk_threshold}")
    if cfg.corridor_length_m <= cfg.corridor_min_forward_m:
        raise ParameterError("corridor_length_m", f"{cfg.corridor_length_m} does not exceed corridor_min_forward_m "
                                                  f"{cfg.corridor_min_forward_m}")
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
        critical_cooldown_standing_s=cfg.critical_cooldown_standing_s, critical_ttc_s=cfg.critical_ttc_s,
        ttc_min_speed_mps=cfg.ttc_min_speed_mps, ttc_hysteresis_s=cfg.ttc_hysteresis_s,
        critical_confirm_frames=cfg.critical_confirm_frames, confirm_frames=cfg.confirm_frames,
        obstacle_cooldown_s=cfg.obstacle_cooldown_s, min_gap_s=cfg.min_gap_s,
        announce_max_distance_m=cfg.announce_max_distance_m,
        min_priority_without_distance=cfg.min_priority_without_distance)
    return FusionConfig(
        centre_zone=cfg.centre_zone, peripheral_yaw_deg=cfg.peripheral_yaw_deg,
        box_distance=BoxDistanceConfig(cfg.box_core_fraction, cfg.box_depth_percentile, cfg.box_min_valid_fraction,
                                       cluster_bin=cfg.box_cluster_bin, min_cluster_share=cfg.box_min_cluster_share),
        tracker=TrackerConfig(min_iou=cfg.track_min_iou, max_centre_jump=cfg.track_max_centre_jump,
                              max_missed=cfg.track_max_missed, speed_window_s=cfg.speed_window_s,
                              distance_filter_frames=cfg.distance_filter_frames),
        motion=MotionConfig(window_s=cfg.motion_window_s, walk_window_s=cfg.walk_window_s, walk_threshold=cfg.walk_threshold,
                            stand_threshold=cfg.stand_threshold, min_walk_s=cfg.min_walk_s,
                            min_stand_s=cfg.min_stand_s),
        policy=policy, tilt=TiltConfig(cfg.tilt_time_constant_s, cfg.tilt_max_deviation),
        corridor=CorridorConfig(
            width_m=cfg.corridor_width_m, length_m=cfg.corridor_length_m, min_forward_m=cfg.corridor_min_forward_m,
            bin_m=cfg.corridor_bin_m, stride=cfg.corridor_stride, ground_tolerance_m=cfg.ground_tolerance_m,
            drop_min_m=cfg.drop_min_m, step_max_m=cfg.step_max_m, head_min_m=cfg.head_band_bottom_m,
            wearer_height_m=cfg.wearer_height_m, head_margin_m=cfg.head_margin_m,
            min_points=cfg.corridor_min_points,
            ground=GroundConfig(method=cfg.ground_method, camera_height_m=cfg.camera_height_m,
                                prior_window_m=cfg.ground_prior_window_m)) if cfg.corridor_enabled else None,
        camera_height_m=cfg.camera_height_m,
        height_bands=HeightBandConfig(cfg.floor_band_top_m, cfg.head_band_bottom_m))


MIN_HEARTBEAT_TIMEOUT_S = 2.0  # twice the /diagnostics period


def vision_health(cfg, start_s: float) -> VisionHealth:
    if 0 < cfg.heartbeat_timeout_s < MIN_HEARTBEAT_TIMEOUT_S:
        raise ParameterError("heartbeat_timeout_s", f"{cfg.heartbeat_timeout_s} is below "
                                                    f"{MIN_HEARTBEAT_TIMEOUT_S} (statuses come every second); "
                                                    "0 turns the heartbeat watch off")
    if len({cfg.detections_status, cfg.depth_status, cfg.camera_status}) < 3:
        raise ParameterError("depth_status", f"detections_status '{cfg.detections_status}', depth_status "
                                             f"'{cfg.depth_status}' and camera_status '{cfg.camera_status}' must "
                                             "differ: each node has a status of its own")

    def rate(min_rate_hz: float) -> RatePolicy:
        return RatePolicy(cfg.stale_after_s, cfg.stale_intervals, max(cfg.max_stale_after_s, cfg.stale_after_s),
                          min_rate_hz)

    return VisionHealth(cfg.stale_after_s, cfg.startup_grace_s, start_s,
                        {DETECTIONS: rate(cfg.detections_min_rate_hz), DEPTH: rate(cfg.depth_min_rate_hz)},
                        OutagePolicy(cfg.restore_messages, cfg.flap_window_s, cfg.restore_stable_s),
                        cfg.slow_repeat_s, cfg.heartbeat_timeout_s)


GEN1_PERIPHERAL_YAW_DEG = 38.0  # where the camera's source has no calibration


def source_calibration(source: str, path: str):
    """(RGB camera-from-IMU rotation as nested tuples or None, the SLAM cameras' yaw from the RGB camera's or
    None, where they come from) for the camera's source."""
    try:
        mounts, origin = camera_mounts(source, path)
    except Exception as exc:  # a recording the camera node will itself refuse, with its own clear error
        return None, None, f"default axes ({source} calibration in '{path}' unreadable: {str(exc)[:80]})"
    yaw = peripheral_yaw_deg(mounts)
    by_frame = {m.child: m.rotation for m in mounts}
    if topics.IMU_FRAME not in by_frame or topics.RGB_FRAME not in by_frame:
        return None, yaw, "no IMU calibration for this source: IMU axes taken as the device's (x forward, z up)"
    rotation = by_frame[topics.RGB_FRAME].T @ by_frame[topics.IMU_FRAME]
    return tuple(tuple(float(v) for v in row) for row in rotation), yaw, origin


CORRIDOR_ON, CORRIDOR_WAITING = "on (metric depth)", "off until the depth stage says its depth is metric"
CORRIDOR_APPROXIMATE = "off: depth is approximate (relative model); use a metric Depth-Anything-V2 model"
CORRIDOR_DISABLED = "off (corridor_enabled: false)"
DEGRADED_PRIORITY = 100.0  # above any obstacle: the wearer must know the warnings have stopped
LIVE_PENDING, REPLAY_PENDING = 16, 256  # detection sets waiting for depth (replay: the detector may run ahead)
REPLAY_CACHE = 32  # depth images kept in replay at least (depth may run ahead)
RGB_CACHE = 8  # RGB frames kept for the annotated image (detection latency, in frames)


class FusionNode(AriaNode):
    def __init__(self):
        super().__init__("fusion")
        self.cfg = declare_parameters(self, PARAMS)
        cfg = self.cfg
        extrinsics, calibrated_yaw, extrinsics_origin = source_calibration(cfg.camera_source, cfg.camera_path)
        yaw = cfg.peripheral_yaw_deg or calibrated_yaw or GEN1_PERIPHERAL_YAW_DEG
        self.config: FusionConfig = dataclasses.replace(fusion_config(cfg), camera_from_imu=extrinsics,
                                                        peripheral_yaw_deg=yaw)
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
        self._tilt_pub = self.create_publisher(TransformStamped, topics.WEARER_TILT, result_qos())
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
        self.create_subscription(Odometry, topics.ODOM, self._on_odometry, sensor_qos(depth=200))
        self._slam_seen = {SLAM_LEFT: 0, SLAM_RIGHT: 0} if cfg.use_slam_cameras else {}
        self._slam_silence_reported = False
        self._started = time.monotonic()
        self.create_subscription(String, topics.DEPTH_MODE, self._on_depth_mode, latched_qos())
        self._heartbeat_inputs = {cfg.detections_status: DETECTIONS, cfg.depth_status: DEPTH,
                                  cfg.camera_status: CAMERA}
        if cfg.heartbeat_timeout_s > 0:
            self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diagnostics, reliable_qos(50))
        self.create_subscription(String, topics.SOURCE_STATE, self._on_source_state, latched_qos())
        self._annotated_pub = None
        self._annotator: Optional[LatestWorker] = None
        if cfg.publish_annotated:
            self._annotated_pub = self.create_publisher(Image, topics.ANNOTATED_IMAGE, sensor_qos())
            self.create_subscription(Image, topics.RGB_IMAGE, self._on_rgb, sensor_qos(depth=2))
            self._annotator = LatestWorker(self._draw, self._on_worker_error, name="annotate")
        self.create_timer(0.1, self._on_timer)
        self.diag.set_value("motion_state", self._last_motion)
        self.diag.set_value("distance_kind", f"{APPROXIMATE} (until {topics.DEPTH_MODE} says metric)")
        self.diag.set_value("tilt", "no IMU yet: camera taken as level")
        self._corridor_state = CORRIDOR_WAITING if self.pipeline.corridor is not None else CORRIDOR_DISABLED
        self.diag.set_value("corridor", self._corridor_state)
        if self.pipeline.corridor is not None:
            self.get_logger().info(f"corridor model: {cfg.corridor_width_m} m x {cfg.corridor_length_m} m, "
                                   f"{self._corridor_state}")
        self.get_logger().info(f"fusion: centre zone ±{cfg.centre_zone:.0%}, bands {cfg.band_limits_m} m, "
                               f"SLAM cameras {'awaited' if cfg.use_slam_cameras else 'off'}, IMU-to-camera "
                               f"extrinsics from {extrinsics_origin}, SLAM cameras {yaw:.0f} degrees to the sides")

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
            self._class_names[camera] = msg_to_class_names(msg)
        except DetectionFormatError as exc:
            self._input_error(f"{camera}: {exc}")

    def _on_depth_mode(self, msg: String) -> None:
        try:
            mode = msg_to_distance_kind(msg)
        except ValueError as exc:
            self._input_error(str(exc))
            return
        if mode != self._distance_kind:
            self.get_logger().info(f"depth is {mode}: distances are spoken "
                                   f"{'in metres' if mode == METRIC else 'as near/far bands, not metres'}")
        if self.pipeline.corridor is not None and mode != METRIC and self._corridor_state != CORRIDOR_APPROXIMATE:
            self.get_logger().warning("corridor model off: depth is approximate (a relative model); walls, poles, "
                                      "head-height obstacles and steps need a metric Depth-Anything-V2 model")
        self._distance_kind = mode
        self.pipeline.depth_is_metric = mode == METRIC
        self.diag.set_value("distance_kind", mode)
        if self.pipeline.corridor is not None:
            self._corridor_state = CORRIDOR_ON if mode == METRIC else CORRIDOR_APPROXIMATE
            self.diag.set_value("corridor", self._corridor_state)

    def _on_info(self, camera: str, msg: CameraInfo) -> None:
        try:
            self._intrinsics[camera] = camera_info_to_intrinsics(msg)
        except ImageFormatError as exc:
            self._input_error(f"{camera} camera_info: {exc}")

    def _on_imu(self, msg: Imu) -> None:
        a, w = msg.linear_acceleration, msg.angular_velocity
        time_s = stamp_to_ns(msg.header.stamp) / 1e9
        # REP 145: a first covariance element of -1 means the gyroscope is not provided.
        gyro = None if msg.angular_velocity_covariance[0] == -1.0 else (w.x, w.y, w.z)
        self.pipeline.wearer.add_imu(time_s, (a.x, a.y, a.z), gyro)
        self.pipeline.motion.add(time_s, a.x, a.y, a.z)
        self._motion_changed(time_s, f"acceleration deviation {self.pipeline.motion.deviation:.2f} m/s^2")

    def _on_odometry(self, msg: Odometry) -> None:
        q, v, w = msg.pose.pose.orientation, msg.twist.twist.linear, msg.twist.twist.angular
        odom_from_device = quaternion_matrix(q.x, q.y, q.z, q.w)  # the twist is in the device's axes (REP 105)
        velocity = odom_from_device @ np.array([v.x, v.y, v.z])
        yaw_rate = float((odom_from_device @ np.array([w.x, w.y, w.z]))[2])
        time_s = stamp_to_ns(msg.header.stamp) / 1e9
        vio = self.pipeline.vio
        vio.add(time_s, (q.x, q.y, q.z, q.w), velocity, yaw_rate)
        self.diag.set_value("vio_speed_mps", f"{vio.speed_mps:.2f}")
        self.diag.set_value("vio_heading_deg", f"{vio.heading_deg:.0f}")
        self.diag.set_value("turning", vio.turning)
        self._motion_changed(time_s, f"VIO speed {vio.speed_mps:.2f} m/s")

    def _motion_changed(self, time_s: float, why: str) -> None:
        state = self.pipeline.motion_state(time_s)
        source = "vio" if self.pipeline.vio.active(time_s) else "imu"
        self.diag.set_value("motion_source", source)
        if state != self._last_motion:
            self.get_logger().info(f"wearer is {state} ({why})")
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
            self._slam_seen[camera] += 1
            self._process_frame(camera, msg.header, detections, None)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        now = time.monotonic()
        # How late statuses are read: the stamp against the same clock (ROS time, like the senders'), in seconds.
        self.health.status_read(self.get_clock().now().nanoseconds / 1e9, stamp_to_ns(msg.header.stamp) / 1e9)
        for status in msg.status:
            name = self._heartbeat_inputs.get(status.name)
            if name is not None:
                self.health.heard(name, now, next((kv.value for kv in status.values if kv.key == "pid"), None))

    def _on_source_state(self, msg: String) -> None:
        try:
            state = json.loads(msg.data).get("state")
        except (ValueError, AttributeError):
            self._input_error(f"{topics.SOURCE_STATE} is not a JSON object with a 'state'")
            return
        if state == "ended" and self.health.end_of_input():
            self.get_logger().info("the camera's recording ended")
            self._send(SpeechRequest(event=ENDED, urgency=INFO, priority=DEGRADED_PRIORITY, key="source:ended",
                                     stamp_ns=self.get_clock().now().nanoseconds))
        elif state == "playing":
            self.health.input_started(time.monotonic())

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
            markers = obstacle_markers(result.obstacles, header, intrinsics)
            if result.corridor is not None:
                markers.markers += corridor_markers(result.corridor, result.tilt, self.config.corridor, header)
            self._markers_pub.publish(markers)
        if camera == RGB:
            self.diag.record(header.stamp)
            self._publish_tilt(header, result.tilt)
            if result.corridor is not None:
                ground = result.corridor.ground
                self.diag.set_value("corridor_ms", f"{result.corridor.elapsed_ms:.2f}")
                self.diag.set_value("ground", f"{ground.camera_height_m:.2f} m below the camera, slope "
                                              f"{ground.slope_deg:.1f} deg"
                                              + ("" if ground.fitted else " (not fitted: prior)"))
                self.diag.set_value("hazards", ", ".join(h.kind for h in result.corridor.hazards) or "none")
                free = [side for side, clear in (("left", result.corridor.free_left),
                                                 ("right", result.corridor.free_right)) if clear]
                self.diag.set_value("free_sides", " and ".join(free) or "neither")
            self._queue_annotation(header, result)
        if result.request is not None and self.health.reason != DETECTIONS:
            self._send(dataclasses.replace(result.request, distance_kind=self._distance_kind))

    def _publish_tilt(self, header: Header, tilt: Tilt) -> None:
        """The RGB camera's optical frame in the wearer frame (rotation only, same origin), as used for this frame."""
        msg = TransformStamped()
        msg.header.stamp = header.stamp
        msg.header.frame_id = topics.WEARER_FRAME
        msg.child_frame_id = header.frame_id or topics.RGB_FRAME
        q = msg.transform.rotation
        q.x, q.y, q.z, q.w = tilt.quaternion_xyzw()
        self._tilt_pub.publish(msg)
        self.diag.set_value("tilt", f"pitch {tilt.pitch_down_deg:.1f} deg down, roll {tilt.roll_right_deg:.1f} deg "
                                    f"right" + ("" if tilt.from_imu else " (no IMU yet: camera taken as level)"))

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
        rate = self.health.inputs.get(reason)  # none for the CAMERA: only its heartbeat is watched
        if event == DEGRADED and self.health.node_silent(reason, now):
            status = next(name for name, input_name in self._heartbeat_inputs.items() if input_name == reason)
            self.get_logger().warning(f"vision degraded: no {reason}: {status} silent on {topics.DIAGNOSTICS} for "
                                      f"{self.cfg.heartbeat_timeout_s:g} s (the node died or hangs)")
        elif event == DEGRADED and self.health.node_restarted(reason):
            self.get_logger().warning(f"vision degraded: no {reason}: its node was restarted (a new pid on "
                                      f"{topics.DIAGNOSTICS}), waiting for its first message")
        elif event == DEGRADED:
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
            heartbeat = self.health.heartbeats.get(name)
            if heartbeat is not None and heartbeat.last is None:
                self.diag.set_value(f"{name}_node", "not heard")
            elif heartbeat is not None:
                alive = "silent" if heartbeat.silent(now) else "alive"
                self.diag.set_value(f"{name}_node", f"{alive} ({now - heartbeat.last:.1f} s ago)")
        for key, value in self.health.record().items():
            self.diag.set_value(key, value)
        self.diag.set_value("uptime_s", f"{now - self._started:.1f}")  # the speech node's guidance watch reads it
        self.diag.set_value("pairs", self.pairer.paired)
        self.diag.set_value("pairing_misses", self.pairer.misses)
        self.diag.set_value("waiting_for_depth", self.pairer.waiting)
        self.diag.set_value("acceleration_deviation", f"{self.pipeline.motion.deviation:.2f}")
        for camera, tracker in self.pipeline.trackers.items():
            self.diag.set_value(f"tracks_{camera}", len(tracker.tracks))
        for key, value in self._counts.items():
            self.diag.set_value(key, value)
        for camera, seen in self._slam_seen.items():
            self.diag.set_value(f"{camera}_input", f"receiving ({seen} frames)" if seen else "no input")
        silent = [camera for camera, seen in self._slam_seen.items() if not seen]
        if silent and not self._slam_silence_reported and now - self._started > self.cfg.startup_grace_s:
            self.get_logger().warning(f"no input from the SLAM camera detectors ({', '.join(silent)}) after "
                                      f"{self.cfg.startup_grace_s:.0f} s: peripheral obstacles are not reported")
            self._slam_silence_reported = True
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
