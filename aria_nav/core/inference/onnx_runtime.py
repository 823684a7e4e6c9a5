"""The ONNX Runtime backend: sessions whose execution provider is verified, never assumed, and their runner.

The reference system believed it ran on CUDA while ONNX Runtime had quietly fallen back to the CPU. Here the
providers actually active after session creation are compared with the ones requested: if the first requested
provider is not active, that is a ModelError naming it and the reason, unless allow_cpu_fallback is set, in which
case the session is returned with `fallback_warning` set so the node warns loudly and shows it in diagnostics.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from aria_nav.core.inference.interface import InferenceConfig, ModelError, ModelRunner, check_model_file

PROVIDER_ALIASES = {
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}

_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
CUDA_PROVIDER = "CUDAExecutionProvider"


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
        # Set by bind(): the input and output in device buffers (io_binding); None on the host path.
        self.bound = None
        self.cuda_graph: Optional[str] = None  # "on", or why not, once bound on CUDA

    @classmethod
    def open(cls, path: Path, config: InferenceConfig) -> "OnnxRuntimeRunner":
        import onnxruntime

        providers = providers_for(config.device, config.providers)
        # Without the CUDA provider in this build, create_session reports it (or falls back when allowed).
        if not (config.gpu_resident and provider_name(providers[0]) == CUDA_PROVIDER and
                CUDA_PROVIDER in onnxruntime.get_available_providers()):
            verified = create_session(str(path), providers, config.allow_cpu_fallback, config.intra_op_threads)
            return cls(verified, path)
        from aria_nav.core.inference.io_binding import cuda_stream, torch_device

        device = torch_device(config.device, str(path))
        stream = cuda_stream(device, config.gpu_priority)
        # NHWC convolutions (tensor-core friendly layout) measured on an H200: YOLO11n 640 fp16 1.22 -> 1.02 ms, 256
        # 0.96 -> 0.83 ms, Depth-Anything-V2-S 518 unchanged (its time is in the transformer).
        cuda_options = {"device_id": str(device.index or 0), "prefer_nhwc": "1",
                        "user_compute_stream": str(stream.cuda_stream)}
        failure = "off (cuda_graph is false)"
        if config.cuda_graph:
            runner = None
            try:  # ONNX Runtime refuses a graph at session creation or at the capturing first run
                verified = create_session(str(path), providers, config.allow_cpu_fallback, config.intra_op_threads,
                                          {CUDA_PROVIDER: {**cuda_options, "enable_cuda_graph": "1"}})
                runner = cls(verified, path)
                runner.bind(device, capture=True, stream=stream)
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
        runner.bind(device, stream=stream)
        runner.cuda_graph = failure
        return runner

    def bind(self, device, capture: bool = False, stream=None) -> None:
        """Bind the input and first output to buffers on `device` (a torch device) and run once: the first run of a
        CUDA-graph session captures the graph (an exception here means it cannot be captured). On a session whose
        provider is not CUDA (allow_cpu_fallback) nothing is bound on CUDA: it runs on the host path."""
        from aria_nav.core.inference.io_binding import BoundSession

        if device.type == "cuda" and self.provider != CUDA_PROVIDER:
            return
        bound = BoundSession(self._session, self._input_name, self.input_shape, self.input_dtype,
                             self._output_names[0], device, self._run_options, stream)
        with bound.on_stream():
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
