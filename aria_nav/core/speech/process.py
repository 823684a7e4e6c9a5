"""A subprocess that another thread can stop at once: how a critical warning cuts off synthesis or playback."""
from __future__ import annotations

import subprocess
import threading
from typing import List, Optional


class Cancelled(Exception):
    """The current utterance was interrupted."""


class InterruptibleRunner:
    """Runs one subprocess at a time for the speech worker; cancel() from any thread kills it and makes the
    worker's current step raise Cancelled. reset() re-arms it for the next utterance."""

    def __init__(self):
        self._lock = threading.Lock()
        self._process: Optional[subprocess.Popen] = None
        self._cancelled = threading.Event()

    def reset(self) -> None:
        self._cancelled.clear()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled.set()
            if self._process is not None and self._process.poll() is None:
                self._process.kill()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def run(self, argv: List[str], stdin: Optional[bytes] = None) -> bytes:
        """stdout of the command; raises Cancelled if cancelled, RuntimeError if it fails."""
        with self._lock:
            if self._cancelled.is_set():
                raise Cancelled()
            self._process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE)
        try:
            try:
                out, err = self._process.communicate(stdin)
            except BrokenPipeError:  # killed while we were still writing its input
                out, err = b"", b""
                self._process.wait()
            if self._cancelled.is_set():
                raise Cancelled()
            if self._process.returncode != 0:
                message = err.decode(errors="replace").strip().splitlines()
                raise RuntimeError(f"{argv[0]} exited with {self._process.returncode}"
                                   + (f": {message[-1]}" if message else ""))
            return out
        finally:
            with self._lock:
                self._process = None

    def sleep(self, seconds: float) -> None:
        """Waits like a playing sound would; raises Cancelled as soon as cancelled."""
        if self._cancelled.wait(seconds):
            raise Cancelled()
