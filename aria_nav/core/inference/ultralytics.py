"""The ultralytics backend: a YOLO detection checkpoint (.pt) run as its torch module.

The checkpoint is loaded with `YOLO(path)` but only the model's torch module runs, on the tensor the shared
letterbox prepared, so every backend gets identical input and identical post-processing. It is a detection
backend only (detection.backends adds it to the registry); depth models are never .pt files.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aria_nav.core.inference.cuda import CudaUnavailable, cuda_device
from aria_nav.core.inference.interface import InferenceConfig, ModelError, ModelRunner


def _torch_device(device: str, allow_cpu_fallback: bool, path: Path):
    """The torch device to run on, and a fallback warning when CUDA was asked for but is not there."""
    import torch

    if not device.startswith("cuda"):
        return torch.device("cpu"), None
    try:
        return cuda_device(device), None
    except CudaUnavailable as exc:
        message = f"device {device} is not usable for '{path}': {exc}"
    if not allow_cpu_fallback:
        raise ModelError(message + " (set allow_cpu_fallback to run on the CPU instead)")
    return torch.device("cpu"), f"{message}; RUNNING ON THE CPU BECAUSE allow_cpu_fallback IS SET"


class UltralyticsRunner(ModelRunner):
    """An ultralytics YOLO detection checkpoint's torch module: float32 input, FP16 weights on a GPU."""

    backend = "ultralytics"

    def __init__(self, path: Path, config: InferenceConfig):
        import torch

        os.environ.setdefault("YOLO_OFFLINE", "1")  # never reach for the hub or check for updates
        from ultralytics import YOLO

        device, warning = _torch_device(config.device, config.allow_cpu_fallback, path)
        try:
            model = YOLO(str(path))
        except Exception as exc:  # noqa: BLE001 - torch/ultralytics raise many types for non-checkpoints
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"'{path}' is not a loadable ultralytics checkpoint: {reason}") from None
        if model.task != "detect":
            raise ModelError(f"'{path}' is an ultralytics '{model.task}' model; a detection model is expected")
        self._torch = torch
        self._device = device
        self._half = device.type == "cuda"
        net = model.model.fuse(verbose=False).to(device).eval()
        self._net = net.half() if self._half else net.float()
        names = model.names
        metadata = {"names": repr(dict(names) if isinstance(names, dict) else dict(enumerate(names))),
                    "stride": str(int(max(net.stride.tolist())))}
        super().__init__(path, (1, 3, None, None), np.float32, metadata, warning)

    @property
    def provider(self) -> str:
        return f"torch {self._device} {'fp16' if self._half else 'fp32'}"

    def _run(self, tensor: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            batch = torch.from_numpy(tensor).to(self._device)
            output = self._net(batch.half() if self._half else batch)
        if isinstance(output, (list, tuple)):
            output = output[0]
        return output.float().cpu().numpy()

    def close(self) -> None:
        self._net = None
