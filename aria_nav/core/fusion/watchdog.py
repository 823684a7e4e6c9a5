"""Which of fusion's inputs are out or slow, and the news the wearer is told about it (policies: core.health).

An input is fresh while messages keep arriving, slow while they come below its rate floor, and stale (out) once
it has been silent for its silence threshold, which follows its own typical interval: a stage that is only slow
on this machine is never taken for a dead one. An input never seen is "waiting" during `startup_grace_s` after
start (models take a while to load) and out after it.

What the wearer hears follows the worst outage: no detections ("obstacle detection has stopped": nothing can be
warned about) outranks no depth ("distances are not available": obstacles are still named, without distance).
Each change of that state is announced once (degraded with its reason, or restored); an input that fails again
soon after it came back is said to be restored only once it has settled (core.health.Outage), so the wearer never
hears a degraded/restored loop. When detections come back from an outage that depth went down in too (the camera
died), depth gets its own silence threshold from then on before it counts as out: one outage, one recovery.
An input that turns slow is announced as slow, one such sentence per `slow_repeat_s` whichever the input, and
its return to speed is not announced (both show on /diagnostics).

The node behind each input (the detector, depth) sends a heartbeat every second whatever its inference rate (its
/diagnostics): with `heartbeat_timeout_s`, an input whose node has fallen silent that long is out at once, however long
its data's own silence threshold is, while a live node that is merely slow stays only slow; a node whose data came
within that time is alive whatever its statuses (they run late while its worker runs). It is back once its node is heard
again and its data is back. A node heard from a new process (restarted quicker than the timeout) has its input out the
same way until its data is back. Heartbeats are not judged right after fusion itself got no CPU for `STALL_S`, nor while
it reads the statuses `STALL_S` or more late (those sent meanwhile may not be read yet). A node never heard is not
watched this way (it need not be in the graph: fusion fed by a bag); its data's silence still counts.

The camera's heartbeat is watched the same way: both inputs come from its frames, so when the camera is dead (its
status silent for `heartbeat_timeout_s`, or heard from a new process) the wearer hears that the camera stopped,
once, not what its silence does to detections and depth; it is back once its node is heard again and detections
come from its frames, and then each input gets its own silence threshold again before it counts as out (one
outage, one recovery). While the camera's status is late (`CAMERA_DOUBT_S`: statuses come every second) a new
outage of an input is held, not said: the camera may be what died, and its timeout tells.

Every outage said is counted per reason (record(), on fusion's /diagnostics), so that a short one can be checked
after it has ended.

A recording that ends (the camera says so) is no fault: from then on nothing is stale and nothing is announced
but the end itself, once; a new start of the input starts the watch afresh.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Set

from aria_nav.core.health import DOWN, UP, Heartbeat, InputRate, Outage, OutagePolicy, RatePolicy
from aria_nav.core.speech.request import DEGRADED, RESTORED, SLOW

STALL_S = 1.0  # an update this long after the previous one finds fusion itself starved of CPU
CAMERA_DOUBT_S = 1.5  # the camera's status this late (sent every second): an input's new outage waits for it
FRESH, WAITING, STALE, SLOW_STATE = "fresh", "waiting", "stale", "slow"
DETECTIONS, DEPTH, CAMERA = "detections", "depth", "camera"


@dataclass(frozen=True)
class HealthChange:
    event: str  # DEGRADED, RESTORED or SLOW (speech request events)
    reason: str  # the input concerned: DETECTIONS or DEPTH; CAMERA: both, the camera died

    @property
    def degraded(self) -> bool:
        return self.event == DEGRADED


class VisionHealth:
    def __init__(self, stale_after_s: float, startup_grace_s: float, start_s: float,
                 rates: Optional[Dict[str, RatePolicy]] = None, outage: OutagePolicy = OutagePolicy(),
                 slow_repeat_s: float = 600.0, heartbeat_timeout_s: float = 0.0):
        self.stale_after_s = stale_after_s
        self.startup_grace_s = startup_grace_s
        self.slow_repeat_s = slow_repeat_s
        self._rates = rates or {}
        self._outage_policy = outage
        self._watch_from(start_s)
        # 0: the nodes' heartbeats are not watched
        self.heartbeats: Dict[str, Heartbeat] = {name: Heartbeat(heartbeat_timeout_s, math.inf, start_s)
                                                 for name in (*self.inputs, CAMERA)} if heartbeat_timeout_s > 0 else {}
        self.outages_said: Dict[str, int] = {name: 0 for name in (DETECTIONS, DEPTH, CAMERA)}
        self._restarted: Set[str] = set()  # inputs whose node restarted and has sent no data since
        self._updated_at: Optional[float] = None
        self._judge_heartbeats = True
        self._least_delay_s: Optional[float] = None
        self._reading_lag_s = 0.0
        self._slow_said: Optional[float] = None  # one "slow" sentence per slow_repeat_s, whichever input
        self.reason: Optional[str] = None  # the announced problem, None while healthy
        self.input_ended = False

    def _watch_from(self, start_s: float) -> None:
        self._start_s = start_s
        self.inputs: Dict[str, InputRate] = {name: InputRate(self._rates.get(name, RatePolicy(self.stale_after_s)))
                                             for name in (DETECTIONS, DEPTH)}
        self._outages = {name: Outage(self._outage_policy) for name in self.inputs}
        self._camera = Outage(OutagePolicy(restore_messages=1))  # back with the first detections from its frames
        self._camera_silent_from: Optional[float] = None  # the camera's last sign of life before its outage
        self._camera_old_process_last: Optional[float] = None  # the last status of the process before a restart

    def end_of_input(self) -> bool:
        """The camera's input ended normally; True the first time (the end is to be announced once)."""
        first = not self.input_ended
        self.input_ended, self.reason = True, None
        return first

    def input_started(self, now_s: float) -> None:
        """The camera (re)started its input: inputs get the start-up grace again."""
        if self.input_ended:
            self.input_ended = False
            self._watch_from(now_s)

    def seen(self, input_name: str, now_s: float) -> None:
        self._restarted.discard(input_name)  # a restarted node's data is back
        self.inputs[input_name].arrived(now_s)
        self._outages[input_name].arrived(now_s)
        if input_name == DETECTIONS:  # made from the camera's frames: a restarted camera is back too
            self._restarted.discard(CAMERA)
            self._camera.arrived(now_s)

    def heard(self, input_name: str, now_s: float, process: Optional[str] = None) -> None:
        """The heartbeat of the node behind `input_name` (or of the CAMERA) arrived (`process`: its sender's pid,
        if it says)."""
        heartbeat = self.heartbeats.get(input_name)
        if heartbeat is None:
            return
        before = heartbeat.last
        outage = self._camera if input_name == CAMERA else self._outages[input_name]
        # A restart is news only if the old process's end was not: an outage since its last status was said
        # already (its new status can come seconds after its data, each discovered on its own).
        said = before is not None and outage.down_since is not None and outage.down_since >= before
        if heartbeat.beat(now_s, process) and not said:
            self._restarted.add(input_name)
            if input_name == CAMERA:
                self._camera_old_process_last = before

    def status_read(self, now_s: float, sent_s: float) -> None:
        """Any node's status was read (`sent_s`: its stamp, the sender's clock): how far behind fusion reads them.
        Fusion takes one status per turn of its executor; busy with frames, it can fall seconds behind the
        statuses of every node, and a queued heartbeat must not count as a missing one. The lag is measured from
        the smallest delay seen, so that another host's clock offset does not count."""
        delay = now_s - sent_s
        self._least_delay_s = delay if self._least_delay_s is None else min(self._least_delay_s, delay)
        self._reading_lag_s = delay - self._least_delay_s

    def node_silent(self, input_name: str, now_s: float) -> bool:
        """The node behind the input has stopped sending its heartbeat (dead or hung)."""
        heartbeat = self.heartbeats.get(input_name)
        return heartbeat is not None and heartbeat.silent(now_s)

    def node_restarted(self, input_name: str) -> bool:
        """The node behind the input was restarted and has sent no data since."""
        return input_name in self._restarted

    def _camera_doubtful(self, now_s: float) -> bool:
        """The camera's status is late (not yet silent): an input's silence may be the camera's death."""
        heartbeat = self.heartbeats.get(CAMERA)
        return (self._judge_heartbeats and heartbeat is not None and heartbeat.last is not None
                and now_s - heartbeat.last >= CAMERA_DOUBT_S)

    def _dead(self, name: str, data: str, now_s: float) -> bool:
        """The node behind `name` has stopped sending its status and `data` (what it makes) has not come for as
        long either: a node whose data still flows is alive, its statuses only late (its executor starved while
        its worker runs), and a dead one stops both at once, so this costs a real death at most one status period."""
        if not self._judge_heartbeats or not self.node_silent(name, now_s):
            return False
        last = self.inputs[data].last
        return last is None or now_s - last >= self.heartbeats[name].timeout_s

    def _silent(self, input_name: str, now_s: float) -> bool:
        if input_name == CAMERA:
            return CAMERA in self._restarted or self._dead(CAMERA, DETECTIONS, now_s)
        if input_name in self._restarted or self._dead(input_name, input_name, now_s):
            return True
        rate = self.inputs[input_name]
        if rate.last is None:
            return now_s - self._start_s >= self.startup_grace_s
        return rate.silent(now_s)

    def state(self, input_name: str, now_s: float) -> str:
        rate = self.inputs[input_name]
        if self._outages[input_name].down or self._silent(input_name, now_s):
            return STALE
        if rate.last is None:
            return WAITING
        return SLOW_STATE if rate.slow else FRESH

    def silent_for(self, input_name: str, now_s: float) -> Optional[float]:
        last = self.inputs[input_name].last
        return None if last is None else now_s - last

    def update(self, now_s: float) -> List[HealthChange]:
        """The changes to announce now, in order (usually none); called periodically (fusion: every 0.1 s)."""
        # Fusion itself got no CPU for a while (a loaded machine): the heartbeats that came meanwhile may still be
        # queued, unread; they are judged on the next update, after they have been read.
        stalled = self._updated_at is not None and now_s - self._updated_at >= STALL_S
        self._updated_at = now_s
        self._judge_heartbeats = not stalled and self._reading_lag_s < STALL_S
        if self.input_ended:
            return []
        camera = self._camera.update(now_s, self._silent(CAMERA, now_s))
        if camera == DOWN:
            heartbeat = self.heartbeats[CAMERA]
            last = self._camera_old_process_last if CAMERA in self._restarted else heartbeat.last
            self._camera_silent_from = now_s if last is None else min(now_s, last)
        elif camera == UP:
            self._after_camera(now_s)
        for name, outage in self._outages.items():
            change = outage.update(now_s, self._silent(name, now_s))
            if change == DOWN:
                self.inputs[name].restart()
            elif change == UP and name == DETECTIONS:
                self._pardon_depth(now_s)
        if self._camera.down:
            reason = CAMERA
        elif self._outages[DETECTIONS].down:
            reason = DETECTIONS
        elif self._outages[DEPTH].down:
            reason = DEPTH
        else:
            reason = None
        changes = []
        held = reason not in (None, CAMERA) and self._camera_doubtful(now_s)
        if reason != self.reason and not held:
            previous, self.reason = self.reason, reason
            changes.append(HealthChange(RESTORED, previous) if reason is None else HealthChange(DEGRADED, reason))
            if reason is not None:
                self.outages_said[reason] += 1
        for name, rate in self.inputs.items():
            became_slow = not self._outages[name].down and rate.update_slow()
            said = self._slow_said
            if became_slow and self.reason is None and (said is None or now_s - said >= self.slow_repeat_s):
                self._slow_said = now_s
                changes.append(HealthChange(SLOW, name))
        return changes

    def _after_camera(self, now_s: float) -> None:
        """The camera is back: the inputs' outages that began while it was silent were part of its own; each input
        gets its own silence threshold from now before it counts as out."""
        for name, outage in self._outages.items():
            if outage.down and outage.down_since is not None and self._camera_silent_from is not None \
                    and outage.down_since >= self._camera_silent_from:
                outage.clear()
            self.inputs[name].pardon(now_s)

    def record(self) -> Dict[str, str]:
        """The outages said so far, per reason (for /diagnostics)."""
        return {f"{reason}_outages_said": str(count) for reason, count in self.outages_said.items()}

    def _pardon_depth(self, now_s: float) -> None:
        """Detections are back after an outage that depth went down in too (the camera died: both stopped): depth
        gets its own silence threshold from now before it counts as out, so that the wearer hears one outage and
        one recovery, not "distances are not available" in between while depth's first inference runs."""
        depth, detections = self._outages[DEPTH], self._outages[DETECTIONS]
        if depth.down and depth.down_since is not None and detections.down_since is not None \
                and depth.down_since >= detections.down_since:
            depth.clear()
        self.inputs[DEPTH].pardon(now_s)

    @property
    def depth_down(self) -> bool:
        """As of the last update(): depth is out, detections are processed without it."""
        return self.reason == DEPTH
