"""Process entry point shared by every node: `ros2 run aria_nav <node>` ends up in run_node().

- SIGINT and SIGTERM stop the node cleanly, with a deadline (Shutdown): the spin loop ends, the node's close()
  stops its workers, releases its sessions and finishes its files, the node is destroyed, the context shuts down and the
  process leaves with exit 0 through os._exit, after flushing its output: interpreter finalisation and the C++ static
  destructors (Fast DDS's DomainParticipantFactory sleeping in its destructor) are skipped, since they finish nothing of
  ours and once took seconds. If all that has not happened SHUTDOWN_BUDGET_S after the signal (a stuck teardown), the
  node's flush() finishes the files that must be complete and the process leaves with exit 0 anyway; a stall that holds
  the GIL is ended GIL_BACKSTOP_S later by a native backstop (NativeExit: every thread's stack on stderr first, then
  exit 0, or 1 where a flush() could not run). A second
  signal ends the process at once (the default action is restored after the first), except in a process with a hook that
  must run even then (the bag recorder finishing its bag: Shutdown.on_second_signal): there the watcher thread runs
  those hooks, within SECOND_SIGNAL_FLUSH_S, and leaves with 128 + the signal's number. The signal is also seen at once
  by a watcher thread (signal.set_wakeup_fd): Python runs a signal handler only when the main thread returns to the
  interpreter, which a long native call (a model loading, a first inference) can delay past the launcher's patience; the
  watcher arms the deadline meanwhile, and on a second signal leaves at once with 128 + its number. The budget is well
  inside the launcher's 3 s before it escalates (graph.STOP_SIGINT_TIMEOUT_S). A signal that came while the process was
  still importing its libraries (before the handlers were installed) was held (ros.early_signals) and is handed over
  here: the node stops at once, without loading its model.
- A ConfigError (bad parameter, missing or wrong-kind file, unusable model) is one line on stderr and exit 2; the
  process leaves without destroying its DDS participant (leave_on_config_error says why).
- Any other exception raised by a callback (a message or timer tick that meets a bug) loses that message only: it
  is logged as one throttled error line naming the exception and where it was raised, counted in the node's
  diagnostics (errors, last_error), and the node keeps running. Crashing instead would silence the walking aid
  for the respawn delay and the restart, and a message that keeps coming (a looping bag, a broken publisher) would
  crash it again and again. Worker threads follow the same policy (core.latest.LatestWorker).
"""
from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from aria_nav.core.stage_stats import StageStats
from aria_nav.graph import EXIT_CONFIG_ERROR
from aria_nav.ros import early_signals
from aria_nav.ros.params import ConfigError
from aria_nav.ros.shm_segments import remove_dead_segments, remove_own_segments
from aria_nav.ros.taking import TakeThread

# First signal -> process gone; with the native backstop and the kernel's reaping of a large process (up to ~0.8 s
# on a loaded machine) well inside the 3 s after which the launcher escalates (graph.STOP_SIGINT_TIMEOUT_S).
SHUTDOWN_BUDGET_S = 1.5
GIL_BACKSTOP_S = 0.5  # after the budget: the native watchdog for a stall that never releases the GIL
SECOND_SIGNAL_FLUSH_S = 1.0  # a second signal: the most its hooks may take (faulthandler ends the process then)
WORKER_JOIN_S = 0.5  # the longest a node's close() waits for one worker thread (several fit in the budget)
CALLBACK_ERROR_LOG_PERIOD_S = 5.0
CALLBACK_ERROR = "internal error in a callback"  # how the log line begins (tests look for it)
DEAD_SEGMENTS_NOTE = "left by DDS participants that died without closing"  # how that line ends (tests too)


