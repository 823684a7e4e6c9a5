"""The utterances waiting to be spoken, arbitrated for deadlines: a critical warning reaches the ear at once, or
after at most one other short critical warning; nothing is said twice that the wearer has just heard.

- Order: urgency (critical, warning, info, describe); critical ones in order of arrival (each has the same
  deadline after its arrival, so earliest deadline first: none waits behind a later one); the others by priority,
  then arrival.
- Interrupting: a critical utterance cuts what is being said at once when that is less urgent. A request about the
  obstacle (key) being spoken of cuts it when it says something else (the older words are now wrong), is critical
  or more urgent than it (a warning about the obstacle whose info sentence is being said), and is said next:
  nothing more urgent waits. Where something waits, cutting would not bring the newer words sooner, it would only
  take the end of the sentence being heard (at most one short critical warning): that one ends, the waiting one
  follows, then the newer words. A critical warning about another obstacle is not cut (it is short, about one
  second) and the new one is said next: so a critical warning waits behind at most one short critical sentence,
  never behind a long one. See docs/guidance.md. A description (urgency describe, the lowest: the answer to "what
  is around me?") is cut by any other utterance, and by a newer description.
- Same obstacle: a newer request about the same key replaces the queued one and takes its place in the order
  (its words are newer, its deadline is the older one's); this happens before the repetition check, so a
  refreshed request is never lost as a "duplicate" of the stale one.
- Together: when the worker takes a critical utterance and others wait too (`take` with a `combine` phrasing, the
  speaker's short form), all of them are said as one sentence, nearest first with its distance, the others by
  what and where: each waits about half a second more instead of a whole warning. Such a sentence is not cut by
  news about one of its obstacles (the others would be lost); only its first one's words count as heard.
- Repetition, judged against what the wearer heard: the same text about the same key whose hearing began less
  than `repeat_cooldown_s` ago, or that is being said now, is dropped unless the new request is more urgent (two
  people at the same distance are two warnings, not one said twice); a description asked for again is said again.
  An utterance that was interrupted or failed was not heard, and does not count. (How often fusion repeats a still
  critical obstacle is fusion's policy; this is only a guard against echoes, shorter than any repeat interval.)
- Staleness: a non-critical utterance that waited longer than `max_age_s` is dropped (fusion asks again if it still
  matters). A critical one is never dropped for its age: it waits at most one short warning, and a newer request
  about the same obstacle replaces it. News about the system (degraded, restored, end of recording) is never
  dropped for its age either: fusion does not ask twice.
- Bounded: beyond `max_size`, the least urgent, lowest priority, oldest utterance is dropped.
Thread-safe: the ROS callback offers, the speech worker takes.
"""
from __future__ import annotations

import collections
import itertools
import threading
from dataclasses import dataclass
from typing import Callable, Deque, List, Optional, Sequence, Tuple

from aria_nav.core.speech.request import CRITICAL, DESCRIBE, SYSTEM_EVENTS, SpeechRequest, urgency_rank

QUEUED, INTERRUPT, DUPLICATE, REPLACED = "queued", "interrupt", "duplicate", "replaced"
CRITICAL_RANK = urgency_rank(CRITICAL)
DESCRIBE_RANK = urgency_rank(DESCRIBE)


@dataclass
class Utterance:
    text: str
    request: SpeechRequest
    received_s: float
    sequence: int = 0
    # critical warnings said together in this one (merged by `take`), the first the one `request` is; empty: alone
    members: Tuple["Utterance", ...] = ()

    @property
    def rank(self) -> int:
        return urgency_rank(self.request.urgency)

    def order(self) -> Tuple[int, float, int]:
        """Larger is spoken first."""
        if self.rank == CRITICAL_RANK:
            return (self.rank, 0.0, -self.sequence)
        return (self.rank, self.request.priority, -self.sequence)


@dataclass
class QueueStats:
    offered: int = 0
    duplicates: int = 0
    stale: int = 0
    overflow: int = 0
    replaced: int = 0
    interrupts: int = 0
    merged: int = 0  # critical utterances said together with others


def merged(together: Sequence[Utterance], combine: Callable[[Sequence[SpeechRequest]], str]) -> Utterance:
    """Critical warnings waiting together, as one: nearest first (its distance is said; the others' what and where
    follow), in the place of the first to arrive."""
    nearest_first = sorted(together, key=lambda u: (u.request.distance_m is None, u.request.distance_m or 0.0,
                                                    u.sequence))
    first = nearest_first[0]
    return Utterance(combine([u.request for u in nearest_first]), first.request, first.received_s,
                     min(u.sequence for u in together), tuple(nearest_first))


