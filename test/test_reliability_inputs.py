"""Bad input to real node processes, the cases the per-node tests do not already cover:
- recording files the camera cannot use (empty, truncated, wrong kind, undecodable; VRS, bag and video),
  model files the detector and depth cannot use (not a model, wrong input, the other stage's model, a TensorRT
  engine), and parameters out of range: each one line on stderr naming the file or parameter, exit code 2;
- well-formed but odd messages into fusion (non-finite depth, boxes outside the image, unknown class ids, stamps
  going backwards as when a bag loops): processed or counted, never a crash, and the right obstacle afterwards."""
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import onnx
import pytest
from aria_nav_msgs.msg import ObstacleArray
from builtin_interfaces.msg import Time
from onnx import TensorProto, helper
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from aria_nav import paths, topics
from aria_nav.core.detection.detections import Detections
from aria_nav.ros.conversions import array_to_image, intrinsics_to_camera_info
from aria_nav.ros.detections import class_names_to_msg, detections_to_msg
from aria_nav.ros.obstacles import msg_to_records
from aria_nav.ros.qos import latched_qos, replay_qos, sensor_qos
from aria_nav.ros.runtime import CALLBACK_ERROR
from ros_probe import BIN, NodeProcess, Probe, wait_until
from test_guidance_support import INTR, NAMES, PERSON, render

PARALLEL_STARTS = 4  # node processes started at once (each imports rclpy and ONNX Runtime: CPU-bound)
YOLO_MODEL = paths.models_dir() / "yolo11n_640.onnx"
DEPTH_MODEL = paths.models_dir() / "depth_anything_v2_small_266.onnx"
ARIA_VRS = paths.shared_aria_dir() / "gen1_everyday_activities.vrs"


def run_once(executable, *parameters):
    """Run a node until it exits (it must, within 60 s): (exit code, stdout, stderr)."""
    argv = [str(BIN / executable), "--ros-args", *[item for p in parameters for item in ("-p", p)]]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=dict(os.environ))
    return result.returncode, result.stdout, result.stderr


def check_one_line_exit_2(cases, results):
    for (executable, parameters, expected), (code, out, err) in zip(cases, results):
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith(f"aria_nav {executable}: "), \
            f"{executable} {parameters}: exit {code}\nstderr:\n{err}\nstdout:\n{out}"
        assert expected in lines[0], f"{executable} {parameters}: {lines[0]!r} does not say {expected!r}"
        assert "Traceback" not in out + err


def run_cases(cases):
    with ThreadPoolExecutor(PARALLEL_STARTS) as pool:
        return list(pool.map(lambda case: run_once(case[0], *case[1]), cases))


# -- files ----------------------------------------------------------------------------------------------------

def _video(path, frames=30):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 8 * i, np.uint8))
    writer.release()
    return path.read_bytes()


def _jpeg_starts(data: bytes):
    return [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]


def _undecodable_video(tmp_path):
    """An AVI whose container is fine but none of whose MJPEG frames decodes."""
    data = bytearray(_video(tmp_path / "whole.avi"))
    for start in _jpeg_starts(bytes(data)):
        data[start:start + 200] = b"\x55" * 200
    path = tmp_path / "undecodable.avi"
    path.write_bytes(bytes(data))
    return path


def test_a_video_frame_that_cannot_be_decoded_is_skipped_and_counted(ros_domain, tmp_path):
    """Frame 15 of 30 is corrupt: the other 29 are published in order (replay mode: every frame, then exit 0),
    the skipped one is counted (diagnostics while running, the end-of-input line), instead of the video ending
    there as if it were over."""
    data = bytearray(_video(tmp_path / "whole.avi"))
    start, end = _jpeg_starts(bytes(data))[15:17]
    data[start + 2:end - 10] = bytes((b * 7 + 13) & 0xFF for b in data[start + 2:end - 10])
    (tmp_path / "one_bad_frame.avi").write_bytes(bytes(data))
    probe = Probe(ros_domain, "video_probe")
    probe.subscribe("images", Image, topics.RGB_IMAGE, replay_qos())
    probe.subscribe("infos", CameraInfo, topics.RGB_INFO, replay_qos())  # replay mode waits for both
    camera = NodeProcess("camera", tmp_path, ["source:=video", f"path:={tmp_path / 'one_bad_frame.avi'}",
                                              "process_every_frame:=true", "pacing:=fast", "exit_at_end:=true",
                                              "publish_imu:=false"])
    try:
        code = camera.process.wait(60)
    finally:
        camera.stop()
        probe.close()
    output = camera.output()
    assert code == 0, output
    assert probe.count("images") == 29, f"{probe.count('images')} frames published:\n{output}"
    assert "end of input (rgb 29 published, 1 undecodable frame skipped)" in output, output
    assert "Traceback" not in output