class AriaNode(Node):
    """Base class: nodes override close() to stop workers and flush outputs; it runs exactly once."""

    exit_requested = False
    exit_error: Optional[ConfigError] = None
    callback_errors = 0
    _error_stats: Optional[StageStats] = None
    _take_threads: Sequence[TakeThread] = ()

    def take_thread(self, name: str) -> TakeThread:
        """A TakeThread for this node's per-frame subscriptions (aria_nav.ros.taking); its callbacks' errors are
        reported as the executor's are, and destroy_node() stops it first."""
        thread = TakeThread(self, name, self._on_taken_error)
        self._take_threads = [*self._take_threads, thread]
        return thread

    def _on_taken_error(self, exc: Exception) -> None:
        if isinstance(exc, ConfigError):  # as from the executor: the node ends with the error's line
            self.request_exit(exc)
        else:
            self.report_callback_error(exc)

    def destroy_node(self) -> None:
        for thread in self._take_threads:
            thread.stop(WORKER_JOIN_S)
        super().destroy_node()

    def close(self) -> None:
        """Release what the node holds (threads, files, sessions). Called once, before the node is destroyed;
        each wait in it is bounded (WORKER_JOIN_S)."""

    def flush(self) -> None:
        """Make the files that must be complete so, when the shutdown deadline passes with close() or the
        teardown stuck: runs on the deadline thread, possibly while close() runs. Files written whole (the speech
        node's WAVs) need nothing."""

    @property
    def flushes(self) -> bool:
        """Whether this node has a flush() of its own (then a stall that keeps it from running is not a clean
        exit)."""
        return type(self).flush is not AriaNode.flush

    def request_exit(self, error: Optional[ConfigError] = None) -> None:
        """Ask run_node to end the process from any thread: exit 0, or with `error` one line and exit 2."""
        self.exit_error = error
        self.exit_requested = True

    def attach_error_stats(self, stats: StageStats) -> None:
        """Where report_callback_error() counts (NodeDiagnostics attaches its stats)."""
        self._error_stats = stats

    def report_callback_error(self, exc: Exception) -> None:
        """A callback raised `exc`: count it and log one throttled line; the node keeps running."""
        self.callback_errors += 1
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
        message = f"{CALLBACK_ERROR}: {type(exc).__name__}: {exc}{where}"
        if self._error_stats is not None:
            self._error_stats.record_error(message)
        self.get_logger().error(f"{message} (that message is dropped; {self.callback_errors} so far)",
                                throttle_duration_sec=CALLBACK_ERROR_LOG_PERIOD_S)


_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class _Sigval(ctypes.Union):
    _fields_ = [("sival_int", ctypes.c_int), ("sival_ptr", ctypes.c_void_p)]


class _Sigevent(ctypes.Structure):  # glibc's struct sigevent (64 bytes), SIGEV_THREAD's members of its union
    _fields_ = [("sigev_value", _Sigval), ("sigev_signo", ctypes.c_int), ("sigev_notify", ctypes.c_int),
                ("sigev_notify_function", ctypes.c_void_p), ("sigev_notify_attributes", ctypes.c_void_p),
                ("_pad", ctypes.c_byte * 32)]


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_SIGEV_THREAD = 2
_CLOCK_MONOTONIC = 1


