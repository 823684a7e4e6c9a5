"""Stopping the whole graph as a user does, measured: `aria-nav launch` (the graph, speech writing WAV files) and
`aria-nav bag record` (recording detections, obstacles and what was said) get SIGINT (Ctrl-C reaches every process
of the terminal's foreground job) or SIGTERM once the graph works, while the speech node is in the middle of an
utterance. Measured per stop: when each node exited and with which code (from the launcher's output), when the
launcher and the recorder exited, whether the launcher escalated, and whether the bag and every WAV file are
complete. With `second_after_s` a second signal follows the first, and the time until every process is gone is
measured. CpuBurner loads every core meanwhile (a busy CI machine or laptop).

Used by `aria-nav bench shutdown` (many cycles, the distribution in docs/reliability.md) and by test_shutdown.py.
"""
from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import yaml

from aria_nav import graph, paths, topics
from aria_nav.ros.spinning import BackgroundNode
from aria_nav.runner import SIGKILL_TIMEOUT_S

RECORDED = {topics.DETECTIONS: "vision_msgs/msg/Detection2DArray", topics.OBSTACLES: "aria_nav_msgs/msg/ObstacleArray",
            topics.SPEECH_SPOKEN: "aria_nav_msgs/msg/Utterance"}
WAV_HEADER_BYTES = 44
START_TIMEOUT_S = 180.0  # a whole graph loading its models on a loaded 2-core machine
DETECTIONS_RECORDED = 3  # detections seen after the recorder subscribed, before the signal
EXITED = re.compile(r"^\[launch\] (\w+): (exited with code (-?\d+)|killed by signal (\w+))")
STARTED = re.compile(r"^\[launch\] (\w+): started \(pid (\d+)\)$")


def _burn() -> None:
    while True:
        pass


class CpuBurner:
    """One busy-looping process per core (or `processes`), for as long as the `with` block lasts."""

    def __init__(self, processes: Optional[int] = None):
        self.count = processes if processes is not None else os.cpu_count() or 1
        self._processes: List[multiprocessing.Process] = []

    def __enter__(self) -> "CpuBurner":
        context = multiprocessing.get_context("spawn")  # no copy of this process's threads or DDS participant
        self._processes = [context.Process(target=_burn, name="cpu-burner", daemon=True) for _ in range(self.count)]
        for process in self._processes:
            process.start()
        return self

    def __exit__(self, *exc_info) -> None:
        for process in self._processes:
            process.kill()
        for process in self._processes:
            process.join(5)


