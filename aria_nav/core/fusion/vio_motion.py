"""Walking or standing, and turning, from device poses (Aria Gen2's on-device VIO), ROS-free.

Where the glasses give their own pose (nav_msgs/Odometry on /aria/odom), the wearer's motion is measured instead
of inferred from accelerometer variance: horizontal speed says walking (above `walk_speed_mps` for `min_walk_s`)
or standing (below `stand_speed_mps` for `min_stand_s`), with hysteresis between them; the yaw rate of the
heading says turning. The IMU detector (motion.py) stays the fallback: poses count only while they are fresh
(`stale_after_s`), so a recording or glasses without VIO use the IMU as before.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from aria_nav.core.fusion.motion import STANDING, WalkingHysteresis


@dataclass(frozen=True)
class VioMotionConfig:
    walk_speed_mps: float = 0.4  # horizontal speed above which the wearer walks (slow walking is ~0.6 m/s)
    stand_speed_mps: float = 0.2  # and below which they stand
    min_walk_s: float = 0.3
    min_stand_s: float = 0.6
    turn_rate_dps: float = 30.0  # |yaw rate| above which the wearer (or their head) is turning
    stale_after_s: float = 0.5  # poses older than this: back to the IMU detector
    min_quality: float = 0.5  # VIO quality score below which a pose is not used


def quaternion_matrix(qx: float, qy: float, qz: float, qw: float) -> np.ndarray:
    """3x3 rotation of a unit quaternion (x, y, z, w)."""
    return np.array([[1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw)],
                     [2 * (qx * qy + qz * qw), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw)],
                     [2 * (qx * qz - qy * qw), 2 * (qy * qz + qx * qw), 1 - 2 * (qx * qx + qy * qy)]])


def heading_deg(qx: float, qy: float, qz: float, qw: float) -> float:
    """Yaw of the device's forward (+x) axis in the odometry frame (z up), degrees, counter-clockwise from +x."""
    return math.degrees(math.atan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz)))


class VioMotion(WalkingHysteresis):
    def __init__(self, config: VioMotionConfig = VioMotionConfig(), initial: str = STANDING):
        if config.stand_speed_mps > config.walk_speed_mps:
            raise ValueError("stand_speed_mps must not exceed walk_speed_mps")
        self.config = config
        super().__init__(initial)
        self.speed_mps = 0.0
        self.heading_deg = 0.0
        self.yaw_rate_dps = 0.0
        self.turning = False
        self.poses = 0
        self._last_s: Optional[float] = None

    def add(self, time_s: float, orientation_xyzw, velocity_xyz_odom, yaw_rate_rps: float,
            quality: float = 1.0) -> str:
        """Adds one pose: orientation in the odometry frame, velocity in the odometry frame (m/s), yaw rate
        (rad/s about the odometry z axis); returns the state after it."""
        values = tuple(orientation_xyzw) + tuple(velocity_xyz_odom) + (yaw_rate_rps,)
        if quality < self.config.min_quality or not all(math.isfinite(v) for v in values):
            return self.state
        if self._last_s is not None and time_s < self._last_s:  # time went back (a loop): start over
            self.restart()
        self._last_s = time_s
        self.poses += 1
        self.speed_mps = math.hypot(velocity_xyz_odom[0], velocity_xyz_odom[1])
        self.heading_deg = heading_deg(*orientation_xyzw)
        self.yaw_rate_dps = math.degrees(yaw_rate_rps)
        self.turning = abs(self.yaw_rate_dps) > self.config.turn_rate_dps
        cfg = self.config
        if self.state == STANDING:
            return self.update(time_s, self.speed_mps > cfg.walk_speed_mps, cfg.min_walk_s)
        return self.update(time_s, self.speed_mps < cfg.stand_speed_mps, cfg.min_stand_s)

    def active(self, time_s: float) -> bool:
        """Whether a usable pose arrived within stale_after_s of `time_s` (same clock as add's times)."""
        return self._last_s is not None and abs(time_s - self._last_s) <= self.config.stale_after_s
