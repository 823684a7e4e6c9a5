"""Per-node /diagnostics publisher: rate, latency from the source image stamp, drops, errors, and whatever the
node adds (backend, provider in use, fallback warnings)."""
from __future__ import annotations

import os
from typing import Dict, Mapping, Optional

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from aria_nav import topics
from aria_nav.core.stage_stats import HOP_PREFIX, HopTimes, StageStats
from aria_nav.ros.qos import reliable_qos
from aria_nav.ros.runtime import AriaNode

OK, WARN, ERROR, STALE = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR,
                          DiagnosticStatus.STALE)
INPUT_LOG_PERIOD_S = 5.0  # every node: the longest a repeated input problem goes unlogged (throttled warnings)


def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class NodeDiagnostics:
    """Holds a StageStats and publishes one DiagnosticStatus named 'aria_nav/<node>' every `period` seconds."""

    def __init__(self, node: Node, period: float = 1.0, hardware_id: str = "aria_nav"):
        self._node = node
        self.stats = StageStats()
        self.hops = HopTimes()
        self._values: Dict[str, str] = {}
        self._level = OK
        self._message = "starting"
        self._hardware_id = hardware_id
        self._expected_input: Optional[str] = None
        self._no_input_after_ns = 0
        self._publisher = node.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, reliable_qos())
        self._timer = node.create_timer(period, self.publish)
        if isinstance(node, AriaNode):  # its callbacks' unexpected errors count here too
            node.attach_error_stats(self.stats)

    def expect_input(self, topic: str, after_s: float = 30.0) -> None:
        """Until the first frame is processed the status says "starting"; from `after_s` seconds on it says
        "no input on <topic>" instead (a warning, logged once): e.g. a recording without SLAM cameras. 30 s, like
        fusion's startup_grace_s: a graph on a busy machine may take that long to start its camera."""
        self._expected_input = topic
        self._no_input_after_ns = self._node.get_clock().now().nanoseconds + int(after_s * 1e9)

    def set_value(self, key: str, value) -> None:
        self._values[key] = str(value)

    def set_status(self, level: int, message: str) -> None:
        self._level, self._message = level, message

    def latency_ms(self, source_stamp: Time) -> float:
        """Milliseconds from the source image's stamp to now on the node's clock."""
        now_ns = self._node.get_clock().now().nanoseconds
        return (now_ns - stamp_to_ns(source_stamp)) / 1e6

    def record(self, source_stamp: Time) -> float:
        latency = self.latency_ms(source_stamp)
        self.stats.record(latency)
        return latency

    def record_hop(self, milestone: str, source_stamp: Time) -> None:
        """A frame reached `milestone` now (e.g. started, done): ms from its source stamp, on /diagnostics."""
        self.hops.record(milestone, self.latency_ms(source_stamp))

    def record_arrival(self, prefix: str, source_stamp: Time, info: Optional[Mapping[str, int]]) -> None:
        """Where a message's time went on its way here, from rclpy's MessageInfo (a subscription callback taking
        two arguments gets it): `<prefix>sent` when the upstream publisher wrote it, `<prefix>arrived` when DDS
        received it in this process, `<prefix>taken` now, in the callback (after the executor's wake-up, take and
        deserialisation). Milestones the middleware leaves at 0 are skipped."""
        stamp_ns = stamp_to_ns(source_stamp)
        for milestone, key in (("sent", "source_timestamp"), ("arrived", "received_timestamp")):
            at_ns = (info or {}).get(key) or 0
            if at_ns > 0:
                self.hops.record(prefix + milestone, (at_ns - stamp_ns) / 1e6)
        self.record_hop(prefix + "taken", source_stamp)

    def status(self) -> DiagnosticStatus:
        stats = self.stats
        latency = stats.latency_percentiles()
        values = {
            "rate_hz": f"{stats.rate_hz():.2f}",
            "latency_ms_p50": f"{latency[50]:.1f}",
            "latency_ms_p95": f"{latency[95]:.1f}",
            "processed": str(stats.processed),
            "dropped": str(stats.dropped),
            "errors": str(stats.errors),
            "pid": str(os.getpid()),  # a new one says the node was restarted (fusion's heartbeat watch)
        }
        if stats.last_error:
            values["last_error"] = stats.last_error
        for milestone, ms in self.hops.percentiles().items():
            values[f"{HOP_PREFIX}{milestone}_ms_p50"] = f"{ms[50]:.2f}"
            values[f"{HOP_PREFIX}{milestone}_ms_p95"] = f"{ms[95]:.2f}"
        values.update(self._values)
        level, message = self._level, self._message
        if level == OK and stats.processed:
            message = "running"
        elif level == OK and self._expected_input and self._node.get_clock().now().nanoseconds > \
                self._no_input_after_ns:
            level, message = WARN, f"no input on {self._expected_input}"
            if self._message == "starting":
                self._node.get_logger().warning(f"{message} (is the camera publishing it?)")
                self._message = "waiting for input"
        return DiagnosticStatus(level=level, name=f"aria_nav/{self._node.get_name()}", message=message,
                                hardware_id=self._hardware_id,
                                values=[KeyValue(key=k, value=v) for k, v in values.items()])

    def publish(self, extra: Optional[DiagnosticStatus] = None) -> None:
        array = DiagnosticArray()
        array.header.stamp = self._node.get_clock().now().to_msg()
        array.status = [self.status()] + ([extra] if extra else [])
        self._publisher.publish(array)