class NativeExit:
    """`close(1)`, `close(2)`, then `_exit(code)` after `delay_s`, each called by a thread that glibc starts when a
    POSIX timer fires (SIGEV_THREAD with the libc function as the notify function, its one int argument as the
    sigval): it needs no GIL, so it ends a process whose main thread holds the GIL in a native call that does not
    return, with the code chosen (faulthandler's timer can only exit 1, which is what stays where glibc's timers
    are missing). The output is closed first, as hard_exit does: the launcher then waits for the kernel's teardown
    (seconds for a large process on a loaded machine) instead of escalating."""

    OUTPUT_LEAD_S = 0.005  # the output closes this much before the exit

    def __init__(self) -> None:
        self._timers: List[ctypes.c_void_p] = []

    def arm(self, delay_s: float, code: int) -> bool:
        """(Re)arm: the process leaves with `code` `delay_s` from now unless it left before. False: only
        faulthandler's timer could be armed (exit 1)."""
        self.cancel()
        if _libc is None or not hasattr(_libc, "timer_create"):
            faulthandler.dump_traceback_later(delay_s, exit=True)
            return False
        delay_s = max(delay_s, 2 * self.OUTPUT_LEAD_S)
        calls = [(_libc.close, 1, delay_s - self.OUTPUT_LEAD_S), (_libc.close, 2, delay_s - self.OUTPUT_LEAD_S),
                 (_libc._exit, code, delay_s)]
        for function, argument, when_s in calls:
            if not self._start_timer(function, argument, when_s):
                self.cancel()
                faulthandler.dump_traceback_later(delay_s, exit=True)
                return False
        return True

    def _start_timer(self, function, argument: int, delay_s: float) -> bool:
        event = _Sigevent(sigev_notify=_SIGEV_THREAD,
                          sigev_notify_function=ctypes.cast(function, ctypes.c_void_p).value)
        event.sigev_value.sival_int = argument
        timer = ctypes.c_void_p()
        if _libc.timer_create(_CLOCK_MONOTONIC, ctypes.byref(event), ctypes.byref(timer)) != 0:
            return False
        self._timers.append(timer)
        whole = int(delay_s)
        when = _Itimerspec(it_value=_Timespec(whole, int((delay_s - whole) * 1e9)))
        return _libc.timer_settime(timer, 0, ctypes.byref(when), None) == 0

    def cancel(self) -> None:
        faulthandler.cancel_dump_traceback_later()
        for timer in self._timers:
            _libc.timer_delete(timer)
        self._timers = []


