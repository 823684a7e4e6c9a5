"""The fusion node as a process over real DDS, fed synthetic detections, depth, camera_info, IMU and RGB images:
obstacle messages (distance, bearing, stamps, frames), markers, annotated image, speech requests, and what it does
when inputs go missing (one "degraded" and one "restored" request, diagnostics) or are malformed."""
import json
import math
import time

import numpy as np
import pytest
import rclpy
from aria_nav_msgs.msg import ObstacleArray
from aria_nav_msgs.msg import SpeechRequest as SpeechRequestMsg
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import TransformStamped
from sensor_msgs.msg import CameraInfo, Image, Imu
from std_msgs.msg import Header, String
from vision_msgs.msg import Detection2D, Detection2DArray, LabelInfo
from visualization_msgs.msg import MarkerArray

from aria_nav import topics
from aria_nav.ros.conversions import array_to_image, image_to_array, intrinsics_to_camera_info
from aria_nav.ros.detections import class_names_to_msg, detections_to_msg
from aria_nav.ros.obstacles import band_name, direction_name, msg_to_records
from aria_nav.ros.qos import latched_qos, reliable_qos, result_qos, sensor_qos
from aria_nav.ros.diagnostics import stamp_to_ns
from aria_nav.ros.speech_msgs import msg_to_request
from ros_probe import start_node, stop_node, write_params
from test_guidance_support import CHAIR, INTR, NAMES, PERSON, render

STALE_S = 0.6


class Feeder:
    """Publishes one synthetic frame at a time, stamped with the host clock like the camera node does."""

    def __init__(self, node):
        self.node = node
        self.detections = node.create_publisher(Detection2DArray, topics.DETECTIONS, result_qos())
        self.depth = node.create_publisher(Image, topics.DEPTH_IMAGE, result_qos())
        self.info = node.create_publisher(CameraInfo, topics.RGB_INFO, sensor_qos())
        self.rgb = node.create_publisher(Image, topics.RGB_IMAGE, sensor_qos())
        self.imu = node.create_publisher(Imu, topics.IMU, sensor_qos())
        self.names = node.create_publisher(LabelInfo, topics.DETECTIONS + topics.CLASS_NAMES_SUFFIX, latched_qos())
        self.names.publish(class_names_to_msg(NAMES, 0.25))
        self.stamps = []

    def frame(self, objects, with_depth=True, with_detections=True):
        header = Header(stamp=self.node.get_clock().now().to_msg(), frame_id=topics.RGB_FRAME)
        detections, depth = render(objects)
        self.info.publish(intrinsics_to_camera_info(INTR, header))
        self.rgb.publish(array_to_image(np.full((INTR.height, INTR.width, 3), 90, np.uint8), "rgb8", header))
        for i in range(20):  # standing still: 200 Hz accelerometer noise around g
            imu = Imu(header=Header(stamp=header.stamp, frame_id=topics.IMU_FRAME))
            imu.linear_acceleration.z = 9.81 + 0.02 * math.sin(i)
            self.imu.publish(imu)
        if with_detections:
            self.detections.publish(detections_to_msg(detections, header))
        if with_depth:
            self.depth.publish(array_to_image(depth, "32FC1", header))
        self.stamps.append(header.stamp)


