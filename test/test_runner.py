"""aria_nav.runner: command lines, checks before start, and supervision of real node processes (respawn,
configuration errors, giving up, shutdown)."""
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from aria_nav import graph, runner
from aria_nav.runner import LaunchError, Runner

# The supervision tests need a real node that starts without a camera feeding it: depth (model loaded at start).
SUPERVISED_NODE = "depth"


class Lines:
    """Output sink that keeps `[source] line` texts and lets a test wait for one."""

    def __init__(self):
        self.lines = []
        self._changed = threading.Condition()

    def __call__(self, source, line):
        with self._changed:
            self.lines.append(f"[{source}] {line}")
            self._changed.notify_all()

    def wait_for(self, text, timeout=30.0, count=1):
        deadline = time.monotonic() + timeout
        with self._changed:
            while sum(text in line for line in self.lines) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"no {count} line(s) with {text!r} within {timeout} s; got:\n" + "\n".join(self.lines)
                self._changed.wait(left)

    def __str__(self):
        return "\n".join(self.lines)


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.05)


def _require_node_and_model(name):
    spec = graph.node(name)
    if runner.find_executable(spec) is None:
        pytest.skip(f"executable '{spec.executable}' is not installed")
    values = graph.resolve_arguments({})
    for parameter, argument in spec.argument_parameters:
        if parameter == "model" and not Path(values[argument]).exists():
            pytest.skip(f"{values[argument]} missing: run `aria-nav models build-test`")


# -- command lines and checks before start -------------------------------------------------------------------

def test_command_line_has_params_file_then_overriding_parameters_then_remappings():
    spec = graph.node("slam_detector_left")
    argv = runner.node_command(spec, Path("/opt/x/detector"), "/cfg/nav.yaml",
                               {"model": "/m/y.onnx", "device": "cpu", "process_every_frame": True,
                                "score_threshold": 0.4, "classes": ["person", "car"]}, "warn")
    assert argv[:4] == ["/opt/x/detector", "--ros-args", "-r", "__node:=slam_detector_left"]
    params_file_at = argv.index("--params-file")
    assert argv[params_file_at + 1] == "/cfg/nav.yaml"
    rules = [argv[i + 1] for i, item in enumerate(argv) if item == "-p"]
    assert rules == ['model:="/m/y.onnx"', 'device:="cpu"', "process_every_frame:=true", "score_threshold:=0.4",
                     'classes:=["person", "car"]']
    assert params_file_at < argv.index("-p"), "parameters given after the params file override it"
    remaps = [argv[i + 1] for i, item in enumerate(argv) if item == "-r"][1:]
    assert remaps == [f"{source}:={target}" for source, target in spec.remappings]
    assert argv[-2:] == ["--log-level", "warn"]


def test_other_packages_get_their_arguments_and_no_params_file():
    spec = graph.node("rviz")
    argv = runner.node_command(spec, Path("/usr/bin/rviz2"), "/cfg/nav.yaml", {"use_sim_time": False}, "info")
    assert argv[:3] == ["/usr/bin/rviz2", "-d", str(Path(spec.arguments[1]))]
    assert "--params-file" not in argv


@pytest.mark.parametrize("value", [None, {"a": 1}, float("nan"), [1, None]])
def test_values_that_are_not_ros_parameters_are_refused(value):
    with pytest.raises(LaunchError, match="node 'camera': parameter 'fps': .* is not a ROS parameter value"):
        runner.parameter_value_text("camera", "fps", value)


def test_runner_commands_follow_arguments_nodes_and_overrides():
    started = Runner({"slam": "false", "speech": "false", "log_level": "debug"}, output=Lines())
    assert list(started.commands) == ["camera", "detector", "depth", "fusion"]
    subset = Runner({"slam": "false"}, nodes=["camera", "slam_detector_right"],
                    overrides={"camera": {"loop": False}}, output=Lines())
    assert list(subset.commands) == ["camera", "slam_detector_right"]  # explicit nodes win over the toggles
    camera = subset.commands["camera"]
    assert camera.index("loop:=false") > camera.index('source:="sample"'), "overrides come last"
    assert Path(camera[0]) == runner.find_executable(graph.node("camera"))


def test_a_node_listed_twice_is_an_error():
    with pytest.raises(LaunchError, match="node camera listed more than once"):
        Runner(nodes=["camera", "detector", "camera"], output=Lines())


