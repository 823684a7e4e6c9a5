"""What the wearer hears when the graph runs long and when its nodes die, measured on the whole graph as launched
(aria_nav.runner, the looped sample, speech writing WAV files): every sentence the speech node says (its spoken
topic) with its time, each node's memory.

- soak(): the graph for a while; counts the health sentences (slow, degraded, restored) against the obstacle
  warnings, and each node's RSS after warm-up and at the end.
- kill_each(): `kill -9` of each node in turn once the graph works; what was said from the kill until the node
  is back and a settling time has passed, with the times from the kill; when the runner restarted it.

Used by `aria-nav bench outages` (numbers in docs/reliability.md).
"""
from __future__ import annotations

import math
import os
import re
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from aria_nav import topics
from aria_nav.core.speech.phrases import ENGLISH
from aria_nav.core.speech.request import DEGRADED, RESTORED, SLOW
from aria_nav.ros.spinning import BackgroundNode

NODES = ("camera", "detector", "depth", "fusion", "speech")
START_TIMEOUT_S = 180.0
BACK_TIMEOUT_S = 120.0


def health_kind(text: str) -> Optional[str]:
    """DEGRADED, RESTORED or SLOW for a health sentence of the English table, None for anything else."""
    for key, template in ENGLISH.templates.items():
        event = key.split("_")[0]
        if template == text and event in (DEGRADED, RESTORED, SLOW):
            return event
    return None


class _Listener(BackgroundNode):
    """The spoken sentences with their times, and the newest status of every node."""

    def __init__(self):
        from aria_nav_msgs.msg import Utterance
        from diagnostic_msgs.msg import DiagnosticArray

        from aria_nav.ros.qos import reliable_qos

        super().__init__("aria_nav_outage_bench")
        self.spoken: List[Tuple[float, str]] = []
        self.status: Dict[str, Tuple[float, Dict[str, str]]] = {}
        self._lock = threading.Lock()
        self.node.create_subscription(Utterance, topics.SPEECH_SPOKEN, self._on_spoken, reliable_qos(100))
        self.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diagnostics, reliable_qos(100))

    def _on_spoken(self, msg) -> None:
        with self._lock:
            self.spoken.append((time.monotonic(), msg.text))

    def _on_diagnostics(self, msg) -> None:
        with self._lock:
            for status in msg.status:
                values = {kv.key: kv.value for kv in status.values}
                values["message"] = status.message
                self.status[status.name.split("/")[-1]] = (time.monotonic(), values)

    def said_since(self, since: float) -> List[Tuple[float, str]]:
        with self._lock:
            return [(t, text) for t, text in self.spoken if t > since]

    def fresh(self, node: str, since: float, condition: Callable[[Dict[str, str]], bool] = lambda v: True) -> bool:
        with self._lock:
            arrived, values = self.status.get(node, (0.0, {}))
        return arrived > since and condition(values)


INPUTS_OF = {"camera": ("detections", "depth"), "detector": ("detections",), "depth": ("depth",)}
AGO = re.compile(r"^(fresh|slow) \(([0-9.]+) s ago\)$")


def _inputs_fresh(values: Dict[str, str], inputs: Sequence[str] = ("detections", "depth"),
                  within_s: float = math.inf) -> bool:
    """Fusion's status says each of `inputs` is fresh or slow, its last message less than `within_s` ago."""
    for name in inputs:
        match = AGO.match(values.get(f"{name}_input", ""))
        if match is None or float(match.group(2)) >= within_s:
            return False
    return True


