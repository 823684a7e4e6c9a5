"""Where an obstacle is, in words a walker can use: left/ahead/right and clock position, from its bearing.

Conventions: bearings are horizontal angles in the gravity-aligned wearer frame (aria_nav/core/wearer_frame.py),
in degrees, positive to the right; 12 o'clock is straight ahead and each hour is 30 degrees.
"""
from __future__ import annotations

LEFT, AHEAD, RIGHT = "left", "ahead", "right"
DIRECTIONS = (LEFT, AHEAD, RIGHT)


def direction_of_bearing(bearing_deg: float, ahead_half_angle_deg: float) -> str:
    """LEFT/AHEAD/RIGHT for a bearing: AHEAD within `ahead_half_angle_deg` either side of straight ahead."""
    if abs(bearing_deg) <= ahead_half_angle_deg:
        return AHEAD
    return LEFT if bearing_deg < 0 else RIGHT


def clock_of_bearing(bearing_deg: float) -> int:
    """Clock position 1..12 of a bearing: 0 deg -> 12, +30 -> 1, -30 -> 11, +90 -> 3."""
    hour = round(bearing_deg / 30.0) % 12
    return 12 if hour == 0 else int(hour)
