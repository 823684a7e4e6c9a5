"""The inference interface shared by every backend, for any model with a single NCHW image input.

A ModelRunner takes the input tensor the caller prepared (batch 1, the model's channel count, its dtype) and
returns the model's first output as a numpy array. Detection and depth share it: the backend-specific code
(sessions, engines, CUDA streams) lives in one module per backend (onnx_runtime, tensorrt, ultralytics), their
pre- and post-processing is written once for all backends; registry.open_runner() picks the backend. This module
imports no backend, so every backend may import it.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np


class ModelError(Exception):
    """A model that cannot be used as configured (missing, not a model, wrong shape, provider unavailable)."""


def check_model_file(path: str) -> None:
    """A ModelError unless `path` is a non-empty file."""
    if not os.path.exists(path):
        from aria_nav.paths import MISSING_MODEL_HINT

        raise ModelError(f"model file '{path}' does not exist: {MISSING_MODEL_HINT}")
    if os.path.isdir(path) or os.path.getsize(path) == 0:
        raise ModelError(f"model file '{path}' is empty or not a file")


@dataclass(frozen=True)
class InferenceConfig:
    """How to run a model: the values of the shared inference parameters (aria_nav.ros.inference_params)."""

    model: str
    backend: str = "auto"
    device: str = "cpu"
    providers: List[str] = field(default_factory=list)  # ONNX Runtime provider names or aliases, in order
    allow_cpu_fallback: bool = False
    intra_op_threads: int = 0
    tensorrt_fp16: bool = True  # precision of an engine built from an .onnx model for the tensorrt backend
    input_hw: Optional[Tuple[int, int]] = None  # size to build an engine for when the ONNX input is dynamic
    # ONNX Runtime on CUDA: input and output in device buffers bound once (IO binding), pre/post-processing on the
    # GPU (torch); cuda_graph replays the model as one CUDA graph where ONNX Runtime can capture it.
    gpu_resident: bool = True
    cuda_graph: bool = True
    # The CUDA stream the model and its pre/post-processing share on the GPU-resident path: its priority among the
    # streams competing for the GPU (GPU_PRIORITIES).
    gpu_priority: str = "normal"


GPU_PRIORITIES = ("high", "normal", "low")


class ModelRunner(ABC):
    """A loaded model with one image input; `infer` checks the tensor against the model before running it."""

    backend: str = ""

    def __init__(self, path: Path, input_shape: Tuple[Optional[int], ...], input_dtype,
                 metadata: Optional[Dict[str, str]] = None, fallback_warning: Optional[str] = None):
        self.path = Path(path)
        if len(input_shape) != 4:
            raise ModelError(f"model '{self.path}' has a rank-{len(input_shape)} input {list(input_shape)}; "
                             f"an image model takes (batch, channels, height, width)")
        if input_shape[0] not in (1, None):
            raise ModelError(f"model '{self.path}' has a fixed batch of {input_shape[0]}; batch 1 is expected")
        self.input_shape = tuple(input_shape)
        self.input_dtype = np.dtype(input_dtype)
        self.metadata = dict(metadata or {})
        self.fallback_warning = fallback_warning

    @property
    @abstractmethod
    def provider(self) -> str:
        """What actually runs the model (an execution provider, a GPU), as verified after loading."""

    @abstractmethod
    def _run(self, tensor: np.ndarray) -> np.ndarray:
        """Run the model on a tensor that passed check_input(); return the first output."""

    def fixed_hw(self) -> Optional[Tuple[int, int]]:
        """(height, width) when the model's spatial input size is fixed, else None."""
        height, width = self.input_shape[2:]
        return (int(height), int(width)) if height is not None and width is not None else None

    @property
    def channels(self) -> int:
        return int(self.input_shape[1]) if self.input_shape[1] is not None else 3

    def check_input(self, tensor: np.ndarray) -> None:
        if tensor.ndim != 4:
            raise ModelError(f"input of rank {tensor.ndim} {list(tensor.shape)} for model '{self.path.name}', "
                             f"which takes (1, C, H, W) {list(self.input_shape)}")
        for axis, (want, got) in enumerate(zip(self.input_shape, tensor.shape)):
            if (want is not None and want != got) or (axis == 0 and got != 1):
                raise ModelError(f"input shape {list(tensor.shape)} does not match model '{self.path.name}' "
                                 f"input {list(self.input_shape)} (axis {axis})")
        if tensor.dtype != self.input_dtype:
            raise ModelError(f"input dtype {tensor.dtype} for model '{self.path.name}', which takes "
                             f"{self.input_dtype}")

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        self.check_input(tensor)
        return self._run(tensor)

    def describe(self) -> str:
        shape = "x".join("?" if d is None else str(d) for d in self.input_shape)
        return f"{self.backend} on {self.provider}: {self.path.name} (input {shape} {self.input_dtype.name})"

    def interrupt(self) -> None:
        """Make an inference running in another thread end now with an error, for a quick stop (the runner is not
        used afterwards). Backends that cannot be interrupted let it finish."""

    def close(self) -> None:
        """Release the model's resources (sessions, device memory). Never while an inference runs: interrupt it
        and wait for its thread first."""
