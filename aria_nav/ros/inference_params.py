"""Parameters shared by every node that runs a model (detector instances, depth): declared once, here."""
from __future__ import annotations

import re
from types import SimpleNamespace
from typing import List, Optional, Tuple

from aria_nav.core.inference.interface import GPU_PRIORITIES, InferenceConfig
from aria_nav.ros.params import Param, config_from, field_default

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
        Param("backend", field_default(InferenceConfig, "backend"),
              "Inference backend; auto picks it from the model file's extension.",
              choices=BACKENDS),
        Param("device", field_default(InferenceConfig, "device"), "Where the model runs: cpu, cuda or cuda:N.",
              check=_check_device),
        Param("providers", [""],
              "ONNX Runtime execution providers in order of preference (cuda, cpu, tensorrt or full provider "
              "names). Empty: cuda then cpu when device is cuda, cpu otherwise. The first one must be active "
              "unless allow_cpu_fallback is true.", item_type=str),
        Param("allow_cpu_fallback", field_default(InferenceConfig, "allow_cpu_fallback"),
              "Accept running on the CPU when the first requested provider is not available (a loud warning and a "
              "WARN diagnostic instead of an error)."),
        Param("intra_op_threads", field_default(InferenceConfig, "intra_op_threads"),
              "ONNX Runtime intra-op threads (0: ONNX Runtime's default).", min=0, max=256),
        Param("gpu_resident", field_default(InferenceConfig, "gpu_resident"),
              "ONNX Runtime on CUDA: keep the model's input and output in device buffers bound once (IO binding) "
              "and do the pre/post-processing on the GPU (needs torch with CUDA; an error otherwise, never a quiet "
              "switch). false: copy tensors through the host. No effect on the CPU."),
        Param("cuda_graph", field_default(InferenceConfig, "cuda_graph"),
              "With gpu_resident: replay the model as one CUDA graph where ONNX Runtime can capture it (diagnostics "
              "say whether it is on and why not)."),
        Param("gpu_priority", field_default(InferenceConfig, "gpu_priority"),
              "With gpu_resident: priority of the CUDA stream this model and its pre/post-processing run on, "
              "among the streams competing for the GPU: the GPU starts a higher one's kernels first (across "
              "processes only under CUDA MPS). The RGB detector high, depth normal, the SLAM detectors low.",
              choices=GPU_PRIORITIES),
    ]



# Declared by nodes that can build TensorRT engines from .onnx models, next to inference_params().
TENSORRT_FP16 = Param("tensorrt_fp16", field_default(InferenceConfig, "tensorrt_fp16"),
                      "With backend tensorrt and an .onnx model: build (once, cached next to the model) and run an "
                      "FP16 engine; false builds FP32.")


def inference_config(cfg: SimpleNamespace, input_hw: Optional[Tuple[int, int]] = None) -> InferenceConfig:
    """The InferenceConfig of a node's declared inference parameters (and tensorrt_fp16 when declared)."""
    return config_from(cfg, InferenceConfig, input_hw=input_hw)
