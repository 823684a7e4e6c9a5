"""Depth node over real DDS: a real `depth` process fed real Image and CameraInfo messages by a real rclpy node.

The tests run in a ROS domain of this process's own, so parallel test runs do not see each other's topics.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header, String

from aria_nav import paths, topics
from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.depth.build import build_test_depth
from aria_nav.ros.conversions import array_to_image, image_to_array, intrinsics_to_camera_info
from aria_nav.ros.qos import latched_qos, reliable_qos, replay_qos

DEPTH_EXECUTABLE = Path(sys.executable).with_name("depth")
INTRINSICS = PinholeIntrinsics(width=640, height=480, fx=500.0, fy=510.0, cx=318.0, cy=242.0)
TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def model():
    return build_test_depth(paths.models_dir(), 266, "relative")


class Harness:
    """A depth node process and a test node on a private ROS domain."""

    def __init__(self, model: Path, domain: int, *params: str):
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
        args = [str(DEPTH_EXECUTABLE), "--ros-args", "--params-file", str(paths.config_file()),
                "-p", f"model:={model}", "-p", "process_every_frame:=true", *[a for p in params for a in ("-p", p)]]
        self.process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("depth_test", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received = {}
        for name, msg_type, topic, qos in (("depth", Image, topics.DEPTH_IMAGE, reliable_qos(50)),
                                           ("info", CameraInfo, topics.DEPTH_INFO, reliable_qos(50)),
                                           ("points", PointCloud2, topics.DEPTH_POINTS, reliable_qos(50)),
                                           ("colored", Image, topics.DEPTH_COLORED, reliable_qos(50)),
                                           ("mode", String, topics.DEPTH_MODE, latched_qos()),
                                           ("diagnostics", DiagnosticArray, topics.DIAGNOSTICS, reliable_qos(50))):
            self.received[name] = []
            self.node.create_subscription(msg_type, topic, self.received[name].append, qos)
        self.image_pub = self.node.create_publisher(Image, topics.RGB_IMAGE, replay_qos())
        self.info_pub = self.node.create_publisher(CameraInfo, topics.RGB_INFO, replay_qos())

    def spin_until(self, condition, what: str, timeout: float = TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(f"depth node exited with {self.process.returncode} while waiting for {what}:\n"
                            f"{self.process.stdout.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            self.executor.spin_once(timeout_sec=0.05)

    def wait_for_node(self) -> dict:
        self.spin_until(lambda: self.received["mode"], "the latched depth mode")
        self.spin_until(lambda: self.image_pub.get_subscription_count() and self.info_pub.get_subscription_count(),
                        "the depth node's subscriptions")
        self.spin_until(lambda: all(self.node.count_publishers(topic) for topic in (topics.DEPTH_IMAGE,
                                                                                     topics.DEPTH_INFO)),
                        "the depth node's publishers")
        return json.loads(self.received["mode"][0].data)

    def send(self, image: Image, info: CameraInfo = None) -> None:
        if info is not None:
            self.info_pub.publish(info)
        self.image_pub.publish(image)

    def first(self, name: str, stamp: Time):
        return next((m for m in self.received[name] if m.header.stamp == stamp), None)

    def close(self) -> str:
        self.process.terminate()
        try:
            output, _ = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        return output


@pytest.fixture
def harness_factory(model, ros_domain):
    started = []

    def start(*params: str) -> Harness:
        harness = Harness(model, ros_domain, *params)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        output = harness.close()
        assert harness.process.returncode == 0, f"depth node did not stop cleanly on SIGTERM:\n{output}"


def rgb_frame(stamp: Time) -> Image:
    rows, cols = np.mgrid[0:480, 0:640]
    rgb = np.stack([cols * 255 // 640, rows * 255 // 480, (rows + cols) % 256], axis=2).astype(np.uint8)
    return array_to_image(rgb, "rgb8", Header(stamp=stamp, frame_id=topics.RGB_FRAME))


def test_depth_node_publishes_depth_info_points_and_colour_with_the_source_header(harness_factory):
    harness = harness_factory("publish_points:=true", "points_stride:=16", "publish_colored:=true")
    mode = harness.wait_for_node()
    assert mode["mode"] == "approximate" and mode["model_output"] == "relative"
    assert mode["scaling"]["near_m"] == 0.5 and mode["scaling"]["far_m"] == 10.0

    # A malformed frame first: counted and reported, the node keeps running.
    bad = rgb_frame(Time(sec=1, nanosec=0))
    bad.encoding = "yuv422_weird"
    harness.send(bad)
    stamp = Time(sec=1234, nanosec=567_000_000)
    info = intrinsics_to_camera_info(INTRINSICS, Header(stamp=stamp, frame_id=topics.RGB_FRAME))
    # The info and the image travel on separate topics: resend (new stamps) until one frame has everything.
    frame = 0
    while True:
        harness.send(rgb_frame(stamp), info)
        harness.spin_until(lambda: harness.first("depth", stamp), "a depth image")
        harness.spin_until(lambda: harness.first("colored", stamp), "a coloured depth image")
        if harness.first("points", stamp) is not None:
            break
        frame += 1
        assert frame < 5, "no point cloud after 5 frames with camera_info"
        stamp = Time(sec=1234 + frame, nanosec=0)
        info.header.stamp = stamp

    depth_msg = harness.first("depth", stamp)
    assert depth_msg.header.frame_id == topics.RGB_FRAME
    assert (depth_msg.width, depth_msg.height, depth_msg.encoding) == (640, 480, "32FC1")
    depth = image_to_array(depth_msg)
    finite = depth[np.isfinite(depth)]
    assert finite.size > 0.3 * depth.size
    assert finite.min() >= 0.5 - 1e-4 and finite.max() <= 10.0 + 1e-4  # relative_range_m; NaN, never 0 or inf

    harness.spin_until(lambda: harness.first("info", stamp), "depth camera_info")
    info_msg = harness.first("info", stamp)
    assert (info_msg.width, info_msg.height) == (640, 480) and info_msg.header.frame_id == topics.RGB_FRAME
    np.testing.assert_allclose(info_msg.k, [500.0, 0, 318.0, 0, 510.0, 242.0, 0, 0, 1])

    cloud = harness.first("points", stamp)
    assert cloud.header.frame_id == topics.RGB_FRAME
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == \
        [("x", 0, PointField.FLOAT32, 1), ("y", 4, PointField.FLOAT32, 1), ("z", 8, PointField.FLOAT32, 1)]
    assert cloud.point_step == 12 and cloud.height == 1 and not cloud.is_bigendian
    points = np.frombuffer(bytes(cloud.data), "<f4").reshape(-1, 3)
    sampled = depth[::16, ::16]
    assert len(points) == np.isfinite(sampled).sum() > 0
    # Every point lies on the ray of a sampled pixel, at that pixel's published depth.
    u = points[:, 0] * 500.0 / points[:, 2] + 318.0
    v = points[:, 1] * 510.0 / points[:, 2] + 242.0
    cols, rows = np.round(u).astype(int), np.round(v).astype(int)
    np.testing.assert_allclose(u, cols, atol=1e-3)
    np.testing.assert_allclose(v, rows, atol=1e-3)
    assert np.all(cols % 16 == 0) and np.all(rows % 16 == 0)
    np.testing.assert_allclose(points[:, 2], depth[rows, cols], rtol=1e-6)

    colored = harness.first("colored", stamp)
    assert (colored.width, colored.height, colored.encoding) == (640, 480, "rgb8")
    colored_rgb = image_to_array(colored)
    assert np.all(colored_rgb[np.isnan(depth)] == 0)

    def depth_status():
        for array in harness.received["diagnostics"]:
            for status in array.status:
                values = {kv.key: kv.value for kv in status.values}
                if status.name == "aria_nav/depth" and int(values.get("processed", 0)) >= 1:
                    return values
        return None

    harness.spin_until(depth_status, "depth diagnostics")
    values = depth_status()
    assert values["backend"] == "onnxruntime" and values["provider"] == "CPUExecutionProvider"
    assert int(values["errors"]) >= 1 and "yuv422_weird" in values["last_error"]


def test_depth_node_output_size_scales_camera_info(harness_factory):
    harness = harness_factory("output_width:=320", "output_height:=240", "frame_skip:=2")
    harness.wait_for_node()
    stamps = [Time(sec=50, nanosec=n) for n in range(6)]
    info = intrinsics_to_camera_info(INTRINSICS, Header(stamp=stamps[0], frame_id=topics.RGB_FRAME))
    for stamp in stamps:
        harness.send(rgb_frame(stamp), info)
    # frame_skip 2: the 1st, 3rd and 5th frames, each once, in order (process_every_frame).
    harness.spin_until(lambda: len(harness.received["depth"]) >= 3, "three depth images")
    harness.spin_until(lambda: harness.received["info"], "depth camera_info")
    time.sleep(1.0)
    harness.executor.spin_once(timeout_sec=0.1)
    assert [m.header.stamp for m in harness.received["depth"]] == stamps[::2]
    depth_msg = harness.received["depth"][0]
    assert (depth_msg.width, depth_msg.height, depth_msg.encoding) == (320, 240, "32FC1")
    info_msg = harness.received["info"][-1]
    assert info_msg.header.stamp in stamps[::2] and (info_msg.width, info_msg.height) == (320, 240)
    scaled = INTRINSICS.scaled(320, 240)
    np.testing.assert_allclose(info_msg.k, [scaled.fx, 0, scaled.cx, 0, scaled.fy, scaled.cy, 0, 0, 1])


@pytest.mark.parametrize("params, problem", [
    (["backend:=ultralytics"], "backend 'ultralytics' is not available"),
    (["relative_range_m:=[0.05, 10.0]"], "parameter 'relative_range_m'"),
    (["valid_range_m:=[5.0, 1.0]"], "parameter 'valid_range_m'"),
    (["model:=missing_depth_model.onnx"], "missing_depth_model.onnx' does not exist"),
])
def test_bad_configuration_is_one_line_and_exit_code_2(ros_domain, model, params, problem):
    args = [str(DEPTH_EXECUTABLE), "--ros-args", "-p", f"model:={model}"] + [a for p in params for a in ("-p", p)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, ROS_DOMAIN_ID=str(ros_domain)))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aria_nav depth: ") and problem in lines[0], result.stderr
