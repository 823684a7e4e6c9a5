"""The speech worker: phrases requests, synthesizes and plays them on its own thread, so the ROS executor never
waits for audio; a critical request interrupts an utterance (the queue says which) by killing its synthesis or
playback. Critical warnings are said at `critical_words_per_minute` (None or 0: the language's own,
PhraseTable.critical_words_per_minute), and the silence the engine puts around a
sentence is trimmed, so the next warning is not held up by it."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Optional

from aria_nav.core.speech.audio import prepend_earcon, trim_silence
from aria_nav.core.speech.phrases import SHORT, PhraseTable
from aria_nav.core.speech.process import Cancelled, InterruptibleRunner
from aria_nav.core.speech.queue import INTERRUPT, SpeechQueue, Utterance
from aria_nav.core.speech.request import CRITICAL, SpeechRequest


@dataclass
class SpokenRecord:
    """One utterance's fate, for the spoken topic and the log. Times in seconds of the speaker's clock."""

    text: str
    request: SpeechRequest
    received_s: float
    started_s: Optional[float]  # when audio output began (None: interrupted or failed before)
    ended_s: float
    interrupted: bool
    wav_path: Optional[str]
    audio_s: float  # duration of the synthesized audio (0 without an engine)
    error: Optional[str] = None

    @property
    def capture_to_ear_s(self) -> Optional[float]:
        """From the source frame's stamp to the start of the audio (None: never started, or no stamp)."""
        if self.started_s is None or not self.request.stamp_ns:
            return None
        return self.started_s - self.request.stamp_ns / 1e9


def utterance_audio(engine, runner: InterruptibleRunner, utterance: Utterance, earcon: bool,
                    critical_words_per_minute: Optional[int]):
    """The audio of an utterance as the wearer hears it: synthesized (critical warnings at their rate), silence
    trimmed, the earcon first for a critical warning with a bearing."""
    request = utterance.request
    critical = request.urgency == CRITICAL
    audio = trim_silence(engine.synthesize(utterance.text, runner, critical_words_per_minute if critical else None))
    if earcon and critical and request.bearing_deg is not None:
        audio = prepend_earcon(audio, request.bearing_deg)
    return audio


class Speaker:
    def __init__(self, phrases: PhraseTable, direction_style: str, engine, sink, queue: SpeechQueue,
                 now_fn: Callable[[], float], on_spoken: Callable[[SpokenRecord], None], earcon: bool = True,
                 form: str = SHORT, critical_words_per_minute: Optional[int] = None):
        self.phrases = phrases
        self._direction_style = direction_style
        self._form = form
        self._critical_wpm = critical_words_per_minute or phrases.critical_words_per_minute
        self._engine = engine  # None: no TTS engine here, text only
        self._sink = sink
        self.queue = queue
        self._now = now_fn
        self._on_spoken = on_spoken
        self._earcon = earcon
        self._runner = InterruptibleRunner()
        self._lock = threading.Lock()
        self._current: Optional[Utterance] = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="speech", daemon=True)
        self._thread.start()

    def say(self, request: SpeechRequest) -> str:
        """Queues the request (never blocks); returns the queue's outcome."""
        text = self.phrases.sentence(request, self._direction_style, self._form)
        outcome, victim = self.queue.offer(Utterance(text, request, self._now()), self._now())
        if outcome == INTERRUPT:
            with self._lock:
                if self._current is victim:
                    self._runner.cancel()
        return outcome

    def close(self, timeout: float = 0.5) -> None:
        """Stop: the utterance in progress is cancelled (its synthesis or player killed), the worker joined for at
        most `timeout` s (well inside a node's shutdown budget, aria_nav.ros.runtime)."""
        self._stopping = True
        self.queue.close()
        with self._lock:
            self._runner.cancel()
        self._thread.join(timeout)

    def combined(self, requests) -> str:
        """Critical warnings waiting together, phrased as one sentence (SpeechQueue.take merges them)."""
        return self.phrases.combined(requests, self._direction_style)

    def _run(self) -> None:
        combine = self.combined if self._form == SHORT else None  # the long form is said one by one
        while not self._stopping:
            utterance = self.queue.take(self._now, timeout=0.2, combine=combine)
            if utterance is not None:
                self._speak(utterance)

    def _speak(self, utterance: Utterance) -> None:
        with self._lock:
            if self._stopping:
                return
            self._current = utterance
            self._runner.reset()
        started = wav_path = error = None
        interrupted, audio_s = False, 0.0
        try:
            if self._engine is not None:
                request = utterance.request
                audio = utterance_audio(self._engine, self._runner, utterance, self._earcon, self._critical_wpm)
                audio_s = audio.duration_s
                started = self._now()
                wav_path = self._sink.play(audio, self._runner, f"{request.urgency}_{request.event}")
                hold = self._sink.hold_s(audio)  # a file sink lasts as long as the sound would
                if hold:
                    self._runner.sleep(hold)
            else:
                started = self._now()
        except Cancelled:
            interrupted = True
        except Exception as exc:  # noqa: BLE001 - one failed utterance is reported, the worker goes on
            error = str(exc)
        finally:
            with self._lock:
                self._current = None
            self.queue.done(started if not interrupted and error is None else None)
        ended = self._now()
        for said in utterance.members or (utterance,):  # each request's fate, a merged one's too
            self._on_spoken(SpokenRecord(utterance.text, said.request, said.received_s, started, ended, interrupted,
                                         wav_path, audio_s, error))
