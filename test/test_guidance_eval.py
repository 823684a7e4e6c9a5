"""The guidance evaluation (`aria-nav eval guidance`): its targets on the scripted scenes through the real core with
the real espeak-ng's sentence durations, and one scene through the real fusion and speech processes over DDS."""
import json
import math
import shutil
import time

import numpy as np
import pytest
import rclpy
from aria_nav_msgs.msg import Utterance as UtteranceMsg
from sensor_msgs.msg import CameraInfo, Image, Imu
from std_msgs.msg import Header, String
from vision_msgs.msg import Detection2DArray, LabelInfo

from aria_nav import topics
from aria_nav.cli import main
from aria_nav.core.evaluation.guidance import (PITCHED_HEADS, DurationCache, distance_error, evaluate_all, pitched,
                                               run_scene, scenes, summary, table, targets, tilted)
from aria_nav.core.evaluation.scenes import CAMERA_HEIGHT_M, CLASS_NAMES, INTRINSICS, imu_samples, render
from aria_nav.core.wearer_frame import WearerFrame
from aria_nav.core.speech.engines import EspeakEngine
from aria_nav.ros.conversions import array_to_image, intrinsics_to_camera_info
from aria_nav.ros.detections import class_names_to_msg, detections_to_msg
from aria_nav.ros.qos import latched_qos, reliable_qos, result_qos, sensor_qos
from aria_nav.ros.speech_msgs import msg_to_spoken
from ros_probe import start_node, stop_node, write_params

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed: the "
                                "evaluation times speech with the real TTS")


def test_guidance_evaluation_meets_its_targets():
    durations = DurationCache(EspeakEngine("en-us", 175))
    results = evaluate_all(durations)
    print("\n" + table(results) + "\n" + summary(results, durations))
    assert targets(results) == []
    by_name = {r.scene.name: r for r in results}
    # The scenes do what they say: criticals where there should be, glitches that would have spoken.
    assert len(by_name["two criticals"].criticals) == 2
    assert by_name["static, standing"].criticals == [] and by_name["static, standing"].requests
    assert not by_name["depth flicker, 1 frame"].criticals
    assert by_name["standing -> walking"].walking_after_s < 0.5
    # Four criticals at once: the three waiting behind the first are said together (one by one, the last would be
    # heard 3.0 s after it became critical; together 2.3 s), and the crowd's person behind a gap is not critical.
    four = by_name["four criticals"].criticals
    assert len(four) == 4 and max(c.to_heard_s for c in four) < 2.5, four
    assert len(by_name["crowd"].criticals) == 5
    # The pitched heads speak of both the person and the chair, every distance judged against the floor distance.
    tilted_results = [r for r in results if tilted(r.scene)]
    assert len(tilted_results) == len(PITCHED_HEADS)
    for result in tilted_results:
        assert {r.truth_name for r in result.requests} == {"person", "chair"}, result.scene.name
        assert result.distances_within_floor_tolerance[0] == result.distances_within_floor_tolerance[1] > 0


def test_a_pitched_scene_is_rendered_as_the_head_is_tilted():
    """Depth, truth and IMU agree on the head's pose: the optical axis meets the floor 1.6 / sin(pitch) away, the
    truth is the floor distance, and the IMU's gravity gives the pitch and roll through the wearer frame."""
    for pitch_deg, roll_deg in ((35.0, 0.0), (25.0, 10.0)):
        scene = pitched(pitch_deg, roll_deg)
        frame = render(scene, 0, 0.0, perturbed=False)
        centre = frame.depth[238:243, 318:323]
        assert float(np.median(centre)) == pytest.approx(CAMERA_HEIGHT_M / math.sin(math.radians(pitch_deg)),
                                                         rel=0.03)
        assert [t.name for t in frame.truth] == ["person", "chair"]
        assert frame.truth[0].distance_m == pytest.approx(7.0)
        wearer = WearerFrame()
        for t, ax, ay, az in imu_samples(scene, -3.0, 1.0):
            wearer.add_imu(t, (ax, ay, az))
        tilt = wearer.tilt_at(1.0)
        assert tilt.pitch_down_deg == pytest.approx(pitch_deg, abs=1.0)
        assert tilt.roll_right_deg == pytest.approx(roll_deg, abs=1.0)


def test_the_pitched_scene_needs_the_tilt():
    """The same scene with the IMU kept from the wearer frame (the camera taken to be level) says distances off by
    more than 10%: the scenario measures the tilt's use, not the renderer's kindness."""
    durations = DurationCache(EspeakEngine("en-us", 175))
    requests, _, _, _ = run_scene(pitched(35.0), durations, tilt_from_imu=False)
    assert max(distance_error(r) for r in requests if r.truth_distance_m is not None) > 0.10


