"""IMU samples published at a chosen rate: each one the mean of the measured samples of its period (ROS-free).

Aria's IMU measures at 800-1000 Hz. Every message is an executor wake-up and a Python callback in each subscriber:
fusion, the only consumer in the graph, spent about half a core on 600-1000 IMU messages a second on a 2-core
machine, and its depth and detections waited behind them. Gravity and walking/standing need far less (their windows
are 0.5-1 s). A block mean, unlike keeping every n-th sample, is a low-pass filter (no aliasing of step impacts),
and the mean angular velocity times the block's duration is the rotation over it, so integrating the gyro stays
exact to first order.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from aria_nav.core.sources.base import ImuSample


class ImuRate:
    """Feed measured samples to add(); it returns a block mean once per 1/rate_hz of device time (rate 0: every
    sample as measured). A block ends with the sample that brings its duration (its samples times their spacing)
    nearest to the period, so a mean goes out with its last sample, not one sample later, and a rate at or above
    the measured one passes every sample on alone."""

    def __init__(self, rate_hz: float):
        if rate_hz < 0:
            raise ValueError(f"IMU rate {rate_hz} Hz is negative")
        self.period_ns = int(round(1e9 / rate_hz)) if rate_hz > 0 else 0
        self._block: List[Tuple[ImuSample, int]] = []
        self._last_ns: Optional[int] = None

    def add(self, sample: ImuSample, stamp_ns: int) -> Optional[Tuple[ImuSample, int]]:
        """The sample stamped `stamp_ns`; returns (mean sample, mean stamp) when a block is complete, else None."""
        if not self.period_ns:
            return sample, stamp_ns
        last_ns, self._last_ns = self._last_ns, sample.device_ns
        if last_ns is not None and sample.device_ns <= last_ns:
            self._block, last_ns = [], None  # device time went back (a new source): a block never mixes the two
        self._block.append((sample, stamp_ns))
        spacing = 0 if last_ns is None else sample.device_ns - last_ns
        duration = sample.device_ns - self._block[0][0].device_ns + spacing
        if duration < self.period_ns - spacing / 2:
            return None
        block, self._block = self._block, []
        return _mean(block)


def _mean(block: List[Tuple[ImuSample, int]]) -> Tuple[ImuSample, int]:
    count = len(block)
    acceleration = tuple(sum(s.linear_acceleration[axis] for s, _ in block) / count for axis in range(3))
    angular = tuple(sum(s.angular_velocity[axis] for s, _ in block) / count for axis in range(3))
    device_ns = sum(s.device_ns for s, _ in block) // count
    stamp_ns = sum(stamp for _, stamp in block) // count
    return ImuSample(device_ns, acceleration, angular, block[0][0].stream), stamp_ns
