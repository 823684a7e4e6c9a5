"""Fuzz: each subscribing node (detector, depth, fusion, speech), a real process over real DDS, gets a storm of
randomised malformed messages on every topic it reads (seeded, FUZZ_SECONDS long; see ros_fuzz), then a valid
input. It must still be running, have counted the bad input in its diagnostics, have logged it throttled (a
bounded number of lines, no traceback), and produce the right output for the valid input: the same detections and
depth as the models give in this process, the obstacle where the synthetic scene put it, the exact sentence."""
import time
import wave
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
from aria_nav_msgs.msg import ObstacleArray
from aria_nav_msgs.msg import SpeechRequest as SpeechRequestMsg
from aria_nav_msgs.msg import Utterance as UtteranceMsg
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image, Imu
from std_msgs.msg import Header, String
from vision_msgs.msg import Detection2DArray, LabelInfo

import ros_fuzz
from aria_nav import paths, topics
from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.depth.processing import open_depth_estimator
from aria_nav.core.depth.scaling import RelativeScaling, ValidRange
from aria_nav.core.detection.backends import open_detection_runner
from aria_nav.core.detection.detector import DetectorConfig, YoloDetector
from aria_nav.core.detection.synthetic import synthetic_scene
from aria_nav.core.inference.interface import InferenceConfig
from aria_nav.core.speech.request import SpeechRequest, SpeechRequestError
from aria_nav.ros.conversions import array_to_image, image_to_array, intrinsics_to_camera_info
from aria_nav.ros.detections import (DetectionFormatError, class_names_to_msg, detections_to_msg,
                                     msg_to_class_names, msg_to_detections)
from aria_nav.ros.obstacles import ObstacleFormatError, msg_to_records
from aria_nav.ros.qos import latched_qos, reliable_qos, sensor_qos
from aria_nav.ros.speech_msgs import msg_to_request, msg_to_spoken, request_to_msg
from aria_nav.ros.runtime import CALLBACK_ERROR
from ros_probe import NodeProcess, Probe, wait_until
from test_guidance_support import INTR, NAMES, PERSON, render

FUZZ_SECONDS = 10.0
SEED = 20261124
START_TIMEOUT_S = 60.0
# Throttled logging: thousands of bad messages give a few warning lines per call site every 5 s, not one each.
# Counted: every line but INFO (what a node says about valid input, e.g. each sentence spoken), so also what native
# code or Python's warnings print.
MAX_LOG_LINES = 40
YOLO_MODEL = paths.models_dir() / "yolo11n_640.onnx"
DEPTH_MODEL = paths.models_dir() / "depth_anything_v2_small_266.onnx"
VALID_STAMP = Time(sec=1_700_000_000, nanosec=123_456_789)


def _require(*files: Path):
    for path in files:
        if not path.exists():
            pytest.skip(f"{path} missing: run `aria-nav models build-test`")


def storm(probe: Probe, process: NodeProcess, inputs, seed: int = SEED) -> int:
    """Publish randomly chosen malformed messages on `inputs` [(publisher, generator)] for FUZZ_SECONDS; returns
    how many were sent. Fails at once if the node process ends."""
    rng = np.random.default_rng(seed)
    sent = 0
    end = time.monotonic() + FUZZ_SECONDS
    while time.monotonic() < end:
        publisher, generate = inputs[int(rng.integers(len(inputs)))]
        publisher.publish(generate(rng))
        sent += 1
        if sent % 25 == 0:
            assert process.running, f"{process.name} died during the fuzz storm:\n{process.output()}"
        time.sleep(0.002)
    return sent


