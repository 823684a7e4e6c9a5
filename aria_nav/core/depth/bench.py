"""Depth model benchmark (`aria-nav bench-model --depth`): time per stage for each model and backend.

Stages: preprocess (resize to the network input, normalise), inference, postprocess (meters, NaN masking and
resize back to the image size). They are timed separately because on a GPU the inference shrinks and the CPU
stages around it start to matter. Backends that cannot run here are listed as skipped with the reason. Numbers
are printed, never asserted.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from aria_nav.core.depth.processing import (depth_map, network_input_hw, open_depth_estimator, preprocess,
                                            resize_depth, round_to_patch)
from aria_nav.core.inference.onnx_runtime import ModelError
from aria_nav.core.inference.runner import InferenceConfig

DEFAULT_DEPTH_MODELS = ("depth_anything_v2_small_518.onnx",)
BACKENDS_BY_EXTENSION = {".onnx": ("onnxruntime", "tensorrt"), ".engine": ("tensorrt",), ".plan": ("tensorrt",)}
STAGES = ("preprocess", "inference", "postprocess", "total")


def bench_depth_one(model: str, backend: str, images: Sequence[np.ndarray], device: str = "cpu",
                    frames: int = 20, warmup: int = 3, input_size: int = 518) -> Dict:
    """One row: median and 95th percentile ms per stage over `frames` frames cycling through `images` (RGB)."""
    row: Dict = {"model": Path(model).name, "backend": backend}
    side = round_to_patch(input_size)  # the square input a TensorRT engine is built for (dynamic models)
    try:
        estimator = open_depth_estimator(InferenceConfig(model=model, backend=backend, device=device,
                                                         input_hw=(side, side)), input_size=input_size)
    except ModelError as exc:
        row["skipped"] = str(exc)
        return row
    runner = estimator.runner
    times: List[List[float]] = []
    valid_fraction: List[float] = []
    start_all = 0.0
    for index in range(warmup + frames):
        if index == warmup:
            start_all = time.perf_counter()
        rgb = images[index % len(images)]
        if rgb.ndim == 2:  # grey frames (SLAM cameras, --grey) are read as RGB, as the node does with mono8
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        start = time.perf_counter()
        input_hw = network_input_hw(rgb.shape[:2], runner.fixed_hw(), estimator.input_size)
        tensor = preprocess(rgb, input_hw, estimator.info.mean, estimator.info.std, runner.input_dtype)
        prepared = time.perf_counter()
        raw = depth_map(runner.infer(tensor))
        inferred = time.perf_counter()
        depth = resize_depth(estimator.to_meters(raw), rgb.shape[:2])
        done = time.perf_counter()
        if index >= warmup:
            times.append([1000.0 * t for t in (prepared - start, inferred - prepared, done - inferred,
                                               done - start)])
            valid_fraction.append(float(np.isfinite(depth).mean()))
    elapsed = time.perf_counter() - start_all
    table = np.array(times)
    row.update(provider=runner.provider, input=f"{input_hw[1]}x{input_hw[0]}", frames=frames,
               fps=frames / elapsed, valid_fraction=float(np.mean(valid_fraction)),
               mode=estimator.describe()["mode"])
    for column, stage in enumerate(STAGES):
        p50, p95 = np.percentile(table[:, column], [50, 95])
        row[f"{stage}_ms_p50"], row[f"{stage}_ms_p95"] = float(p50), float(p95)
    estimator.close()
    return row


def backends_for(model: str) -> Sequence[str]:
    return BACKENDS_BY_EXTENSION.get(Path(model).suffix.lower(), ("auto",))


HEADER = (f"{'model':<40} {'backend':<12} {'input':>7} {'pre p50/p95':>13} {'infer p50/p95':>17} "
          f"{'post p50/p95':>13} {'total p50':>9} {'fps':>6} {'valid':>5}  provider")


def format_row(r: Dict) -> str:
    if "skipped" in r:
        return f"{r['model']:<40} {r['backend']:<12} skipped: {r['skipped']}"
    return (f"{r['model']:<40} {r['backend']:<12} {r['input']:>7} "
            f"{r['preprocess_ms_p50']:>6.1f}/{r['preprocess_ms_p95']:<6.1f} "
            f"{r['inference_ms_p50']:>8.1f}/{r['inference_ms_p95']:<8.1f} "
            f"{r['postprocess_ms_p50']:>6.1f}/{r['postprocess_ms_p95']:<6.1f} {r['total_ms_p50']:>9.1f} "
            f"{r['fps']:>6.2f} {r['valid_fraction']:>5.2f}  {r['provider']}")


def bench_depth_models(models: Sequence[str], images: Sequence[np.ndarray], device: str, frames: int, warmup: int,
                       input_size: int) -> List[Dict]:
    """Rows for every model and each backend that can run it, printed as they come."""
    print(HEADER, flush=True)
    rows = []
    for model in models:
        for backend in backends_for(model):
            rows.append(bench_depth_one(model, backend, images, device, frames, warmup, input_size))
            print(format_row(rows[-1]), flush=True)
    return rows
