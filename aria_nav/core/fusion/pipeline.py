"""One frame of detections (with depth for the RGB camera) in, rated obstacles and at most one speech request out.

What the fusion session (core/fusion/session.py) runs on each frame it has resolved, without ROS: distance inside
each box, geometry, tracking per camera, bands, priority, the wearer's motion state and the guidance policy. Which
frames get here, with or without depth, and which of its requests are sent, is the session's to decide.
Distances and bearings of the RGB camera's obstacles are measured in the gravity-aligned wearer frame
(aria_nav/core/wearer_frame.py): the horizontal distance to the object's nearest part and its horizontal angle,
whatever the head's pitch and roll. With metric depth the walking-corridor model (aria_nav/core/hazards/) adds the
hazards no detector names (walls, poles, head-height obstacles, steps): those inside a detection box are that
object and are dropped, the others become obstacles of their own kind, tracked, rated and spoken like named ones.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.detection.detections import Detections
from aria_nav.core.fusion.bands import band_of
from aria_nav.core.fusion.box_distance import BoxDistanceConfig, box_depth, occluder_indices
from aria_nav.core.fusion.geometry import LEFT, RIGHT, clock_of_bearing, direction_of_bearing
from aria_nav.core.fusion.motion import MotionConfig, MotionDetector
from aria_nav.core.fusion.vio_motion import VioMotion, VioMotionConfig
from aria_nav.core.fusion.obstacle import RGB, SLAM_LEFT, SLAM_RIGHT, Obstacle
from aria_nav.core.fusion.policy import GuidancePolicy, PolicyConfig
from aria_nav.core.fusion.tracker import Measurement, ObstacleTracker, Track, TrackerConfig
from aria_nav.core.hazards.corridor import (HAZARD_KINDS, CorridorConfig, CorridorModel, CorridorResult,
                                            HazardSighting)
from aria_nav.core.hazards.names import HAZARD_HEIGHT_BANDS, HAZARD_NAMES, hazard_policy
from aria_nav.core.speech.request import SpeechRequest
from aria_nav.core.wearer_frame import (DEVICE_FROM_OPTICAL, UNKNOWN_HEIGHT, HeightBandConfig, TiltConfig,
                                        Tilt, WearerCloud, WearerFrame, box_region, crop_intrinsics, floor_point,
                                        height_band, surface_bearing_deg)

NAN3 = (math.nan, math.nan, math.nan)
HAZARD_FIRST_ID = 3_000_001  # after the three cameras' id ranges: hazard ids are unique on the obstacles topic
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
    vio_motion: VioMotionConfig = VioMotionConfig()
    policy: PolicyConfig = field(default_factory=hazard_policy)
    # The walking-corridor model (runs only on metric depth); None: off.
    corridor: Optional[CorridorConfig] = field(default_factory=CorridorConfig)
    tilt: TiltConfig = TiltConfig()
    # RGB camera-from-IMU rotation (3x3, row-major); None: the IMU has the device's axes, the camera looks forward.
    camera_from_imu: Optional[Tuple[Tuple[float, ...], ...]] = None
    camera_height_m: float = 1.6  # the camera's height above the floor (height bands)
    height_bands: HeightBandConfig = HeightBandConfig()


@dataclass
class FrameResult:
    camera: str
    obstacles: List[Obstacle]
    left: List[str]  # keys of the obstacles that left in this frame
    request: Optional[SpeechRequest]
    tilt: Optional[Tilt] = None  # the RGB camera's tilt this frame was measured with (RGB frames only)
    corridor: Optional[CorridorResult] = None  # the corridor model's view of this frame (metric depth only)


@dataclass(frozen=True)
class Placement:
    """Where a detection is, measured in one frame."""

    point: Tuple[float, float, float]  # optical frame, the nearest part in the box's direction; NaN when unknown
    height_band: str
    bearing_deg: float = math.nan  # of the centre of the object's surface seen in its box; NaN without depth


class FusionPipeline:
    def __init__(self, config: FusionConfig = FusionConfig()):
        self.config = config
        self.motion = MotionDetector(config.motion)
        self.vio = VioMotion(config.vio_motion)  # device poses, where the glasses give them: preferred to the IMU
        camera_from_imu = DEVICE_FROM_OPTICAL.T if config.camera_from_imu is None else np.array(config.camera_from_imu)
        self.wearer = WearerFrame(camera_from_imu, config.tilt)
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
        self.corridor = CorridorModel(config.corridor) if config.corridor is not None else None
        self.hazard_tracker = ObstacleTracker(config.tracker, first_id=HAZARD_FIRST_ID)
        # Set by the caller from the depth stage's mode: the corridor model measures heights, so only metric
        # depth will do (an approximate depth model's metres would invent steps and hide walls).
        self.depth_is_metric = False
        # Height of the camera above the floor for height bands: the configured one, then the corridor's ground fit.
        self.camera_height_m = config.camera_height_m

    def process(self, camera: str, detections: Detections, class_names: Sequence[str],
                intrinsics: PinholeIntrinsics, depth: Optional[np.ndarray], stamp_ns: int) -> FrameResult:
        """`depth`: metric depth of the RGB frame (None when unavailable; always None for peripheral cameras)."""
        time_s = stamp_ns / 1e9
        tilt = None
        if camera == RGB:
            width = intrinsics.width
            self._ahead_half_angle_deg = intrinsics.bearing_deg(width * (0.5 + self.config.centre_zone))
            self._rgb_half_fov_deg = min(-intrinsics.bearing_deg(-0.5), intrinsics.bearing_deg(width - 0.5))
            tilt = self.wearer.tilt_at(time_s)
        rgb_depth = depth if camera == RGB else None
        measured = self._measure_all(detections, intrinsics, tilt, rgb_depth)
        seen, left = self.trackers[camera].update([m for m, _ in measured], time_s)
        obstacles = [self._obstacle(camera, track, placement, class_names, intrinsics, tilt, stamp_ns)
                     for track, (_, placement) in zip(seen, measured)]
        corridor = None
        if camera == RGB and depth is not None and self.corridor is not None and self.depth_is_metric:
            corridor = self.corridor.process(depth, intrinsics, tilt)
            hazards, hazards_left = self._hazards(corridor, detections, intrinsics, depth.shape, tilt, time_s,
                                                  stamp_ns)
            obstacles += hazards
            left = left + hazards_left
            if corridor.ground.fitted:
                self.camera_height_m = corridor.ground.camera_height_m
        motion_state = self.motion_state(time_s)
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
        return FrameResult(camera, obstacles, left_keys, request, tilt, corridor)

    def motion_state(self, time_s: float) -> str:
        """Walking or standing: from device poses while they are fresh, else from the IMU detector."""
        return self.vio.state if self.vio.active(time_s) else self.motion.state

    def _hazards(self, corridor: CorridorResult, detections: Detections, intrinsics: PinholeIntrinsics,
                 depth_shape, tilt: Tilt, time_s: float, stamp_ns: int):
        """(obstacles, tracks that left) of the corridor's hazards that no detection box holds."""
        sx, sy = intrinsics.width / depth_shape[1], intrinsics.height / depth_shape[0]
        boxes = np.asarray(detections.boxes, np.float64).reshape(-1, 4)
        kept: List[HazardSighting] = []
        for sighting in corridor.hazards:
            u, v = (sighting.pixel[0] + 0.5) * sx, (sighting.pixel[1] + 0.5) * sy
            inside = (boxes[:, 0] <= u) & (u <= boxes[:, 2]) & (boxes[:, 1] <= v) & (v <= boxes[:, 3])
            if not inside.any():  # inside a box it is that object: its name is said, never also "obstacle"
                kept.append(sighting)
        measurements = [Measurement(box=np.array(s.box, np.float32) * np.array([sx, sy, sx, sy], np.float32),
                                    class_id=HAZARD_KINDS.index(s.kind), score=s.confidence, distance_m=s.distance_m)
                        for s in kept]
        seen, left = self.hazard_tracker.update(measurements, time_s)
        obstacles = []
        for track, sighting in zip(seen, kept):
            key = f"{RGB}:{track.track_id}"
            policy = self.config.policy
            band = band_of(track.distance_m, policy.band_limits_m, self._bands.get(key), policy.band_hysteresis_m)
            self._bands[key] = band
            position = tuple(float(c) for c in tilt.rotation.T @ np.array(sighting.nearest))
            obstacles.append(Obstacle(
                track_id=track.track_id, camera=RGB, class_id=-1, class_name=HAZARD_NAMES[sighting.kind],
                box=track.box, score=track.score, distance_m=track.distance_m, position=position,
                bearing_deg=sighting.bearing_deg,
                direction=direction_of_bearing(sighting.bearing_deg, self._ahead_half_angle_deg),
                clock=clock_of_bearing(sighting.bearing_deg), band=band, approach_mps=track.approach_mps,
                confirmed_frames=track.longest_run, stamp_ns=stamp_ns,
                height_band=HAZARD_HEIGHT_BANDS[sighting.kind], kind=sighting.kind))
        return obstacles, left

    def _measure_all(self, detections: Detections, intrinsics: PinholeIntrinsics, tilt: Optional[Tilt],
                     depth: Optional[np.ndarray]):
        """(tracker measurement, placement) of each detection. With depth (RGB camera only): each box's depth
        pixels are put into the wearer frame (only the box's: a frame's boxes rarely cover the image) and the
        box's robust in-box statistic (box_depth) is taken over their horizontal ranges, i.e. the distance along
        the floor to the object's nearest part (with metric depth over the whole box, its floor pixels left out);
        then its point, height band and bearing. A box with other
        detections in front of it is measured again without their clusters, at their depths as each was measured
        in its own box."""
        clouds = [None if depth is None else self._cloud(box, intrinsics, tilt, depth) for box in detections.boxes]
        alone = [None if cloud is None else box_depth(cloud[0].range, cloud[2], (cloud[1].width, cloud[1].height),
                                                      self.config.box_distance, floor=self._floor(cloud[0]))
                 for cloud in clouds]
        measured = []
        for index, box in enumerate(detections.boxes):
            distance, placement = math.nan, Placement(NAN3, UNKNOWN_HEIGHT)
            found = alone[index]
            if found is not None:
                cloud, crop, crop_box = clouds[index]
                occluders = occluder_indices(detections.boxes, index)
                if len(occluders):
                    in_front = [(self._in_crop(detections.boxes[o], box, crop_box), alone[o].depth_z)
                                for o in occluders]
                    found = box_depth(cloud.range, crop_box, (crop.width, crop.height), self.config.box_distance,
                                      occluders=in_front, floor=self._floor(cloud))
                if math.isfinite(found.depth_z):
                    distance = found.depth_z
                    whole = (0, crop.height, 0, crop.width)
                    placement = Placement(floor_point(crop, tilt, found.u, found.v, distance),
                                          height_band(cloud, whole, distance, self.config.height_bands),
                                          surface_bearing_deg(cloud, whole, distance, self.config.height_bands))
            measured.append((Measurement(box=box, class_id=int(detections.class_ids[index]),
                                         score=float(detections.scores[index]), distance_m=distance), placement))
        return measured

    def _floor(self, cloud: WearerCloud) -> Optional[np.ndarray]:
        """The cloud's pixels on the floor (within the height bands' `ground_m` of it), with metric depth only: an
        approximate depth model's metres put the floor at no true height."""
        return cloud.height <= self.config.height_bands.ground_m if self.depth_is_metric else None

    @staticmethod
    def _in_crop(other: np.ndarray, box: np.ndarray, crop_box: np.ndarray) -> np.ndarray:
        """`other` (image pixels) in the pixels of the crop where `box` is `crop_box`."""
        sx = (crop_box[2] - crop_box[0]) / max(float(box[2] - box[0]), 1e-9)
        sy = (crop_box[3] - crop_box[1]) / max(float(box[3] - box[1]), 1e-9)
        return np.array([(other[0] - box[0]) * sx + crop_box[0], (other[1] - box[1]) * sy + crop_box[1],
                         (other[2] - box[0]) * sx + crop_box[0], (other[3] - box[1]) * sy + crop_box[1]])

    def _cloud(self, box: np.ndarray, intrinsics: PinholeIntrinsics, tilt: Optional[Tilt], depth: np.ndarray):
        """(wearer-frame cloud, crop intrinsics, box in the crop's pixels) of the box's depth pixels."""
        region = box_region(box, (intrinsics.width, intrinsics.height), depth.shape)
        r1, r2, c1, c2 = region
        crop = crop_intrinsics(intrinsics, depth.shape, region)
        cloud = WearerCloud.of(depth[r1:r2, c1:c2], crop, tilt, self.camera_height_m)
        sx, sy = depth.shape[1] / intrinsics.width, depth.shape[0] / intrinsics.height
        return cloud, crop, np.array([box[0] * sx - c1, box[1] * sy - r1, box[2] * sx - c1, box[3] * sy - r1])

    def _obstacle(self, camera: str, track: Track, placement: Placement, class_names: Sequence[str],
                  intrinsics: PinholeIntrinsics, tilt: Optional[Tilt], stamp_ns: int) -> Obstacle:
        key = f"{camera}:{track.track_id}"
        u = float(track.box[0] + track.box[2]) / 2.0
        if camera == RGB:
            bearing = placement.bearing_deg
            if not math.isfinite(bearing):  # no depth: the box centre's direction
                bearing = tilt.bearing_deg(intrinsics, u, float(track.box[1] + track.box[3]) / 2.0)
            if not math.isfinite(bearing):  # intrinsics too odd for any geometry: the column's
                bearing = intrinsics.bearing_deg(u)
            direction = direction_of_bearing(bearing, self._ahead_half_angle_deg)
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
                        box=track.box, score=track.score, distance_m=track.distance_m, position=placement.point,
                        bearing_deg=bearing, direction=direction, clock=clock_of_bearing(bearing), band=band,
                        approach_mps=track.approach_mps, confirmed_frames=track.longest_run,
                        speak=not seen_by_rgb, stamp_ns=stamp_ns, height_band=placement.height_band)
