"""config/nav.rviz against the running graph (every topic it displays is published, with the type the display
needs), and the static transforms that place those topics' frames in its fixed frame (aria_nav.ros.static_tf)."""
import math

import numpy as np
import pytest
import rclpy
import yaml

from aria_nav import paths, topics
from aria_nav.replay.session import GraphSession
from aria_nav.ros.qos import latched_qos
from aria_nav.ros.static_tf import DEVICE_FROM_OPTICAL, camera_mounts, rotation_to_quaternion, transform_message
from aria_nav.runner import Runner
from ros_probe import NodeProcess, Probe, wait_until

RVIZ = paths.config_file("nav.rviz")
DISPLAY_TYPES = {"rviz_default_plugins/Image": "sensor_msgs/msg/Image",
                 "rviz_default_plugins/MarkerArray": "visualization_msgs/msg/MarkerArray",
                 "rviz_default_plugins/PointCloud2": "sensor_msgs/msg/PointCloud2"}
# The optional outputs the view shows, switched on as a user of rviz:=true does.
RVIZ_OVERRIDES = {"detector": {"publish_annotated": True},
                  "depth": {"publish_colored": True, "publish_points": True},
                  "fusion": {"publish_markers": True, "publish_annotated": True}}
START_TIMEOUT_S = 180.0


def _displays(items):
    for display in items:
        yield display
        yield from _displays(display.get("Displays", []))  # display groups


def displayed_topics():
    """(display class, topic) of every display of nav.rviz that subscribes to a topic."""
    config = yaml.safe_load(RVIZ.read_text())
    return [(d["Class"], d["Topic"]["Value"]) for d in _displays(config["Visualization Manager"]["Displays"])
            if isinstance(d.get("Topic"), dict)]


def test_the_view_shows_the_graphs_outputs_in_the_device_frame():
    config = yaml.safe_load(RVIZ.read_text())
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"] == topics.DEVICE_FRAME
    shown = {topic for _, topic in displayed_topics()}
    assert {topics.ANNOTATED_IMAGE, topics.DEPTH_COLORED, topics.OBSTACLE_MARKERS, topics.DEPTH_POINTS} <= shown
    assert {cls for cls, _ in displayed_topics()} <= set(DISPLAY_TYPES)


def test_every_displayed_topic_is_published_by_the_graph_with_the_displays_type(ros_domain):
    wanted = {topic: DISPLAY_TYPES[cls] for cls, topic in displayed_topics()}
    model = paths.models_dir() / "depth_anything_v2_small_266.onnx"
    if not model.is_file() or not (paths.models_dir() / "yolo11n_640.onnx").is_file():
        pytest.skip("the test models are not built (aria-nav models build-test)")
    session = GraphSession("rviz_config_test")  # on ros_domain's ROS_DOMAIN_ID
    try:
        runner = Runner({"depth_model": str(model), "slam": "false", "speech": "false"},
                        nodes=list(RVIZ_OVERRIDES), overrides=RVIZ_OVERRIDES, output=session.output)
        session.start(runner)
        session.wait_started(RVIZ_OVERRIDES, START_TIMEOUT_S)

        def published():
            return {topic: sorted({info.topic_type for info in session.node.get_publishers_info_by_topic(topic)})
                    for topic in wanted}

        session.wait_until(lambda: all(published().values()), 20.0, "displayed topics without a publisher")
        assert published() == {topic: [msg_type] for topic, msg_type in wanted.items()}
    finally:
        session.close()


# -- static transforms ---------------------------------------------------------------------------------------------
def _angle_deg(a, b):
    return math.degrees(math.acos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1.0, 1.0)))


def test_the_sample_cameras_are_mounted_as_its_script_says():
    mounts, origin = camera_mounts("sample", "")
    assert "script" in origin
    by_frame = {m.child: m for m in mounts}
    assert set(by_frame) == {topics.RGB_FRAME, topics.SLAM_LEFT_FRAME, topics.SLAM_RIGHT_FRAME, topics.IMU_FRAME}
    np.testing.assert_allclose(by_frame[topics.RGB_FRAME].rotation, DEVICE_FROM_OPTICAL, atol=1e-12)
    for frame, side in ((topics.SLAM_LEFT_FRAME, 1.0), (topics.SLAM_RIGHT_FRAME, -1.0)):
        mount = by_frame[frame]
        forward, right, down = mount.rotation[:, 2], mount.rotation[:, 0], mount.rotation[:, 1]
        # 60 degrees outward and 10 degrees down (docs/camera.md), 7 cm to its side, still a rotation.
        assert _angle_deg(forward[:2], [1.0, 0.0]) == pytest.approx(60.0, abs=1e-6)
        assert np.sign(forward[1]) == side and math.degrees(math.asin(-forward[2])) == pytest.approx(10.0)
        assert right[2] == pytest.approx(0.0, abs=1e-12) and down[2] < 0
        assert mount.translation[1] == pytest.approx(0.07 * side)
        np.testing.assert_allclose(mount.rotation @ mount.rotation.T, np.eye(3), atol=1e-12)
    assert camera_mounts("bag", str(paths.sample_dir()))[1] == origin  # the sample as a bag is the sample


