"""Walking or standing, from the head-worn IMU's accelerometer.

Walking shakes the head up and down at the step rate (about 2 Hz): the magnitude of the measured acceleration
oscillates around g by one to a few m/s^2. Standing still, and turning the head or the body on the spot, leave it
within sensor noise and a few tenths (rotation changes the direction of gravity in the sensor frame, not its size).
So the detector looks at the standard deviation of |a| over a sliding window of `window_s` seconds, with
hysteresis: it switches to walking when the deviation stays above `walk_threshold` for `min_walk_s`, and back to
standing when it stays below `stand_threshold` for `min_stand_s`. Between the thresholds it keeps its state, so
slowing down or a pause of half a step does not flip it.

Times are sample stamps in seconds; samples may arrive at any rate (the window is in time, not in samples).
"""
from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Deque, Optional, Tuple

WALKING, STANDING = "walking", "standing"
STANDARD_GRAVITY = 9.80665


@dataclass(frozen=True)
class MotionConfig:
    window_s: float = 1.0
    walk_threshold: float = 0.6  # m/s^2, std of |a| above which the wearer is walking
    stand_threshold: float = 0.3  # m/s^2, std of |a| below which the wearer is standing
    min_walk_s: float = 0.5  # how long the deviation must stay above walk_threshold
    min_stand_s: float = 1.0  # how long it must stay below stand_threshold
    min_samples: int = 10  # fewer samples in the window: no decision yet


class MotionDetector:
    def __init__(self, config: MotionConfig = MotionConfig(), initial: str = STANDING):
        if config.stand_threshold > config.walk_threshold:
            raise ValueError("stand_threshold must not exceed walk_threshold")
        self.config = config
        self.state = initial
        self._samples: Deque[Tuple[float, float]] = collections.deque()  # (time, |a| - g)
        self._sum = 0.0
        self._sum_sq = 0.0
        self._candidate_since: Optional[float] = None
        self.deviation = 0.0
        self.changes = 0

    def add(self, time_s: float, ax: float, ay: float, az: float) -> str:
        """Adds one accelerometer sample (m/s^2, any frame); returns the state after it."""
        # Kept relative to g: the running sums then stay small and do not lose precision over hours.
        magnitude = math.sqrt(ax * ax + ay * ay + az * az) - STANDARD_GRAVITY
        if not math.isfinite(magnitude):
            return self.state
        if self._samples and time_s < self._samples[-1][0]:  # time went back (bag loop, clock reset): start over
            self.reset()
        self._samples.append((time_s, magnitude))
        self._sum += magnitude
        self._sum_sq += magnitude * magnitude
        while self._samples and time_s - self._samples[0][0] > self.config.window_s:
            _, old = self._samples.popleft()
            self._sum -= old
            self._sum_sq -= old * old
        count = len(self._samples)
        if count < self.config.min_samples:
            return self.state
        mean = self._sum / count
        self.deviation = math.sqrt(max(0.0, self._sum_sq / count - mean * mean))
        self._update_state(time_s)
        return self.state

    def _update_state(self, time_s: float) -> None:
        cfg = self.config
        if self.state == STANDING:
            towards, hold = self.deviation > cfg.walk_threshold, cfg.min_walk_s
        else:
            towards, hold = self.deviation < cfg.stand_threshold, cfg.min_stand_s
        if not towards:
            self._candidate_since = None
            return
        if self._candidate_since is None:
            self._candidate_since = time_s
        if time_s - self._candidate_since >= hold:
            self.state = WALKING if self.state == STANDING else STANDING
            self._candidate_since = None
            self.changes += 1

    def reset(self) -> None:
        self._samples.clear()
        self._sum = self._sum_sq = 0.0
        self._candidate_since = None
