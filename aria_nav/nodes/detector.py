"""Detector node: YOLO detections for one camera stream (or several SLAM cameras: `cameras`).

Subscribes to an image topic (rgb8, bgr8 or mono8), runs the detector on the newest frame (frames that arrive
while it is busy replace each other and are counted as dropped; process_every_frame processes all, in order) and
publishes the detections as vision_msgs/Detection2DArray with the source image's header, the class names
(vision_msgs/LabelInfo) latched beside them and,
optionally, an annotated image. One executable serves the RGB camera and both SLAM cameras: the graph starts it
three times under different names, with the topics remapped. With the parameter `cameras` one instance serves
several SLAM cameras with one model session (one process on the GPU instead of one per camera; Gen2's four SLAM
cameras): /aria/<stream>/image_raw -> /aria_nav/<stream>/detections for each, the newest frame of each in turn.

Topics (remap the first two; the others follow the detections topic):
  in   /aria/rgb/image_raw                 sensor_msgs/Image (`cameras`: /aria/<stream>/image_raw for each)
  out  /aria_nav/detections                vision_msgs/Detection2DArray (aria_nav.ros.detections; `cameras`:
                                           /aria_nav/<stream>/detections for each)
  out  /aria_nav/detections/class_names    vision_msgs/LabelInfo, latched
  out  /aria_nav/detections/image          sensor_msgs/Image rgb8 (publish_annotated)
"""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from typing import Deque, Optional

import numpy as np
from rclpy.publisher import Publisher
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray, LabelInfo

from aria_nav import topics
from aria_nav.core.detection.annotate import draw_detections
from aria_nav.core.detection.backends import open_detection_runner
from aria_nav.core.detection.classes import ClassFilterError
from aria_nav.core.detection.detector import DetectorConfig, InputSizeError, StageTimes, YoloDetector
from aria_nav.core.detection.low_light import LowLightConfig, LowLightEnhancer
from aria_nav.core.inference.interface import ModelError
from aria_nav.ros.conversions import ImageFormatError, array_to_image, image_to_array
from aria_nav.ros.detections import class_names_to_msg, detections_to_msg
from aria_nav.ros.detector_params import PARAMS, shared_cameras
from aria_nav.ros.diagnostics import NodeDiagnostics
from aria_nav.ros.inference_params import inference_config
from aria_nav.ros.intake import FrameIntake, effective_frame_skip, report_runner
from aria_nav.ros.params import ParameterError, config_from, declare_parameters
from aria_nav.ros.qos import RESULT_DEPTH, frame_qos, latched_qos, sensor_qos
from aria_nav.ros.runtime import WORKER_JOIN_S, AriaNode, main_for

DETECTABLE_ENCODINGS = ("rgb8", "bgr8", "mono8")
TIMING_WINDOW = 100  # frames over which the per-stage times on /diagnostics are medians


def detection_frame(msg: Image) -> np.ndarray:
    """The image as the detector takes it: RGB (H, W, 3) or grey (H, W), a view of the message where possible."""
    if msg.encoding not in DETECTABLE_ENCODINGS:
        raise ImageFormatError(f"encoding '{msg.encoding}' cannot be detected on (use "
                               f"{', '.join(DETECTABLE_ENCODINGS)})")
    array = image_to_array(msg)
    return array[..., ::-1] if msg.encoding == "bgr8" else array


@dataclass
class CameraIO:
    """One camera a detector serves: its image subscription and its publishers."""

    name: str
    subscription: object
    publisher: Publisher
    names_publisher: Publisher
    annotated_publisher: Optional[Publisher]
    processed: int = 0


