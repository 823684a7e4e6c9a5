"""The GPU-resident inference path (IO binding, device pre/post-processing) and the fp16 models.

CI has no GPU: the device code is written for any torch device, so it runs here on CPU tensors bound to a CPU
ONNX Runtime session and is compared with the host path it replaces. What only a GPU can run (CUDA graphs, the
CUDA provider) is measured on the device machine by tools/gpu_bench.sh; here the errors that guard it are checked.
"""
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from aria_nav import paths  # noqa: E402
from aria_nav.core.boxes import iou_matrix  # noqa: E402
from aria_nav.core.depth import gpu as depth_gpu  # noqa: E402
from aria_nav.core.depth.processing import DepthEstimator, open_depth_estimator, preprocess, resize_depth, to_meters  # noqa: E402
from aria_nav.core.depth.scaling import RelativeScaling, ValidRange  # noqa: E402
from aria_nav.core.detection.detector import DetectorConfig, YoloDetector  # noqa: E402
from aria_nav.core.detection.gpu import DeviceLetterbox, confident_candidates  # noqa: E402
from aria_nav.core.detection.letterbox import LetterboxInput  # noqa: E402
from aria_nav.core.detection.postprocess import PostprocessConfig, decode  # noqa: E402
from aria_nav.core.detection.synthetic import synthetic_scene  # noqa: E402
from aria_nav.core.inference.interface import InferenceConfig, ModelError  # noqa: E402
from aria_nav.core.inference.io_binding import torch_device  # noqa: E402
from aria_nav.core.inference.registry import open_runner  # noqa: E402

CPU = torch.device("cpu")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
ALL = DetectorConfig(conf_threshold=0.1, classes=["all"])


def _model(name: str) -> Path:
    path = paths.models_dir() / name
    if not path.is_file():
        pytest.skip(f"{path} missing: run aria-nav models build-test")
    return path


def _bound(name: str):
    runner = open_runner(InferenceConfig(str(_model(name))))
    runner.bind(CPU)
    return runner


def _scenes(count: int, height: int = 480, width: int = 640):
    rng = np.random.default_rng(1)
    return [synthetic_scene(rng, height, width) for _ in range(count)]


def _assert_same_boxes(expected, actual, min_iou: float, margin: float = 0.05) -> None:
    """Every detection scoring `margin` above the threshold in one set is in the other: same class, IoU >= min_iou.
    (Scores within rounding of the threshold may fall either side of it.)"""
    floor = ALL.conf_threshold + margin
    for one, other in ((expected, actual), (actual, expected)):
        sure = one.scores >= floor
        assert sure.sum() > 0
        overlap = iou_matrix(one.boxes[sure], other.boxes)
        overlap[one.class_ids[sure][:, None] != other.class_ids[None, :]] = 0.0
        assert overlap.max(axis=1).min() >= min_iou, overlap.max(axis=1)


@pytest.mark.parametrize("source_hw", [(480, 640), (256, 256), (1408, 1408), (100, 300)])
@pytest.mark.parametrize("grey", [False, True])
def test_device_letterbox_matches_the_host_letterbox(source_hw, grey):
    image = synthetic_scene(np.random.default_rng(1), *source_hw)
    if grey:
        image = image[..., 1].copy()
    expected, geometry = LetterboxInput((256, 256))(image)
    target = torch.full((1, 3, 256, 256), float("nan"))
    assert DeviceLetterbox(target)(image) == geometry
    # cv2 resizes in fixed point and rounds to uint8, the device path keeps floats: one grey level apart at most.
    np.testing.assert_allclose(target.numpy(), expected, atol=1.01 / 255)


def test_confident_candidates_give_exactly_the_host_detections():
    rng = np.random.default_rng(3)
    output = rng.random((1, 84, 2100), dtype=np.float32)
    output[0, :4] *= 640
    output[0, 4:] = output[0, 4:] ** 60  # a third of the candidates reach the threshold
    geometry = LetterboxInput((640, 640))(np.zeros((480, 640), np.uint8))[1]
    config = PostprocessConfig(conf_threshold=0.35, iou_threshold=0.5, class_ids=np.array([0, 2, 5]))
    expected = decode(output, geometry, config)
    candidates = confident_candidates(torch.from_numpy(output), config.conf_threshold)
    assert candidates.shape[2] < output.shape[2]
    actual = decode(candidates, geometry, config)
    assert len(expected.boxes) > 0
    np.testing.assert_array_equal(actual.boxes, expected.boxes)
    np.testing.assert_array_equal(actual.class_ids, expected.class_ids)


