"""Trained weights in one command (ROS-free): `aria-nav models get NAME` downloads a model where there is internet
access, `aria-nav models import PATH` takes a local file or folder, and both export exactly what the graph reads.

Names, where each comes from, and the files written to the models folder:
- yolo11n, yolo26n (any ultralytics detection .pt): ultralytics release assets; NAME.pt, NAME_640.onnx (RGB),
  NAME_256.onnx (SLAM).
- depth-anything-v2-small-relative: Hugging Face depth-anything/Depth-Anything-V2-Small-hf;
  depth_anything_v2_small_518.onnx.
- depth-anything-v2-small-metric-indoor: depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf;
  depth_anything_v2_small_metric_indoor_518.onnx.
- depth-anything-v2-small-metric-outdoor: depth-anything/Depth-Anything-V2-Metric-Outdoor-Small-hf;
  depth_anything_v2_small_metric_outdoor_518.onnx.
- smolvlm-256m, smolvlm-500m (the describe node's vision-language model): Hugging Face
  HuggingFaceTB/SmolVLM-256M-Instruct, -500M-Instruct; a transformers folder smolvlm-256m-instruct/ (model and
  processor, as save_pretrained writes them), the describe node's `vlm_model`.

YOLO: fixed-shape ONNX (batch 1, opset 17) without NMS in the graph, output (1, 4 + classes, N), the class names in
the metadata (ultralytics' `names`), as the detector's post-processing expects. YOLO26 is end-to-end (NMS-free) by
default; it is exported with its one-to-many head (`end2end=False`) so the same post-processing applies.
Depth-Anything-V2: fixed 1x3xSxS ONNX with the metadata the depth node reads (relative or metric, max depth,
normalisation), through core.depth.build.export_depth_onnx.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

YOLO_SIZES = (640, 256)  # RGB detector, SLAM detectors
DEPTH_SIZE = 518
OPSET = 17


class WeightsError(Exception):
    """A model that cannot be downloaded, read or exported; the message says what to do."""


@dataclass(frozen=True)
class Catalogued:
    name: str
    kind: str  # yolo | depth | vlm
    source: str  # ultralytics asset name, or Hugging Face repository
    description: str


CATALOG = {entry.name: entry for entry in (
    Catalogued("yolo11n", "yolo", "yolo11n.pt", "YOLO11n, COCO (80 classes)"),
    Catalogued("yolo26n", "yolo", "yolo26n.pt", "YOLO26n, COCO (80 classes)"),
    Catalogued("depth-anything-v2-small-relative", "depth", "depth-anything/Depth-Anything-V2-Small-hf",
               "relative depth: approximate distances, never spoken as metres"),
    Catalogued("depth-anything-v2-small-metric-indoor", "depth",
               "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf", "metric depth, indoor (up to 20 m)"),
    Catalogued("depth-anything-v2-small-metric-outdoor", "depth",
               "depth-anything/Depth-Anything-V2-Metric-Outdoor-Small-hf", "metric depth, outdoor (up to 80 m)"),
    Catalogued("smolvlm-256m", "vlm", "HuggingFaceTB/SmolVLM-256M-Instruct",
               "scene describer (the describe node's vlm_model), 256 M parameters"),
    Catalogued("smolvlm-500m", "vlm", "HuggingFaceTB/SmolVLM-500M-Instruct",
               "scene describer (the describe node's vlm_model), 500 M parameters"),
)}
VLM_MODEL_TYPES = ("idefics3", "smolvlm")  # what the describer's transformers backend loads (core/describe/vlm.py)


def _reason(exc: BaseException) -> str:
    """One clean line of an exception: its type and first line, without ultralytics' decorations."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = " ".join(text.replace("\u274c", "").replace("\ufe0f", "").replace("ERROR ", "", 1).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def offline_hint(name: str) -> str:
    return (f"on a machine with internet access run `aria-nav models get {name}` there and copy the models folder, "
            f"or download the weights yourself and run `aria-nav models import PATH`")


# --- YOLO ---------------------------------------------------------------------------------------------------------

