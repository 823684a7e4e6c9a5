"""The camera node on the real Aria Gen2 recording, as a real process over DDS: every topic with its size and
square pixels, the four SLAM cameras, IMU, VIO odometry; a cut Gen2 file is one line and exit 2; a source without
the streams the graph reads says so at start-up and on /diagnostics; and the demo (the whole graph) runs on it."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, Image, Imu

from aria_nav import paths, topics
from aria_nav.core.fusion.vio_motion import quaternion_matrix
from aria_nav.paths import shared_aria_dir
from aria_nav.ros.qos import reliable_qos, replay_qos
from ros_probe import output_lines
from test_camera_node import camera_process, listener  # noqa: F401 - the listener fixture

GEN2 = "gen2_unit_test_sequence.vrs"
# topic -> (width, height, encoding, frame id); the camera's defaults: RGB 704 wide keeping Gen2's 4:3 aspect
IMAGES = {
    topics.RGB_IMAGE: (704, 528, "rgb8", topics.RGB_FRAME),
    topics.SLAM_LEFT_IMAGE: (512, 512, "mono8", topics.SLAM_LEFT_FRAME),
    topics.SLAM_RIGHT_IMAGE: (512, 512, "mono8", topics.SLAM_RIGHT_FRAME),
    topics.camera_image_topic("slam_front_left"): (512, 512, "mono8", "aria_slam_front_left_optical"),
    topics.camera_image_topic("slam_front_right"): (512, 512, "mono8", "aria_slam_front_right_optical"),
}
# The IMU's 238 samples (800 Hz) go out as means of 4 at the default imu_rate_hz (200 Hz).
COUNTS = {topics.RGB_IMAGE: 3, topics.SLAM_LEFT_IMAGE: 9, topics.IMU: 238 // 4}


def gen2_file() -> Path:
    path = shared_aria_dir() / GEN2
    if not path.is_file():
        pytest.skip(f"real Aria recording {path} is absent (../shared/data/aria is not beside this checkout)")
    return path


def test_gen2_topics(listener):  # noqa: F811
    subscribe, spin_until, received = listener
    for image_topic in IMAGES:
        subscribe(image_topic, Image, replay_qos())
        subscribe(image_topic.replace("image_raw", "camera_info"), CameraInfo, replay_qos())
    subscribe(topics.IMU, Imu, replay_qos())
    subscribe(topics.ODOM, Odometry, replay_qos())
    process = camera_process(("source", "vrs"), ("path", gen2_file()), ("process_every_frame", "true"),
                             ("pacing", "fast"), ("exit_at_end", "true"))
    try:
        spin_until(lambda: all(len(received[t]) >= n for t, n in COUNTS.items()) and received[topics.ODOM], 90)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    for topic, count in COUNTS.items():
        assert len(received[topic]) == count, topic
    for image_topic, (width, height, encoding, frame_id) in IMAGES.items():
        images = [m for _, m in received[image_topic]]
        infos = [m for _, m in received[image_topic.replace("image_raw", "camera_info")]]
        assert images and len(images) == len(infos), image_topic
        for image, info in zip(images, infos):
            assert (image.width, image.height, image.encoding) == (width, height, encoding), image_topic
            assert image.header == info.header and info.header.frame_id == frame_id
            assert (info.width, info.height) == (width, height)
            assert info.k[0] == pytest.approx(info.k[4]), f"{image_topic}: fx == fy (square pixels)"
            assert (info.k[2], info.k[5]) == ((width - 1) / 2, (height - 1) / 2)
    imu = [m for _, m in received[topics.IMU]]
    assert all(m.header.frame_id == topics.IMU_FRAME for m in imu)
    assert np.median([m.linear_acceleration.z for m in imu]) > 8.0, "aria_imu z is up: gravity's reaction"
    odometry = [m for _, m in received[topics.ODOM]]
    # 237 poses over 0.3 s at 800 Hz, published at most at odom_rate_hz (100 Hz): ~30
    assert 20 <= len(odometry) <= 40
    for msg in odometry:
        assert msg.header.frame_id == topics.ODOM_FRAME and msg.child_frame_id == topics.DEVICE_FRAME
        q = msg.pose.pose.orientation
        up = quaternion_matrix(q.x, q.y, q.z, q.w)[:, 2]
        assert up[2] > 0.8, "the device's z axis points up in the odometry frame"
        v = msg.twist.twist.linear
        assert 0.2 < np.linalg.norm([v.x, v.y, v.z]) < 1.5, "a walking wearer"


def test_cut_gen2_file_is_one_line_and_exit_2(tmp_path):
    cut = tmp_path / "cut.vrs"
    cut.write_bytes(gen2_file().read_bytes()[:100_000])
    process = camera_process(("source", "vrs"), ("path", cut))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.strip() == f"aria_nav camera: {cut}: is truncated or corrupt (Fail to read all configuration records)"
    assert output_lines(out) == [], out


def test_missing_streams_are_said_and_on_diagnostics(listener, tmp_path):  # noqa: F811
    import cv2

    video = tmp_path / "walk.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for index in range(20):
        writer.write(np.full((48, 64, 3), index * 10, np.uint8))
    writer.release()
    subscribe, spin_until, received = listener
    subscribe(topics.DIAGNOSTICS, DiagnosticArray, reliable_qos())

    def camera_status():
        return [s for _, a in received[topics.DIAGNOSTICS] for s in a.status if s.name == "aria_nav/camera"]

    process = camera_process(("source", "video"), ("path", video), ("loop", "true"))
    try:
        assert spin_until(lambda: camera_status(), 60), "no camera diagnostics"
    finally:
        process.terminate()
        _, err = process.communicate(timeout=15)
    status = camera_status()[-1]
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == status.WARN and status.message == "missing streams: slam_left, slam_right, imu"
    assert values["missing_streams"] == "slam_left, slam_right, imu"
    assert "has no slam_left (read by slam_detector_left); slam_right (read by slam_detector_right); imu" in err


def test_demo_runs_the_whole_graph_on_gen2(ros_domain, tmp_path):
    gen2 = gen2_file()
    missing = [m for m in ("yolo11n_640.onnx", "yolo11n_256.onnx", "depth_anything_v2_small_266.onnx")
               if not (paths.models_dir() / m).is_file()]
    if missing:
        pytest.skip(f"the test models are not built ({', '.join(missing)}): aria-nav models build-test")
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # ROS_DOMAIN_ID: the test's own (ros_domain)
    result = subprocess.run([str(Path(sys.executable).parent / "aria-nav"), "demo", "--source", "vrs", "--input",
                             str(gen2), "--out", str(tmp_path / "demo")], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = (tmp_path / "demo" / "summary.txt").read_text()
    assert "vrs Gen2" in summary and "3 RGB frames" in summary, summary
    for stage in ("RGB detections", "left SLAM detections", "right SLAM detections", "depth", "fused obstacles"):
        line = next(line for line in summary.splitlines() if line.strip().startswith(stage))
        assert int(line.split()[len(stage.split())]) >= 1, f"{stage}: no output\n{summary}"
    assert "Traceback" not in result.stderr and "\x1b[" not in result.stdout + result.stderr