def test_eval_command_prints_the_table_and_exits_0_when_targets_are_met(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "guidance"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out
    assert "| two criticals |" in out and "targets: all met" in out


def test_two_simultaneous_criticals_through_the_fusion_and_speech_processes(ros_domain, tmp_path):
    """The 'two criticals' scene, published in real time to the fusion process; the speech process says what it
    asks for (espeak-ng, WAV files held for their duration). Both obstacles are heard, each with its capture-to-ear
    latency on the spoken topic; the times are printed (a loaded machine stretches them, so they are bounded only
    loosely here; the evaluation holds the targets)."""
    scene = next(s for s in scenes() if s.name == "two criticals")
    fusion_params = write_params(tmp_path / "fusion.yaml", "fusion", {"use_slam_cameras": False,
                                                                      "publish_annotated": False})
    speech_params = write_params(tmp_path / "speech.yaml", "speech", {"output": "wav",
                                                                      "wav_dir": str(tmp_path / "wav")})
    rclpy.init(domain_id=ros_domain)
    node = rclpy.create_node("guidance_eval_feeder")
    spoken = []
    node.create_subscription(UtteranceMsg, topics.SPEECH_SPOKEN, lambda m: spoken.append(msg_to_spoken(m)),
                             reliable_qos())
    detections_pub = node.create_publisher(Detection2DArray, topics.DETECTIONS, result_qos())
    depth_pub = node.create_publisher(Image, topics.DEPTH_IMAGE, result_qos())
    info_pub = node.create_publisher(CameraInfo, topics.RGB_INFO, sensor_qos())
    imu_pub = node.create_publisher(Imu, topics.IMU, sensor_qos(depth=200))
    names_pub = node.create_publisher(LabelInfo, topics.DETECTIONS + topics.CLASS_NAMES_SUFFIX, latched_qos())
    mode_pub = node.create_publisher(String, topics.DEPTH_MODE, latched_qos())
    names_pub.publish(class_names_to_msg(CLASS_NAMES, 0.25))
    mode_pub.publish(String(data=json.dumps({"mode": "metric"})))
    fusion = start_node("fusion", "fusion", fusion_params, tmp_path / "fusion.log", ros_domain)
    speech = start_node("speech", "speech", speech_params, tmp_path / "speech.log", ros_domain)
    try:
        deadline = time.monotonic() + 60
        while detections_pub.get_subscription_count() == 0 or node.count_publishers(topics.SPEECH_SPOKEN) == 0:
            rclpy.spin_once(node, timeout_sec=0.05)
            assert time.monotonic() < deadline and fusion.poll() is None and speech.poll() is None
        time.sleep(1.0)  # latched messages delivered, both processes settled
        start_ns = node.get_clock().now().nanoseconds
        imu_from = -3.0
        for index, scene_s in enumerate(scene.frame_times()):
            while (node.get_clock().now().nanoseconds - start_ns) / 1e9 < scene_s:
                rclpy.spin_once(node, timeout_sec=0.005)
            for t, ax, ay, az in imu_samples(scene, imu_from, scene_s):
                imu = Imu(header=Header(frame_id=topics.IMU_FRAME))
                imu.header.stamp.sec, imu.header.stamp.nanosec = divmod(start_ns + int(t * 1e9), 1_000_000_000)
                imu.linear_acceleration.x, imu.linear_acceleration.y, imu.linear_acceleration.z = ax, ay, az
                imu_pub.publish(imu)
            imu_from = scene_s
            frame = render(scene, index, scene_s)
            header = Header(frame_id=topics.RGB_FRAME)
            header.stamp.sec, header.stamp.nanosec = divmod(start_ns + int(round(scene_s * 1e9)), 1_000_000_000)
            info_pub.publish(intrinsics_to_camera_info(INTRINSICS, header))
            detections_pub.publish(detections_to_msg(frame.detections, header))
            depth_pub.publish(array_to_image(frame.depth, "32FC1", header))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
            heard = {s["key"] for s in spoken if s["urgency"] == "critical" and s["started"] is not None}
            if len(heard) >= 2:
                break
    finally:
        codes = stop_node(fusion), stop_node(speech)
        node.destroy_node()
        rclpy.shutdown()
    critical = [s for s in spoken if s["urgency"] == "critical" and s["started"] is not None]
    texts = [s["text"] for s in critical]
    assert any(t.startswith("Person ahead") for t in texts) and any(t.startswith("Bicycle right") for t in texts), \
        (spoken, (tmp_path / "fusion.log").read_text(), (tmp_path / "speech.log").read_text())
    appeared_s = start_ns / 1e9 + next(o.appears_s for o in scene.objects)
    firsts = {}
    for s in critical:
        firsts.setdefault(s["key"], s)
    print("\nover DDS: " + "; ".join(f"'{s['text']}' heard {s['started'] - appeared_s:.2f} s after the obstacles "
                                     f"appeared, capture-to-ear {s['capture_to_ear_ms']:.0f} ms"
                                     for s in firsts.values()))
    assert all(s["capture_to_ear_ms"] > 0 for s in critical)
    assert max(s["started"] for s in firsts.values()) - appeared_s < 10.0  # loose: a loaded machine
    assert codes == (0, 0)
