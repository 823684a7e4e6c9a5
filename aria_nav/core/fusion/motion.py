"""Walking or standing, from the head-worn IMU's accelerometer.

Walking shakes the head up and down at the step rate (about 2 Hz): the magnitude of the measured acceleration
oscillates around g by one to a few m/s^2. Standing still, and turning the head or the body on the spot, leave it
within sensor noise and a few tenths (rotation changes the direction of gravity in the sensor frame, not its size).
So the detector looks at the standard deviation of |a| over sliding windows, with hysteresis: it switches to
walking when the deviation over the last `walk_window_s` (half a second: about one step, so the first steps show
at once) stays above `walk_threshold` for `min_walk_s`, and back to standing when the deviation over `window_s`
(a second: a pause of half a step is not a stop) stays below `stand_threshold` for `min_stand_s`. Between the
thresholds it keeps its state. Starting to walk is seen within 0.5 s of the first step (the walking thresholds
apply at once); stopping within about 1.5 s (warnings stay early a little longer, the safe side).

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
    window_s: float = 1.0  # the deviation that decides standing
    walk_window_s: float = 0.5  # the deviation that decides walking
    walk_threshold: float = 0.6  # m/s^2, std of |a| above which the wearer is walking
    stand_threshold: float = 0.3  # m/s^2, std of |a| below which the wearer is standing
    min_walk_s: float = 0.2  # how long the (walk window's) deviation must stay above walk_threshold
    min_stand_s: float = 1.0  # how long it must stay below stand_threshold
    min_samples: int = 10  # fewer samples in the window: no decision yet


class _RunningDeviation:
    """Standard deviation of the values of the last `window_s` seconds, with running sums."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self.samples: Deque[Tuple[float, float]] = collections.deque()
        self._sum = self._sum_sq = 0.0

    def add(self, time_s: float, value: float) -> None:
        self.samples.append((time_s, value))
        self._sum += value
        self._sum_sq += value * value
        while self.samples and time_s - self.samples[0][0] > self.window_s:
            _, old = self.samples.popleft()
            self._sum -= old
            self._sum_sq -= old * old

    def deviation(self) -> float:
        count = len(self.samples)
        mean = self._sum / count
        return math.sqrt(max(0.0, self._sum_sq / count - mean * mean))

    def clear(self) -> None:
        self.samples.clear()
        self._sum = self._sum_sq = 0.0


class WalkingHysteresis:
    """Walking or standing, switched once the measure says "the other state" for that state's hold time.

    What the measure is (accelerometer deviation, VIO speed) is the caller's: it passes whether the newest value
    points towards the other state and how long that must last. A value that does not restarts the wait.
    """

    def __init__(self, initial: str = STANDING):
        self.state = initial
        self.changes = 0
        self._candidate_since: Optional[float] = None

    def update(self, time_s: float, towards_other: bool, hold_s: float) -> str:
        if not towards_other:
            self._candidate_since = None
            return self.state
        if self._candidate_since is None:
            self._candidate_since = time_s
        if time_s - self._candidate_since >= hold_s:
            self.state = WALKING if self.state == STANDING else STANDING
            self._candidate_since = None
            self.changes += 1
        return self.state

    def restart(self) -> None:
        """Forget a wait in progress (time went back); the state stays."""
        self._candidate_since = None


class MotionDetector(WalkingHysteresis):
    def __init__(self, config: MotionConfig = MotionConfig(), initial: str = STANDING):
        if config.stand_threshold > config.walk_threshold:
            raise ValueError("stand_threshold must not exceed walk_threshold")
        self.config = config
        super().__init__(initial)
        # Kept relative to g: the running sums then stay small and do not lose precision over hours.
        self._long = _RunningDeviation(config.window_s)
        self._short = _RunningDeviation(config.walk_window_s)
        self.deviation = 0.0  # over window_s
        self.walk_deviation = 0.0  # over walk_window_s

    @property
    def _samples(self):
        return self._long.samples

    def add(self, time_s: float, ax: float, ay: float, az: float) -> str:
        """Adds one accelerometer sample (m/s^2, any frame); returns the state after it."""
        magnitude = math.sqrt(ax * ax + ay * ay + az * az) - STANDARD_GRAVITY
        if not math.isfinite(magnitude):
            return self.state
        if self._long.samples and time_s < self._long.samples[-1][0]:  # time went back (bag loop): start over
            self.reset()
        self._long.add(time_s, magnitude)
        self._short.add(time_s, magnitude)
        if len(self._short.samples) < self.config.min_samples:
            return self.state
        self.deviation = self._long.deviation()
        self.walk_deviation = self._short.deviation()
        cfg = self.config
        if self.state == STANDING:
            return self.update(time_s, self.walk_deviation > cfg.walk_threshold, cfg.min_walk_s)
        return self.update(time_s, self.deviation < cfg.stand_threshold, cfg.min_stand_s)

    def reset(self) -> None:
        self._long.clear()
        self._short.clear()
        self.restart()
