"""Pinhole camera intrinsics shared by sources, depth back-projection and fusion geometry (ROS-free)."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PinholeIntrinsics:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def scaled(self, width: int, height: int) -> "PinholeIntrinsics":
        """The same camera seen at another resolution (pixel-centre convention)."""
        sx, sy = width / self.width, height / self.height
        return PinholeIntrinsics(width, height, self.fx * sx, self.fy * sy,
                                 (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5)

    def bearing_deg(self, u: float) -> float:
        """Horizontal angle of pixel column u from the optical axis, degrees, positive to the right."""
        return math.degrees(math.atan2(u - self.cx, self.fx))

    @property
    def horizontal_fov_deg(self) -> float:
        return math.degrees(2.0 * math.atan2(self.width / 2.0, self.fx))