@pytest.fixture
def graph(ros_domain, tmp_path):
    params = write_params(tmp_path / "fusion.yaml", "fusion", {
        "stale_after_s": STALE_S, "startup_grace_s": 15.0, "use_slam_cameras": False})
    rclpy.init(domain_id=ros_domain)
    node = rclpy.create_node("fusion_test")
    received = {"obstacles": [], "markers": [], "annotated": [], "requests": [], "diagnostics": [], "tilt": []}
    node.create_subscription(TransformStamped, topics.WEARER_TILT, received["tilt"].append, result_qos())
    node.create_subscription(ObstacleArray, topics.OBSTACLES, received["obstacles"].append, result_qos())
    node.create_subscription(MarkerArray, topics.OBSTACLE_MARKERS, received["markers"].append, result_qos())
    node.create_subscription(Image, topics.ANNOTATED_IMAGE, received["annotated"].append, sensor_qos())
    node.create_subscription(SpeechRequestMsg, topics.SPEECH_REQUEST,
                             lambda m: received["requests"].append(msg_to_request(m)), reliable_qos())
    node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS,
                             lambda m: received["diagnostics"].extend(
                                 s for s in m.status if s.name == "aria_nav/fusion"), reliable_qos())
    log = tmp_path / "fusion.log"
    process = start_node("fusion", "fusion", params, log, ros_domain)
    feeder = Feeder(node)
    deadline = time.monotonic() + 30
    while feeder.detections.get_subscription_count() == 0 or feeder.depth.get_subscription_count() == 0:
        rclpy.spin_once(node, timeout_sec=0.05)
        assert time.monotonic() < deadline and process.poll() is None, log.read_text()
    try:
        yield node, feeder, received, process, log
    finally:
        code = stop_node(process)
        node.destroy_node()
        rclpy.shutdown()
        assert code == 0, log.read_text()


def run_frames(node, feeder, count, objects, period=0.1, **kwargs):
    for _ in range(count):
        feeder.frame(objects, **kwargs)
        end = time.monotonic() + period
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.01)


def spin_for(node, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.02)


