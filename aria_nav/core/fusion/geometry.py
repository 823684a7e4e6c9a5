"""Where an obstacle is, in words a walker can use: bearing, left/ahead/right, clock position, optical-frame point.

Conventions: camera optical frame (x right, y down, z forward); bearings in degrees, positive to the right;
12 o'clock is straight ahead and each hour is 30 degrees.
"""
from __future__ import annotations

import math
from typing import Tuple

from aria_nav.core.camera_model import PinholeIntrinsics

LEFT, AHEAD, RIGHT = "left", "ahead", "right"
DIRECTIONS = (LEFT, AHEAD, RIGHT)


def direction_of_column(u: float, width: int, centre_zone: float) -> str:
    """LEFT/AHEAD/RIGHT for image column u: AHEAD within `centre_zone` x width either side of the middle."""
    offset = u - width / 2.0
    if abs(offset) <= centre_zone * width:
        return AHEAD
    return LEFT if offset < 0 else RIGHT


def direction_of_bearing(bearing_deg: float, ahead_half_angle_deg: float) -> str:
    """LEFT/AHEAD/RIGHT for a bearing (used where the image column means nothing, e.g. peripheral cameras)."""
    if abs(bearing_deg) <= ahead_half_angle_deg:
        return AHEAD
    return LEFT if bearing_deg < 0 else RIGHT


def clock_of_bearing(bearing_deg: float) -> int:
    """Clock position 1..12 of a bearing: 0 deg -> 12, +30 -> 1, -30 -> 11, +90 -> 3."""
    hour = round(bearing_deg / 30.0) % 12
    return 12 if hour == 0 else int(hour)


def optical_point(intrinsics: PinholeIntrinsics, u: float, v: float, depth_z: float) -> Tuple[float, float, float]:
    """Back-projection of pixel (u, v) at depth z (metres along the optical axis) into the optical frame."""
    return ((u - intrinsics.cx) / intrinsics.fx * depth_z, (v - intrinsics.cy) / intrinsics.fy * depth_z, depth_z)


def ground_distance(x: float, z: float) -> float:
    """Distance a walker would cover to reach the point: the range in the horizontal plane (height ignored, since
    a camera looking ahead sees the floor and the head of a person at the same walking distance)."""
    return math.hypot(x, z)
