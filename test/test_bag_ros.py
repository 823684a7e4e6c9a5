"""`aria-nav bag record|play` and the rclpy BagRecorder/BagPlayer over real DDS, with real bag files.

Every test runs in a ROS domain of its own (the ros_domain fixture), so other DDS tests on the machine neither
reach the recorder nor receive the replayed messages. Topics that must arrive complete are published and replayed
with reliable QoS (--qos-reliable): best effort may drop messages, and these tests count every one.
"""
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rclpy
from builtin_interfaces.msg import Time
from mcap.reader import make_reader
from rclpy.context import Context
from rclpy.duration import Duration
from rclpy.executors import SingleThreadedExecutor
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.highlevel import AnyReader
from sensor_msgs.msg import CameraInfo, Image, Imu
from std_msgs.msg import Header, String

from aria_nav import topics
from aria_nav.core.bag import BagError, BagReader, BagWriter, MessageDefinitions
from aria_nav.ros.bag_io import BagPlayer, BagRecorder
from aria_nav.ros.qos import latched_qos, replay_qos, sensor_qos

ARIA_NAV = Path(sys.executable).parent / "aria-nav"  # .venv/bin/aria-nav

IMAGE, INFO, IMU, STATUS = "/bagtest/image", "/bagtest/camera_info", "/bagtest/imu", "/bagtest/status"
TICK = "/bagtest/tick"


