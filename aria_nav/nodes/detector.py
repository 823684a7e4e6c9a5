"""Detector node: YOLO detections for one camera stream.

Subscribes to an image topic (rgb8, bgr8 or mono8), runs the detector on the newest frame (frames that arrive
while it is busy replace each other and are counted as dropped; process_every_frame processes all, in order) and
publishes the detections as vision_msgs/Detection2DArray with the source image's header, the class names
(vision_msgs/LabelInfo) latched beside them and,
optionally, an annotated image. One executable serves the RGB camera and both SLAM cameras: the graph starts it
three times under different names, with the topics remapped.

Topics (remap the first two; the others follow the detections topic):
  in   /aria/rgb/image_raw                 sensor_msgs/Image
  out  /aria_nav/detections                vision_msgs/Detection2DArray (aria_nav.ros.detections)
  out  /aria_nav/detections/class_names    vision_msgs/LabelInfo, latched
  out  /aria_nav/detections/image          sensor_msgs/Image rgb8 (publish_annotated)
"""
from __future__ import annotations

import collections
import time
from typing import Deque

import numpy as np
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray, LabelInfo

from aria_nav import topics
from aria_nav.core.detection.annotate import draw_detections
from aria_nav.core.detection.backends import open_detection_runner
from aria_nav.core.detection.classes import ALL_CLASSES, NAVIGATION_CLASSES, ClassFilterError
from aria_nav.core.detection.detector import DetectorConfig, InputSizeError, StageTimes, YoloDetector
from aria_nav.core.detection.low_light import MODES as LOW_LIGHT_MODES
from aria_nav.core.detection.low_light import LowLightConfig, LowLightEnhancer
from aria_nav.core.detections import MAX_DETECTIONS
from aria_nav.core.inference.onnx_runtime import ModelError
from aria_nav.core.latest import LatestWorker
from aria_nav.ros.conversions import ImageFormatError, array_to_image, image_to_array
from aria_nav.ros.detections import class_names_to_msg, detections_to_msg
from aria_nav.ros.diagnostics import WARN, NodeDiagnostics
from aria_nav.ros.inference_params import TENSORRT_FP16, inference_config, inference_params
from aria_nav.ros.params import Param, ParameterError, declare_parameters
from aria_nav.ros.qos import frame_qos, latched_qos, replay_qos, result_qos, sensor_qos
from aria_nav.ros.runtime import WORKER_JOIN_S, AriaNode, main_for

CAMERAS = ("rgb", "slam_left", "slam_right")
DETECTABLE_ENCODINGS = ("rgb8", "bgr8", "mono8")
TIMING_WINDOW = 100  # frames over which the per-stage times on /diagnostics are medians
WARN_PERIOD_S = 5.0


def _check_input_size(value: int):
    if value % 32:
        return f"{value} is not a multiple of 32 (YOLO's largest stride); 0 uses the model's own size"
    return None


PARAMS = inference_params("yolo11n_640.onnx") + [
    TENSORRT_FP16,
    Param("input_size", 0,
          "Square model input in pixels for models with a dynamic input (.pt, dynamic ONNX); 0: the model's fixed "
          "size, or 640. A fixed-size model only accepts 0 or its own size.", min=0, max=4096,
          check=_check_input_size),
    Param("conf_threshold", 0.25, "Minimum class score of a detection.", min=0.0, max=1.0),
    Param("iou_threshold", 0.45,
          "Non-maximum suppression: a box overlapping a better box of the same class by more than this IoU is "
          "dropped.", min=0.0, max=1.0),
    Param("classes", list(NAVIGATION_CLASSES),
          f"Class names to report (names of the model's classes); ['{ALL_CLASSES}'] reports every class. Unknown "
          f"names are an error.", item_type=str),
    Param("max_detections", 100, "Most detections per frame (the best-scoring ones).", min=1,
          max=MAX_DETECTIONS),
    Param("frame_skip", 1, "Process every Nth received frame (1: all); the others are skipped, not dropped.",
          min=1, max=100),
    Param("gpu_frame_skip", 0,
          "frame_skip when the model runs on a GPU (CUDA), which keeps up with more frames; 0: frame_skip.",
          min=0, max=100),
    Param("camera", "rgb", "Which camera this instance serves, for diagnostics.", choices=CAMERAS),
    Param("process_every_frame", False,
          "Deterministic replay: reliable QoS and every frame processed once, in order (instead of the newest "
          "frame, with drops)."),
    Param("publish_annotated", False, "Also publish the frame with boxes, class names and scores drawn."),
    Param("low_light", "off", "Low-light enhancement of dark frames before detection only (depth and fusion see "
          "the original): off, auto (gamma for very dark frames, CLAHE on luminance for dim ones), clahe, gamma",
          choices=LOW_LIGHT_MODES),
    Param("low_light_below", 70.0, "Mean luminance (0..255) under which a frame counts as dark.", min=0.0,
          max=255.0),
]


