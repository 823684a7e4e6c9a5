"""Stopping the whole graph the way a user does: SIGINT (Ctrl-C) or SIGTERM to `aria-nav launch` running every
node of the default graph (three detectors, depth, fusion, speech writing WAV files) while `aria-nav bag record`
records it. Every node stops within the launcher's SIGINT budget (each stop time is printed), every process exits
0 without a traceback or a core dump, and the files that were being written (the bag, the WAV files) are complete
and readable afterwards. And a node busy with a long inference stops at once."""
import re
import signal
import subprocess
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header, String

from aria_nav import graph, paths, runner, topics
from aria_nav.core.speech.request import SpeechRequest
from aria_nav.ros.conversions import array_to_image
from aria_nav.ros.qos import reliable_qos, sensor_qos
from aria_nav.ros.speech_msgs import request_to_msg
from ros_probe import NodeProcess, Probe, wait_until
from test_guidance_support import BIN

START_TIMEOUT_S = 120.0
RECORDED = {topics.DETECTIONS: PointCloud2, topics.OBSTACLES: PointCloud2, topics.SPEECH_SPOKEN: String}
WAV_HEADER_BYTES = 44


class TimedProcess:
    """A command whose output lines are kept with their arrival time (time.monotonic())."""

    def __init__(self, argv, cwd: Path):
        self.process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def first(self, text):
        return next((t for t, line in self.lines if text in line), None)

    def finish(self, timeout):
        """Exit code and output once the process ended (killed if it has not within `timeout`)."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(5)
        return self.process.returncode, "\n".join(line for _, line in self.lines)


def _graph_params(tmp_path: Path) -> Path:
    """The project's params file, with the sample looped (the graph keeps running) and speech writing WAVs."""
    params = yaml.safe_load(paths.config_file().read_text())
    params["camera"]["ros__parameters"]["loop"] = True
    params["speech"]["ros__parameters"].update(output="wav", wav_dir=str(tmp_path / "wav"))
    path = tmp_path / "nav.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _long_request() -> SpeechRequest:
    """A sentence of several seconds, so the speech node is mid-utterance when the signal arrives."""
    return SpeechRequest(event="degraded", urgency="warning", priority=100.0, key="vision:detections",
                         stamp_ns=time.time_ns(), reason="detections")


