"""The detector end to end on the real test models (random weights, calibrated; see core/detection/build.py).

The ONNX Runtime and ultralytics backends run the same weights on the same letterboxed tensors and must agree box
by box; the whole pipeline (letterbox, decoding, NMS) must also agree with ultralytics' own predict(), the
reference implementation of these models.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from aria_nav import paths
from aria_nav.core.detection.backends import open_detection_runner
from aria_nav.core.detection.build import RECIPE, RECIPE_KEY, build_test_yolo
from aria_nav.core.detection.classes import COCO_NAMES, NAVIGATION_CLASSES
from aria_nav.core.detection.detector import DetectorConfig, InputSizeError, YoloDetector
from aria_nav.core.boxes import iou_matrix
from aria_nav.core.detection.synthetic import synthetic_scene
from aria_nav.core.detection.detections import Detections
from aria_nav.core.inference.interface import InferenceConfig, ModelError
from aria_nav.core.inference.onnx_runtime import OnnxRuntimeRunner

# Non-square frames of both orientations (and the Aria RGB size), as the cameras and other sources deliver.
FRAME_SIZES = [(480, 640), (640, 360), (300, 900), (1408, 1408)]
LOW_CONF = 0.05  # random weights: a low threshold gives plenty of detections to compare


@pytest.fixture(scope="module")
def models():
    checkpoint, onnx_640, onnx_256 = build_test_yolo(paths.models_dir())
    return {"pt": checkpoint, 640: onnx_640, 256: onnx_256}


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(7)
    return [synthetic_scene(rng, h, w) for h, w in FRAME_SIZES]


def assert_same_detections(a: Detections, b: Detections, what: str, score_tol: float = 1e-3) -> None:
    """Every detection of `a` has its own partner in `b`: same class, IoU >= 0.99, score within score_tol."""
    assert len(a) == len(b), f"{what}: {len(a)} against {len(b)} detections"
    unmatched = list(range(len(b)))
    for box, score, class_id in zip(a.boxes, a.scores, a.class_ids):
        candidates = [j for j in unmatched if b.class_ids[j] == class_id and abs(b.scores[j] - score) <= score_tol]
        ious = iou_matrix(box, b.boxes[candidates])[0] if candidates else np.zeros(0)
        assert ious.size and ious.max() >= 0.99, f"{what}: no partner for {COCO_NAMES[class_id]} {score:.4f} {box}"
        unmatched.remove(candidates[int(ious.argmax())])


def test_test_models_are_built_as_documented(models):
    for size in (640, 256):
        model = onnx.load(str(models[size]), load_external_data=False)
        props = {p.key: p.value for p in model.metadata_props}
        assert props[RECIPE_KEY] == RECIPE and "'person'" in props["names"] and "'toothbrush'" in props["names"]
        dims = [[d.dim_value for d in v.type.tensor_type.shape.dim] for v in (model.graph.input[0],
                                                                            model.graph.output[0])]
        candidates = sum((size // stride) ** 2 for stride in (8, 16, 32))
        assert dims == [[1, 3, size, size], [1, 84, candidates]]
        assert not any(node.op_type == "NonMaxSuppression" for node in model.graph.node)
    mtimes = [p.stat().st_mtime_ns for p in models.values()]
    build_test_yolo(paths.models_dir())  # up to date: nothing is rewritten
    assert [p.stat().st_mtime_ns for p in models.values()] == mtimes


def test_build_never_overwrites_real_weights_saved_under_the_test_names(tmp_path):
    real = _reshape_model(tmp_path / "yolo11n_640.onnx", TensorProto.FLOAT, [1, 6, 2048])
    before = real.read_bytes()
    with pytest.raises(ModelError, match="yolo11n_640.onnx' is a model that build-test did not make"):
        build_test_yolo(tmp_path)
    assert real.read_bytes() == before and not (tmp_path / "yolo11n.pt").exists()


def test_onnxruntime_and_ultralytics_backends_agree(models, frames):
    config = DetectorConfig(conf_threshold=LOW_CONF, classes=["all"], input_size=640)
    onnx_detector = YoloDetector(open_detection_runner(InferenceConfig(str(models[640]))), config)
    torch_detector = YoloDetector(open_detection_runner(InferenceConfig(str(models["pt"]))), config)
    assert (onnx_detector.runner.backend, torch_detector.runner.backend) == ("onnxruntime", "ultralytics")
    assert onnx_detector.names == torch_detector.names == list(COCO_NAMES)
    total = 0
    for frame in frames:
        a, b = onnx_detector.detect(frame).detections, torch_detector.detect(frame).detections
        assert_same_detections(a, b, f"{frame.shape[1]}x{frame.shape[0]} frame")
        total += len(a)
    assert total >= 40, f"only {total} detections over {len(frames)} frames: the comparison would say little"


def test_pipeline_matches_ultralytics_predict(models, frames):
    """Letterbox, decoding and NMS against ultralytics' own pre- and post-processing (on the same weights)."""
    from ultralytics import YOLO

    reference = YOLO(str(models["pt"]))
    detector = YoloDetector(open_detection_runner(InferenceConfig(str(models[640]))),
                            DetectorConfig(conf_threshold=LOW_CONF, iou_threshold=0.45, classes=["all"],
                                           max_detections=100))
    for frame in frames[:3]:
        ours = detector.detect(frame).detections
        boxes = reference.predict(frame[..., ::-1].copy(), imgsz=640, conf=LOW_CONF, iou=0.45, max_det=100,
                                  rect=False, device="cpu", verbose=False)[0].boxes
        xyxy = boxes.xyxy.numpy()
        # predict() keeps boxes that lay wholly in the padding, clipped to zero width or height; ours drops them.
        visible = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        theirs = Detections(xyxy[visible], boxes.conf.numpy()[visible], boxes.cls.numpy()[visible])
        assert len(ours) > 0
        assert_same_detections(ours, theirs, f"{frame.shape[1]}x{frame.shape[0]} frame against predict()")