def test_overrides_for_a_node_that_is_not_started_are_an_error():
    with pytest.raises(LaunchError, match="overrides for node 'speech', which is not started"):
        Runner({"speech": "false"}, overrides={"speech": {"volume": 1.0}}, output=Lines())


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("camera: [unclosed", "is not readable YAML"),
    ("- camera\n- detector\n", "must map node names to their parameters, not hold a list"),
])
def test_params_file_problems_are_reported_before_anything_starts(tmp_path, content, message):
    params = tmp_path / "nav.yaml"
    if content is not None:
        params.write_text(content)
    with pytest.raises(LaunchError, match=f"params_file '{params}' {message}"):
        Runner({"params_file": str(params)}, output=Lines())


def test_rviz_is_skipped_with_one_message_when_rviz2_is_missing():
    if shutil.which("rviz2") is not None:
        pytest.skip("rviz2 is installed here")
    lines = Lines()
    rviz_only = Runner({"rviz": "true"}, nodes=["rviz"], output=lines)
    assert rviz_only.not_installed == ["rviz"] and rviz_only.commands == {}
    rviz_only.start()
    assert rviz_only.wait(10) == 0  # nothing to run: done at once, nothing failed
    assert "[launch] rviz: not started: 'rviz2' (rviz2) is not installed here" in lines.lines


def test_child_environment_needs_no_bootstrap_re_exec():
    env = runner.node_environment()
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["RMW_IMPLEMENTATION"] == os.environ["RMW_IMPLEMENTATION"]
    pytest.importorskip("ros_wheels_bootstrapper", reason="ROS from a distribution: no wheel bootstrapper")
    assert env["_ROS_WHEELS_BOOTSTRAP_COMPLETE"] == "1"
    site = Path(sys.prefix, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}", "site-packages")
    rcl_libs = str((site / "ros_rcl.libs").resolve())
    assert rcl_libs in env["LD_LIBRARY_PATH"].split(os.pathsep)


def test_exit_descriptions():
    assert runner.describe_exit(2) == "exited with code 2"
    assert runner.describe_exit(-signal.SIGSEGV) == "killed by signal SIGSEGV"


# -- supervision of real node processes -----------------------------------------------------------------------
# The runner's nodes inherit the environment: ros_domain's ROS_DOMAIN_ID keeps them from hearing (and processing)
# other test runs' frames on the machine.

@pytest.mark.parametrize("problem", ["bad parameter override", "params file rcl rejects"])
def test_configuration_error_is_reported_once_and_not_respawned(ros_domain, tmp_path, problem):
    _require_node_and_model(SUPERVISED_NODE)
    if problem == "bad parameter override":  # given after the params file, so it reaches the node and wins
        arguments, overrides = {}, {SUPERVISED_NODE: {"frame_skip": 0}}
        message = f"[{SUPERVISED_NODE}] aria_nav {SUPERVISED_NODE}: parameter 'frame_skip'"
    else:  # valid YAML, but rcl refuses lists of mixed types
        params = tmp_path / "nav.yaml"
        params.write_text(f"{SUPERVISED_NODE}:\n  ros__parameters:\n    valid_range_m: [1, 'far']\n")
        arguments, overrides = {"params_file": str(params)}, {}
        message = f"aria_nav {SUPERVISED_NODE}: failed to initialize rcl: Couldn't parse params file"
    lines = Lines()
    supervised = Runner(arguments, nodes=[SUPERVISED_NODE], overrides=overrides, output=lines)
    supervised.start()
    try:
        assert supervised.wait(60) == 1, f"runner still running or no failure recorded:\n{lines}"
    finally:
        supervised.stop()
    lines.wait_for(message, timeout=0)
    lines.wait_for(f"[launch] {SUPERVISED_NODE}: exited with code 2: a configuration error", timeout=0)
    state = supervised.states()[SUPERVISED_NODE]
    assert (state.returncode, state.restarts, state.pid, state.respawn_pending) == (2, 0, None, False)
    assert not any("Traceback" in line for line in lines.lines), str(lines)


def test_crashed_node_is_respawned_and_repeated_start_up_crashes_give_up(ros_domain):
    _require_node_and_model(SUPERVISED_NODE)
    lines = Lines()
    supervised = Runner(nodes=[SUPERVISED_NODE], output=lines)
    supervised.start()
    try:
        pids = []
        for attempt in range(1, runner.MAX_STARTUP_FAILURES + 1):
            _wait(lambda: supervised.states()[SUPERVISED_NODE].pid not in (None, *pids), 30,
                  f"start number {attempt}")
            pids.append(supervised.states()[SUPERVISED_NODE].pid)
            os.kill(pids[-1], signal.SIGKILL)  # a crash, seconds after the start
            if attempt < runner.MAX_STARTUP_FAILURES:
                lines.wait_for(f"[launch] {SUPERVISED_NODE}: killed by signal SIGKILL after", count=attempt)
                lines.wait_for(f"restarting in {graph.node(SUPERVISED_NODE).respawn_delay:g} s", count=attempt)
        assert supervised.wait(30) == 1, f"runner did not end after giving up:\n{lines}"
    finally:
        supervised.stop()
    lines.wait_for(f"failed {runner.MAX_STARTUP_FAILURES} times in a row within", timeout=0)
    state = supervised.states()[SUPERVISED_NODE]
    assert (state.restarts, state.failures, state.returncode) == (
        runner.MAX_STARTUP_FAILURES - 1, runner.MAX_STARTUP_FAILURES, -signal.SIGKILL)
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} left behind"


