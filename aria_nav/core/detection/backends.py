"""Detection backends: those of the inference registry (ONNX Runtime, TensorRT) plus ultralytics checkpoints."""
from __future__ import annotations

from aria_nav.core.inference.interface import InferenceConfig, ModelRunner
from aria_nav.core.inference.registry import open_runner
from aria_nav.core.inference.ultralytics import UltralyticsRunner


def open_detection_runner(config: InferenceConfig) -> ModelRunner:
    """A runner for a detection model: .onnx (ONNX Runtime), .engine/.plan or .onnx via cache (TensorRT), .pt."""
    return open_runner(config, extra_backends={"ultralytics": UltralyticsRunner})
