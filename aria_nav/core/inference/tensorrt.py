"""TensorRT: building engines from ONNX models (cached, see engine_cache) and running them.

TensorRT and torch's CUDA support are imported lazily, only when this backend is used, so the package imports
and runs without them; a missing TensorRT is a ModelError saying so. Device buffers and the CUDA stream come from
torch (a dependency anyway), which avoids a second CUDA binding.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from aria_nav.core.inference.engine_cache import (EngineKey, check_engine_compatible, engine_path_for,
                                                  read_sidecar, stale_reason, write_sidecar)
from aria_nav.core.inference.cuda import CudaUnavailable, cuda_device
from aria_nav.core.inference.interface import InferenceConfig, ModelError, ModelRunner

WORKSPACE_BYTES = 2 << 30


def import_tensorrt():
    try:
        import tensorrt
    except ImportError as exc:
        raise ModelError(
            f"the tensorrt backend needs NVIDIA TensorRT's Python package, which is not installed here ({exc}); "
            f"install it on a machine with an NVIDIA GPU (pip install tensorrt), or use backend onnxruntime "
            f"(with the cuda provider) or ultralytics") from None
    return tensorrt


@dataclass(frozen=True)
class TensorRTEnvironment:
    trt: object  # the tensorrt module
    torch_device: object  # torch.device
    gpu: str

    @property
    def version(self) -> str:
        return str(self.trt.__version__)


def tensorrt_environment(device: str) -> TensorRTEnvironment:
    """TensorRT, and the CUDA device `device` names, or a ModelError saying which one is missing."""
    trt = import_tensorrt()
    if not device.startswith("cuda"):
        raise ModelError(f"TensorRT runs on an NVIDIA GPU: set device to cuda (it is '{device}')")
    import torch

    try:
        torch_device = cuda_device(device)
    except CudaUnavailable as exc:
        raise ModelError(f"TensorRT needs a CUDA GPU: {exc}") from None
    return TensorRTEnvironment(trt=trt, torch_device=torch_device, gpu=torch.cuda.get_device_name(torch_device))


def _onnx_metadata(onnx_path: Path) -> Dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False).metadata_props}


def build_engine(onnx_path: Path, engine_path: Path, env: TensorRTEnvironment, fp16: bool,
                 input_hw: Optional[Tuple[int, int]] = None) -> None:
    """Parse `onnx_path`, build a serialized engine for this GPU and write it with its sidecar.

    A dynamic spatial input is fixed to `input_hw` (one optimisation profile of exactly that shape): the graph
    feeds every frame at one size, and a single-shape engine is the fastest.
    """
    trt = env.trt
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major = int(env.version.split(".")[0])
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
        raise ModelError(f"TensorRT cannot parse '{onnx_path}': {errors or 'not an ONNX model'}")
    if network.num_inputs != 1:
        raise ModelError(f"'{onnx_path}' has {network.num_inputs} inputs; one image input is expected")
    model_input = network.get_input(0)
    shape = tuple(model_input.shape)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if fp16:
        flag = getattr(trt.BuilderFlag, "FP16", None)
        if flag is None:  # TensorRT 11 builds strongly typed networks only: the precision comes from the model
            raise ModelError(
                f"TensorRT {env.version} has no FP16 build flag: build without FP16 (--fp16 / tensorrt_fp16 "
                f"false) from an FP16 ONNX model, e.g. converted with NVIDIA ModelOpt "
                f"(python -m modelopt.onnx.autocast --onnx_path {Path(onnx_path).name})")
        config.set_flag(flag)
    if any(d < 0 for d in shape):
        if input_hw is None:
            raise ModelError(f"'{onnx_path}' has a dynamic input {list(shape)}: give the input size to build for "
                             f"(--input-size)")
        fixed = (1, shape[1] if shape[1] > 0 else 3) + tuple(input_hw)
        profile = builder.create_optimization_profile()
        profile.set_shape(model_input.name, fixed, fixed, fixed)
        config.add_optimization_profile(profile)
        shape = fixed
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"TensorRT could not build an engine from '{onnx_path}' (see TensorRT's messages above)")
    staged = engine_path.with_name(engine_path.name + ".partial")
    staged.write_bytes(bytes(serialized))
    staged.replace(engine_path)
    write_sidecar(engine_path, EngineKey(env.gpu, env.version, fp16), onnx_path, shape,
                  metadata=_onnx_metadata(onnx_path))


def ensure_engine(onnx_path: Path, device: str = "cuda", fp16: bool = True,
                  input_hw: Optional[Tuple[int, int]] = None,
                  log: Callable[[str], None] = print) -> Path:
    """The cached engine for `onnx_path` on this GPU and TensorRT version, built first when missing or stale."""
    env = tensorrt_environment(device)
    key = EngineKey(env.gpu, env.version, fp16)
    engine_path = engine_path_for(onnx_path, key)
    reason = stale_reason(onnx_path, engine_path, key)
    if reason is not None:
        log(f"building TensorRT engine {engine_path.name} ({reason}); this takes a few minutes")
        start = time.monotonic()
        build_engine(onnx_path, engine_path, env, fp16, input_hw)
        log(f"built {engine_path} in {time.monotonic() - start:.0f} s")
    return engine_path


def _torch_dtype(torch, dtype) -> object:
    """The torch dtype of a numpy dtype (torch has no public mapping function)."""
    return torch.from_numpy(np.zeros(0, dtype)).dtype


class TensorRTRunner(ModelRunner):
    """A deserialized engine with device buffers and its own CUDA stream; returns the first output tensor."""

    backend = "tensorrt"

    def __init__(self, engine_path: Path, env: TensorRTEnvironment):
        import torch

        trt = env.trt
        check_engine_compatible(engine_path, env.gpu, env.version)
        self._torch = torch
        self._env = env
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        with torch.cuda.device(env.torch_device):
            engine = self._runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if engine is None:
            raise ModelError(f"'{engine_path}' is not a TensorRT engine that TensorRT {env.version} can load on "
                             f"'{env.gpu}' (not an engine, or built by another TensorRT version or for another "
                             f"GPU): rebuild it with 'aria-nav engine build MODEL.onnx'")
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if len(inputs) != 1:
            raise ModelError(f"engine '{engine_path}' has {len(inputs)} inputs; one image input is expected")
        self._input_name = inputs[0]
        self._output_names = [n for n in names if n != self._input_name]
        dims = tuple(int(d) for d in engine.get_tensor_shape(self._input_name))
        record = read_sidecar(engine_path) or {}
        super().__init__(engine_path, tuple(d if d >= 0 else None for d in dims),
                         trt.nptype(engine.get_tensor_dtype(self._input_name)), record.get("metadata", {}))
        self._precision = "fp16" if record.get("fp16") else "engine precision"
        self._engine = engine
        with torch.cuda.device(env.torch_device):
            self._context = engine.create_execution_context()
        self._stream = torch.cuda.Stream(device=env.torch_device)
        self._dtypes = {n: trt.nptype(engine.get_tensor_dtype(n)) for n in names}
        self._bound_shape: Optional[tuple] = None
        self._device_buffers: Dict[str, object] = {}
        self._output_host = None

    @property
    def provider(self) -> str:
        return f"TensorRT {self._env.version} on {self._env.torch_device} ({self._env.gpu}, {self._precision})"

    def _bind(self, shape: tuple) -> None:
        """(Re)allocate device buffers for an input of `shape` and give their addresses to the context."""
        torch = self._torch
        if None in self.input_shape and not self._context.set_input_shape(self._input_name, shape):
            raise ModelError(f"engine '{self.path.name}' does not accept input shape {list(shape)}")
        self._device_buffers = {}
        for name in [self._input_name] + self._output_names:
            tensor_shape = tuple(self._context.get_tensor_shape(name))
            buffer = torch.empty(tensor_shape, dtype=_torch_dtype(torch, self._dtypes[name]),
                                 device=self._env.torch_device)
            self._context.set_tensor_address(name, buffer.data_ptr())
            self._device_buffers[name] = buffer
        first = self._device_buffers[self._output_names[0]]
        self._output_host = torch.empty(first.shape, dtype=first.dtype, pin_memory=True)
        self._bound_shape = shape

    def _run(self, tensor: np.ndarray) -> np.ndarray:
        torch = self._torch
        # The worker thread that calls this is not the one that loaded the engine: make its device current.
        with torch.cuda.device(self._env.torch_device):
            if tensor.shape != self._bound_shape:
                self._bind(tensor.shape)
            return self._execute(tensor)

    def _execute(self, tensor: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.cuda.stream(self._stream):
            self._device_buffers[self._input_name].copy_(torch.from_numpy(tensor), non_blocking=True)
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise ModelError(f"TensorRT failed to run engine '{self.path.name}'")
            self._output_host.copy_(self._device_buffers[self._output_names[0]], non_blocking=True)
        self._stream.synchronize()
        return self._output_host.numpy().copy()  # the pinned buffer is reused by the next call

    def close(self) -> None:
        self._device_buffers = {}
        self._context = None
        self._engine = None


def open_tensorrt_runner(path: Path, config: InferenceConfig) -> TensorRTRunner:
    """Run an engine file, or an ONNX model through its cached engine (built on first use)."""
    env = tensorrt_environment(config.device)
    if path.suffix.lower() == ".onnx":
        path = ensure_engine(path, config.device, config.tensorrt_fp16, config.input_hw)
    return TensorRTRunner(path, env)
