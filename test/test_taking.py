"""TakeThread over real DDS: messages reach their callbacks with no executor spinning, in subscription order, a
raising callback loses only its message, and stop() ends the thread (again at once on a second call)."""
from __future__ import annotations

import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy")
from std_msgs.msg import String  # noqa: E402

from aria_nav.ros.qos import reliable_qos  # noqa: E402
from aria_nav.ros.runtime import AriaNode  # noqa: E402

DEADLINE_S = 60.0


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {DEADLINE_S} s: {what}"
        time.sleep(0.02)


def test_messages_reach_the_callbacks_on_the_take_thread_without_an_executor(ros_domain):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    node = AriaNode("taking_test", context=context)
    errors, got = [], []
    lock = threading.Lock()

    def on_first(msg, info):
        with lock:
            got.append(("first", msg.data, threading.current_thread().name, info["received_timestamp"] > 0))
        if msg.data == "bad":
            raise ValueError("a bad message")

    def on_second(msg):
        with lock:
            got.append(("second", msg.data, threading.current_thread().name, True))

    try:
        taking = node.take_thread("taking-test")
        taking.subscribe(String, "/taking_first", on_first, reliable_qos())
        taking.subscribe(String, "/taking_second", on_second, reliable_qos())
        node.report_callback_error = errors.append  # what the node would count and log
        taking.start()
        first = node.create_publisher(String, "/taking_first", reliable_qos())
        second = node.create_publisher(String, "/taking_second", reliable_qos())
        _wait_for(lambda: first.get_subscription_count() and second.get_subscription_count(), "discovery")
        for data in ("a", "bad", "b"):
            first.publish(String(data=data))
        second.publish(String(data="c"))
        _wait_for(lambda: len(got) == 4, f"4 messages taken (got {got})")
        assert sorted(entry[:2] for entry in got) == [("first", "a"), ("first", "b"), ("first", "bad"),
                                                      ("second", "c")]
        assert {entry[2] for entry in got} == {"taking-test"}  # nobody spun the node: the take thread did it all
        assert all(entry[3] for entry in got), "the callback with two arguments gets the MessageInfo"
        assert [str(exc) for exc in errors] == ["a bad message"]
        assert taking.stop(5.0) and taking.stop(5.0)
        first.publish(String(data="after stop"))
        time.sleep(0.5)
        assert len(got) == 4
    finally:
        node.destroy_node()
        context.try_shutdown()
