"""`aria-nav models get NAME` and `aria-nav models import PATH`: trained weights exported for the graph
(aria_nav.core.weights); registered under `aria-nav models` by commands/models.py (kept out of commands/, whose
modules are top-level commands)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aria_nav import paths


def register_weights(actions) -> None:
    from aria_nav.core.weights import CATALOG, DEPTH_SIZE

    get = actions.add_parser(
        "get", help="download trained weights (needs internet access) and export what the graph reads",
        description="Models: " + "; ".join(f"{e.name}: {e.description}" for e in CATALOG.values()))
    get.add_argument("name", choices=sorted(CATALOG), metavar="NAME", help=", ".join(CATALOG))
    imported = actions.add_parser(
        "import", help="export a local ultralytics .pt (YOLO ONNX 640 and 256), a transformers Depth-Anything-V2 "
                       "checkpoint folder (fixed-shape ONNX) or a SmolVLM-class folder (the describer) into the "
                       "models folder")
    imported.add_argument("path", type=Path, metavar="PATH")
    imported.add_argument("--name", default=None, help="YOLO: base name of the files (default: the .pt's name); "
                                                       "describer: the folder's name (default: the checkpoint's)")
    for parser in (get, imported):
        parser.add_argument("--models-dir", type=Path, default=None,
                            help=f"output folder (default: {paths.models_dir_origin()})")
        parser.add_argument("--depth-size", type=int, default=DEPTH_SIZE,
                            help="Depth-Anything-V2 input size, a multiple of 14 (default: %(default)s)")
    get.set_defaults(func=lambda args: _run(args, "get"))
    imported.set_defaults(func=lambda args: _run(args, "import"))


def size_mb(path: Path) -> float:
    """A model file's size, or a model folder's (a transformers checkpoint), in MB."""
    files = [f for f in path.rglob("*") if f.is_file()] if path.is_dir() else [path]
    return sum(f.stat().st_size for f in files) / 1e6


def _run(args: argparse.Namespace, action: str) -> int:
    from aria_nav.core.weights import WeightsError, get, import_weights

    models_dir = args.models_dir or paths.models_dir()
    try:
        if action == "get":
            written = get(args.name, models_dir, args.depth_size)
        else:
            written = import_weights(args.path, models_dir, args.name, args.depth_size)
    except (WeightsError, ValueError) as exc:
        print(f"aria-nav models {action}: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"models: {path} ({size_mb(path):.1f} MB)")
    onnx_files = [p for p in written if p.suffix == ".onnx"]
    if any(p.is_dir() for p in written):
        print(f"use: the describe node's parameter vlm_model: {written[0]}  (with describe:=true)")
    elif any(p.name.startswith("depth_") for p in onnx_files):
        print(f"use: aria-nav launch depth_model:={onnx_files[0]}  (or ros2 launch aria_nav nav.launch.py ...)")
    elif onnx_files:
        print(f"use: aria-nav launch yolo_model:={onnx_files[0]} slam_yolo_model:={onnx_files[-1]}")
    return 0
