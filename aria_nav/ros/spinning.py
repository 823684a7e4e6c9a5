"""A node spun on a background thread, in an rclpy context of its own: how tools and tests watch the graph.

The regression replay's session, the graph bench, `aria-nav bag record` and the tests' probe each need a node
whose callbacks run while their own thread waits, sleeps or measures. A context of its own keeps it apart from any
other rclpy use in the process (a second session, a node under test) and lets it pick its ROS domain.
"""
from __future__ import annotations

import sys
import threading
from typing import Optional

POLL_S = 0.05  # longest wait of one spin: how soon stop_spinning() returns


class BackgroundNode:
    """`node`, spun by `executor` on a daemon thread from construction until stop_spinning() or close().

    Callbacks run on that thread: they should only store what arrives (under a lock) for the owner to read.
    `domain_id` None takes ROS_DOMAIN_ID from the environment, as any node does. rclpy installs no signal handlers
    for a context other than its default one: SIGINT and SIGTERM stay the owner's.
    """

    def __init__(self, name: str, domain_id: Optional[int] = None, poll_s: float = POLL_S):
        # rclpy is imported here, not with the module: the benches' CPU burners import their module in child
        # processes that never touch ROS.
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, args=[], domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._poll_s = poll_s
        self.callback_errors = 0  # callbacks that raised (each printed on stderr; the spinning goes on)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name=f"{name}-spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        while not self._stop.is_set():
            try:
                self.executor.spin_once(timeout_sec=self._poll_s)
            except ExternalShutdownException:
                return
            except Exception as exc:  # noqa: BLE001 - a callback's bug loses that call, not every later one
                self.callback_errors += 1
                print(f"{self.node.get_name()}: error in a callback ({self.callback_errors} so far): "
                      f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    def stop_spinning(self) -> None:
        """End the background thread (the executor may then be spun by the caller's thread, e.g. to drain)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def close(self) -> None:
        """Stop spinning, destroy the node and shut its context down."""
        self.stop_spinning()
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()

    def __enter__(self) -> "BackgroundNode":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