class TimedProcess:
    """A command whose output lines are kept with their arrival time (time.monotonic())."""

    def __init__(self, argv: Sequence[str], cwd: Path):
        self.process = subprocess.Popen(list(argv), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        self.lines: List[tuple] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def first(self, text: str) -> Optional[float]:
        return next((t for t, line in list(self.lines) if text in line), None)

    def output(self) -> str:
        return "\n".join(line for _, line in list(self.lines))

    def finish(self, timeout: float):
        """(exit code, output) once the process ended (killed if it has not within `timeout`)."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(5)
        return self.process.returncode, self.output()


def graph_params(directory: Path, arguments: Optional[Dict[str, str]] = None) -> Path:
    """The project's params file with the sample looped (the graph keeps running) and speech writing WAVs."""
    params = yaml.safe_load(paths.config_file().read_text())
    params["camera"]["ros__parameters"]["loop"] = True
    params["speech"]["ros__parameters"].update(output="wav", wav_dir=str(directory / "wav"))
    path = directory / "nav.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def check_wavs(directory: Path) -> List[str]:
    """Problems with the WAV files in `directory`: each must hold exactly the frames its header announces."""
    problems = []
    wavs = sorted(directory.glob("*.wav"))
    if not wavs:
        problems.append(f"no WAV file in {directory}")
    for path in wavs:
        try:
            with wave.open(str(path), "rb") as audio:
                frames = audio.getnframes()
                data = audio.readframes(frames)
                whole = frames > 0 and len(data) == frames * audio.getsampwidth() * audio.getnchannels()
        except (wave.Error, EOFError) as exc:
            problems.append(f"{path.name}: {exc}")
            continue
        if not whole or path.stat().st_size != WAV_HEADER_BYTES + len(data):
            problems.append(f"{path.name}: truncated or trailing bytes")
    return problems


def check_bag(bag: Path, written: int) -> Dict[str, int]:
    """Message count per topic of a closed MCAP bag whose summary and metadata.yaml both count `written` messages
    that all decode; AssertionError otherwise."""
    from mcap.reader import make_reader
    from rclpy.serialization import deserialize_message

    from aria_nav.ros.bag_io import message_class

    metadata = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert metadata["message_count"] == written, f"metadata.yaml counts {metadata['message_count']}, not {written}"
    [mcap_file] = bag.glob("*.mcap")
    counts: Dict[str, int] = {}
    with open(mcap_file, "rb") as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        assert summary is not None, f"{mcap_file} has no summary: not closed"
        assert summary.statistics.message_count == written, "the MCAP summary disagrees with the recorder"
        for _, channel, message in reader.iter_messages():
            deserialize_message(message.data, message_class(RECORDED[channel.topic]))
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
    assert sum(counts.values()) == written, counts
    return counts


@dataclass
class StopResult:
    signal: str
    node_stop_s: Dict[str, float]  # node -> seconds from the signal to the launcher reporting its exit code 0
    node_exits: Dict[str, str]  # node -> the launcher's words for its exit
    launcher_s: float
    launcher_code: int
    recorder_s: Optional[float]
    recorder_code: int
    escalations: List[str]
    problems: List[str] = field(default_factory=list)  # anything not as it should be (empty: a clean stop)
    # nodes whose exit 0 the launcher reported STOP_SIGINT_TIMEOUT_S or more after the signal, not escalated (the
    # launcher reports an exit once the kernel has torn the process down, and runs starved itself under load)
    late: List[str] = field(default_factory=list)
    second_signal_s: Optional[float] = None  # from the second signal until every node process was gone
    detections_in_bag: int = 0
    wavs: int = 0
    output: str = ""

    @property
    def clean(self) -> bool:
        return not self.problems and not self.late


class _Driver(BackgroundNode):
    """Sees the graph work (every node's /diagnostics, detections) and sends the long speech request."""

    def __init__(self, nodes: Sequence[str]):
        from diagnostic_msgs.msg import DiagnosticArray
        from aria_nav_msgs.msg import SpeechRequest as SpeechRequestMsg
        from vision_msgs.msg import Detection2DArray

        from aria_nav.ros.qos import reliable_qos, sensor_qos

        super().__init__("aria_nav_shutdown_bench")
        self.detections = 0
        self.reporting = set()
        self._names = {f"aria_nav/{name}" for name in nodes}
        self.node.create_subscription(Detection2DArray, topics.DETECTIONS, self._on_detections, sensor_qos(10))
        self.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diagnostics, reliable_qos(50))
        self.requests = self.node.create_publisher(SpeechRequestMsg, topics.SPEECH_REQUEST, reliable_qos())

    def _on_detections(self, _msg) -> None:
        self.detections += 1

    def _on_diagnostics(self, msg) -> None:
        self.reporting.update(status.name for status in msg.status if status.name in self._names)

    @property
    def working(self) -> bool:
        return self.detections >= 3 and self.reporting == self._names and self.requests.get_subscription_count() > 0

    def say_something_long(self) -> None:
        from aria_nav.core.speech.request import DEGRADED, WARNING, SpeechRequest
        from aria_nav.ros.speech_msgs import request_to_msg

        self.requests.publish(request_to_msg(SpeechRequest(event=DEGRADED, urgency=WARNING, priority=100.0,
                                                           key="vision:detections", stamp_ns=time.time_ns(),
                                                           reason="detections")))


