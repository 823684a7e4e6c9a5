"""Speech without ROS: phrase tables, request format, the utterance queue, WAV reading, earcons, and the worker
with the real espeak-ng."""
import dataclasses
import json
import math
import shutil
import struct
import time

import numpy as np
import pytest

from aria_nav.core.speech.audio import Audio, AudioFormatError, earcon, parse_wav, prepend_earcon, trim_silence
from aria_nav.core.speech.engines import EngineUnavailable, EspeakEngine, PiperEngine, create_engine
from aria_nav.core.speech.output import WavSink
from aria_nav.core.speech.phrases import CLOCK, ENGLISH, LONG, SPANISH, spoken_metres
from aria_nav.core.speech.process import InterruptibleRunner
from aria_nav.core.speech.queue import DUPLICATE, INTERRUPT, QUEUED, REPLACED, SpeechQueue, Utterance
from aria_nav.core.speech.request import SpeechRequest, SpeechRequestError
from aria_nav.core.speech.speaker import Speaker

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def obstacle(urgency="warning", name="person", distance=2.0, direction="ahead", key="rgb:1", priority=5.0,
             event="obstacle", clock=12, bearing=0.0):
    return SpeechRequest(event=event, urgency=urgency, priority=priority, key=key, stamp_ns=1_700_000_000_123,
                         class_name=name, distance_m=distance, band="close", direction=direction, clock=clock,
                         bearing_deg=bearing, camera="rgb")


@pytest.mark.parametrize("metres,english,spanish", [
    (0.2, "under half a meter", "a menos de medio metro"), (0.49, "fifty centimeters", "a cincuenta centímetros"),
    (0.83, "eighty centimeters", "a ochenta centímetros"), (0.97, "one meter", "a un metro"),
    (1.18, "one point two meters", "a un metro veinte"), (1.5, "one and a half meters", "a un metro y medio"),
    (2.0, "two meters", "a dos metros"), (2.44, "two point four meters", "a dos metros cuarenta"),
    (2.97, "three meters", "a tres metros"), (3.3, "three and a half meters", "a tres metros y medio"),
    (4.6, "four and a half meters", "a cuatro metros y medio"), (7.1, "seven meters", "a siete metros"),
    (31.0, "more than twenty meters", "a más de veinte metros"),
])
def test_distances_are_spoken_naturally(metres, english, spanish):
    assert ENGLISH.distance(metres) == english
    assert SPANISH.distance(metres) == spanish


def test_spoken_distances_are_never_more_than_ten_percent_off():
    for metres in np.arange(0.475, 20.5, 0.001):
        spoken = spoken_metres(metres)
        assert abs(spoken - metres) / metres <= 0.1 + 1e-9, (metres, spoken)
    assert spoken_metres(0.3) is None and math.isinf(spoken_metres(25.0))


