"""aria_nav.core.bag without ROS: writing and reading real bag files (MCAP and SQLite 3) with rosbags, checked with
the independent mcap library and sqlite3; message definitions; playback order and timing; `aria-nav bag info` and
its errors for paths that are not usable bags."""
import itertools
import sqlite3
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, TypesysError, get_types_from_msg, get_typestore

from aria_nav import cli
from aria_nav.core.bag import BagError, BagReader, BagWriter, MessageDefinitions, Pacer, playback_messages

IMU = "sensor_msgs/msg/Imu"
STRING = "std_msgs/msg/String"


def _imu(typestore, index: int) -> bytes:
    Imu, Header, Time = (typestore.types[t] for t in (IMU, "std_msgs/msg/Header", "builtin_interfaces/msg/Time"))
    Vector3, Quaternion = typestore.types["geometry_msgs/msg/Vector3"], typestore.types["geometry_msgs/msg/Quaternion"]
    message = Imu(header=Header(stamp=Time(sec=500 + index, nanosec=7 * index), frame_id="aria_imu"),
                  orientation=Quaternion(x=0.0, y=0.0, z=0.0, w=1.0), orientation_covariance=np.zeros(9),
                  angular_velocity=Vector3(x=0.1 * index, y=0.0, z=0.0), angular_velocity_covariance=np.zeros(9),
                  linear_acceleration=Vector3(x=0.0, y=0.0, z=9.81), linear_acceleration_covariance=np.zeros(9))
    return bytes(typestore.serialize_cdr(message, IMU))


def _string(typestore, text: str) -> bytes:
    return bytes(typestore.serialize_cdr(typestore.types[STRING](data=text), STRING))


def write_test_bag(path: Path, storage: str = "mcap") -> dict:
    """A bag with 10 Imu messages 100 ms apart and 3 strings; returns {topic: [(log time, bytes), ...]}."""
    writer = BagWriter(path, storage)
    ts = writer.definitions.typestore
    writer.add_topic("/imu", IMU)
    writer.add_topic("/status", STRING)
    sent = {"/imu": [], "/status": []}
    start = 1_700_000_000_000_000_000
    for i in range(10):
        sent["/imu"].append((start + i * 100_000_000, _imu(ts, i)))
    for i in range(3):
        sent["/status"].append((start + 50_000_000 + i * 300_000_000, _string(ts, f"status {i}")))
    for topic, log_time, data in sorted(((t, lt, d) for t, items in sent.items() for lt, d in items),
                                        key=lambda item: item[1]):
        writer.write(topic, log_time, data)
    assert writer.close() == {"/imu": 10, "/status": 3}
    return sent


def test_mcap_bag_is_standard_mcap_with_ros2msg_schemas(tmp_path):
    sent = write_test_bag(tmp_path / "bag")
    with (tmp_path / "bag" / "bag.mcap").open("rb") as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        topics = {c.topic: c for c in summary.channels.values()}
        assert set(topics) == {"/imu", "/status"}
        assert {summary.schemas[c.schema_id].name for c in topics.values()} == {IMU, STRING}
        assert {summary.schemas[c.schema_id].encoding for c in topics.values()} == {"ros2msg"}
        assert {c.message_encoding for c in topics.values()} == {"cdr"}
        assert b"std_msgs/Header header" in summary.schemas[topics["/imu"].schema_id].data  # dependencies included
        counts = {summary.channels[cid].topic: n for cid, n in summary.statistics.channel_message_counts.items()}
        assert counts == {"/imu": 10, "/status": 3}
        got = {"/imu": [], "/status": []}
        for _schema, channel, message in reader.iter_messages():
            got[channel.topic].append((message.log_time, message.data))
    assert got == sent


