"""Build the project's test YOLO models offline: the real YOLO11n architecture with random weights.

No weights can be downloaded here, so the tests, the demo and the benchmarks run on YOLO11n built from its
architecture file with a fixed seed. Freshly initialised weights give an almost constant output (every layer
shrinks its input, and the class biases start near -11), which would make cross-checks between backends
meaningless. So the random network is calibrated on synthetic scenes: batch-norm statistics first, which makes
boxes and scores depend strongly on the image, then the scale of the class logits, so that scores spread over
the usual thresholds instead of being all ~0 or all 1. The detections mean nothing (see docs/detection.md for
real weights).

Outputs in `models_dir`: yolo11n.pt (ultralytics checkpoint, COCO class names) and yolo11n_<size>.onnx for each
size (batch 1, fixed shape, opset 17, no NMS in the graph, output (1, 84, N), class names in the metadata). The
ONNX files are exported from the saved checkpoint, so both formats hold bit-identical weights. Every file carries
the recipe it was built with (checkpoint key / ONNX metadata); a file of the same name without it (real weights
saved there) is never overwritten.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import numpy as np

from aria_nav.core.detection.classes import COCO_NAMES
from aria_nav.core.detection.synthetic import synthetic_scene
from aria_nav.core.inference.interface import ModelError
from aria_nav.core.onnx_export import OPSET, export_onnx

# Bump when the recipe changes: files carrying another value in their metadata are rebuilt.
RECIPE = "yolo11n-random-calibrated-v3"
RECIPE_KEY = "aria_nav_recipe"
SEED = 0
CALIBRATION_BATCHES = 6  # of 4 synthetic scenes, per input size
# Class logits over synthetic scenes: scores mostly near 0.02 with a tail into the usual thresholds (0.05-0.9),
# rarely saturating, so backends can be compared box by box.
CLASS_LOGIT_MEAN = -4.0
CLASS_LOGIT_STD = 0.5


def yolo_test_paths(models_dir: Path, sizes: Sequence[int] = (640, 256)) -> List[Path]:
    """The files build_test_yolo() writes: the checkpoint first, then one ONNX per size."""
    return [models_dir / "yolo11n.pt"] + [models_dir / f"yolo11n_{size}.onnx" for size in sizes]


def _onnx_recipe(path: Path) -> Optional[str]:
    """The recipe an ONNX file was built with, "" for another model, None when unreadable."""
    import onnx

    try:
        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception:  # noqa: BLE001 - onnx raises several types for broken files
        return None
    return props.get(RECIPE_KEY, "")


def _checkpoint_recipe(path: Path) -> Optional[str]:
    import torch

    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception:  # noqa: BLE001 - torch raises several types for broken files
        return None
    return checkpoint.get(RECIPE_KEY, "") if isinstance(checkpoint, dict) else ""


def _up_to_date(checkpoint: Path, onnx_paths: Sequence[Path]) -> bool:
    if not checkpoint.is_file():
        return False
    return all(path.is_file() and path.stat().st_mtime >= checkpoint.stat().st_mtime and _onnx_recipe(path) == RECIPE
               for path in onnx_paths)


def _refuse_to_overwrite_other_models(paths: Sequence[Path]) -> None:
    """Real weights saved under the test models' names must never be replaced by random ones."""
    for path in paths:
        if path.is_file():
            recipe = _checkpoint_recipe(path) if path.suffix == ".pt" else _onnx_recipe(path)
            if recipe == "":
                raise ModelError(f"'{path}' is a model that build-test did not make (real weights?); it is left as "
                                 f"it is: move it or give the test models another folder (--models-dir)")


@contextlib.contextmanager
def _quiet_ultralytics() -> Iterator[None]:
    """Ultralytics logs every export step (and notes about this head); keep the build's own output readable."""
    os.environ.setdefault("YOLO_OFFLINE", "1")  # never try to reach the hub or check for updates
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")  # a missing export requirement is an error, not a pip run
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    LOGGER.setLevel(logging.ERROR)
    try:
        yield
    finally:
        LOGGER.setLevel(level)


def _scene_batch(rng, count: int, size: int):
    """(count, 3, size, size) float tensor in [0, 1] of synthetic scenes."""
    import torch

    scenes = np.stack([synthetic_scene(rng, size, size) for _ in range(count)])
    return torch.from_numpy(scenes).permute(0, 3, 1, 2).float().div_(255.0)


