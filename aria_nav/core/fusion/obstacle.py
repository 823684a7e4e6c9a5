"""One tracked obstacle in one frame: what the fusion node publishes and what the guidance policy judges."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

RGB, SLAM_LEFT, SLAM_RIGHT = "rgb", "slam_left", "slam_right"
CAMERAS = (RGB, SLAM_LEFT, SLAM_RIGHT)


@dataclass
class Obstacle:
    track_id: int
    camera: str  # one of CAMERAS
    class_id: int
    class_name: str
    box: np.ndarray  # x1, y1, x2, y2, pixels of the camera's image
    score: float
    # Along the floor: horizontal distance in the gravity-aligned wearer frame to the object's nearest part; NaN when
    # unknown (peripheral cameras, no depth).
    distance_m: float
    position: Tuple[float, float, float]  # optical frame of the camera, metres; NaN when the distance is unknown
    bearing_deg: float  # horizontal angle from straight ahead (wearer frame), positive to the right
    direction: str  # left | ahead | right
    clock: int  # 1..12, 12 straight ahead
    band: str  # very_close | close | medium | far | unknown
    approach_mps: float  # positive: getting closer
    confirmed_frames: int  # longest run of consecutive frames the track was seen in
    # False for a peripheral camera's obstacle inside the RGB camera's view: the RGB camera reports it, with a
    # distance, and the wearer should not hear about it twice.
    speak: bool = True
    stamp_ns: int = 0  # stamp of the source frame it was seen in
    height_band: str = "unknown"  # floor | body | head (aria_nav.core.wearer_frame) | unknown (no distance)
    kind: str = "named"  # named (a detector class) | obstacle | head_height | step_down | step_up (corridor hazards)
    priority: float = 0.0
    urgency: str = "info"

    @property
    def key(self) -> str:
        return f"{self.camera}:{self.track_id}"
