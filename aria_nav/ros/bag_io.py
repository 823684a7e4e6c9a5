"""Recording topics of a running graph into a bag, and playing a bag into it, from an rclpy node.

Both sides move serialized messages only: the recorder subscribes with raw=True and writes the CDR bytes it
receives (stamped with the receive time as the bag's log time), the player publishes the recorded bytes. Nothing is
deserialized on the way, so header stamps and every other field reach the bag and the graph untouched.

- BagRecorder adds subscriptions to a node the caller spins: any topic and type of the graph (type resolved from the
  graph and imported by name), QoS matched to the publishers (best effort for sensor data, transient local for
  latched topics), new topics picked up as they appear.
- BagPlayer publishes a bag's messages: paced with the recorded timing scaled by a rate (play()), or one message per
  step() for lock-step replay; optionally /clock from the bag's timeline for nodes with use_sim_time.
"""
from __future__ import annotations

import importlib
import threading
import time
from functools import partial
from typing import Dict, Iterator, List, Optional, Sequence

from builtin_interfaces.msg import Time
from rclpy.duration import Duration
from rclpy.executors import Executor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.topic_or_service_is_hidden import topic_or_service_is_hidden
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosgraph_msgs.msg import Clock

from aria_nav.core.bag import (BagError, BagMessage, BagReader, BagWriter, MessageDefinitions, Pacer,
                               playback_messages)
from aria_nav.ros.qos import latched_qos, replay_qos, sensor_qos

CLOCK_TOPIC = "/clock"


def message_class(msgtype: str) -> type:
    """The rclpy class of 'package/msg/Type', imported by name (sensor_msgs/msg/Image -> sensor_msgs.msg.Image)."""
    parts = msgtype.split("/")
    if len(parts) != 3 or not all(parts):
        raise BagError(f"'{msgtype}' is not a message type name like sensor_msgs/msg/Image")
    package, kind, name = parts
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError):
        raise BagError(f"message type '{msgtype}' is not installed (no Python class {package}.{kind}.{name})"
                       ) from None


def _qos_time(duration: Duration) -> QosTime:
    return QosTime(*divmod(duration.nanoseconds, 1_000_000_000))


def bag_qos(profile: QoSProfile) -> Qos:
    """A publisher's QoS (as discovered in the graph) in the bag's terms; both use the rmw enum values."""
    return Qos(QosHistory(int(profile.history)), profile.depth, QosReliability(int(profile.reliability)),
               QosDurability(int(profile.durability)), _qos_time(profile.deadline), _qos_time(profile.lifespan),
               QosLiveliness(int(profile.liveliness)), _qos_time(profile.liveliness_lease_duration),
               profile.avoid_ros_namespace_conventions)


def recording_qos(publishers: Sequence[QoSProfile]) -> QoSProfile:
    """Subscription QoS that every publisher of a topic can serve: reliable only if all of them are (a reliable
    reader gets nothing from a best-effort writer), transient local (latched messages too) only if all are."""
    reliable = all(p.reliability == ReliabilityPolicy.RELIABLE for p in publishers)
    latched = all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in publishers)
    # Callbacks only queue the bytes, so a short history suffices; best-effort streams are the camera images.
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100 if reliable else 10,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


def playback_qos(offered: Sequence[Qos], force_reliable: bool) -> QoSProfile:
    """Publisher QoS of a recorded topic: latched stays latched; best effort as recorded unless `force_reliable`
    (replay in which nothing may be lost); otherwise reliable with a deep history."""
    if offered and all(q.durability == QosDurability.TRANSIENT_LOCAL for q in offered):
        return latched_qos()
    if not force_reliable and offered and all(q.reliability == QosReliability.BEST_EFFORT for q in offered):
        return sensor_qos()
    return replay_qos()


