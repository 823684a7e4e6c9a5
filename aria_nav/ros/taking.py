"""Subscriptions taken by a thread of their own, not by the node's executor: the per-frame hops.

rclpy's executor rebuilds its wait set over every entity of the node (timers, the parameter services, each
subscription) and runs each callback as a task; between a frame's arrival and its callback that cost 1.1-1.2 ms
per hop on the H200's host and 2.0 ms on a 2-core VM, against 0.7 ms there for a wait set holding only the frame
subscriptions (docs/detection.md, Diagnostics). A TakeThread waits on exactly its subscriptions and calls their
callbacks on its thread, in the executor's order: after each wait, one message of every ready subscription, in
the order the subscriptions were created. The executor still serves everything else (timers, services).

Callbacks of one TakeThread run one at a time, holding `lock`; a node whose executor callbacks share state with
them (fusion's timer) takes the same lock there. Node.destroy_node() must come after stop() (AriaNode does so).
"""
from __future__ import annotations

import contextlib
import inspect
import threading
from typing import Any, Callable, List, Optional

from rclpy.callback_groups import CallbackGroup
from rclpy.exceptions import InvalidHandle
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.subscription import Subscription

WAIT_NS = 100_000_000  # longest wait: how soon the thread notices a context shut down under it


class _NotByExecutor(CallbackGroup):
    """The callback group of a TakeThread's subscriptions: an executor never waits on them or runs them."""

    def can_execute(self, entity) -> bool:
        return False

    def beginning_execution(self, entity) -> bool:
        return False

    def ending_execution(self, entity) -> None:
        pass


class TakeThread:
    """Subscriptions of `node` whose messages a daemon thread named `name` takes and hands to their callbacks
    (callback(msg) or callback(msg, message_info), as with create_subscription). Call start() once the node is
    ready for them (the end of its constructor); an exception a callback raises goes to `on_error`."""

    def __init__(self, node: Node, name: str, on_error: Callable[[Exception], None]):
        self._node = node
        self._name = name
        self._on_error = on_error
        self._group = _NotByExecutor()
        self._subscriptions: List[Subscription] = []
        self._with_info: List[bool] = []
        self._wake = _rclpy.GuardCondition(node.context.handle)  # stop() and a new subscription end a wait
        self._stopping = False
        self._ended = False
        self._thread: Optional[threading.Thread] = None
        self.lock = threading.Lock()

    def subscribe(self, msg_type: Any, topic: str, callback: Callable, qos: QoSProfile) -> Subscription:
        subscription = self._node.create_subscription(msg_type, topic, callback, qos, callback_group=self._group)
        with self.lock:
            self._subscriptions.append(subscription)
            self._with_info.append(len(inspect.signature(callback).parameters) == 2)
        self._wake.trigger_guard_condition()
        return subscription

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        context = self._node.context
        wait_set, waited_on = None, []
        while not self._stopping and context.ok():
            with self.lock:
                subscriptions, with_info = list(self._subscriptions), list(self._with_info)
            try:
                with contextlib.ExitStack() as in_use:  # nothing waited on is destroyed under the wait
                    in_use.enter_context(context.handle)
                    for subscription in subscriptions:
                        in_use.enter_context(subscription.handle)
                    if waited_on != subscriptions:
                        wait_set = _rclpy.WaitSet(len(subscriptions), 1, 0, 0, 0, 0, context.handle)
                        waited_on = subscriptions
                    wait_set.clear_entities()
                    for subscription in subscriptions:
                        wait_set.add_subscription(subscription.handle)
                    wait_set.add_guard_condition(self._wake)
                    wait_set.wait(WAIT_NS)
                    ready = wait_set.get_ready_entities("subscription")
                    for subscription, info in zip(subscriptions, with_info):
                        if subscription.handle.pointer in ready and not self._stopping:
                            self._take(subscription, info)
            except InvalidHandle:  # the node or the context is going away
                return
            except _rclpy.RCLError:
                if self._stopping or not context.ok():
                    return
                raise

    def _take(self, subscription: Subscription, with_info: bool) -> None:
        taken = subscription.handle.take_message(subscription.msg_type, subscription.raw)
        if taken is None:
            return
        with self.lock:
            try:
                if with_info:
                    subscription.callback(*taken)
                else:
                    subscription.callback(taken[0])
            except Exception as exc:  # noqa: BLE001 - one lost message, as on the executor (runtime.spin_once)
                self._on_error(exc)

    def stop(self, timeout: float) -> bool:
        """Take no more messages and wait up to `timeout` s for the thread; True once it has ended (again at once
        on a later call)."""
        if self._ended:
            return True
        self._stopping = True
        self._wake.trigger_guard_condition()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        self._ended = True
        self._wake.destroy_when_not_in_use()
        return True
