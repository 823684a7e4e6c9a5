"""The graph started through aria_nav.runner.Runner, watched by an rclpy node of this process: what regression replay,
the demo and the graph tests share.

The session's node spins on a thread of its own (its callbacks only store what arrives), /diagnostics tells when
each node has finished starting (a node publishes its first status from its timer, i.e. once its constructor, models
and subscriptions included, is done), and the runners' node states tell when a node died. Node output goes to the
given sink and the last lines are kept, so a failure can be shown with what the nodes said before it.
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Callable, Deque, Dict, Iterable, List, Optional

from diagnostic_msgs.msg import DiagnosticArray

from aria_nav import topics
from aria_nav.ros.qos import reliable_qos
from aria_nav.ros.spinning import BackgroundNode
from aria_nav.runner import Runner, describe_exit

DIAGNOSTICS_PREFIX = "aria_nav/"  # NodeDiagnostics names its status aria_nav/<node name>
KEPT_LINES = 60
POLL_S = 0.05


class GraphFailure(RuntimeError):
    """The graph could not do the work: a node exited, did not start or did not answer. The message says which."""


class GraphSession:
    def __init__(self, node_name: str, echo: Optional[Callable[[str, str], None]] = None):
        self.lines: Deque[str] = collections.deque(maxlen=KEPT_LINES)
        self._echo = echo
        self._lock = threading.Lock()
        self._runners: List[Runner] = []
        self._diagnostics: Dict[str, Dict[str, str]] = {}
        self._spinning = BackgroundNode(node_name, poll_s=POLL_S)
        self.context, self.node = self._spinning.context, self._spinning.node
        self.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diagnostics, reliable_qos(50))

    # -- graph processes --------------------------------------------------------------------------------------
    def output(self, source: str, line: str) -> None:
        """Output sink for the runners: kept for failure reports, passed on to `echo`."""
        self.lines.append(f"[{source}] {line}")
        if self._echo is not None:
            self._echo(source, line)

    def start(self, runner: Runner) -> None:
        self._runners.append(runner)
        runner.start()

    def exited(self, expected: Iterable[str] = ()) -> Dict[str, str]:
        """Nodes that are no longer running and not about to restart, with how they ended; nodes in `expected`
        count only when they failed (exit code other than 0)."""
        expected = set(expected)
        gone = {}
        for runner in self._runners:
            for name, state in runner.states().items():
                if state.pid is None and not state.respawn_pending and state.returncode is not None:
                    if name not in expected or state.returncode != 0:
                        gone[name] = describe_exit(state.returncode)
        return gone

    def check_nodes(self, expected_exits: Iterable[str] = ()) -> None:
        gone = self.exited(expected_exits)
        if gone:
            raise GraphFailure("; ".join(f"node {name} {how}" for name, how in gone.items()) + self.recent_output())

    def recent_output(self) -> str:
        return "\nlast output of the nodes:\n" + "\n".join(self.lines) if self.lines else ""

    # -- waiting ----------------------------------------------------------------------------------------------
    def wait_until(self, condition: Callable[[], bool], timeout_s: float, what: str,
                   expected_exits: Iterable[str] = ()) -> None:
        """Polls `condition` until it holds; GraphFailure naming `what` on timeout or when a node dies meanwhile."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            self.check_nodes(expected_exits)
            if time.monotonic() >= deadline:
                raise GraphFailure(f"{what} within {timeout_s:g} s" + self.recent_output())
            time.sleep(POLL_S)

    def wait_started(self, names: Iterable[str], timeout_s: float) -> None:
        """Until every named node has published diagnostics, i.e. finished starting."""
        names = list(names)

        def pending() -> List[str]:
            with self._lock:
                return [name for name in names if name not in self._diagnostics]

        self.wait_until(lambda: not pending(), timeout_s,
                        f"nodes did not finish starting (no diagnostics from {', '.join(pending()) or '-'})")

    def diagnostics(self, name: str) -> Dict[str, str]:
        """The latest diagnostic values of node `name` (empty before its first status)."""
        with self._lock:
            return dict(self._diagnostics.get(name, {}))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        with self._lock:
            for status in msg.status:
                if status.name.startswith(DIAGNOSTICS_PREFIX):
                    values = {kv.key: kv.value for kv in status.values}
                    values["_message"] = status.message
                    self._diagnostics[status.name[len(DIAGNOSTICS_PREFIX):]] = values

    # -- shutdown ---------------------------------------------------------------------------------------------
    def stop_graph(self) -> int:
        """Stop every runner, the last started first; 0 when no node failed."""
        status = 0
        for runner in reversed(self._runners):
            status = runner.stop() or status
        return status

    def close(self) -> int:
        status = self.stop_graph()
        self._spinning.close()
        return status

    def __enter__(self) -> "GraphSession":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