@pytest.mark.parametrize("input_hw", [(266, 266), (518, 518), (480, 640)])
def test_device_depth_preprocess_matches_the_host(input_hw):
    image = synthetic_scene(np.random.default_rng(2), 480, 640)
    target = torch.empty((1, 3) + input_hw)
    depth_gpu.preprocess_into(target, image, MEAN, STD)
    # cv2's bicubic works in fixed point and rounds to uint8: one grey level over the smallest std.
    np.testing.assert_allclose(target.numpy(), preprocess(image, input_hw, MEAN, STD), atol=1.01 / 255 / 0.224)


@pytest.mark.parametrize("mode, valid_range", [("relative", ValidRange()), ("relative", ValidRange(1.0, 5.0)),
                                               ("metric", ValidRange(0.5, 8.0))])
def test_device_meters_match_the_host(mode, valid_range):
    rng = np.random.default_rng(4)
    raw = (rng.random((266, 300)) * 10).astype(np.float32)
    raw[:4] = np.nan
    raw[10, 10:20] = -1.0
    scaling = RelativeScaling()
    expected = to_meters(raw.copy(), mode, scaling, valid_range)
    actual = depth_gpu.to_meters(torch.from_numpy(raw), mode, scaling, valid_range).numpy()
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=1e-5)


def test_device_meters_of_a_flat_frame_are_nan():
    flat = torch.full((20, 20), 3.0)
    assert torch.isnan(depth_gpu.to_meters(flat, "relative", RelativeScaling(), ValidRange())).all()


@pytest.mark.parametrize("output_hw", [(300, 400), (130, 130), (700, 700), (266, 266)])
def test_device_depth_resize_matches_the_host(output_hw):
    rng = np.random.default_rng(5)
    depth = (rng.random((266, 266)) * 9 + 0.5).astype(np.float32)
    holes = depth.copy()
    holes[:30] = np.nan
    holes[100:140, 50:90] = np.nan
    for values in (depth, holes):
        expected = resize_depth(values, output_hw)
        actual = depth_gpu.resize_depth(torch.from_numpy(values), output_hw).numpy()
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
        np.testing.assert_allclose(actual, expected, rtol=5e-4)  # cv2 rounds its interpolation weights


def test_bound_session_runs_the_model_like_the_session():
    plain = open_runner(InferenceConfig(str(_model("yolo11n_256.onnx"))))
    bound = _bound("yolo11n_256.onnx")
    assert bound.bound is not None and plain.bound is None
    tensor = np.random.default_rng(6).random((1, 3, 256, 256), dtype=np.float32)
    np.testing.assert_allclose(bound.infer(tensor), plain.infer(tensor), rtol=1e-4, atol=1e-3)
    assert "GPU-resident" in bound.describe() and "GPU-resident" not in plain.describe()


def test_detector_on_a_bound_runner_finds_the_host_detections():
    host = YoloDetector(open_runner(InferenceConfig(str(_model("yolo11n_256.onnx")))), ALL)
    device = YoloDetector(_bound("yolo11n_256.onnx"), ALL)
    # Frames of the model's input size: no resize, so both paths feed the model the same tensor (resizing differs
    # by a grey level, checked above, which random weights turn into other NMS winners).
    for image in _scenes(2, 256, 256) + [_scenes(1, 256, 256)[0][..., 0].copy()]:
        expected, actual = host.detect(image).detections, device.detect(image).detections
        assert len(expected.boxes) > 0
        np.testing.assert_allclose(actual.boxes, expected.boxes, atol=1e-2)
        np.testing.assert_array_equal(actual.class_ids, expected.class_ids)


def test_depth_on_a_bound_runner_matches_the_host_depth():
    host = open_depth_estimator(InferenceConfig(str(_model("depth_anything_v2_small_266.onnx"))))
    device = DepthEstimator(_bound("depth_anything_v2_small_266.onnx"), host.mode)
    for image in _scenes(2):
        expected, actual = host.estimate(image, (240, 320)), device.estimate(image, (240, 320))
        assert actual.shape == expected.shape == (240, 320) and actual.dtype == np.float32
        # Identical steps (checked above); the random-weight network amplifies the half grey level of rounding.
        both = np.isfinite(expected) & np.isfinite(actual)
        assert both.mean() > 0.5 * np.isfinite(expected).mean()
        assert np.median(np.abs(actual[both] - expected[both]) / expected[both]) < 0.02


