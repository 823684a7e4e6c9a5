"""The gravity-aligned wearer frame: where "ahead", "how far along the floor" and "how high" are measured (ROS-free).

The head of a walking wearer is pitched 15-35 degrees down and rolls a little with every step, so the camera's
optical frame is not the frame a walker thinks in. The wearer frame (frame id `aria_wearer`, REP 103) is:
  - origin at the RGB camera's optical centre;
  - z up, against gravity;
  - x forward: the camera's optical axis projected on the horizontal plane (the way the face points);
  - y left.
Distances along the floor are horizontal ranges in it, bearings horizontal angles (positive to the right, as
everywhere in aria_nav), heights are z plus the camera's height above the floor.

Gravity comes from the IMU (`TiltFilter`): a complementary filter that turns its estimate of "up" with the
gyroscope (fast head nods are followed at once) and pulls it towards the measured specific force with a time
constant `time_constant_s` (the accelerometer is right on average but every step shakes it by 1-2 m/s^2: walking
bob, foot strikes). Samples whose |a| is far from g (`max_deviation`) do not pull at all. Without a gyroscope
the filter is a plain low-pass of the accelerometer's direction.

The IMU's axes are not the camera's: `camera_from_imu` (a 3x3 rotation) comes from the recording's calibration
where the source has one (aria_nav.ros.static_tf.camera_mounts); otherwise the IMU is taken to be the device's
axes (x forward, y left, z up) and the camera to look straight forward. With no IMU sample yet the camera is
taken to be level (pitch and roll 0), the convention the project had before this frame existed; so it is when the
IMU has been silent for `max_age_s` or its estimate has the camera upside down (a corrupt stream).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from aria_nav.core.boxes import pixel_range
from aria_nav.core.camera_model import PinholeIntrinsics

STANDARD_GRAVITY = 9.80665
# Beyond what a head-worn IMU measures (Aria's accelerometers saturate at 8-16 g, gyroscopes at ~35 rad/s): such a
# sample is a corrupt message, not motion.
MAX_ACCELERATION = 20.0 * STANDARD_GRAVITY
MAX_ANGULAR_RATE = 50.0
# A forward-looking optical frame (x right, y down, z forward) in REP 103 axes (x forward, y left, z up).
DEVICE_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
# Up of a level camera, in its optical frame.
LEVEL_UP = np.array([0.0, -1.0, 0.0])
FLOOR, BODY, HEAD, UNKNOWN_HEIGHT = "floor", "body", "head", "unknown"
HEIGHT_BANDS = (FLOOR, BODY, HEAD)


@dataclass(frozen=True)
class TiltConfig:
    time_constant_s: float = 1.0  # how slowly the accelerometer corrects the gyroscope-propagated estimate
    max_deviation: float = 5.0  # m/s^2: samples with ||a| - g| beyond this do not correct (a foot strike)
    max_gap_s: float = 0.1  # a longer gap between samples is not integrated (the gyro part restarts from there)
    max_age_s: float = 1.0  # a frame further than this from the last IMU sample takes the camera as level


class TiltFilter:
    """Direction of "up" in the IMU frame from accelerometer (+ gyroscope) samples."""

    def __init__(self, config: TiltConfig = TiltConfig()):
        if config.time_constant_s <= 0:
            raise ValueError("time_constant_s must be positive")
        self.config = config
        self.up: Optional[np.ndarray] = None  # unit vector in the IMU frame; None before the first sample
        self._last_s: Optional[float] = None
        self.samples = 0
        self.last_s: Optional[float] = None  # time of the last sample used
        self.rejected = 0  # samples too far from 1 g to correct the estimate, or not a measurement at all

    def add(self, time_s: float, accel, gyro=None) -> None:
        """One sample: specific force (m/s^2) and, when known, angular velocity (rad/s), both in the IMU frame."""
        a = np.asarray(accel, float)
        if not np.all(np.isfinite(a)) or not 1e-6 < float(np.abs(a).max()) < MAX_ACCELERATION:
            self.rejected += 1
            return
        norm = float(np.linalg.norm(a))
        if self._last_s is not None and time_s < self._last_s:  # time went back (bag loop): start over
            self.reset()
        self.samples += 1
        self.last_s = time_s
        if self.up is None:
            self.up, self._last_s = a / norm, time_s
            return
        dt = time_s - self._last_s
        self._last_s = time_s
        if not 0.0 <= dt <= self.config.max_gap_s:
            dt = 0.0
        up = self.up
        if gyro is not None:
            w = np.asarray(gyro, float)
            if np.all(np.isfinite(w)) and float(np.abs(w).max()) < MAX_ANGULAR_RATE:
                up = up - dt * np.cross(w, up)  # a world-fixed vector seen from a body turning at w
        if abs(norm - STANDARD_GRAVITY) <= self.config.max_deviation:
            gain = min(1.0, dt / self.config.time_constant_s)
            # a / g rather than a / |a|: linear in the acceleration, so the step's forward and vertical
            # accelerations (zero mean, but correlated) average out instead of leaving a tilt bias.
            up = up + gain * (a / STANDARD_GRAVITY - up)
        else:
            self.rejected += 1
        self.up = up / np.linalg.norm(up)

    def reset(self) -> None:
        self.up, self._last_s, self.last_s = None, None, None


def rotation_to_quaternion(r: np.ndarray) -> Tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation matrix, w >= 0."""
    w = math.sqrt(max(0.0, 1.0 + r[0, 0] + r[1, 1] + r[2, 2])) / 2.0
    x = math.copysign(math.sqrt(max(0.0, 1.0 + r[0, 0] - r[1, 1] - r[2, 2])) / 2.0, r[2, 1] - r[1, 2])
    y = math.copysign(math.sqrt(max(0.0, 1.0 - r[0, 0] + r[1, 1] - r[2, 2])) / 2.0, r[0, 2] - r[2, 0])
    z = math.copysign(math.sqrt(max(0.0, 1.0 - r[0, 0] - r[1, 1] + r[2, 2])) / 2.0, r[1, 0] - r[0, 1])
    norm = math.sqrt(x * x + y * y + z * z + w * w)
    return x / norm, y / norm, z / norm, w / norm


