"""Intake and report of a frame-consuming node (detector, depth): what each would otherwise repeat.

- Frame skip: every frame_skip-th received frame is processed (the others are counted as skipped, not dropped).
- A newest-frame worker (core.latest.LatestWorker): a frame arriving while the model is busy replaces the waiting
  one and is counted as dropped; process_every_frame (replay) keeps every frame, in order.
- Input errors (a bad image, camera_info that does not fit) are counted on /diagnostics and logged as one
  throttled warning per INPUT_LOG_PERIOD_S; a failure of the processing itself as a throttled error.
- The model runner's report on /diagnostics under the same keys in every node: backend, provider, gpu_resident,
  model (the file's path), fallback (and a WARN status) when the requested provider was not available.
Per-frame streams take aria_nav.ros.qos.frame_qos (inputs: the newest frame; results: RESULT_DEPTH of them).
"""
from __future__ import annotations

from typing import Callable, Generic, Optional, TypeVar

from aria_nav.core.latest import LatestWorker
from aria_nav.ros.diagnostics import INPUT_LOG_PERIOD_S, WARN, NodeDiagnostics
from aria_nav.ros.runtime import AriaNode

T = TypeVar("T")


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
    """Receives a node's frames (call on_frame from the subscription) and hands the ones to process to `process`
    on a worker thread; `on_error` gets what `process` raises (default: failed(), counted and logged)."""

    def __init__(self, node: AriaNode, diag: NodeDiagnostics, process: Callable[[T], None], frame_skip: int,
                 process_every_frame: bool, name: str,
                 on_error: Optional[Callable[[BaseException], None]] = None):
        self._node = node
        self._diag = diag
        self.frame_skip = frame_skip
        self.received = 0
        self.skipped = 0
        self.worker = LatestWorker(process, on_error or self.failed, keep_all=process_every_frame, name=name)
        diag.set_value("frame_skip", frame_skip)
        diag.set_value("skipped", 0)

    def on_frame(self, msg: T) -> None:
        self.received += 1
        if (self.received - 1) % self.frame_skip:
            self.skipped += 1
            self._diag.set_value("skipped", self.skipped)
            return
        self.worker.submit(msg)
        self._diag.stats.dropped = self.worker.slot.dropped

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
        """Stop the worker (interrupting a run in progress); True once it has ended."""
        return self.worker.stop(timeout, interrupt=interrupt)