def test_the_gpu_resident_path_never_quietly_uses_the_cpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(ModelError, match="gpu_resident.*torch with CUDA.*set gpu_resident to false"):
        torch_device("cuda", "model.onnx")
    # Without the CUDA provider the verified-provider error stands, as before the GPU-resident path existed.
    with pytest.raises(ModelError, match="CUDAExecutionProvider is not active"):
        open_runner(InferenceConfig(str(_model("yolo11n_256.onnx")), device="cuda"))


@pytest.fixture(scope="module")
def fp16_models(tmp_path_factory):
    from aria_nav.core.depth.build import build_fp16_depth
    from aria_nav.core.detection.build import export_fp16_yolo

    folder = tmp_path_factory.mktemp("fp16")
    yolo = export_fp16_yolo(_model("yolo11n.pt"), 256, folder / "yolo11n_256_fp16.onnx")
    # The same seed and recipe as build-test's 266 model: the same weights in half precision.
    return {"yolo": yolo, "depth": build_fp16_depth(folder, 266), "depth32": _model("depth_anything_v2_small_266.onnx")}


def test_fp16_models_take_and_give_float16(fp16_models):
    for key in ("yolo", "depth"):
        runner = open_runner(InferenceConfig(str(fp16_models[key])))
        assert runner.input_dtype == np.float16
    detector = YoloDetector(open_runner(InferenceConfig(str(fp16_models["yolo"]))))
    assert detector.names[0] == "person" and detector.input_hw == (256, 256)


def test_the_fp16_depth_model_has_onnx_runtimes_transformer_fusions(fp16_models):
    import onnx

    model = onnx.load(str(fp16_models["depth"]))
    ops = [node.op_type for node in model.graph.node]
    # DINOv2-Small: 12 blocks, two LayerNorms each (the ones after a residual add fused with it), one GELU each.
    assert ops.count("SkipLayerNormalization") >= 20 and ops.count("BiasGelu") == 12
    assert {prop.key for prop in model.metadata_props} >= {"depth_mode", "mean", "std", "input_size"}
    assert not list(fp16_models["depth"].parent.glob("*.unfused.onnx"))


def test_fp16_detections_match_fp32(fp16_models):
    fp32 = YoloDetector(open_runner(InferenceConfig(str(_model("yolo11n_256.onnx")))), ALL)
    fp16 = YoloDetector(open_runner(InferenceConfig(str(fp16_models["yolo"]))), ALL)
    for image in _scenes(4):
        _assert_same_boxes(fp32.detect(image).detections, fp16.detect(image).detections, min_iou=0.95)


def test_fp16_depth_matches_fp32(fp16_models):
    fp32 = open_depth_estimator(InferenceConfig(str(fp16_models["depth32"])))
    fp16 = open_depth_estimator(InferenceConfig(str(fp16_models["depth"])))
    for image in _scenes(3):
        expected, actual = fp32.estimate(image), fp16.estimate(image)
        both = np.isfinite(expected) & np.isfinite(actual)
        assert both.sum() > 0.95 * np.isfinite(expected).sum()
        relative = np.abs(actual[both] - expected[both]) / expected[both]
        assert np.median(relative) < 0.005 and np.percentile(relative, 95) < 0.03


def test_min_pool_keeps_the_nearest_valid_depth_on_host_and_device():
    from aria_nav.core.depth.processing import min_pool

    depth = np.array([[1.0, 2.0, np.nan, np.nan], [3.0, 0.5, np.nan, np.nan], [4.0, 4.0, 7.0, np.nan],
                      [4.0, 4.0, np.nan, 6.0]], np.float32)
    expected = np.array([[0.5, np.nan], [4.0, 6.0]], np.float32)
    np.testing.assert_array_equal(min_pool(depth, 2), expected)
    np.testing.assert_array_equal(depth_gpu.min_pool(torch.from_numpy(depth), 2).numpy(), expected)
    assert min_pool(depth, 1) is depth


def test_estimate_min_pooled_on_host_and_bound_runner():
    from aria_nav.core.depth.processing import PoolSizeError

    host = open_depth_estimator(InferenceConfig(str(_model("depth_anything_v2_small_266.onnx"))))
    device = DepthEstimator(_bound("depth_anything_v2_small_266.onnx"), host.mode)
    image = _scenes(1)[0]
    for estimator in (host, device):
        pooled = estimator.estimate(image, (266, 266), pool=2)
        assert pooled.shape == (133, 133) and pooled.dtype == np.float32
        full = estimator.estimate(image, (266, 266))
        np.testing.assert_array_equal(pooled, np.fmin.reduce(np.fmin.reduce(
            full.reshape(133, 2, 133, 2), axis=3), axis=1))
        with pytest.raises(PoolSizeError, match="multiples"):
            estimator.estimate(image, (265, 265), pool=2)
