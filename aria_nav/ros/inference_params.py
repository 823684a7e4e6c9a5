"""Parameters shared by every node that runs a model (detector instances, depth): declared once, here."""
from __future__ import annotations

import re
from typing import List

from aria_nav.ros.params import Param

BACKENDS = ("auto", "onnxruntime", "tensorrt", "ultralytics")


def _check_device(value: str):
    if not re.fullmatch(r"cpu|cuda(:\d+)?", value):
        return f"'{value}' is not a device: use cpu, cuda or cuda:N"
    return None


def inference_params(default_model: str) -> List[Param]:
    return [
        Param("model", default_model,
              "Model file: .onnx (ONNX Runtime), .engine/.plan (TensorRT) or .pt (ultralytics). Relative paths are "
              "resolved against the models folder.",
              check=lambda v: None if v.strip() else "is empty: give the path of a model file"),
        Param("backend", "auto", "Inference backend; auto picks it from the model file's extension.",
              choices=BACKENDS),
        Param("device", "cpu", "Where the model runs: cpu, cuda or cuda:N.", check=_check_device),
        Param("providers", [""],
              "ONNX Runtime execution providers in order of preference (cuda, cpu, tensorrt or full provider "
              "names). Empty: cuda then cpu when device is cuda, cpu otherwise. The first one must be active "
              "unless allow_cpu_fallback is true.", item_type=str),
        Param("allow_cpu_fallback", False,
              "Accept running on the CPU when the first requested provider is not available (a loud warning and a "
              "WARN diagnostic instead of an error)."),
        Param("intra_op_threads", 0, "ONNX Runtime intra-op threads (0: ONNX Runtime's default).", min=0, max=256),
    ]


def providers_for(device: str, providers: List[str]) -> List[str]:
    """The ONNX Runtime providers to request: the explicit list, or the device's usual ones."""
    explicit = [p for p in providers if p.strip()]
    if explicit:
        return explicit
    return ["cuda", "cpu"] if device.startswith("cuda") else ["cpu"]