def test_obstacles_markers_annotation_requests_and_degraded_inputs(graph):
    node, feeder, received, process, log = graph
    run_frames(node, feeder, 12, [(PERSON, -20.0, 2.0)])
    spin_for(node, 0.3)

    # Obstacles: one per processed frame, the source header unchanged, distance and bearing as placed.
    assert len(received["obstacles"]) >= 8, log.read_text()
    sent = {stamp_to_ns(s) for s in feeder.stamps}
    last = received["obstacles"][-1]
    assert stamp_to_ns(last.header.stamp) in sent and last.header.frame_id == topics.RGB_FRAME
    record = msg_to_records(last)[0]
    assert record["distance_m"] == pytest.approx(2.0, rel=0.03)  # its nearest part: the edge towards the middle
    # The bearing is that of the centre of the surface seen (its pixels are a whole number of columns): 0.2 deg.
    assert record["bearing_deg"] == pytest.approx(-20.0, abs=0.2)
    assert direction_name(int(record["direction"])) == "ahead" and record["clock"] == 11
    assert band_name(int(record["band"])) == "close" and record["id"] >= 1
    # The point is the nearest part: with the camera level, its horizontal range is the distance.
    assert record["class_id"] == PERSON and \
        math.hypot(record["x"], record["z"]) == pytest.approx(record["distance_m"], abs=0.02)
    assert record["height_band"] == 1 and record["kind"] == 0  # body height, a named obstacle
    # The tilt used for each fused frame, same stamp: the IMU says level, so the optical frame turned to REP 103.
    tilt = received["tilt"][-1]
    assert stamp_to_ns(tilt.header.stamp) in sent and tilt.header.frame_id == topics.WEARER_FRAME
    assert tilt.child_frame_id == topics.RGB_FRAME
    q = tilt.transform.rotation
    assert (q.x, q.y, q.z, q.w) == pytest.approx((-0.5, 0.5, -0.5, 0.5), abs=1e-3)
    # Markers in the camera's optical frame, one box and one label per obstacle.
    markers = received["markers"][-1].markers
    assert len(markers) == 2 and markers[0].header.frame_id == topics.RGB_FRAME
    assert markers[1].text == "person 2.0 m"
    # The annotated image: the RGB frame of the same stamp with the box drawn.
    assert received["annotated"], log.read_text()
    annotated = received["annotated"][-1]
    assert stamp_to_ns(annotated.header.stamp) in sent
    pixels = image_to_array(annotated)
    assert pixels.shape == (INTR.height, INTR.width, 3) and (pixels != 90).any()
    # One request: a person at 2 m is a warning while standing (critical under 1.5 m), said once.
    assert [(r.event, r.urgency, r.class_name, r.direction) for r in received["requests"]] == \
        [("obstacle", "warning", "person", "ahead")]
    assert received["requests"][0].stamp_ns in sent
    # No depth mode was published: the distance is not claimed to be a measurement.
    assert received["requests"][0].distance_kind == "approximate"

    # A malformed detection message: reported, nothing breaks.
    bad = Detection2DArray(header=Header(stamp=node.get_clock().now().to_msg(), frame_id=topics.RGB_FRAME),
                           detections=[Detection2D()])  # no class hypothesis
    feeder.detections.publish(bad)

    # Depth stops: one "degraded (depth)" request; obstacles keep coming, without distance.
    before = len(received["obstacles"])
    run_frames(node, feeder, 12, [(PERSON, -20.0, 2.0)], with_depth=False)
    degraded = [r for r in received["requests"] if r.event == "degraded"]
    assert [(r.reason, r.urgency) for r in degraded] == [("depth", "warning")], received["requests"]
    assert math.isnan(msg_to_records(received["obstacles"][-1])[0]["distance_m"])
    assert len(received["obstacles"]) > before
    assert any(s.level == DiagnosticStatus.WARN and "no depth" in s.message for s in received["diagnostics"])

    # Depth is back, from a metric model: one "restored"; a new obstacle's distance is now a measurement.
    mode = node.create_publisher(String, topics.DEPTH_MODE, latched_qos())
    mode.publish(String(data=json.dumps({"mode": "metric", "model": "test"})))
    run_frames(node, feeder, 10, [(PERSON, -20.0, 2.0), (CHAIR, 40.0, 2.5)])
    assert [r.event for r in received["requests"] if r.event in ("degraded", "restored")] == ["degraded", "restored"]
    assert msg_to_records(received["obstacles"][-1])[0]["distance_m"] == pytest.approx(2.0, rel=0.03)
    chair = [r for r in received["requests"] if r.class_name == "chair"]
    assert [(r.direction, r.distance_kind) for r in chair] == [("right", "metric")]
    assert chair[0].distance_m == pytest.approx(2.5, rel=0.05)  # nearest part, 40 degrees off-axis
    # Metric depth turns the walking-corridor model on: diagnostics say so, the corridor's outline is a marker.
    assert any(v.key == "corridor" and v.value.startswith("on") for s in received["diagnostics"] for v in s.values)
    assert any(m.ns == "corridor" for m in received["markers"][-1].markers)

    # Everything stops: "degraded (detections)" once, diagnostics ERROR.
    spin_for(node, STALE_S + 1.5)
    events = [(r.event, r.reason) for r in received["requests"] if r.event in ("degraded", "restored")]
    assert events == [("degraded", "depth"), ("restored", "depth"), ("degraded", "detections")]
    errors = [s for s in received["diagnostics"] if s.level == DiagnosticStatus.ERROR]
    assert errors and "no detections" in errors[-1].message
    values = {kv.key: kv.value for kv in errors[-1].values}
    assert int(values["errors"]) >= 1 and "without a class hypothesis" in values["last_error"]
    assert values["motion_state"] == "standing" and int(values["pairs"]) >= 15
    assert process.poll() is None


def test_bad_parameters_end_the_node_with_one_line(ros_domain, tmp_path):
    for params, problem in (({"centre_zone": 0.8}, "parameter 'centre_zone': Parameter centre_zone out of range"),
                            ({"class_priorities": ["person=10"]},
                             "parameter 'class_priorities': entry 'person=10' is not 'class name:integer priority'"),
                            ({"band_weights": [1.0, 0.5]}, "parameter 'band_weights': has 2 values, needs 5"),
                            ({"stand_threshold": 0.9}, "parameter 'stand_threshold': 0.9 exceeds walk_threshold")):
        log = tmp_path / "fusion.log"
        process = start_node("fusion", "fusion", write_params(tmp_path / "bad.yaml", "fusion", params), log,
                             ros_domain)
        assert process.wait(60) == 2
        text = log.read_text()
        assert f"aria_nav fusion: {problem}" in text and "Traceback" not in text, text
