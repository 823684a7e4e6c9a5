"""The GPU-resident path of ONNX Runtime: input and output stay in device buffers allocated once.

ONNX Runtime's IO binding binds a session's input and output to fixed memory, so a run copies nothing between host
and device by itself; the callers' GPU pre- and post-processing (torch, on the same device) write the input buffer
and read the output buffer directly. With fixed addresses, ONNX Runtime's CUDA graphs (`enable_cuda_graph`) can
replay the whole model as one graph launch: the launch overhead of hundreds of small kernels disappears.

The buffers are torch tensors: torch allocates device memory and runs the pre/post-processing kernels, ONNX Runtime
only sees their addresses. On CUDA both run on one stream (cuda_stream(), given to ONNX Runtime as its compute
stream): the model's kernels follow the preprocessing's in order, with no wait on the host between them, and the
stream's priority orders this process's work against other streams competing for the GPU. The same code binds
CPU tensors to a CPU session, which is how CI (no GPU) tests it.
"""
from __future__ import annotations

import contextlib
from typing import Tuple

import numpy as np

from aria_nav.core.inference.cuda import CudaUnavailable, cuda_device
from aria_nav.core.inference.interface import ModelError

_TORCH_DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.float16): "float16"}
_ORT_OUTPUT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def torch_device(device: str, path: str):
    """The torch device for `device` ('cpu', 'cuda', 'cuda:N'); a ModelError when torch cannot use it, never a
    quiet switch to the CPU."""
    import torch

    if not device.startswith("cuda"):
        return torch.device("cpu")
    try:
        return cuda_device(device)
    except CudaUnavailable as exc:
        raise ModelError(f"'{path}': the GPU-resident path (parameter gpu_resident) needs torch with CUDA, but "
                         f"{exc}; set gpu_resident to false to copy through the host instead") from None


def cuda_stream(device, priority: str):
    """A new CUDA stream on `device` at `priority` (GPU_PRIORITIES: the device's greatest, the middle of its range,
    or its least, which is also the default streams')."""
    import torch

    least, greatest = torch.cuda.Stream.priority_range()
    level = {"high": greatest, "normal": (least + greatest) // 2, "low": least}[priority]
    return torch.cuda.Stream(device=device, priority=level)


class BoundSession:
    """One ONNX Runtime session with its single input and first output bound to tensors allocated once.

    Write the input into `input` (shape and dtype of the model's input), call `run()`, read `output`. Both are
    overwritten by the next run; one BoundSession per worker thread.
    """

    def __init__(self, session, input_name: str, input_shape: Tuple[int, ...], input_dtype, output_name: str,
                 device, run_options=None, stream=None):
        import torch

        self._torch = torch
        self.device = device
        self.stream = stream  # the session's compute stream on CUDA (cuda_stream()), None: the current one
        output = next(o for o in session.get_outputs() if o.name == output_name)
        output_shape = tuple(output.shape)
        if not all(isinstance(d, int) for d in tuple(input_shape) + output_shape):
            raise ModelError(f"the GPU-resident path needs fixed input and output shapes; the model has input "
                             f"{list(input_shape)} and output {list(output_shape)}")
        if output.type not in _ORT_OUTPUT_TYPES:
            raise ModelError(f"model output type {output.type}: float or float16 expected")
        input_dtype, output_dtype = np.dtype(input_dtype), np.dtype(_ORT_OUTPUT_TYPES[output.type])
        self.input = torch.empty(input_shape, dtype=getattr(torch, _TORCH_DTYPES[input_dtype]), device=device)
        self.output = torch.empty(output_shape, dtype=getattr(torch, _TORCH_DTYPES[output_dtype]), device=device)
        # Never read before written by a run; poisoned so that a missing write shows as NaN, not as old data.
        self.output.fill_(float("nan"))
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # allocated and filled on the current stream, read on the session's
        kind, index = device.type, device.index or 0
        self._session = session
        self._run_options = run_options
        self._binding = session.io_binding()
        self._binding.bind_input(input_name, kind, index, input_dtype, list(input_shape), self.input.data_ptr())
        self._binding.bind_output(output_name, kind, index, output_dtype, list(output_shape),
                                  self.output.data_ptr())

    def on_stream(self):
        """A context in which torch work goes to the session's stream: write `input` and read `output` in it."""
        return self._torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext()

    def run(self):
        """Run the model on `input` (the torch work queued on it before runs first); returns `output`."""
        if self.device.type == "cuda" and self.stream is None:
            # torch and ONNX Runtime use different CUDA streams: the input must be complete before the model reads it.
            self._torch.cuda.current_stream(self.device).synchronize()
        self._session.run_with_iobinding(self._binding, self._run_options)
        return self.output

    def run_host(self, tensor: np.ndarray) -> np.ndarray:
        """The host-array interface (ModelRunner.infer) over the bound buffers: one upload, one download."""
        with self.on_stream():
            self.input.copy_(self._torch.from_numpy(np.ascontiguousarray(tensor)))
            return self.run().cpu().numpy()

    def close(self) -> None:
        self._binding = None
        self.input = self.output = None

