"""`aria-nav launch` and its Python API: the graph of aria_nav.graph as separate node processes, supervised.

Each enabled node runs as its console script, the way `ros2 run` and `ros2 launch` start it:
    <executable> --ros-args -r __node:=<name> --params-file <params_file> -p <parameter>:=<value> ...
                 -r <from>:=<to> ... --log-level <level>
The `-p` parameters (from launch arguments, then per-node overrides of the Python API) come after the params file,
so they win. The environment is the runner's (aria_nav sets RMW_IMPLEMENTATION and the Fast DDS profile on
import) plus, with the ROS PyPI wheels, the library path their bootstrapper computes, marked as done so the nodes
start directly instead of re-executing themselves. Every output line of a node is shown as `[name] line`, the
runner's own as `[launch] ...`.

Shutdown (Ctrl-C, SIGTERM or Runner.stop()): the signal the runner got is forwarded to every node, which then
exits 0 after closing its workers and files. A node still running after graph.STOP_SIGINT_TIMEOUT_S gets
SIGTERM, and after graph.STOP_SIGTERM_TIMEOUT_S more SIGKILL (its whole process group). A second Ctrl-C goes
straight to SIGKILL, sent at once by the thread that got it (the signal handler). The nodes run in their own
process groups, so a terminal's Ctrl-C reaches them once, through the runner; if the runner itself dies, the
kernel sends them SIGTERM (PR_SET_PDEATHSIG).

A node that exits by itself is reported with its exit code or signal. Exit code 0 means it finished (the camera does
at the end of a recording when its exit_at_end parameter is set): it is not restarted. A failing node whose NodeSpec has
`respawn` is restarted after its respawn delay, except
  - a configuration error (exit code 2: bad parameter, missing model, ...): restarting cannot fix it;
  - MAX_STARTUP_FAILURES failures in a row, each within STARTUP_PERIOD_S of its start: it cannot start;
    a run longer than that resets the count, so a node that ran for hours is always restarted.
Either way, and for nodes without `respawn`, the other nodes keep running (as with ros2 launch). The runner
ends when every node has exited and none is waiting to be restarted.

Exit status: 0 when no node failed during the run (every exit was code 0), 1 otherwise.
"""
from __future__ import annotations

import ctypes
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Mapping, Optional, Sequence

import yaml

from aria_nav import graph

# for the kernel to end a killed process (a few hundred MB torn down on a busy machine took over 2 s); longer means
# it is stuck in the kernel
SIGKILL_TIMEOUT_S = 10.0
STARTUP_PERIOD_S = 10.0  # respawn policy: see the module doc
MAX_STARTUP_FAILURES = 3
POLL_INTERVAL_S = 0.05
LAUNCH_SOURCE = "launch"  # the prefix of the runner's own output lines

OutputSink = Callable[[str, str], None]  # (source: node name or "launch", line); called from several threads


class LaunchError(Exception):
    """A problem found before any node starts (params file, executable, overrides); one line for the user."""


_print_lock = threading.Lock()


def print_line(source: str, line: str) -> None:
    """The default output sink: `[source] line` on stdout."""
    with _print_lock:
        try:
            print(f"[{source}] {line}", flush=True)
        except BrokenPipeError:  # the reader went away (`aria-nav launch | head`): keep draining the nodes' pipes
            pass


def node_environment() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # node output reaches the prefixer line by line, not in 8 KiB blocks
    try:
        import ros_wheels_bootstrapper  # the ROS PyPI wheels; absent on a ROS distribution (setup.bash sets paths)
    except ImportError:
        return env
    env["LD_LIBRARY_PATH"] = ros_wheels_bootstrapper.get_ros_paths()
    env["_ROS_WHEELS_BOOTSTRAP_COMPLETE"] = "1"
    return env


def _ament_package_prefix(package: str) -> Optional[Path]:
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:
        return None
    try:
        return Path(get_package_prefix(package))
    except (PackageNotFoundError, ValueError, OSError):  # OSError: no AMENT_PREFIX_PATH (no ROS set up)
        return None