class SpeechQueue:
    def __init__(self, max_size: int = 8, max_age_s: float = 2.0, repeat_cooldown_s: float = 2.0):
        self.max_size = max_size
        self.max_age_s = max_age_s
        self.repeat_cooldown_s = repeat_cooldown_s
        self._items: List[Utterance] = []
        self._heard: Deque[Tuple[str, str, int, float]] = collections.deque(maxlen=64)  # key, text, rank, started
        self._speaking: Optional[Utterance] = None
        self._cut = False  # the utterance being said is being interrupted
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
            key = utterance.request.key
            outcome = QUEUED
            for old in [u for u in self._items if key and u.request.key == key]:
                self._items.remove(old)
                utterance.sequence = min(utterance.sequence, old.sequence)  # its place in the order
                self.stats.replaced += 1
                outcome = REPLACED
            speaking = self._speaking
            if self._is_repeat(utterance, now_s):
                self.stats.duplicates += 1
                return DUPLICATE, None
            self._items.append(utterance)
            if len(self._items) > self.max_size:
                self._items.remove(min(self._items, key=Utterance.order))
                self.stats.overflow += 1
            self._cond.notify_all()
            if speaking is not None and self._cuts(utterance, speaking, self._said_next(utterance)):
                self.stats.interrupts += 1
                self._cut = True  # its words will not be heard: no longer a reason to drop a repeat
                return INTERRUPT, speaking
            return outcome, None

    def take(self, now_fn, timeout: Optional[float] = None,
             combine: Optional[Callable[[Sequence[SpeechRequest]], str]] = None) -> Optional[Utterance]:
        """The next utterance to say (marked as being said), or None on timeout or once closed. `now_fn` gives
        the current time, read after waiting. With `combine` (requests -> one sentence), critical warnings
        waiting together are taken as one utterance, nearest first (see merged())."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout) or self._closed:
                return None
            now_s = now_fn()
            fresh = [u for u in self._items if u.rank == CRITICAL_RANK or u.request.event in SYSTEM_EVENTS
                     or now_s - u.received_s <= self.max_age_s]
            self.stats.stale += len(self._items) - len(fresh)
            self._items = fresh
            if not fresh:
                return None
            chosen = max(fresh, key=Utterance.order)
            together = [u for u in fresh if u.rank == CRITICAL_RANK] if chosen.rank == CRITICAL_RANK else []
            if combine is not None and len(together) > 1:
                for utterance in together:
                    self._items.remove(utterance)
                chosen = merged(together, combine)
                self.stats.merged += len(together)
            else:
                self._items.remove(chosen)
            self._speaking, self._cut = chosen, False
            return chosen

    def done(self, heard_from_s: Optional[float]) -> None:
        """The utterance taken last is over: heard in full from `heard_from_s` (when its audio began), or None
        when it was interrupted or failed (the wearer did not hear it, so it is no repeat if asked again)."""
        with self._cond:
            speaking = self._speaking
            if speaking is not None and heard_from_s is not None:
                self._heard.append((speaking.request.key, speaking.text, speaking.rank, heard_from_s))
                if speaking.members:  # the first was said in full; the others' distances were not said
                    first = speaking.members[0]
                    self._heard.append((first.request.key, first.text, first.rank, heard_from_s))
            self._speaking = None

    @property
    def speaking(self) -> Optional[Utterance]:
        with self._cond:
            return self._speaking

    def pending(self) -> List[Utterance]:
        """The utterances waiting (a copy)."""
        with self._cond:
            return list(self._items)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _said_next(self, utterance: Utterance) -> bool:
        return max(self._items, key=Utterance.order) is utterance

    @staticmethod
    def _cuts(new: Utterance, speaking: Utterance, said_next: bool) -> bool:
        if speaking.rank == DESCRIBE_RANK:  # yields to anything else, and to a newer answer
            return new.rank > speaking.rank or new.request.key == speaking.request.key
        if new.rank == CRITICAL_RANK and speaking.rank < new.rank:
            return True
        # a merged sentence is not cut by news about one of its obstacles: it would lose the others
        same_obstacle = bool(new.request.key) and new.request.key == speaking.request.key and not speaking.members
        if not (same_obstacle and speaking.text != new.text and said_next):
            return False
        return new.rank == CRITICAL_RANK or new.rank > speaking.rank

    def _is_repeat(self, utterance: Utterance, now_s: float) -> bool:
        key, rank, text = utterance.request.key, utterance.rank, utterance.text
        speaking = None if self._cut else self._speaking
        # said in full: a merged sentence's first obstacle (the others' distances are not in it)
        being_said = () if speaking is None else (speaking,) + speaking.members[:1]
        if any((said.request.key, said.text) == (key, text) and rank <= said.rank for said in being_said):
            return True
        if rank == DESCRIBE_RANK:  # asked for again once heard: said again
            return False
        return any((said_key, said) == (key, text) and now_s - started < self.repeat_cooldown_s and rank <= said_rank
                   for said_key, said, said_rank, started in self._heard)
