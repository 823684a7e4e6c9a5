"""How a stream of messages is doing, judged from its arrival times only: the policies behind what the wearer is
told about outages (fusion's inputs, fusion itself as the speech node hears it).

InputRate: an input's rate and its typical interval over its last messages. An input is *silent* once nothing came for
its silence threshold: `stale_after_s`, or `stale_intervals` of its own typical intervals if that is longer (never
beyond `max_stale_after_s`, which is also the threshold after its first message), so that a stage that is merely slow on
this machine (depth at 0.2 Hz on a CPU) is not taken for a dead one. It is *slow* while its rate is below its floor
(`min_rate_hz`, or by default `floor_fraction` of the rate it had over its first RATE_WINDOW intervals); it stops being
slow above the floor plus SLOW_HYSTERESIS.

Heartbeat: whether the node behind a stream is alive, from the status it sends every second whatever it does (its
/diagnostics): silent for `timeout_s`, it is dead or hung, however slow its data is on this machine (a stage at 0.15
Hz is only slow until four of its intervals pass, a dead one is out within seconds). A status from another process
than before (its pid) says the node was restarted, even when the restart was quicker than `timeout_s`.

Outage: whether an input is out, as the wearer is told. Out as soon as it is silent; back after
`restore_messages` arrivals (fusion's inputs: 1, so that distances come back with the first depth image; the
speech node's guidance heartbeat: 2), and when it failed again within `flap_window_s` of its last recovery, only after
`stable_s` without a new silence: a flapping input is said to be out once, and back once it has settled, never
in a loop.
"""
from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Deque, Optional

RATE_WINDOW = 10  # intervals
SLOW_HYSTERESIS = 1.25  # a slow input is no longer slow above this many times its floor
DOWN, UP = "down", "up"


@dataclass(frozen=True)
class RatePolicy:
    stale_after_s: float = 2.0
    stale_intervals: float = 4.0
    max_stale_after_s: float = 30.0
    min_rate_hz: float = 0.0  # 0: floor_fraction of the input's own early rate
    floor_fraction: float = 0.5


@dataclass(frozen=True)
class OutagePolicy:
    restore_messages: int = 1
    flap_window_s: float = 120.0
    stable_s: float = 30.0


class InputRate:
    def __init__(self, policy: RatePolicy):
        self.policy = policy
        self._arrivals: Deque[float] = deque(maxlen=RATE_WINDOW + 1)
        self.reference_hz: Optional[float] = None  # the rate over its first RATE_WINDOW intervals
        self.last: Optional[float] = None
        self.slow = False
        self._typical_before: Optional[float] = None  # the typical interval before an outage
        self._silent_from: Optional[float] = None  # pardon(): silence counts from here, if later than `last`

    def restart(self) -> None:
        """The input was out: measure its rate afresh (the gap is no interval of it); its pace before the outage
        sets its silence threshold until it has one again."""
        self._typical_before = self.typical_interval_s()
        self._arrivals.clear()
        self.slow = False

    def arrived(self, now_s: float) -> None:
        self._arrivals.append(now_s)
        self.last = now_s
        if self.reference_hz is None and len(self._arrivals) == self._arrivals.maxlen:
            self.reference_hz = self.rate_hz()

    def rate_hz(self) -> Optional[float]:
        """Messages per second over the last RATE_WINDOW intervals (None before two messages)."""
        if len(self._arrivals) < 2 or self._arrivals[-1] <= self._arrivals[0]:
            return None
        return (len(self._arrivals) - 1) / (self._arrivals[-1] - self._arrivals[0])

    def typical_interval_s(self) -> Optional[float]:
        times = list(self._arrivals)
        return statistics.median(b - a for a, b in zip(times, times[1:])) if len(times) >= 2 else self._typical_before

    def silence_threshold_s(self) -> float:
        policy, typical = self.policy, self.typical_interval_s()
        if typical is None:  # one message so far: its pace is unknown, give it the longest threshold
            return max(policy.stale_after_s, policy.max_stale_after_s)
        return max(policy.stale_after_s, min(policy.stale_intervals * typical, policy.max_stale_after_s))

    def pardon(self, now_s: float) -> None:
        """Count its silence from `now_s`: what feeds it has just come back, it gets its own time to follow."""
        self._silent_from = now_s

    def silent(self, now_s: float) -> bool:
        if self.last is None:
            return False
        since = max(self.last, self._silent_from) if self._silent_from is not None else self.last
        return now_s - since >= self.silence_threshold_s()

    def floor_hz(self) -> Optional[float]:
        if self.policy.min_rate_hz > 0:
            return self.policy.min_rate_hz
        return None if self.reference_hz is None else self.policy.floor_fraction * self.reference_hz

    def update_slow(self) -> bool:
        """Whether the input is slow now (with hysteresis); True only at the moment it becomes slow."""
        rate, floor = self.rate_hz(), self.floor_hz()
        if rate is None or floor is None or len(self._arrivals) < self._arrivals.maxlen:
            return False
        if self.slow:
            self.slow = rate < floor * SLOW_HYSTERESIS
            return False
        self.slow = rate < floor
        return self.slow


class Heartbeat:
    """Never heard: silent `startup_grace_s` after `start_s` (math.inf: only once it has been heard, for a node
    that need not be in the graph at all)."""

    def __init__(self, timeout_s: float, startup_grace_s: float, start_s: float):
        self.timeout_s = timeout_s
        self.startup_grace_s = startup_grace_s
        self._start_s = start_s
        self.last: Optional[float] = None
        self.count = 0
        self.process: Optional[str] = None

    def beat(self, now_s: float, process: Optional[str] = None) -> bool:
        """A status arrived (`process`: which process sent it, if it says); True if the node was restarted."""
        restarted = process is not None and self.process is not None and process != self.process
        self.count += 1
        self.last = now_s
        self.process = process or self.process
        return restarted

    def silent(self, now_s: float) -> bool:
        if self.last is None:
            return now_s - self._start_s >= self.startup_grace_s
        return now_s - self.last >= self.timeout_s


class Outage:
    def __init__(self, policy: OutagePolicy):
        self.policy = policy
        self.down = False
        self.down_since: Optional[float] = None
        self._flapping = False
        self._recovering_since: Optional[float] = None
        self._arrivals_since = 0
        self._up_at: Optional[float] = None

    def arrived(self, now_s: float) -> None:
        if self.down:
            if self._recovering_since is None:
                self._recovering_since, self._arrivals_since = now_s, 0
            self._arrivals_since += 1

    def update(self, now_s: float, silent: bool) -> Optional[str]:
        """DOWN or UP when the announced state changes now, else None."""
        if silent:
            self._recovering_since, self._arrivals_since = None, 0
            if self.down:
                return None
            self.down, self.down_since = True, now_s
            self._flapping = self._up_at is not None and now_s - self._up_at < self.policy.flap_window_s
            return DOWN
        if not self.down or self._recovering_since is None:
            return None
        hold = self.policy.stable_s if self._flapping else 0.0
        if self._arrivals_since >= self.policy.restore_messages and now_s - self._recovering_since >= hold:
            self.down, self._up_at = False, now_s
            return UP
        return None

    def clear(self) -> None:
        """Not out after all, without an announcement (its outage was part of another one, now over)."""
        self.down, self._recovering_since, self._arrivals_since = False, None, 0
