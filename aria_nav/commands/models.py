"""`aria-nav models build-test`: build the project's test models offline (real architectures, random weights);
`get` and `import` (trained weights) live in aria_nav/weights_commands.py."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from aria_nav import paths
from aria_nav.weights_commands import register_weights, size_mb


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="build or list the models the graph uses")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build-test", help="build YOLO11n (ONNX 640 and 256, .pt), Depth-Anything-V2-Small (ONNX 518, 266, metric 266) "
                           "and a tiny SmolVLM-architecture describer (smolvlm_test/) with random weights, offline, "
                           "into the models folder (skips what is up to date)")
    build.add_argument("--models-dir", type=Path, default=None, help="output folder (default: %(default)s = models/)")
    build.set_defaults(func=build_test_models)
    fp16 = actions.add_parser(
        "build-fp16", help="build half-precision (fp16) versions of the test models for GPUs: YOLO11n 640 and 256 "
                           "and Depth-Anything-V2-Small 518, exported from torch (builds the fp32 checkpoint first "
                           "when needed)")
    fp16.add_argument("--models-dir", type=Path, default=None, help="output folder (default: models/)")
    fp16.set_defaults(func=build_fp16_models)
    listing = actions.add_parser("list", help="list model files in the models folder with their input shapes")
    listing.add_argument("--models-dir", type=Path, default=None)
    listing.set_defaults(func=list_models)
    register_weights(actions)  # get, import: trained weights (aria_nav/weights_commands.py)


def build_test_models(args: argparse.Namespace) -> int:
    from aria_nav.core.depth.build import build_test_depth
    from aria_nav.core.describe.build import build_test_vlm
    from aria_nav.core.detection.build import build_test_yolo
    from aria_nav.core.inference.interface import ModelError

    models_dir = args.models_dir or paths.models_dir()
    models_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    try:
        # The 266 depth models keep CPU tests and CPU demos fast; the metric one exercises the metric path.
        built = list(build_test_yolo(models_dir)) + [build_test_depth(models_dir), build_test_depth(models_dir, 266),
                                                     build_test_depth(models_dir, 266, mode="metric"),
                                                     build_test_vlm(models_dir)]
    except ModelError as exc:  # e.g. real weights saved under a test model's name are never overwritten
        print(f"aria-nav models: {exc}", file=sys.stderr)
        return 2
    for path in built:
        print(f"models: {path} ({size_mb(path):.1f} MB)")
    print(f"models: ready in {time.monotonic() - start:.1f} s (random weights: for tests and the demo only; "
          f"see README 'Real models'; the describer's words mean nothing)")
    return 0


def build_fp16_models(args: argparse.Namespace) -> int:
    from aria_nav.core.depth.build import build_fp16_depth
    from aria_nav.core.detection.build import build_fp16_yolo
    from aria_nav.core.inference.interface import ModelError

    models_dir = args.models_dir or paths.models_dir()
    models_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    try:
        built = build_fp16_yolo(models_dir) + [build_fp16_depth(models_dir)]
    except ModelError as exc:
        print(f"aria-nav models: {exc}", file=sys.stderr)
        return 2
    for path in built:
        print(f"models: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"models: fp16 ready in {time.monotonic() - start:.1f} s (for GPUs: most CPUs run fp16 slowly)")
    return 0


def list_models(args: argparse.Namespace) -> int:
    import onnx

    models_dir = args.models_dir or paths.models_dir()
    files = sorted(p for p in models_dir.glob("*") if p.suffix in (".onnx", ".engine", ".plan", ".pt"))
    if not files:
        print(f"models: no model files in {models_dir} (run: aria-nav models build-test)")
    for path in files:
        shape = ""
        if path.suffix == ".onnx":
            graph_input = onnx.load(str(path), load_external_data=False).graph.input[0]
            dims = [d.dim_value or d.dim_param for d in graph_input.type.tensor_type.shape.dim]
            shape = f" input {graph_input.name} {dims}"
        print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB{shape}")
    return 0