def yolo_outputs(models_dir: Path, name: str, sizes: Sequence[int] = YOLO_SIZES) -> List[Path]:
    return [Path(models_dir) / f"{name}.pt"] + [Path(models_dir) / f"{name}_{size}.onnx" for size in sizes]


def export_yolo(checkpoint: Path, models_dir: Path, name: Optional[str] = None,
                sizes: Sequence[int] = YOLO_SIZES) -> List[Path]:
    """Copy an ultralytics detection checkpoint into `models_dir` as NAME.pt and export NAME_<size>.onnx for each
    size; returns the files written."""
    import onnx

    from aria_nav.core.detection.build import _quiet_ultralytics

    checkpoint = Path(checkpoint)
    name = name or checkpoint.stem
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    outputs = yolo_outputs(models_dir, name, sizes)
    with _quiet_ultralytics(), tempfile.TemporaryDirectory(dir=models_dir) as tmp:
        from ultralytics import YOLO

        local = Path(tmp) / f"{name}.pt"
        shutil.copy2(checkpoint, local)  # ultralytics writes its exports beside the checkpoint
        try:
            model = YOLO(str(local))
        except Exception as exc:  # noqa: BLE001 - torch/ultralytics raise many types for a bad file
            raise WeightsError(f"{checkpoint}: is not an ultralytics checkpoint ({_reason(exc)})") from None
        if model.task != "detect":
            raise WeightsError(f"{checkpoint}: is a '{model.task}' model; the graph needs a detection model")
        for size, destination in zip(sizes, outputs[1:]):
            # end2end=False: YOLO26's one-to-many head (the others have only that one)
            exported = model.export(format="onnx", imgsz=size, opset=OPSET, simplify=False, dynamic=False,
                                    nms=False, end2end=False, batch=1, device="cpu")
            staged = Path(tmp) / destination.name
            onnx.save(onnx.load(exported), str(staged))
            os.replace(staged, destination)
        os.replace(local, outputs[0])
    return outputs


def download_yolo(entry: Catalogued, folder: Path) -> Path:
    """The release asset `entry.source` downloaded into `folder` (ultralytics' own downloader)."""
    os.environ.pop("YOLO_OFFLINE", None)
    from ultralytics.utils.downloads import attempt_download_asset

    target = Path(folder) / entry.source
    try:
        path = Path(attempt_download_asset(str(target)))
    except Exception as exc:  # noqa: BLE001 - network errors come in many types
        raise WeightsError(f"cannot download {entry.source} ({_reason(exc)}); {offline_hint(entry.name)}") from None
    if not path.is_file() or path.stat().st_size == 0:
        raise WeightsError(f"cannot download {entry.source} (no internet access?); {offline_hint(entry.name)}")
    return path


# --- Depth-Anything-V2 --------------------------------------------------------------------------------------------

def depth_filename(config, size: int = DEPTH_SIZE) -> str:
    """depth_anything_v2_small_<size>.onnx (relative, the graph's default) or ..._metric_<indoor|outdoor>_<size>."""
    if config.depth_estimation_type != "metric":
        return f"depth_anything_v2_small_{size}.onnx"
    scene = {20: "indoor", 80: "outdoor"}.get(int(config.max_depth), f"max{int(config.max_depth)}m")
    return f"depth_anything_v2_small_metric_{scene}_{size}.onnx"


def _from_pretrained(loaders, checkpoint: str, local_only: bool, what: str) -> list:
    """Each transformers loader's from_pretrained of `checkpoint` (offline when `local_only`); one WeightsError saying
    that a local folder is not a `what` checkpoint, or that the download failed."""
    try:
        return [loader.from_pretrained(checkpoint, local_files_only=local_only) for loader in loaders]
    except Exception as exc:  # noqa: BLE001 - OSError offline, ValueError for another model type, ...
        if local_only:
            raise WeightsError(f"{checkpoint}: is not a transformers {what} checkpoint ({_reason(exc)})") from None
        raise WeightsError(f"cannot download {checkpoint} ({_reason(exc)})") from None


