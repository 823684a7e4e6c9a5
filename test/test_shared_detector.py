"""One detector process for several SLAM cameras (the detector's `cameras`, slam_detector:=shared|shared_gen2):
the newest-frame slot keeps one waiting frame per camera; a real `detector` process serves two cameras' topics
with one model session; and on the real Aria Gen2 recording, `slam_detector_gen2` detects every frame of the four
SLAM cameras the camera node publishes."""
import subprocess
import sys

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, Image, Imu
from vision_msgs.msg import Detection2DArray, LabelInfo

from aria_nav import paths, topics
from aria_nav.core.detection.synthetic import synthetic_scene
from aria_nav.core.latest import LatestSlot
from aria_nav.ros.detector_params import PARAMS
from aria_nav.ros.diagnostics import stamp_to_ns
from aria_nav.ros.params import ParameterError
from aria_nav.ros.qos import latched_qos, reliable_qos, replay_qos
from test_camera_gen2 import gen2_file
from test_camera_node import camera_process, listening, stop
from test_detector_node import frame

DETECTOR = [sys.executable, "-m", "aria_nav.nodes.detector"]
GEN2_CAMERAS = ("slam_left", "slam_right", "slam_front_left", "slam_front_right")


def test_slot_keeps_the_newest_frame_of_each_camera_and_serves_them_in_turn():
    slot = LatestSlot()
    for item, key in (("left 1", "left"), ("right 1", "right"), ("left 2", "left"), ("front 1", "front")):
        slot.put(item, key)
    assert slot.dropped == 1  # "left 1", replaced by the same camera's newer frame, not by another camera's
    assert [slot.take(0) for _ in range(3)] == ["right 1", "left 2", "front 1"] and slot.take(0) is None
    single = LatestSlot()
    single.put("a")
    single.put("b")
    assert single.take(0) == "b" and single.dropped == 1


def test_cameras_parameter_names_slam_streams_once():
    cameras = next(param for param in PARAMS if param.name == "cameras")
    cameras.validate(list(GEN2_CAMERAS))
    with pytest.raises(ParameterError, match="rgb: not a SLAM camera stream"):
        cameras.validate(["slam_left", "rgb"])
    with pytest.raises(ParameterError, match="named twice"):
        cameras.validate(["slam_left", "slam_left"])


