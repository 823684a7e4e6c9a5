"""Which inputs have gone quiet, and the one-time "degraded" / "restored" news the wearer is told about it.

An input is fresh while messages keep arriving and stale once none came for `stale_after_s`. An input never
seen is "waiting" during `startup_grace_s` after start (models take a while to load) and stale after it.

What the wearer hears follows the worst problem: no detections ("obstacle detection has stopped": nothing can
be warned about) outranks no depth ("distances are not available": obstacles are still named, without distance).
Each change of that state is announced once (degraded with its reason, or restored), never repeated while it
lasts.

A recording that ends (the camera says so) is no fault: from then on nothing is stale and nothing is announced
but the end itself, once; a new start of the input starts the watch afresh.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

FRESH, WAITING, STALE = "fresh", "waiting", "stale"
DETECTIONS, DEPTH = "detections", "depth"


@dataclass(frozen=True)
class HealthChange:
    degraded: bool  # False: restored
    reason: str  # the input concerned: DETECTIONS or DEPTH


class VisionHealth:
    def __init__(self, stale_after_s: float, startup_grace_s: float, start_s: float):
        self.stale_after_s = stale_after_s
        self.startup_grace_s = startup_grace_s
        self._start_s = start_s
        self._last: Dict[str, Optional[float]] = {DETECTIONS: None, DEPTH: None}
        self.reason: Optional[str] = None  # the announced problem, None while healthy
        self.input_ended = False

    def end_of_input(self) -> bool:
        """The camera's input ended normally; True the first time (the end is to be announced once)."""
        first = not self.input_ended
        self.input_ended, self.reason = True, None
        return first

    def input_started(self, now_s: float) -> None:
        """The camera (re)started its input: inputs get the start-up grace again."""
        if self.input_ended:
            self.input_ended = False
            self._start_s = now_s
            self._last = {name: None for name in self._last}

    def seen(self, input_name: str, now_s: float) -> None:
        self._last[input_name] = now_s

    def state(self, input_name: str, now_s: float) -> str:
        last = self._last[input_name]
        if last is None:
            return WAITING if now_s - self._start_s < self.startup_grace_s else STALE
        return FRESH if now_s - last < self.stale_after_s else STALE

    def silent_for(self, input_name: str, now_s: float) -> Optional[float]:
        last = self._last[input_name]
        return None if last is None else now_s - last

    def update(self, now_s: float) -> Optional[HealthChange]:
        """The change to announce now, if any."""
        if self.input_ended:
            return None
        if self.state(DETECTIONS, now_s) == STALE:
            reason = DETECTIONS
        elif self.state(DEPTH, now_s) == STALE:
            reason = DEPTH
        else:
            reason = None
        if reason == self.reason:
            return None
        previous, self.reason = self.reason, reason
        return HealthChange(False, previous) if reason is None else HealthChange(True, reason)

    @property
    def depth_down(self) -> bool:
        """As of the last update(): depth is out, detections are processed without it."""
        return self.reason == DEPTH