def _calibrate(net, rng: np.random.Generator, sizes: Sequence[int]) -> None:
    """Batch-norm statistics from synthetic scenes at each input size (cumulative average), then the class
    logits rescaled to mean CLASS_LOGIT_MEAN and spread CLASS_LOGIT_STD over such scenes."""
    import torch

    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    net.train()
    with torch.no_grad():
        for size in sizes:
            for _ in range(CALIBRATION_BATCHES):
                net(_scene_batch(rng, 4, size))
    net.eval()
    head = net.model[-1]
    class_convs = [branch[-1] for branch in head.cv3]  # the last conv of each scale's class branch
    logits = {id(conv): [] for conv in class_convs}
    hooks = [conv.register_forward_hook(lambda module, _inputs, out: logits[id(module)].append(out.flatten()))
             for conv in class_convs]
    with torch.no_grad():
        for _ in range(CALIBRATION_BATCHES):
            net(_scene_batch(rng, 4, max(sizes)))
        for hook in hooks:
            hook.remove()
        for conv in class_convs:
            values = torch.cat(logits[id(conv)])
            gain = CLASS_LOGIT_STD / values.std().item()
            conv.weight.mul_(gain)
            conv.bias.copy_((conv.bias - values.mean()) * gain + CLASS_LOGIT_MEAN)


def _export_onnx(checkpoint: Path, size: int, destination: Path) -> None:
    import onnx
    from ultralytics import YOLO

    with tempfile.TemporaryDirectory(dir=destination.parent) as tmp:
        local = Path(tmp) / checkpoint.name
        shutil.copy2(checkpoint, local)  # ultralytics writes the export beside the checkpoint
        exported = YOLO(str(local)).export(format="onnx", imgsz=size, opset=OPSET, simplify=False, dynamic=False,
                                           nms=False, batch=1, device="cpu")
        model = onnx.load(exported)
        entry = model.metadata_props.add()
        entry.key, entry.value = RECIPE_KEY, RECIPE
        staged = Path(tmp) / destination.name
        onnx.save(model, str(staged))
        os.replace(staged, destination)


def build_test_yolo(models_dir: Path, sizes: Sequence[int] = (640, 256)) -> List[Path]:
    """Build (or keep, when up to date) yolo11n.pt and yolo11n_<size>.onnx in `models_dir`; returns their paths."""
    models_dir = Path(models_dir)
    paths = yolo_test_paths(models_dir, sizes)
    checkpoint, onnx_paths = paths[0], paths[1:]
    if _up_to_date(checkpoint, onnx_paths):
        return paths
    models_dir.mkdir(parents=True, exist_ok=True)
    import torch

    with _quiet_ultralytics(), torch.random.fork_rng(devices=[]):
        from ultralytics import YOLO

        _refuse_to_overwrite_other_models(paths)
        torch.manual_seed(SEED)
        model = YOLO("yolo11n.yaml")
        model.model.names = dict(enumerate(COCO_NAMES))
        model.ckpt = {RECIPE_KEY: RECIPE}  # saved into the checkpoint beside the weights
        _calibrate(model.model, np.random.default_rng(SEED + 1), sizes)
        staged = checkpoint.with_name(checkpoint.name + ".partial")
        model.save(str(staged))
        os.replace(staged, checkpoint)
        for size, path in zip(sizes, onnx_paths):
            _export_onnx(checkpoint, size, path)
    return paths


def fp16_yolo_path(checkpoint: Path, size: int) -> Path:
    return checkpoint.with_name(f"{checkpoint.stem}_{size}_fp16.onnx")


def export_fp16_yolo(checkpoint: Path, size: int, destination: Path) -> Path:
    """Export an ultralytics detection checkpoint (the test model or trained weights) to ONNX in half precision
    from torch: fixed 1x3x<size>x<size> float16 input, (1, 84, N) float16 output without NMS, the checkpoint's
    class names and stride in the metadata. (ultralytics exports fp16 only on a GPU; torch traces it anywhere.)"""
    import torch

    with _quiet_ultralytics():
        from ultralytics import YOLO
        from ultralytics.nn.modules import Detect

        model = YOLO(str(checkpoint))
        net = model.model.fuse(verbose=False).half().eval()
    for module in net.modules():
        if isinstance(module, Detect):
            module.export, module.format = True, "onnx"  # one (1, 4 + C, N) output, as ultralytics exports it
    names = model.names if isinstance(model.names, dict) else dict(enumerate(model.names))
    recipe = (_checkpoint_recipe(checkpoint) or "external") + "-fp16"
    metadata = {"names": repr(dict(names)), "stride": str(int(max(net.stride.tolist()))), "task": "detect",
                "batch": "1", "imgsz": f"[{size}, {size}]", RECIPE_KEY: recipe}
    return export_onnx(net, destination, size, torch.float16, "images", "output0", metadata)


def build_fp16_yolo(models_dir: Path, sizes: Sequence[int] = (640, 256)) -> List[Path]:
    """yolo11n_<size>_fp16.onnx from the test checkpoint (built first when missing or stale); skips files already
    exported from the current checkpoint."""
    checkpoint = build_test_yolo(models_dir, sizes)[0]
    built = []
    for size in sizes:
        path = fp16_yolo_path(checkpoint, size)
        fresh = path.is_file() and path.stat().st_mtime >= checkpoint.stat().st_mtime and \
            _onnx_recipe(path) == RECIPE + "-fp16"
        built.append(path if fresh else export_fp16_yolo(checkpoint, size, path))
    return built