def hard_exit(code: int) -> None:
    """Flush Python's and C's output buffers, close the output (the launcher's reader sees the end at once and
    waits for the kernel's teardown instead of escalating), then leave without interpreter finalisation or C++
    destructors."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more can be said
            pass
    if _libc is not None:
        _libc.fflush(None)
    for fd in (1, 2):
        try:
            os.close(fd)
        except OSError:
            pass
    os._exit(code)


class Shutdown:
    """The deadline of a process's clean stop. The first SIGINT/SIGTERM (or begin()) sets `stop` for the loops
    and arms the deadline; finish() leaves at once with the exit code; past the budget the deadline thread calls
    the flush hooks and leaves with `code` (0 unless set). A second signal ends the process at once (the default
    action, or the watcher thread if the main thread has not run the handler yet)."""

    def __init__(self, name: str, budget_s: float = SHUTDOWN_BUDGET_S):
        self.name = name
        self.budget_s = budget_s
        self.stop = threading.Event()
        self._code = 0
        self.signalled_at: Optional[float] = None
        self._flush_hooks: List[Callable[[], None]] = []
        self._second_signal_hooks: List[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._armed = False
        self._backstop = NativeExit()

    @property
    def code(self) -> int:
        """The exit code of a process that stops (0 unless an error ends it)."""
        return self._code

    @code.setter
    def code(self, code: int) -> None:
        self._code = code
        if self._armed:
            self._arm_backstop()

    def _arm_backstop(self) -> None:
        """The native backstop, GIL_BACKSTOP_S after the budget: faulthandler dumps every thread's stack just before
        (what stalled, on stderr), then NativeExit leaves with the exit code: a node has nothing to flush after its
        close() (its files are written whole); a process with flush hooks that could not run leaves with 1."""
        delay_s = self.budget_s + GIL_BACKSTOP_S - (time.monotonic() - (self.signalled_at or time.monotonic()))
        if self._backstop.arm(max(0.0, delay_s), 1 if self._flush_hooks else self._code):
            faulthandler.dump_traceback_later(max(0.01, delay_s - GIL_BACKSTOP_S / 2), exit=False)

    def install(self) -> "Shutdown":
        """Install the handlers and the watcher (from the main thread); a native crash (SIGSEGV, SIGABRT) prints every
        thread's stack on stderr, where its exit code alone says nothing of where."""
        faulthandler.enable()
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, args=(read_fd,), name="signal-watch", daemon=True).start()
        held = early_signals.take()  # came while the process was still importing (aria_nav.nodes)
        if len(held) > 1:
            print(f"aria_nav {self.name}: {signal.Signals(held[-1]).name} again: exiting now", file=sys.stderr,
                  flush=True)
            hard_exit(128 + held[-1])
        if held:
            self._on_signal(held[0], None)
        return self

    def _watch(self, read_fd: int) -> None:
        seen = 0
        while True:
            for signum in os.read(read_fd, 16):
                if signum not in (signal.SIGINT, signal.SIGTERM):
                    continue
                seen += 1
                if seen == 1:
                    self.begin()
                    continue
                name = signal.Signals(signum).name
                if self._second_signal_hooks:
                    self._backstop.arm(SECOND_SIGNAL_FLUSH_S, 1)
                    print(f"aria_nav {self.name}: {name} again: finishing what must be complete, then exiting",
                          file=sys.stderr, flush=True)
                    self._run_hooks(self._second_signal_hooks)
                print(f"aria_nav {self.name}: {name} again: exiting now", file=sys.stderr, flush=True)
                hard_exit(128 + signum)

    def on_deadline(self, hook: Callable[[], None]) -> None:
        """`hook` runs on the deadline thread if the budget passes before finish()."""
        self._flush_hooks.append(hook)

    def files_complete(self) -> None:
        """What the flush hooks would finish is complete now: from here a stalled teardown is a clean exit."""
        self._flush_hooks.clear()
        if self._armed:
            self._arm_backstop()

    def on_second_signal(self, hook: Callable[[], None]) -> None:
        """`hook` (quick: SECOND_SIGNAL_FLUSH_S at most) runs on the watcher thread when a second signal comes,
        before the process leaves; the second signal's default action is then not restored."""
        self._second_signal_hooks.append(hook)

    def _on_signal(self, signum, _frame) -> None:
        if not self._second_signal_hooks:  # else the watcher thread handles the second signal
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.begin()

    def begin(self) -> None:
        """Start the stop: from here the process is gone within the budget."""
        with self._lock:
            if self._armed:
                return
            self._armed = True
        self.signalled_at = time.monotonic()
        # The deadline first, `stop` last: setting it wakes the main thread into the teardown, whose native calls
        # (Fast DDS's in destroy_node) can hold the GIL for seconds; armed after it, the deadline once never was
        # (the watcher thread lost the GIL between the two, and the camera node ran past the launcher's 3 s).
        self._arm_backstop()
        threading.Thread(target=self._enforce, name="shutdown-deadline", daemon=True).start()
        self.stop.set()

    def _enforce(self) -> None:
        time.sleep(self.budget_s)
        print(f"aria_nav {self.name}: shutdown still not done {self.budget_s:g} s after the stop request: "
              f"flushing and exiting now", file=sys.stderr, flush=True)
        self._run_hooks(self._flush_hooks)
        hard_exit(self.code)

    def _run_hooks(self, hooks: List[Callable[[], None]]) -> None:
        for hook in hooks:
            try:
                hook()
            except Exception as exc:  # noqa: BLE001 - the others must still run, and the process must leave
                print(f"aria_nav {self.name}: flush before exiting failed: {exc}", file=sys.stderr, flush=True)

    def finish(self, code: int) -> None:
        """Everything is closed: leave now with `code`."""
        hard_exit(code)


def stop_on_signals(name: str) -> Shutdown:
    """A Shutdown whose SIGINT and SIGTERM handlers are installed (in place of their default handlers)."""
    return Shutdown(name).install()


