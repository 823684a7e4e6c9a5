"""Where synthesized speech goes: a sound device through a command-line player, WAV files, or nowhere.

The WAV sink writes one file per utterance; by default (`realtime`) the speaker then holds for the audio's
duration as a sound device would, so queueing and interruption behave in tests and headless runs as on a device.
Its files are numbered on from the highest number already in the folder (a restart never overwrites what an
earlier run said), and each is written under a temporary name and renamed, so that a file with a WAV name is
always whole, even when the process is ended in the middle of writing it.
"""
from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from aria_nav.core.speech.audio import Audio
from aria_nav.core.speech.process import InterruptibleRunner

AUTO, DEVICE, WAV, NONE = "auto", "device", "wav", "none"
OUTPUTS = (AUTO, DEVICE, WAV, NONE)
# Players that read a WAV stream on stdin, in order of preference.
WAV_NAME = re.compile(r"^(\d+)_.*\.wav$")  # NNNNN_<urgency>_<event>.wav
PLAYERS = {"aplay": ["aplay", "-q", "-"], "paplay": ["paplay"], "pw-play": ["pw-play", "-"]}


class DeviceSink:
    kind = DEVICE

    def __init__(self, argv: List[str]):
        self._argv = argv

    def play(self, audio: Audio, runner: InterruptibleRunner, label: str) -> Optional[str]:
        runner.run(self._argv, audio.to_wav())  # returns when the sound has been played
        return None

    def hold_s(self, audio: Audio) -> float:
        return 0.0


class WavSink:
    kind = WAV

    def __init__(self, directory: Path, realtime: bool = True):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._realtime = realtime
        self._numbers = itertools.count(last_number(self.directory) + 1)

    def play(self, audio: Audio, runner: InterruptibleRunner, label: str) -> Optional[str]:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:40]
        path = self.directory / f"{next(self._numbers):05d}_{safe}.wav"
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(audio.to_wav())
        partial.replace(path)
        return str(path)

    def hold_s(self, audio: Audio) -> float:
        return audio.duration_s if self._realtime else 0.0


def last_number(directory: Path) -> int:
    """The highest utterance number of the WAV files in `directory` (0 when there are none)."""
    numbers = [int(match.group(1)) for match in (WAV_NAME.match(path.name) for path in directory.iterdir())
               if match]
    return max(numbers, default=0)


class SilentSink:
    """No audio output: the text is still logged and published."""

    kind = NONE

    def play(self, audio: Audio, runner: InterruptibleRunner, label: str) -> Optional[str]:
        return None

    def hold_s(self, audio: Audio) -> float:
        return 0.0


def find_player(preferred: Sequence[str] = tuple(PLAYERS)) -> Optional[List[str]]:
    for name in preferred:
        if name in PLAYERS and shutil.which(name):
            return [shutil.which(name)] + PLAYERS[name][1:]
    return None


def create_sink(output: str, wav_dir: str, realtime: bool) -> Tuple[object, Optional[str]]:
    """(sink, warning or None) for the `output` setting."""
    if output == WAV:
        return WavSink(Path(wav_dir).expanduser(), realtime), None
    if output == NONE:
        return SilentSink(), None
    player = find_player()
    if player is not None:
        return DeviceSink(player), None
    return SilentSink(), (f"no audio player found ({', '.join(PLAYERS)}): speech is only logged and published; "
                          "set output:=wav to write WAV files")
