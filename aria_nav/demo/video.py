"""The demo's video (ROS-free): what the system saw and said, on the recording's timeline.

Annotated frames (fusion's view: obstacles boxed and labelled) are kept as JPEG as they arrive, with their arrival
time; utterances with the times they were spoken. The video runs at a fixed rate from the first annotated frame to
the end; each video frame shows the newest annotated frame that had arrived by then (so processing delay and
dropped frames show as they happened), the time, and the sentence being said, in a band coloured by urgency.
Frames after the input's end (the last sentence still being said) are dimmed and marked "recording ended".
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np

JPEG_QUALITY = 90
VIDEO_FPS = 10.0  # the recording rate of Aria RGB and of the sample
SAY_HOLD_S = 1.0  # a sentence stays on screen this long after it was said
BAND_COLOURS_BGR = {"info": (60, 160, 60), "warning": (0, 170, 255), "critical": (40, 40, 230)}


class VideoError(RuntimeError):
    """The video could not be written (codec, disk); the message says why."""


@dataclass(frozen=True)
class Utterance:
    start_s: float
    end_s: float
    text: str
    urgency: str


class AnnotatedVideo:
    """Collects frames and utterances (times in seconds of one clock, e.g. host time) and writes an MP4."""

    def __init__(self):
        self._times: List[float] = []
        self._jpegs: List[bytes] = []
        self.utterances: List[Utterance] = []

    @property
    def frame_count(self) -> int:
        return len(self._jpegs)

    def add_frame(self, arrival_s: float, rgb: np.ndarray) -> None:
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if ok:
            index = bisect.bisect_right(self._times, arrival_s)
            self._times.insert(index, arrival_s)
            self._jpegs.insert(index, jpeg.tobytes())

    def add_utterance(self, utterance: Utterance) -> None:
        self.utterances.append(utterance)

    def _saying(self, t: float) -> Optional[Utterance]:
        current = [u for u in self.utterances if u.start_s <= t <= u.end_s + SAY_HOLD_S]
        return max(current, key=lambda u: u.start_s) if current else None

    def write(self, path: Path, fps: float, start_s: float, end_s: float, input_end_s: Optional[float] = None) -> int:
        """Writes the timeline [start_s, end_s] at `fps`, from the first frame on; the time shown counts from
        start_s; frames after `input_end_s` are marked as after the end. Returns the frames written."""
        if not self._jpegs:
            return 0
        origin_s, start_s = start_s, max(start_s, self._times[0])
        end_s = max(end_s, start_s)
        first = cv2.imdecode(np.frombuffer(self._jpegs[0], np.uint8), cv2.IMREAD_COLOR)
        height, width = first.shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise VideoError(f"cannot write '{path}' (OpenCV has no mp4v encoder here, or the folder is not "
                             f"writable)")
        written, shown, image = 0, -1, first
        try:
            for k in range(int((end_s - start_s) * fps) + 1):
                t = start_s + k / fps
                index = bisect.bisect_right(self._times, t) - 1
                if index != shown:
                    image = cv2.imdecode(np.frombuffer(self._jpegs[index], np.uint8), cv2.IMREAD_COLOR)
                    if image.shape[:2] != (height, width):
                        image = cv2.resize(image, (width, height))
                    shown = index
                ended = input_end_s is not None and t > input_end_s
                writer.write(self._overlay(image, t - origin_s, self._saying(t), ended))
                written += 1
        finally:
            writer.release()
        return written

    @staticmethod
    def _overlay(image: np.ndarray, elapsed_s: float, saying: Optional[Utterance], ended: bool = False
                 ) -> np.ndarray:
        out = (image // 2) if ended else image.copy()
        height, width = out.shape[:2]
        scale = max(0.5, width / 1000)
        thickness = max(1, round(width / 500))
        if ended:
            cv2.putText(out, "recording ended", (width // 2 - int(150 * scale), int(30 * scale)),
                        cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
        cv2.putText(out, f"t = {elapsed_s:4.1f} s", (10, int(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), thickness + 2, cv2.LINE_AA)
        cv2.putText(out, f"t = {elapsed_s:4.1f} s", (10, int(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), thickness, cv2.LINE_AA)
        if saying is not None:
            band = int(60 * scale)
            cv2.rectangle(out, (0, height - band), (width, height), BAND_COLOURS_BGR.get(saying.urgency, (80, 80, 80)),
                          cv2.FILLED)
            cv2.putText(out, f"says: {saying.text}", (10, height - band // 3), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        (255, 255, 255), thickness, cv2.LINE_AA)
        return out

