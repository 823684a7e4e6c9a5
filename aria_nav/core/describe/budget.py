"""One description on request, within a time budget: the model's sentence if it comes in time, else the summary.

DescriptionJob settles exactly once, whichever comes first: the model's result (finish) or the budget running out
(expire, which the owner calls from a timer). After that, `cancelled()` is true, so a model still generating stops
at its next token and its late result is discarded.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, List, Optional

MODEL, SUMMARY, FALLBACK, FAILED = "model", "summary", "fallback", "failed"  # where the spoken text came from


@dataclass(frozen=True)
class Description:
    text: str
    source: str  # MODEL (summary + model), SUMMARY (no model asked), FALLBACK (model too slow), FAILED (model error)
    detail: str = ""


class DescriptionJob:
    def __init__(self, summary: str, budget_s: float):
        self.summary = summary
        self.budget_s = budget_s
        self._lock = threading.Lock()
        self._result: Optional[Description] = None
        self._settled = threading.Event()
        self._done: List[Callable[[Description], None]] = []

    def on_settled(self, callback: Callable[[Description], None]) -> None:
        """Call `callback` once with the result (at once if it is already settled)."""
        with self._lock:
            if self._result is None:
                self._done.append(callback)
                return
        callback(self._result)

    def cancelled(self) -> bool:
        with self._lock:
            return self._result is not None

    @property
    def result(self) -> Optional[Description]:
        with self._lock:
            return self._result

    def wait(self, timeout: float) -> Optional[Description]:
        """The result, waiting at most `timeout` seconds for it (None: not settled yet)."""
        self._settled.wait(timeout)
        return self.result

    def finish(self, description: Description) -> bool:
        """Settle with `description`; False when the job was already settled (too late)."""
        with self._lock:
            if self._result is not None:
                return False
            self._result = description
            self._settled.set()
            callbacks, self._done = self._done, []
        for callback in callbacks:
            callback(description)
        return True

    def expire(self) -> bool:
        return self.finish(Description(self.summary, FALLBACK, f"the model took longer than {self.budget_s:g} s"))


def run_model(job: DescriptionJob, describe: Callable[[Callable[[], bool]], str],
              compose: Callable[[str], str]) -> None:
    """Run on a worker: the model's sentence through `compose` (merge with the summary), or the summary on error."""
    try:
        sentence = describe(job.cancelled)
    except Exception as exc:  # noqa: BLE001 - a failing model must not leave the wearer without an answer
        job.finish(Description(job.summary, FAILED, f"the model failed: {type(exc).__name__}: {exc}"))
        return
    if not job.cancelled():
        job.finish(Description(compose(sentence), MODEL))
