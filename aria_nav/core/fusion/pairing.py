"""Pairs each detection set with the depth image of the same frame by header stamp, without ever waiting.

The detector and the depth stage each process the newest frame they can, at their own pace, so they do not always
process the same frames and their results arrive in either order. The pairer keeps the last few depth images and
the detection sets still waiting for depth (both bounded). A detection set at stamp t is paired with the depth
image whose stamp is nearest to t within `tolerance_s` (a depth image may serve several detection sets: the scene
changes little in one frame period). It is resolved as soon as the answer cannot improve: when a depth image at
or after t has arrived; otherwise, after waiting `max_wait_s` (receive time), with the best earlier depth image,
or as a miss.

Stamps are integer nanoseconds; receive times are seconds from any monotonic clock (the caller passes them, so
tests and replays control time). Within each input the stamps only increase (each stage processes its frames in
order); a stamp earlier than its input's previous one means the source's time went back (a bag played in a loop).
What is cached from later in the old timeline would shadow every new frame (a depth image "after" each new
detection set resolves it at once, without a match), so it goes: detection sets waiting with later stamps are
resolved now, depth images later than the new stamp (beyond the tolerance) are dropped.
"""
from __future__ import annotations

import bisect
import collections
from dataclasses import dataclass
from typing import Deque, Generic, List, Optional, Tuple, TypeVar

D = TypeVar("D")  # detection set
P = TypeVar("P")  # depth image

NS = 1_000_000_000


@dataclass
class Pairing(Generic[D, P]):
    stamp_ns: int
    detections: D
    depth: Optional[P]  # None: no depth within tolerance (a miss)
    depth_stamp_ns: Optional[int]


class StampPairer(Generic[D, P]):
    def __init__(self, tolerance_s: float = 0.1, max_wait_s: float = 0.5, depth_cache: int = 4,
                 pending_cache: int = 16):
        if depth_cache < 1 or pending_cache < 1:
            raise ValueError("cache sizes must be at least 1")
        self._tolerance_ns = int(tolerance_s * NS)
        self._max_wait_s = max_wait_s
        self._depth_stamps: List[int] = []  # sorted, parallel to _depths
        self._depths: List[P] = []
        self._depth_cache = depth_cache
        self._pending: Deque[Tuple[int, float, D]] = collections.deque()  # (stamp, received, detections)
        self._pending_cache = pending_cache
        self._previous_stamp = {"depth": None, "detections": None}
        self.paired = 0
        self.misses = 0  # detection sets resolved without depth (none within tolerance, or evicted)

    def add_depth(self, stamp_ns: int, depth: P, received_s: float) -> List[Pairing[D, P]]:
        resolved = self._forget_later_timeline("depth", stamp_ns)
        index = bisect.bisect_right(self._depth_stamps, stamp_ns)
        self._depth_stamps.insert(index, stamp_ns)
        self._depths.insert(index, depth)
        if len(self._depths) > self._depth_cache:
            del self._depth_stamps[0], self._depths[0]
        return resolved + self.poll(received_s)

    def add_detections(self, stamp_ns: int, detections: D, received_s: float) -> List[Pairing[D, P]]:
        resolved = self._forget_later_timeline("detections", stamp_ns)
        self._pending.append((stamp_ns, received_s, detections))
        if len(self._pending) > self._pending_cache:  # bounded: the oldest is resolved with what there is
            stamp, _, oldest = self._pending.popleft()
            resolved.append(self._resolve(stamp, oldest))
        return resolved + self.poll(received_s)

    def poll(self, now_s: float) -> List[Pairing[D, P]]:
        """Resolves the waiting detection sets whose answer is final or whose wait is over, oldest first."""
        resolved, still_pending = [], collections.deque()
        newest_depth = self._depth_stamps[-1] if self._depth_stamps else None
        for stamp, received, detections in self._pending:
            if (newest_depth is not None and newest_depth >= stamp) or now_s - received >= self._max_wait_s:
                resolved.append(self._resolve(stamp, detections))
            else:
                still_pending.append((stamp, received, detections))
        self._pending = still_pending
        return resolved

    def drain(self) -> List[Pairing[D, P]]:
        """Resolves everything still waiting (e.g. when depth is known to be down)."""
        resolved = [self._resolve(stamp, detections) for stamp, _, detections in self._pending]
        self._pending.clear()
        return resolved

    def _forget_later_timeline(self, stream: str, stamp_ns: int) -> List[Pairing[D, P]]:
        """When `stream`'s time went back to `stamp_ns`: resolve the detection sets waiting with later stamps and
        drop the depth images later than it (see the module doc)."""
        previous, self._previous_stamp[stream] = self._previous_stamp[stream], stamp_ns
        if previous is None or stamp_ns >= previous:
            return []
        later = [item for item in self._pending if item[0] > stamp_ns]
        self._pending = collections.deque(item for item in self._pending if item[0] <= stamp_ns)
        resolved = [self._resolve(stamp, detections) for stamp, _, detections in later]
        keep = bisect.bisect_right(self._depth_stamps, stamp_ns + self._tolerance_ns)
        del self._depth_stamps[keep:], self._depths[keep:]
        return resolved

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def _resolve(self, stamp_ns: int, detections: D) -> Pairing[D, P]:
        best = None
        index = bisect.bisect_left(self._depth_stamps, stamp_ns)
        for candidate in (index - 1, index):
            if 0 <= candidate < len(self._depth_stamps):
                gap = abs(self._depth_stamps[candidate] - stamp_ns)
                if gap <= self._tolerance_ns and (best is None or gap < best[0]):
                    best = (gap, candidate)
        if best is None:
            self.misses += 1
            return Pairing(stamp_ns, detections, None, None)
        self.paired += 1
        return Pairing(stamp_ns, detections, self._depths[best[1]], self._depth_stamps[best[1]])