def export_depth(checkpoint: str, models_dir: Path, size: int = DEPTH_SIZE, local_only: bool = True) -> Path:
    """A transformers Depth-Anything-V2 checkpoint (a folder saved with save_pretrained, or a Hugging Face
    repository when `local_only` is false) exported to a fixed-shape ONNX in `models_dir`."""
    from transformers import AutoModelForDepthEstimation

    from aria_nav.core.depth.build import export_depth_onnx

    model, = _from_pretrained([AutoModelForDepthEstimation], checkpoint, local_only, "depth-estimation")
    config = model.config
    if getattr(config, "depth_estimation_type", None) not in ("relative", "metric"):
        raise WeightsError(f"{checkpoint}: is not a Depth-Anything model (no depth_estimation_type in its config)")
    name = f"{getattr(config, '_name_or_path', '') or Path(checkpoint).name} ({config.depth_estimation_type})"
    return export_depth_onnx(model, Path(models_dir) / depth_filename(config, size), size, name=name)


# --- the describer's vision-language model -----------------------------------------------------------------------

def export_vlm(checkpoint: str, models_dir: Path, folder: Optional[str] = None, local_only: bool = True) -> Path:
    """A transformers image-text-to-text checkpoint of the SmolVLM class (a local folder, or a Hugging Face
    repository when `local_only` is false) saved, model and processor, as the folder `models_dir/folder` (default:
    the checkpoint's name in lower case) that the describe node's `vlm_model` names."""
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    destination = Path(models_dir) / (folder or Path(checkpoint).name.lower())
    if local_only and destination.resolve() == Path(checkpoint).resolve():
        raise WeightsError(f"{checkpoint}: is already in the models folder (give another --models-dir)")
    processor, model = _from_pretrained([AutoProcessor, AutoModelForImageTextToText], checkpoint, local_only,
                                        "vision-language")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent) as tmp:  # a half-written folder never looks like a model
        staging = Path(tmp) / destination.name
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        if destination.is_dir():
            shutil.rmtree(destination)
        os.replace(staging, destination)
    return destination


# --- the two commands ---------------------------------------------------------------------------------------------

def get(name: str, models_dir: Path, depth_size: int = DEPTH_SIZE) -> List[Path]:
    entry = CATALOG.get(name)
    if entry is None:
        raise WeightsError(f"unknown model '{name}': one of {', '.join(CATALOG)} (or `aria-nav models import PATH` "
                           f"for a local .pt or checkpoint folder)")
    if entry.kind == "yolo":
        with tempfile.TemporaryDirectory() as tmp:
            return export_yolo(download_yolo(entry, Path(tmp)), models_dir, entry.name)
    _check_reachable("huggingface.co", entry.name)
    if entry.kind == "vlm":
        return [export_vlm(entry.source, models_dir, local_only=False)]
    return [export_depth(entry.source, models_dir, depth_size, local_only=False)]


def _check_reachable(host: str, name: str, timeout_s: float = 5.0) -> None:
    """A WeightsError at once where `host` cannot be reached (the Hugging Face client would retry for ~30 s)."""
    import socket

    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
    except OSError as exc:
        raise WeightsError(f"cannot reach {host} to download {name} ({exc.strerror or exc}); "
                           f"{offline_hint(name)}") from None


def import_weights(path: Path, models_dir: Path, name: Optional[str] = None,
                   depth_size: int = DEPTH_SIZE) -> List[Path]:
    """A local ultralytics .pt (-> YOLO ONNX at 640 and 256) or transformers checkpoint folder (-> depth ONNX, or
    a SmolVLM-class describer folder)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise WeightsError(f"{path}: does not exist")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise WeightsError(f"{path}: is a folder without config.json (a transformers checkpoint saved with "
                               f"save_pretrained is expected)")
        if _model_type(path / "config.json") in VLM_MODEL_TYPES:
            return [export_vlm(str(path), models_dir, name)]
        return [export_depth(str(path), models_dir, depth_size)]
    if path.suffix != ".pt":
        raise WeightsError(f"{path}: is neither an ultralytics .pt file nor a transformers checkpoint folder")
    return export_yolo(path, models_dir, name)


def _model_type(config_file: Path) -> str:
    import json

    try:
        return str(json.loads(config_file.read_text()).get("model_type", ""))
    except (OSError, ValueError, AttributeError):
        return ""  # the depth export then says what is wrong with it