def test_sentences_per_language_and_direction_style():
    assert ENGLISH.sentence(obstacle()) == "person ahead, two meters"
    assert SPANISH.sentence(obstacle()) == "persona delante, a dos metros"
    assert ENGLISH.sentence(obstacle(name="chair", distance=None, direction="left")) == "chair on your left"
    assert SPANISH.sentence(obstacle(name="chair", distance=None, direction="left")) == "silla a tu izquierda"
    # Critical: the short form by default (what, where, how far), the long one on request.
    assert ENGLISH.sentence(obstacle(urgency="critical", distance=1.04)) == "Person ahead, one."
    assert ENGLISH.sentence(obstacle(urgency="critical", distance=1.2, direction="left", event="approaching")) \
        == "Person left, one point two."
    assert SPANISH.sentence(obstacle(urgency="critical", distance=1.2, direction="left")) == \
        "Persona izquierda uno veinte."
    # The short form's numbers are metres, rounded as always; long names have a short one there.
    short = {0.3: ("under half", "menos de medio"), 0.7: ("point seven", "cero setenta"), 1.0: ("one", "uno"),
             2.6: ("two point six", "dos sesenta"), 4.5: ("four and a half", "cuatro y medio")}
    for metres, (english, spanish) in short.items():
        assert ENGLISH.sentence(obstacle(urgency="critical", distance=metres)) == f"Person ahead, {english}."
        assert SPANISH.sentence(obstacle(urgency="critical", distance=metres)) == f"Persona delante {spanish}."
    for name, english, spanish in (("motorcycle", "Motorbike", "Moto"), ("bicycle", "Bicycle", "Bici"),
                                   ("head-height obstacle", "Head height", "Cabeza"),
                                   ("step down", "Step down", "Desnivel")):
        assert ENGLISH.sentence(obstacle(urgency="critical", name=name, direction="right", distance=2.0)) == \
            f"{english} right, two."
        assert SPANISH.sentence(obstacle(urgency="critical", name=name, direction="right", distance=2.0)) == \
            f"{spanish} derecha dos."
    assert ENGLISH.sentence(obstacle(urgency="critical", distance=1.04), form=LONG) == \
        "Careful, person ahead, one meter"
    assert SPANISH.sentence(obstacle(event="approaching", name="car", distance=1.4, direction="right")) == \
        "coche acercándose a tu derecha, a un metro cuarenta"
    assert ENGLISH.sentence(obstacle(clock=2, direction="right"), CLOCK) == "person at two o'clock, two meters"
    assert SPANISH.sentence(obstacle(clock=1, direction="right"), CLOCK) == "persona a la una, a dos metros"
    assert ENGLISH.sentence(obstacle(name="skateboard")) == "skateboard ahead, two meters"  # untranslated name
    # Approximate distances (relative depth model) are said as bands, never as metres.
    approximate = dataclasses.replace(obstacle(urgency="critical", distance=1.2), distance_kind="approximate",
                                      band="very_close")
    assert ENGLISH.sentence(approximate) == "Person ahead, very close."
    assert SPANISH.sentence(approximate) == "Persona delante muy cerca."
    degraded = SpeechRequest(event="degraded", urgency="warning", priority=100, key="vision:depth", stamp_ns=0,
                             reason="depth")
    assert ENGLISH.sentence(degraded) == "Vision degraded: distances are not available."
    assert SPANISH.sentence(degraded) == "Visión degradada: no hay distancias."


def test_request_json_round_trip_and_clear_errors():
    request = obstacle(distance=2.345, bearing=-12.34)
    body = json.loads(request.to_json())
    assert body["stamp"] == {"sec": 1700, "nanosec": 123} and body["distance_m"] == 2.35
    assert set(body) == {"event", "urgency", "priority", "key", "stamp", "class_name", "distance_m", "distance_kind",
                         "band", "direction", "clock", "bearing_deg", "camera"}
    back = SpeechRequest.from_json(request.to_json())
    assert back.stamp_ns == request.stamp_ns and back.class_name == "person" and back.bearing_deg == -12.3
    for text, problem in (("{", "not JSON"), ("[1]", "not a JSON object"), ('{"urgency": "info"}', "event"),
                          ('{"event": "boom", "urgency": "info"}', "unknown event 'boom'"),
                          ('{"event": "obstacle", "urgency": "loud"}', "unknown urgency 'loud'"),
                          ('{"event": "obstacle", "urgency": "info"}', "needs a class_name"),
                          ('{"event": "obstacle", "urgency": "info", "class_name": "x", "distance_m": "far"}',
                           "bad field value"),
                          ('{"event": "obstacle", "urgency": "info", "class_name": "x", "distance_m": -1}',
                           "not a distance"),
                          ('{"event": "obstacle", "urgency": "info", "class_name": "x", "distance_kind": "guess"}',
                           "unknown distance_kind 'guess'")):
        with pytest.raises(SpeechRequestError, match=problem):
            SpeechRequest.from_json(text)


def utterance(request, received=0.0, text=None):
    return Utterance(text or ENGLISH.sentence(request), request, received)


