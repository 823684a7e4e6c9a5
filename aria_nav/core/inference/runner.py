"""One interface over the inference backends, for any model with a single NCHW image input.

A ModelRunner takes the input tensor the caller prepared (batch 1, the model's channel count, its dtype) and
returns the model's first output as a numpy array. Detection and depth share it: the backend-specific code
(sessions, engines, CUDA streams) stays here, their pre- and post-processing is written once for all backends.

`open_runner()` picks the backend from the `backend` parameter, or from the model file's extension when it is
"auto": .onnx -> ONNX Runtime, .engine/.plan -> TensorRT; callers add their own (detection adds ultralytics for
.pt) through `extra_backends`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from aria_nav import paths
from aria_nav.core.inference.onnx_runtime import (ModelError, VerifiedSession, check_model_file, create_session,
                                                  provider_name, providers_for)

BACKEND_BY_EXTENSION = {".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt", ".pt": "ultralytics"}

_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
CUDA_PROVIDER = "CUDAExecutionProvider"


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

    def onnx_providers(self) -> List[str]:
        return providers_for(self.device, self.providers)


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


class OnnxRuntimeRunner(ModelRunner):
    backend = "onnxruntime"

    def __init__(self, verified: VerifiedSession, path: Path):
        if verified.input_type not in _ORT_TYPES:
            raise ModelError(f"model '{path}' takes {verified.input_type}; float or float16 input is expected")
        super().__init__(path, verified.input_shape, _ORT_TYPES[verified.input_type], verified.metadata,
                         verified.fallback_warning)
        self.verified = verified
        self._session = verified.session
        self._input_name = verified.input_name
        self._output_names = verified.output_names[:1]
        import onnxruntime  # loaded already: `verified` holds a session

        self._run_options = onnxruntime.RunOptions()  # its terminate flag interrupts a run from another thread
        # Set by bind(): the input and output in device buffers (aria_nav.core.inference.device); None on the host path.
        self.bound = None
        self.cuda_graph: Optional[str] = None  # "on", or why not, once bound on CUDA

    @classmethod
    def open(cls, path: Path, config: InferenceConfig) -> "OnnxRuntimeRunner":
        import onnxruntime

        providers = config.onnx_providers()
        # Without the CUDA provider in this build, create_session reports it (or falls back when allowed).
        if not (config.gpu_resident and provider_name(providers[0]) == CUDA_PROVIDER and
                CUDA_PROVIDER in onnxruntime.get_available_providers()):
            verified = create_session(str(path), providers, config.allow_cpu_fallback, config.intra_op_threads)
            return cls(verified, path)
        from aria_nav.core.inference.device import torch_device

        device = torch_device(config.device, str(path))
        cuda_options = {"device_id": str(device.index or 0)}
        failure = "off (cuda_graph is false)"
        if config.cuda_graph:
            runner = None
            try:  # ONNX Runtime refuses a graph at session creation or at the capturing first run
                verified = create_session(str(path), providers, config.allow_cpu_fallback, config.intra_op_threads,
                                          {CUDA_PROVIDER: {**cuda_options, "enable_cuda_graph": "1"}})
                runner = cls(verified, path)
                runner.bind(device, capture=True)
                return runner
            except Exception as exc:  # noqa: BLE001 - ORT raises its own types when a model cannot be captured
                if runner is not None:
                    runner.close()
                lines = str(exc).strip().splitlines()
                reason = lines[0] if lines else type(exc).__name__
                failure = f"off (ONNX Runtime could not capture this model: {reason})"
        verified = create_session(str(path), providers, config.allow_cpu_fallback, config.intra_op_threads,
                                  {CUDA_PROVIDER: cuda_options})
        runner = cls(verified, path)
        runner.bind(device)
        runner.cuda_graph = failure
        return runner

    def bind(self, device, capture: bool = False) -> None:
        """Bind the input and first output to buffers on `device` (a torch device) and run once: the first run of a
        CUDA-graph session captures the graph (an exception here means it cannot be captured). On a session whose
        provider is not CUDA (allow_cpu_fallback) nothing is bound on CUDA: it runs on the host path."""
        from aria_nav.core.inference.device import BoundSession

        if device.type == "cuda" and self.provider != CUDA_PROVIDER:
            return
        bound = BoundSession(self._session, self._input_name, self.input_shape, self.input_dtype,
                             self._output_names[0], device, self._run_options)
        bound.input.zero_()
        bound.run()
        if capture:
            bound.run()  # the first replay of the captured graph
            self.cuda_graph = "on"
        self.bound = bound

    @property
    def provider(self) -> str:
        return self.verified.provider

    def _run(self, tensor: np.ndarray) -> np.ndarray:
        if self.bound is not None:
            return self.bound.run_host(tensor)
        return self._session.run(self._output_names, {self._input_name: tensor}, self._run_options)[0]

    def describe(self) -> str:
        text = super().describe()
        if self.bound is not None:
            text += f", GPU-resident (IO binding on {self.bound.device}, CUDA graph {self.cuda_graph})"
        return text

    def interrupt(self) -> None:
        self._run_options.terminate = True

    def close(self) -> None:
        # Every reference goes, the verified session's too, so the session is released now, not at exit.
        self.bound = None
        self._session = None
        self.verified.session = None


def resolve_model_path(model: str) -> Path:
    """An absolute path as given; a relative one inside the models folder (aria_nav.paths.models_dir())."""
    path = Path(model).expanduser()
    return path if path.is_absolute() else paths.models_dir() / path


def backend_for(path: Path, backend: str) -> str:
    """The backend to use: the configured one, or the one the file extension implies for "auto"."""
    if backend != "auto":
        return backend
    try:
        return BACKEND_BY_EXTENSION[path.suffix.lower()]
    except KeyError:
        raise ModelError(f"model '{path}': cannot pick a backend for extension '{path.suffix}' (known: "
                         f"{', '.join(sorted(BACKEND_BY_EXTENSION))}); set the backend parameter") from None


Loader = Callable[[Path, InferenceConfig], ModelRunner]


def _open_tensorrt(path: Path, config: InferenceConfig) -> ModelRunner:
    from aria_nav.core.inference.tensorrt import open_tensorrt_runner

    return open_tensorrt_runner(path, config)


def open_runner(config: InferenceConfig, extra_backends: Optional[Mapping[str, Loader]] = None) -> ModelRunner:
    """Load `config.model` with its backend; every problem is a ModelError naming the file and the cause."""
    path = resolve_model_path(config.model)
    check_model_file(str(path))
    loaders: Dict[str, Loader] = {"onnxruntime": OnnxRuntimeRunner.open, "tensorrt": _open_tensorrt}
    loaders.update(extra_backends or {})
    backend = backend_for(path, config.backend)
    if backend not in loaders:
        raise ModelError(f"model '{path}': backend '{backend}' is not available here (available: "
                         f"{', '.join(sorted(loaders))})")
    expected = {"onnxruntime": (".onnx",), "ultralytics": (".pt",)}.get(backend)
    if expected and path.suffix.lower() not in expected:
        raise ModelError(f"model '{path}': backend '{backend}' loads {'/'.join(expected)} files, not "
                         f"'{path.suffix}'")
    return loaders[backend](path, config)
