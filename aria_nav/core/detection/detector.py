"""YOLO detection on one frame, whatever the backend: letterbox -> runner -> post-processing, timed per stage."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from aria_nav.core.detection.classes import NAVIGATION_CLASSES, class_names_for, resolve_classes
from aria_nav.core.detection.letterbox import LetterboxInput
from aria_nav.core.detection.postprocess import (OutputLayoutError, PostprocessConfig, check_output_layout,
                                                 decode)
from aria_nav.core.detection.detections import Detections
from aria_nav.core.inference.interface import ModelError, ModelRunner

DEFAULT_INPUT_SIZE = 640
DEFAULT_STRIDE = 32


class InputSizeError(ModelError):
    """A configured input size the model cannot take."""


@dataclass(frozen=True)
class DetectorConfig:
    conf_threshold: float = PostprocessConfig.conf_threshold
    iou_threshold: float = PostprocessConfig.iou_threshold
    classes: Sequence[str] = NAVIGATION_CLASSES  # names; ["all"] keeps every class
    max_detections: int = PostprocessConfig.max_detections
    input_size: int = 0  # square input for models with a dynamic input; 0: the model's own fixed size, else 640


@dataclass(frozen=True)
class StageTimes:
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms + self.postprocess_ms


@dataclass
class DetectionResult:
    detections: Detections
    times: StageTimes


def _timed(detections: Detections, start: float, prepared: float, inferred: float) -> DetectionResult:
    """The result with its stage times (perf_counter stamps; post-processing ends now)."""
    done = time.perf_counter()
    return DetectionResult(detections, StageTimes((prepared - start) * 1e3, (inferred - prepared) * 1e3,
                                                  (done - inferred) * 1e3))


def _stride(runner: ModelRunner) -> int:
    try:
        return int(runner.metadata.get("stride", DEFAULT_STRIDE))
    except ValueError:
        return DEFAULT_STRIDE


def input_hw_for(runner: ModelRunner, input_size: int) -> Tuple[int, int]:
    """The input size to feed: the model's own when it is fixed (a different configured size is an error; a size
    that is not a multiple of the stride is a ModelError), else the configured one, which must be a multiple of
    the model's stride."""
    fixed, stride = runner.fixed_hw(), _stride(runner)
    if fixed is not None:
        if fixed[0] % stride or fixed[1] % stride:  # e.g. a depth model given as the detector's model
            raise ModelError(f"model '{runner.path.name}' takes a {fixed[1]}x{fixed[0]} input, which is not a "
                             f"multiple of YOLO's stride {stride}: it is not a YOLO detection model")
        if input_size and (input_size, input_size) != fixed:
            raise InputSizeError(f"model '{runner.path.name}' has a fixed {fixed[1]}x{fixed[0]} input, so input_size "
                             f"{input_size} cannot be used: set input_size to 0 (use the model's size) or "
                             f"{fixed[0]}, or use a model exported at {input_size}")
        return fixed
    size = input_size or DEFAULT_INPUT_SIZE
    if size % stride:
        raise InputSizeError(f"input_size {size} is not a multiple of model '{runner.path.name}''s stride {stride}")
    return size, size


class YoloDetector:
    """Detects objects in RGB (H, W, 3) or grey (H, W) uint8 frames; one instance per worker thread."""

    def __init__(self, runner: ModelRunner, config: DetectorConfig = DetectorConfig()):
        if runner.channels != 3:
            raise ModelError(f"model '{runner.path.name}' takes {runner.channels} channels; YOLO takes 3")
        self.runner = runner
        self.config = config
        self.input_hw = input_hw_for(runner, config.input_size)
        self._letterbox = LetterboxInput(self.input_hw, runner.input_dtype)
        # One run on the padding-only input checks the output layout and the class count before any frame comes.
        self._letterbox(np.full((1, 1), 114, np.uint8))
        output = runner.infer(self._letterbox.tensor)
        try:
            classes = check_output_layout(output)
            self.names: List[str] = class_names_for(runner.metadata, classes)
            check_output_layout(output, len(self.names))
        except OutputLayoutError as exc:
            raise ModelError(f"model '{runner.path.name}': {exc}") from None
        self._post = PostprocessConfig(config.conf_threshold, config.iou_threshold,
                                       resolve_classes(config.classes, self.names), config.max_detections)
        # GPU-resident runner: letterbox into its bound input on the device, bring back only confident candidates.
        bound = getattr(runner, "bound", None)
        self._device_letterbox = None
        if bound is not None:
            from aria_nav.core.detection.gpu import DeviceLetterbox

            self._device_letterbox = DeviceLetterbox(bound.input)

    @property
    def class_filter(self) -> Optional[np.ndarray]:
        return self._post.class_ids

    def detect(self, image: np.ndarray) -> DetectionResult:
        if self._device_letterbox is not None:
            return self._detect_on_device(image)
        start = time.perf_counter()
        tensor, geometry = self._letterbox(image)
        prepared = time.perf_counter()
        output = self.runner.infer(tensor)
        inferred = time.perf_counter()
        return _timed(decode(output, geometry, self._post), start, prepared, inferred)

    def _detect_on_device(self, image: np.ndarray) -> DetectionResult:
        """detect() on a GPU-resident runner. Device work is asynchronous: the preprocessing time is its launch, the
        inference time includes waiting for it."""
        from aria_nav.core.detection.gpu import confident_candidates

        bound = self.runner.bound
        with bound.on_stream():
            start = time.perf_counter()
            geometry = self._device_letterbox(image)
            prepared = time.perf_counter()
            output = bound.run()
            inferred = time.perf_counter()
            candidates = confident_candidates(output, self._post.conf_threshold)
        return _timed(decode(candidates, geometry, self._post), start, prepared, inferred)

    def describe(self) -> str:
        return f"{self.runner.describe()}, fed {self.input_hw[1]}x{self.input_hw[0]}, {len(self.names)} classes"
