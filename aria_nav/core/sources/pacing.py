"""Pacing, looping and stamping of a frame source (ROS-free): what the camera node's publishing thread runs.

Pacing of recordings:
- realtime: items come out when they were captured, relative to the first one (the recording's own timing);
- fixed: frames of the lead stream (RGB if selected, else the first camera stream) come out at `rate_hz`; the
  items between two of them (other cameras, IMU) come out right after the frame before them;
- fast: as fast as the consumer takes them.
Live sources (glasses, webcam) deliver at their own pace and are never paced or looped.

Looping restarts the recording and shifts its device times by one loop period (the lead stream's span plus one
frame period, or the whole span if longer), so device time never goes backwards across loops.

Stamps (header.stamp): with stamp_source "host" every item gets its capture time on the host clock, so that
"now - stamp" downstream is the real latency: in realtime replay the host time when the replay started plus the
item's device-time offset from the first item; in fixed/fast replay the host time when its group of items (same
device time) is released; for live sources the device time mapped to the host clock by ClockMapper. With
"device" the stamp is the device time itself (useful to line results up with the recording, not for latency).
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Callable, Iterator, Optional, Tuple

from aria_nav.core.sources.base import CAMERA_STREAMS, FrameSource, Item

PACING_MODES = ("realtime", "fixed", "fast")
STAMP_SOURCES = ("host", "device")
_MIN_SLEEP_S = 0.0005  # closer than this to the release time: release now instead of sleeping


class ClockMapper:
    """Maps a device clock to the host clock: offset = the smallest (host receive time - device time) seen so
    far, i.e. the transfer delay of the fastest item is taken as zero. Stamps never run ahead of receive time."""

    def __init__(self):
        self.offset_ns: Optional[int] = None

    def to_host(self, device_ns: int, host_receive_ns: int) -> int:
        offset = host_receive_ns - device_ns
        if self.offset_ns is None or offset < self.offset_ns:
            self.offset_ns = offset
        return device_ns + self.offset_ns


class Pacer:
    """Sleeps until each item of a recording is due (see the module docstring for the modes)."""

    def __init__(self, mode: str, rate_hz: float = 10.0, lead_stream: str = CAMERA_STREAMS[0],
                 monotonic: Callable[[], float] = time.monotonic):
        if mode not in PACING_MODES:
            raise ValueError(f"pacing '{mode}' is not one of {', '.join(PACING_MODES)}")
        if mode == "fixed" and not rate_hz > 0:
            raise ValueError(f"fixed pacing needs a rate above 0 Hz (got {rate_hz})")
        self.mode, self.rate_hz, self.lead_stream = mode, rate_hz, lead_stream
        self._monotonic = monotonic
        self._start: Optional[Tuple[float, int]] = None  # (monotonic, device ns) of the first item
        self._next_tick: Optional[float] = None

    def due(self, item: Item) -> float:
        """Monotonic time at which `item` is due (now for fast pacing)."""
        now = self._monotonic()
        if self.mode == "fast":
            return now
        if self.mode == "realtime":
            if self._start is None:
                self._start = (now, item.device_ns)
            return self._start[0] + (item.device_ns - self._start[1]) / 1e9
        if item.stream != self.lead_stream:
            return now
        due = now if self._next_tick is None else self._next_tick
        self._next_tick = max(due, now) + 1.0 / self.rate_hz
        return due

    def wait(self, item: Item, stop: threading.Event) -> bool:
        """Blocks until `item` is due; False if `stop` was set meanwhile."""
        delay = self.due(item) - self._monotonic()
        if delay > _MIN_SLEEP_S:
            return not stop.wait(delay)
        return not stop.is_set()


class Replay:
    """Runs a source through pacing, looping and stamping, handing (item, stamp_ns) to `emit`."""

    def __init__(self, source: FrameSource, pacing: str = "realtime", rate_hz: float = 10.0, loop: bool = False,
                 stamp_source: str = "host", host_now_ns: Callable[[], int] = time.time_ns,
                 monotonic: Callable[[], float] = time.monotonic, max_duration_s: float = 0.0):
        if stamp_source not in STAMP_SOURCES:
            raise ValueError(f"stamp source '{stamp_source}' is not one of {', '.join(STAMP_SOURCES)}")
        self.source = source
        self.lead_stream = next((s for s in CAMERA_STREAMS if s in source.streams), source.streams[0])
        self.pacer = Pacer(pacing, rate_hz, self.lead_stream, monotonic)
        self.loop = loop and not source.live
        self.stamp_source = stamp_source
        self._host_now_ns = host_now_ns
        self._clock = ClockMapper()
        self._host_start_ns: Optional[int] = None
        self._first_device_ns: Optional[int] = None
        self._group: Tuple[Optional[int], int] = (None, 0)  # (device ns, stamp) of the last released group
        self.loops_completed = 0
        # A recording's input ends after this much of its device time (0: at its end); live sources never end.
        self.max_duration_ns = 0 if source.live else int(max_duration_s * 1e9)

    def _looped(self) -> Iterator[Item]:
        """The source's items, restarted after the end when looping, with device times shifted per loop."""
        shift = 0
        while True:
            first = last = lead_first = lead_last = None
            lead_period = 0
            for item in self.source.items():
                device_ns = item.device_ns + shift
                if first is None:
                    first = device_ns
                last = device_ns
                if item.stream == self.lead_stream:
                    if lead_last is not None and device_ns > lead_last:
                        lead_period = device_ns - lead_last if not lead_period else min(lead_period,
                                                                                         device_ns - lead_last)
                    lead_first = device_ns if lead_first is None else lead_first
                    lead_last = device_ns
                yield item if not shift else _shifted(item, shift)
            if not self.loop or first is None:
                return
            self.loops_completed += 1
            lead_span = (lead_last - first + lead_period) if lead_last is not None else 0
            shift += max(lead_span, last - first + 1)

    def stamp(self, item: Item) -> int:
        """The header stamp (ns) of `item` as it is released now."""
        if self.stamp_source == "device":
            return item.device_ns
        now = self._host_now_ns()
        if self.source.live:
            return self._clock.to_host(item.device_ns, now)
        if self.pacer.mode == "realtime":
            if self._host_start_ns is None:
                self._host_start_ns, self._first_device_ns = now, item.device_ns
            return self._host_start_ns + item.device_ns - self._first_device_ns
        if self._group[0] != item.device_ns:
            self._group = (item.device_ns, max(now, self._group[1] + 1))  # strictly increasing between groups
        return self._group[1]

    def run(self, emit: Callable[[Item, int], None], stop: threading.Event) -> bool:
        """Emits every item until the input ends (True) or `stop` is set (False)."""
        first_ns = None
        for item in self._looped():
            if stop.is_set():
                return False
            first_ns = item.device_ns if first_ns is None else first_ns
            if self.max_duration_ns and item.device_ns - first_ns >= self.max_duration_ns:
                break
            if not self.source.live and not self.pacer.wait(item, stop):
                return False
            emit(item, self.stamp(item))
        return not stop.is_set()

    @property
    def clock_offset_ns(self) -> Optional[int]:
        """host stamp - device time, where it is constant (realtime replay, live sources); None otherwise."""
        if self.stamp_source == "device":
            return 0
        if self.source.live:
            return self._clock.offset_ns
        if self.pacer.mode == "realtime" and self._host_start_ns is not None:
            return self._host_start_ns - self._first_device_ns
        return None


def _shifted(item: Item, shift_ns: int) -> Item:
    return replace(item, device_ns=item.device_ns + shift_ns)
