"""The DDS tests' helpers, in one place (no tests here; the ROS domain of each test comes from conftest.py).

Probe: a real rclpy node in a context of its own on the test's ROS domain, spun on a background thread
(aria_nav.ros.spinning.BackgroundNode), that records what arrives on the topics it subscribes to and publishes what
a test sends.
NodeProcess: one aria_nav node started as `ros2 run` would (its console script with --ros-args), its output kept;
start_node/stop_node/node_argv/write_params: the same as plain functions, with a params file per node.
TimedLines: an output sink for aria_nav.runner.Runner that keeps each line with its arrival time.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import yaml

from diagnostic_msgs.msg import DiagnosticArray

from aria_nav import paths, topics
from aria_nav.ros.qos import reliable_qos
from aria_nav.ros.diagnostics import stamp_to_ns
from aria_nav.ros.runtime import DEAD_SEGMENTS_NOTE
from aria_nav.ros.spinning import BackgroundNode


BIN = Path(sys.executable).parent  # the console scripts of this environment (.venv/bin)


def output_lines(text: str) -> List[str]:
    """A node's output lines, less its note on removed dead shared-memory segments (runtime.free_dead_shared_memory:
    the processes other tests killed leave them, and any node's start may then say so)."""
    return [line for line in text.splitlines() if DEAD_SEGMENTS_NOTE not in line]


def write_params(path: Path, node_name: str, params: Dict) -> Path:
    path.write_text(yaml.safe_dump({node_name: {"ros__parameters": params}}))
    return path


def node_argv(executable: str, node_name: str, params_file: Optional[Path]) -> List[str]:
    """The command line of an aria_nav node from this environment, renamed, with its parameters file."""
    argv = [str(BIN / executable), "--ros-args", "-r", f"__node:={node_name}"]
    return argv + ["--params-file", str(params_file)] if params_file is not None else argv


def start_node(executable: str, node_name: str, params_file: Optional[Path], log_path: Path, domain: int,
               extra_args: List[str] = ()) -> subprocess.Popen:
    """The node on ROS domain `domain` (the test's ros_domain or module_ros_domain), its output in `log_path`."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED="1")
    with open(log_path, "w") as log:  # the child keeps its own handle
        return subprocess.Popen(node_argv(executable, node_name, params_file) + list(extra_args), stdout=log,
                                stderr=subprocess.STDOUT, env=env)


def stop_node(process: subprocess.Popen, timeout: float = 10.0, signum: int = signal.SIGINT) -> int:
    """Send `signum` (SIGINT: what Ctrl-C and launch send) and wait; the nodes exit 0 on it. Killed if it does not
    exit in time."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class Probe:
    """A test node on `domain`: subscriptions record (arrival time.monotonic(), message) per name, and the arrival
    wall-clock time for latencies from header stamps."""

    def __init__(self, domain: int, name: str = "reliability_probe"):
        self._lock = threading.Lock()
        self._received: Dict[str, List[Tuple[float, object]]] = {}
        self._arrival_ns: Dict[str, List[int]] = {}
        self._spinning = BackgroundNode(name, domain_id=domain, poll_s=0.02)
        self.context, self.node = self._spinning.context, self._spinning.node

    def subscribe(self, name: str, msg_type, topic: str, qos) -> None:
        self._received[name], self._arrival_ns[name] = [], []

        def record(msg):
            with self._lock:
                self._received[name].append((time.monotonic(), msg))
                self._arrival_ns[name].append(time.time_ns())

        self.node.create_subscription(msg_type, topic, record, qos)

    def subscribe_diagnostics(self) -> None:
        self.subscribe("diagnostics", DiagnosticArray, topics.DIAGNOSTICS, reliable_qos(100))

    def publisher(self, msg_type, topic: str, qos):
        return self.node.create_publisher(msg_type, topic, qos)

    def timed(self, name: str) -> List[Tuple[float, object]]:
        with self._lock:
            return list(self._received[name])

    def messages(self, name: str) -> list:
        return [msg for _, msg in self.timed(name)]

    def latencies(self, name: str) -> List[Tuple[float, float]]:
        """(arrival time.monotonic(), seconds from header.stamp to arrival) of each message on `name`."""
        with self._lock:
            return [(t, (arrival - stamp_to_ns(msg.header.stamp)) / 1e9)
                    for (t, msg), arrival in zip(self._received[name], self._arrival_ns[name])]

    def count(self, name: str) -> int:
        with self._lock:
            return len(self._received[name])

    def status(self, node_name: str, condition: Callable[[dict], bool] = lambda values: True,
               since: float = 0.0) -> Optional[dict]:
        """The newest /diagnostics of aria_nav/<node_name> that arrived after `since` and satisfies `condition`, as
        {key: value} plus level and message (needs subscribe_diagnostics())."""
        for arrived, array in reversed(self.timed("diagnostics")):
            if arrived <= since:
                break
            for status in array.status:
                if status.name == f"aria_nav/{node_name}":
                    values = {kv.key: kv.value for kv in status.values}
                    values.update(level=status.level, message=status.message)
                    if condition(values):
                        return values
        return None

    def close(self) -> None:
        self._spinning.close()