class RecordingRunner(OnnxRuntimeRunner):
    """The real ONNX Runtime runner, noting the shape and dtype of every tensor it is given."""

    def __init__(self, *args):
        super().__init__(*args)
        self.fed = []

    def _run(self, tensor):
        self.fed.append((tensor.shape, tensor.dtype))
        return super()._run(tensor)


def test_fixed_shape_models_are_fed_exactly_their_shape(models, frames):
    runner = RecordingRunner.open(models[256], InferenceConfig(str(models[256])))
    detector = YoloDetector(runner, DetectorConfig())
    for frame in frames + [frames[0][..., 0].copy()]:
        detector.detect(frame)
    assert detector.input_hw == (256, 256)
    assert set(runner.fed) == {((1, 3, 256, 256), np.dtype(np.float32))} and len(runner.fed) == len(frames) + 2
    with pytest.raises(InputSizeError, match="fixed 256x256 input, so input_size 320 cannot be used"):
        YoloDetector(runner, DetectorConfig(input_size=320))
    YoloDetector(runner, DetectorConfig(input_size=256))  # its own size may be given


def test_dynamic_models_take_the_configured_stride_multiple(models):
    runner = open_detection_runner(InferenceConfig(str(models["pt"])))
    assert YoloDetector(runner, DetectorConfig()).input_hw == (640, 640)
    assert YoloDetector(runner, DetectorConfig(input_size=320)).input_hw == (320, 320)
    with pytest.raises(InputSizeError, match="input_size 100 is not a multiple of .*stride 32"):
        YoloDetector(runner, DetectorConfig(input_size=100))


def test_grey_frames_give_the_detections_of_their_rgb_copy(models):
    detector = YoloDetector(open_detection_runner(InferenceConfig(str(models[256]))),
                            DetectorConfig(conf_threshold=LOW_CONF, classes=["all"]))
    grey = synthetic_scene(np.random.default_rng(3), 480, 640)[..., 1].copy()
    from_grey = detector.detect(grey).detections
    assert len(from_grey) > 0
    assert_same_detections(from_grey, detector.detect(np.repeat(grey[..., None], 3, axis=2)).detections,
                           "grey against RGB", score_tol=1e-6)


def test_default_class_filter_keeps_only_navigation_classes(models, frames):
    everything = YoloDetector(open_detection_runner(InferenceConfig(str(models[640]))),
                              DetectorConfig(conf_threshold=LOW_CONF, classes=["all"], max_detections=1000))
    navigation = YoloDetector(everything.runner, DetectorConfig(conf_threshold=LOW_CONF, max_detections=1000))
    wanted = {COCO_NAMES.index(n) for n in NAVIGATION_CLASSES}
    all_dets, kept = everything.detect(frames[0]).detections, navigation.detect(frames[0]).detections
    assert set(kept.class_ids) <= wanted and 0 < len(kept) < len(all_dets)
    inside = np.isin(all_dets.class_ids, list(wanted))
    assert_same_detections(kept, Detections(all_dets.boxes[inside], all_dets.scores[inside],
                                            all_dets.class_ids[inside]), "filtered against all classes")


def _reshape_model(path, input_type, output_shape):
    """A real ONNX model that reshapes its (1, 3, 64, 64) image into `output_shape`: candidates whose boxes and
    class scores are pixel values."""
    image = helper.make_tensor_value_info("images", input_type, [1, 3, 64, 64])
    output = helper.make_tensor_value_info("output0", input_type, output_shape)
    shape = helper.make_tensor("shape", TensorProto.INT64, [3], output_shape)
    graph = helper.make_graph([helper.make_node("Reshape", ["images", "shape"], ["output0"])], "reshape",
                              [image], [output], [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_float16_models_get_float16_input_and_their_output_is_decoded(tmp_path):
    model = _reshape_model(tmp_path / "fp16.onnx", TensorProto.FLOAT16, [1, 6, 2048])
    runner = RecordingRunner.open(model, InferenceConfig(str(model)))
    detector = YoloDetector(runner, DetectorConfig(conf_threshold=0.5, classes=["all"]))
    assert detector.names == ["class_0", "class_1"]  # no names in the metadata, not 80 classes
    assert len(detector.detect(np.full((64, 64, 3), 114, np.uint8)).detections) == 0  # scores 0.447
    white = detector.detect(np.full((64, 64, 3), 255, np.uint8)).detections
    # Every candidate is the box (0.5, 0.5, 1.5, 1.5) scoring 1.0 in both classes: one per class after NMS, the
    # best class of equal scores being the first.
    assert white.class_ids.tolist() == [0] and white.scores.tolist() == [1.0] and white.scores.dtype == np.float32
    np.testing.assert_allclose(white.boxes, [[0.5, 0.5, 1.5, 1.5]])
    assert set(runner.fed) == {((1, 3, 64, 64), np.dtype(np.float16))}


def test_outputs_that_are_not_a_yolo_head_are_refused_at_load(tmp_path):
    transposed = _reshape_model(tmp_path / "transposed.onnx", TensorProto.FLOAT, [1, 2048, 6])
    with pytest.raises(ModelError, match="transposed.onnx': model output of shape \\[1, 2048, 6\\]"):
        YoloDetector(open_detection_runner(InferenceConfig(str(transposed))))
