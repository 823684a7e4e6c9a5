"""`aria-nav models import` and `get` (trained weights in one command), offline: import on the project's own
yolo11n.pt, on a YOLO26n checkpoint built from ultralytics' yolo26n.yaml and on a Depth-Anything-V2 checkpoint
saved with save_pretrained; get's one clear error without network. Everything is written to a temporary
ARIA_NAV_MODELS, never into the shared models/ folder."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from aria_nav import paths
from aria_nav.core import weights
from aria_nav.core.detection.backends import open_detection_runner
from aria_nav.core.detection.detector import DetectorConfig, YoloDetector
from aria_nav.core.detection.synthetic import synthetic_scene
from aria_nav.core.inference.interface import InferenceConfig

ARIA_NAV = Path(sys.executable).parent / "aria-nav"


def models(action, *args, models_dir, env=None, timeout=300):
    environment = dict(os.environ, ARIA_NAV_MODELS=str(models_dir), **(env or {}))
    return subprocess.run([str(ARIA_NAV), "models", action, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=environment)


def input_shape(path):
    dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value for d in dims]


def metadata(path):
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def detect(path, size):
    detector = YoloDetector(open_detection_runner(InferenceConfig(model=str(path))),
                            DetectorConfig(conf_threshold=0.01, classes=["all"]))
    image = synthetic_scene(np.random.default_rng(3), size, size)
    return detector, detector.detect(image)


def test_import_of_the_projects_yolo11n_pt(tmp_path):
    checkpoint = paths.models_dir() / "yolo11n.pt"
    if not checkpoint.is_file():
        pytest.skip(f"{checkpoint} missing: run `aria-nav models build-test`")
    result = models("import", checkpoint, models_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    for name, shape in (("yolo11n_640.onnx", [1, 3, 640, 640]), ("yolo11n_256.onnx", [1, 3, 256, 256])):
        assert input_shape(tmp_path / name) == shape
        assert "'person'" in metadata(tmp_path / name)["names"], "class names in the metadata"
    assert (tmp_path / "yolo11n.pt").read_bytes() == checkpoint.read_bytes()
    assert "yolo_model:=" in result.stdout
    # The same weights as build-test's export from the same checkpoint: the same detections.
    ours, mine = detect(paths.models_dir() / "yolo11n_256.onnx", 256), detect(tmp_path / "yolo11n_256.onnx", 256)
    assert len(mine[1].detections) > 0
    assert np.allclose(ours[1].detections.boxes, mine[1].detections.boxes, atol=0.05)


def test_import_of_a_yolo26_checkpoint(tmp_path):
    """YOLO26 (NMS-free by default) is exported with its one-to-many head: the detector's post-processing reads
    it like any YOLO."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    checkpoint = tmp_path / "src" / "yolo26n.pt"
    checkpoint.parent.mkdir()
    YOLO("yolo26n.yaml").save(str(checkpoint))
    out = tmp_path / "models"
    result = models("import", checkpoint, models_dir=out)
    assert result.returncode == 0, result.stderr
    for size in (640, 256):
        path = out / f"yolo26n_{size}.onnx"
        assert input_shape(path) == [1, 3, size, size] and metadata(path)["end2end"] == "False"
        output = onnx.load(str(path), load_external_data=False).graph.output[0].type.tensor_type.shape.dim
        assert output[1].dim_value == 84, "4 box values + 80 class scores per candidate"
    detector, result = detect(out / "yolo26n_256.onnx", 256)
    assert len(detector.names) == 80 and result.detections.boxes.shape[1] == 4


def test_import_of_a_saved_depth_anything_checkpoint(tmp_path):
    import torch

    from aria_nav.core.depth.build import build_torch_model

    model = build_torch_model("metric", max_depth=20)
    checkpoint = tmp_path / "Depth-Anything-V2-Metric-Indoor-Small-local"
    model.save_pretrained(checkpoint)
    out = tmp_path / "models"
    result = models("import", checkpoint, "--depth-size", 266, models_dir=out)
    assert result.returncode == 0, result.stderr
    path = out / "depth_anything_v2_small_metric_indoor_266.onnx"
    assert input_shape(path) == [1, 3, 266, 266]
    assert metadata(path)["depth_mode"] == "metric" and float(metadata(path)["max_depth"]) == 20.0
    assert f"depth_model:={path}" in result.stdout
    import onnxruntime

    pixels = np.random.default_rng(0).random((1, 3, 266, 266), dtype=np.float32)
    exported = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"pixel_values": pixels})[0]
    with torch.no_grad():
        expected = model(pixel_values=torch.from_numpy(pixels)).predicted_depth.numpy()
    assert np.allclose(exported, expected, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("path, problem", [
    ("missing.pt", "does not exist"), ("notes.txt", "is neither an ultralytics .pt"),
    ("folder", "is a folder without config.json"), ("broken.pt", "is not an ultralytics checkpoint")])
def test_import_of_unusable_input_is_one_line_and_exit_2(tmp_path, path, problem):
    (tmp_path / "notes.txt").write_text("notes")
    (tmp_path / "folder").mkdir()
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    result = models("import", tmp_path / path, models_dir=tmp_path / "models")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"aria-nav models import: {tmp_path / path}: {problem}"), \
        result.stderr


def test_get_without_network_is_one_clear_line(tmp_path):
    # No route out: an unreachable proxy for ultralytics' downloader (connection refused at once).
    refused = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    result = models("get", "yolo26n", models_dir=tmp_path, env=refused, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("aria-nav models get: cannot download yolo26n.pt") and "models import" in line, line
    assert not list(tmp_path.glob("*")), "nothing half-written"


def test_get_of_depth_says_at_once_that_hugging_face_is_unreachable(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(weights.WeightsError, match="cannot reach huggingface.co to download "
                                                   "depth-anything-v2-small-relative .*models get"):
        weights.get("depth-anything-v2-small-relative", tmp_path)


def test_import_of_a_saved_vision_language_checkpoint_gives_the_describers_folder(tmp_path):
    """A SmolVLM-class folder (here the project's tiny random-weight build, saved with save_pretrained) becomes a
    folder of the models folder that the describe node's TransformersDescriber loads and runs."""
    from aria_nav.core.describe.build import build_test_vlm
    from aria_nav.core.describe.vlm import TransformersDescriber

    checkpoint = build_test_vlm(tmp_path / "downloads")
    result = models("import", checkpoint, "--name", "my-describer", models_dir=tmp_path / "models")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "models" / "my-describer"
    assert f"vlm_model: {folder}" in result.stdout
    describer = TransformersDescriber(folder)
    assert describer.test_model, "the test build's mark travels with it: its words are still said to mean nothing"
    assert describer.describe(np.zeros((64, 64, 3), np.uint8), lambda: False).strip()
    again = models("import", folder, models_dir=tmp_path / "models")
    assert again.returncode == 2 and "is already in the models folder" in again.stderr


def test_get_of_the_describer_says_at_once_that_hugging_face_is_unreachable(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(weights.WeightsError, match="cannot reach huggingface.co to download smolvlm-256m .*models get"):
        weights.get("smolvlm-256m", tmp_path)
    assert not list(tmp_path.glob("*")), "nothing half-written"
