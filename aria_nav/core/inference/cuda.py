"""The one check of a CUDA device, for every backend that runs through torch's CUDA support.

TensorRT, ultralytics and ONNX Runtime's GPU-resident path all take their device from torch; each says in its own
words what the failure means for its parameters, the reason comes from here.
"""
from __future__ import annotations

from aria_nav.core.inference.interface import ModelError


class CudaUnavailable(ModelError):
    """The CUDA device a model was configured for cannot be used here; the message says why."""


def cuda_device(device: str):
    """The torch device that `device` ('cuda' or 'cuda:N') names; CudaUnavailable when torch cannot use it."""
    import torch

    if not torch.cuda.is_available():
        raise CudaUnavailable(f"torch {torch.__version__} sees no CUDA device (driver missing, or a CPU-only torch "
                              f"build)")
    index = torch.device(device).index or 0
    count = torch.cuda.device_count()
    if index >= count:
        raise CudaUnavailable(f"device '{device}' does not exist ({count} CUDA device(s) visible)")
    return torch.device("cuda", index)
