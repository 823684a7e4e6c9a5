"""Text-to-speech engines, each run as a subprocess (so a critical warning can kill it mid-sentence).

espeak-ng is the default: small, fast (well under 0.1 s for a sentence), many languages, in every Linux
distribution. piper (neural, nicer voice) is optional: the piper-tts Python package and a voice model (.onnx
with its .onnx.json) are needed; when it is chosen but missing, the node warns and uses espeak-ng.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

from aria_nav.core.speech.audio import Audio, parse_wav
from aria_nav.core.speech.process import InterruptibleRunner

ESPEAK, PIPER = "espeak-ng", "piper"
ENGINES = (ESPEAK, PIPER)


class EngineUnavailable(RuntimeError):
    """The chosen engine cannot run here (program, package or voice missing)."""


class EspeakEngine:
    name = ESPEAK

    def __init__(self, voice: str, words_per_minute: int, executable: str = "espeak-ng"):
        path = shutil.which(executable)
        if path is None:
            raise EngineUnavailable(f"'{executable}' is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
        self._path, self._voice, self.words_per_minute = path, voice, words_per_minute

    def synthesize(self, text: str, runner: InterruptibleRunner, words_per_minute: Optional[int] = None) -> Audio:
        """`words_per_minute`: this sentence's rate (critical warnings are said faster), default the engine's."""
        rate = words_per_minute or self.words_per_minute
        # Text on stdin, never as an argument: a sentence starting with '-' must not be read as an option.
        argv = [self._path, "-v", self._voice, "-s", str(rate), "--stdin", "--stdout"]
        return parse_wav(runner.run(argv, text.encode("utf-8")))


class PiperEngine:
    name = PIPER

    def __init__(self, model: str):
        if importlib.util.find_spec("piper") is None:
            raise EngineUnavailable("the piper-tts package is not installed (pip install piper-tts)")
        if not model or not Path(model).is_file():
            raise EngineUnavailable(f"piper voice model '{model}' is not a file (download a voice: "
                                    "python -m piper.download_voices <voice>)")
        self._model = model

    def synthesize(self, text: str, runner: InterruptibleRunner, words_per_minute: Optional[int] = None) -> Audio:
        """piper has no rate in words per minute: `words_per_minute` is ignored."""
        handle, path = tempfile.mkstemp(suffix=".wav", prefix="aria_nav_piper_")
        os.close(handle)
        try:
            runner.run([sys.executable, "-m", "piper", "-m", self._model, "-f", path, "--", text])
            return parse_wav(Path(path).read_bytes())
        finally:
            os.unlink(path)


def create_engine(name: str, voice: str, words_per_minute: int, piper_model: str):
    """(engine, warning or None): piper falls back to espeak-ng with a warning; EngineUnavailable when no engine
    can run at all."""
    warning: Optional[str] = None
    if name == PIPER:
        try:
            return PiperEngine(piper_model), None
        except EngineUnavailable as exc:
            warning = f"piper chosen but unusable ({exc}); using espeak-ng"
    return EspeakEngine(voice, words_per_minute), warning
