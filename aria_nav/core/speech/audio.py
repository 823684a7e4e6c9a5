"""PCM audio as numpy: reading the WAV a TTS engine streams out, writing WAV, loudness, and the earcon.

TTS engines writing to a pipe cannot seek back to fill in the RIFF sizes, so they put placeholders there
(espeak-ng writes 0x7ffff000); the reader takes the data chunk to the end of what was received instead.
"""
from __future__ import annotations

import io
import math
import struct
import wave
from dataclasses import dataclass

import numpy as np


class AudioFormatError(ValueError):
    """Bytes that are not 16-bit PCM WAV."""


@dataclass
class Audio:
    samples: np.ndarray  # int16, (frames, channels)
    sample_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / float(self.sample_rate)

    def to_wav(self) -> bytes:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(self.channels)
            out.setsampwidth(2)
            out.setframerate(self.sample_rate)
            out.writeframes(np.ascontiguousarray(self.samples, "<i2").tobytes())
        return buffer.getvalue()

    def rms(self) -> float:
        """Root mean square level, 1.0 = full scale."""
        if self.samples.size == 0:
            return 0.0
        return float(np.sqrt(np.mean((self.samples.astype(np.float64) / 32768.0) ** 2)))


def parse_wav(data: bytes) -> Audio:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFormatError("not a RIFF/WAVE stream")
    offset, fmt = 12, None
    while offset + 8 <= len(data):
        chunk_id, size = data[offset:offset + 4], struct.unpack("<I", data[offset + 4:offset + 8])[0]
        body = offset + 8
        if chunk_id == b"fmt ":
            audio_format, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body:body + 16])
            if audio_format != 1 or bits != 16 or channels < 1:
                raise AudioFormatError(f"need 16-bit PCM, got format {audio_format}, {bits} bits, {channels} ch")
            fmt = (channels, rate)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioFormatError("data chunk before fmt chunk")
            channels, rate = fmt
            payload = data[body:min(len(data), body + size)]
            usable = len(payload) - len(payload) % (2 * channels)
            samples = np.frombuffer(payload[:usable], "<i2").reshape(-1, channels)
            return Audio(samples.astype(np.int16), rate)
        offset = body + size + (size & 1)
    raise AudioFormatError("no data chunk")


def trim_silence(audio: Audio, threshold: float = 0.01, keep_s: float = 0.02) -> Audio:
    """The audio without the silence a TTS engine puts before and after a sentence (espeak-ng: 0.1-0.3 s at the
    end): the next warning starts that much sooner. `keep_s` of it stays on each side, so nothing clicks."""
    if audio.samples.size == 0:
        return audio
    loud = np.nonzero(np.abs(audio.samples.astype(np.int32)).max(axis=1) > threshold * 32767)[0]
    if loud.size == 0:
        return audio
    keep = int(keep_s * audio.sample_rate)
    first, last = max(0, int(loud[0]) - keep), min(audio.samples.shape[0], int(loud[-1]) + 1 + keep)
    return Audio(audio.samples[first:last], audio.sample_rate)


def earcon(bearing_deg: float, sample_rate: int, duration_s: float = 0.1, frequency_hz: float = 880.0,
           level: float = 0.5) -> Audio:
    """A short stereo tone panned towards the bearing (constant-power pan, fully to one side at 90 degrees),
    with 5 ms fades so it does not click."""
    frames = max(1, int(round(duration_s * sample_rate)))
    t = np.arange(frames) / sample_rate
    tone = np.sin(2.0 * math.pi * frequency_hz * t) * level
    fade = min(frames // 2, int(0.005 * sample_rate))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        tone[:fade] *= ramp
        tone[-fade:] *= ramp[::-1]
    pan = float(np.clip(bearing_deg / 90.0, -1.0, 1.0))
    angle = (pan + 1.0) * math.pi / 4.0
    stereo = np.stack([tone * math.cos(angle), tone * math.sin(angle)], axis=1)
    return Audio((stereo * 32767.0).astype(np.int16), sample_rate)


def prepend_earcon(speech: Audio, bearing_deg: float, gap_s: float = 0.03) -> Audio:
    """The earcon, a short pause, then the speech (made stereo)."""
    cue = earcon(bearing_deg, speech.sample_rate)
    voice = speech.samples if speech.channels == 2 else np.repeat(speech.samples[:, :1], 2, axis=1)
    silence = np.zeros((int(gap_s * speech.sample_rate), 2), np.int16)
    return Audio(np.concatenate([cue.samples, silence, voice]), speech.sample_rate)
