"""Video files and webcams through OpenCV: an RGB stream only, with a pinhole camera of a given field of view.

A video file is replayed by its frame rate (frame i at i / fps on the recording's clock); a webcam is live: each
frame's device time is the host's monotonic clock when it was grabbed. Neither carries a calibration, so the
intrinsics assume a distortion-free camera whose horizontal field of view is `hfov_deg` (set it to your camera's).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Iterator, Union

import cv2
import numpy as np

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.sources.base import (RGB, Calibration, Frame, FrameSource, Item, SourceError, check_file,
                                        native_output)

DEFAULT_FPS = 30.0  # for files whose container does not say
# Failed reads in a row before the container's frame count is reached that are taken for undecodable frames (and
# skipped); more, and the video has ended (a container's frame count can be an estimate).
MAX_UNDECODABLE_IN_A_ROW = 25


def pinhole_for_fov(width: int, height: int, hfov_deg: float) -> PinholeIntrinsics:
    focal = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return PinholeIntrinsics(width, height, focal, focal, (width - 1) / 2.0, (height - 1) / 2.0)


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB if frame.ndim == 2 else cv2.COLOR_BGR2RGB)


class VideoFileSource(FrameSource):
    provides = (RGB,)

    def __init__(self, path: Union[str, Path], streams=(RGB,), hfov_deg: float = 70.0):
        self.path = check_file(path, "video")
        self.description = f"video {self.path}"
        super().__init__(streams)
        capture = self._open()
        try:
            with native_output([]):
                ok, first = capture.read()
            if not ok or first is None:
                raise SourceError(self.path, "no frame can be decoded from this video")
            fps = capture.get(cv2.CAP_PROP_FPS)
            self.fps = fps if fps and math.isfinite(fps) and fps > 0 else DEFAULT_FPS
            count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            self.frame_count = int(count) if count and math.isfinite(count) and count > 0 else 0  # 0: unknown
        finally:
            capture.release()
        self._calibration = Calibration(pinhole_for_fov(first.shape[1], first.shape[0], hfov_deg))
        self.undecodable = 0  # frames skipped because they could not be decoded, over all plays

    def _open(self) -> cv2.VideoCapture:
        with native_output([]):  # FFmpeg's complaints about a broken file; the error below says it
            capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(self.path, "cannot be opened as a video (unknown container or codec)")
        return capture

    def items(self) -> Iterator[Item]:
        capture = self._open()
        period_ns = 1e9 / self.fps
        index = 0
        failed_in_a_row = 0
        try:
            while True:
                ok, frame = capture.read()
                if ok and frame is not None:
                    failed_in_a_row = 0
                    yield Frame(RGB, int(round(index * period_ns)), _to_rgb(frame), self._calibration)
                elif index < self.frame_count and failed_in_a_row < MAX_UNDECODABLE_IN_A_ROW:
                    failed_in_a_row += 1
                    self.undecodable += 1
                else:
                    self.undecodable -= failed_in_a_row  # the failures were the end, not broken frames
                    return
                index += 1
        finally:
            capture.release()


class WebcamSource(FrameSource):
    provides = (RGB,)
    live = True

    def __init__(self, device: Union[int, str], streams=(RGB,), hfov_deg: float = 70.0):
        self.device = device
        self.description = f"webcam {device}"
        super().__init__(streams)
        with native_output([]):  # OpenCV's backend warnings; the error below says it
            self._capture = cv2.VideoCapture(device)
            ok, first = self._capture.read() if self._capture.isOpened() else (False, None)
        if not ok or first is None:
            self._capture.release()
            raise SourceError(self.description, "cannot be opened or delivers no frames")
        self._first = first
        self._calibration = Calibration(pinhole_for_fov(first.shape[1], first.shape[0], hfov_deg))
        self._closed = False

    def items(self) -> Iterator[Item]:
        frame, grabbed_ns = self._first, time.monotonic_ns()
        while not self._closed:
            yield Frame(RGB, grabbed_ns, _to_rgb(frame), self._calibration)
            ok, frame = self._capture.read()
            grabbed_ns = time.monotonic_ns()
            if not ok or frame is None:
                raise SourceError(self.description, "stopped delivering frames")

    def close(self) -> None:
        self._closed = True
        self._capture.release()