def test_queue_orders_by_urgency_then_priority_and_drops_stale_but_never_critical():
    queue = SpeechQueue(max_size=8, max_age_s=2.0)
    queue.offer(utterance(obstacle("info", name="bottle", key="a"), 0.0), 0.0)
    queue.offer(utterance(obstacle("warning", name="chair", key="b", priority=3), 0.1), 0.1)
    queue.offer(utterance(obstacle("warning", name="table", key="c", priority=4), 0.2), 0.2)
    queue.offer(utterance(obstacle("info", name="cup", key="d"), 0.3), 0.3)
    queue.offer(utterance(obstacle("critical", key="p"), 0.4), 0.4)
    assert queue.take(lambda: 0.5).request.key == "p"
    queue.done(0.55)
    assert queue.take(lambda: 0.5).text == "table ahead, two meters"
    queue.done(0.5)
    assert queue.take(lambda: 0.6).text == "chair ahead, two meters"
    queue.done(0.6)
    # bottle arrived at 0.0: stale at 2.1; cup (0.3) is still fresh.
    assert queue.take(lambda: 2.1).text == "cup ahead, two meters"
    assert queue.stats.stale == 1 and len(queue) == 0
    assert queue.take(lambda: 3.0, timeout=0.01) is None
    # A critical warning is never dropped for its age (a newer request about the obstacle replaces it).
    queue.offer(utterance(obstacle("critical", key="q", name="car"), 3.0), 3.0)
    assert queue.take(lambda: 9.0).request.key == "q" and queue.stats.stale == 1


def test_news_about_the_system_is_never_dropped_for_waiting():
    queue = SpeechQueue(max_size=8, max_age_s=2.0)
    ended = SpeechRequest(event="ended", urgency="info", priority=100.0, key="source:ended", stamp_ns=0)
    queue.offer(utterance(ended, 0.0), 0.0)
    queue.offer(utterance(obstacle("info", name="cup", key="d"), 0.0), 0.0)
    assert queue.take(lambda: 9.0).text == "End of recording."  # waited 9 s behind long warnings: still said
    assert queue.stats.stale == 1  # the cup is old news
    assert SPANISH.sentence(ended) == "Fin de la grabación."


def test_queue_repeats_are_judged_against_what_was_heard():
    queue = SpeechQueue(max_size=3, max_age_s=10.0, repeat_cooldown_s=2.0)
    chair = obstacle("warning", name="chair", key="k1")
    assert queue.offer(utterance(chair, 0.0), 0.0)[0] == QUEUED
    # A refreshed request about the same obstacle takes the queued one's place, even with the same words.
    assert queue.offer(utterance(chair, 0.1), 0.1)[0] == REPLACED
    speaking = queue.take(lambda: 0.2)
    assert queue.offer(utterance(chair, 1.0), 1.0)[0] == DUPLICATE  # being said
    queue.done(0.25)  # heard from 0.25
    assert queue.offer(utterance(chair, 2.2), 2.2)[0] == DUPLICATE  # heard 1.95 s ago
    assert queue.offer(utterance(obstacle("critical", name="chair", key="k1"), 2.2, speaking.text), 2.2)[0] \
        == QUEUED  # more urgent: said again
    queue.take(lambda: 2.3)
    queue.done(2.3)
    assert queue.offer(utterance(chair, 4.2), 4.2)[0] == DUPLICATE  # heard (critically) from 2.3
    assert queue.offer(utterance(chair, 4.4), 4.4)[0] == QUEUED  # cooldown over
    queue.take(lambda: 4.5)
    queue.done(None)  # interrupted: the wearer did not hear it, so it is no repeat
    assert queue.offer(utterance(chair, 4.6), 4.6)[0] == QUEUED
    for i, name in enumerate(("cup", "bowl", "vase")):
        queue.offer(utterance(obstacle("info", name=name, key=name, priority=i), 5.0), 5.0)
    assert len(queue) == 3 and queue.stats.overflow == 1  # the least important (cup, info, priority 0) dropped