def detector_process(name: str, *params: str) -> subprocess.Popen:
    """A `detector` as the graph starts `name` (its config/nav.yaml section), on the test's ROS domain."""
    args = DETECTOR + ["--ros-args", "--params-file", str(paths.config_file()), "-r", f"__node:={name}"]
    return subprocess.Popen(args + [a for p in params for a in ("-p", p)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _subscribe_detections(subscribe, cameras):
    for camera in cameras:
        subscribe(topics.camera_detections_topic(camera), Detection2DArray, replay_qos())
        subscribe(topics.camera_detections_topic(camera) + topics.CLASS_NAMES_SUFFIX, LabelInfo, latched_qos())
    subscribe(topics.DIAGNOSTICS, DiagnosticArray, reliable_qos(50))


def _status(received, node_name: str) -> dict:
    """The newest diagnostics values of `node_name` ({} before the first)."""
    for _, array in reversed(received[topics.DIAGNOSTICS]):
        for status in array.status:
            if status.name == f"aria_nav/{node_name}":
                return {kv.key: kv.value for kv in status.values}
    return {}


@pytest.fixture
def probe(ros_domain):
    """A test node: subscribe(topic, type, qos) records into received[topic], spin_until(...), the node."""
    with listening(ros_domain, "shared_detector_test") as probe:
        yield probe


def test_one_process_serves_both_slam_cameras_on_their_own_topics(probe):
    subscribe, spin_until, received, node = probe
    cameras = ("slam_left", "slam_right")
    _subscribe_detections(subscribe, cameras)
    process = detector_process("slam_detector", "process_every_frame:=true", "frame_skip:=1")
    try:
        names = [topics.camera_detections_topic(c) + topics.CLASS_NAMES_SUFFIX for c in cameras]
        assert spin_until(lambda: all(received[t] for t in names) or process.poll() is not None, 90), \
            "no latched class names on both SLAM cameras' topics"
        assert process.poll() is None, stop(process)
        publishers = {c: node.create_publisher(Image, topics.camera_image_topic(c), replay_qos()) for c in cameras}
        assert spin_until(lambda: all(p.get_subscription_count() for p in publishers.values()), 30)
        rng = np.random.default_rng(5)
        sent = {c: [] for c in cameras}
        for _ in range(3):
            for camera, publisher in publishers.items():
                msg = frame(synthetic_scene(rng, 480, 640)[..., 0].copy(), "mono8", topics.camera_frame(camera))
                publisher.publish(msg)
                sent[camera].append(stamp_to_ns(msg.header.stamp))
        outputs = {c: received[topics.camera_detections_topic(c)] for c in cameras}
        assert spin_until(lambda: all(len(outputs[c]) >= 3 for c in cameras), 90), \
            {c: len(o) for c, o in outputs.items()}
        for camera in cameras:  # every frame, in order, answered on its own camera's topic
            assert [stamp_to_ns(m.header.stamp) for _, m in outputs[camera]] == sent[camera]
            assert {m.header.frame_id for _, m in outputs[camera]} == {topics.camera_frame(camera)}
        done = lambda: _status(received, "slam_detector").get("slam_right_processed") == "3"  # noqa: E731
        assert spin_until(done, 30), _status(received, "slam_detector")
        values = _status(received, "slam_detector")
        assert values["camera"] == "slam_left, slam_right" and values["slam_left_processed"] == "3"
        assert values["processed"] == "6" and values["errors"] == "0"
        assert float(values["hop_slam_left_taken_ms_p50"]) <= float(values["hop_slam_left_done_ms_p50"])
    finally:
        code, _, err = stop(process)
    assert code == 0, err


def test_gen2_four_slam_cameras_detected_every_frame_by_one_process(probe):
    path = gen2_file()
    subscribe, spin_until, received, _node = probe
    _subscribe_detections(subscribe, GEN2_CAMERAS)
    # The camera waits for readers of what the graph reads: RGB, every camera_info, IMU and odometry here, the SLAM
    # images by the detector.
    subscribe(topics.RGB_IMAGE, Image, replay_qos())
    for info in (topics.RGB_INFO, topics.SLAM_LEFT_INFO, topics.SLAM_RIGHT_INFO):
        subscribe(info, CameraInfo, replay_qos())
    subscribe(topics.IMU, Imu, replay_qos())
    subscribe(topics.ODOM, Odometry, replay_qos())
    detector = detector_process("slam_detector_gen2", "process_every_frame:=true", "frame_skip:=1")
    camera = None
    try:
        names = [topics.camera_detections_topic(c) + topics.CLASS_NAMES_SUFFIX for c in GEN2_CAMERAS]
        assert spin_until(lambda: all(received[t] for t in names) or detector.poll() is not None, 90), \
            "no latched class names on the four SLAM cameras' topics"
        assert detector.poll() is None, stop(detector)
        camera = camera_process(("source", "vrs"), ("path", path), ("process_every_frame", "true"),
                                ("pacing", "fast"), ("exit_at_end", "true"))
        outputs = {c: received[topics.camera_detections_topic(c)] for c in GEN2_CAMERAS}
        # The recording holds 9 frames of each SLAM camera (test_camera_gen2): every one is detected.
        assert spin_until(lambda: all(len(o) >= 9 for o in outputs.values()), 120), \
            ({c: len(o) for c, o in outputs.items()}, stop(camera))
        spin_until(lambda: False, 1.0)
        for camera_name, output in outputs.items():
            stamps = [stamp_to_ns(m.header.stamp) for _, m in output]
            assert len(stamps) == 9 and stamps == sorted(stamps), camera_name
            assert {m.header.frame_id for _, m in output} == {topics.camera_frame(camera_name)}
        assert spin_until(lambda: _status(received, "slam_detector_gen2").get("processed") == "36", 30), \
            _status(received, "slam_detector_gen2")
        assert _status(received, "slam_detector_gen2")["errors"] == "0"
    finally:
        if camera is not None:
            stop(camera)
        code, _, err = stop(detector)
    assert code == 0, err