class BagRecorder:
    """Records topics into a new bag through `node`, which the caller spins.

    `topics` None records every topic of the graph except hidden ones (like `ros2 bag record --all`); topics that
    do not exist yet are subscribed when their first publisher appears (checked every `discovery_period_s`).
    """

    def __init__(self, node: Node, path, topics: Optional[Sequence[str]] = None, storage: str = "mcap",
                 discovery_period_s: float = 0.25):
        self._node = node
        self._wanted = None if topics is None else {node.resolve_topic_name(t) for t in topics}
        self._definitions = MessageDefinitions()
        self._writer = BagWriter(path, storage, self._definitions)
        self.path = self._writer.path
        self._subscriptions: Dict[str, object] = {}
        self._skipped: set = set()  # topics that cannot be recorded (reported once)
        self._delivered = 0  # subscription callbacks so far
        self._cutoff_ns = 2 ** 63  # messages received after this are not recorded (set when stopping)
        self._discovering = threading.Lock()
        self._discovery = node.create_timer(discovery_period_s, self._discover)
        self._discover()

    @property
    def waiting_for(self) -> List[str]:
        """Requested topics not recorded yet (no publisher seen so far)."""
        return sorted((self._wanted or set()) - set(self._subscriptions) - self._skipped)

    @property
    def failure(self) -> Optional[str]:
        """Why writing the bag failed (disk full, ...), or None."""
        return self._writer.failure

    def _discover(self) -> None:
        with self._discovering:  # the first call (from __init__) and the timer's, on the spinning thread
            self._discover_new_topics()

    def _discover_new_topics(self) -> None:
        for topic, _types in self._node.get_topic_names_and_types():
            if topic in self._subscriptions or topic in self._skipped:
                continue
            if self._wanted is None and topic_or_service_is_hidden(topic):
                continue
            if self._wanted is not None and topic not in self._wanted:
                continue
            publishers = self._node.get_publishers_info_by_topic(topic)
            if not publishers:
                continue  # only subscribers so far: no QoS or type hash to match yet
            try:
                self._subscribe(topic, publishers)
            except BagError as exc:
                self._skipped.add(topic)
                self._node.get_logger().error(f"not recording '{topic}': {exc}")

    def _subscribe(self, topic: str, publishers) -> None:
        msgtype = publishers[0].topic_type
        types = sorted({p.topic_type for p in publishers})
        if len(types) > 1:
            self._node.get_logger().warning(f"'{topic}' is published with several types ({', '.join(types)}): "
                                            f"recording {msgtype} only")
            publishers = [p for p in publishers if p.topic_type == msgtype]
        advertised = str(publishers[0].topic_type_hash)
        definition = self._definitions.definition(msgtype, advertised)
        if definition.rihs01 != advertised:
            self._node.get_logger().warning(
                f"'{topic}': the installed definition of {msgtype} ({definition.rihs01}) differs from the one the "
                f"publisher uses ({advertised}); tools may decode it wrongly")
        cls = message_class(msgtype)
        self._writer.add_topic(topic, msgtype, definition, [bag_qos(p.qos_profile) for p in publishers])
        self._subscriptions[topic] = self._node.create_subscription(
            cls, topic, partial(self._on_message, topic), recording_qos([p.qos_profile for p in publishers]),
            raw=True)
        self._node.get_logger().info(f"recording '{topic}' ({msgtype})")

    def _on_message(self, topic: str, data: bytes, info) -> None:
        self._delivered += 1
        if info["received_timestamp"] <= self._cutoff_ns:
            self._writer.write(topic, info["received_timestamp"], data)

    def flush_pending(self, executor: Executor, timeout_s: float = 0.5) -> None:
        """Before stop(): record what DDS received up to now but the executor has not handed over yet, by
        spinning `executor` until it has no message left (at most `timeout_s`, as streams keep coming).
        Messages received after this call are left out."""
        self._cutoff_ns = time.time_ns()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            before = self._delivered
            executor.spin_once(timeout_sec=0.05)
            if self._delivered == before:
                return

    def stop(self) -> Dict[str, int]:
        """Unsubscribe and close the bag (complete and readable afterwards); returns the message count per topic."""
        self._node.destroy_timer(self._discovery)
        for subscription in self._subscriptions.values():
            self._node.destroy_subscription(subscription)
        self._subscriptions.clear()
        return self._writer.close()

    def close_file(self) -> None:
        """Finish the bag file only (from another thread, when stop() is stuck); later messages are not in it."""
        self._writer.close()


