"""Scene description without ROS: the obstacle summary on scripted obstacle sets (both languages), the description
urgency in the speech request and queue, the time budget, and the random-weight SmolVLM-architecture model
end to end on CPU (built into a temp folder)."""
import math
import threading

import numpy as np
import pytest

from aria_nav.core.describe.budget import FALLBACK, FAILED, MODEL, DescriptionJob, run_model
from aria_nav.core.describe.summary import ENGLISH, SPANISH, SceneObstacle, summarize
from aria_nav.core.describe.vlm import TEST_MODEL_NOTICE, clean_sentence, merge
from aria_nav.core.speech.phrases import ENGLISH as SPEECH_EN
from aria_nav.core.speech.queue import DUPLICATE, INTERRUPT, QUEUED, REPLACED, SpeechQueue, Utterance
from aria_nav.core.speech.request import SpeechRequest, SpeechRequestError

NAN = math.nan
PERSON_AHEAD = SceneObstacle("person", "ahead", 2.0, "close", 7.0, 2.0)
CHAIR_LEFT = SceneObstacle("chair", "left", 1.0, "very_close", 2.1, -35.0)
FAR_CHAIR_LEFT = SceneObstacle("chair", "left", 4.0, "medium", 1.2, -30.0)
DOG_RIGHT_SIDE_CAMERA = SceneObstacle("dog", "right", NAN, "unknown", 0.3, 60.0, peripheral=True)
UMBRELLA_RIGHT = SceneObstacle("umbrella", "right", 3.0, "medium", 0.4, 20.0)


@pytest.mark.parametrize("obstacles, english, spanish", [
    ([CHAIR_LEFT, PERSON_AHEAD],
     "Ahead, a person at two meters. On your left, a chair at one meter. Clear on your right.",
     "Delante, una persona a dos metros. A tu izquierda, una silla a un metro. Despejado a tu derecha."),
    ([], "Nothing detected around you.", "No se detecta nada a tu alrededor."),
    ([PERSON_AHEAD], "Ahead, a person at two meters. Clear on both sides.",
     "Delante, una persona a dos metros. Despejado a ambos lados."),
    # The side with the more important obstacle first; unknown distances are not said; "an" before a vowel.
    ([UMBRELLA_RIGHT, DOG_RIGHT_SIDE_CAMERA, FAR_CHAIR_LEFT, CHAIR_LEFT],
     "On your left, a chair at one meter and a chair at four meters. On your right, an umbrella at three meters "
     "and a dog. Clear ahead.",
     "A tu izquierda, una silla a un metro y una silla a cuatro metros. A tu derecha, un paraguas a tres metros y "
     "un perro. Despejado delante."),
    # The walking corridor's hazards, by their names ("steps up" without an article).
    ([SceneObstacle("step down", "ahead", 2.0, "close", 9.0), SceneObstacle("steps up", "left", 3.0, "medium", 4.0),
      SceneObstacle("obstacle", "right", 1.0, "very_close", 5.0)],
     "Ahead, a step down at two meters. On your right, an obstacle at one meter. On your left, steps up at three "
     "meters.",
     "Delante, un escalón hacia abajo a dos metros. A tu derecha, un obstáculo a un metro. A tu izquierda, unos "
     "escalones hacia arriba a tres metros."),
])
def test_summary_of_scripted_obstacle_sets(obstacles, english, spanish):
    assert summarize(obstacles, ENGLISH) == english
    assert summarize(obstacles, SPANISH) == spanish
    assert summarize(list(reversed(obstacles)), ENGLISH) == english  # deterministic: input order does not matter


def test_summary_limits_bands_and_doubles():
    many = [SceneObstacle("chair", "ahead", 1.0 + i, "close", 3.0 - i * 0.1) for i in range(4)]
    assert summarize(many, ENGLISH, max_per_direction=2) == \
        "Ahead, a chair at one meter and a chair at two meters. Clear on both sides."
    # Approximate depth: bands, never metres.
    assert summarize([CHAIR_LEFT], ENGLISH, distance_kind="approximate") == \
        "On your left, a chair, very close. Clear ahead and on your right."
    # The side camera's person at the RGB person's bearing is the same person.
    double = SceneObstacle("person", "ahead", NAN, "unknown", 3.0, 10.0, peripheral=True)
    assert summarize([PERSON_AHEAD, double], ENGLISH) == "Ahead, a person at two meters. Clear on both sides."
    assert ENGLISH.no_vision and SPANISH.no_vision


def _description(text="Ahead, a person at two meters."):
    return SpeechRequest(event="description", urgency="describe", priority=0.0, key="describe", stamp_ns=1,
                         text=text)


def test_description_request_round_trip_and_validation():
    request = _description()
    assert SpeechRequest.from_json(request.to_json()) == request
    assert SPEECH_EN.sentence(request) == request.text
    for bad in (dict(urgency="info"), dict(text=""), dict(text="x" * 401)):
        fields = dict(event="description", urgency="describe", priority=0.0, key="d", stamp_ns=1, text="hello")
        with pytest.raises(SpeechRequestError):
            SpeechRequest(**{**fields, **bad})
    with pytest.raises(SpeechRequestError):  # the lowest urgency is for descriptions only
        SpeechRequest(event="degraded", urgency="describe", priority=0.0, key="v", stamp_ns=1, reason="depth")