def test_sqlite3_bag_is_a_standard_rosbag2_database(tmp_path):
    sent = write_test_bag(tmp_path / "bag", "sqlite3")
    with sqlite3.connect(tmp_path / "bag" / "bag.db3") as db:
        topics = dict(db.execute("SELECT name, type FROM topics"))
        rows = db.execute("SELECT topics.name, timestamp, data FROM messages JOIN topics ON topic_id = topics.id "
                          "ORDER BY messages.id").fetchall()
        definitions = dict(db.execute("SELECT topic_type, encoding FROM message_definitions"))
    assert topics == {"/imu": IMU, "/status": STRING}
    assert definitions == {IMU: "ros2msg", STRING: "ros2msg"}
    assert [(t, d) for name, t, d in rows if name == "/imu"] == sent["/imu"]
    assert [(t, d) for name, t, d in rows if name == "/status"] == sent["/status"]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_reader_gives_messages_in_log_time_order_and_decodes_them(tmp_path, storage):
    sent = write_test_bag(tmp_path / "bag", storage)
    with BagReader(tmp_path / "bag") as reader:
        assert reader.storage == storage
        assert reader.message_count == 13
        assert {t.name: (t.msgtype, t.count) for t in reader.topics.values()} == {"/imu": (IMU, 10),
                                                                                 "/status": (STRING, 3)}
        assert reader.duration_ns == 900_000_000
        messages = list(reader.messages())
        assert [m.log_time_ns for m in messages] == sorted(m.log_time_ns for m in messages)
        assert [(m.log_time_ns, m.data) for m in messages if m.topic == "/imu"] == sent["/imu"]
        imu = reader.deserialize(messages[0])
        assert (imu.header.stamp.sec, imu.header.frame_id) == (500, "aria_imu")
        assert [m.topic for m in reader.messages(["/status"])] == ["/status"] * 3
        with pytest.raises(BagError, match="has no topic /nope"):
            list(reader.messages(["/nope"]))


def test_bare_storage_file_reads_without_metadata(tmp_path):
    sent = write_test_bag(tmp_path / "bag")
    with BagReader(tmp_path / "bag" / "bag.mcap") as reader:
        assert [(m.log_time_ns, m.data) for m in reader.messages(["/status"])] == sent["/status"]


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as exited:
        cli.main(["bag", *map(str, args)])
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def test_info_lists_topics_types_counts_and_duration(tmp_path, capsys):
    write_test_bag(tmp_path / "bag")
    code, out, err = run_cli(capsys, "info", tmp_path / "bag")
    assert (code, err) == (0, "")
    assert "Storage id:        mcap" in out
    assert "Duration:          0.900 s" in out
    assert "Messages:          13" in out
    assert f"/imu     {IMU}  count 10" in out
    assert f"/status  {STRING}  count 3" in out