def wait_until(condition: Callable[[], object], timeout: float, what: Union[str, Callable[[], str]],
               alive: Sequence["NodeProcess"] = ()) -> float:
    """Poll `condition` until true; fail naming `what` (a text, or a callable giving it when failing, e.g. with
    the output so far) and the output of any process in `alive` that exited, after `timeout` seconds. Returns
    the seconds waited."""
    start = time.monotonic()
    while not condition():
        for process in alive:
            assert process.running, f"{process.name} exited ({process.returncode}) while waiting for " \
                                    f"{_text(what)}:\n{process.output()}"
        assert time.monotonic() - start < timeout, f"timed out after {timeout} s waiting for {_text(what)}"
        time.sleep(0.02)
    return time.monotonic() - start


def _text(what: Union[str, Callable[[], str]]) -> str:
    return what() if callable(what) else what


class NodeProcess:
    """An aria_nav node process: `<executable> --ros-args -r __node:=<name> --params-file <nav.yaml> -p ...`,
    stdout and stderr kept in a file under `log_dir`."""

    def __init__(self, executable: str, log_dir: Path, parameters: Sequence[str] = (), name: Optional[str] = None,
                 remappings: Sequence[Tuple[str, str]] = (), params_file: Optional[Path] = paths.config_file()):
        self.name = name or executable
        argv = node_argv(executable, self.name, params_file)
        argv += [item for parameter in parameters for item in ("-p", parameter)]
        argv += [item for source, target in remappings for item in ("-r", f"{source}:={target}")]
        self.log_path = Path(log_dir) / f"{self.name}.log"
        with open(self.log_path, "w") as log:  # the child keeps its own handle
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            env=dict(os.environ, PYTHONUNBUFFERED="1"))

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def returncode(self) -> Optional[int]:
        return self.process.poll()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGINT, timeout: float = 10.0) -> int:
        """Send `signum` (what Ctrl-C and the launchers send) and wait; killed if it does not exit in time."""
        return stop_node(self.process, timeout, signum)


class TimedLines:
    """aria_nav.runner output sink: (time.monotonic(), source, line) for every line, in arrival order."""

    def __init__(self):
        self._lock = threading.Lock()
        self.lines: List[Tuple[float, str, str]] = []

    def __call__(self, source: str, line: str) -> None:
        with self._lock:
            self.lines.append((time.monotonic(), source, line))

    def first(self, source: str, text: str, after: float = 0.0) -> Optional[float]:
        """Arrival time of the first line of `source` containing `text` that arrived after `after`."""
        with self._lock:
            return next((t for t, s, line in self.lines if s == source and text in line and t > after), None)

    def matching(self, text: str) -> List[str]:
        with self._lock:
            return [f"[{s}] {line}" for _, s, line in self.lines if text in line]

    def __str__(self) -> str:
        with self._lock:
            return "\n".join(f"[{s}] {line}" for _, s, line in self.lines)
