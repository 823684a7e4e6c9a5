"""The two processes of the transport benchmark: `pub TOPIC COUNT RATE W H` and `sub TOPIC COUNT`."""
from __future__ import annotations

import json
import sys
import time

import numpy as np
import rclpy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from aria_nav.ros.conversions import array_to_image, image_to_array
from aria_nav.ros.qos import sensor_qos


def publish(topic: str, count: int, rate_hz: float, width: int, height: int) -> None:
    node = rclpy.create_node("transport_bench_pub")
    publisher = node.create_publisher(Image, topic, sensor_qos())
    frame = np.random.default_rng(0).integers(0, 255, (height, width, 3), np.uint8)
    while publisher.get_subscription_count() == 0:
        time.sleep(0.05)
    publish_ms = []
    period = 1.0 / rate_hz
    next_time = time.monotonic()
    for _ in range(count):
        start = time.perf_counter()
        header = Header(stamp=node.get_clock().now().to_msg(), frame_id="bench")
        publisher.publish(array_to_image(frame, "rgb8", header))
        publish_ms.append((time.perf_counter() - start) * 1e3)
        next_time += period
        time.sleep(max(0.0, next_time - time.monotonic()))
    time.sleep(0.5)
    print(json.dumps({"publish_ms": publish_ms}))


def subscribe(topic: str, count: int) -> None:
    node = rclpy.create_node("transport_bench_sub")
    latencies = []
    steps = []  # per message, ms: stamp -> DDS write, write -> received by Fast DDS, received -> callback

    def on_image(msg: Image, info) -> None:
        taken = node.get_clock().now().nanoseconds
        image_to_array(msg)  # the conversion every node does
        now = node.get_clock().now().nanoseconds
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        latencies.append((now - stamp) / 1e6)
        sent, arrived = info["source_timestamp"], info["received_timestamp"]
        if sent and arrived:
            steps.append(((sent - stamp) / 1e6, (arrived - sent) / 1e6, (taken - arrived) / 1e6))

    node.create_subscription(Image, topic, on_image, sensor_qos())
    deadline = None
    while len(latencies) < count:
        rclpy.spin_once(node, timeout_sec=0.1)
        if node.count_publishers(topic) > 0 and deadline is None:
            deadline = time.monotonic() + count / 5.0 + 10.0
        if deadline is not None and time.monotonic() > deadline:
            break
    print(json.dumps({"latencies_ms": latencies, "steps_ms": steps}))


def main() -> None:
    rclpy.init(args=[])
    role, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if role == "pub":
        publish(topic, count, float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        subscribe(topic, count)
    rclpy.shutdown()


if __name__ == "__main__":
    main()