def effective_frame_skip(frame_skip: int, gpu_frame_skip: int, on_gpu: bool) -> int:
    """The frame skip a detector applies: gpu_frame_skip on a GPU where it is set, else frame_skip."""
    return gpu_frame_skip if on_gpu and gpu_frame_skip else frame_skip


def detection_frame(msg: Image) -> np.ndarray:
    """The image as the detector takes it: RGB (H, W, 3) or grey (H, W), a view of the message where possible."""
    if msg.encoding not in DETECTABLE_ENCODINGS:
        raise ImageFormatError(f"encoding '{msg.encoding}' cannot be detected on (use "
                               f"{', '.join(DETECTABLE_ENCODINGS)})")
    array = image_to_array(msg)
    return array[..., ::-1] if msg.encoding == "bgr8" else array


class DetectorNode(AriaNode):
    def __init__(self):
        super().__init__("detector")
        self.cfg = cfg = declare_parameters(self, PARAMS)
        self.detector = self._open_detector(cfg)
        runner = self.detector.runner
        on_gpu = "cuda" in runner.provider.lower()
        self.frame_skip = effective_frame_skip(cfg.frame_skip, cfg.gpu_frame_skip, on_gpu)
        self.diag = NodeDiagnostics(self)
        self.diag.set_value("camera", cfg.camera)
        self.diag.set_value("backend", runner.backend)
        self.diag.set_value("provider", runner.provider)
        if getattr(runner, "bound", None) is not None:
            self.diag.set_value("gpu_resident", f"IO binding, CUDA graph {runner.cuda_graph}")
        self.diag.set_value("model", str(runner.path))
        self.diag.set_value("input", f"{self.detector.input_hw[1]}x{self.detector.input_hw[0]}")
        self.diag.set_value("frame_skip", self.frame_skip)
        self.diag.set_value("skipped", 0)
        if runner.fallback_warning:
            self.get_logger().warning(runner.fallback_warning)
            self.diag.set_value("fallback", runner.fallback_warning)
            self.diag.set_status(WARN, runner.fallback_warning)

        output_qos = replay_qos() if cfg.process_every_frame else result_qos()
        self.publisher = self.create_publisher(Detection2DArray, topics.DETECTIONS, output_qos)
        detections_topic = self.publisher.topic_name  # after remapping: the derived topics follow it
        self.names_publisher = self.create_publisher(LabelInfo, detections_topic + topics.CLASS_NAMES_SUFFIX,
                                                     latched_qos())
        self.names_publisher.publish(class_names_to_msg(self.detector.names, cfg.conf_threshold))
        self.annotated_publisher = None
        if cfg.publish_annotated:
            self.annotated_publisher = self.create_publisher(Image, detections_topic + topics.ANNOTATED_SUFFIX,
                                                             sensor_qos())

        self.enhancer = (LowLightEnhancer(LowLightConfig(mode=cfg.low_light, dark_below=cfg.low_light_below))
                         if cfg.low_light != "off" else None)
        self._enhance_ms: Deque[float] = collections.deque(maxlen=TIMING_WINDOW)
        self._received = 0
        self._skipped = 0
        self._times: Deque[StageTimes] = collections.deque(maxlen=TIMING_WINDOW)
        self.worker = LatestWorker(self._process, self._on_error, keep_all=cfg.process_every_frame,
                                   name=f"detector-{cfg.camera}")
        self.subscription = self.create_subscription(Image, topics.RGB_IMAGE, self._on_image,
                                                     frame_qos(cfg.process_every_frame))
        self.diag.expect_input(self.subscription.topic_name)
        self.get_logger().info(
            f"{cfg.camera}: {self.detector.describe()}; {self.subscription.topic_name} -> {detections_topic}"
            f"{', every %d frames' % self.frame_skip if self.frame_skip > 1 else ''}")

    def _open_detector(self, cfg) -> YoloDetector:
        inference = inference_config(cfg, (cfg.input_size, cfg.input_size) if cfg.input_size else None)
        detection = DetectorConfig(conf_threshold=cfg.conf_threshold, iou_threshold=cfg.iou_threshold,
                                   classes=cfg.classes, max_detections=cfg.max_detections,
                                   input_size=cfg.input_size)
        try:
            runner = open_detection_runner(inference)
        except ModelError as exc:
            raise ParameterError("model", str(exc)) from None
        try:
            return YoloDetector(runner, detection)
        except ClassFilterError as exc:
            raise ParameterError("classes", str(exc)) from None
        except InputSizeError as exc:
            raise ParameterError("input_size", str(exc)) from None
        except ModelError as exc:
            raise ParameterError("model", str(exc)) from None

    def _on_image(self, msg: Image) -> None:
        self._received += 1
        if (self._received - 1) % self.frame_skip:
            self._skipped += 1
            self.diag.set_value("skipped", self._skipped)
            return
        self.worker.submit(msg)
        self.diag.stats.dropped = self.worker.slot.dropped

    def _process(self, msg: Image) -> None:
        try:
            frame = detection_frame(msg)
        except ImageFormatError as exc:
            self.diag.stats.record_error(f"bad image: {exc}")
            self.get_logger().warning(f"skipping an image on {self.subscription.topic_name}: {exc}",
                                      throttle_duration_sec=WARN_PERIOD_S)
            return
        detected = frame
        if self.enhancer is not None:  # the annotated image keeps the original frame
            started = time.perf_counter()
            detected = self.enhancer(frame)
            self._enhance_ms.append((time.perf_counter() - started) * 1000.0)
            self.diag.set_value("low_light", f"{self.enhancer.last_method} (mean luminance "
                                             f"{self.enhancer.last_mean:.0f})")
            self.diag.set_value("low_light_ms_p50", f"{np.median(self._enhance_ms):.2f}")
        result = self.detector.detect(detected)
        self.publisher.publish(detections_to_msg(result.detections, msg.header))
        if self.annotated_publisher is not None:
            annotated = draw_detections(frame, result.detections, self.detector.names)
            self.annotated_publisher.publish(array_to_image(annotated, "rgb8", msg.header))
        self.diag.record(msg.header.stamp)
        self._times.append(result.times)
        self._update_timings()

    def _update_timings(self) -> None:
        times = np.array([(t.preprocess_ms, t.inference_ms, t.postprocess_ms) for t in self._times])
        for name, value in zip(("preprocess", "inference", "postprocess"), np.median(times, axis=0)):
            self.diag.set_value(f"{name}_ms_p50", f"{value:.2f}")

    def _on_error(self, exc: BaseException) -> None:
        self.diag.stats.record_error(f"{type(exc).__name__}: {exc}")
        self.get_logger().error(f"detection failed: {type(exc).__name__}: {exc}",
                                throttle_duration_sec=WARN_PERIOD_S)

    def close(self) -> None:
        # As in the depth node: interrupt an inference in progress, release the session only once it has ended.
        if self.worker.stop(WORKER_JOIN_S, interrupt=self.detector.runner.interrupt):
            self.detector.runner.close()


main = main_for(DetectorNode, "detector")

if __name__ == "__main__":
    main()