def _alive(pid: int) -> bool:
    """The process runs (not gone, not a zombie waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _wait(condition, timeout: float, what: str, processes: Sequence[TimedProcess]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for process in processes:
            if process.process.poll() is not None:
                raise RuntimeError(f"a process exited while waiting for {what}:\n{process.output()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}:\n" +
                               "\n".join(p.output() for p in processes))
        time.sleep(0.05)


def stop_graph_once(signum: int, directory: Path, launch_arguments: Sequence[str] = (),
                    second_after_s: Optional[float] = None) -> StopResult:
    """Start the graph and a recorder, wait until it works, stop both with `signum`, check what is left."""
    bin_dir = Path(sys.executable).parent
    values = graph.resolve_arguments(graph.parse_assignments(list(launch_arguments)))
    enabled = [spec.name for spec in graph.enabled_nodes(values)]
    bag = directory / "bag"
    # loop:=true as a launch argument too: the argument's default would override the params file's (the sample
    # then ended after 6 s, before a slow start had detections in the bag, and the bench waited for them in vain)
    launcher = TimedProcess([str(bin_dir / "aria-nav"), "launch", f"params_file:={graph_params(directory)}",
                             "loop:=true", *launch_arguments], directory)
    recorder = TimedProcess([str(bin_dir / "aria-nav"), "bag", "record", "-o", str(bag), *RECORDED], directory)
    processes = (launcher, recorder)
    driver = _Driver(enabled)
    try:
        _wait(lambda: driver.working and all(recorder.first(f"recording '{t}'") for t in RECORDED),
              START_TIMEOUT_S, "every node reporting, detections, and the recorder recording every topic", processes)
        seen = driver.detections
        _wait(lambda: driver.detections >= seen + DETECTIONS_RECORDED, START_TIMEOUT_S,
              "detections while the recorder records", processes)
        driver.say_something_long()  # stopped in the middle of it: its WAV is written, its duration being held
        _wait(lambda: any((directory / "wav").glob("*degraded*.wav")), START_TIMEOUT_S,
              "the speech node writing the long sentence's WAV", processes)
        signalled = time.monotonic()
        for process in processes:
            process.process.send_signal(signum)
        gone_s = None
        if second_after_s is not None:
            time.sleep(second_after_s)
            second_at = time.monotonic()
            for process in processes:
                if process.process.poll() is None:
                    process.process.send_signal(signum)
            pids = [m.group(2) for m in (STARTED.match(line) for _, line in list(launcher.lines)) if m]
            _wait(lambda: not any(_alive(int(pid)) for pid in pids), START_TIMEOUT_S, "the nodes to end", ())
            gone_s = time.monotonic() - second_at
        budget = graph.STOP_SIGINT_TIMEOUT_S + graph.STOP_SIGTERM_TIMEOUT_S + SIGKILL_TIMEOUT_S + 5
        launcher_code, output = launcher.finish(budget)
        launcher_s = time.monotonic() - signalled
        recorder_code, recorder_output = recorder.finish(budget)
    finally:
        for process in processes:
            if process.process.poll() is None:
                process.process.kill()
        driver.close()
    return _result(signum, signalled, enabled, launcher, launcher_code, launcher_s, recorder, recorder_code,
                   recorder_output, bag, directory / "wav", gone_s, strict=second_after_s is None)


def _result(signum, signalled, enabled, launcher, launcher_code, launcher_s, recorder, recorder_code,
            recorder_output, bag, wav_dir, gone_s, strict: bool) -> StopResult:
    output = launcher.output()
    exits, stop_s = {}, {}
    for arrived, line in list(launcher.lines):
        match = EXITED.match(line)
        if match and arrived > signalled:
            exits[match.group(1)] = match.group(2)
            stop_s[match.group(1)] = arrived - signalled
    recorded = recorder.first(" messages on ")
    result = StopResult(signal.Signals(signum).name, stop_s, exits, launcher_s, launcher_code,
                        None if recorded is None else recorded - signalled, recorder_code,
                        [line for _, line in launcher.lines if "; sending SIG" in line], second_signal_s=gone_s,
                        output=output + "\n" + recorder_output)
    pids = {m.group(1): int(m.group(2)) for m in (STARTED.match(line) for _, line in launcher.lines) if m}
    # A process killed at the end is gone once the kernel has torn it down (seconds for a large one on a busy
    # machine): only one still running after that outlived the launcher.
    deadline = time.monotonic() + SIGKILL_TIMEOUT_S
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for name, pid in pids.items():
        if _alive(pid):
            result.problems.append(f"{name} (pid {pid}) outlived the launcher")
    for text in (output, recorder_output):
        if "Traceback" in text or "core dumped" in text:
            result.problems.append("a traceback or a core dump in the output")
    if not strict:
        return result
    for name in enabled:
        if exits.get(name) != "exited with code 0":
            result.problems.append(f"{name}: {exits.get(name, 'no exit reported')}")
        elif stop_s[name] >= graph.STOP_SIGINT_TIMEOUT_S:
            result.late.append(f"{name} took {stop_s[name]:.2f} s")
    if result.escalations:
        result.problems.append("the launcher escalated: " + "; ".join(result.escalations))
    if launcher_code != 0 or not output.rstrip().endswith("[launch] done; no node failed"):
        result.problems.append(f"launcher exit code {launcher_code}")
    if recorder_code != 0 or recorded is None:
        result.problems.append(f"recorder exit code {recorder_code}")
    else:
        try:
            written = int(recorder_output.split("bag record: ")[-1].split(" messages")[0])
            counts = check_bag(bag, written)
            result.detections_in_bag = counts.get(topics.DETECTIONS, 0)
            if not result.detections_in_bag:
                result.problems.append("no detection in the bag")
        except (AssertionError, OSError, ValueError) as exc:
            result.problems.append(f"bag: {exc}")
    result.problems += check_wavs(wav_dir)
    result.wavs = len(list(wav_dir.glob("*.wav")))
    return result


def run_cycles(cycles: int, signums: Sequence[int], launch_arguments: Sequence[str] = (), burn: bool = True,
               second_after_s: Optional[float] = None, report=print,
               problem_log: Optional[Path] = None) -> List[StopResult]:
    """`cycles` stops per signal, each on a fresh graph in a fresh folder, under a CpuBurner if `burn`; the whole
    output of every stop with a problem is appended to `problem_log`."""
    results = []
    with CpuBurner() if burn else _Nothing():
        for index in range(cycles):
            for signum in signums:
                with tempfile.TemporaryDirectory(prefix="aria_nav_shutdown_") as directory:
                    result = stop_graph_once(signum, Path(directory), launch_arguments, second_after_s)
                results.append(result)
                report(format_cycle(index + 1, result))
                if not result.clean and problem_log is not None:
                    with open(problem_log, "a") as log:
                        log.write(f"==== {format_cycle(index + 1, result)}\n{result.output}\n")
    return results


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None


def format_cycle(index: int, result: StopResult) -> str:
    times = ", ".join(f"{name} {took:.2f}" for name, took in sorted(result.node_stop_s.items(), key=lambda kv: kv[1]))
    second = "" if result.second_signal_s is None else f"; all gone {result.second_signal_s:.2f} s after the second"
    state = "clean" if result.clean else "PROBLEMS: " + "; ".join(result.problems + result.late)
    return (f"{index:3d} {result.signal}: nodes {times}; launcher {result.launcher_s:.2f} s; recorder "
            f"{result.recorder_s if result.recorder_s is None else round(result.recorder_s, 2)} s{second}; "
            f"{result.detections_in_bag} detections in the bag, {result.wavs} WAVs; {state}")


def summarise(results: Sequence[StopResult]) -> str:
    """The distribution per signal: clean stops, slowest node per stop, launcher exit, second-signal exit."""
    import numpy as np

    lines = []
    for name in sorted({r.signal for r in results}):
        group = [r for r in results if r.signal == name]
        slowest = [max(r.node_stop_s.values()) for r in group if r.node_stop_s]
        every = [t for r in group for t in r.node_stop_s.values()]
        launcher = [r.launcher_s for r in group]

        def dist(values):
            if not values:
                return "none"
            p = np.percentile(values, [50, 90, 99])
            return f"min {min(values):.2f}, median {p[0]:.2f}, p90 {p[1]:.2f}, p99 {p[2]:.2f}, max {max(values):.2f} s"

        lines.append(f"{name}: {sum(r.clean for r in group)} of {len(group)} clean")
        lines.append(f"  any node's stop:        {dist(every)}")
        lines.append(f"  slowest node per stop:  {dist(slowest)}")
        lines.append(f"  launcher exit:          {dist(launcher)}")
        seconds = [r.second_signal_s for r in group if r.second_signal_s is not None]
        if seconds:
            lines.append(f"  after a second signal: {dist(seconds)}")
        for r in group:
            if not r.clean:
                lines.append(f"  problem: {'; '.join(r.problems + r.late)}")
    return "\n".join(lines)