def _wait(condition, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - start


@dataclass
class KillResult:
    node: str
    restarted_s: Optional[float]  # the runner's new process
    back_s: Optional[float]  # the node doing its work again, as seen from its (or fusion's) /diagnostics
    said: List[Tuple[float, str]] = field(default_factory=list)  # (seconds after the kill, sentence)

    def count(self, kind: str) -> int:
        return sum(health_kind(text) == kind for _, text in self.said)


@dataclass
class SoakResult:
    duration_s: float
    said: List[Tuple[float, str]]  # (seconds from the start, sentence)
    rss_mb: Dict[str, List[Tuple[float, float]]]  # node -> (seconds from the start, RSS MB)

    def count(self, kind: Optional[str]) -> int:
        return sum(health_kind(text) == kind for _, text in self.said)


class _Graph:
    """The default graph (launch arguments `arguments`) under aria_nav.runner, speech writing WAVs in a temporary
    folder, the camera looping the sample; and the listener."""

    def __init__(self, arguments: Dict[str, str], output=None):
        from aria_nav.runner import Runner

        self.wav_dir = Path(tempfile.mkdtemp(prefix="aria_nav_outages_"))
        self.runner = Runner(arguments, output=output or (lambda source, line: None),
                             overrides={"camera": {"loop": True},
                                        "speech": {"output": "wav", "wav_dir": str(self.wav_dir)}})
        self.listener = _Listener()

    def __enter__(self) -> "_Graph":
        self.runner.start()
        started = time.monotonic()
        _wait(lambda: self.listener.fresh("fusion", started, _inputs_fresh) and self.listener.fresh("speech", started),
              START_TIMEOUT_S, "fusion receiving detections and depth, and the speech node")
        return self

    def __exit__(self, *exc_info) -> None:
        self.runner.stop(signal.SIGINT)
        self.listener.close()

    def pid(self, node: str) -> Optional[int]:
        return self.runner.states()[node].pid


def soak(duration_s: float, arguments: Dict[str, str], sample_every_s: float = 10.0,
         report: Callable[[str], None] = print) -> SoakResult:
    import psutil

    with _Graph(arguments) as running:
        start = time.monotonic()
        rss: Dict[str, List[Tuple[float, float]]] = {}
        while time.monotonic() - start < duration_s:
            for name, state in running.runner.states().items():
                try:
                    rss.setdefault(name, []).append(
                        (time.monotonic() - start, psutil.Process(state.pid).memory_info().rss / 1e6))
                except (psutil.Error, TypeError):  # restarting (pid None) or just gone
                    pass
            said = running.listener.said_since(start)
            report(f"{time.monotonic() - start:6.0f} s: {len(said)} sentences, "
                   f"{sum(health_kind(t) is not None for _, t in said)} about health")
            time.sleep(sample_every_s)
        said = [(t - start, text) for t, text in running.listener.said_since(start)]
    return SoakResult(duration_s, said, rss)


def kill_each(nodes: Sequence[str], arguments: Dict[str, str], settle_s: float = 30.0,
              report: Callable[[str], None] = print) -> List[KillResult]:
    results = []
    with _Graph(arguments) as running:
        for node in nodes:
            pid = running.pid(node)
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            result = KillResult(node, None, None)
            try:
                result.restarted_s = _wait(lambda: running.pid(node) not in (None, pid), BACK_TIMEOUT_S,
                                           f"the runner restarting {node}")
                restarted_at = killed + result.restarted_s
                def working_again() -> bool:
                    if node in INPUTS_OF:  # back: fusion receives what it feeds again, sent after its restart
                        return running.listener.fresh("fusion", restarted_at, lambda values: _inputs_fresh(
                            values, INPUTS_OF[node], time.monotonic() - restarted_at))
                    return running.listener.fresh(node, restarted_at)

                _wait(working_again, BACK_TIMEOUT_S, f"{node} working again")
                result.back_s = time.monotonic() - killed
            except RuntimeError as exc:
                report(f"{node}: {exc}")
            time.sleep(settle_s)
            result.said = [(t - killed, text) for t, text in running.listener.said_since(killed)]
            results.append(result)
            report(format_kill(result))
    return results


def format_kill(result: KillResult) -> str:
    def s(value):
        return "never" if value is None else f"{value:.1f} s"

    health = [f"{t:.1f} s '{text}'" for t, text in result.said if health_kind(text)]
    return (f"kill -9 {result.node}: restarted after {s(result.restarted_s)}, working again after "
            f"{s(result.back_s)}; outage messages {result.count(DEGRADED)}, recovery messages "
            f"{result.count(RESTORED)}, slow {result.count(SLOW)}: {'; '.join(health) or 'nothing'}")


def format_soak(result: SoakResult, warmup_s: float = 120.0) -> str:
    lines = [f"{result.duration_s / 60:.0f} min: {len(result.said)} sentences: {result.count(None)} obstacle "
             f"warnings, {result.count(SLOW)} slow, {result.count(DEGRADED)} degraded, {result.count(RESTORED)} "
             f"restored"]
    lines += [f"  {t:.0f} s: {text}" for t, text in result.said if health_kind(text)]
    for name, samples in sorted(result.rss_mb.items()):
        after = [mb for t, mb in samples if t >= warmup_s]
        if after:
            lines.append(f"  {name}: RSS {after[0]:.0f} MB at {warmup_s:.0f} s, max {max(after):.0f}, "
                         f"end {after[-1]:.0f} MB")
    return "\n".join(lines)
