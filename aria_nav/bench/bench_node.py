"""A node in a bench's own process: its own rclpy context on the caller's ROS_DOMAIN_ID, spun on a background
thread; no signal handlers (Ctrl-C ends the bench, not the context). Subclasses add subscriptions in __init__ and
call start()."""
from __future__ import annotations

import threading


class BenchNode:
    def __init__(self, name: str):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        self._rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(name, context=self.context)
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name=f"{name}-spin", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self._executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._executor.shutdown()
        self.node.destroy_node()
        self._rclpy.shutdown(context=self.context)
