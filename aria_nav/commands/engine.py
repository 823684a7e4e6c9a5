"""`aria-nav engine build MODEL.onnx`: convert an ONNX model to a TensorRT engine for this GPU, cached beside it.

The engine is named after the GPU and the TensorRT version it is only valid for, with a JSON sidecar, and is
rebuilt when stale (see aria_nav.core.inference.engine_cache). Needs TensorRT and an NVIDIA GPU; without them
the command says so in one line and exits 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_MODEL_ERROR = 2


def register(subparsers) -> None:
    parser = subparsers.add_parser("engine", help="build TensorRT engines from ONNX models (cached per GPU)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="build (or reuse, when up to date) the TensorRT engine of an ONNX "
                                             "model for this GPU and TensorRT version")
    build.add_argument("model", type=Path, help="the .onnx model (the engine is written next to it)")
    build.add_argument("--fp16", action="store_true", help="allow FP16 kernels (faster; default: FP32)")
    build.add_argument("--device", default="cuda", help="CUDA device to build for (default: %(default)s)")
    build.add_argument("--input-size", type=int, default=0,
                       help="square input size, for models with a dynamic input (default: the model's own)")
    build.set_defaults(func=build_engine_command)


def build_engine_command(args: argparse.Namespace) -> int:
    from aria_nav.core.inference.interface import ModelError, check_model_file
    from aria_nav.core.inference.tensorrt import ensure_engine

    try:
        check_model_file(str(args.model))
        if args.model.suffix.lower() != ".onnx":
            raise ModelError(f"'{args.model}' is not an .onnx model")
        input_hw = (args.input_size, args.input_size) if args.input_size else None
        engine = ensure_engine(args.model, device=args.device, fp16=args.fp16, input_hw=input_hw,
                               log=lambda line: print(f"engine: {line}", flush=True))
    except ModelError as exc:
        print(f"aria-nav engine: {exc}", file=sys.stderr)
        return EXIT_MODEL_ERROR
    print(f"engine: {engine} is up to date; use it with the detector's model parameter (or model "
          f"{args.model.name} with backend tensorrt)")
    return 0