def _onnx_identity(path, shape):
    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [value],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_unusable_recordings_are_one_line_and_exit_2(ros_domain, tmp_path):
    (tmp_path / "empty.vrs").write_bytes(b"")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "truncated.avi").write_bytes(_video(tmp_path / "clip.avi")[:600])
    sample = paths.sample_dir()
    truncated_bag = tmp_path / "truncated_bag"
    truncated_bag.mkdir()
    shutil.copy(sample / "metadata.yaml", truncated_bag)
    mcap = next(sample.glob("*.mcap"))
    (truncated_bag / mcap.name).write_bytes(mcap.read_bytes()[:mcap.stat().st_size // 3])
    (tmp_path / "not_a_bag").mkdir()
    cases = [
        ("camera", ["source:=vrs", f"path:={tmp_path / 'empty.vrs'}"], "empty.vrs: VRS file is empty"),
        ("camera", ["source:=vrs", f"path:={mcap}"], f"{mcap}: is not a readable VRS file"),
        ("camera", ["source:=bag", f"path:={tmp_path / 'missing_bag'}"], "missing_bag: bag does not exist"),
        ("camera", ["source:=bag", f"path:={truncated_bag}"], "truncated_bag: cannot read the bag"),
        ("camera", ["source:=bag", f"path:={tmp_path / 'not_a_bag'}"], "not_a_bag: is not a rosbag2 bag directory"),
        ("camera", ["source:=video", f"path:={tmp_path / 'missing.mp4'}"], "missing.mp4: video file does not exist"),
        ("camera", ["source:=video", f"path:={tmp_path / 'empty.mp4'}"], "empty.mp4: video file is empty"),
        ("camera", ["source:=video", f"path:={tmp_path / 'truncated.avi'}"], "truncated.avi: "),
        ("camera", ["source:=video", f"path:={_undecodable_video(tmp_path)}"],
         "undecodable.avi: no frame can be decoded from this video"),
        ("camera", ["source:=video", f"path:={tmp_path}"], "is not a video file (it is a directory"),
    ]
    if ARIA_VRS.is_file():  # a real Aria recording cut short (../shared/data/aria)
        cut = tmp_path / "cut.vrs"
        cut.write_bytes(ARIA_VRS.read_bytes()[:ARIA_VRS.stat().st_size // 3])
        cases.append(("camera", ["source:=vrs", f"path:={cut}"], "cut.vrs: is truncated"))
    check_one_line_exit_2(cases, run_cases(cases))


def test_unusable_models_are_one_line_and_exit_2(ros_domain, tmp_path):
    for model in (YOLO_MODEL, DEPTH_MODEL):
        if not model.exists():
            pytest.skip(f"{model} missing: run `aria-nav models build-test`")
    text = tmp_path / "notes.onnx"
    text.write_text("not a model")
    vector_input = _onnx_identity(tmp_path / "vector_input.onnx", [1, 10])
    engine = tmp_path / "yolo.engine"  # what `aria-nav engine build` writes on a GPU machine, with its sidecar
    engine.write_bytes(b"\x01" * 64)
    (tmp_path / "yolo.engine.json").write_text(json.dumps({"gpu": "NVIDIA A100", "tensorrt": "10.0.1",
                                                           "fp16": True, "onnx": "yolo11n_640.onnx"}))
    cases = []
    for executable in ("detector", "depth"):
        cases += [
            (executable, [f"model:={tmp_path / 'missing.onnx'}"], "missing.onnx' does not exist"),
            (executable, [f"model:={text}"], "notes.onnx' is not a loadable ONNX model"),
            (executable, [f"model:={vector_input}"], "vector_input.onnx' has a rank-2 input"),
            # Without TensorRT the engine is refused before its sidecar is read (test_inference checks the
            # sidecar's GPU/TensorRT key against the machine's).
            (executable, [f"model:={engine}"], "the tensorrt backend needs NVIDIA TensorRT"),
        ]
    cases += [("detector", [f"model:={DEPTH_MODEL}"], DEPTH_MODEL.name),
              ("depth", [f"model:={YOLO_MODEL}"], YOLO_MODEL.name)]
    check_one_line_exit_2(cases, run_cases(cases))


def test_a_detector_model_given_to_depth_ends_it_with_one_line_at_the_first_frame(ros_domain, tmp_path):
    """It loads (an ONNX model with one image input); its output is no depth map of the frame. No frame will ever
    work and a restart cannot help: exit 2 naming the model, not an error per frame forever."""
    if not YOLO_MODEL.exists():
        pytest.skip(f"{YOLO_MODEL} missing: run `aria-nav models build-test`")
    depth = NodeProcess("depth", tmp_path, [f"model:={YOLO_MODEL}", "depth_mode:=relative"])
    probe = Probe(ros_domain, "wrong_model_probe")
    images = probe.publisher(Image, topics.RGB_IMAGE, sensor_qos())
    frame = array_to_image(np.full((48, 64, 3), 100, np.uint8), "rgb8", Header(frame_id=topics.RGB_FRAME))
    try:
        wait_until(lambda: images.get_subscription_count(), 60.0, "the depth node", alive=[depth])
        wait_until(lambda: images.publish(frame) or not depth.running, 30.0, "the depth node to exit")
        code = depth.process.wait(10)
    finally:
        depth.stop()
        probe.close()
    last = depth.output().strip().splitlines()[-1]
    assert code == 2 and last.startswith(f"aria_nav depth: model '{YOLO_MODEL}': output [1, 84, 8400]") and \
        last.endswith("not a depth model"), depth.output()
    assert "Traceback" not in depth.output()


def test_parameters_out_of_range_or_of_the_wrong_type_are_one_line_and_exit_2(ros_domain):
    cases = [
        ("camera", ["rate_hz:=0.0"], "parameter 'rate_hz': "),
        ("detector", ["conf_threshold:=1.5"], "parameter 'conf_threshold': "),
        ("detector", ["max_detections:=many"], "parameter 'max_detections': "),
        ("depth", ["points_stride:=0"], "parameter 'points_stride': "),
        ("fusion", ["pair_tolerance_s:=-0.1"], "parameter 'pair_tolerance_s': "),
        ("speech", ["words_per_minute:=10"], "parameter 'words_per_minute': "),
        # A whole number for a decimal parameter (rclpy types parameters strictly): the line says what to write.
        ("camera", ["imu_rate_hz:=100"], "parameter 'imu_rate_hz': Trying to set parameter 'imu_rate_hz' to '100' "
                                         "of type 'INTEGER', expecting type 'DOUBLE' (write 100.0)"),
    ]
    check_one_line_exit_2(cases, run_cases(cases))


# -- odd but well-formed messages into fusion ----------------------------------------------------------------

class Scene:
    """Publishes synthetic frames (detections, depth, camera_info) into fusion at chosen stamps."""

    def __init__(self, probe: Probe):
        self.detections = probe.publisher(Detection2DArray, topics.DETECTIONS, sensor_qos())
        self.depth = probe.publisher(Image, topics.DEPTH_IMAGE, sensor_qos())
        self.info = probe.publisher(CameraInfo, topics.RGB_INFO, sensor_qos())
        self.names = probe.publisher(LabelInfo, topics.DETECTIONS + topics.CLASS_NAMES_SUFFIX, latched_qos())
        self.names.publish(class_names_to_msg(NAMES, 0.25))

    def frame(self, stamp: Time, detections: Detections, depth: np.ndarray) -> None:
        header = Header(stamp=stamp, frame_id=topics.RGB_FRAME)
        self.info.publish(intrinsics_to_camera_info(INTR, header))
        self.depth.publish(array_to_image(depth, "32FC1", header))
        self.detections.publish(detections_to_msg(detections, header))
        time.sleep(0.1)  # the camera's 10 Hz


def _stamp(seconds: float) -> Time:
    return Time(sec=int(seconds), nanosec=int(round((seconds % 1) * 1e9)))


def test_fusion_takes_odd_detections_depth_and_stamps_without_harm(ros_domain, tmp_path):
    fusion = NodeProcess("fusion", tmp_path, ["use_slam_cameras:=false", "startup_grace_s:=600.0"])
    probe = Probe(ros_domain, "fusion_inputs_probe")
    probe.subscribe("obstacles", ObstacleArray, topics.OBSTACLES, sensor_qos(100))
    probe.subscribe_diagnostics()
    try:
        scene = Scene(probe)
        wait_until(lambda: scene.detections.get_subscription_count() and scene.depth.get_subscription_count(),
                   30.0, "the fusion node", alive=[fusion])
        person, depth = render([(PERSON, -20.0, 2.0)])
        _, depth_far = render([(PERSON, -20.0, 4.0)])  # the same box, farther: before the bag loops
        base = 1_000_000.0  # a bag's device-time stamps

        def obstacles_at(seconds):
            return [msg_to_records(m) for m in probe.messages("obstacles") if m.header.stamp == _stamp(seconds)]

        # Non-finite and negative depth: the obstacle is still reported, its distance held from its earlier frames
        # (a track's distance is the median of its last frames that had one).
        broken = depth.copy()
        broken[::2] = np.nan
        broken[1::2] = -np.inf
        broken[:, ::3] = np.inf
        for i in range(3):
            scene.frame(_stamp(base + 0.1 * i), person, depth_far if i < 2 else broken)
        wait_until(lambda: obstacles_at(base + 0.2), 60.0, "the obstacle of the frame with broken depth",
                   alive=[fusion])
        [record] = obstacles_at(base + 0.2)[0]
        assert record["distance_m"] == pytest.approx(4.0, rel=0.03)  # the nearest part, 20 degrees off-axis
        assert record["bearing_deg"] == pytest.approx(-20.0, abs=0.05)

        # Boxes partly and wholly outside the image, and a class id beyond the class names.
        outside = Detections(np.array([[-100, 100, 200, 300], [5000, 100, 5100, 300], [600, 2000, 700, 2100]],
                                      np.float32), np.full(3, 0.9), [PERSON, PERSON, PERSON])
        unknown = Detections(person.boxes, person.scores, np.array([len(NAMES) + 50], np.int32))
        scene.frame(_stamp(base + 0.3), outside, depth)
        scene.frame(_stamp(base + 0.4), unknown, depth)
        wait_until(lambda: obstacles_at(base + 0.3) and obstacles_at(base + 0.4), 60.0,
                   "the obstacles of the frames with odd boxes and class ids", alive=[fusion])
        partly, right_of, below = obstacles_at(base + 0.3)[0]
        assert np.isfinite(partly["distance_m"]), partly  # measured on its part inside the image
        assert np.isnan(right_of["distance_m"]) and np.isnan(below["distance_m"]), (right_of, below)
        [unknown_class] = obstacles_at(base + 0.4)[0]
        assert unknown_class["class_id"] == len(NAMES) + 50
        assert unknown_class["distance_m"] == pytest.approx(2.0, rel=0.03)

        # The bag loops: stamps jump back by 6 s, then go on. Frames after the jump are placed correctly, and the
        # person (still) is not taken for moving away from distances of the old timeline, "6 s in the future".
        for i in range(5):
            scene.frame(_stamp(base - 6.0 + 0.1 * i), person, depth)
        wait_until(lambda: obstacles_at(base - 6.0 + 0.4), 60.0, "obstacles after the stamps went back",
                   alive=[fusion])
        [record] = obstacles_at(base - 6.0 + 0.4)[0]
        assert record["class_id"] == PERSON and record["distance_m"] == pytest.approx(2.0, rel=0.03)
        assert record["approach_mps"] == pytest.approx(0.0, abs=0.05)
        assert record["bearing_deg"] == pytest.approx(-20.0, abs=0.2)  # of the surface seen: whole pixel columns
        assert fusion.running
    finally:
        code = fusion.stop()
        probe.close()
    output = fusion.output()
    assert code == 0 and "Traceback" not in output and CALLBACK_ERROR not in output, output
