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
from aria_nav.core.inference.interface import InferenceConfig, ModelError
from aria_nav.core.model_bench import StageTable, add_stage_percentiles

DEFAULT_DEPTH_MODELS = ("depth_anything_v2_small_518.onnx",)


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
    row.update(provider=runner.provider, input=f"{input_hw[1]}x{input_hw[0]}", frames=frames,
               fps=frames / elapsed, valid_fraction=float(np.mean(valid_fraction)),
               mode=estimator.describe()["mode"])
    add_stage_percentiles(row, times)
    estimator.close()
    return row


TABLE = StageTable(model_width=40, decimals=1, last_title="valid", last_key="valid_fraction", last_format=".2f")


def bench_depth_models(models: Sequence[str], images: Sequence[np.ndarray], device: str, frames: int, warmup: int,
                       input_size: int) -> List[Dict]:
    """Rows for every model and each backend to try for it, printed as they come."""
    return TABLE.run(models, lambda model, backend: bench_depth_one(model, backend, images, device, frames, warmup,
                                                                   input_size))
