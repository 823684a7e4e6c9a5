"""SIGINT and SIGTERM that come while a node process still imports its libraries (seconds on a loaded machine,
before runtime.Shutdown is installed): held, neither lost nor fatal, and handed over to the Shutdown once it is
installed, which then stops at once (two of them: it leaves at once). Without this a Ctrl-C in that window ended
the node with a KeyboardInterrupt (killed by SIGINT) and a SIGTERM killed it outright: failures to the launcher.
Light on purpose: imported first by every node's entry point (aria_nav.nodes), before numpy, rclpy or a model
runtime."""
from __future__ import annotations

import signal
import sys
import threading
from typing import List

_held: List[int] = []


def hold() -> None:
    """Hold SIGINT and SIGTERM until runtime.Shutdown takes them over; only in a node process (started with
    --ros-args, as both launchers start nodes) and on its main thread: a test or a tool that imports a node module
    in its own process keeps its handlers."""
    if "--ros-args" not in sys.argv or threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _hold)


def _hold(signum: int, _frame) -> None:
    _held.append(signum)


def take() -> List[int]:
    """The signals held so far, in order, forgotten here (call it after installing the handlers that replace
    these)."""
    taken = list(_held)
    _held.clear()
    return taken