def check_survived(process: NodeProcess, probe: Probe, sent: int, min_errors: int,
                   unexpected: Sequence[str] = ()) -> dict:
    """Alive, bad input counted in diagnostics, logged throttled, without a traceback and without an error that
    only the runtime's (or a worker's) catch-all caught instead of a check naming the problem; the diagnostics."""
    assert process.running, process.output()
    # A frame node's newest-frame worker replaces a waiting frame unseen (counted as dropped): on a busy machine
    # most of a storm is dropped before it is looked at, so what it accounts for is errors plus drops.
    def accounted(v):
        return int(v["errors"]) > 0 and int(v["errors"]) + int(v["dropped"]) >= min_errors

    wait_until(lambda: probe.status(process.name, accounted), 10.0,
               f"{process.name} diagnostics counting at least {min_errors} of {sent} bad messages (errors + dropped)",
               alive=[process])
    output = process.output()
    assert "Traceback" not in output, output
    for text in (CALLBACK_ERROR, *unexpected):
        assert text not in output, f"bad input reached a catch-all ({text!r}) instead of a check:\n{output}"
    logged = [line for line in output.splitlines() if not line.startswith("[INFO]")]
    assert len(logged) <= MAX_LOG_LINES, f"{len(logged)} lines logged for {sent} messages: not throttled\n{output}"
    values = probe.status(process.name)
    print(f"\n{process.name}: {sent} malformed messages in {FUZZ_SECONDS:g} s; errors counted {values['errors']}, "
          f"{len(logged)} warning lines logged; last error: {values.get('last_error', '')[:120]}")
    return values


def wait_for_stamp(probe: Probe, name: str, stamp: Time, resend, process: NodeProcess, timeout: float = 30.0):
    """The message on `name` carrying `stamp`; `resend()` publishes the input again every second (best effort)."""
    deadline = time.monotonic() + timeout
    while True:
        resend()
        resent = time.monotonic()
        while time.monotonic() - resent < 1.0:
            found = [m for m in probe.messages(name) if m.header.stamp == stamp]
            if found:
                return found[0]
            time.sleep(0.02)
        assert process.running and time.monotonic() < deadline, \
            f"no {name} for the valid input after the storm:\n{process.output()}"


@pytest.fixture
def probe(ros_domain):
    created = Probe(ros_domain, "fuzz_probe")
    created.subscribe_diagnostics()
    yield created
    created.close()


@pytest.fixture
def started(tmp_path):
    """Starts node processes; each must still exit 0 on SIGINT at the end of the test."""
    processes = []

    def start(*args, **kwargs) -> NodeProcess:
        processes.append(NodeProcess(*args, log_dir=tmp_path, **kwargs))
        return processes[-1]

    yield start
    for process in processes:
        code = process.stop()
        assert code == 0, f"{process.name} did not exit cleanly after the fuzz ({code}):\n{process.output()}"


@pytest.mark.parametrize("generate, decode, error", [
    (ros_fuzz.detections, msg_to_detections, DetectionFormatError),
    (ros_fuzz.class_names, msg_to_class_names, DetectionFormatError),
    (ros_fuzz.obstacles, msg_to_records, ObstacleFormatError),
    (ros_fuzz.speech_request, msg_to_request, SpeechRequestError),
])
def test_typed_messages_decode_or_name_what_is_wrong(generate, decode, error):
    """The typed messages' decoders, on a hundred malformed messages each: a value or the documented error,
    never another exception (the nodes count that error as a dropped message)."""
    rng = np.random.default_rng(SEED)
    outcomes = {"decoded": 0, "rejected": 0}
    for _ in range(100):
        try:
            decode(generate(rng))
            outcomes["decoded"] += 1
        except error as exc:
            assert str(exc), "the error names the problem"
            outcomes["rejected"] += 1
    assert all(outcomes.values()), outcomes  # both paths exercised


