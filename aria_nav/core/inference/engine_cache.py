"""Where TensorRT engines built from ONNX models are kept, and when one may be used.

A serialized engine only runs on the GPU model and TensorRT version it was built with. Engines therefore live
next to their ONNX model under a name keyed by both, e.g. `yolo11n_640.NVIDIA_H100_80GB_HBM3.trt10.13.3.fp16.engine`,
with a JSON sidecar (`...fp16.engine.json`) recording the GPU, the TensorRT version, the precision and the ONNX
model it came from. An engine is stale, and rebuilt, when the ONNX model is newer than it or the sidecar's key
does not match; an engine given directly whose sidecar names another GPU or TensorRT version is refused with a
clear error rather than failing inside TensorRT. Pure Python: nothing here needs TensorRT or a GPU.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Optional

from aria_nav.core.inference.interface import ModelError

SIDECAR_SUFFIX = ".json"


@dataclass(frozen=True)
class EngineKey:
    """What an engine is only valid for."""

    gpu: str  # the CUDA device name, as the driver reports it
    tensorrt: str  # TensorRT version
    fp16: bool


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_") or "gpu"


def engine_path_for(onnx_path: Path, key: EngineKey) -> Path:
    precision = "fp16" if key.fp16 else "fp32"
    return Path(onnx_path).with_name(
        f"{Path(onnx_path).stem}.{_slug(key.gpu)}.trt{key.tensorrt}.{precision}.engine")


def sidecar_path(engine_path: Path) -> Path:
    return Path(str(engine_path) + SIDECAR_SUFFIX)


def write_sidecar(engine_path: Path, key: EngineKey, onnx_path: Path, input_shape,
                  metadata: Optional[Dict[str, str]] = None) -> None:
    """Record the engine's key, its source and the ONNX metadata (class names...), which engines do not keep."""
    record = asdict(key)
    record.update(onnx=Path(onnx_path).name, input_shape=[int(d) for d in input_shape], metadata=metadata or {})
    sidecar_path(engine_path).write_text(json.dumps(record, indent=2) + "\n")


def read_sidecar(engine_path: Path) -> Optional[dict]:
    """The sidecar's record, or None when there is none; a sidecar that is not valid JSON is a ModelError."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"engine sidecar '{path}' is unreadable ({exc}); delete it and rebuild the engine "
                         f"(aria-nav engine build MODEL.onnx)") from None
    if not isinstance(record, dict) or not {"gpu", "tensorrt", "fp16"} <= set(record):
        raise ModelError(f"engine sidecar '{path}' lacks gpu/tensorrt/fp16; delete it and rebuild the engine")
    return record


def check_engine_compatible(engine_path: Path, gpu: str, tensorrt_version: str) -> None:
    """A ModelError when the engine's sidecar says it was built for another GPU or TensorRT version."""
    record = read_sidecar(engine_path)
    if record is None:
        return  # built elsewhere (trtexec, ...): TensorRT itself checks while deserializing
    if record["gpu"] != gpu or record["tensorrt"] != tensorrt_version:
        source = record.get("onnx", "MODEL.onnx")
        raise ModelError(
            f"engine '{engine_path}' was built for GPU '{record['gpu']}' with TensorRT {record['tensorrt']}, "
            f"but this machine has GPU '{gpu}' with TensorRT {tensorrt_version}; engines only run where they "
            f"were built: rebuild it here with 'aria-nav engine build {source}'")


def stale_reason(onnx_path: Path, engine_path: Path, key: EngineKey) -> Optional[str]:
    """Why the cached engine for `onnx_path` must be (re)built, or None when it can be used as it is."""
    if not engine_path.is_file():
        return "no engine built yet"
    if Path(onnx_path).stat().st_mtime > engine_path.stat().st_mtime:
        return "the ONNX model is newer than the engine"
    record = read_sidecar(engine_path)
    if record is None:
        return "the engine has no sidecar"
    if EngineKey(record["gpu"], record["tensorrt"], bool(record["fp16"])) != key:
        return f"the sidecar's key {record['gpu']}/TensorRT {record['tensorrt']} does not match"
    return None
