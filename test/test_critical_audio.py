"""How long a critical warning lasts in the ear (aria_nav.core.evaluation.critical_audio): every short critical
sentence, synthesized with the real espeak-ng at the language's critical rate, earcon included. Deterministic
(same text, voice and rate give the same samples), so the durations are asserted."""
import shutil

import pytest

from aria_nav.cli import main
from aria_nav.core.evaluation.critical_audio import critical_requests, measure, spoken_distances
from aria_nav.core.hazards.names import CRITICAL_CLASSES
from aria_nav.core.speech.engines import EspeakEngine
from aria_nav.core.speech.phrases import CRITICAL_AUDIO_S, ENGLISH, SHORT, SIDES, SPANISH

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed: critical "
                                  "warnings are timed with the real TTS")


def test_the_set_is_every_critical_class_side_and_spoken_distance():
    distances = spoken_distances()
    assert distances[0] == 0.3 and distances[-1] == 4.75  # "under half" first; 4.75..5.0 is said "five"
    assert len(distances) == 1 + 25 + 5  # under half, 0.5..2.9 by 0.1, 3..5 by 0.5
    sentences = {ENGLISH.sentence(r, SIDES, SHORT) for r in critical_requests()}
    assert len(sentences) == len(CRITICAL_CLASSES) * 3 * (len(distances) + 4 + 1)  # + bands + no distance
    assert {"Head height left, under half.", "Step down ahead.", "Person right, a few meters away.",
            "Motorbike ahead, one point seven."} <= sentences


@needs_espeak
@pytest.mark.parametrize("table, words_per_minute", [(ENGLISH, 350), (SPANISH, 445)], ids=["en", "es"])
def test_critical_warnings_last_at_most_1_2_s(table, words_per_minute):
    result = measure(table, EspeakEngine(table.espeak_voice, 175))
    print("\n" + result.text())
    assert result.words_per_minute == words_per_minute
    assert result.within(CRITICAL_AUDIO_S) == len(result.durations), result.text()


@needs_espeak
def test_eval_guidance_critical_audio_prints_the_distribution_per_language(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "guidance", "--critical-audio"])
    out = capsys.readouterr().out
    assert "en at 350 wpm, 864 sentences" in out and "es at 445 wpm, 864 sentences" in out
    assert exit_info.value.code == 0 and "target (every critical warning <= 1.2 s): met" in out