def free_dead_shared_memory(name: str) -> None:
    """Before a process joins the graph: remove the shared-memory segments of participants that died without
    closing them (ros.shm_segments), saying so in one line when there were any."""
    removed, freed = remove_dead_segments()
    if removed:
        print(f"aria_nav {name}: removed {removed} shared-memory segment{'s' if removed != 1 else ''} "
              f"({freed / 2**20:.0f} MiB) {DEAD_SEGMENTS_NOTE}", flush=True)


def run_node(factory: Callable[[], AriaNode], name: str, args: Optional[List[str]] = None,
             shutdown: Optional[Shutdown] = None) -> int:
    """Run the node until a signal, request_exit() or the context ends; then close it within the shutdown's
    budget. Returns the exit code (main_for() then leaves through shutdown.finish())."""
    shutdown = shutdown or stop_on_signals(name)
    free_dead_shared_memory(name)
    try:
        rclpy.init(args=sys.argv if args is None else args, signal_handler_options=SignalHandlerOptions.NO)
    except _rclpy.RCLError as exc:  # --ros-args rcl rejects: a params file it cannot parse, a malformed -p/-r rule
        print(f"aria_nav {name}: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG_ERROR
    node = None
    try:
        if shutdown.stop.is_set():  # stopped while starting up: no model to load for nothing
            return 0
        node = factory()
        if node.flushes:
            shutdown.on_deadline(node.flush)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not shutdown.stop.is_set() and rclpy.ok() and not node.exit_requested:
            spin_once(executor, node.report_callback_error)
        if node.exit_error is not None:
            raise node.exit_error
    except ConfigError as exc:
        print(f"aria_nav {name}: {exc}", file=sys.stderr, flush=True)
        leave_on_config_error(shutdown, [] if node is None else [node])
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:  # (not reached after a ConfigError: the process has left)
        close_nodes(shutdown, [] if node is None else [node])
    return 0


def spin_once(executor: SingleThreadedExecutor, on_callback_error: Callable[[Exception], None]) -> None:
    """One executor step; an exception a callback raised is handed to `on_callback_error` (see the module doc: one
    lost message, not a dead node), configuration errors and the context's end propagate."""
    try:
        executor.spin_once(timeout_sec=0.1)
    except (ConfigError, ExternalShutdownException):
        raise
    except Exception as exc:  # noqa: BLE001 - the policy above
        on_callback_error(exc)


def close_nodes(shutdown: Shutdown, nodes: Sequence[AriaNode]) -> None:
    """The teardown after the spin loop (a ConfigError leaves through leave_on_config_error instead), within the
    shutdown's deadline: each node closed and destroyed in order, then the context shut down; exit code 0."""
    shutdown.begin()  # the deadline armed before the teardown starts
    for node in nodes:
        node.close()
        node.destroy_node()
    if rclpy.ok():
        rclpy.shutdown()


def leave_on_config_error(shutdown: Shutdown, nodes: Sequence[AriaNode]) -> None:
    """After a ConfigError's line: the nodes that were built closed (workers stopped, files finished), then exit 2
    at once, the DDS participant left undestroyed. Destroying a participant still in discovery (a node that could
    not start, beside others starting at once) races Fast DDS 3.2's type-lookup thread, which answers a peer's
    request through a writer history already deleted: SIGSEGV, about once in 800 such exits on a loaded machine. Its
    shared-memory segment is removed here (the next node's start would say it found a dead one)."""
    shutdown.code = EXIT_CONFIG_ERROR
    shutdown.begin()
    for node in nodes:
        node.close()
    remove_own_segments()
    shutdown.finish(EXIT_CONFIG_ERROR)


def main_for(factory: Callable[[], AriaNode], name: str) -> Callable[[], None]:
    """A console-script main() for the node class `factory`."""

    def main() -> None:
        shutdown = stop_on_signals(name)
        try:
            code = run_node(factory, name, shutdown=shutdown)
        except BaseException:  # noqa: BLE001 - a bug outside any callback: its traceback, then exit 1
            traceback.print_exc()
            code = 1
        shutdown.finish(code)

    return main
