"""The backend registry: which backend loads a model file, and the one call that opens it.

`open_runner()` picks the backend from the `backend` parameter, or from the model file's extension when it is
"auto": .onnx -> ONNX Runtime, .engine/.plan -> TensorRT; callers add their own (detection adds ultralytics for
.pt) through `extra_backends`. Backends import only the interface, never this module, so there is no cycle.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Mapping, Optional

from aria_nav import paths
from aria_nav.core.inference.interface import InferenceConfig, ModelError, ModelRunner, check_model_file
from aria_nav.core.inference.onnx_runtime import OnnxRuntimeRunner
from aria_nav.core.inference.tensorrt import open_tensorrt_runner

BACKEND_BY_EXTENSION = {".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt", ".pt": "ultralytics"}


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


def open_runner(config: InferenceConfig, extra_backends: Optional[Mapping[str, Loader]] = None) -> ModelRunner:
    """Load `config.model` with its backend; every problem is a ModelError naming the file and the cause."""
    path = resolve_model_path(config.model)
    check_model_file(str(path))
    loaders: Dict[str, Loader] = {"onnxruntime": OnnxRuntimeRunner.open, "tensorrt": open_tensorrt_runner}
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