class Graph:
    """The test's side of the graph: one node in a private context, spun on demand; raw subscriptions keep each
    received message's bytes and arrival time."""

    def __init__(self, domain: int):
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("bag_test", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received = {}

    def subscribe(self, cls, topic, qos):
        self.received[topic] = []
        self.node.create_subscription(cls, topic, lambda data: self.received[topic].append((data, time.monotonic())),
                                      qos, raw=True)

    def spin_until(self, condition, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)
        return condition()

    def data(self, topic):
        return [data for data, _ in self.received[topic]]

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


@pytest.fixture
def graph(ros_domain):
    created = Graph(ros_domain)
    yield created
    created.close()


def aria_nav(*args) -> subprocess.Popen:
    """The command, on the test's ROS domain (ROS_DOMAIN_ID, set by the ros_domain fixture, is inherited)."""
    return subprocess.Popen([str(ARIA_NAV), "bag", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, stop_signal=None, timeout_s: float = 30.0):
    if stop_signal is not None:
        process.send_signal(stop_signal)
    out, err = process.communicate(timeout=timeout_s)
    return process.returncode, out, err


def header(index: int, frame_id: str) -> Header:
    # Stamps far from the wall clock: the bag's log time (receive time) can never be mistaken for them.
    return Header(stamp=Time(sec=1000 + index, nanosec=1001 * index + 7), frame_id=frame_id)


def make_image(i):
    return Image(header=header(i, topics.RGB_FRAME), height=3, width=4, encoding="rgb8", step=12,
                 data=bytes([i] * 36))


def make_camera_info(i):
    info = CameraInfo(header=header(i, topics.RGB_FRAME), height=3, width=4, distortion_model="plumb_bob")
    info.k = [600.0 + i, 0.0, 2.0, 0.0, 600.0, 1.5, 0.0, 0.0, 1.0]
    return info


def make_imu(i):
    imu = Imu(header=header(i, topics.IMU_FRAME))
    imu.angular_velocity.x = 0.01 * i
    imu.linear_acceleration.z = 9.81
    return imu


def wait_for_subscribers(graph, publishers, timeout_s=30.0):
    assert graph.spin_until(lambda: all(p.get_subscription_count() > 0 for p in publishers), timeout_s), \
        "the recorder never subscribed"


def test_record_then_play_keeps_every_message_stamp_and_type(graph, tmp_path):
    classes = {IMAGE: Image, INFO: CameraInfo, IMU: Imu, STATUS: String}
    publishers = {topic: graph.node.create_publisher(cls, topic, replay_qos()) for topic, cls in classes.items()}
    bag = tmp_path / "walk"
    recorder = aria_nav("record", "-o", bag, IMAGE, INFO, IMU, STATUS)
    wait_for_subscribers(graph, publishers.values())

    sent = {topic: [] for topic in classes}

    def publish(topic, message):
        publishers[topic].publish(message)
        sent[topic].append(message)

    first_send_ns = time.time_ns()
    for i in range(24):
        publish(IMU, make_imu(i))
        if i % 3 == 0:
            publish(IMAGE, make_image(i))
            publish(INFO, make_camera_info(i))
        if i % 6 == 0:
            publish(STATUS, String(data=f"status {i}"))
        time.sleep(0.005)
    assert all(p.wait_for_all_acked(Duration(seconds=10)) for p in publishers.values())
    last_ack_ns = time.time_ns()
    code, out, err = finish(recorder, signal.SIGINT)
    assert code == 0, err
    assert "44 messages on 4 topics" in out

    # The independent mcap library sees a standard ROS 2 MCAP file.
    with next(bag.glob("*.mcap")).open("rb") as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        channels = {c.topic: c for c in summary.channels.values()}
        assert set(channels) == set(classes)
        assert {t: summary.schemas[c.schema_id].name for t, c in channels.items()} == {
            IMAGE: "sensor_msgs/msg/Image", INFO: "sensor_msgs/msg/CameraInfo", IMU: "sensor_msgs/msg/Imu",
            STATUS: "std_msgs/msg/String"}
        assert {summary.schemas[c.schema_id].encoding for c in channels.values()} == {"ros2msg"}
        assert {c.message_encoding for c in channels.values()} == {"cdr"}
        counts = {summary.channels[cid].topic: n for cid, n in summary.statistics.channel_message_counts.items()}
        assert counts == {IMAGE: 8, INFO: 8, IMU: 24, STATUS: 4}
        recorded = {topic: [] for topic in classes}
        for _schema, channel, message in reader.iter_messages():
            recorded[channel.topic].append(message.data)
            assert first_send_ns <= message.log_time <= last_ack_ns  # the receive time, not the header stamp
    # Compared decoded: CDR alignment padding is not part of a message (rclpy leaves it uninitialised).
    assert {topic: [deserialize_message(d, classes[topic]) for d in data] for topic, data in recorded.items()} == sent

    # rosbags decodes it with the definitions stored in the bag; the hashes are the graph's own.
    with AnyReader([bag]) as reader:
        for connection in reader.connections:
            advertised = graph.node.get_publishers_info_by_topic(connection.topic)[0].topic_type_hash
            assert connection.digest == str(advertised)
        stamps = {topic: [] for topic in classes if topic != STATUS}
        for connection, _, data in reader.messages():
            message = reader.deserialize(data, connection.msgtype)
            if connection.topic in stamps:
                stamps[connection.topic].append((message.header.stamp.sec, message.header.stamp.nanosec,
                                                 message.header.frame_id))
    for topic, got in stamps.items():
        assert got == [(m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id) for m in sent[topic]]

    # Played back to a real subscriber: every message, byte for byte as recorded, so stamps are untouched.
    for topic, cls in classes.items():
        graph.subscribe(cls, topic, replay_qos())
    player = aria_nav("play", bag, "--qos-reliable", "--wait-for-subscribers", 30)
    assert graph.spin_until(lambda: sum(map(len, graph.received.values())) == 44 or player.poll() is not None, 60)
    graph.spin_until(lambda: sum(map(len, graph.received.values())) == 44, 5)
    code, out, err = finish(player)
    assert code == 0, err
    assert "44 messages" in out
    for topic, cls in classes.items():
        assert graph.data(topic) == recorded[topic]
        assert [deserialize_message(data, cls) for data in graph.data(topic)] == sent[topic]


def test_sqlite3_round_trip_of_best_effort_and_latched_topics_stopped_by_sigterm(graph, tmp_path):
    names_topic, imu_topic = "/bagtest/class_names", "/bagtest/imu_best_effort"
    names = graph.node.create_publisher(String, names_topic, latched_qos())
    names_message = String(data='["person", "chair"]')
    names.publish(names_message)  # before the recorder exists: latched
    imu = graph.node.create_publisher(Imu, imu_topic, sensor_qos())
    bag = tmp_path / "db"
    recorder = aria_nav("record", "--all", "--storage", "sqlite3", "-o", bag)
    wait_for_subscribers(graph, [names, imu])
    sent = []
    for i in range(10):
        sent.append(make_imu(i))
        imu.publish(sent[-1])
        time.sleep(0.02)
    time.sleep(0.5)  # best effort has no acknowledgements to wait for
    code, out, err = finish(recorder, signal.SIGTERM)
    assert code == 0, err

    with sqlite3.connect(next(bag.glob("*.db3"))) as db:
        qos = dict(db.execute("SELECT name, offered_qos_profiles FROM topics"))
        rows = db.execute("SELECT topics.name, data FROM messages JOIN topics ON topic_id = topics.id "
                          "ORDER BY timestamp").fetchall()
    assert "reliability: best_effort" in qos[imu_topic]
    assert "durability: transient_local" in qos[names_topic]
    assert [deserialize_message(data, String) for name, data in rows if name == names_topic] == [names_message]
    recorded_imu = [data for name, data in rows if name == imu_topic]
    decoded_imu = [deserialize_message(data, Imu) for data in recorded_imu]
    # A best-effort subscription receives them (a reliable one would receive nothing); all but rare losses
    # arrive, in order.
    assert len(decoded_imu) >= 5 and decoded_imu == [m for m in sent if m in decoded_imu]

    for publisher in (names, imu):  # the bag is the only source from here on
        graph.node.destroy_publisher(publisher)
    graph.subscribe(String, names_topic, latched_qos())
    graph.subscribe(Imu, imu_topic, replay_qos())
    player = aria_nav("play", bag, "--topics", names_topic, imu_topic, "--qos-reliable", "--rate", 0,
                      "--wait-for-subscribers", 30)
    expected = 1 + len(recorded_imu)
    assert graph.spin_until(lambda: sum(map(len, graph.received.values())) == expected, 60)
    code, out, err = finish(player)
    assert code == 0, err
    assert [deserialize_message(data, String) for data in graph.data(names_topic)] == [names_message]
    assert graph.data(imu_topic) == recorded_imu


def write_tick_bag(path: Path, count: int = 20, period_ns: int = 100_000_000) -> list:
    """`count` strings 100 ms apart on TICK; returns their texts."""
    writer = BagWriter(path)
    writer.add_topic(TICK, "std_msgs/msg/String")
    texts = [f"tick {i}" for i in range(count)]
    for i, text in enumerate(texts):
        writer.write(TICK, 1_600_000_000_000_000_000 + i * period_ns, serialize_message(String(data=text)))
    writer.close()
    return texts


def received_texts(graph) -> list:
    # Decoded: a DDS hop pads the serialized bytes to 4-byte alignment.
    return [deserialize_message(data, String).data for data in graph.data(TICK)]


def test_rate_two_plays_in_half_the_recorded_time_with_clock(graph, tmp_path):
    from rosgraph_msgs.msg import Clock

    texts = write_tick_bag(tmp_path / "ticks")  # 1.9 s from first to last message
    graph.subscribe(String, TICK, replay_qos())
    clock = []
    graph.node.create_subscription(Clock, "/clock", lambda m: clock.append(m.clock.sec * 10 ** 9 + m.clock.nanosec),
                                   sensor_qos(depth=100))
    player = aria_nav("play", tmp_path / "ticks", "--rate", 2, "--clock", 20, "--qos-reliable",
                      "--wait-for-subscribers", 30)
    assert graph.spin_until(lambda: len(graph.received[TICK]) == 20, 60)
    code, out, err = finish(player)
    assert code == 0, err
    assert received_texts(graph) == texts
    arrivals = [arrived for _, arrived in graph.received[TICK]]
    assert arrivals[-1] - arrivals[0] == pytest.approx(1.9 / 2.0, rel=0.4)
    bag_start, bag_end = 1_600_000_000_000_000_000, 1_600_000_001_900_000_000
    assert clock == sorted(clock) and bag_start <= clock[0] and clock[-1] <= bag_end
    assert len(clock) > 20  # one before each message, and more at 20 Hz while waiting between them


def test_loop_starts_over_and_sigint_stops_playback(graph, tmp_path):
    texts = write_tick_bag(tmp_path / "ticks")
    graph.subscribe(String, TICK, replay_qos())
    player = aria_nav("play", tmp_path / "ticks", "--loop", "--rate", 4, "--qos-reliable",
                      "--wait-for-subscribers", 30)
    assert graph.spin_until(lambda: len(graph.received[TICK]) >= 25, 60)
    code, out, err = finish(player, signal.SIGINT)
    assert code == 0, err
    assert "(stopped)" in out
    assert received_texts(graph)[:25] == texts + texts[:5]


def test_in_process_recorder_and_lock_step_player(graph, tmp_path):
    late = "/bagtest/late"
    recorder_node = rclpy.create_node("bag_test_recorder", context=graph.context)
    graph.executor.add_node(recorder_node)
    recorder = BagRecorder(recorder_node, tmp_path / "inproc", [late])
    graph.spin_until(lambda: False, 0.3)
    assert recorder.waiting_for == [late]
    publisher = graph.node.create_publisher(String, late, replay_qos())  # appears after recording started
    wait_for_subscribers(graph, [publisher])
    sent = [String(data=f"late {i}") for i in range(5)]
    for message in sent:
        publisher.publish(message)
    assert publisher.wait_for_all_acked(Duration(seconds=10))
    recorder.flush_pending(graph.executor)
    assert recorder.stop() == {late: 5}

    # Lock-step replay from 1 s into the tick bag: each step publishes one message, the next only when asked.
    texts = write_tick_bag(tmp_path / "ticks")
    graph.subscribe(String, TICK, replay_qos())
    with BagReader(tmp_path / "ticks") as reader:
        player = BagPlayer(graph.node, reader, [TICK], reliable=True, start_offset_s=1.0)
        assert player.wait_for_subscribers(30) == []
        for count, expected in enumerate(texts[10:], start=1):
            assert deserialize_message(player.step().data, String).data == expected
            assert graph.spin_until(lambda: len(graph.received[TICK]) == count, 10)
            assert received_texts(graph)[-1] == expected
        assert player.step() is None
        assert player.close() == []
    with BagReader(tmp_path / "inproc") as reader:
        assert [deserialize_message(m.data, String) for m in reader.messages()] == sent
    graph.executor.remove_node(recorder_node)
    recorder_node.destroy_node()


def test_topics_of_types_not_installed_are_skipped_unless_asked_for(graph, tmp_path):
    steps = "/bagtest/steps"
    package = tmp_path / "share" / "walk_msgs" / "msg"  # a type this machine has no Python class for
    package.mkdir(parents=True)
    (package / "Step.msg").write_text("float32 length_m\n")
    writer = BagWriter(tmp_path / "mixed", definitions=MessageDefinitions(prefixes=[tmp_path]))
    writer.add_topic(steps, "walk_msgs/msg/Step")
    writer.add_topic(TICK, "std_msgs/msg/String")
    writer.write(steps, 1, b"\x00\x01\x00\x00\x00\x00\x80\x3f")  # CDR of length_m = 1.0
    writer.write(TICK, 2, serialize_message(String(data="tick 0")))
    writer.close()
    with BagReader(tmp_path / "mixed") as reader:
        player = BagPlayer(graph.node, reader)
        assert player.topics == [TICK]
        assert "message type 'walk_msgs/msg/Step' is not installed" in player.skipped[steps]
        assert [m.topic for m in player] == [TICK]
        player.close(ack_timeout_s=0)
        with pytest.raises(BagError, match="message type 'walk_msgs/msg/Step' is not installed"):
            BagPlayer(graph.node, reader, [steps])


@pytest.mark.parametrize("args, problem", [
    (("play", "{ticks}", "--topics", "/bagtest/nope"), "has no topic /bagtest/nope (its topics: /bagtest/tick)"),
    (("record", "-o", "{ticks}", "/bagtest/x"), "exists already"),
    (("record", "-o", "{tmp}/new"), "name the topics to record, or give --all"),
])
def test_command_errors_are_one_line_and_exit_2(ros_domain, tmp_path, args, problem):
    write_tick_bag(tmp_path / "ticks")
    args = [a.format(ticks=tmp_path / "ticks", tmp=tmp_path) for a in args]
    code, out, err = finish(aria_nav(*args))
    assert code == 2
    assert err.count("\n") == 1 and problem in err


def test_the_graphs_typed_topics_decode_with_an_independent_reader(graph, tmp_path):
    """Detections, their class names, obstacles and /tf_static as the nodes publish them (their own conversion
    functions), recorded by `aria-nav bag record`: the MCAP file carries their schemas, and mcap-ros2-support decodes
    every field without any ROS installation."""
    mcap_ros2 = pytest.importorskip("mcap_ros2.decoder", reason="mcap-ros2-support is not installed")
    from vision_msgs.msg import Detection2DArray, LabelInfo
    from aria_nav_msgs.msg import ObstacleArray
    from tf2_msgs.msg import TFMessage

    from aria_nav.core.detection.detections import Detections
    from aria_nav.core.fusion.obstacle import Obstacle
    from aria_nav.ros.detections import class_names_to_msg, detections_to_msg
    from aria_nav.ros.obstacles import obstacles_to_msg
    from aria_nav.ros.static_tf import camera_mounts, static_transforms_message

    detections = Detections([[10.5, 20.0, 110.25, 220.0]], [0.75], [0])
    obstacle = Obstacle(track_id=3, camera="rgb", class_id=0, class_name="person", score=0.75,
                        box=(10.5, 20.0, 110.25, 220.0), position=(0.1, 0.2, 2.0), distance_m=1.9, bearing_deg=-4.0,
                        approach_mps=0.5, priority=7.0, band="close", direction="ahead", clock=12, urgency="warning",
                        height_band="body", confirmed_frames=4)
    mounts = camera_mounts("sample", "")[0]
    typed = {"/bagtest/detections": (Detection2DArray, replay_qos(), detections_to_msg(detections, header(1, "cam"))),
             "/bagtest/class_names": (LabelInfo, latched_qos(), class_names_to_msg(["person", "car"], 0.25)),
             "/bagtest/obstacles": (ObstacleArray, replay_qos(), obstacles_to_msg([obstacle], header(1, "cam"))),
             topics.TF_STATIC: (TFMessage, latched_qos(), static_transforms_message(mounts, Time(sec=5)))}
    publishers = {topic: graph.node.create_publisher(cls, topic, qos) for topic, (cls, qos, _) in typed.items()}
    bag = tmp_path / "typed"
    recorder = aria_nav("record", "-o", bag, *typed)
    wait_for_subscribers(graph, publishers.values())
    for topic, (_, _, message) in typed.items():
        publishers[topic].publish(message)
    assert all(p.wait_for_all_acked(Duration(seconds=10)) for p in publishers.values())
    code, out, err = finish(recorder, signal.SIGINT)
    assert code == 0, err

    decoded = {}
    with next(bag.glob("*.mcap")).open("rb") as stream:
        reader = make_reader(stream, decoder_factories=[mcap_ros2.DecoderFactory()])
        for schema, channel, _, message in reader.iter_decoded_messages():
            decoded[channel.topic] = (schema.name, message)
    assert {topic: name for topic, (name, _) in decoded.items()} == {
        "/bagtest/detections": "vision_msgs/msg/Detection2DArray", "/bagtest/class_names": "vision_msgs/msg/LabelInfo",
        "/bagtest/obstacles": "aria_nav_msgs/msg/ObstacleArray", topics.TF_STATIC: "tf2_msgs/msg/TFMessage"}
    (detection,) = decoded["/bagtest/detections"][1].detections
    assert (detection.header.stamp.sec, detection.header.frame_id) == (1001, "cam")
    assert (detection.results[0].hypothesis.class_id, detection.results[0].hypothesis.score) == ("0", 0.75)
    assert (detection.bbox.center.position.x, detection.bbox.size_x, detection.bbox.size_y) == (60.375, 99.75, 200.0)
    assert [(c.class_id, c.class_name) for c in decoded["/bagtest/class_names"][1].class_map] == [(0, "person"),
                                                                                                 (1, "car")]
    (placed,) = decoded["/bagtest/obstacles"][1].obstacles
    assert (placed.id, placed.class_name, placed.band, placed.urgency, placed.clock) == (3, "person", 1, 1, 12)
    assert placed.distance_m == pytest.approx(1.9) and placed.position.z == pytest.approx(2.0)
    transforms = decoded[topics.TF_STATIC][1].transforms
    assert sorted(t.child_frame_id for t in transforms) == sorted(m.child for m in mounts)
    assert {t.header.frame_id for t in transforms} == {topics.DEVICE_FRAME}