def wearer_from_optical(up_optical: np.ndarray) -> np.ndarray:
    """Rotation R (3x3) with p_wearer = R @ p_optical, for "up" expressed in the optical frame."""
    up = np.asarray(up_optical, float)
    up = up / np.linalg.norm(up)
    forward = np.array([0.0, 0.0, 1.0]) - up[2] * up  # optical axis, horizontal part
    if np.linalg.norm(forward) < 0.1:  # looking (nearly) straight down or up: the image's top is forward
        forward = np.array([0.0, -1.0, 0.0]) - up[1] * up
    forward /= np.linalg.norm(forward)
    left = np.cross(up, forward)
    return np.stack([forward, left, up])


@dataclass(frozen=True)
class Tilt:
    """The camera's attitude relative to gravity."""

    rotation: np.ndarray  # wearer-from-optical, 3x3
    from_imu: bool  # False: no IMU sample yet, the camera is taken to be level

    @classmethod
    def level(cls) -> "Tilt":
        return cls(wearer_from_optical(LEVEL_UP), False)

    @classmethod
    def of(cls, pitch_down_deg: float, roll_right_deg: float = 0.0) -> "Tilt":
        """The tilt of a camera pitched down and rolled right (right ear down) by these angles."""
        pitch, roll = math.radians(pitch_down_deg), math.radians(roll_right_deg)
        # Up in the optical frame: a level camera's (0, -1, 0), turned by the roll then the pitch.
        up = np.array([-math.sin(roll) * math.cos(pitch), -math.cos(roll) * math.cos(pitch), -math.sin(pitch)])
        return cls(wearer_from_optical(up), True)

    @property
    def up_optical(self) -> np.ndarray:
        return self.rotation[2]

    @property
    def pitch_down_deg(self) -> float:
        return math.degrees(math.asin(float(np.clip(-self.up_optical[2], -1.0, 1.0))))

    @property
    def roll_right_deg(self) -> float:
        up = self.up_optical
        return math.degrees(math.atan2(-up[0], -up[1]))

    def quaternion_xyzw(self) -> Tuple[float, float, float, float]:
        """The rotation as a quaternion (x, y, z, w), w >= 0: the optical frame's orientation in the wearer frame."""
        return rotation_to_quaternion(self.rotation)

    def bearing_deg(self, intrinsics: PinholeIntrinsics, u: float, v: float) -> float:
        """Horizontal angle of pixel (u, v)'s ray from straight ahead, positive to the right (any depth: the ray
        starts at the wearer frame's origin)."""
        forward, left, _ = self.rotation @ np.array([(u - intrinsics.cx) / intrinsics.fx,
                                                     (v - intrinsics.cy) / intrinsics.fy, 1.0])
        return math.degrees(math.atan2(-left, forward))


