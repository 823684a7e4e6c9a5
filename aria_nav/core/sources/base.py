"""What every frame source yields, and the one error it raises (ROS-free).

A source yields Frame and ImuSample items in device-time order. Frames are upright, with the calibration of the
image they carry (a linear pinhole unless the source was asked not to undistort). SourceError is the one error a
source raises for a file or device it cannot use; the camera node turns it into one line and exit code 2.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator, Tuple, Union

import cv2
import numpy as np

from aria_nav.core.camera_model import PinholeIntrinsics

RGB, SLAM_LEFT, SLAM_RIGHT, IMU = "rgb", "slam_left", "slam_right", "imu"
CAMERA_STREAMS = (RGB, SLAM_LEFT, SLAM_RIGHT)  # what the graph's detectors, depth and fusion read
# Aria Gen2 has four SLAM cameras: one pair feeds slam_left/slam_right, the other is published under its own name.
SLAM_PAIRS = ("side", "front")
EXTRA_CAMERA_STREAMS = tuple(f"slam_{pair}_{side}" for pair in SLAM_PAIRS for side in ("left", "right"))
ODOM = "odom"  # device poses from on-device VIO (Aria Gen2 recordings)
ALL_STREAMS = CAMERA_STREAMS + EXTRA_CAMERA_STREAMS + (IMU, ODOM)
_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")
PINHOLE = "plumb_bob"  # ROS distortion model name of an undistorted image (all coefficients zero)


class SourceError(Exception):
    """A file or device that cannot be used as a frame source; the message names it and the problem."""

    def __init__(self, where: Union[str, Path], problem: str):
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.problem = problem


@dataclass(frozen=True)
class Calibration:
    """Projection of a frame's image: pinhole intrinsics, plus distortion coefficients when the image is not
    undistorted (then `distortion_model` names the model, e.g. "fisheye624" for Aria's raw cameras)."""

    intrinsics: PinholeIntrinsics
    distortion_model: str = PINHOLE
    distortion: Tuple[float, ...] = ()

    @property
    def is_pinhole(self) -> bool:
        return self.distortion_model == PINHOLE and not any(self.distortion)

    def scaled(self, width: int, height: int) -> "Calibration":
        """The same camera at another resolution (the distortion coefficients act on normalised coordinates and
        do not change)."""
        return replace(self, intrinsics=self.intrinsics.scaled(width, height))


@dataclass(frozen=True)
class Frame:
    stream: str  # one of CAMERA_STREAMS or EXTRA_CAMERA_STREAMS
    device_ns: int  # capture time on the recording's (device) clock
    image: np.ndarray  # (H, W, 3) uint8 RGB or (H, W) uint8 grey, upright
    calibration: Calibration

    @property
    def encoding(self) -> str:
        return "rgb8" if self.image.ndim == 3 else "mono8"

    @property
    def size(self) -> Tuple[int, int]:
        """(width, height)"""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True)
class ImuSample:
    device_ns: int
    linear_acceleration: Tuple[float, float, float]  # m/s^2 (specific force), aria_imu axes (x fwd, y left, z up)
    angular_velocity: Tuple[float, float, float]  # rad/s
    stream: str = IMU


Item = Union[Frame, ImuSample]


def fitted_size(native: Tuple[int, int], requested: Tuple[int, int]) -> Tuple[int, int]:
    """The output (width, height) for a requested one: 0 x 0 = native, one side 0 = from the native aspect."""
    (native_width, native_height), (width, height) = native, requested
    if not width and not height:
        return native_width, native_height
    if not height:
        height = max(1, round(width * native_height / native_width))
    if not width:
        width = max(1, round(height * native_width / native_height))
    return width, height


def resize_frame(frame: Frame, width: int, height: int) -> Frame:
    """The frame at width x height with its calibration to match; 0 for a side keeps the native aspect (both 0:
    the native size). A size of another aspect than the image is a centred crop of the image to that aspect, then
    a scale: pixels stay square (fx == fy stays true), nothing is squashed."""
    native_width, native_height = frame.size
    width, height = fitted_size(frame.size, (width, height))
    if (width, height) == (native_width, native_height):
        return frame
    image, calibration = frame.image, frame.calibration
    crop_width = min(native_width, round(native_height * width / height))
    crop_height = min(native_height, round(native_width * height / width))
    if (crop_width, crop_height) != (native_width, native_height):
        left, top = (native_width - crop_width) // 2, (native_height - crop_height) // 2
        image = image[top:top + crop_height, left:left + crop_width]
        k = calibration.intrinsics
        calibration = replace(calibration, intrinsics=replace(k, width=crop_width, height=crop_height,
                                                              cx=k.cx - left, cy=k.cy - top))
    shrinking = width * height < crop_width * crop_height
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return replace(frame, image=image, calibration=calibration.scaled(width, height))


class FrameSource(ABC):
    """A recording or device that yields Frame/ImuSample items in device-time order.

    Subclasses set `provides` (the streams they can yield) and `description` (shown in logs and diagnostics);
    `live` sources (glasses, webcam) run at their own pace and are never looped.
    """

    provides: Tuple[str, ...] = ()
    live = False
    description = ""
    # Counters every source has (the camera node reports them): frames that could not be decoded and were skipped
    # (a video's broken frames), items the device sent that were dropped before they were read (live glasses).
    undecodable = 0
    dropped = 0

    def __init__(self, streams: Iterable[str]):
        requested = tuple(s for s in ALL_STREAMS if s in set(streams))
        self.streams = tuple(s for s in requested if s in self.provides)
        if not self.streams:
            raise SourceError(self.description or type(self).__name__,
                              f"provides none of the requested streams {list(requested)} "
                              f"(it has: {', '.join(self.provides) or 'nothing'})")

    @abstractmethod
    def items(self) -> Iterator[Item]:
        """Every item from the start, in device-time order; each call starts over (used for looping)."""

    def close(self) -> None:
        """Release the file or device."""


def check_file(path: Union[str, Path], kind: str) -> Path:
    """`path` as a Path if it is a non-empty regular file, else SourceError saying what is wrong."""
    path = Path(path).expanduser()
    if not path.exists():
        raise SourceError(path, f"{kind} file does not exist")
    if not path.is_file():
        raise SourceError(path, f"is not a {kind} file (it is a directory or a special file)")
    if path.stat().st_size == 0:
        raise SourceError(path, f"{kind} file is empty")
    return path


@contextlib.contextmanager
def native_output(sink: list):
    """Collects what native code (projectaria-tools, OpenCV) writes to stdout/stderr meanwhile into `sink`, as
    lines without colour codes: their logs stay out of the node's output, and errors can be reported in one line."""
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as capture:
        saved = [os.dup(1), os.dup(2)]
        try:
            for fd in (1, 2):
                os.dup2(capture.fileno(), fd)
            yield
        finally:
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
            capture.seek(0)
            sink.extend(_ANSI_CODE.sub("", capture.read().decode("utf-8", "replace")).splitlines())