def find_executable(spec: graph.NodeSpec) -> Optional[Path]:
    """Where `ros2 run <package> <executable>` finds it (colcon install), else this interpreter's scripts folder
    (pip, venv)."""
    candidates = []
    prefix = _ament_package_prefix(spec.package)
    if prefix is not None:
        candidates.append(prefix / "lib" / spec.package / spec.executable)
    if spec.is_aria_nav:
        candidates.append(Path(sysconfig.get_path("scripts")) / spec.executable)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    if not spec.is_aria_nav:  # another package's tool, e.g. rviz2 from a distribution on PATH
        found = shutil.which(spec.executable)
        return Path(found) if found else None
    return None


def parameter_value_text(node: str, name: str, value: Any) -> str:
    """`value` as the YAML text of a `-p name:=value` rule; strings quoted so '1' or 'true' stay strings."""
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if not isinstance(item, (bool, int, float, str)) or (isinstance(item, float) and not math.isfinite(item)):
            raise LaunchError(f"node '{node}': parameter '{name}': {value!r} is not a ROS parameter value "
                              f"(bool, int, finite float, str, or a list of one of them)")
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def node_ros_arguments(spec: graph.NodeSpec, params_file: str, parameters: Mapping[str, Any]) -> List[str]:
    """`--ros-args` and the node's name, params file, parameters and remappings (no log level)."""
    argv = ["--ros-args", "-r", f"__node:={spec.name}"]
    if spec.is_aria_nav:  # other packages' nodes have no section in the project's params file
        argv += ["--params-file", params_file]
    for name, value in parameters.items():
        argv += ["-p", f"{name}:={parameter_value_text(spec.name, name, value)}"]
    for source, target in spec.remappings:
        argv += ["-r", f"{source}:={target}"]
    return argv


def node_command(spec: graph.NodeSpec, executable: Path, params_file: str, parameters: Mapping[str, Any],
                 log_level: str) -> List[str]:
    return [str(executable), *spec.arguments, *node_ros_arguments(spec, params_file, parameters),
            "--log-level", log_level]


def composed_command(members: Sequence[graph.NodeSpec], params_file: str,
                     parameters: Mapping[str, Mapping[str, Any]], log_level: str) -> List[str]:
    """The command line of graph.COMPOSED: each member as `--node <name> <its node_ros_arguments> --`. It runs as
    a module of this interpreter, like the node scripts (which are this interpreter's too)."""
    argv = [sys.executable, "-m", "aria_nav.nodes.composed"]
    for spec in members:
        argv += ["--node", spec.name, *node_ros_arguments(spec, params_file, parameters[spec.name]), "--"]
    return argv + ["--ros-args", "--log-level", log_level]


