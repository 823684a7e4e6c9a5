"""The fusion node's parameter table and what turns its values into the core's configs (FusionConfig,
SessionConfig, VisionHealth), with the checks across parameters; the IMU-to-camera extrinsics of the camera's source.
"""
from __future__ import annotations

from typing import Optional

from aria_nav import topics
from aria_nav.core.fusion.box_distance import BoxDistanceConfig
from aria_nav.core.fusion.motion import MotionConfig
from aria_nav.core.fusion.pipeline import FusionConfig
from aria_nav.core.fusion.policy import PolicyConfig
from aria_nav.core.fusion.session import SessionConfig
from aria_nav.core.fusion.tracker import TrackerConfig
from aria_nav.core.fusion.watchdog import DEPTH, DETECTIONS, VisionHealth
from aria_nav.core.hazards.corridor import CorridorConfig
from aria_nav.core.hazards.ground import GROUND_METHODS, GroundConfig
from aria_nav.core.hazards.names import CLASS_PRIORITIES, CRITICAL_CLASSES
from aria_nav.core.health import OutagePolicy, RatePolicy
from aria_nav.core.wearer_frame import HeightBandConfig, TiltConfig
from aria_nav.ros.params import Param, ParameterError, config_from, field_default
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
    Param("process_every_frame", field_default(SessionConfig, "process_every_frame"),
          "Deterministic replay: reliable QoS on detections and depth and every frame processed in order "
          "(false: newest frames, sensor-data QoS)."),
    Param("pair_tolerance_s", field_default(SessionConfig, "pair_tolerance_s"),
          "Largest stamp difference between a detection set and the depth image it is "
          "paired with, seconds.", min=0.0, max=1.0),
    Param("pair_max_wait_s", field_default(SessionConfig, "pair_max_wait_s"),
          "How long a detection set waits for the depth image of its frame (receive "
          "time) before it is paired with an earlier one or dropped, seconds (process_every_frame: no limit).",
          min=0.0, max=5.0),
    Param("depth_cache", field_default(SessionConfig, "depth_cache"),
          "Depth images kept for pairing (process_every_frame: at least 32).", min=1, max=64),
    Param("centre_zone", field_default(FusionConfig, "centre_zone"),
          "Half-width of the 'ahead' zone as a fraction of the image width (0.3: the middle "
          "60% of the image is ahead).", min=0.0, max=0.5),
    Param("peripheral_yaw_deg", 0.0, "Horizontal angle between the RGB camera's axis and each SLAM camera's axis, "
          "degrees; 0: from the calibration of the camera's source (camera_source, camera_path: Aria Gen1 about 38, "
          "Gen2's side pair about 84, the sample 60), 38 where it has none.", min=0.0, max=90.0),
    Param("box_core_fraction", field_default(BoxDistanceConfig, "core_fraction"),
          "Width and height of the central part of a box whose depths say which surface is the object, "
          "as a fraction of the box (with metric depth its nearest part is then found over the whole box, the "
          "floor left out).", min=0.05, max=1.0),
    Param("box_depth_percentile", field_default(BoxDistanceConfig, "percentile"),
          "Percentile of the horizontal ranges of the object's depth cluster taken "
          "as its distance (low: its nearest part).", min=0.0, max=100.0),
    Param("box_min_valid_fraction", field_default(BoxDistanceConfig, "min_valid_fraction"),
          "Smallest fraction of valid depth pixels in the central part for a "
          "distance.", min=0.0, max=1.0),
    Param("box_cluster_bin", field_default(BoxDistanceConfig, "cluster_bin"),
          "Width of the depth histogram's bins separating the surfaces in a box, in "
          "log-depth (0.05: 5% of the depth).", min=0.005, max=1.0),
    Param("box_min_cluster_share", field_default(BoxDistanceConfig, "min_cluster_share"),
          "The nearest depth cluster holding this share of a box's valid pixels is "
          "the object (nearer, smaller ones are something else); none: the largest.", min=0.0, max=1.0),
    Param("track_min_iou", field_default(TrackerConfig, "min_iou"),
          "Smallest box overlap (IoU) continuing a track.", min=0.0, max=1.0),
    Param("track_max_centre_jump", field_default(TrackerConfig, "max_centre_jump"),
          "Largest centre displacement continuing a track without overlap, in box "
          "diagonals.", min=0.0, max=10.0),
    Param("track_max_missed", field_default(TrackerConfig, "max_missed"),
          "Frames a track may go unseen before the obstacle has left.", min=0, max=1000),
    Param("distance_filter_frames", field_default(TrackerConfig, "distance_filter_frames"),
          "A track's distance is the median of its last this many frames (moved "
          "along its approach speed): one glitched frame cannot move it. 1: no filter.", min=1, max=30),
    Param("speed_window_s", field_default(TrackerConfig, "speed_window_s"),
          "Time window of the approach speed estimate, seconds.", min=0.1, max=10.0),
    Param("motion_window_s", field_default(MotionConfig, "window_s"),
          "Sliding window of the std of |acceleration| that decides standing, seconds.",
          min=0.2, max=10.0),
    Param("walk_window_s", field_default(MotionConfig, "walk_window_s"),
          "Sliding window of the std of |acceleration| that decides walking (about one "
          "step, so the first steps show at once), seconds.", min=0.1, max=10.0),
    Param("walk_threshold", field_default(MotionConfig, "walk_threshold"),
          "Std of |acceleration| above which the wearer is walking, m/s^2.", min=0.0,
          max=20.0),
    Param("stand_threshold", field_default(MotionConfig, "stand_threshold"),
          "Std of |acceleration| below which the wearer is standing, m/s^2 (at most "
          "walk_threshold).", min=0.0, max=20.0),
    Param("min_walk_s", field_default(MotionConfig, "min_walk_s"),
          "How long the deviation must stay above walk_threshold to switch to walking, s.",
          min=0.0, max=10.0),
    Param("min_stand_s", field_default(MotionConfig, "min_stand_s"),
          "How long it must stay below stand_threshold to switch to standing, s.", min=0.0,
          max=10.0),
    Param("band_limits_m", list(field_default(PolicyConfig, "band_limits_m")),
          "Upper limits of the very close, close and medium distance bands "
          "(beyond: far), metres.", item_type=float, check=_ascending_positive),
    Param("band_hysteresis_m", field_default(PolicyConfig, "band_hysteresis_m"),
          "How far beyond a band limit an obstacle must get to move to the farther band "
          "(nearer bands are entered at once); also the margin for leaving the critical state, metres.",
          min=0.0, max=2.0),
    Param("band_weights", [field_default(PolicyConfig, "band_weights")[band] for band in BAND_WEIGHT_ORDER],
          "Priority weights of the very close, close, medium, far and "
          "unknown-distance bands.", item_type=float, min=0.0, max=10.0,
          check=lambda v: None if len(v) == 5 else f"has {len(v)} values, needs 5 ({', '.join(BAND_WEIGHT_ORDER)})"),
    Param("class_priorities", [f"{name}:{value}" for name, value in CLASS_PRIORITIES.items()],
          "Class importance as 'class name:priority' (detector class names, and the corridor's hazards: obstacle, "
          "head-height obstacle, step down, steps up).", check=_class_priority_entries),
    Param("default_class_priority", field_default(PolicyConfig, "default_class_priority"),
          "Importance of classes not listed in class_priorities.", min=0, max=100),
    Param("critical_classes", sorted(CRITICAL_CLASSES), "Classes (and hazards) whose nearness is a critical "
          "warning."),
    Param("side_weight", field_default(PolicyConfig, "side_weight"),
          "Priority weight of an obstacle left or right in the RGB image (ahead: 1).",
          min=0.0, max=1.0),
    Param("peripheral_weight", field_default(PolicyConfig, "peripheral_weight"),
          "Priority weight of an obstacle seen only by a SLAM (peripheral) camera.",
          min=0.0, max=1.0),
    Param("approach_gain", field_default(PolicyConfig, "approach_gain"),
          "Priority added per m/s of approach speed.", min=0.0, max=100.0),
    Param("approach_speed_mps", field_default(PolicyConfig, "approach_speed_mps"),
          "Approach speed from which getting nearer is said as 'approaching', m/s.",
          min=0.0, max=10.0),
    Param("critical_distance_walking_m", field_default(PolicyConfig, "critical_distance_walking_m"),
          "Distance under which a critical class is a critical warning while "
          "walking, metres.", min=0.0, max=50.0),
    Param("critical_distance_standing_m", field_default(PolicyConfig, "critical_distance_standing_m"),
          "The same while standing, metres.", min=0.0, max=50.0),
    Param("critical_cooldown_walking_s", field_default(PolicyConfig, "critical_cooldown_walking_s"),
          "A still critical obstacle is warned of again this long after its "
          "last request while walking, seconds (the only repeat rule: speech's repeat_cooldown_s is shorter).",
          min=0.0, max=60.0),
    Param("critical_cooldown_standing_s", field_default(PolicyConfig, "critical_cooldown_standing_s"),
          "The same while standing, seconds.", min=0.0, max=60.0),
    Param("critical_ttc_s", field_default(PolicyConfig, "critical_ttc_s"),
          "A critical class closing in faster than ttc_min_speed_mps is critical when its "
          "time to collision (distance / approach speed) is under this, seconds.", min=0.0, max=30.0),
    Param("ttc_min_speed_mps", field_default(PolicyConfig, "ttc_min_speed_mps"),
          "Approach speed from which the time to collision counts, m/s.", min=0.0,
          max=20.0),
    Param("ttc_hysteresis_s", field_default(PolicyConfig, "ttc_hysteresis_s"),
          "How much longer the time to collision must get to stop being critical, s.",
          min=0.0, max=10.0),
    Param("critical_confirm_frames", field_default(PolicyConfig, "critical_confirm_frames"),
          "Consecutive frames a track must be seen, and frames it must be in the "
          "critical state, before it is a critical warning (announced on that frame; until then it is held).",
          min=1, max=100),
    Param("confirm_frames", field_default(PolicyConfig, "confirm_frames"),
          "Consecutive frames an ordinary obstacle must be seen before it is spoken of.",
          min=1, max=100),
    Param("obstacle_cooldown_s", field_default(PolicyConfig, "obstacle_cooldown_s"),
          "Least time before an ordinary obstacle is spoken of again (only if its "
          "direction changed), seconds.", min=0.0, max=600.0),
    Param("min_gap_s", field_default(PolicyConfig, "min_gap_s"),
          "Least time between two requests except critical ones, and before the same obstacle is "
          "re-announced for a nearer band, seconds.", min=0.0, max=60.0),
    Param("announce_max_distance_m", field_default(PolicyConfig, "announce_max_distance_m"),
          "Obstacles farther than this are not spoken of, metres.", min=0.0,
          max=100.0),
    Param("min_priority_without_distance", field_default(PolicyConfig, "min_priority_without_distance"),
          "Class priority from which an obstacle without a distance "
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
    Param("startup_grace_s", field_default(SessionConfig, "startup_grace_s"),
          "Seconds after start during which inputs never seen are awaited, not "
          "degraded (models load).", min=0.0, max=3600.0),
    Param("heartbeat_timeout_s", field_default(SessionConfig, "heartbeat_timeout_s"),
          "Seconds without the /diagnostics status of the node behind an input "
          "(detections_status, depth_status; sent every second whatever its rate) after which that node is dead "
          "and its input out, however slow its data; 0: data silence only. At least 2 (one status may be late).",
          min=0.0, max=600.0),
    Param("detections_status", field_default(SessionConfig, "detections_status"),
          "/diagnostics status that is the detector's heartbeat."),
    Param("depth_status", field_default(SessionConfig, "depth_status"),
          "/diagnostics status that is the depth node's heartbeat."),
    Param("camera_status", field_default(SessionConfig, "camera_status"),
          "/diagnostics status that is the camera's heartbeat (its death is said as the camera's, once)."),
    Param("tilt_time_constant_s", field_default(TiltConfig, "time_constant_s"),
          "Time constant with which the accelerometer corrects the gyroscope's "
          "estimate of gravity (longer: steadier while walking, slower to recover from drift), seconds.",
          min=0.05, max=30.0),
    Param("tilt_max_deviation", field_default(TiltConfig, "max_deviation"),
          "IMU samples whose |acceleration| differs from g by more than this do not "
          "correct the gravity estimate (foot strikes), m/s^2.", min=0.1, max=50.0),
    Param("camera_height_m", field_default(GroundConfig, "camera_height_m"),
          "Height of the RGB camera above the floor (the wearer's eye height), for the "
          "height band of obstacles, metres.", min=0.3, max=2.5),
    Param("floor_band_top_m", field_default(HeightBandConfig, "floor_top_m"),
          "An obstacle whose top is lower than this is in the floor band, metres.",
          min=0.0, max=2.0),
    Param("head_band_bottom_m", field_default(HeightBandConfig, "head_bottom_m"),
          "An obstacle whose bottom is higher than this (free space below) is in the "
          "head band, metres.", min=0.0, max=3.0),
    Param("corridor_enabled", True, "Run the walking-corridor model (hazards without a class) on metric depth; "
          "with approximate depth it is off whatever this says."),
    Param("corridor_width_m", field_default(CorridorConfig, "width_m"),
          "Width of the walking corridor straight ahead, metres.", min=0.2, max=4.0),
    Param("corridor_length_m", field_default(CorridorConfig, "length_m"),
          "How far ahead the corridor reaches, metres.", min=1.0, max=15.0),
    Param("corridor_min_forward_m", field_default(CorridorConfig, "min_forward_m"),
          "Where the corridor starts (nearer: the wearer's own feet), metres.",
          min=0.0, max=2.0),
    Param("corridor_bin_m", field_default(CorridorConfig, "bin_m"),
          "Depth of the corridor's slices, metres.", min=0.02, max=1.0),
    Param("corridor_stride", field_default(CorridorConfig, "stride"),
          "Every n-th depth row and column is used by the corridor model.", min=1, max=16),
    Param("corridor_min_points", field_default(CorridorConfig, "min_points"),
          "Points of a kind in one slice for a hazard, at Aria's RGB field of view on a "
          "518-pixel depth image with stride 2 (scaled to the actual sampling).", min=1, max=10000),
    Param("ground_method", field_default(GroundConfig, "method"),
          "Ground fit: histogram (most common height near the camera-height prior) "
          "or ransac.", choices=GROUND_METHODS),
    Param("ground_prior_window_m", field_default(GroundConfig, "prior_window_m"),
          "Ground candidates lie within this of the camera-height prior, metres.",
          min=0.05, max=2.0),
    Param("ground_tolerance_m", field_default(CorridorConfig, "ground_tolerance_m"),
          "Points within this of the fitted ground are ground, metres.", min=0.01,
          max=0.3),
    Param("drop_min_m", field_default(CorridorConfig, "drop_min_m"),
          "Ground this much lower than the fitted ground is a step down, metres.", min=0.02,
          max=1.0),
    Param("step_max_m", field_default(CorridorConfig, "step_max_m"),
          "Highest step up; anything rising higher within one slice is an obstacle, metres.",
          min=0.05, max=1.0),
    Param("wearer_height_m", field_default(CorridorConfig, "wearer_height_m"),
          "The wearer's height: head-height obstacles are looked for up to this plus "
          "head_margin_m, metres.", min=0.5, max=2.5),
    Param("head_margin_m", field_default(CorridorConfig, "head_margin_m"),
          "Clearance above the wearer's head, metres.", min=0.0, max=1.0),
    Param("camera_source", "", "The camera node's source (sample, vrs, ...): the IMU-to-camera extrinsics come "
          "from its calibration where it has one (empty: IMU with the device's axes, camera looking forward)."),
    Param("camera_path", "", "The camera node's input path (the VRS file whose calibration is read)."),
    Param("use_slam_cameras", field_default(SessionConfig, "use_slam_cameras"),
          "Use the SLAM cameras' detections as peripheral obstacles."),
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
    policy = config_from(cfg, PolicyConfig, band_limits_m=tuple(cfg.band_limits_m),
                         band_weights=dict(zip(BAND_WEIGHT_ORDER, cfg.band_weights)), class_priorities=priorities,
                         critical_classes=frozenset(cfg.critical_classes))
    corridor = config_from(cfg, CorridorConfig, prefix="corridor_", head_min_m=cfg.head_band_bottom_m,
                           ground=config_from(cfg, GroundConfig, prefix="ground_"))
    return config_from(
        cfg, FusionConfig,
        box_distance=config_from(cfg, BoxDistanceConfig, prefix="box_", percentile=cfg.box_depth_percentile),
        tracker=config_from(cfg, TrackerConfig, prefix="track_"),
        motion=config_from(cfg, MotionConfig, prefix="motion_"),
        policy=policy, tilt=config_from(cfg, TiltConfig, prefix="tilt_"),
        corridor=corridor if cfg.corridor_enabled else None,
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


GEN1_PERIPHERAL_YAW_DEG = field_default(FusionConfig, "peripheral_yaw_deg")  # where the source has no calibration


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