class BagPlayer:
    """Publishes the messages of an open bag through `node` (no spinning needed).

    `topics` None plays all topics whose message type is installed (the others are listed in `skipped`).
    `clock_hz` (None: off) publishes /clock from the bag's timeline: right before each
    message with its log time, and at `clock_hz` while waiting between messages. With `loop` the bag starts over at
    its end; bag time, and with it /clock and the replayed header stamps, then jumps back to the start.
    """

    def __init__(self, node: Node, reader: BagReader, topics: Optional[Sequence[str]] = None,
                 reliable: bool = False, clock_hz: Optional[float] = None, start_offset_s: float = 0.0,
                 loop: bool = False):
        if clock_hz is not None and not clock_hz > 0.0:
            raise BagError(f"clock rate {clock_hz} Hz is not a positive number")
        if topics is not None:
            reader.check_topics(topics)
        self._node = node
        self.reader = reader
        self.skipped: Dict[str, str] = {}  # topic -> why it is not played (type not installed here)
        classes = {}
        for topic in (sorted(reader.topics) if topics is None else topics):
            try:
                classes[topic] = message_class(reader.topics[topic].msgtype)
            except BagError as exc:
                if topics is not None:
                    raise
                self.skipped[topic] = str(exc)
        if not classes:
            raise BagError(f"bag '{reader.path}': no topic can be played ({'; '.join(self.skipped.values())})")
        self._sequence = playback_messages(reader, list(classes), start_offset_s, loop)
        self._start_ns = reader.start_ns + round(start_offset_s * 1e9)
        self._publishers = {topic: node.create_publisher(cls, topic, playback_qos(reader.topics[topic].offered_qos,
                                                                                   reliable))
                            for topic, cls in classes.items()}
        self._clock_hz = clock_hz
        self._clock_publisher = None if clock_hz is None else node.create_publisher(Clock, CLOCK_TOPIC,
                                                                                    sensor_qos())
        self.counts: Dict[str, int] = {topic: 0 for topic in classes}

    @property
    def topics(self) -> List[str]:
        return list(self._publishers)

    def wait_for_subscribers(self, timeout_s: float) -> List[str]:
        """Wait until every played topic has a subscriber (messages published before that are lost); returns the
        topics still without one after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            missing = [t for t, p in self._publishers.items() if p.get_subscription_count() == 0]
            if not missing or time.monotonic() >= deadline:
                return missing
            time.sleep(0.02)

    def _publish_clock(self, bag_ns: int) -> None:
        self._clock_publisher.publish(Clock(clock=Time(sec=bag_ns // 1_000_000_000,
                                                       nanosec=bag_ns % 1_000_000_000)))

    def _publish(self, message: BagMessage) -> None:
        if self._clock_publisher is not None:
            self._publish_clock(message.log_time_ns)
        self._publishers[message.topic].publish(message.data)
        self.counts[message.topic] += 1

    def step(self) -> Optional[BagMessage]:
        """Publish the next message now and return it; None at the end of the bag."""
        entry = next(self._sequence, None)
        if entry is None:
            return None
        self._publish(entry[1])
        return entry[1]

    def __iter__(self) -> Iterator[BagMessage]:
        """Lock-step replay: each message is published as the loop reaches it."""
        while (message := self.step()) is not None:
            yield message

    def play(self, rate: float = 1.0, stop: Optional[threading.Event] = None) -> int:
        """Publish the remaining messages with their recorded timing scaled by `rate` (0: as fast as possible)
        until the end of the bag or `stop`; returns how many were published."""
        stop = stop or threading.Event()
        pacer = Pacer(rate)
        tick = None if self._clock_hz is None else self._publish_clock
        tick_period_s = 1.0 / self._clock_hz if self._clock_hz else 0.0
        published, current_pass = 0, None
        for pass_number, message in self._sequence:
            if pass_number != current_pass:
                pacer.restart(self._start_ns)
                current_pass = pass_number
            if not pacer.wait_until(message.log_time_ns, stop, tick, tick_period_s):
                break
            self._publish(message)
            published += 1
        return published

    def close(self, ack_timeout_s: float = 5.0) -> List[str]:
        """Wait (up to `ack_timeout_s`; 0: not at all) until reliable subscribers acknowledged everything, then
        remove the publishers; returns the topics whose messages were not all acknowledged in time. (Fast DDS
        acknowledges on its heartbeat, so waiting can take a few seconds.)"""
        unacknowledged = [topic for topic, publisher in self._publishers.items()
                          if ack_timeout_s > 0 and not publisher.wait_for_all_acked(Duration(seconds=ack_timeout_s))]
        for publisher in list(self._publishers.values()) + [self._clock_publisher]:
            if publisher is not None:
                self._node.destroy_publisher(publisher)
        self._publishers.clear()
        return unacknowledged