def test_stop_forwards_sigint_and_every_node_exits_cleanly(ros_domain):
    _require_node_and_model(SUPERVISED_NODE)
    lines = Lines()
    supervised = Runner(nodes=[SUPERVISED_NODE], output=lines)
    supervised.start()
    pid = supervised.states()[SUPERVISED_NODE].pid
    lines.wait_for(f"[{SUPERVISED_NODE}] ", timeout=60)  # the node logged: it is up and spinning
    stop_started = time.monotonic()
    assert supervised.stop() == 0, str(lines)
    assert time.monotonic() - stop_started < graph.STOP_SIGINT_TIMEOUT_S, "the node needed more than SIGINT"
    assert supervised.states()[SUPERVISED_NODE].returncode == 0
    assert f"[launch] {SUPERVISED_NODE}: exited with code 0" in lines.lines
    assert lines.lines[-1] == "[launch] done; no node failed"
    assert not Path(f"/proc/{pid}").exists()


def test_a_second_stop_request_kills_at_once(ros_domain):
    _require_node_and_model(SUPERVISED_NODE)
    lines = Lines()
    supervised = Runner(nodes=[SUPERVISED_NODE], output=lines)
    supervised.start()
    pid = supervised.states()[SUPERVISED_NODE].pid
    supervised.request_stop()
    supervised.request_stop()  # a second Ctrl-C
    assert supervised.wait(10) == 1, str(lines)
    assert supervised.states()[SUPERVISED_NODE].returncode == -signal.SIGKILL
    lines.wait_for(f"[launch] {SUPERVISED_NODE}: killed by signal SIGKILL", timeout=0)
    assert not Path(f"/proc/{pid}").exists()


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_every_escalation_is_reported_whatever_the_first_signal(first):
    """A process that ignores SIGINT and SIGTERM (in place of a real node: the supervision is the same) gets the
    first signal, then SIGTERM, then SIGKILL, and each escalation is said, also after a first SIGTERM (which used to
    hide the SIGTERM step)."""
    _require_node_and_model(SUPERVISED_NODE)
    lines = Lines()
    supervised = Runner(nodes=[SUPERVISED_NODE], output=lines)
    supervised._nodes[0].argv = [sys.executable, "-c", "import signal, time\n"
                                 "for s in (signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_IGN)\n"
                                 "print('ignoring signals', flush=True)\ntime.sleep(60)"]
    supervised.start()
    lines.wait_for("ignoring signals", timeout=30)
    assert supervised.stop(first) == 1, str(lines)
    lines.wait_for(f"still running after {first.name}: {SUPERVISED_NODE}; sending SIGTERM", timeout=0)
    lines.wait_for(f"still running after SIGTERM: {SUPERVISED_NODE}; sending SIGKILL", timeout=0)
    assert supervised.states()[SUPERVISED_NODE].returncode == -signal.SIGKILL


def test_a_node_that_has_closed_its_output_is_waited_for_not_escalated():
    """A node that has left (aria_nav nodes close their output last, then _exit) but whose process the kernel is
    still tearing down (seconds for a large one on a busy machine; here a process that lingers after closing its
    output) gets no SIGTERM: its exit code 0 is reported once its process ends."""
    _require_node_and_model(SUPERVISED_NODE)
    lines = Lines()
    supervised = Runner(nodes=[SUPERVISED_NODE], output=lines)
    linger_s = graph.STOP_SIGINT_TIMEOUT_S + 1.5
    supervised._nodes[0].argv = [sys.executable, "-c", "import os, signal, time\n"
                                 "signal.signal(signal.SIGINT, lambda *_: (os.close(1), os.close(2), "
                                 f"time.sleep({linger_s}), os._exit(0)))\n"
                                 "signal.signal(signal.SIGTERM, lambda *_: os._exit(15))\n"
                                 "print('running', flush=True)\ntime.sleep(60)"]
    supervised.start()
    lines.wait_for("running", timeout=30)
    assert supervised.stop(signal.SIGINT) == 0, str(lines)
    assert supervised.states()[SUPERVISED_NODE].returncode == 0 and "sending SIG" not in str(lines), str(lines)