class WearerFrame:
    """The current tilt, from an IMU through the device-to-camera extrinsics."""

    def __init__(self, camera_from_imu: np.ndarray = DEVICE_FROM_OPTICAL.T, config: TiltConfig = TiltConfig()):
        self.camera_from_imu = np.asarray(camera_from_imu, float)
        self.filter = TiltFilter(config)

    def add_imu(self, time_s: float, accel, gyro=None) -> None:
        self.filter.add(time_s, accel, gyro)

    def tilt_at(self, time_s: float) -> Tilt:
        """The tilt for a frame at `time_s` (the IMU's clock): level without an IMU sample within `max_age_s` (the
        IMU stopped, or never came) or when the estimate has the camera upside down (not a head-worn camera)."""
        last = self.filter.last_s
        if self.filter.up is None or last is None or abs(time_s - last) > self.filter.config.max_age_s:
            return Tilt.level()
        up = self.camera_from_imu @ self.filter.up
        if up[1] > 0.0:  # the image's "down" points up
            return Tilt.level()
        return Tilt(wearer_from_optical(up), True)


@dataclass
class WearerCloud:
    """Every depth pixel in the wearer frame: forward, left, up (metres from the camera; NaN where depth is
    invalid), the horizontal range and the height above the floor, each (H, W) float32."""

    forward: np.ndarray
    left: np.ndarray
    up: np.ndarray
    range: np.ndarray
    height: np.ndarray

    @classmethod
    def of(cls, depth: np.ndarray, intrinsics: PinholeIntrinsics, tilt: Tilt, camera_height_m: float
           ) -> "WearerCloud":
        """`depth`: z-depth (metres along the optical axis, NaN/0/negative invalid); `intrinsics` of the image the
        boxes refer to (scaled here to the depth image's size)."""
        rows, cols = depth.shape[:2]
        k = intrinsics.scaled(cols, rows) if (cols, rows) != (intrinsics.width, intrinsics.height) else intrinsics
        z = np.where(np.isfinite(depth) & (depth > 0), depth, np.nan).astype(np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            x = ((np.arange(cols, dtype=np.float32) - np.float32(k.cx)) / np.float32(k.fx))[None, :]
            y = ((np.arange(rows, dtype=np.float32) - np.float32(k.cy)) / np.float32(k.fy))[:, None]
        r = tilt.rotation.astype(np.float32)
        with np.errstate(over="ignore", invalid="ignore"):  # absurd intrinsics: inf/NaN, i.e. invalid pixels
            forward = (r[0, 0] * x + r[0, 1] * y + r[0, 2]) * z
            left = (r[1, 0] * x + r[1, 1] * y + r[1, 2]) * z
            up = (r[2, 0] * x + r[2, 1] * y + r[2, 2]) * z
            return cls(forward, left, up, np.hypot(forward, left), up + np.float32(camera_height_m))


def floor_point(intrinsics: PinholeIntrinsics, tilt: Tilt, u: float, v: float, distance_m: float
                ) -> Tuple[float, float, float]:
    """The optical-frame point on pixel (u, v)'s ray whose horizontal range in the wearer frame is `distance_m`."""
    ray = np.array([(u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy, 1.0])
    forward, left, _ = tilt.rotation @ ray
    horizontal = math.hypot(forward, left)
    if horizontal < 1e-6:  # a ray straight down: no horizontal distance to place it at
        return math.nan, math.nan, math.nan
    x, y, z = ray * (distance_m / horizontal)
    return float(x), float(y), float(z)


def box_region(box, image_size: Tuple[int, int], depth_shape: Tuple[int, ...]) -> Tuple[int, int, int, int]:
    """(r1, r2, c1, c2): the depth pixels a box (x1, y1, x2, y2 in pixels of an image of `image_size` = (width,
    height)) covers, at least one, clipped to the depth image."""
    rows, cols = depth_shape[:2]
    sx, sy = cols / image_size[0], rows / image_size[1]
    c1, c2 = pixel_range(float(box[0]), float(box[2]), sx, cols)
    r1, r2 = pixel_range(float(box[1]), float(box[3]), sy, rows)
    return r1, r2, c1, c2


def crop_intrinsics(intrinsics: PinholeIntrinsics, depth_shape: Tuple[int, ...], region: Tuple[int, int, int, int]
                    ) -> PinholeIntrinsics:
    """The intrinsics of the `region` (r1, r2, c1, c2) cut out of a depth image of `depth_shape` whose full frame
    `intrinsics` describe at any resolution: the same camera, principal point shifted."""
    rows, cols = depth_shape[:2]
    k = intrinsics.scaled(cols, rows) if (cols, rows) != (intrinsics.width, intrinsics.height) else intrinsics
    r1, r2, c1, c2 = region
    return PinholeIntrinsics(c2 - c1, r2 - r1, k.fx, k.fy, k.cx - c1, k.cy - r1)


@dataclass(frozen=True)
class HeightBandConfig:
    floor_top_m: float = 0.3  # an object whose top is lower than this lies on the floor (a bag, a kerb)
    head_bottom_m: float = 1.2  # an object whose bottom is higher than this is at head height (free below)
    surface_depth_m: float = 0.5  # pixels this far behind the object's nearest part still belong to it
    ground_m: float = 0.05  # pixels lower than this above the floor are floor, not the object (bearing)


def height_band(cloud: WearerCloud, region: Tuple[int, int, int, int], distance_m: float,
                config: HeightBandConfig = HeightBandConfig()) -> str:
    """FLOOR, BODY or HEAD for the object whose nearest part is `distance_m` away, from the pixels of `region`
    (r1, r2, c1, c2 of the depth image) within `surface_depth_m` behind it; UNKNOWN without such pixels."""
    r1, r2, c1, c2 = region
    ranges, heights = cloud.range[r1:r2, c1:c2], cloud.height[r1:r2, c1:c2]
    near = np.isfinite(ranges) & (ranges <= distance_m + config.surface_depth_m)
    if not math.isfinite(distance_m) or not near.any():
        return UNKNOWN_HEIGHT
    bottom, top = np.percentile(heights[near], (2.0, 98.0))
    if top < config.floor_top_m:
        return FLOOR
    if bottom > config.head_bottom_m:
        return HEAD
    return BODY


def surface_bearing_deg(cloud: WearerCloud, region: Tuple[int, int, int, int], distance_m: float,
                        config: HeightBandConfig = HeightBandConfig()) -> float:
    """Horizontal angle (positive right) of the mean position of the object's visible surface: the pixels of
    `region` from its nearest part to `surface_depth_m` behind it, above the floor band's lowest `ground_m` (the
    floor in front of and beside it is not the object). NaN without such pixels."""
    r1, r2, c1, c2 = region
    ranges, heights = cloud.range[r1:r2, c1:c2], cloud.height[r1:r2, c1:c2]
    surface = (np.isfinite(ranges) & (ranges >= distance_m - config.ground_m)
               & (ranges <= distance_m + config.surface_depth_m) & (heights > config.ground_m))
    if not math.isfinite(distance_m) or not surface.any():
        return math.nan
    return math.degrees(math.atan2(-float(cloud.left[r1:r2, c1:c2][surface].mean()),
                                   float(cloud.forward[r1:r2, c1:c2][surface].mean())))
