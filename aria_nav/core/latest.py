"""The "always the newest frame" policy, without ROS.

A subscription callback puts each incoming item into a LatestSlot and returns at once; one worker thread takes
the newest item and processes it. An item replaced before the worker took it is counted as dropped, so a slow
stage never builds a queue and its latency stays bounded by one processing time.

With keep_all=True (deterministic replay) items are queued in order instead, up to `capacity`; put() then waits
for room, which makes a reliable publisher slow down rather than lose frames.

One worker can serve several inputs (one model session for several cameras): put(item, key) replaces only the
waiting item of the same key, and the worker takes the waiting items oldest first, so every input gets its turn.
"""
from __future__ import annotations

import collections
import threading
from typing import Callable, Deque, Generic, Hashable, Optional, Tuple, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    def __init__(self, keep_all: bool = False, capacity: int = 64):
        self._keep_all = keep_all
        self._capacity = capacity
        self._items: Deque[Tuple[Hashable, T]] = collections.deque()  # (key, item), oldest first
        self._cond = threading.Condition()
        self._closed = False
        self.received = 0
        self.dropped = 0

    def put(self, item: T, key: Hashable = None) -> None:
        with self._cond:
            self.received += 1
            if self._keep_all:
                while len(self._items) >= self._capacity and not self._closed:
                    self._cond.wait(0.1)
            else:
                waiting = [entry for entry in self._items if entry[0] == key]
                if waiting:
                    self._items.remove(waiting[0])
                    self.dropped += 1
            self._items.append((key, item))
            self._cond.notify_all()

    def take(self, timeout: Optional[float] = None) -> Optional[T]:
        """The next item to process, or None on timeout or once closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if not self._items:
                return None
            _key, item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class LatestWorker(Generic[T]):
    """A daemon thread that feeds the newest item of a LatestSlot to `process` until stopped.

    Exceptions from `process` go to `on_error` (the node logs and counts them) so one bad frame never stops the
    stage.
    """

    def __init__(self, process: Callable[[T], None], on_error: Callable[[BaseException], None],
                 keep_all: bool = False, name: str = "worker"):
        self.slot: LatestSlot[T] = LatestSlot(keep_all=keep_all)
        self._process = process
        self._on_error = on_error
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._stopping = False
        self._thread.start()

    def submit(self, item: T, key: Hashable = None) -> None:
        self.slot.put(item, key)

    def _run(self) -> None:
        while not self._stopping:
            item = self.slot.take(timeout=0.2)
            if item is None:
                continue
            try:
                self._process(item)
            except Exception as exc:  # noqa: BLE001 - reported, the stage keeps running
                if not self._stopping:  # an item interrupted by stop() fails as asked: nothing to report
                    self._on_error(exc)

    def stop(self, timeout: float = 2.0, interrupt: Optional[Callable[[], None]] = None) -> bool:
        """Take no more items, end the one in progress early with `interrupt` (e.g. ModelRunner.interrupt) if
        given, and wait up to `timeout` s for the thread. True when it has ended: only then may what it uses
        (an inference session) be released."""
        self._stopping = True
        self.slot.close()
        if interrupt is not None:
            interrupt()
        self._thread.join(timeout)
        return not self._thread.is_alive()
