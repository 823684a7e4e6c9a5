"""Process entry point shared by every node: `ros2 run aria_nav <node>` ends up in run_node().

- SIGINT and SIGTERM stop the node cleanly: the spin loop ends, the node's close() stops its workers and
  finishes its files, the context shuts down and the process exits 0 (the reference app died with SIGABRT).
- A ConfigError (bad parameter, missing or wrong-kind file, unusable model) is one line on stderr and exit 2.
"""
from __future__ import annotations

import signal
import sys
import threading
from typing import Callable, List, Optional

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from aria_nav.ros.params import ConfigError

EXIT_CONFIG_ERROR = 2


class AriaNode(Node):
    """Base class: nodes override close() to stop workers and flush outputs; it runs exactly once."""

    def close(self) -> None:
        """Release what the node holds (threads, files, sessions). Called once, before the node is destroyed."""


def run_node(factory: Callable[[], AriaNode], name: str, args: Optional[List[str]] = None) -> int:
    stop = threading.Event()

    def request_stop(signum, _frame):
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    rclpy.init(args=sys.argv if args is None else args, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    code = 0
    try:
        node = factory()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
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