def _truncated_mcap(tmp_path: Path) -> Path:
    write_test_bag(tmp_path / "whole")
    data = (tmp_path / "whole" / "whole.mcap").read_bytes()
    (tmp_path / "whole" / "whole.mcap").write_bytes(data[: len(data) // 2])  # what a killed recorder leaves
    return tmp_path / "whole"


def make_unusable(tmp: Path, case: str) -> Path:
    if case == "missing":
        return tmp / "nothing_here"
    if case == "empty folder":
        (tmp / "empty").mkdir()
        return tmp / "empty"
    if case == "empty file":
        (tmp / "e.mcap").touch()
        return tmp / "e.mcap"
    if case == "truncated":
        return _truncated_mcap(tmp)
    if case == "not mcap":
        (tmp / "j.mcap").write_bytes(b"not a bag at all")
        return tmp / "j.mcap"
    if case == "text file":
        (tmp / "notes.txt").write_text("hello")
        return tmp / "notes.txt"
    if case == "not sqlite":
        (tmp / "x.db3").write_bytes(b"\x00" * 4096)
        return tmp / "x.db3"
    assert case == "folder of other files"
    (tmp / "d").mkdir()
    (tmp / "d" / "a.txt").write_text("a")
    return tmp / "d"


@pytest.mark.parametrize("case, problem", [
    ("missing", "no such file or directory"),
    ("empty folder", "the folder is empty"),
    ("empty file", "'e.mcap' is empty"),
    ("truncated", "'whole.mcap' is truncated"),
    ("not mcap", "'j.mcap' is not an MCAP file"),
    ("text file", "not a bag"),
    ("not sqlite", "cannot be read"),
    ("folder of other files", "no metadata.yaml"),
])
def test_unusable_bag_path_is_one_error_line_and_exit_2(tmp_path, capsys, case, problem):
    path = make_unusable(tmp_path, case)
    code, out, err = run_cli(capsys, "info", path)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"aria-nav bag: bag '{path}'")
    assert problem in err


def test_writer_refuses_existing_output_unknown_storage_and_unadded_topics(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(BagError, match="exists already"):
        BagWriter(tmp_path / "taken")
    with pytest.raises(BagError, match="storage 'rosbag1' is not one of mcap, sqlite3"):
        BagWriter(tmp_path / "new", "rosbag1")
    with pytest.raises(BagError, match="folder .* does not exist"):
        BagWriter(tmp_path / "no" / "such" / "bag")
    writer = BagWriter(tmp_path / "bag")
    with pytest.raises(BagError, match="topic '/x' was not added"):
        writer.write("/x", 1, b"")
    assert writer.close() == {}


def test_definitions_asked_from_several_threads_at_once_are_each_complete(tmp_path):
    """The bag recorder's first topic discovery (its caller's thread) and its timer's (the spinning thread) ask
    for the same type at once: each must get the complete definition. Without the lock, a thread found the type
    registered before the types it uses and failed ("Type 'std_msgs/msg/Header' is unknown") in 29 of 30 rounds,
    which killed the recorder's spinning thread in one stop of 100 of `aria-nav bench shutdown`."""
    package = tmp_path / "share" / "walk_msgs" / "msg"
    package.mkdir(parents=True)
    (package / "Step.msg").write_text("std_msgs/Header header\nfloat32 length_m\n")
    for _round in range(10):
        definitions = MessageDefinitions(prefixes=[tmp_path, Path(sys.prefix)])
        start, results = threading.Barrier(4), []

        def ask():
            start.wait()
            try:
                results.append(definitions.definition("walk_msgs/msg/Step").text)
            except (BagError, TypesysError) as exc:
                results.append(repr(exc))

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all("MSG: std_msgs/Header" in text for text in results), results


def test_definitions_of_types_outside_the_standard_set_come_from_installed_interface_files(tmp_path):
    package = tmp_path / "share" / "walk_msgs" / "msg"
    package.mkdir(parents=True)
    (package / "Step.msg").write_text("std_msgs/Header header\nfloat32 length_m\nwalk_msgs/Foot[] feet\n")
    (package / "Foot.msg").write_text("uint8 LEFT=0\nuint8 RIGHT=1\nuint8 side\n")
    definitions = MessageDefinitions(prefixes=[tmp_path, Path(sys.prefix)])
    step = definitions.definition("walk_msgs/msg/Step")
    assert step.text.startswith("std_msgs/Header header\nfloat32 length_m\nwalk_msgs/Foot[] feet")
    assert "MSG: walk_msgs/Foot" in step.text and "MSG: std_msgs/Header" in step.text
    assert step.rihs01.startswith("RIHS01_") and len(step.rihs01) == 7 + 64

    # A bag of that type decodes with the definition it carries, without the interface files.
    writer = BagWriter(tmp_path / "bag", definitions=definitions)
    writer.add_topic("/steps", "walk_msgs/msg/Step")
    store = get_typestore(Stores.ROS2_KILTED)  # the test's own, to serialize a message of the new type
    for name in ("Step", "Foot"):
        store.register(get_types_from_msg((package / f"{name}.msg").read_text(), f"walk_msgs/msg/{name}"))
    Step, Foot, Header, Time = (store.types[t] for t in ("walk_msgs/msg/Step", "walk_msgs/msg/Foot",
                                                         "std_msgs/msg/Header", "builtin_interfaces/msg/Time"))
    step_message = Step(header=Header(stamp=Time(sec=3, nanosec=4), frame_id="f"), length_m=0.7,
                        feet=[Foot(side=1), Foot(side=0)])
    writer.write("/steps", 10, bytes(store.serialize_cdr(step_message, "walk_msgs/msg/Step")))
    writer.close()
    with AnyReader([tmp_path / "bag"]) as reader:
        (connection, _, data), = reader.messages()
        decoded = reader.deserialize(data, connection.msgtype)
    assert connection.digest == step.rihs01
    assert ([f.side for f in decoded.feet], decoded.header.stamp.sec) == ([1, 0], 3)
    assert decoded.length_m == pytest.approx(0.7)


def test_graph_hash_differing_from_the_standard_type_uses_the_installed_file(tmp_path):
    package = tmp_path / "share" / "std_msgs" / "msg"
    package.mkdir(parents=True)
    (package / "String.msg").write_text("string data\nuint32 revision\n")  # another version of the type
    definitions = MessageDefinitions(prefixes=[tmp_path])
    standard = definitions.definition(STRING)
    assert standard.text == "string data\n"
    other = definitions.definition(STRING, expected_rihs01="RIHS01_" + "0" * 64)
    assert other.text == "string data\nuint32 revision\n"
    assert other.rihs01 != standard.rihs01


def test_unknown_message_type_is_a_clear_error(tmp_path):
    with pytest.raises(BagError, match="no definition of message type 'nav_msgs_x/msg/Path'.*share/nav_msgs_x/msg/"
                                       "Path.msg"):
        MessageDefinitions(prefixes=[tmp_path]).definition("nav_msgs_x/msg/Path")
    with pytest.raises(BagError, match="not a message type name"):
        MessageDefinitions(prefixes=[tmp_path]).definition("Path")


def test_playback_order_offset_topic_selection_and_loop(tmp_path):
    sent = write_test_bag(tmp_path / "bag")
    with BagReader(tmp_path / "bag") as reader:
        everything = [m for _, m in playback_messages(reader)]
        assert len(everything) == 13 and everything[0].topic == "/imu"
        # 0.35 s in: the Imu messages from 0.4 s and the strings from 0.35 s
        offset = [(m.topic, m.log_time_ns) for _, m in playback_messages(reader, start_offset_s=0.35)]
        start = sent["/imu"][0][0]
        assert offset[0] == ("/status", start + 350_000_000)
        assert [t for topic, t in offset if topic == "/imu"] == [t for t, _ in sent["/imu"][4:]]
        looped = list(itertools.islice(playback_messages(reader, ["/status"], loop=True), 7))
        assert [p for p, _ in looped] == [0, 0, 0, 1, 1, 1, 2]
        assert [m.data for _, m in looped[3:6]] == [d for _, d in sent["/status"]]  # same bytes, pass after pass
        with pytest.raises(BagError, match="start offset 5 s is outside bag"):
            playback_messages(reader, start_offset_s=5.0)
        with pytest.raises(BagError, match="has no topic /depth"):
            playback_messages(reader, ["/imu", "/depth"])
    BagWriter(tmp_path / "empty").close()
    with BagReader(tmp_path / "empty") as reader, pytest.raises(BagError, match="has no messages"):
        playback_messages(reader)


def test_pacer_scales_recorded_gaps_by_the_rate():
    now = [100.0]
    pacer = Pacer(2.0, clock=lambda: now[0])
    pacer.restart(bag_start_ns=5_000_000_000)
    assert pacer.due_in_s(6_000_000_000) == pytest.approx(0.5)  # 1 s of bag time at rate 2
    now[0] += 0.2
    assert pacer.bag_now_ns() == 5_400_000_000
    assert pacer.due_in_s(6_000_000_000) == pytest.approx(0.3)
    assert Pacer(0.0, clock=lambda: now[0]).due_in_s(10 ** 18) == 0.0  # rate 0: everything is due at once
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(BagError, match="playback rate"):
            Pacer(bad)


def test_pacer_waits_for_real_and_ticks_while_waiting():
    pacer = Pacer(1.0)
    pacer.restart(0)
    ticks = []
    started = time.monotonic()
    assert pacer.wait_until(200_000_000, threading.Event(), ticks.append, tick_period_s=0.05)
    assert time.monotonic() - started == pytest.approx(0.2, abs=0.1)
    assert len(ticks) >= 3 and ticks == sorted(ticks) and ticks[-1] <= 200_000_000
    stop = threading.Event()
    stop.set()
    assert not pacer.wait_until(10 ** 10, stop)