def _one_thread_inference_s(model: Path) -> float:
    """Seconds one inference of `model` takes here on one CPU thread (after a warm-up run)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.zeros(session.get_inputs()[0].shape, np.float32)}
    session.run(None, feed)
    started = time.monotonic()
    session.run(None, feed)
    return time.monotonic() - started


def test_a_node_in_the_middle_of_a_long_inference_stops_at_once(ros_domain, tmp_path):
    """The inference in progress is interrupted, not waited for (and its session is not released under it, which
    aborted the process when an inference outlasted the worker's join)."""
    model = Path(graph.resolve_arguments({})["depth_model"])
    if not model.exists():
        pytest.skip(f"{model} missing: run `aria-nav models build-test`")
    inference_s = _one_thread_inference_s(model)
    depth = NodeProcess("depth", tmp_path, [f"model:={model}", "intra_op_threads:=1"])
    probe = Probe(ros_domain)
    probe.subscribe("depth", Image, topics.DEPTH_IMAGE, sensor_qos(10))
    images = probe.publisher(Image, topics.RGB_IMAGE, sensor_qos())
    frame = array_to_image(np.full((480, 640, 3), 90, np.uint8), "rgb8", Header(frame_id=topics.RGB_FRAME))
    try:
        wait_until(lambda: images.get_subscription_count(), 60.0, "the depth node", alive=[depth])
        wait_until(lambda: images.publish(frame) or probe.count("depth"), 60.0, "a depth image", alive=[depth])
        first = probe.count("depth")
        images.publish(frame)  # the worker takes it as soon as it is free: the next inference starts
        time.sleep(min(0.2, inference_s / 4))
        assert probe.count("depth") == first, "the next inference already finished: nothing to interrupt"
        signalled = time.monotonic()
        code = depth.stop(signal.SIGINT)
        took = time.monotonic() - signalled
    finally:
        depth.stop()
        probe.close()
    print(f"\ndepth node stopped {took:.2f} s after SIGINT in the middle of a {inference_s:.2f} s inference")
    assert code == 0 and "Traceback" not in depth.output() and "failed" not in depth.output(), depth.output()
    assert took < 0.6 * inference_s, f"it waited for the inference ({took:.2f} s of {inference_s:.2f} s)"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_the_whole_graph_cleanly_and_leaves_complete_files(ros_domain, tmp_path, signum):
    values = graph.resolve_arguments({})
    for spec in graph.enabled_nodes(values):
        if runner.find_executable(spec) is None:
            pytest.skip(f"executable of node '{spec.name}' is not installed")
    for model in ("yolo_model", "slam_yolo_model", "depth_model"):
        if not Path(values[model]).exists():
            pytest.skip(f"{values[model]} missing: run `aria-nav models build-test`")

    probe = Probe(ros_domain)
    probe.subscribe("detections", PointCloud2, topics.DETECTIONS, sensor_qos(50))
    speech_requests = probe.publisher(String, topics.SPEECH_REQUEST, reliable_qos())
    bag = tmp_path / "bag"
    recorder = TimedProcess([str(BIN / "aria-nav"), "bag", "record", "-o", str(bag), *RECORDED], tmp_path)
    launcher = TimedProcess([str(BIN / "aria-nav"), "launch", f"params_file:={_graph_params(tmp_path)}"], tmp_path)
    processes = (launcher, recorder)

    def running():
        return (probe.count("detections") >= 3 and speech_requests.get_subscription_count()
                and all(recorder.first(f"recording '{topic}'") for topic in RECORDED))

    try:
        def output():
            return "\n".join(line for p in processes for _, line in p.lines)

        wait_until(lambda: running() or any(p.process.poll() is not None for p in processes), START_TIMEOUT_S,
                   lambda: f"detections, the speech node and the recorder recording every topic:\n{output()}")
        assert all(p.process.poll() is None for p in processes), output()
        speech_requests.publish(request_to_msg(_long_request()))
        time.sleep(1.0)  # synthesised and being held for its duration

        signalled = time.monotonic()
        for process in processes:  # a terminal's Ctrl-C reaches every process of the foreground job
            process.process.send_signal(signum)
        budget = graph.STOP_SIGINT_TIMEOUT_S + graph.STOP_SIGTERM_TIMEOUT_S + 5
        code, output = launcher.finish(budget)
        launcher_took = time.monotonic() - signalled
        recorder_code, recorder_output = recorder.finish(budget)
        recorder_took = recorder.first(" messages on ") - signalled
    finally:
        for process in (launcher, recorder):
            if process.process.poll() is None:
                process.process.kill()
        probe.close()

    started = {name: int(pid) for name, pid in re.findall(r"^\[launch\] (\w+): started \(pid (\d+)\)$", output, re.M)}
    enabled = [spec.name for spec in graph.enabled_nodes(values)]
    assert set(started) == set(enabled), output
    stop_times = {name: launcher.first(f"[launch] {name}: exited with code 0") for name in enabled}
    assert all(stop_times.values()), f"a node did not exit with code 0:\n{output}"
    stop_times = {name: t - signalled for name, t in stop_times.items()}
    print(f"\n{signal.Signals(signum).name}: node stop times " +
          ", ".join(f"{name} {took:.2f} s" for name, took in sorted(stop_times.items(), key=lambda kv: kv[1])) +
          f"; launcher exit {launcher_took:.2f} s; bag recorder exit {recorder_took:.2f} s")

    # Every node stopped on the first signal, within the budget before escalation; nothing left behind.
    assert code == 0, output
    assert max(stop_times.values()) < graph.STOP_SIGINT_TIMEOUT_S, stop_times
    assert "; sending SIG" not in output, "the launcher had to escalate:\n" + output
    assert output.rstrip().endswith("[launch] done; no node failed"), output
    for name, pid in started.items():
        assert not Path(f"/proc/{pid}").exists(), f"{name} (pid {pid}) outlived the launcher"
    for text in (output, recorder_output):
        assert "Traceback" not in text and "core dumped" not in text, text
    assert not list(tmp_path.glob("core*")), "a process dumped core"

    # The bag is closed: its MCAP summary and rosbag2 metadata agree with what the recorder said it wrote, and
    # every message decodes.
    assert recorder_code == 0, recorder_output
    written = int(recorder_output.split("bag record: ")[-1].split(" messages")[0])
    metadata = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert metadata["message_count"] == written > 0, recorder_output
    [mcap_file] = bag.glob("*.mcap")
    with open(mcap_file, "rb") as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        assert summary is not None and summary.statistics.message_count == written
        counts = {}
        for _, channel, message in reader.iter_messages():
            deserialize_message(message.data, RECORDED[channel.topic])
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
    assert sum(counts.values()) == written and counts.get(topics.DETECTIONS, 0) >= 3, counts

    # Every WAV file the speech node wrote, including the utterance cut by the signal, is whole.
    wavs = sorted((tmp_path / "wav").glob("*.wav"))
    assert wavs, "the speech node wrote no WAV file"
    for path in wavs:
        with wave.open(str(path), "rb") as audio:
            frames = audio.getnframes()
            data = audio.readframes(frames)
            assert frames > 0 and len(data) == frames * audio.getsampwidth() * audio.getnchannels(), path
        assert path.stat().st_size == WAV_HEADER_BYTES + len(data), f"{path}: trailing or missing bytes"
    assert any("degraded" in path.name for path in wavs), [p.name for p in wavs]
