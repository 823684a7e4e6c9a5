"""Playback order and timing of a bag, without ROS.

playback_messages() gives the messages to publish (topic selection, start offset, loop); Pacer says when each is
due: a message recorded at bag time t plays at wall time start + (t - bag_start) / rate, so the recorded gaps
between messages are kept, scaled by the rate. Rate 0 plays as fast as possible.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Callable, Iterator, Optional, Sequence, Tuple

from aria_nav.core.bag.errors import BagError
from aria_nav.core.bag.reader import BagMessage, BagReader


def playback_messages(reader: BagReader, topics: Optional[Sequence[str]] = None, start_offset_s: float = 0.0,
                      loop: bool = False) -> Iterator[Tuple[int, BagMessage]]:
    """(pass number, message) in log-time order from `start_offset_s` after the bag's first message; with `loop`
    the bag starts over after its end (pass 1, 2, ...), for ever. Bad arguments raise here, not when iterating."""
    if reader.message_count == 0:
        raise BagError(f"bag '{reader.path}' has no messages")
    if topics is not None:
        reader.check_topics(topics)
    if not 0.0 <= start_offset_s <= reader.duration_ns / 1e9:
        raise BagError(f"start offset {start_offset_s:g} s is outside bag '{reader.path}' "
                       f"(0 to {reader.duration_ns / 1e9:.3f} s)")
    return _passes(reader, topics, reader.start_ns + round(start_offset_s * 1e9), loop)


def _passes(reader: BagReader, topics: Optional[Sequence[str]], start_ns: int, loop: bool
            ) -> Iterator[Tuple[int, BagMessage]]:
    pass_number = 0
    while True:
        played = 0
        for message in reader.messages(topics, start_ns=start_ns):
            played += 1
            yield pass_number, message
        if not loop or not played:
            return
        pass_number += 1


class Pacer:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic):
        if not (math.isfinite(rate) and rate >= 0.0):
            raise BagError(f"playback rate {rate} is not a number >= 0 (0 = as fast as possible)")
        self.rate = rate
        self._clock = clock
        self._bag_start_ns = 0
        self._wall_start = clock()

    def restart(self, bag_start_ns: int) -> None:
        """Bag time `bag_start_ns` is now."""
        self._bag_start_ns = bag_start_ns
        self._wall_start = self._clock()

    def bag_now_ns(self) -> int:
        """The bag time that corresponds to now (the start time when playing as fast as possible)."""
        return self._bag_start_ns + round((self._clock() - self._wall_start) * self.rate * 1e9)

    def due_in_s(self, bag_ns: int) -> float:
        """Seconds until a message of bag time `bag_ns` is due (<= 0: due now)."""
        if self.rate == 0.0:
            return 0.0
        return self._wall_start + (bag_ns - self._bag_start_ns) / 1e9 / self.rate - self._clock()

    def wait_until(self, bag_ns: int, stop: threading.Event, tick: Optional[Callable[[int], None]] = None,
                   tick_period_s: float = 0.025) -> bool:
        """Sleep until `bag_ns` is due; calls tick(bag time now) every `tick_period_s` while waiting (the /clock
        publisher). False if `stop` was set first."""
        while (remaining := self.due_in_s(bag_ns)) > 0.0:
            if tick is not None:
                tick(min(self.bag_now_ns(), bag_ns))  # never past the message: /clock stays monotonic
                remaining = min(remaining, tick_period_s)
            if stop.wait(remaining):
                return False
        return not stop.is_set()
