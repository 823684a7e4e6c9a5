"""The utterances waiting to be spoken: most urgent first, never stale, never the same thing twice in a row.

- Order: urgency (critical, warning, info, describe), then priority, then arrival.
- A critical utterance interrupts what is being said unless that is critical too (then it goes first in line).
  A description (urgency describe, the lowest) is interrupted by any other utterance, and by a newer description.
- Staleness: an utterance about an obstacle that waited longer than `max_age_s` since it arrived is dropped (the
  obstacle has moved on; fusion will ask again if it still matters). News about the system (degraded, restored,
  end of recording) is said once, however long it waited: fusion does not ask twice.
- Repetition: the same text finished less than `repeat_cooldown_s` ago (or queued, or being said) is dropped
  unless the new request is more urgent; a description the wearer asks for again is said again. A newer
  request about the same key (same obstacle) replaces the queued one.
- Bounded: beyond `max_size`, the least urgent, lowest priority, oldest utterance is dropped.
Thread-safe: the ROS callback offers, the speech worker takes.
"""
from __future__ import annotations

import collections
import itertools
import threading
from dataclasses import dataclass
from typing import Deque, List, Optional, Tuple

from aria_nav.core.speech.request import CRITICAL, DESCRIBE, SYSTEM_EVENTS, SpeechRequest, urgency_rank

QUEUED, INTERRUPT, DUPLICATE, REPLACED = "queued", "interrupt", "duplicate", "replaced"


@dataclass
class Utterance:
    text: str
    request: SpeechRequest
    received_s: float
    sequence: int = 0

    @property
    def rank(self) -> int:
        return urgency_rank(self.request.urgency)

    def order(self) -> Tuple[int, float, int]:
        """Larger is spoken first."""
        return (self.rank, self.request.priority, -self.sequence)


@dataclass
class QueueStats:
    offered: int = 0
    duplicates: int = 0
    stale: int = 0
    overflow: int = 0
    replaced: int = 0
    interrupts: int = 0


class SpeechQueue:
    def __init__(self, max_size: int = 8, max_age_s: float = 2.0, repeat_cooldown_s: float = 4.0):
        self.max_size = max_size
        self.max_age_s = max_age_s
        self.repeat_cooldown_s = repeat_cooldown_s
        self._items: List[Utterance] = []
        self._said: Deque[Tuple[str, int, float]] = collections.deque(maxlen=64)  # (text, rank, ended)
        self._speaking: Optional[Utterance] = None
        self._cond = threading.Condition()
        self._sequence = itertools.count(1)
        self._closed = False
        self.stats = QueueStats()

    def offer(self, utterance: Utterance, now_s: float) -> Tuple[str, Optional[Utterance]]:
        """(outcome, utterance to interrupt): QUEUED, REPLACED (took a queued one's place), INTERRUPT (queued
        first; the caller stops the returned utterance, the one being said) or DUPLICATE (dropped)."""
        with self._cond:
            self.stats.offered += 1
            utterance.sequence = next(self._sequence)
            if self._is_repeat(utterance, now_s):
                self.stats.duplicates += 1
                return DUPLICATE, None
            outcome = QUEUED
            same_key = [u for u in self._items if u.request.key and u.request.key == utterance.request.key]
            for old in same_key:
                self._items.remove(old)
                self.stats.replaced += 1
                outcome = REPLACED
            self._items.append(utterance)
            if len(self._items) > self.max_size:
                self._items.remove(min(self._items, key=Utterance.order))
                self.stats.overflow += 1
            speaking = self._speaking
            self._cond.notify_all()
            if speaking is not None and self._interrupts(utterance, speaking):
                self.stats.interrupts += 1
                return INTERRUPT, speaking
            return outcome, None

    def take(self, now_fn, timeout: Optional[float] = None) -> Optional[Utterance]:
        """The next utterance to say (marked as being said), or None on timeout or once closed. `now_fn` gives
        the current time, read after waiting."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout) or self._closed:
                return None
            now_s = now_fn()
            fresh = [u for u in self._items if now_s - u.received_s <= self.max_age_s
                     or u.request.event in SYSTEM_EVENTS]
            self.stats.stale += len(self._items) - len(fresh)
            self._items = fresh
            if not fresh:
                return None
            chosen = max(fresh, key=Utterance.order)
            self._items.remove(chosen)
            self._speaking = chosen
            return chosen

    def done(self, now_s: float) -> None:
        """The utterance taken last has been said (or interrupted) at `now_s`."""
        with self._cond:
            if self._speaking is not None:
                self._said.append((self._speaking.text, self._speaking.rank, now_s))
            self._speaking = None

    @property
    def speaking(self) -> Optional[Utterance]:
        with self._cond:
            return self._speaking

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @staticmethod
    def _interrupts(new: Utterance, speaking: Utterance) -> bool:
        if speaking.rank == urgency_rank(DESCRIBE):  # yields to anything else, and to a newer answer
            return new.rank > speaking.rank or new.request.key == speaking.request.key
        return new.rank == urgency_rank(CRITICAL) and speaking.rank < new.rank

    def _is_repeat(self, utterance: Utterance, now_s: float) -> bool:
        rank = utterance.rank
        said = self._said if rank > urgency_rank(DESCRIBE) else ()
        for text, said_rank, ended in said:
            if text == utterance.text and now_s - ended < self.repeat_cooldown_s and rank <= said_rank:
                return True
        pending = self._items + ([self._speaking] if self._speaking else [])
        return any(u.text == utterance.text and rank <= u.rank for u in pending)