def test_vrs_mounts_come_from_the_factory_calibration():
    recording = paths.shared_aria_dir() / "gen1_everyday_activities.vrs"
    if not recording.is_file():
        pytest.skip(f"no Aria recording at {recording}")
    mounts, origin = camera_mounts("vrs", str(recording))
    assert "factory calibration" in origin
    by_frame = {m.child: m for m in mounts}
    rgb, left, right = (by_frame[f] for f in (topics.RGB_FRAME, topics.SLAM_LEFT_FRAME, topics.SLAM_RIGHT_FRAME))
    # Upright RGB: looks forward, image right is the wearer's right, image down is down (within its mounting tilt).
    assert _angle_deg(rgb.rotation[:, 2], [1, 0, 0]) < 15 and _angle_deg(rgb.rotation[:, 0], [0, -1, 0]) < 15
    assert _angle_deg(rgb.rotation[:, 1], [0, 0, -1]) < 15
    # The SLAM cameras look about 38 degrees outward, each on its side of the frame (the fusion default).
    for mount, side in ((left, 1), (right, -1)):
        outward = math.degrees(math.atan2(side * mount.rotation[1, 2], mount.rotation[0, 2]))
        assert 30 < outward < 45 and np.sign(mount.translation[1]) == side


def test_sources_without_calibration_get_the_rgb_camera_at_the_origin():
    mounts, origin = camera_mounts("video", "street.mp4")
    assert [m.child for m in mounts] == [topics.RGB_FRAME] and "no calibration" in origin


def test_transform_message_and_quaternion():
    mount = camera_mounts("sample", "")[0][1]
    x, y, z, w = rotation_to_quaternion(mount.rotation)
    rebuilt = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    np.testing.assert_allclose(rebuilt, mount.rotation, atol=1e-9)
    msg = transform_message(mount, rclpy.time.Time().to_msg())
    assert (msg.header.frame_id, msg.child_frame_id) == (topics.DEVICE_FRAME, mount.child)
    assert msg.transform.translation.y == pytest.approx(mount.translation[1])


def test_a_late_subscriber_gets_the_camera_nodes_static_transforms(ros_domain, tmp_path):
    """/tf_static is latched as tf2's static broadcaster has it: a subscriber that joins after the camera node has
    published still gets every mount, in one tf2_msgs/TFMessage, from another process."""
    tf2_msgs = pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs is not built here (tools/setup.sh builds it)")
    camera = NodeProcess("camera", tmp_path, ["source:=sample", "loop:=true"])
    probe = None
    try:
        wait_until(lambda: "static transforms aria_device ->" in camera.output(), START_TIMEOUT_S,
                   lambda: f"the camera node's static transforms:\n{camera.output()}", alive=[camera])
        probe = Probe(ros_domain, "late_tf_listener")
        probe.subscribe("tf", tf2_msgs.TFMessage, topics.TF_STATIC, latched_qos())
        wait_until(lambda: probe.count("tf"), 60.0, "/tf_static at a late subscriber", alive=[camera])
        (message,) = probe.messages("tf")
        expected = {m.child: m for m in camera_mounts("sample", "")[0]}
        assert sorted(t.child_frame_id for t in message.transforms) == sorted(expected)
        for transform in message.transforms:
            mount = expected[transform.child_frame_id]
            assert transform.header.frame_id == topics.DEVICE_FRAME
            t, q = transform.transform.translation, transform.transform.rotation
            np.testing.assert_allclose([t.x, t.y, t.z], mount.translation, atol=1e-9)
            np.testing.assert_allclose([q.x, q.y, q.z, q.w], mount.quaternion_xyzw(), atol=1e-9)
    finally:
        if probe is not None:
            probe.close()
        camera.stop()
