"""ONNX Runtime sessions whose execution provider is verified, never assumed.

The reference system believed it ran on CUDA while ONNX Runtime had quietly fallen back to the CPU. Here the
providers actually active after session creation are compared with the ones requested: if the first requested
provider is not active, that is a ModelError naming it and the reason, unless allow_cpu_fallback is set, in which
case the session is returned with `fallback_warning` set so the node warns loudly and shows it in diagnostics.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

PROVIDER_ALIASES = {
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


class ModelError(Exception):
    """A model that cannot be used as configured (missing, not a model, wrong shape, provider unavailable)."""


def provider_name(name: str) -> str:
    return PROVIDER_ALIASES.get(name.lower(), name)


@dataclass
class VerifiedSession:
    session: object  # onnxruntime.InferenceSession
    requested: List[str]
    active: List[str]
    fallback_warning: Optional[str] = None
    input_name: str = ""
    input_shape: Tuple = ()  # ints for fixed dims, None for dynamic ones
    input_type: str = ""
    output_names: List[str] = field(default_factory=list)
    metadata: Dict[str, str] = field(default_factory=dict)

    @property
    def provider(self) -> str:
        return self.active[0] if self.active else "none"

    def fixed_hw(self) -> Optional[Tuple[int, int]]:
        """(height, width) when the model's spatial input size is fixed, else None."""
        if len(self.input_shape) == 4 and all(isinstance(d, int) for d in self.input_shape[2:]):
            return int(self.input_shape[2]), int(self.input_shape[3])
        return None


def providers_for(device: str, providers: Sequence[str]) -> List[str]:
    """The providers to request: the explicit list, or the device's usual ones (cuda then cpu on a GPU)."""
    explicit = [p for p in providers if p.strip()]
    if explicit:
        return explicit
    return ["cuda", "cpu"] if device.startswith("cuda") else ["cpu"]


def check_model_file(path: str) -> None:
    """A ModelError unless `path` is a non-empty file."""
    if not os.path.exists(path):
        from aria_nav.paths import MISSING_MODEL_HINT

        raise ModelError(f"model file '{path}' does not exist: {MISSING_MODEL_HINT}")
    if os.path.isdir(path) or os.path.getsize(path) == 0:
        raise ModelError(f"model file '{path}' is empty or not a file")


def create_session(path: str, providers: Sequence[str], allow_cpu_fallback: bool = False,
                   intra_op_threads: int = 0,
                   provider_options: Optional[Dict[str, Dict[str, str]]] = None) -> VerifiedSession:
    """Open `path` with `providers` in order of preference and verify the first one is active.
    `provider_options` gives options per provider name (e.g. CUDA's device_id, enable_cuda_graph)."""
    import onnxruntime as ort

    check_model_file(path)
    requested = [provider_name(p) for p in providers] or ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    unknown = [p for p in requested if p not in available]
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if intra_op_threads > 0:
        options.intra_op_num_threads = intra_op_threads
    # Keep ORT's own log quiet: provider problems are reported by the verification below.
    options.log_severity_level = 3
    try:
        usable = [p for p in requested if p in available] or ["CPUExecutionProvider"]
        session = ort.InferenceSession(path, sess_options=options, providers=usable,
                                       provider_options=[(provider_options or {}).get(p, {}) for p in usable])
    except Exception as exc:  # onnxruntime raises its own exception types for invalid files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"'{path}' is not a loadable ONNX model: {reason}") from None
    active = session.get_providers()
    warning = None
    if active[0] != requested[0]:
        if requested[0] in unknown:
            why = (f"this onnxruntime build ({ort.__version__}, {ort.get_device()}) does not include it; "
                   f"available: {', '.join(available)}")
        else:
            why = "it failed to initialise (driver, CUDA/cuDNN libraries or device missing)"
        message = f"execution provider {requested[0]} is not active for '{path}': {why}"
        if not allow_cpu_fallback:
            raise ModelError(message + " (set allow_cpu_fallback to run on the CPU instead)")
        warning = f"{message}; RUNNING ON {active[0]} BECAUSE allow_cpu_fallback IS SET"
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"'{path}' has {len(inputs)} inputs; one image input is expected")
    shape = tuple(d if isinstance(d, int) else None for d in inputs[0].shape)
    meta = session.get_modelmeta().custom_metadata_map or {}
    return VerifiedSession(session=session, requested=requested, active=active, fallback_warning=warning,
                           input_name=inputs[0].name, input_shape=shape, input_type=inputs[0].type,
                           output_names=[o.name for o in session.get_outputs()], metadata=dict(meta))