class DetectorNode(AriaNode):
    def __init__(self, **node_options):  # node_options: rclpy Node's (aria_nav.nodes.composed passes cli_args)
        super().__init__("detector", **node_options)
        self.cfg = cfg = declare_parameters(self, PARAMS)
        cameras = shared_cameras(cfg.cameras)
        self.detector = self._open_detector(cfg)
        runner = self.detector.runner
        on_gpu = "cuda" in runner.provider.lower()
        frame_skip = effective_frame_skip(cfg.frame_skip, cfg.gpu_frame_skip, on_gpu)
        self.diag = NodeDiagnostics(self)
        report_runner(self, self.diag, runner)
        self.diag.set_value("input", f"{self.detector.input_hw[1]}x{self.detector.input_hw[0]}")

        self.enhancer = (LowLightEnhancer(LowLightConfig(mode=cfg.low_light, dark_below=cfg.low_light_below))
                         if cfg.low_light != "off" else None)
        self._enhance_ms: Deque[float] = collections.deque(maxlen=TIMING_WINDOW)
        self._times: Deque[StageTimes] = collections.deque(maxlen=TIMING_WINDOW)
        self.intake = FrameIntake(self, self.diag, self._process, frame_skip, cfg.process_every_frame,
                                  f"detector-{'-'.join(cameras) or cfg.camera}",
                                  on_error=lambda exc: self.intake.failed(exc, "detection failed"))
        # One camera: the default topics, remapped by the graph; several: each stream's own topics.
        if cameras:
            self.cameras = {camera: self._open_camera(camera, topics.camera_image_topic(camera),
                                                      topics.camera_detections_topic(camera), camera)
                            for camera in cameras}
        else:
            self.cameras = {None: self._open_camera(cfg.camera, topics.RGB_IMAGE, topics.DETECTIONS, None)}
        self.diag.set_value("camera", ", ".join(cameras) or cfg.camera)
        self.diag.expect_input(", ".join(camera.subscription.topic_name for camera in self.cameras.values()))
        for camera in self.cameras.values():
            self.get_logger().info(
                f"{camera.name}: {self.detector.describe()}; {camera.subscription.topic_name} -> "
                f"{camera.publisher.topic_name}{', every %d frames' % frame_skip if frame_skip > 1 else ''}")
        self.intake.start()

    def _open_camera(self, name: str, image_topic: str, detections_topic: str, key: Optional[str]) -> CameraIO:
        cfg = self.cfg
        publisher = self.create_publisher(Detection2DArray, detections_topic,
                                          frame_qos(cfg.process_every_frame, depth=RESULT_DEPTH))
        detections_topic = publisher.topic_name  # after remapping: the derived topics follow it
        names_publisher = self.create_publisher(LabelInfo, detections_topic + topics.CLASS_NAMES_SUFFIX,
                                                latched_qos())
        names_publisher.publish(class_names_to_msg(self.detector.names, cfg.conf_threshold))
        annotated = (self.create_publisher(Image, detections_topic + topics.ANNOTATED_SUFFIX, sensor_qos())
                     if cfg.publish_annotated else None)
        subscription = self.intake.subscribe(Image, image_topic, frame_qos(cfg.process_every_frame), key)
        return CameraIO(name, subscription, publisher, names_publisher, annotated)

    def _open_detector(self, cfg) -> YoloDetector:
        inference = inference_config(cfg, (cfg.input_size, cfg.input_size) if cfg.input_size else None)
        detection = config_from(cfg, DetectorConfig)
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

    def _process(self, msg: Image, camera_key: Optional[str] = None) -> None:
        camera = self.cameras[camera_key]
        try:
            frame = detection_frame(msg)
        except ImageFormatError as exc:
            self.intake.input_error(f"skipping an image on {camera.subscription.topic_name}: {exc}")
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
        camera.publisher.publish(detections_to_msg(result.detections, msg.header))
        self.diag.record_hop(f"{camera_key}_published" if camera_key else "published", msg.header.stamp)
        if camera.annotated_publisher is not None:
            annotated = draw_detections(frame, result.detections, self.detector.names)
            camera.annotated_publisher.publish(array_to_image(annotated, "rgb8", msg.header))
        self.diag.record(msg.header.stamp)
        if camera_key:  # one count per camera beside the node's total
            camera.processed += 1
            self.diag.set_value(f"{camera_key}_processed", camera.processed)
        self._times.append(result.times)
        self._update_timings()

    def _update_timings(self) -> None:
        times = np.array([(t.preprocess_ms, t.inference_ms, t.postprocess_ms) for t in self._times])
        for name, value in zip(("preprocess", "inference", "postprocess"), np.median(times, axis=0)):
            self.diag.set_value(f"{name}_ms_p50", f"{value:.2f}")

    def close(self) -> None:
        # As in the depth node: interrupt an inference in progress, release the session only once it has ended.
        if self.intake.stop(WORKER_JOIN_S, interrupt=self.detector.runner.interrupt):
            self.detector.runner.close()


main = main_for(DetectorNode, "detector")

if __name__ == "__main__":
    main()