def test_any_warning_interrupts_a_description_and_goes_first():
    queue = SpeechQueue()
    warning = SpeechRequest(event="obstacle", urgency="info", priority=1.0, key="rgb:1", stamp_ns=1,
                            class_name="chair", direction="left")
    assert queue.offer(Utterance("description", _description(), 0.0), 0.0)[0] == QUEUED
    assert queue.offer(Utterance("chair on your left", warning, 0.0), 0.0)[0] == QUEUED
    assert queue.take(lambda: 0.1).text == "chair on your left"  # a waiting description never delays a warning
    queue.done(0.2)
    assert queue.take(lambda: 0.3).text == "description"
    outcome, victim = queue.offer(Utterance("chair on your left again", warning, 0.4), 0.4)
    assert outcome == INTERRUPT and victim.text == "description"  # even info interrupts a description
    queue.done(0.5)
    # Asked again right after: said again (no repeat cooldown for what the wearer asks for).
    assert queue.offer(Utterance("description", _description(), 0.6), 0.6)[0] == QUEUED
    # A description never interrupts anything else; a newer one takes the waiting one's place.
    assert queue.take(lambda: 0.7).text == "chair on your left again"
    assert queue.offer(Utterance("other description", _description("Other."), 0.8), 0.8)[0] == REPLACED
    assert len(queue) == 1
    queue.done(0.9)
    # A newer description cuts the one being said (not the same one asked again: that goes on).
    assert queue.take(lambda: 1.0).text == "other description"
    assert queue.offer(Utterance("other description", _description("Other."), 1.1), 1.1)[0] == DUPLICATE
    outcome, victim = queue.offer(Utterance("newest description", _description("Newest."), 1.2), 1.2)
    assert outcome == INTERRUPT and victim.text == "other description"


def test_budget_settles_once_model_in_time_late_or_failing():
    job = DescriptionJob("Summary.", 5.0)
    said = []
    job.on_settled(said.append)
    run_model(job, lambda cancelled: "a door ahead", lambda sentence: f"Summary. {sentence}")
    assert job.expire() is False and [d.source for d in said] == [MODEL] and said[0].text == "Summary. a door ahead"

    job = DescriptionJob("Summary.", 0.01)
    started, stopped = threading.Event(), threading.Event()

    def slow(cancelled):
        started.set()
        while not cancelled():
            pass
        stopped.set()
        return "too late"

    worker = threading.Thread(target=run_model, args=(job, slow, lambda s: s))
    worker.start()
    started.wait(10)
    assert job.expire() and job.result.source == FALLBACK and job.result.text == "Summary."
    worker.join(10)
    assert stopped.is_set() and job.result.source == FALLBACK  # the model stopped; its late result was dropped

    job = DescriptionJob("Summary.", 5.0)
    run_model(job, lambda cancelled: 1 / 0, str)
    assert job.result.source == FAILED and job.result.text == "Summary." and "ZeroDivisionError" in job.result.detail


def test_model_sentence_is_cleaned_and_merged_after_the_summary():
    assert clean_sentence("  a door <b>ahead</b>, stairs on the left  ", 5) == "A door ahead, stairs on."
    assert clean_sentence("<end> ### ", 5) == ""
    assert merge("Clear on both sides.", "A door ahead.", "en", False) == "Clear on both sides. A door ahead."
    assert merge("Clear.", "", "en", True) == "Clear."
    assert merge("Clear.", "Door.", "es", True) == f"Clear. {TEST_MODEL_NOTICE['es']} Door."


@pytest.fixture(scope="module")
def test_vlm(tmp_path_factory):
    from aria_nav.core.describe.build import build_test_vlm

    return build_test_vlm(tmp_path_factory.mktemp("models"))


def test_random_weight_vlm_runs_end_to_end_on_cpu(test_vlm):
    from aria_nav.core.describe.build import build_test_vlm
    from aria_nav.core.describe.vlm import TransformersDescriber

    assert build_test_vlm(test_vlm.parent) == test_vlm  # up to date: not rebuilt
    describer = TransformersDescriber(test_vlm, "cpu", "auto", max_new_tokens=12)
    assert describer.test_model and describer.name == "smolvlm_test"
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    text = describer.describe(image, lambda: False)
    timing = describer.last_timing
    assert text.strip() and 1 <= timing.tokens <= 12 and timing.first_token_s is not None
    sentence = clean_sentence(text, 25)
    assert sentence and merge("Clear on both sides.", sentence, "en", True).startswith(
        "Clear on both sides. Test model, meaningless words: ")
    # Cancelled from the start: generation stops after its first token.
    assert describer.describe(image, lambda: True) is not None and describer.last_timing.tokens == 1


def test_describer_errors_name_the_model_and_real_models_are_never_overwritten(tmp_path, test_vlm):
    from aria_nav.core.describe.build import build_test_vlm
    from aria_nav.core.describe.vlm import DescriberError, TransformersDescriber
    from aria_nav.core.inference.interface import ModelError

    with pytest.raises(DescriberError, match="no config.json"):
        TransformersDescriber(tmp_path / "missing")
    real = tmp_path / "smolvlm_test"
    real.mkdir()
    (real / "config.json").write_text('{"model_type": "idefics3"}')
    with pytest.raises(ModelError, match="never overwritten"):
        build_test_vlm(tmp_path)


def test_benchmark_size_is_smolvlm_256m_class():
    """The random-weight build the GPU benchmark measures has SmolVLM-256M's size (counted without weights)."""
    import torch
    from transformers import Idefics3ForConditionalGeneration

    from aria_nav.core.describe.build import SMOLVLM_256M, vlm_config

    with torch.device("meta"):
        model = Idefics3ForConditionalGeneration(vlm_config(SMOLVLM_256M))
    assert 240e6 < sum(p.numel() for p in model.parameters()) < 270e6
