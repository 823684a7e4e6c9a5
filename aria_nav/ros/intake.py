"""Intake and report of a frame-consuming node (detector, depth): what each would otherwise repeat.

- Frame skip: every frame_skip-th received frame of each input is processed (the others are counted as skipped,
  not dropped).
- A newest-frame worker (core.latest.LatestWorker): a frame arriving while the model is busy replaces the waiting
  one and is counted as dropped; process_every_frame (replay) keeps every frame, in order. Several inputs (the
  cameras of a shared detector, callback(key)) share the one worker, each with its own waiting frame.
- Input errors (a bad image, camera_info that does not fit) are counted on /diagnostics and logged as one
  throttled warning per INPUT_LOG_PERIOD_S; a failure of the processing itself as a throttled error.
- Where each frame's time goes (NodeDiagnostics.record_arrival/record_hop, /diagnostics hop_*): sent by the
  camera, arrived, taken (by the intake's take thread, aria_nav.ros.taking), started by the worker, done (results
  published), all from the source stamp: the per-hop breakdown `aria-nav bench graph` prints.
- The model runner's report on /diagnostics under the same keys in every node: backend, provider, gpu_resident,
  model (the file's path), fallback (and a WARN status) when the requested provider was not available.
Per-frame streams take aria_nav.ros.qos.frame_qos (inputs: the newest frame; results: RESULT_DEPTH of them).
"""
from __future__ import annotations

import collections
from typing import Callable, Dict, Generic, Hashable, Mapping, Optional, TypeVar

from rclpy.qos import QoSProfile
from rclpy.subscription import Subscription

from aria_nav.core.latest import LatestWorker
from aria_nav.ros.diagnostics import INPUT_LOG_PERIOD_S, WARN, NodeDiagnostics
from aria_nav.ros.runtime import AriaNode

T = TypeVar("T")


def _hop_prefix(key: Optional[str]) -> str:
    return f"{key}_" if key else ""


def effective_frame_skip(frame_skip: int, gpu_frame_skip: int, on_gpu: bool) -> int:
    """The frame skip a detector applies: gpu_frame_skip on a GPU where it is set, else frame_skip."""
    return gpu_frame_skip if on_gpu and gpu_frame_skip else frame_skip


def report_runner(node: AriaNode, diag: NodeDiagnostics, runner) -> None:
    """The model runner's backend, provider and fallback on /diagnostics (and the fallback in the log)."""
    diag.set_value("backend", runner.backend)
    diag.set_value("provider", runner.provider)
    if getattr(runner, "bound", None) is not None:
        diag.set_value("gpu_resident", f"IO binding, CUDA graph {runner.cuda_graph}")
    diag.set_value("model", str(runner.path))
    if runner.fallback_warning:
        node.get_logger().warning(runner.fallback_warning)
        diag.set_value("fallback", runner.fallback_warning)
        diag.set_status(WARN, runner.fallback_warning)


class FrameIntake(Generic[T]):
    """Receives a node's frames (subscribe(), taken on a thread of their own) and hands the ones to process to `process`
    on a worker thread; `on_error` gets what `process` raises (default: failed(), counted and logged). The frames
    are messages with a std_msgs/Header (images). One input: subscribe(), `process(msg)`; several: subscribe(...,
    key) for each, `process(msg, key)`."""

    def __init__(self, node: AriaNode, diag: NodeDiagnostics, process: Callable[[T], None], frame_skip: int,
                 process_every_frame: bool, name: str,
                 on_error: Optional[Callable[[BaseException], None]] = None):
        self._node = node
        self._diag = diag
        self.frame_skip = frame_skip
        self.received: Dict[Hashable, int] = collections.defaultdict(int)
        self.skipped = 0
        self._process = process
        self.worker = LatestWorker(self._timed, on_error or self.failed, keep_all=process_every_frame, name=name)
        self._taking = node.take_thread(f"{name}-take")
        diag.set_value("frame_skip", frame_skip)
        diag.set_value("skipped", 0)

    def subscribe(self, msg_type, topic: str, qos: QoSProfile, key: Optional[str] = None) -> Subscription:
        """Subscribe to the frames of input `key` (None: the node's one input), taken on the intake's own thread
        (aria_nav.ros.taking); their hop milestones are named `<key>_...`. start() begins the taking."""
        return self._taking.subscribe(msg_type, topic, lambda msg, info: self._receive(key, msg, info), qos)

    def start(self) -> None:
        """Begin taking frames: at the end of the node's constructor, once `process` may run."""
        self._taking.start()

    def _receive(self, key: Optional[str], msg: T, info: Mapping[str, int]) -> None:
        self._diag.record_arrival(_hop_prefix(key), msg.header.stamp, info)
        self.received[key] += 1
        if (self.received[key] - 1) % self.frame_skip:
            self.skipped += 1
            self._diag.set_value("skipped", self.skipped)
            return
        self.worker.submit((key, msg), key)
        self._diag.stats.dropped = self.worker.slot.dropped

    def _timed(self, entry) -> None:
        key, msg = entry
        prefix = _hop_prefix(key)
        self._diag.record_hop(prefix + "started", msg.header.stamp)
        if key is None:
            self._process(msg)
        else:
            self._process(msg, key)
        self._diag.record_hop(prefix + "done", msg.header.stamp)

    def input_error(self, message: str, count: bool = True) -> None:
        """A problem with an input message (the message is skipped): counted unless `count` is false, logged
        throttled."""
        if count:
            self._diag.stats.record_error(message)
        self._node.get_logger().warning(message, throttle_duration_sec=INPUT_LOG_PERIOD_S)

    def failed(self, exc: BaseException, what: str = "processing failed") -> None:
        """Processing a frame raised `exc`: counted, logged throttled; the next frame is processed as usual."""
        message = f"{what}: {type(exc).__name__}: {exc}"
        self._diag.stats.record_error(message)
        self._node.get_logger().error(message, throttle_duration_sec=INPUT_LOG_PERIOD_S)

    def stop(self, timeout: float, interrupt: Optional[Callable[[], None]] = None) -> bool:
        """Stop taking frames and the worker (interrupting a run in progress); True once the worker has ended."""
        self._taking.stop(timeout)
        return self.worker.stop(timeout, interrupt=interrupt)
