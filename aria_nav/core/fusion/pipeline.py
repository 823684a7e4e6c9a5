"""One frame of detections (with depth for the RGB camera) in, rated obstacles and at most one speech request out.

Everything the fusion node does between decoding messages and publishing results, without ROS: distance inside
each box, geometry, tracking per camera, bands, priority, the wearer's motion state and the guidance policy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.detections import Detections
from aria_nav.core.fusion.bands import band_of
from aria_nav.core.fusion.box_distance import BoxDistanceConfig, box_depth, occluders_of
from aria_nav.core.fusion.geometry import (LEFT, RIGHT, clock_of_bearing, direction_of_bearing,
                                           direction_of_column, ground_distance, optical_point)
from aria_nav.core.fusion.motion import MotionConfig, MotionDetector
from aria_nav.core.fusion.obstacle import RGB, SLAM_LEFT, SLAM_RIGHT, Obstacle
from aria_nav.core.fusion.policy import GuidancePolicy, PolicyConfig
from aria_nav.core.fusion.tracker import Measurement, ObstacleTracker, Track, TrackerConfig
from aria_nav.core.speech.request import SpeechRequest

NAN3 = (math.nan, math.nan, math.nan)
# Another camera's latest obstacles compete with this frame's for the one request per frame while this recent.
RECENT_FRAME_S = 0.5


@dataclass(frozen=True)
class FusionConfig:
    centre_zone: float = 0.3  # half-width of the "ahead" zone, fraction of the image width
    # Horizontal angle between the RGB camera's axis and each peripheral (SLAM) camera's axis; 38 degrees is what
    # the factory calibration of Aria (gen 1) glasses gives. The left camera looks left (negative bearings).
    peripheral_yaw_deg: float = 38.0
    box_distance: BoxDistanceConfig = BoxDistanceConfig()
    tracker: TrackerConfig = TrackerConfig()
    motion: MotionConfig = MotionConfig()
    policy: PolicyConfig = field(default_factory=PolicyConfig)


@dataclass
class FrameResult:
    camera: str
    obstacles: List[Obstacle]
    left: List[str]  # keys of the obstacles that left in this frame
    request: Optional[SpeechRequest]


class FusionPipeline:
    def __init__(self, config: FusionConfig = FusionConfig()):
        self.config = config
        self.motion = MotionDetector(config.motion)
        self.policy = GuidancePolicy(config.policy)
        # Separate id ranges per camera keep obstacle ids unique on the shared obstacles topic.
        self.trackers = {camera: ObstacleTracker(config.tracker, first_id=1 + 1_000_000 * index)
                         for index, camera in enumerate((RGB, SLAM_LEFT, SLAM_RIGHT))}
        self._bands: Dict[str, str] = {}  # obstacle key -> band (for hysteresis)
        # From the RGB camera, once seen: the bearing of its centre-zone edge (peripheral obstacles within it are
        # "ahead" too) and of its image edge (peripheral obstacles within its view are the RGB camera's to report).
        self._ahead_half_angle_deg: Optional[float] = None
        self._rgb_half_fov_deg: Optional[float] = None
        self._latest: Dict[str, List[Obstacle]] = {}  # camera -> obstacles of its latest frame

    def process(self, camera: str, detections: Detections, class_names: Sequence[str],
                intrinsics: PinholeIntrinsics, depth: Optional[np.ndarray], stamp_ns: int) -> FrameResult:
        """`depth`: metric depth of the RGB frame (None when unavailable; always None for peripheral cameras)."""
        time_s = stamp_ns / 1e9
        if camera == RGB:
            width = intrinsics.width
            self._ahead_half_angle_deg = intrinsics.bearing_deg(width * (0.5 + self.config.centre_zone))
            self._rgb_half_fov_deg = min(-intrinsics.bearing_deg(-0.5), intrinsics.bearing_deg(width - 0.5))
        measured = [self._measure(camera, i, detections, intrinsics, depth) for i in range(len(detections))]
        seen, left = self.trackers[camera].update([m for m, _ in measured], time_s)
        obstacles = [self._obstacle(camera, track, point, class_names, intrinsics, stamp_ns)
                     for track, (_, point) in zip(seen, measured)]
        motion_state = self.motion.state
        for obstacle in obstacles:
            self.policy.rate(obstacle, motion_state)
        left_keys = [f"{camera}:{track.track_id}" for track in left]
        for key in left_keys:
            self._bands.pop(key, None)
        self.policy.forget(left_keys)
        self._latest[camera] = obstacles
        candidates = [o for others in self._latest.values() for o in others
                      if abs(stamp_ns - o.stamp_ns) <= RECENT_FRAME_S * 1e9]
        request = self.policy.decide(candidates, motion_state, time_s)
        return FrameResult(camera, obstacles, left_keys, request)

    def _measure(self, camera: str, index: int, detections: Detections, intrinsics: PinholeIntrinsics,
                 depth: Optional[np.ndarray]):
        """(tracker measurement, optical-frame point or NaNs) of detection `index`."""
        box = detections.boxes[index]
        distance, point = math.nan, NAN3
        if camera == RGB and depth is not None:
            found = box_depth(depth, box, (intrinsics.width, intrinsics.height), self.config.box_distance,
                              intrinsics, occluders_of(detections.boxes, index))
            if math.isfinite(found.depth_z):
                point = optical_point(intrinsics, found.u, found.v, found.depth_z)
                distance = ground_distance(point[0], point[2])
        measurement = Measurement(box=box, class_id=int(detections.class_ids[index]),
                                  score=float(detections.scores[index]), distance_m=distance)
        return measurement, point

    def _obstacle(self, camera: str, track: Track, point, class_names: Sequence[str],
                  intrinsics: PinholeIntrinsics, stamp_ns: int) -> Obstacle:
        key = f"{camera}:{track.track_id}"
        u = float(track.box[0] + track.box[2]) / 2.0
        if camera == RGB:
            bearing = intrinsics.bearing_deg(u)
            direction = direction_of_column(u, intrinsics.width, self.config.centre_zone)
        else:
            side = -1.0 if camera == SLAM_LEFT else 1.0
            bearing = side * self.config.peripheral_yaw_deg + intrinsics.bearing_deg(u)
            if self._ahead_half_angle_deg is None:  # no RGB frame yet: the camera's side
                direction = LEFT if camera == SLAM_LEFT else RIGHT
            else:
                direction = direction_of_bearing(bearing, self._ahead_half_angle_deg)
        policy = self.config.policy
        band = band_of(track.distance_m, policy.band_limits_m, self._bands.get(key), policy.band_hysteresis_m)
        self._bands[key] = band
        name = class_names[track.class_id] if 0 <= track.class_id < len(class_names) else f"class {track.class_id}"
        seen_by_rgb = camera != RGB and self._rgb_half_fov_deg is not None and abs(bearing) < self._rgb_half_fov_deg
        return Obstacle(track_id=track.track_id, camera=camera, class_id=track.class_id, class_name=name,
                        box=track.box, score=track.score, distance_m=track.distance_m, position=point,
                        bearing_deg=bearing, direction=direction, clock=clock_of_bearing(bearing), band=band,
                        approach_mps=track.approach_mps, confirmed_frames=track.longest_run,
                        speak=not seen_by_rgb, stamp_ns=stamp_ns)
