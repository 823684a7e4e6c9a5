"""How long a critical warning lasts in the wearer's ear (`aria-nav eval guidance --critical-audio`).

Every short critical sentence the policy can ask for (each critical class and hazard kind, each side, every
distance 0.3-5 m that is spoken differently, metric and approximate) is synthesized with the real espeak-ng at the
speech node's critical rate, trimmed and given its earcon as the speech node does
(aria_nav.core.speech.speaker.utterance_audio), and the distribution of the durations is printed per language.
Target: every one <= CRITICAL_AUDIO_S (1.2 s). The result is deterministic (same text, voice and rate give the same
samples), so a CI test may assert it.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from aria_nav.core.fusion.bands import BANDS
from aria_nav.core.hazards.names import CRITICAL_CLASSES
from aria_nav.core.speech.phrases import CRITICAL_AUDIO_S, SHORT, SIDES, PhraseTable, spoken_metres
from aria_nav.core.speech.process import InterruptibleRunner
from aria_nav.core.speech.queue import Utterance
from aria_nav.core.speech.request import APPROACHING, APPROXIMATE, CRITICAL, METRIC, SpeechRequest
from aria_nav.core.speech.speaker import utterance_audio

DIRECTIONS = {"left": -30.0, "ahead": 0.0, "right": 30.0}  # bearing for the earcon's panning
NEAREST_M, FARTHEST_M = 0.3, 5.0


def spoken_distances(nearest_m: float = NEAREST_M, farthest_m: float = FARTHEST_M) -> List[float]:
    """One distance for each value said between the two (the rounding rules of aria_nav.core.speech.phrases)."""
    seen, distances = set(), []
    for centimetres in range(int(round(nearest_m * 100)), int(round(farthest_m * 100)) + 1):
        metres = centimetres / 100.0
        value = spoken_metres(metres)
        if value not in seen:
            seen.add(value)
            distances.append(metres)
    return distances


def critical_requests(classes: Iterable[str] = CRITICAL_CLASSES) -> List[SpeechRequest]:
    """Every critical request whose short sentence differs: class x side x (spoken distance, band, none)."""
    requests = []
    for name in sorted(classes):
        for direction, bearing in DIRECTIONS.items():
            base = dict(event=APPROACHING, urgency=CRITICAL, priority=1.0, key=f"rgb:{name}", stamp_ns=0,
                        class_name=name, direction=direction, bearing_deg=bearing)
            requests += [SpeechRequest(**base, distance_m=d, distance_kind=METRIC) for d in spoken_distances()]
            requests += [SpeechRequest(**base, distance_m=1.0, distance_kind=APPROXIMATE, band=band)
                         for band in BANDS]
            requests.append(SpeechRequest(**base))
    return requests


@dataclass(frozen=True)
class CriticalAudio:
    language: str
    words_per_minute: int
    durations: Tuple[Tuple[float, str], ...]  # (seconds, sentence), longest first

    def within(self, limit_s: float = CRITICAL_AUDIO_S) -> int:
        return sum(1 for d, _ in self.durations if d <= limit_s + 1e-9)

    def text(self) -> str:
        seconds = np.array([d for d, _ in self.durations])
        median, p95 = np.percentile(seconds, [50, 95])
        longest = "; ".join(f"{d:.2f} s '{t}'" for d, t in self.durations[:3])
        return (f"{self.language} at {self.words_per_minute} wpm, {len(seconds)} sentences: min {seconds.min():.2f} "
                f"s, median {median:.2f} s, p95 {p95:.2f} s, max {seconds.max():.2f} s; "
                f"<= {CRITICAL_AUDIO_S} s: {self.within()}/{len(seconds)}\n  longest: {longest}")


def measure(phrases: PhraseTable, engine, words_per_minute: Optional[int] = None, earcon: bool = True,
            requests: Sequence[SpeechRequest] = ()) -> CriticalAudio:
    """The duration of each distinct short critical sentence as the wearer hears it (earcon included), at
    `words_per_minute` (default: the language's critical rate, as the speech node uses it)."""
    rate = words_per_minute or phrases.critical_words_per_minute
    by_text = {}
    for request in requests or critical_requests():
        by_text.setdefault(phrases.sentence(request, SIDES, SHORT), request)

    def duration(item: Tuple[str, SpeechRequest]) -> Tuple[float, str]:
        text, request = item
        audio = utterance_audio(engine, InterruptibleRunner(), Utterance(text, request, 0.0), earcon, rate)
        return audio.duration_s, text

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # one espeak-ng process per core
        ordered = tuple(sorted(pool.map(duration, by_text.items()), reverse=True))
    return CriticalAudio(phrases.language, rate, ordered)
