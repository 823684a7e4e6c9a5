"""The optional vision-language describer: one short sentence about the camera image, within a time budget.

Describer is the interface (describe(image, cancelled) -> sentence); TransformersDescriber runs a small
image-text-to-text model from a local transformers folder (SmolVLM / Idefics3 class: AutoProcessor with a chat
template, AutoModelForImageTextToText, greedy decoding). Generation stops as soon as `cancelled()` is true, so a
model past its budget frees the worker at the next token instead of finishing a sentence nobody will hear.

The model's words are trusted less than the obstacles: the spoken description is the obstacle summary first, then
the model's sentence (merge()). A test model (random weights, aria_nav.core.describe.build) is announced as such.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

import numpy as np

from aria_nav.core.describe.build import TEST_MODEL_KEY

DTYPES = ("auto", "float32", "float16", "bfloat16")  # auto: float16 on CUDA, float32 on CPU
# Short, spatial, no guessing: what a walking blind person can act on, in one sentence.
PROMPTS: Mapping[str, str] = {
    "en": "You are the eyes of a blind person who is walking. In one short sentence, say what is in front of them "
          "and where (ahead, left, right): the path, obstacles, doors, stairs, people. Only say what you can "
          "clearly see; do not guess, do not describe colours or style.",
    "es": "Eres los ojos de una persona ciega que camina. En una frase corta, di qué hay delante y dónde (delante, "
          "izquierda, derecha): el camino, obstáculos, puertas, escaleras, personas. Di solo lo que ves con "
          "claridad; no adivines, no describas colores ni estilo.",
}
TEST_MODEL_NOTICE: Mapping[str, str] = {"en": "Test model, meaningless words:", "es": "Modelo de prueba, palabras "
                                                                                      "sin sentido:"}


class DescriberError(Exception):
    """A describer that cannot be loaded (missing folder, not a supported model); one line for the user."""


class Describer:
    """Says what an image shows, in one short sentence."""

    name = "describer"
    test_model = False  # random weights: its words mean nothing

    def describe(self, image_rgb: np.ndarray, cancelled: Callable[[], bool]) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Timing:
    first_token_s: Optional[float]  # from the call to the first generated token (None: none)
    total_s: float
    tokens: int


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


class TransformersDescriber(Describer):
    def __init__(self, model_dir: Path, device: str = "cpu", dtype: str = "auto", max_new_tokens: int = 40,
                 language: str = "en"):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a node's log is lines, not progress bars
        model_dir = Path(model_dir).expanduser()
        config = model_dir / "config.json"
        if not config.is_file():
            raise DescriberError(f"vlm_model '{model_dir}' is not a transformers model folder (no config.json): "
                                 f"build the test one with `aria-nav models build-test`, or see docs/guidance.md "
                                 f"for real ones")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise DescriberError(f"vlm_device '{device}': CUDA is not available here")
        try:
            self.test_model = bool(json.loads(config.read_text()).get(TEST_MODEL_KEY))
            self.processor = AutoProcessor.from_pretrained(model_dir)
            self.model = AutoModelForImageTextToText.from_pretrained(
                model_dir, dtype=resolve_dtype(dtype, device)).to(device).eval()
        except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:
            raise DescriberError(f"vlm_model '{model_dir}' could not be loaded: {exc}".splitlines()[0]) from None
        self.name = model_dir.name
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.language = language
        self.last_timing: Optional[Timing] = None
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPTS[language]}]}]
        self._prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True)

    def describe(self, image_rgb: np.ndarray, cancelled: Callable[[], bool]) -> str:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        start = time.monotonic()
        first_token = []

        class StopWhenCancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                if not first_token:
                    first_token.append(time.monotonic() - start)
                return torch.full((input_ids.shape[0],), bool(cancelled()), dtype=torch.bool,
                                  device=input_ids.device)

        # One global view, no tiles: SmolVLM's tiling multiplies the image tokens (up to 17 x 64), and the time to
        # the first word with them, for detail a walking description does not need.
        inputs = self.processor(text=self._prompt, images=[image_rgb], return_tensors="pt",
                                do_image_splitting=False).to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                         stopping_criteria=StoppingCriteriaList([StopWhenCancelled()]))
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        self.last_timing = Timing(first_token[0] if first_token else None, time.monotonic() - start,
                                  int(new_tokens.shape[0]))
        return self.processor.decode(new_tokens, skip_special_tokens=True)


_MARKUP = re.compile(r"<[^>]*>")  # special tokens, tags
_NOT_SPOKEN = re.compile(r"[^\w\s.,;:!?'()%-]")


def clean_sentence(text: str, max_words: int) -> str:
    """The model's answer as something to read out: one line, no markup, at most `max_words` words, ending in a
    full stop ("" when nothing sayable is left)."""
    text = re.sub(r"\s+([.,;:!?])", r"\1", _NOT_SPOKEN.sub(" ", _MARKUP.sub(" ", text)))
    sentence = " ".join(text.split()[:max_words]).strip(" ,;:-")
    if not sentence:
        return ""
    return sentence[0].upper() + sentence[1:] + ("" if sentence[-1] in ".!?" else ".")


def merge(summary: str, model_sentence: str, language: str, test_model: bool) -> str:
    """What is said: the obstacle summary, then the model's sentence (announced as meaningless for a test model)."""
    if not model_sentence:
        return summary
    if test_model:
        model_sentence = f"{TEST_MODEL_NOTICE[language]} {model_sentence}"
    return f"{summary} {model_sentence}"