def test_critical_cuts_the_less_urgent_and_its_own_wrong_words_but_waits_for_another_critical():
    queue = SpeechQueue(max_size=8, max_age_s=10.0)
    queue.offer(utterance(obstacle("warning", name="chair", key="c"), 0.0), 0.0)
    warning = queue.take(lambda: 0.0, timeout=1.0)
    outcome, victim = queue.offer(utterance(obstacle("critical", key="p", distance=2.0), 0.1), 0.1)
    assert outcome == INTERRUPT and victim is warning
    queue.done(None)
    person = queue.take(lambda: 0.1)
    assert person.text == "Person ahead, two."
    # About the same obstacle, now nearer, with nothing else critical waiting: the words being said are wrong,
    # they are cut and the newer ones said at once.
    outcome, victim = queue.offer(utterance(obstacle("critical", key="p", distance=1.5), 0.15), 0.15)
    assert outcome == INTERRUPT and victim is person
    # Words being cut are not heard: the same words asked for again are not a duplicate of them.
    assert queue.offer(utterance(obstacle("critical", key="p", distance=2.0), 0.16), 0.16)[0] == REPLACED
    queue.done(None)
    person = queue.take(lambda: 0.17)
    assert person.text == "Person ahead, two."
    # About another obstacle: not cut (a short warning), said next -- before a later critical one.
    assert queue.offer(utterance(obstacle("critical", name="bicycle", key="b", direction="right"), 0.2), 0.2) \
        == (QUEUED, None)
    assert queue.offer(utterance(obstacle("critical", name="car", key="x", priority=50), 0.3), 0.3) == \
        (QUEUED, None)
    # About the same obstacle while others wait: cutting would not bring the newer words sooner (the bicycle and
    # the car are first), so the sentence ends; the newer words wait their turn.
    assert queue.offer(utterance(obstacle("critical", key="p", distance=1.2), 0.4), 0.4) == (QUEUED, None)
    # A refreshed request keeps the place of the one it replaces: its deadline is the older one's.
    assert queue.offer(utterance(obstacle("critical", name="bicycle", key="b", direction="right", distance=1.8),
                                 0.45), 0.45) == (REPLACED, None)
    queue.done(0.5)
    said = [queue.take(lambda: 0.5, timeout=1.0) for _ in range(3)]
    assert [u.request.key for u in said] == ["b", "x", "p"] and said[0].text == "Bicycle right, one point eight."
    assert said[2].text == "Person ahead, one point two."
    queue.done(0.6)
    # The same words while they are being said (not cut): a duplicate, not a restart.
    assert queue.offer(utterance(obstacle("critical", key="p", distance=1.2), 0.7), 0.7)[0] == DUPLICATE


def streamed_wav(samples, rate=22050):
    """A WAV as a TTS engine writes it to a pipe: placeholder sizes."""
    header = b"RIFF" + struct.pack("<I", 0x7FFFF000) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + fmt + b"data" + struct.pack("<I", 0x7FFFF000) + samples.astype("<i2").tobytes() + b"\x01"


def test_parse_streamed_and_regular_wav_and_reject_others():
    samples = (np.sin(np.arange(2205) / 5.0) * 8000).astype(np.int16)
    audio = parse_wav(streamed_wav(samples))
    assert audio.sample_rate == 22050 and audio.channels == 1 and np.array_equal(audio.samples[:, 0], samples)
    again = parse_wav(audio.to_wav())
    assert np.array_equal(again.samples, audio.samples) and again.duration_s == pytest.approx(0.1)
    with pytest.raises(AudioFormatError, match="RIFF"):
        parse_wav(b"hello world, not audio")
    float_wav = bytearray(streamed_wav(samples))
    float_wav[20:22] = struct.pack("<H", 3)  # IEEE float format code
    with pytest.raises(AudioFormatError, match="16-bit PCM"):
        parse_wav(bytes(float_wav))


def test_earcon_is_panned_towards_the_bearing():
    left, centre, right = (earcon(b, 22050) for b in (-90.0, 0.0, 60.0))
    level = lambda a, ch: float(np.sqrt(np.mean(a.samples[:, ch].astype(float) ** 2)))  # noqa: E731
    assert level(left, 1) < 1.0 < level(left, 0)
    assert level(centre, 0) == pytest.approx(level(centre, 1), rel=1e-3)
    assert level(right, 1) > 3 * level(right, 0)
    speech = Audio(np.full((1000, 1), 1000, np.int16), 22050)
    cued = prepend_earcon(speech, -30.0)
    assert cued.channels == 2 and cued.samples.shape[0] == 1000 + centre.samples.shape[0] + int(0.03 * 22050)


