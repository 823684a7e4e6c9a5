"""Two hosts: the camera node in one network namespace ("glasses host"), the detector and a bag recorder in another
("GPU server"), joined by a veth pair with TEST-NET-1 addresses (192.0.2.0/24, inside the namespaces only). Frames
cross over Fast DDS UDP (each namespace has its own addresses, so Fast DDS treats them as two hosts and uses no
shared memory between them; the veth byte counter shows the images crossing), detections come back carrying the
frame's header. Discovery: the default (multicast over the link), and ROS_STATIC_PEERS for networks without
multicast, with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST alone as the control that nothing crosses then.
Needs root and iproute2 (skipped otherwise); the namespaces are removed in any case. See docs/reliability.md."""
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from mcap.reader import make_reader
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo
from vision_msgs.msg import Detection2DArray

from aria_nav import paths, topics
from aria_nav.ros.diagnostics import stamp_to_ns
from ros_probe import BIN, wait_until

GLASSES_ADDRESS, SERVER_ADDRESS, PREFIX = "192.0.2.1", "192.0.2.2", 24
RECORD_SECONDS = 10.0
RGB_FRAME_BYTES = 704 * 704 * 3  # the camera's default RGB size
YOLO_MODEL = paths.models_dir() / "yolo11n_640.onnx"
RECORDED = {topics.DETECTIONS: Detection2DArray, topics.RGB_INFO: CameraInfo}

DISCOVERY = {
    "multicast": ({}, {}),
    "static_peers": ({"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_STATIC_PEERS": SERVER_ADDRESS},
                     {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_STATIC_PEERS": GLASSES_ADDRESS}),
    "localhost_only": ({"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}, {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}),
}


def _ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Hosts:
    """Two network namespaces joined by a veth pair; removed by close()."""

    def __init__(self):
        tag = os.getpid() % 100_000
        self.glasses, self.server = f"aria_nav_glasses_{tag}", f"aria_nav_server_{tag}"
        self.glasses_link, self.server_link = f"anv{tag}g", f"anv{tag}s"  # interface names: 15 characters at most
        self.created = []
        for namespace in (self.glasses, self.server):
            _ip("netns", "add", namespace)
            self.created.append(namespace)
        _ip("link", "add", self.glasses_link, "type", "veth", "peer", "name", self.server_link)
        for namespace, link, address in ((self.glasses, self.glasses_link, GLASSES_ADDRESS),
                                         (self.server, self.server_link, SERVER_ADDRESS)):
            _ip("link", "set", link, "netns", namespace)
            _ip("-n", namespace, "addr", "add", f"{address}/{PREFIX}", "dev", link)
            _ip("-n", namespace, "link", "set", "lo", "up")
            _ip("-n", namespace, "link", "set", link, "up", "multicast", "on")

    def run(self, namespace, argv, env, log: Path) -> subprocess.Popen:
        """`argv` inside `namespace` (ip netns exec execs it: the process is the command itself)."""
        with open(log, "w") as out:
            return subprocess.Popen(["ip", "netns", "exec", namespace, *argv], stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, **env})

    def sent_bytes(self) -> int:
        """Bytes the glasses namespace sent over the link."""
        result = subprocess.run(["ip", "netns", "exec", self.glasses, "cat",
                                 f"/sys/class/net/{self.glasses_link}/statistics/tx_bytes"],
                                check=True, capture_output=True, text=True)
        return int(result.stdout)

    def close(self):
        for namespace in self.created:  # deleting a namespace deletes its end of the veth pair, and so the pair
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


@pytest.fixture
def hosts():
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root")
    if shutil.which("ip") is None:
        pytest.skip("iproute2 ('ip') is not installed")
    try:
        created = Hosts()
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot create network namespaces here: {' '.join(exc.cmd)}: {exc.stderr.strip()}")
    try:
        yield created
    finally:
        created.close()


def _read_bag(bag: Path):
    messages = {topic: [] for topic in RECORDED}
    for mcap in bag.glob("*.mcap"):
        with open(mcap, "rb") as stream:
            for _, channel, message in make_reader(stream).iter_messages():
                messages[channel.topic].append(deserialize_message(message.data, RECORDED[channel.topic]))
    return messages


@pytest.mark.parametrize("discovery", list(DISCOVERY))
def test_detections_flow_between_two_hosts_over_udp(hosts, ros_domain, tmp_path, discovery):
    if not YOLO_MODEL.exists():
        pytest.skip(f"{YOLO_MODEL} missing: run `aria-nav models build-test`")
    glasses_env, server_env = DISCOVERY[discovery]
    processes = {
        "camera": hosts.run(hosts.glasses, [str(BIN / "camera"), "--ros-args", "-p", "loop:=true",
                                            "-p", "publish_slam:=false", "-p", "publish_imu:=false"],
                            glasses_env, tmp_path / "camera.log"),
        "detector": hosts.run(hosts.server, [str(BIN / "detector"), "--ros-args", "-p", f"model:={YOLO_MODEL}"],
                              server_env, tmp_path / "detector.log"),
    }
    # The recording's fixed window starts once the detector has loaded its model (seconds on a loaded machine,
    # which once left 2 detection sets in the window): it measures the link, not the start-up.
    detector_log = tmp_path / "detector.log"
    wait_until(lambda: "onnxruntime on" in detector_log.read_text(), 120,
               lambda: f"the detector loading its model:\n{detector_log.read_text()}")
    sent_before = hosts.sent_bytes()
    bag = tmp_path / "bag"
    recorder = hosts.run(hosts.server, [str(BIN / "aria-nav"), "bag", "record", "-o", str(bag), "--duration",
                                        str(RECORD_SECONDS), *RECORDED], server_env, tmp_path / "recorder.log")
    try:
        recorder.wait(RECORD_SECONDS + 60)
        sent = hosts.sent_bytes() - sent_before
        codes = {}
        for name, process in processes.items():
            assert process.poll() is None, f"{name} exited:\n{(tmp_path / f'{name}.log').read_text()}"
            process.send_signal(signal.SIGINT)
            codes[name] = process.wait(15)
    finally:
        for process in [recorder, *processes.values()]:
            if process.poll() is None:
                process.kill()
                process.wait()
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("camera", "detector", "recorder")}
    assert recorder.returncode == 0 and codes == {"camera": 0, "detector": 0}, logs
    messages = _read_bag(bag)
    infos = {stamp_to_ns(info.header.stamp): info for info in messages[topics.RGB_INFO]}
    detections = messages[topics.DETECTIONS]
    print(f"\n{discovery}: {len(infos)} camera_info and {len(detections)} detection sets recorded on the server in "
          f"{RECORD_SECONDS:g} s; {sent / 1e6:.1f} MB sent over the link by the glasses namespace"
          f"{f' ({sent / len(infos) / 1e6:.2f} MB per frame)' if infos else ''}")

    if discovery == "localhost_only":  # the control: without peers or multicast, nothing reaches the server
        assert not infos and not detections, logs["recorder"]
        assert "never published, not in the bag" in logs["recorder"]
        return
    assert len(detections) >= 3, logs
    for detection in detections:  # each for a frame that crossed from the glasses, its header carried unchanged
        info = infos.get(stamp_to_ns(detection.header.stamp))
        if info is not None:
            assert detection.header == info.header and detection.header.frame_id == topics.RGB_FRAME
    assert sum(stamp_to_ns(d.header.stamp) in infos for d in detections) >= len(detections) // 2, \
        "detections do not belong to the frames the camera sent"
    assert sent >= len(detections) * RGB_FRAME_BYTES, f"only {sent} bytes crossed the link: not the images"
