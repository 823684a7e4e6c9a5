"""Inference runners on the real test models: input checks, provider verification, file errors, and the
TensorRT paths that can be exercised without TensorRT (its absence, the engine cache and its sidecar checks)."""
from __future__ import annotations

import importlib.util
import json
import os
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from aria_nav import cli, paths
from aria_nav.core.detection.backends import open_detection_runner
from aria_nav.core.detection.build import build_test_yolo
from aria_nav.core.inference.engine_cache import (EngineKey, check_engine_compatible, engine_path_for,
                                                  stale_reason, write_sidecar)
from aria_nav.core.inference.interface import InferenceConfig, ModelError
from aria_nav.core.inference.onnx_runtime import OnnxRuntimeRunner
from aria_nav.core.inference.registry import backend_for, open_runner

HAVE_TENSORRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture(scope="module")
def models():
    checkpoint, onnx_640, onnx_256 = build_test_yolo(paths.models_dir())
    return {"pt": checkpoint, 640: onnx_640, 256: onnx_256}


def test_onnxruntime_runner_reports_its_input_and_checks_tensors(models):
    runner = open_runner(InferenceConfig(str(models[640])))
    assert isinstance(runner, OnnxRuntimeRunner)
    assert runner.fixed_hw() == (640, 640) and runner.input_dtype == np.float32 and runner.channels == 3
    assert runner.provider == "CPUExecutionProvider" and runner.fallback_warning is None
    assert "names" in runner.metadata
    assert runner.infer(np.zeros((1, 3, 640, 640), np.float32)).shape == (1, 84, 8400)
    with pytest.raises(ModelError, match=r"input shape \[1, 3, 256, 256\] does not match .*\[1, 3, 640, 640\]"):
        runner.infer(np.zeros((1, 3, 256, 256), np.float32))
    with pytest.raises(ModelError, match="rank 3"):
        runner.infer(np.zeros((3, 640, 640), np.float32))
    with pytest.raises(ModelError, match="dtype float64"):
        runner.infer(np.zeros((1, 3, 640, 640)))
    assert "onnxruntime on CPUExecutionProvider: yolo11n_640.onnx (input 1x3x640x640 float32)" == runner.describe()


def test_relative_models_are_found_in_the_models_folder(models):
    assert open_runner(InferenceConfig(models[256].name)).path == models[256]


def test_missing_and_non_model_files_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="'.*nowhere.onnx' does not exist"):
        open_runner(InferenceConfig(str(tmp_path / "nowhere.onnx")))
    text = tmp_path / "notes.onnx"
    text.write_text("not a model")
    with pytest.raises(ModelError, match="notes.onnx' is not a loadable ONNX model"):
        open_runner(InferenceConfig(str(text)))
    fake_checkpoint = tmp_path / "notes.pt"
    fake_checkpoint.write_text("not a checkpoint")
    with pytest.raises(ModelError, match="notes.pt' is not a loadable ultralytics checkpoint"):
        open_detection_runner(InferenceConfig(str(fake_checkpoint)))
    empty = tmp_path / "empty.onnx"
    empty.touch()
    with pytest.raises(ModelError, match="empty or not a file"):
        open_runner(InferenceConfig(str(empty)))
    with pytest.raises(ModelError, match="is empty or not a file"):
        open_runner(InferenceConfig(str(tmp_path)))
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"\0" * 8)
    with pytest.raises(ModelError, match="cannot pick a backend for extension '.bin'"):
        open_runner(InferenceConfig(str(weights)))


@pytest.mark.parametrize("shape, problem", [([1, 10], "rank-2 input"), ([4, 3, 32, 32], "fixed batch of 4")])
def test_models_that_do_not_take_one_image_are_refused(tmp_path, shape, problem):
    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [value],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    path = tmp_path / "identity.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ModelError, match=f"identity.onnx' has a {problem}"):
        open_runner(InferenceConfig(str(path)))


def test_backend_and_extension_must_agree(models):
    assert backend_for(models[640], "auto") == "onnxruntime"
    assert backend_for(models["pt"], "auto") == "ultralytics"
    with pytest.raises(ModelError, match="backend 'onnxruntime' loads .onnx files, not '.pt'"):
        open_detection_runner(InferenceConfig(str(models["pt"]), backend="onnxruntime"))
    with pytest.raises(ModelError, match="backend 'ultralytics' is not available here"):
        open_runner(InferenceConfig(str(models["pt"])))  # the generic runner knows no ultralytics


def test_cuda_request_fails_clearly_or_falls_back_with_a_warning(models):
    with pytest.raises(ModelError, match="CUDAExecutionProvider is not active.*allow_cpu_fallback"):
        open_runner(InferenceConfig(str(models[256]), device="cuda"))
    with pytest.raises(ModelError, match="CUDAExecutionProvider"):
        open_runner(InferenceConfig(str(models[256]), providers=["cuda", "cpu"]))
    runner = open_runner(InferenceConfig(str(models[256]), device="cuda", allow_cpu_fallback=True))
    assert runner.provider == "CPUExecutionProvider"
    assert "CUDAExecutionProvider" in runner.fallback_warning and "allow_cpu_fallback" in runner.fallback_warning
    assert runner.infer(np.zeros((1, 3, 256, 256), np.float32)).shape == (1, 84, 1344)