def test_silence_around_a_sentence_is_trimmed():
    samples = np.zeros((22050, 1), np.int16)
    samples[5000:12000] = 3000  # 0.32 s of sound in a second of audio
    trimmed = trim_silence(Audio(samples, 22050))
    assert trimmed.samples.shape[0] == 7000 + 2 * int(0.02 * 22050)
    silent = Audio(np.zeros((100, 1), np.int16), 22050)
    assert trim_silence(silent).samples.shape[0] == 100


def test_missing_engines_are_reported_clearly():
    with pytest.raises(EngineUnavailable, match="'no-such-tts' is not installed"):
        EspeakEngine("en", 175, executable="no-such-tts")
    with pytest.raises(EngineUnavailable, match="piper"):
        PiperEngine("/nonexistent/voice.onnx")


@needs_espeak
def test_piper_falls_back_to_espeak_with_a_warning():
    engine, warning = create_engine("piper", "en-us", 175, "/nonexistent/voice.onnx")
    assert isinstance(engine, EspeakEngine) and "piper chosen but unusable" in warning


@needs_espeak
def test_espeak_writes_audible_speech_in_both_languages(tmp_path):
    runner = InterruptibleRunner()
    for voice, text in (("en-us", ENGLISH.sentence(obstacle())), ("es", SPANISH.sentence(obstacle()))):
        audio = EspeakEngine(voice, 175).synthesize(text, runner)
        assert 0.8 < audio.duration_s < 4.0 and audio.rms() > 0.02, (voice, audio.duration_s, audio.rms())
    # A sentence that starts like an option is read as text, not parsed.
    assert EspeakEngine("en-us", 175).synthesize("-v nothing", runner).duration_s > 0.3


@needs_espeak
def test_speaker_interrupts_a_warning_for_a_critical_one(tmp_path):
    records = []
    speaker = Speaker(ENGLISH, "sides", EspeakEngine("en-us", 175), WavSink(tmp_path, realtime=True),
                      SpeechQueue(), time.monotonic, records.append)
    try:
        speaker.say(obstacle("warning", name="chair", direction="left", key="c"))
        deadline = time.monotonic() + 5.0
        while speaker.queue.speaking is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        sent = time.monotonic()
        assert speaker.say(obstacle("critical", distance=1.0, key="p", bearing=-20.0)) == INTERRUPT
        while len(records) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        speaker.close()
    first, second = records
    assert first.interrupted and first.ended_s - sent < 1.0
    assert not second.interrupted and second.text == "Person ahead, one."
    assert second.started_s - sent < 1.0
    assert second.capture_to_ear_s == pytest.approx(second.started_s - second.request.stamp_ns / 1e9)
    audio = parse_wav(open(second.wav_path, "rb").read())
    assert audio.channels == 2  # the earcon made it stereo
    tone = audio.samples[: int(0.1 * audio.sample_rate)].astype(float)
    assert np.sqrt(np.mean(tone[:, 0] ** 2)) > np.sqrt(np.mean(tone[:, 1] ** 2))  # panned left (-20 deg)


