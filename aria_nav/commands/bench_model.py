"""`aria-nav bench-model`: per-frame cost of detection models on each backend that can run them here.

For every model and backend: preprocess (letterbox), inference and postprocess (decode, NMS, mapping) times per
frame, p50 and p95 in ms, and the throughput of the whole sequence, on the given images. Backends that cannot run
here (TensorRT without TensorRT, CUDA without a GPU) are listed as skipped with the reason. Numbers are printed
(and optionally saved as JSON), never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

from aria_nav import paths
from aria_nav.core.model_bench import StageTable, add_stage_percentiles

DEFAULT_MODELS = ("yolo11n_640.onnx", "yolo11n_256.onnx", "yolo11n.pt")
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp"}
SYNTHETIC_HW = (1408, 1408)  # the Aria RGB camera's full resolution


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench-model", help="time detection models per backend: preprocess, "
                                                       "inference, postprocess (p50/p95) and throughput")
    parser.add_argument("models", nargs="*", default=list(DEFAULT_MODELS),
                        help="model files (relative: in the models folder), default: %(default)s")
    parser.add_argument("--images", nargs="+", type=Path, default=[],
                        help="images: files, folders of images, or .vrs recordings (their RGB frames); default: "
                             f"synthetic {SYNTHETIC_HW[1]}x{SYNTHETIC_HW[0]} scenes")
    parser.add_argument("--grey", action="store_true", help="feed the images as grey (mono8, like the SLAM cameras)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=50, help="timed frames per model and backend")
    parser.add_argument("--warmup", type=int, default=5, help="untimed frames first")
    parser.add_argument("--input-size", type=int, default=0, help="input size for models with a dynamic input")
    parser.add_argument("--conf", type=float, default=0.25, help="confidence threshold")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    parser.add_argument("--depth", action="store_true",
                        help="time depth models instead (default: depth_anything_v2_small_518.onnx): preprocess, "
                             "inference, postprocess (meters, resize back); --input-size defaults to 518")
    parser.set_defaults(func=bench_models)


def _load_images(sources: List[Path], grey: bool) -> List[np.ndarray]:
    import cv2

    from aria_nav.core.detection.synthetic import synthetic_scene

    images: List[np.ndarray] = []
    for source in sources:
        if source.is_dir():
            files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        else:
            files = [source]
        for path in files:
            if path.suffix.lower() == ".vrs":
                images.extend(_vrs_rgb_frames(path))
                continue
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise SystemExit(f"aria-nav bench-model: '{path}' is not a readable image")
            images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    if not sources:
        rng = np.random.default_rng(0)
        images = [synthetic_scene(rng, *SYNTHETIC_HW) for _ in range(5)]
    if not images:
        raise SystemExit("aria-nav bench-model: no images found in " + ", ".join(map(str, sources)))
    return [cv2.cvtColor(i, cv2.COLOR_RGB2GRAY) for i in images] if grey else images


def _vrs_rgb_frames(path: Path) -> List[np.ndarray]:
    from projectaria_tools.core import data_provider

    provider = data_provider.create_vrs_data_provider(str(path))
    stream = provider.get_stream_id_from_label("camera-rgb") if provider else None
    if stream is None:
        raise SystemExit(f"aria-nav bench-model: '{path}' is not a VRS recording with an RGB camera stream")
    return [provider.get_image_data_by_index(stream, i)[0].to_numpy_array()
            for i in range(provider.get_num_data(stream))]


def _machine() -> str:
    import onnxruntime
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA GPU"
    return (f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {gpu}; "
            f"onnxruntime {onnxruntime.__version__}, torch {torch.__version__}")


def bench_one(model: str, backend: str, images: List[np.ndarray], args: argparse.Namespace) -> Dict:
    from aria_nav.core.detection.backends import open_detection_runner
    from aria_nav.core.detection.detector import DetectorConfig, YoloDetector
    from aria_nav.core.inference.interface import InferenceConfig, ModelError

    row: Dict = {"model": Path(model).name, "backend": backend}
    size = args.input_size or None
    try:
        runner = open_detection_runner(InferenceConfig(
            model=model, backend=backend, device=args.device,
            input_hw=(size, size) if size else None))
        detector = YoloDetector(runner, DetectorConfig(conf_threshold=args.conf, classes=["all"],
                                                       input_size=args.input_size))
    except ModelError as exc:
        row["skipped"] = str(exc)
        return row
    for i in range(args.warmup):
        detector.detect(images[i % len(images)])
    times, counts = [], []
    start = time.perf_counter()
    for i in range(args.frames):
        result = detector.detect(images[i % len(images)])
        times.append((result.times.preprocess_ms, result.times.inference_ms, result.times.postprocess_ms,
                      result.times.total_ms))
        counts.append(len(result.detections))
    elapsed = time.perf_counter() - start
    row.update(provider=runner.provider, input=f"{detector.input_hw[1]}x{detector.input_hw[0]}",
               frames=args.frames, fps=args.frames / elapsed, detections_mean=float(np.mean(counts)))
    add_stage_percentiles(row, times)
    runner.close()
    return row


TABLE = StageTable(model_width=18, decimals=2, last_title="dets", last_key="detections_mean", last_format=".1f")


def _model_path(text: str) -> str:
    """A path that exists as given (relative to the working directory), else the name in the models folder."""
    return str(Path(text).resolve()) if Path(text).exists() else str(paths.models_dir() / text)


def bench_models(args: argparse.Namespace) -> int:
    if args.frames < 1 or args.warmup < 0:
        raise SystemExit("aria-nav bench-model: --frames must be at least 1 and --warmup at least 0")
    images = _load_images(args.images, args.grey)
    shapes = sorted({f"{i.shape[1]}x{i.shape[0]}{'' if i.ndim == 3 else ' grey'}" for i in images})
    print(f"model benchmark on {_machine()}")
    print(f"{len(images)} images ({', '.join(shapes)}), {args.warmup} warm-up + {args.frames} timed frames each, "
          f"device {args.device}, conf {args.conf}, times in ms")
    if args.depth:
        from aria_nav.core.depth import bench as depth_bench

        models = depth_bench.DEFAULT_DEPTH_MODELS if args.models == list(DEFAULT_MODELS) else args.models
        rows = depth_bench.bench_depth_models([_model_path(m) for m in models], images, args.device, args.frames,
                                              args.warmup, args.input_size or 518)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
        return 0
    rows = TABLE.run([_model_path(m) for m in args.models],
                     lambda model, backend: bench_one(model, backend, images, args))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0