def test_detector_survives_malformed_images_and_still_detects_correctly(probe, started):
    _require(YOLO_MODEL)
    detector = started("detector", parameters=[f"model:={YOLO_MODEL}", "classes:=[all]", "conf_threshold:=0.05"])
    probe.subscribe("detections", Detection2DArray, topics.DETECTIONS, sensor_qos(50))
    probe.subscribe("names", LabelInfo, topics.DETECTIONS + topics.CLASS_NAMES_SUFFIX, latched_qos())
    images = probe.publisher(Image, topics.RGB_IMAGE, sensor_qos())
    wait_until(lambda: probe.count("names") and images.get_subscription_count(), START_TIMEOUT_S,
               "the detector", alive=[detector])

    sent = storm(probe, detector, [(images, ros_fuzz.image)])
    values = check_survived(detector, probe, sent, min_errors=sent // 4, unexpected=["detection failed"])

    frame = synthetic_scene(np.random.default_rng(5), 480, 640)
    valid = array_to_image(frame, "rgb8", Header(stamp=VALID_STAMP, frame_id=topics.RGB_FRAME))
    got = msg_to_detections(wait_for_stamp(probe, "detections", VALID_STAMP, lambda: images.publish(valid), detector))
    reference = YoloDetector(open_detection_runner(InferenceConfig(str(YOLO_MODEL))),
                             DetectorConfig(conf_threshold=0.05, classes=["all"])).detect(frame).detections
    assert len(reference) > 0, "the reference frame must give detections for the comparison to mean anything"
    np.testing.assert_allclose(got.boxes, reference.boxes, atol=0.05)
    np.testing.assert_allclose(got.scores, reference.scores, atol=1e-4)
    np.testing.assert_array_equal(got.class_ids, reference.class_ids)
    assert int(values["processed"]) > 0


def test_depth_survives_malformed_images_and_camera_info_and_still_estimates_correctly(probe, started):
    _require(DEPTH_MODEL)
    depth = started("depth", parameters=[f"model:={DEPTH_MODEL}"])
    probe.subscribe("depth", Image, topics.DEPTH_IMAGE, sensor_qos(10))
    probe.subscribe("info", CameraInfo, topics.DEPTH_INFO, sensor_qos(10))
    probe.subscribe("mode", String, topics.DEPTH_MODE, latched_qos())
    images = probe.publisher(Image, topics.RGB_IMAGE, sensor_qos())
    infos = probe.publisher(CameraInfo, topics.RGB_INFO, sensor_qos())
    wait_until(lambda: probe.count("mode") and images.get_subscription_count() and infos.get_subscription_count(),
               START_TIMEOUT_S, "the depth node", alive=[depth])

    sent = storm(probe, depth, [(images, ros_fuzz.image), (infos, ros_fuzz.camera_info)])
    check_survived(depth, probe, sent, min_errors=sent // 10, unexpected=["depth estimation failed"])

    rgb = synthetic_scene(np.random.default_rng(6), 240, 320)
    header = Header(stamp=VALID_STAMP, frame_id=topics.RGB_FRAME)
    intrinsics = PinholeIntrinsics(width=320, height=240, fx=250.0, fy=250.0, cx=159.5, cy=119.5)

    def send():
        infos.publish(intrinsics_to_camera_info(intrinsics, header))
        time.sleep(0.05)  # the intrinsics are taken on the executor thread, the image on the worker
        images.publish(array_to_image(rgb, "rgb8", header))

    got = wait_for_stamp(probe, "depth", VALID_STAMP, send, depth)
    estimator = open_depth_estimator(InferenceConfig(str(DEPTH_MODEL)), "auto", RelativeScaling(0.5, 10.0, 2.0, 98.0),
                                     ValidRange(0.1, 20.0))
    reference = estimator.estimate(rgb, (240, 320))
    np.testing.assert_allclose(image_to_array(got), reference, rtol=1e-4, equal_nan=True)
    info = wait_for_stamp(probe, "info", VALID_STAMP, send, depth)
    assert (info.width, info.height, info.k[0], info.k[2]) == (320, 240, 250.0, 159.5)


def test_fusion_survives_malformed_inputs_and_still_places_obstacles_correctly(probe, started, tmp_path):
    fusion = started("fusion", parameters=["startup_grace_s:=600.0"])
    probe.subscribe("obstacles", ObstacleArray, topics.OBSTACLES, sensor_qos(50))
    probe.subscribe("annotated", Image, topics.ANNOTATED_IMAGE, sensor_qos())  # so fusion draws, fuzzed RGB too
    publishers = {
        "detections": probe.publisher(Detection2DArray, topics.DETECTIONS, sensor_qos()),
        "depth": probe.publisher(Image, topics.DEPTH_IMAGE, sensor_qos()),
        "info": probe.publisher(CameraInfo, topics.RGB_INFO, sensor_qos()),
        "names": probe.publisher(LabelInfo, topics.DETECTIONS + topics.CLASS_NAMES_SUFFIX, latched_qos()),
    }
    inputs = [(publishers["detections"], ros_fuzz.detections), (publishers["depth"], ros_fuzz.depth_image),
              (publishers["info"], ros_fuzz.camera_info), (publishers["names"], ros_fuzz.class_names),
              (probe.publisher(Detection2DArray, topics.SLAM_LEFT_DETECTIONS, sensor_qos()), ros_fuzz.detections),
              (probe.publisher(CameraInfo, topics.SLAM_LEFT_INFO, sensor_qos()), ros_fuzz.camera_info),
              (probe.publisher(Imu, topics.IMU, sensor_qos()), ros_fuzz.imu),
              (probe.publisher(Image, topics.RGB_IMAGE, sensor_qos()), ros_fuzz.image),
              (probe.publisher(String, topics.DEPTH_MODE, latched_qos()), ros_fuzz.depth_mode)]
    wait_until(lambda: all(p.get_subscription_count() for p, _ in inputs), START_TIMEOUT_S, "the fusion node",
               alive=[fusion])

    sent = storm(probe, fusion, inputs)
    check_survived(fusion, probe, sent, min_errors=sent // 10)

    detections, depth = render([(PERSON, -20.0, 2.0)])
    publishers["names"].publish(class_names_to_msg(NAMES, 0.25))
    # Valid frames at 10 Hz, as from the camera. Depth went quiet after the storm (fusion said so): the first
    # frames after it may be placed before the depth image is back, without a distance; none may be wrong.
    sent_stamps = []
    for i in range(50):
        header = Header(stamp=Time(sec=VALID_STAMP.sec + i // 10, nanosec=VALID_STAMP.nanosec + i % 10 * 10 ** 7),
                        frame_id=topics.RGB_FRAME)
        publishers["info"].publish(intrinsics_to_camera_info(INTR, header))
        publishers["depth"].publish(array_to_image(depth, "32FC1", header))
        publishers["detections"].publish(detections_to_msg(detections, header))
        sent_stamps.append(header.stamp)
        time.sleep(0.1)
        placed = [msg_to_records(m) for m in probe.messages("obstacles") if m.header.stamp in sent_stamps]
        if any(np.isfinite(records["distance_m"]).all() for records in placed):
            break
    assert placed and any(np.isfinite(records["distance_m"]).all() for records in placed), \
        f"no obstacle with a distance in 5 s of valid frames: {placed}\n{fusion.output()}"
    for records in placed:
        assert len(records) == 1 and records[0]["class_id"] == PERSON, records
        assert records[0]["bearing_deg"] == pytest.approx(-20.0, abs=0.2)  # of the surface seen
        assert np.isnan(records[0]["distance_m"]) or records[0]["distance_m"] == pytest.approx(2.0, rel=0.03)


def test_speech_survives_malformed_requests_and_still_says_the_right_sentence(probe, started, tmp_path):
    speech = started("speech", parameters=["output:=wav", f"wav_dir:={tmp_path / 'wav'}", "wav_realtime:=false"])
    probe.subscribe("spoken", UtteranceMsg, topics.SPEECH_SPOKEN, reliable_qos(100))
    requests = probe.publisher(SpeechRequestMsg, topics.SPEECH_REQUEST, reliable_qos())
    wait_until(lambda: requests.get_subscription_count(), START_TIMEOUT_S, "the speech node", alive=[speech])

    sent = storm(probe, speech, [(requests, ros_fuzz.speech_request)])
    check_survived(speech, probe, sent, min_errors=sent // 2)

    storm_over = time.monotonic()
    wait_until(lambda: probe.status("speech", lambda v: v["queued"] == "0", since=storm_over), 15.0,
               "the speech queue to drain", alive=[speech])
    # Not a sentence the storm could have produced: the same sentence is not repeated within a cooldown.
    request = SpeechRequest(event="obstacle", urgency="warning", priority=3.0, key="after-the-storm",
                            stamp_ns=time.time_ns(), class_name="bicycle", distance_m=3.0, band="close",
                            direction="right", clock=2, bearing_deg=40.0, camera="rgb")
    requests.publish(request_to_msg(request))
    wait_until(lambda: any(msg_to_spoken(m)["key"] == request.key for m in probe.messages("spoken")), 15.0,
               "the valid request spoken", alive=[speech])
    said = next(msg_to_spoken(m) for m in probe.messages("spoken") if msg_to_spoken(m)["key"] == request.key)
    assert said["text"] == "bicycle on your right, three meters" and not said["error"], said
    with wave.open(said["wav"], "rb") as audio:
        assert audio.getnframes() > 1000
