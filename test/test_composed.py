"""composed:=with_camera: camera, detector, depth and fusion in one process (aria_nav.nodes.composed), over real DDS,
started and stopped by `aria-nav launch` as a user does; and the composed process's command line and errors."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aria_nav_msgs.msg import ObstacleArray
from sensor_msgs.msg import CameraInfo, Image
from vision_msgs.msg import Detection2DArray

from aria_nav import graph, paths, runner, topics
from aria_nav.ros.diagnostics import stamp_to_ns
from aria_nav.ros.qos import result_qos, sensor_qos
from ros_probe import Probe, wait_until

MEMBERS = ("camera", "detector", "depth", "fusion")
TIMEOUT_S = 240.0  # CPU depth on a loaded 2-core machine: seconds per frame
OBSTACLE_SETS_WANTED = 2


def test_composed_mode_replaces_its_members_by_one_process_and_keeps_the_others():
    values = graph.resolve_arguments({"composed": "with_camera"})
    assert [spec.name for spec in graph.composed_members(values)] == list(MEMBERS)
    started = [spec.name for spec in graph.enabled_nodes(values)]
    assert started == [graph.COMPOSED.name, "slam_detector_left", "slam_detector_right", "speech"]
    values = graph.resolve_arguments({"composed": "true", "slam": "false"})
    assert [spec.name for spec in graph.enabled_nodes(values)] == ["camera", graph.COMPOSED.name, "speech"]
    assert graph.enabled_nodes(graph.resolve_arguments({})) == [
        spec for spec in graph.NODES if (spec.enabled_by is None or spec.enabled_by in ("slam", "speech"))
        and spec.enabled_in in ((), (graph.SLAM_DETECTOR_ARGUMENT, ("per_camera",)))]


def test_each_member_gets_its_own_name_parameters_and_overrides():
    launch = runner.Runner({"composed": "true", "slam": "false", "speech": "false"},
                           overrides={"detector": {"conf_threshold": 0.5}})
    argv = launch.commands[graph.COMPOSED.name]
    assert argv[:3] == [sys.executable, "-m", "aria_nav.nodes.composed"]
    text = " ".join(argv)
    groups = re.findall(r"--node (\w+) (--ros-args .*?) --(?= |$)", text)
    assert [name for name, _ in groups] == ["detector", "depth", "fusion"]
    own = dict(groups)
    assert "__node:=detector" in own["detector"] and "conf_threshold:=0.5" in own["detector"]
    assert "conf_threshold" not in own["depth"] and "yolo11n_640.onnx" not in own["depth"]
    assert "depth_anything_v2_small_518.onnx" in own["depth"]
    assert argv[-3:] == ["--ros-args", "--log-level", "info"]
    with pytest.raises(runner.LaunchError, match="'speech', which is not started"):
        runner.Runner({"composed": "true", "speech": "false"}, overrides={"speech": {"output": "wav"}})


def _composed(*arguments: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aria_nav.nodes.composed", *arguments], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"))


@pytest.mark.parametrize("arguments, message", [
    ((), "no member"),
    (("--node", "detector", "-p", "x:=1"), "ended by --"),
    (("--node", "detector", "-p", "x:=1", "--"), "must begin with --ros-args"),
    (("--node", "speech", "--ros-args", "--"), "'speech' (speech) cannot be composed"),
    (("--node", "nope", "--ros-args", "--"), "no node 'nope' in the graph"),
])
def test_bad_command_line_is_one_line_and_exit_2(arguments, message):
    result = _composed(*arguments)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_members_configuration_error_names_it_and_exits_2(ros_domain, tmp_path):
    missing = tmp_path / "missing.onnx"
    result = _composed("--node", "detector", "--ros-args", "-r", "__node:=detector", "--params-file",
                       str(paths.config_file()), "-p", f'model:="{missing}"', "--")
    assert result.returncode == 2, result.stdout + result.stderr
    assert re.search(rf"^aria_nav detector: .*model.*{re.escape(str(missing))}", result.stderr, re.M), result.stderr


def test_composed_graph_runs_over_dds_with_the_members_names_and_stops_cleanly(ros_domain):
    for name in ("yolo_model", "depth_model"):
        model = Path(graph.resolve_arguments({})[name])
        if not model.exists():
            pytest.skip(f"{model} missing: run `aria-nav models build-test`")
    probe = Probe(ros_domain, "composed_test")
    probe.subscribe("info", CameraInfo, topics.RGB_INFO, sensor_qos(50))
    probe.subscribe("detections", Detection2DArray, topics.DETECTIONS, result_qos())
    probe.subscribe("depth", Image, topics.DEPTH_IMAGE, result_qos())
    probe.subscribe("obstacles", ObstacleArray, topics.OBSTACLES, result_qos())
    probe.subscribe_diagnostics()
    # Every frame processed, in order, at 1 Hz: detections and depth of the same frames meet in fusion even where
    # CPU depth takes seconds a frame; the SLAM streams, which nothing reads here, are off (reliable QoS waits for
    # their readers).
    lines = []
    launch = runner.Runner({"composed": "with_camera", "slam": "false", "speech": "false", "loop": "true",
                            "pacing": "fixed", "rate_hz": "1.0", "process_every_frame": "true"},
                           overrides={"camera": {"publish_slam": False}},
                           output=lambda source, line: lines.append(f"[{source}] {line}\n"))

    def camera_stamps():
        return {stamp_to_ns(info.header.stamp) for info in probe.messages("info")}

    def rgb_obstacles():  # fusion's obstacle sets of RGB frames the camera published
        stamps = camera_stamps()
        return [o for o in probe.messages("obstacles")
                if o.header.frame_id == topics.RGB_FRAME and stamp_to_ns(o.header.stamp) in stamps]

    try:
        launch.start()
        wait_until(lambda: launch.poll() is not None or (
            len(rgb_obstacles()) >= OBSTACLE_SETS_WANTED and probe.count("detections") and probe.count("depth")
            and all(probe.status(name) for name in MEMBERS)), TIMEOUT_S,
            lambda: f"obstacles from the composed graph ({len(rgb_obstacles())} sets, {probe.count('detections')} "
                    f"detections, {probe.count('depth')} depth images); output:\n" + "".join(lines))
        assert launch.poll() is None, "the graph ended early:\n" + "".join(lines)
        detector, depth = probe.status("detector"), probe.status("depth")
        pid = launch.states()[graph.COMPOSED.name].pid
    finally:
        returncode = launch.stop()  # SIGINT, as Ctrl-C
        probe.close()
    text = "".join(lines)

    # Each member is its own node, with its own parameters: the detector's model is YOLO, depth's Depth-Anything.
    assert detector["model"].endswith("yolo11n_640.onnx") and detector["camera"] == "rgb"
    assert Path(depth["model"]).name.startswith("depth_anything_v2")
    stamps = camera_stamps()
    for message in probe.messages("detections") + probe.messages("depth"):
        if stamp_to_ns(message.header.stamp) in stamps:
            assert message.header.frame_id == topics.RGB_FRAME
    # One process for the four, its output under its name; Ctrl-C: exit 0, no escalation, nothing left.
    assert re.findall(r"^\[launch\] (\w+): started", text, re.M) == [graph.COMPOSED.name], text
    for name in MEMBERS:
        assert re.search(rf"^\[{graph.COMPOSED.name}\] \[INFO\] \[[\d.]+\] \[{name}\]: ", text, re.M), text
    assert returncode == 0, text
    assert f"[launch] {graph.COMPOSED.name}: exited with code 0\n" in text, text
    assert "SIGTERM" not in text and "SIGKILL" not in text, text
    assert not Path(f"/proc/{pid}").exists()


def test_a_members_own_arguments_reach_it_alone(ros_domain, tmp_path):
    """What the composed process builds each member with: node-local arguments (its params file section, -p rules,
    name) and no global ones, so two members with the same parameter name keep their own values."""
    import rclpy

    from aria_nav.nodes.composed import member_class

    params = tmp_path / "params.yaml"
    params.write_text("detector:\n  ros__parameters:\n    conf_threshold: 0.61\n"
                      "slam_detector_left:\n  ros__parameters:\n    conf_threshold: 0.37\n")
    model = Path(graph.resolve_arguments({})["slam_yolo_model"])
    if not model.exists():
        pytest.skip(f"{model} missing: run `aria-nav models build-test`")
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    nodes = []
    try:
        for name, camera in (("detector", "rgb"), ("slam_detector_left", "slam_left")):
            nodes.append(member_class(name)(
                context=context, use_global_arguments=False,
                cli_args=["--ros-args", "-r", f"__node:={name}", "--params-file", str(params), "-p",
                          f'model:="{model}"', "-p", f'camera:="{camera}"']))
        assert [node.get_name() for node in nodes] == ["detector", "slam_detector_left"]
        assert [node.cfg.conf_threshold for node in nodes] == [0.61, 0.37]
        assert [node.cfg.camera for node in nodes] == ["rgb", "slam_left"]
    finally:
        for node in nodes:
            node.close()
            node.destroy_node()
        rclpy.shutdown(context=context)


def test_a_signal_while_the_process_still_imports_builds_no_member():
    """A SIGTERM held while the composed process imported its libraries (ros.early_signals) stops it before any
    member (and its model) is built: exit 0, as for a node of its own."""
    script = (
        "import os, signal\n"
        "import aria_nav.nodes\n"  # what the composed entry point imports first
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "from aria_nav.nodes import composed\n"
        "from aria_nav.ros.runtime import stop_on_signals\n"
        "shutdown = stop_on_signals('composed')\n"
        "def refuse(**_arguments): raise AssertionError('a member was built after the stop')\n"
        "composed.member_class = lambda name: refuse\n"
        "code = composed.run_composed(['--node', 'fusion', '--ros-args', '--', '--node', 'depth', '--ros-args',"
        " '--'], shutdown=shutdown)\n"
        "print('stopped, code', code, flush=True)\n"
        "shutdown.finish(code)\n")
    # --ros-args: what marks a node process, whose signals are held while it imports
    done = subprocess.run([sys.executable, "-c", script, "--ros-args"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "stopped, code 0" in done.stdout, done.stdout + done.stderr
