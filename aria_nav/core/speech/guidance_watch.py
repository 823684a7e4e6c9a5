"""The speech node's watch on fusion, the stage that decides what is said: fusion sends its /diagnostics every
second even when nothing is to be said (its heartbeat), so its silence means guidance has stopped (fusion died,
hangs, or never started), which fusion cannot say itself.

- No heartbeat for `timeout_s` (or none at all `startup_grace_s` after the speech node started): "guidance
  stopped", once.
- Heartbeats again, `restore_messages` of them (core.health.Outage, with its flap rule): "guidance is back", once.
- The first heartbeat says fusion has been up `restart_margin_s` longer than this node: the speech node came up
  into a running graph, so it was restarted (or started late): "voice guidance restarted", once, so that the wearer
  who heard nothing for a while knows speech works again.
"""
from __future__ import annotations

from typing import List, Optional

from aria_nav.core.health import DOWN, UP, Heartbeat, Outage, OutagePolicy

STOPPED, BACK, RESTARTED = "stopped", "back", "restarted"


class GuidanceWatch:
    def __init__(self, timeout_s: float, startup_grace_s: float, start_s: float, restart_margin_s: float = 10.0,
                 outage: OutagePolicy = OutagePolicy(restore_messages=2)):
        self.restart_margin_s = restart_margin_s
        self._start_s = start_s
        self._heartbeat = Heartbeat(timeout_s, startup_grace_s, start_s)
        self._outage = Outage(outage)

    @property
    def heartbeats(self) -> int:
        return self._heartbeat.count

    @property
    def down(self) -> bool:
        return self._outage.down

    def heartbeat(self, now_s: float, uptime_s: Optional[float] = None) -> List[str]:
        """Fusion's status arrived (`uptime_s`: how long fusion has been running, if it says)."""
        events = []
        if self.heartbeats == 0 and uptime_s is not None and uptime_s - (now_s - self._start_s) > self.restart_margin_s:
            events.append(RESTARTED)
        self._heartbeat.beat(now_s)
        self._outage.arrived(now_s)
        return events + self.update(now_s)

    def update(self, now_s: float) -> List[str]:
        change = self._outage.update(now_s, self._heartbeat.silent(now_s))
        return [STOPPED] if change == DOWN else [BACK] if change == UP else []