def check_params_file(path: str) -> None:
    file = Path(path)
    if not file.is_file():
        raise LaunchError(f"params_file '{path}' {'is not a file' if file.exists() else 'does not exist'}")
    try:
        content = yaml.safe_load(file.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise LaunchError(f"params_file '{path}' is not readable YAML: {exc}".replace("\n", " ")) from None
    if content is not None and not isinstance(content, dict):
        raise LaunchError(f"params_file '{path}' must map node names to their parameters, "
                          f"not hold a {type(content).__name__}")


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _terminate_with_parent() -> None:
    """Runs in the child before exec: SIGTERM when the runner's supervising thread dies, so nodes never outlive it."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class NodeState:
    name: str
    pid: Optional[int]  # None when not running
    returncode: Optional[int]  # of the last exit; None if it never exited
    restarts: int
    failures: int
    respawn_pending: bool


class _ManagedNode:
    def __init__(self, spec: graph.NodeSpec, argv: List[str]):
        self.spec = spec
        self.argv = argv
        self.process: Optional[subprocess.Popen] = None
        self.reader: Optional[threading.Thread] = None
        self.started_at = 0.0
        self.starts = 0
        self.failures = 0
        self.startup_failures = 0
        self.respawn_at: Optional[float] = None
        self.returncode: Optional[int] = None

    @property
    def running(self) -> bool:
        return self.process is not None


class Runner:
    """Start, supervise and stop the graph (or a subset of it).

        runner = Runner({"source": "vrs", "input": "walk.vrs"}, nodes=["camera", "detector"],
                        overrides={"camera": {"loop": False}})
        runner.start()
        ...                    # runner.poll() is None while nodes run or wait for a restart
        status = runner.stop()  # 0: no node failed

    `arguments` are the launch arguments (text, as after name:=); `nodes` picks nodes by name regardless of the
    on/off arguments (default: every node the arguments enable); `overrides` sets parameters per node, after
    everything else. All checks happen here, before anything starts: errors raise graph.GraphError or LaunchError.
    One supervising thread starts, watches, restarts and stops the processes.
    """

    def __init__(self, arguments: Optional[Mapping[str, str]] = None, nodes: Optional[Sequence[str]] = None,
                 overrides: Optional[Mapping[str, Mapping[str, Any]]] = None, output: OutputSink = print_line):
        self.values = graph.resolve_arguments(arguments or {})
        specs = [graph.node(name) for name in nodes] if nodes is not None else graph.enabled_nodes(self.values)
        repeated = sorted({spec.name for spec in specs if specs.count(spec) > 1})
        if repeated:
            raise LaunchError(f"node{'s' if len(repeated) > 1 else ''} {', '.join(repeated)} listed more than once")
        members = graph.composed_members(self.values) if graph.COMPOSED in specs else []
        overrides = dict(overrides or {})
        started = [spec.name for spec in specs + members if spec is not graph.COMPOSED]
        for name in overrides:
            if name not in started:
                raise LaunchError(f"parameter overrides for node '{name}', which is not started "
                                  f"(started: {', '.join(started)})")
        params_file = str(self.values["params_file"])
        check_params_file(params_file)
        self._output = output
        self._nodes: List[_ManagedNode] = []
        self.not_installed: List[str] = []  # nodes of other packages whose executable is not installed here
        for spec in specs:
            if spec is graph.COMPOSED:
                parameters = {member.name: {**graph.node_parameters(member, self.values),
                                            **overrides.get(member.name, {})} for member in members}
                argv = composed_command(members, params_file, parameters, str(self.values["log_level"]))
                self._nodes.append(_ManagedNode(spec, argv))
                continue
            executable = find_executable(spec)
            if executable is None and not spec.is_aria_nav:
                self.not_installed.append(spec.name)
                continue
            if executable is None:
                raise LaunchError(f"executable '{spec.executable}' of node '{spec.name}' not found in "
                                  f"{sysconfig.get_path('scripts')} or the ament index: install the package "
                                  f"(pip install -e . or colcon build)")
            parameters = {**graph.node_parameters(spec, self.values), **overrides.get(spec.name, {})}
            argv = node_command(spec, executable, params_file, parameters, str(self.values["log_level"]))
            self._nodes.append(_ManagedNode(spec, argv))
        self._env = node_environment()
        self._lock = threading.Lock()  # guards the node table against states() from other threads
        self._stop_signal: Optional[int] = None
        self._stop_requested = threading.Event()
        self._kill_now = threading.Event()
        self._started = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._exit_status: Optional[int] = None

    # -- public API -------------------------------------------------------------------------------------------

    @property
    def commands(self) -> Dict[str, List[str]]:
        """Each node's command line, by node name."""
        return {node.spec.name: list(node.argv) for node in self._nodes}

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the runner was already started")
        for name in self.not_installed:
            spec = graph.node(name)
            self._say(f"{name}: not started: '{spec.executable}' ({spec.package}) is not installed here")
        self._thread = threading.Thread(target=self._supervise, name="aria-nav-launch", daemon=True)
        self._thread.start()
        self._started.wait()

    def poll(self) -> Optional[int]:
        """None while any node runs or waits for a restart; then the exit status (0: no node failed)."""
        return self._exit_status

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        if self._thread is not None:
            self._thread.join(timeout)
        return self._exit_status

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Forward `signum` to every node, escalate as described in the module doc, return the exit status."""
        if self._thread is None:
            return 0
        self.request_stop(signum)
        self._thread.join()
        return self._exit_status

    def request_stop(self, signum: int = signal.SIGINT) -> None:
        """Begin the shutdown without waiting (safe in a signal handler); a second request kills at once."""
        if self._stop_requested.is_set():
            self._kill_now.set()
            self._kill_all()
            return
        self._stop_signal = signum
        self._stop_requested.set()

    def _kill_all(self) -> None:
        """SIGKILL every node's process group now, from the thread that asked (a second Ctrl-C is "stop now": not
        a wait for the supervising thread to be scheduled and to collect the nodes that have already exited, which
        took up to 0.7 s on a loaded machine). Nothing is lost that must be complete: the nodes' WAVs are written
        whole and renamed; the supervising thread then reports each exit. No lock: this runs in a signal handler,
        whose thread may hold it; a process already reaped has its returncode set and is skipped."""
        for node in list(self._nodes):
            process = node.process
            if process is not None and process.returncode is None:
                self._send(node, signal.SIGKILL, process)

    def run(self) -> int:
        """start(), then supervise until every node has exited or SIGINT/SIGTERM arrives, then stop.
        Must be called from the main thread (it installs the signal handlers)."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, lambda signum, _frame: self.request_stop(signum))
        try:
            self.start()
            while self._thread.is_alive():
                self._thread.join(0.2)  # short joins so the main thread keeps handling signals
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self._exit_status

    def states(self) -> Dict[str, NodeState]:
        with self._lock:
            return {node.spec.name: NodeState(node.spec.name, node.process.pid if node.process else None,
                                              node.returncode, max(node.starts - 1, 0), node.failures,
                                              node.respawn_at is not None)
                    for node in self._nodes}

    def __enter__(self) -> "Runner":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- supervising thread -----------------------------------------------------------------------------------

    def _say(self, line: str) -> None:
        self._output(LAUNCH_SOURCE, line)

    def _supervise(self) -> None:
        try:
            for node in self._nodes:
                self._spawn(node)
            self._started.set()
            while not self._stop_requested.wait(POLL_INTERVAL_S):
                now = time.monotonic()
                for node in self._nodes:
                    if node.running and node.process.poll() is not None:
                        self._handle_exit(node)
                    elif node.respawn_at is not None and now >= node.respawn_at:
                        self._spawn(node)
                if not any(node.running or node.respawn_at is not None for node in self._nodes):
                    break
            self._shutdown()
        finally:
            self._started.set()
            failed = [node.spec.name for node in self._nodes if node.failures]
            self._say(f"done; nodes that failed: {', '.join(failed)}" if failed else "done; no node failed")
            self._exit_status = 1 if failed else 0

    def _spawn(self, node: _ManagedNode) -> None:
        node.respawn_at = None
        try:
            process = subprocess.Popen(node.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, env=self._env, process_group=0,
                                       preexec_fn=_terminate_with_parent)
        except OSError as exc:
            node.failures += 1
            self._say(f"{node.spec.name}: cannot start {node.argv[0]}: {exc.strerror or exc}")
            return
        with self._lock:
            node.process = process
            node.started_at = time.monotonic()
            node.starts += 1
        node.reader = threading.Thread(target=self._forward_output, args=(node.spec.name, process.stdout),
                                       name=f"output-{node.spec.name}", daemon=True)
        node.reader.start()
        self._say(f"{node.spec.name}: started (pid {process.pid})")

    def _forward_output(self, name: str, stream: IO[bytes]) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                self._output(name, raw.decode("utf-8", "replace").rstrip("\r\n"))

    def _collect(self, node: _ManagedNode) -> int:
        """Record the exit of `node`'s process (its last output lines printed first); returns its exit code."""
        returncode = node.process.returncode
        node.reader.join(timeout=1.0)  # a grandchild holding the pipe open must not block the runner
        with self._lock:
            node.process = None
            node.returncode = returncode
            if returncode != 0:
                node.failures += 1
        return returncode

    def _handle_exit(self, node: _ManagedNode) -> None:
        ran_for = time.monotonic() - node.started_at
        returncode = self._collect(node)
        name, what = node.spec.name, describe_exit(returncode)
        if returncode == 0:
            self._say(f"{name}: {what} (finished by itself; not restarted)")
            return
        if not node.spec.respawn:
            self._say(f"{name}: {what}; not restarted (respawn is off); the other nodes keep running")
            return
        if returncode == graph.EXIT_CONFIG_ERROR:
            self._say(f"{name}: {what}: a configuration error (see its message above); not restarted, since "
                      f"restarting cannot fix it; the other nodes keep running")
            return
        node.startup_failures = node.startup_failures + 1 if ran_for < STARTUP_PERIOD_S else 0
        if node.startup_failures >= MAX_STARTUP_FAILURES:
            self._say(f"{name}: {what}; it failed {node.startup_failures} times in a row within "
                      f"{STARTUP_PERIOD_S:g} s of starting: giving up on it; the other nodes keep running")
            return
        with self._lock:
            node.respawn_at = time.monotonic() + node.spec.respawn_delay
        self._say(f"{name}: {what} after {ran_for:.1f} s; restarting in {node.spec.respawn_delay:g} s")

    def _shutdown(self) -> None:
        with self._lock:
            for node in self._nodes:
                node.respawn_at = None
        first = self._stop_signal or signal.SIGINT
        steps = ((first, graph.STOP_SIGINT_TIMEOUT_S), (signal.SIGTERM, graph.STOP_SIGTERM_TIMEOUT_S),
                 (signal.SIGKILL, SIGKILL_TIMEOUT_S))
        previous = None
        for step, (signum, timeout) in enumerate(steps):
            self._report_exits_during_shutdown()
            running = [node for node in self._nodes if node.running]
            if not running:
                return
            if self._kill_now.is_set():
                signum = signal.SIGKILL
            # A node whose output has closed has left (aria_nav nodes close it last, runtime.hard_exit): the kernel
            # is still tearing its process down (a second or more for a large one on a busy machine), which no
            # signal speeds up: it is waited for, not escalated.
            targets = [node for node in running if step == 0 or self._kill_now.is_set() or node.reader.is_alive()]
            if targets and (step > 0 or signum != first):  # every escalation is said, whatever the first signal
                why = ("stop requested again" if self._kill_now.is_set()
                       else f"still running after {signal.Signals(previous).name}")
                self._say(f"{why}: {', '.join(node.spec.name for node in targets)}; "
                          f"sending {signal.Signals(signum).name}")
            for node in targets:
                self._send(node, signum)
            deadline = time.monotonic() + timeout
            while any(node.running for node in running) and time.monotonic() < deadline:
                if self._kill_now.is_set() and signum != signal.SIGKILL:
                    break
                time.sleep(POLL_INTERVAL_S)
                self._report_exits_during_shutdown()
            previous = signum
        for node in self._nodes:
            if node.running:
                self._say(f"{node.spec.name}: did not exit even after SIGKILL (pid {node.process.pid})")
                node.failures += 1

    def _report_exits_during_shutdown(self) -> None:
        for node in self._nodes:
            if node.running and node.process.poll() is not None:
                self._say(f"{node.spec.name}: {describe_exit(self._collect(node))}")

    @staticmethod
    def _send(node: _ManagedNode, signum: int, process: Optional[subprocess.Popen] = None) -> None:
        process = process or node.process
        try:
            if signum == signal.SIGKILL:  # the whole process group: no orphaned helpers (e.g. a TTS process)
                os.killpg(process.pid, signum)
            else:
                process.send_signal(signum)
        except ProcessLookupError:
            pass  # exited between poll() and the signal; collected on the next poll