@needs_espeak
def test_speaker_cuts_its_own_wrong_words_only_when_the_newer_ones_come_next(tmp_path):
    """Real espeak-ng audio into realtime WAV files. Critical warnings said slowly (80 wpm, several seconds each),
    so that every request below arrives while the sentence it is about is still being said, however busy the
    machine."""
    records = []
    speaker = Speaker(ENGLISH, "sides", EspeakEngine("en-us", 175), WavSink(tmp_path, realtime=True),
                      SpeechQueue(max_age_s=30.0), time.monotonic, records.append, critical_words_per_minute=80)

    def wait_for(condition, what):
        deadline = time.monotonic() + 60.0
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert condition(), what

    try:
        assert speaker.say(obstacle("critical", distance=2.0, key="p")) == QUEUED
        wait_for(lambda: speaker.queue.speaking is not None, "the person's warning began")
        # Another critical waits: the person's now-wrong words are not cut (cutting would bring the newer words no
        # sooner); the two waiting are then said together, the nearest first.
        assert speaker.say(obstacle("critical", name="bicycle", direction="right", key="b", bearing=30.0)) == QUEUED
        assert speaker.say(obstacle("critical", distance=1.2, key="p")) == QUEUED
        wait_for(lambda: len(records) == 3, "the person's warning and the two together were said")
        assert speaker.say(obstacle("critical", distance=1.0, key="p")) == QUEUED
        wait_for(lambda: speaker.queue.speaking is not None, "the newer words about the person began")
        time.sleep(0.5)  # most likely heard by now (synthesis takes well under 0.1 s on an idle machine)
        # Nothing else waits: words now wrong are cut, the newer ones said at once.
        assert speaker.say(obstacle("critical", distance=0.8, key="p")) == INTERRUPT
        wait_for(lambda: len(records) == 5, "the cut sentence and the newest words were reported")
    finally:
        speaker.close()
    together = "Person ahead, one point two; bicycle right."
    assert [(r.text, r.request.key, r.interrupted) for r in records] == [
        ("Person ahead, two.", "p", False), (together, "p", False), (together, "b", False),
        ("Person ahead, one.", "p", True), ("Person ahead, point eight.", "p", False)]
    assert speaker.queue.stats.merged == 2
    first, merged, _, cut, newest = records
    assert all(r.error is None for r in records) and first.audio_s > 1.0 and merged.audio_s > first.audio_s
    assert first.ended_s <= merged.started_s and merged.ended_s - merged.started_s >= merged.audio_s - 0.05
    assert first.ended_s - first.started_s >= first.audio_s - 0.05  # heard in full
    if cut.started_s is not None:  # cut while it was heard (else while it was synthesized)
        assert cut.ended_s - cut.started_s < cut.audio_s
    assert newest.started_s >= cut.ended_s and newest.ended_s - newest.started_s >= newest.audio_s - 0.05


def test_critical_warnings_waiting_together_are_said_as_one_nearest_first():
    queue = SpeechQueue(max_size=8, max_age_s=10.0)
    queue.offer(utterance(obstacle("critical", key="p", distance=2.0)), 0.0)
    assert queue.take(lambda: 0.0, combine=ENGLISH.combined).text == "Person ahead, two."  # alone: as itself
    for key, name, direction, distance in (("b", "bicycle", "right", 2.5), ("c", "car", "left", 1.5),
                                           ("q", "person", "right", None)):
        queue.offer(utterance(obstacle("critical", name=name, key=key, direction=direction, distance=distance)), 0.1)
    queue.offer(utterance(obstacle("warning", name="chair", key="w")), 0.1)
    queue.done(0.0)
    together = queue.take(lambda: 0.2, combine=ENGLISH.combined)
    assert together.text == "Car left, one and a half; bicycle right; person right."
    assert [m.request.key for m in together.members] == ["c", "b", "q"] and together.request.key == "c"
    assert [u.request.key for u in queue.pending()] == ["w"] and queue.stats.merged == 3
    # Said together, not cut by news about one of them (the others would be lost). The first's words are being
    # said (a repeat of them is dropped); the others' distances are not, so their words are no repeat.
    car = obstacle("critical", name="car", key="c", direction="left", distance=1.5)
    assert queue.offer(utterance(car), 0.3)[0] == DUPLICATE
    outcome, _ = queue.offer(utterance(obstacle("critical", name="car", key="c", direction="left", distance=1.0)), 0.3)
    assert outcome == QUEUED
    queue.done(0.2)
    assert queue.offer(utterance(obstacle("critical", name="bicycle", key="b", direction="right", distance=2.5)),
                       0.4)[0] == QUEUED
    assert queue.take(lambda: 0.4, combine=ENGLISH.combined).text == "Car left, one; bicycle right."
    assert SPANISH.combined([m.request for m in together.members]) == \
        "Coche izquierda uno y medio; bici derecha; persona derecha."
