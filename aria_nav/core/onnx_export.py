"""Exporting a torch module to ONNX, as the project's model builders (detection, depth) do it.

A fixed 1x3xSxS input (the graph feeds every frame at one size), the legacy TorchScript exporter (its output
matches PyTorch: test_depth.py, test_detection_models.py), the model's metadata written into the file, and a file
that appears only when complete: written beside its destination, then renamed over it.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Dict

OPSET = 17


def export_onnx(module, destination: Path, size: int, dtype, input_name: str, output_name: str,
                metadata: Dict[str, str]) -> Path:
    """Trace `module` (in eval mode) on a zero 1x3x`size`x`size` tensor of torch `dtype` (the weights'
    precision: float16 weights export an fp16 model) and write it to `destination` with `metadata`."""
    import onnx
    import torch

    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staged = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
    try:
        # The tracer's notes that shapes become constants, and the legacy exporter's deprecation notice, are noise
        # here: the input shape is fixed by design, and the legacy exporter is chosen on purpose.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (torch.zeros(1, 3, size, size, dtype=dtype),), str(staged),
                              input_names=[input_name], output_names=[output_name], opset_version=OPSET,
                              dynamo=False)
        exported = onnx.load(str(staged))
        onnx.helper.set_model_props(exported, metadata)
        onnx.save(exported, str(staged))
        os.replace(staged, destination)
    finally:
        staged.unlink(missing_ok=True)
    return destination
