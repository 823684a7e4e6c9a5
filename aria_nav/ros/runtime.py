"""Process entry point shared by every node: `ros2 run aria_nav <node>` ends up in run_node().

- SIGINT and SIGTERM stop the node cleanly: the spin loop ends, the node's close() stops its workers and
  finishes its files, the context shuts down and the process exits 0 (the reference app died with SIGABRT).
- A ConfigError (bad parameter, missing or wrong-kind file, unusable model) is one line on stderr and exit 2.
- Any other exception raised by a callback (a message or timer tick that meets a bug) loses that message only: it
  is logged as one throttled error line naming the exception and where it was raised, counted in the node's
  diagnostics (errors, last_error), and the node keeps running. Crashing instead would silence the walking aid
  for the respawn delay and the restart, and a message that keeps coming (a looping bag, a broken publisher) would
  crash it again and again. Worker threads follow the same policy (core.latest.LatestWorker).
"""
from __future__ import annotations

import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Callable, List, Optional

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from aria_nav.core.stage_stats import StageStats
from aria_nav.ros.params import ConfigError

EXIT_CONFIG_ERROR = 2
CALLBACK_ERROR_LOG_PERIOD_S = 5.0
CALLBACK_ERROR = "internal error in a callback"  # how the log line begins (tests look for it)


class AriaNode(Node):
    """Base class: nodes override close() to stop workers and flush outputs; it runs exactly once."""

    exit_requested = False
    exit_error: Optional[ConfigError] = None
    callback_errors = 0
    _error_stats: Optional[StageStats] = None

    def close(self) -> None:
        """Release what the node holds (threads, files, sessions). Called once, before the node is destroyed."""

    def request_exit(self, error: Optional[ConfigError] = None) -> None:
        """Ask run_node to end the process from any thread: exit 0, or with `error` one line and exit 2."""
        self.exit_error = error
        self.exit_requested = True

    def attach_error_stats(self, stats: StageStats) -> None:
        """Where report_callback_error() counts (NodeDiagnostics attaches its stats)."""
        self._error_stats = stats

    def report_callback_error(self, exc: Exception) -> None:
        """A callback raised `exc`: count it and log one throttled line; the node keeps running."""
        self.callback_errors += 1
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
        message = f"{CALLBACK_ERROR}: {type(exc).__name__}: {exc}{where}"
        if self._error_stats is not None:
            self._error_stats.record_error(message)
        self.get_logger().error(f"{message} (that message is dropped; {self.callback_errors} so far)",
                                throttle_duration_sec=CALLBACK_ERROR_LOG_PERIOD_S)


def stop_on_signals() -> threading.Event:
    """An event that SIGINT and SIGTERM set (in place of their default handlers): loops poll it and end cleanly."""
    stop = threading.Event()

    def request_stop(signum, _frame):
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop


def run_node(factory: Callable[[], AriaNode], name: str, args: Optional[List[str]] = None) -> int:
    stop = stop_on_signals()
    try:
        rclpy.init(args=sys.argv if args is None else args, signal_handler_options=SignalHandlerOptions.NO)
    except _rclpy.RCLError as exc:  # --ros-args rcl rejects: a params file it cannot parse, a malformed -p/-r rule
        print(f"aria_nav {name}: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG_ERROR
    node = None
    code = 0
    try:
        node = factory()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok() and not node.exit_requested:
            try:
                executor.spin_once(timeout_sec=0.1)
            except (ConfigError, ExternalShutdownException):
                raise
            except Exception as exc:  # noqa: BLE001 - see the module doc: one lost message, not a dead node
                node.report_callback_error(exc)
        if node.exit_error is not None:
            raise node.exit_error
    except ConfigError as exc:
        print(f"aria_nav {name}: {exc}", file=sys.stderr, flush=True)
        code = EXIT_CONFIG_ERROR
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return code


def main_for(factory: Callable[[], AriaNode], name: str) -> Callable[[], None]:
    """A console-script main() for the node class `factory`."""

    def main() -> None:
        sys.exit(run_node(factory, name))

    return main
