"""Depth core: the exported Depth-Anything-V2 test model against PyTorch, input shapes, meters and NaN, geometry.

Models are built offline (random weights, fixed seed) into the models folder; a rebuild is skipped when the file
is up to date, so only the first run pays the export (about 10 s per model).
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from aria_nav import paths
from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.depth import build
from aria_nav.core.depth.geometry import back_project
from aria_nav.core.depth.model_info import DepthModelInfo
from aria_nav.core.depth.processing import (depth_map, network_input_hw, open_depth_estimator, preprocess,
                                            resize_depth, resolve_depth_mode, to_meters)
from aria_nav.core.depth.scaling import RelativeScaling, ValidRange
from aria_nav.core.depth.visualize import colorize_depth
from aria_nav.core.inference.interface import InferenceConfig, ModelError

TEST_SIZE = 266  # 19 patches: the same network as 518, four times fewer tokens, keeps the tests fast


def scene(height: int, width: int) -> np.ndarray:
    """A non-uniform RGB test picture: gradients and a few filled shapes."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([255 * cols / width, 255 * rows / height, 128 + 100 * np.sin(cols / 17.0)], axis=2)
    image = image.astype(np.uint8)
    cv2.rectangle(image, (width // 5, height // 4), (width // 2, height // 2), (250, 30, 30), -1)
    cv2.circle(image, (3 * width // 4, 2 * height // 3), min(height, width) // 6, (20, 200, 90), -1)
    return image


@pytest.fixture(scope="module")
def relative_model():
    return build.build_test_depth(paths.models_dir(), TEST_SIZE, "relative")


@pytest.fixture(scope="module")
def metric_model():
    return build.build_test_depth(paths.models_dir(), TEST_SIZE, "metric")


def test_build_writes_fixed_shape_model_with_metadata_and_skips_when_up_to_date(relative_model, metric_model):
    model = onnx.load(str(relative_model), load_external_data=False)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert model.graph.input[0].name == build.INPUT_NAME and dims == [1, 3, TEST_SIZE, TEST_SIZE]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta[build.METADATA_MODE] == "relative" and meta[build.METADATA_INPUT_SIZE] == "266x266"
    assert DepthModelInfo.from_metadata(meta, "m").mean == build.IMAGENET_MEAN
    metric_meta = {p.key: p.value for p in onnx.load(str(metric_model), load_external_data=False).metadata_props}
    assert metric_meta[build.METADATA_MODE] == "metric" and float(metric_meta[build.METADATA_MAX_DEPTH]) == 20.0
    before = relative_model.stat().st_mtime_ns
    assert build.build_test_depth(paths.models_dir(), TEST_SIZE, "relative") == relative_model
    assert relative_model.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="multiple of the patch size"):
        build.build_test_depth(paths.models_dir(), 500)


@pytest.mark.parametrize("mode", ["relative", "metric"])
def test_onnx_runtime_matches_pytorch_on_non_square_images(mode, relative_model, metric_model):
    """The exported model run by ONNX Runtime equals the transformers model rebuilt from the same seed, on the
    same pre-processed non-square images. Tolerance: 1e-3 of the output's peak (measured about 1e-5)."""
    import torch

    estimator = open_depth_estimator(InferenceConfig(model=str(relative_model if mode == "relative"
                                                                else metric_model)))
    torch_model = build.build_torch_model(mode)
    for height, width in ((480, 640), (700, 350)):
        tensor = preprocess(scene(height, width), network_input_hw((height, width), estimator.runner.fixed_hw(),
                                                                   518), build.IMAGENET_MEAN, build.IMAGENET_STD)
        assert tensor.shape == (1, 3, TEST_SIZE, TEST_SIZE)
        onnx_depth = depth_map(estimator.runner.infer(tensor))
        with torch.no_grad():
            torch_depth = torch_model(pixel_values=torch.from_numpy(tensor)).predicted_depth[0].numpy()
        peak = float(np.abs(torch_depth).max())
        assert peak > 0
        np.testing.assert_allclose(onnx_depth, torch_depth, rtol=0, atol=1e-3 * peak)
        # Same meters from both after the same post-processing. Pixels where one side's ReLU output is exactly 0
        # (no depth: NaN) and the other's a rounding error above it may differ, a few in ten thousand at most.
        onnx_meters, torch_meters = estimator.to_meters(onnx_depth), estimator.to_meters(torch_depth)
        assert np.mean(np.isnan(onnx_meters) != np.isnan(torch_meters)) < 1e-3
        both = np.isfinite(onnx_meters) & np.isfinite(torch_meters)
        assert both.mean() > 0.5
        np.testing.assert_allclose(onnx_meters[both], torch_meters[both], rtol=1e-3)


def test_fixed_shape_model_is_only_ever_fed_its_own_shape(monkeypatch):
    """Whatever the image size, ONNX Runtime receives exactly the model's 1x3x518x518 input (the reference
    system fed 1408x1408 images to a 384x384 model); the output comes back at the source size."""
    import onnxruntime

    model = build.build_test_depth(paths.models_dir(), 518, "relative")
    fed = []
    original_run = onnxruntime.InferenceSession.run

    def recording_run(session, output_names, input_feed, run_options=None):
        fed.extend(value.shape for value in input_feed.values())
        return original_run(session, output_names, input_feed, run_options)

    monkeypatch.setattr(onnxruntime.InferenceSession, "run", recording_run)
    estimator = open_depth_estimator(InferenceConfig(model=str(model)))
    for height, width in ((1408, 1408), (480, 640)):
        depth = estimator.estimate(scene(height, width))
        assert depth.shape == (height, width) and depth.dtype == np.float32
    assert fed == [(1, 3, 518, 518), (1, 3, 518, 518)]
    with pytest.raises(ModelError, match="does not match"):
        estimator.runner.infer(np.zeros((1, 3, 1408, 1408), np.float32))
    assert len(fed) == 2


def _dynamic_mean_model(path) -> None:
    """A real dynamic-shape ONNX model: depth = 20 * sigmoid(mean over channels of the normalised input)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["pixel_values"], ["mean"], axes=[1], keepdims=0),
         helper.make_node("Sigmoid", ["mean"], ["unit"]),
         helper.make_node("Mul", ["unit", "scale"], ["predicted_depth"])],
        "dynamic_depth",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [1, 3, "height", "width"])],
        [helper.make_tensor_value_info("predicted_depth", TensorProto.FLOAT, [1, "height", "width"])],
        initializer=[helper.make_tensor("scale", TensorProto.FLOAT, [], [20.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    helper.set_model_props(model, {build.METADATA_MODE: "metric"})
    onnx.save(model, str(path))


def test_dynamic_shape_model_gets_configured_size_with_aspect_kept(tmp_path):
    path = tmp_path / "dynamic.onnx"
    _dynamic_mean_model(path)
    estimator = open_depth_estimator(InferenceConfig(model=str(path)), input_size=266)
    assert estimator.runner.fixed_hw() is None
    grey = np.full((480, 640, 3), 128, np.uint8)
    depth = estimator.estimate(grey)
    normalised = (128 / 255 - np.array(build.IMAGENET_MEAN)) / np.array(build.IMAGENET_STD)
    expected = 20 / (1 + math.exp(-normalised.mean()))
    assert depth.shape == (480, 640)
    np.testing.assert_allclose(depth, expected, rtol=1e-5)
    assert network_input_hw((480, 640), None, 266) == (266, 350)  # 640 * 266 / 480 = 354.7 -> 25 patches
    assert network_input_hw((1408, 1408), None, 520) == (518, 518)  # the size itself is rounded to 14
    assert network_input_hw((640, 480), None, 518) == (686, 518)
    assert network_input_hw((1408, 1408), (518, 518), 266) == (518, 518)
    assert estimator.estimate(grey, output_hw=(120, 160)).shape == (120, 160)


def test_relative_scaling_recovers_depth_for_any_scale_and_shift_of_inverse_depth():
    true_depth = np.linspace(0.5, 10.0, 400, dtype=np.float64).reshape(20, 20)
    scaling = RelativeScaling(near_m=0.5, far_m=10.0, low_percentile=0.0, high_percentile=100.0)
    for scale, shift in ((1.0, 0.0), (1e-4, 3e-6), (37.0, 5.0)):
        meters = scaling.to_meters((scale / true_depth + shift).astype(np.float32))
        np.testing.assert_allclose(meters, true_depth, rtol=1e-4)
    # Default percentiles: the extremes are clamped to [near, far], the order is kept.
    meters = RelativeScaling().to_meters((1.0 / true_depth).astype(np.float32))
    assert np.nanmin(meters) == pytest.approx(0.5) and np.nanmax(meters) == pytest.approx(10.0)
    assert np.all(np.diff(meters.ravel()) >= 0)


def test_non_finite_and_non_positive_values_become_nan_never_zero_or_inf():
    disparity = np.array([[np.nan, np.inf, -np.inf, 0.0, -1.0, 0.2],
                          [0.4, 0.6, 0.8, 1.0, 1.2, 1.4]], np.float32)
    for mode in ("relative", "metric"):
        meters = to_meters(disparity, mode, RelativeScaling(), ValidRange())
        assert np.all(np.isnan(meters[0, :5])), mode
        assert not np.any(meters[np.isfinite(meters)] <= 0) and not np.any(np.isinf(meters))
    metric = to_meters(disparity, "metric", RelativeScaling(), ValidRange(0.5, 1.1))
    np.testing.assert_array_equal(np.isnan(metric[1]), [True, False, False, False, True, True])
    assert np.all(np.isnan(RelativeScaling().to_meters(np.full((4, 4), 0.3, np.float32))))  # no spread
    assert np.all(np.isnan(RelativeScaling().to_meters(np.zeros((4, 4), np.float32))))


def test_resize_ignores_nan_without_spreading_it():
    depth = np.full((10, 10), 2.0, np.float32)
    depth[:, :5] = 4.0
    depth[4:6, 4:6] = np.nan
    resized = resize_depth(depth, (40, 40))
    hole = np.isnan(resized)
    # The 2x2 hole covers output pixels 16..23: it stays about that big (corners rounded), never spreads.
    assert hole[17:23, 17:23].all() and 8 * 8 - 4 <= hole.sum() <= 8 * 8 and not hole[:15].any()
    assert np.nanmin(resized) >= 2.0 and np.nanmax(resized) <= 4.0
    assert not np.isnan(resize_depth(np.ones((10, 10), np.float32), (3, 4))).any()


def test_depth_mode_resolution_refuses_conflicts_and_unknown_models():
    assert resolve_depth_mode("auto", "metric", "m.onnx") == "metric"
    assert resolve_depth_mode("relative", None, "m.onnx") == "relative"
    with pytest.raises(ModelError, match="set the parameter depth_mode"):
        resolve_depth_mode("auto", None, "m.onnx")
    with pytest.raises(ModelError, match="declares metric"):
        resolve_depth_mode("relative", "metric", "m.onnx")
    with pytest.raises(ModelError, match="metadata std"):
        DepthModelInfo.from_metadata({build.METADATA_STD: "0.2,0,0.2"}, "m.onnx")
    with pytest.raises(ModelError, match="not relative or metric"):
        DepthModelInfo.from_metadata({build.METADATA_MODE: "disparity"}, "m.onnx")


def test_back_projection_puts_points_where_the_intrinsics_say():
    intrinsics = PinholeIntrinsics(width=40, height=30, fx=50.0, fy=60.0, cx=19.5, cy=14.5)
    depth = np.full((30, 40), 2.0, np.float32)
    depth[10, 30] = 5.0
    depth[0, 0] = np.nan
    points = back_project(depth, intrinsics, stride=1)
    assert points.shape == (30 * 40 - 1, 3) and points.dtype == np.float32
    expected = [(30 - 19.5) * 5.0 / 50.0, (10 - 14.5) * 5.0 / 60.0, 5.0]
    assert np.any(np.all(np.isclose(points, expected, atol=1e-6), axis=1))
    strided = back_project(depth, intrinsics, stride=10)
    assert len(strided) == 3 * 4 - 1  # rows 0, 10, 20 x cols 0, 10, 20, 30, less the NaN at (0, 0)
    u = strided[:, 0] * 50.0 / strided[:, 2] + 19.5
    v = strided[:, 1] * 60.0 / strided[:, 2] + 14.5
    np.testing.assert_allclose(u % 10, 0, atol=1e-4)
    np.testing.assert_allclose(v % 10, 0, atol=1e-4)
    with pytest.raises(ValueError, match="intrinsics are for 40x30"):
        back_project(np.ones((15, 20), np.float32), intrinsics)


def test_colorize_is_black_for_nan_and_warm_for_near():
    depth = np.array([[0.5, 9.5, np.nan]], np.float32)
    rgb = colorize_depth(depth, 0.3, 10.0)
    assert rgb.shape == (1, 3, 3) and rgb.dtype == np.uint8
    near, far, missing = rgb[0]
    assert near[0] > near[2] and far[2] > far[0]
    assert missing.tolist() == [0, 0, 0]



def test_every_depth_parameter_is_documented():
    from aria_nav.ros.depth_params import PARAMS

    text = (Path(__file__).resolve().parents[1] / "docs" / "depth.md").read_text()
    missing = [p.name for p in PARAMS if f"| `{p.name}` |" not in text]
    assert not missing, f"docs/depth.md lacks parameters {missing}"
