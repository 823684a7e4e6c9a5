"""Per-stage counters and latency statistics (ROS-free): what a node reports on /diagnostics and what the
benchmarks summarise."""
from __future__ import annotations

import collections
import threading
import time
from typing import Deque, Dict, Optional

import numpy as np


class StageStats:
    """Processed/dropped/error counts, output rate and latency from the source stamp over a sliding window."""

    def __init__(self, window: int = 300):
        self._lock = threading.Lock()
        self._latencies_ms: Deque[float] = collections.deque(maxlen=window)
        self._times: Deque[float] = collections.deque(maxlen=window)
        self.processed = 0
        self.dropped = 0
        self.errors = 0
        self.last_error: Optional[str] = None

    def record(self, latency_ms: float, now: Optional[float] = None) -> None:
        with self._lock:
            self._latencies_ms.append(latency_ms)
        self.count(now)

    def count(self, now: Optional[float] = None) -> None:
        """One more item processed, for the count and the rate only (no latency measured)."""
        with self._lock:
            self.processed += 1
            self._times.append(time.monotonic() if now is None else now)

    def record_error(self, message: str) -> None:
        with self._lock:
            self.errors += 1
            self.last_error = message

    def rate_hz(self) -> float:
        with self._lock:
            if len(self._times) < 2 or self._times[-1] <= self._times[0]:
                return 0.0
            return (len(self._times) - 1) / (self._times[-1] - self._times[0])

    def latency_percentiles(self, percentiles=(50, 95, 99)) -> Dict[int, float]:
        with self._lock:
            if not self._latencies_ms:
                return {p: float("nan") for p in percentiles}
            values = np.percentile(np.fromiter(self._latencies_ms, float), percentiles)
        return {p: float(v) for p, v in zip(percentiles, values)}

HOP_PREFIX = "hop_"  # /diagnostics keys hop_<milestone>_ms_p50|p95 of a node's HopTimes


class HopTimes:
    """Where a frame's time goes before and inside a node: milliseconds from the source stamp to each milestone
    (e.g. sent by the upstream publisher, arrived in this process, taken by the executor, started, done), each over
    a sliding window. Every milestone counts from the same stamp, so neighbours' differences are the hops."""

    def __init__(self, window: int = 300):
        self._lock = threading.Lock()
        self._window = window
        self._ms: Dict[str, Deque[float]] = {}

    def record(self, milestone: str, ms: float) -> None:
        with self._lock:
            self._ms.setdefault(milestone, collections.deque(maxlen=self._window)).append(ms)

    def percentiles(self, percentiles=(50, 95)) -> Dict[str, Dict[int, float]]:
        """{milestone: {percentile: ms}}, milestones in the order first recorded."""
        with self._lock:
            windows = {name: np.fromiter(values, float) for name, values in self._ms.items()}
        return {name: {p: float(v) for p, v in zip(percentiles, np.percentile(values, percentiles))}
                for name, values in windows.items()}
