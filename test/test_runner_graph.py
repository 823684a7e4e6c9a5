"""`aria-nav launch` for real: camera and detector as separate processes over DDS, started and stopped the way a
user does it (the CLI, then Ctrl-C), watched by a test node on a ROS domain of this test's own."""
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sensor_msgs.msg import CameraInfo
from vision_msgs.msg import Detection2DArray, LabelInfo

from aria_nav import graph, runner, topics
from aria_nav.ros.qos import latched_qos, result_qos, sensor_qos
from aria_nav.ros.diagnostics import stamp_to_ns
from aria_nav.ros.spinning import BackgroundNode

NODES = ("camera", "detector")
DETECTIONS_WANTED = 3
TIMEOUT_S = 90.0
# After Ctrl-C every node must be gone well before the launcher would escalate to SIGTERM.
STOP_BUDGET_S = graph.STOP_SIGINT_TIMEOUT_S + 1.0


class Watcher:
    """Test node: records the camera's RGB CameraInfo headers and the detector's outputs."""

    def __init__(self, domain: int):
        self._spinning = BackgroundNode("runner_graph_test", domain_id=domain)
        self.node = self._spinning.node
        self.lock = threading.Lock()
        self.infos = {}  # stamp ns -> CameraInfo
        self.detections = []
        self.class_names = []
        self.node.create_subscription(CameraInfo, topics.RGB_INFO, self._on_info, sensor_qos(50))
        self.node.create_subscription(Detection2DArray, topics.DETECTIONS, self._on_detections, result_qos())
        self.node.create_subscription(LabelInfo, topics.DETECTIONS + topics.CLASS_NAMES_SUFFIX,
                                      self.class_names.append, latched_qos())

    def _on_info(self, msg):
        with self.lock:
            self.infos[stamp_to_ns(msg.header.stamp)] = msg

    def _on_detections(self, msg):
        with self.lock:
            self.detections.append(msg)

    def matched(self):
        """Detections whose stamp is one the camera published, with that frame's CameraInfo."""
        with self.lock:
            return [(d, self.infos[stamp_to_ns(d.header.stamp)]) for d in self.detections
                    if stamp_to_ns(d.header.stamp) in self.infos]

    def close(self):
        self._spinning.close()


def _require_graph_pieces():
    for name in NODES:
        if runner.find_executable(graph.node(name)) is None:
            pytest.skip(f"executable of node '{name}' is not installed")
    model = Path(graph.resolve_arguments({})["yolo_model"])
    if not model.exists():
        pytest.skip(f"{model} missing: run `aria-nav models build-test`")


def test_launch_runs_nodes_as_processes_over_dds_and_ctrl_c_stops_them_cleanly(ros_domain):
    _require_graph_pieces()
    watcher = Watcher(ros_domain)
    launcher = subprocess.Popen(
        [str(Path(sys.executable).with_name("aria-nav")), "launch", "--nodes", ",".join(NODES), "source:=sample"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    output = []
    reader = threading.Thread(target=lambda: output.extend(launcher.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while len(watcher.matched()) < DETECTIONS_WANTED or not watcher.class_names:
            assert launcher.poll() is None, "aria-nav launch ended early:\n" + "".join(output)
            assert time.monotonic() < deadline, (
                f"after {TIMEOUT_S} s: {len(watcher.infos)} camera frames, {len(watcher.detections)} detections "
                f"({len(watcher.matched())} with a camera stamp), {len(watcher.class_names)} class-name messages; "
                "output:\n" + "".join(output))
            time.sleep(0.1)

        launcher.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal does
        stop_started = time.monotonic()
        returncode = launcher.wait(timeout=graph.STOP_SIGINT_TIMEOUT_S + graph.STOP_SIGTERM_TIMEOUT_S + 5)
        stop_took = time.monotonic() - stop_started
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        watcher.close()
    reader.join(timeout=5)
    text = "".join(output)

    # Messages: the right types, each detection set carrying its camera frame's header unchanged.
    for detections, info in watcher.matched():
        assert isinstance(detections, Detection2DArray)
        assert detections.header == info.header
        assert detections.header.frame_id == topics.RGB_FRAME
        assert all(d.header == info.header and d.results for d in detections.detections)
    assert isinstance(watcher.class_names[0], LabelInfo) and watcher.class_names[0].class_map

    # Shutdown: exit 0, quickly, every node exited 0 by itself, no process left.
    assert returncode == 0, text
    assert stop_took < STOP_BUDGET_S, f"stopping took {stop_took:.1f} s:\n{text}"
    pids = {name: int(pid) for name, pid in re.findall(r"^\[launch\] (\w+): started \(pid (\d+)\)$", text, re.M)}
    assert set(pids) == set(NODES), text
    for name, pid in pids.items():
        assert f"[launch] {name}: exited with code 0\n" in text, text
        assert not Path(f"/proc/{pid}").exists(), f"{name} (pid {pid}) still exists after the launcher ended"
    assert "SIGTERM" not in text and "SIGKILL" not in text, text
    assert text.rstrip().endswith("[launch] done; no node failed"), text