def test_ultralytics_runner_on_cpu_and_its_cuda_fallback(models):
    import torch

    runner = open_detection_runner(InferenceConfig(str(models["pt"])))
    assert runner.backend == "ultralytics" and runner.fixed_hw() is None
    assert runner.provider == "torch cpu fp32" and runner.metadata["stride"] == "32"
    # Any stride multiple: 320x256 has 40*32 + 20*16 + 10*8 candidates over the strides 8, 16 and 32.
    assert runner.infer(np.zeros((1, 3, 320, 256), np.float32)).shape == (1, 84, 1680)
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="device cuda is not usable.*allow_cpu_fallback"):
            open_detection_runner(InferenceConfig(str(models["pt"]), device="cuda"))
        fallback = open_detection_runner(InferenceConfig(str(models["pt"]), device="cuda", allow_cpu_fallback=True))
        assert fallback.provider == "torch cpu fp32" and "RUNNING ON THE CPU" in fallback.fallback_warning


# ---- TensorRT without TensorRT, and the engine cache ------------------------------------------------------------

@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed: its absence cannot be tested here")
def test_tensorrt_backend_without_tensorrt_is_a_clear_error(models, tmp_path, capsys):
    engine = tmp_path / "yolo.engine"
    engine.write_bytes(b"\x01" * 64)
    for config in (InferenceConfig(str(engine)), InferenceConfig(str(models[640]), backend="tensorrt",
                                                                 device="cuda")):
        with pytest.raises(ModelError, match="needs NVIDIA TensorRT's Python package, which is not installed"):
            open_detection_runner(config)
    args = cli.build_parser().parse_args(["engine", "build", str(models[640]), "--fp16"])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("aria-nav engine: the tensorrt backend needs NVIDIA TensorRT") and err.count("\n") == 1


def test_engine_build_command_rejects_non_onnx_files(tmp_path, capsys):
    model = tmp_path / "model.pt"
    model.write_bytes(b"\x01")
    args = cli.build_parser().parse_args(["engine", "build", str(model)])
    assert args.func(args) == 2
    assert "is not an .onnx model" in capsys.readouterr().err


def test_engine_names_are_keyed_by_gpu_tensorrt_version_and_precision(tmp_path):
    onnx_path = tmp_path / "yolo11n_640.onnx"
    key = EngineKey("NVIDIA H100 80GB HBM3", "10.13.3.9", True)
    assert engine_path_for(onnx_path, key) == tmp_path / "yolo11n_640.NVIDIA_H100_80GB_HBM3.trt10.13.3.9.fp16.engine"
    assert engine_path_for(onnx_path, EngineKey("Orin (nvgpu)", "8.6.2", False)).name == \
        "yolo11n_640.Orin_nvgpu.trt8.6.2.fp32.engine"


def test_engine_staleness(tmp_path):
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(b"onnx")
    key = EngineKey("GPU A", "10.1", True)
    engine = engine_path_for(onnx_path, key)
    assert stale_reason(onnx_path, engine, key) == "no engine built yet"
    engine.write_bytes(b"engine")
    assert stale_reason(onnx_path, engine, key) == "the engine has no sidecar"
    write_sidecar(engine, key, onnx_path, (1, 3, 640, 640), {"names": "{0: 'person'}"})
    assert stale_reason(onnx_path, engine, key) is None
    assert json.loads((tmp_path / (engine.name + ".json")).read_text())["metadata"] == {"names": "{0: 'person'}"}
    assert "does not match" in stale_reason(onnx_path, engine, EngineKey("GPU A", "10.2", True))
    assert "does not match" in stale_reason(onnx_path, engine, EngineKey("GPU A", "10.1", False))
    later = time.time() + 10
    os.utime(onnx_path, (later, later))
    assert stale_reason(onnx_path, engine, key) == "the ONNX model is newer than the engine"


def test_engine_for_another_gpu_or_tensorrt_version_is_refused(tmp_path):
    onnx_path = tmp_path / "m.onnx"
    key = EngineKey("NVIDIA GeForce RTX 4090", "10.13.3.9", True)
    engine = engine_path_for(onnx_path, key)
    engine.write_bytes(b"engine")
    check_engine_compatible(engine, "NVIDIA GeForce RTX 4090", "10.13.3.9")  # the machine it was built on
    write_sidecar(engine, key, onnx_path, (1, 3, 640, 640))
    with pytest.raises(ModelError, match="built for GPU 'NVIDIA GeForce RTX 4090' with TensorRT 10.13.3.9, but "
                                         "this machine has GPU 'NVIDIA H100' with TensorRT 10.13.3.9.*"
                                         "aria-nav engine build m.onnx"):
        check_engine_compatible(engine, "NVIDIA H100", "10.13.3.9")
    with pytest.raises(ModelError, match="with TensorRT 10.0.1"):
        check_engine_compatible(engine, "NVIDIA GeForce RTX 4090", "10.0.1")
    (tmp_path / (engine.name + ".json")).write_text("{not json")
    with pytest.raises(ModelError, match="sidecar .* is unreadable"):
        check_engine_compatible(engine, "NVIDIA GeForce RTX 4090", "10.13.3.9")
