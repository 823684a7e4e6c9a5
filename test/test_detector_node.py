"""Detector nodes over real DDS: real `detector` processes (the RGB instance, a SLAM instance on mono8 frames with
the graph's remappings, and a replay instance) fed real Image messages by a real rclpy node.

All processes of this module share a private ROS domain so parallel test runs do not see each other's topics.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from aria_nav import paths, topics
from aria_nav.core.detection.build import build_test_yolo
from aria_nav.core.detection.classes import COCO_NAMES
from aria_nav.core.detection.synthetic import synthetic_scene
from aria_nav.ros.conversions import array_to_image, image_to_array
from aria_nav.ros.detections import msg_to_class_names, msg_to_detections
from aria_nav.ros.qos import latched_qos, reliable_qos, replay_qos, sensor_qos
from aria_nav.ros.diagnostics import stamp_to_ns

DETECTOR_EXECUTABLE = Path(sys.executable).with_name("detector")
TIMEOUT_S = 60.0
REPLAY_IMAGE, REPLAY_DETECTIONS = "/aria_nav_test/replay/image", "/aria_nav_test/replay/detections"
INSTANCES = {
    # name: (node name, remappings, parameter overrides); all read config/nav.yaml like the graph does.
    "rgb": ("detector", [], []),
    "slam": ("slam_detector_left", [(topics.RGB_IMAGE, topics.SLAM_LEFT_IMAGE),
                                    (topics.DETECTIONS, topics.SLAM_LEFT_DETECTIONS)], ["publish_annotated:=true"]),
    "replay": ("detector_replay", [(topics.RGB_IMAGE, REPLAY_IMAGE), (topics.DETECTIONS, REPLAY_DETECTIONS)],
               ["model:=yolo11n_256.onnx", "process_every_frame:=true", "classes:=[all]", "conf_threshold:=0.05"]),
}
OUTPUT_TOPICS = {"rgb": topics.DETECTIONS, "slam": topics.SLAM_LEFT_DETECTIONS, "replay": REPLAY_DETECTIONS}


class Graph:
    """The detector processes and a test node publishing frames and recording what comes back."""

    def __init__(self, domain: int):
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
        self.processes: Dict[str, subprocess.Popen] = {}
        for key, (name, remappings, params) in INSTANCES.items():
            args = [str(DETECTOR_EXECUTABLE), "--ros-args", "--params-file", str(paths.config_file()),
                    "-r", f"__node:={name}"]
            args += [a for src, dst in remappings for a in ("-r", f"{src}:={dst}")]
            args += [a for p in params for a in ("-p", p)]
            self.processes[key] = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                   text=True)
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("detector_test", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.detections: Dict[str, List[tuple]] = {}
        self.names: Dict[str, List[LabelInfo]] = {}
        for key, topic in OUTPUT_TOPICS.items():
            self.detections[key] = []
            self.names[key] = []
            qos = replay_qos() if key == "replay" else sensor_qos(50)
            self.node.create_subscription(Detection2DArray, topic, self._recorder(self.detections[key]), qos)
            self.node.create_subscription(LabelInfo, topic + topics.CLASS_NAMES_SUFFIX, self.names[key].append,
                                          latched_qos())
        self.annotated: List[Image] = []
        self.node.create_subscription(Image, topics.SLAM_LEFT_DETECTIONS + topics.ANNOTATED_SUFFIX,
                                      self.annotated.append, sensor_qos(50))
        self.diagnostics: List[DiagnosticArray] = []
        self.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self.diagnostics.append, reliable_qos(100))
        self.publishers = {"rgb": self.node.create_publisher(Image, topics.RGB_IMAGE, sensor_qos()),
                           "slam": self.node.create_publisher(Image, topics.SLAM_LEFT_IMAGE, sensor_qos()),
                           "replay": self.node.create_publisher(Image, REPLAY_IMAGE, replay_qos())}

    def _recorder(self, into: list):
        return lambda msg: into.append((msg, time.time_ns()))

    def spin_until(self, condition, what: str, timeout: float = TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            for key, process in self.processes.items():
                if process.poll() is not None:
                    pytest.fail(f"detector '{key}' exited with {process.returncode} while waiting for {what}:\n"
                                f"{process.stdout.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            self.executor.spin_once(timeout_sec=0.02)

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def wait_ready(self, key: str) -> None:
        self.spin_until(lambda: self.names[key], f"the latched class names of '{key}'")
        self.spin_until(lambda: self.publishers[key].get_subscription_count(), f"the subscription of '{key}'")

    def status(self, node_name: str, condition=lambda values: True) -> Optional[dict]:
        """The newest diagnostics values of `node_name` that satisfy `condition`."""
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name == f"aria_nav/{node_name}":
                    values = {kv.key: kv.value for kv in status.values}
                    values["level"], values["message"] = status.level, status.message
                    if condition(values):
                        return values
        return None

    def close(self) -> Dict[str, tuple]:
        results = {}
        for key, process in self.processes.items():
            process.terminate()
        for key, process in self.processes.items():
            try:
                output, _ = process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
            results[key] = (process.returncode, output)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        return results


@pytest.fixture(scope="module")
def graph(module_ros_domain):
    build_test_yolo(paths.models_dir())
    graph = Graph(domain=module_ros_domain)
    yield graph
    for key, (code, output) in graph.close().items():
        assert code == 0, f"detector '{key}' did not stop cleanly on SIGTERM ({code}):\n{output}"


def frame(image: np.ndarray, encoding: str, frame_id: str, stamp: Optional[Time] = None) -> Image:
    if stamp is None:
        now = time.time_ns()
        stamp = Time(sec=now // 1_000_000_000, nanosec=now % 1_000_000_000)
    return array_to_image(image, encoding, Header(stamp=stamp, frame_id=frame_id))


def bad_frames(frame_id: str) -> List[Image]:
    unsupported = frame(np.zeros((48, 64), np.float32), "32FC1", frame_id)
    truncated = frame(np.zeros((48, 64), np.uint8), "mono8", frame_id)
    truncated.data = truncated.data[:1000]
    empty = Image(header=Header(frame_id=frame_id), height=0, width=0, encoding="mono8", step=0)
    return [unsupported, truncated, empty]


def check_layout(msg: Detection2DArray, width: int, height: int) -> None:
    """vision_msgs conventions: each detection carries the source header, one hypothesis, an upright box."""
    assert all(d.header == msg.header and len(d.results) == 1 and d.bbox.center.theta == 0.0 for d in msg.detections)
    detections = msg_to_detections(msg)
    assert len(detections) == len(msg.detections)
    boxes = detections.boxes
    assert np.all(boxes[:, 0] >= 0) and np.all(boxes[:, 2] <= width) and np.all(boxes[:, 1] >= 0)
    assert np.all(boxes[:, 3] <= height) and np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
    assert np.all((detections.class_ids >= 0) & (detections.class_ids < 80))


def test_slam_instance_detects_on_mono8_every_third_frame_with_the_camera_frame_id(graph):
    graph.wait_ready("slam")
    assert msg_to_class_names(graph.names["slam"][0]) == list(COCO_NAMES)
    rng = np.random.default_rng(11)
    sent = []
    for _ in range(9):
        msg = frame(synthetic_scene(rng, 480, 640)[..., 0].copy(), "mono8", topics.SLAM_LEFT_FRAME)
        graph.publishers["slam"].publish(msg)
        sent.append(msg.header.stamp)
        graph.spin_for(0.25)  # slower than the detector: nothing is dropped, only skipped
    graph.spin_until(lambda: len(graph.detections["slam"]) >= 3, "three SLAM detection sets")
    graph.spin_for(0.5)
    received = [msg for msg, _ in graph.detections["slam"]]
    assert [m.header.stamp for m in received] == sent[::3]  # frame_skip 3 (config/nav.yaml)
    for msg in received:
        assert msg.header.frame_id == topics.SLAM_LEFT_FRAME
        check_layout(msg, 640, 480)
    graph.spin_until(lambda: len(graph.annotated) >= 3, "three annotated SLAM frames")
    annotated = graph.annotated[0]
    assert annotated.header == received[0].header
    assert (annotated.width, annotated.height, annotated.encoding) == (640, 480, "rgb8")
    assert image_to_array(annotated).shape == (480, 640, 3)
    # Diagnostics come once a second: wait for the report that counts every frame sent (the last skips included).
    settled = lambda v: v["processed"] == "3" and v["skipped"] == "6"  # noqa: E731
    graph.spin_until(lambda: graph.status("slam_detector_left", settled), "SLAM diagnostics of all nine frames")
    values = graph.status("slam_detector_left", settled)
    assert values["camera"] == "slam_left" and values["input"] == "256x256" and values["skipped"] == "6"
    assert values["frame_skip"] == "3" and values["dropped"] == "0"


def test_replay_instance_processes_every_frame_in_order_and_survives_bad_images(graph):
    graph.wait_ready("replay")
    rng = np.random.default_rng(12)
    good = [frame(synthetic_scene(rng, 360, 480), "bgr8" if i % 2 else "rgb8", "replay_camera",
                  Time(sec=100, nanosec=i)) for i in range(12)]
    bad = bad_frames("replay_camera")
    sequence = good[:4] + bad + good[4:]
    for msg in sequence:  # back to back, faster than inference: reliable QoS and keep_all queue every one
        graph.publishers["replay"].publish(msg)
    graph.spin_until(lambda: len(graph.detections["replay"]) >= len(good), "every replayed frame's detections")
    received = [msg for msg, _ in graph.detections["replay"]]
    assert [m.header.stamp for m in received] == [m.header.stamp for m in good]
    assert sum(len(m.detections) for m in received) > 0  # conf 0.05 on the random-weight model
    for msg in received:
        assert msg.header.frame_id == "replay_camera"
        check_layout(msg, 480, 360)

    def reported(values):
        return values["processed"] == str(len(good)) and values["errors"] == str(len(bad))

    graph.spin_until(lambda: graph.status("detector_replay", reported), "replay diagnostics with 3 errors")
    assert "zero-sized image" in graph.status("detector_replay", reported)["last_error"]
    assert graph.processes["replay"].poll() is None


def test_rgb_instance_drops_stale_frames_and_keeps_latency_bounded(graph):
    graph.wait_ready("rgb")
    rng = np.random.default_rng(13)
    images = [synthetic_scene(rng, 480, 640) for _ in range(4)]
    rate_hz, duration_s = 60.0, 3.0
    count = int(rate_hz * duration_s)
    start = time.monotonic()
    for i in range(count):
        graph.publishers["rgb"].publish(frame(images[i % len(images)], "rgb8", topics.RGB_FRAME))
        while time.monotonic() < start + (i + 1) / rate_hz:
            graph.executor.spin_once(timeout_sec=0.002)
    graph.spin_for(1.5)
    received = graph.detections["rgb"]
    assert 5 <= len(received) < count, f"{len(received)} detection sets for {count} frames"
    latencies_s = np.array([(t - stamp_to_ns(m.header.stamp)) / 1e9 for m, t in received])
    third = len(latencies_s) // 3
    early, late = np.median(latencies_s[:third]), np.median(latencies_s[-third:])
    # Newest-frame policy: latency stays about one inference; a queue would grow it by ~2 s over this run.
    assert late < early + 0.5 and latencies_s.max() < 2.0, f"latencies grew: {np.round(latencies_s, 3)}"
    for msg, _ in received:
        assert msg.header.frame_id == topics.RGB_FRAME
        check_layout(msg, 640, 480)
    graph.spin_until(lambda: graph.status("detector", lambda v: int(v["processed"]) >= len(received)),
                     "RGB diagnostics")
    values = graph.status("detector", lambda v: int(v["processed"]) >= len(received))
    assert int(values["dropped"]) > 0 and values["errors"] == "0"
    assert values["backend"] == "onnxruntime" and values["provider"] == "CPUExecutionProvider"
    assert values["camera"] == "rgb" and values["input"] == "640x640" and values["level"] == DiagnosticStatus.OK
    assert float(values["inference_ms_p50"]) > 0 and float(values["latency_ms_p50"]) < 2000
    # Where the time went, from the source stamp: the same frames pass these milestones in this order.
    hops = {m: float(values[f"hop_{m}_ms_p50"]) for m in ("sent", "arrived", "taken", "started", "published", "done")}
    assert hops["sent"] <= hops["arrived"] <= hops["taken"], hops
    assert hops["started"] <= hops["published"] <= hops["done"] <= float(values["latency_ms_p95"]) + 1000, hops


def test_bad_configuration_is_one_line_and_exit_code_2(ros_domain):
    args = [str(DETECTOR_EXECUTABLE), "--ros-args", "--params-file", str(paths.config_file()),
            "-p", "classes:=[person, persn]"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)  # on ros_domain's ROS_DOMAIN_ID
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aria_nav detector: parameter 'classes': unknown class name "
                                                   "'persn'"), result.stderr


def test_gpu_frame_skip_applies_only_on_a_gpu():
    from aria_nav.ros.intake import effective_frame_skip

    assert effective_frame_skip(3, 1, on_gpu=True) == 1
    assert effective_frame_skip(3, 1, on_gpu=False) == 3
    assert effective_frame_skip(3, 0, on_gpu=True) == 3


def test_frame_qos_keeps_the_asked_depth_in_replay():
    from rclpy.qos import ReliabilityPolicy

    from aria_nav.ros.qos import REPLAY_DEPTH, frame_qos

    assert frame_qos(False, depth=5).depth == 5 and frame_qos(False).reliability == ReliabilityPolicy.BEST_EFFORT
    assert frame_qos(True).depth == REPLAY_DEPTH and frame_qos(True).reliability == ReliabilityPolicy.RELIABLE
    assert frame_qos(True, depth=200).depth == 200  # the IMU's queue is not cut to the frames' depth


def test_a_node_whose_input_never_comes_says_no_input_not_starting(ros_domain):
    """A SLAM detector on a recording without its camera (a video, a Gen2 file with the other SLAM pair): after the
    wait its status is a warning naming the topic, logged once, instead of "starting" for ever."""
    from aria_nav.ros.diagnostics import NodeDiagnostics

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    node = rclpy.create_node("slam_detector_left", context=context)
    try:
        diag = NodeDiagnostics(node)
        assert (diag.status().level, diag.status().message) == (DiagnosticStatus.OK, "starting")
        diag.expect_input("/aria/slam_left/image_raw", after_s=0.0)
        for _ in range(2):  # the second time is not logged again; the status stays
            time.sleep(0.01)
            status = diag.status()
            assert (status.level, status.message) == (DiagnosticStatus.WARN, "no input on /aria/slam_left/image_raw")
        diag.stats.record(1.0)
        assert (diag.status().level, diag.status().message) == (DiagnosticStatus.OK, "running")
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
