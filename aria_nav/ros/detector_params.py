"""The detector node's parameter table (one executable, three instances: config/nav.yaml)."""
from __future__ import annotations

from typing import List, Optional

from aria_nav.core.detection.classes import ALL_CLASSES, NAVIGATION_CLASSES
from aria_nav.core.detection.detector import DetectorConfig
from aria_nav.core.detection.low_light import MODES as LOW_LIGHT_MODES
from aria_nav.core.detection.detections import MAX_DETECTIONS
from aria_nav.core.sources.base import EXTRA_CAMERA_STREAMS
from aria_nav.ros.inference_params import TENSORRT_FP16, inference_params
from aria_nav.ros.params import Param, field_default

CAMERAS = ("rgb", "slam_left", "slam_right")
# What one shared detector process may serve (parameter `cameras`): the SLAM pair fusion reads and Gen2's other pair.
SHARED_CAMERAS = ("slam_left", "slam_right") + EXTRA_CAMERA_STREAMS


def shared_cameras(value) -> List[str]:
    """The cameras named by the `cameras` parameter (its default [""]: none; rclpy cannot declare an empty list)."""
    return [camera for camera in value if camera]


def _check_cameras(value) -> Optional[str]:
    value = shared_cameras(value)
    unknown = [camera for camera in value if camera not in SHARED_CAMERAS]
    if unknown:
        return f"{', '.join(unknown)}: not a SLAM camera stream (use {', '.join(SHARED_CAMERAS)})"
    if len(set(value)) < len(value):
        return "a camera is named twice"
    return None


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
    Param("conf_threshold", field_default(DetectorConfig, "conf_threshold"), "Minimum class score of a detection.",
          min=0.0, max=1.0),
    Param("iou_threshold", field_default(DetectorConfig, "iou_threshold"),
          "Non-maximum suppression: a box overlapping a better box of the same class by more than this IoU is "
          "dropped.", min=0.0, max=1.0),
    Param("classes", list(NAVIGATION_CLASSES),
          f"Class names to report (names of the model's classes); ['{ALL_CLASSES}'] reports every class. Unknown "
          f"names are an error.", item_type=str),
    Param("max_detections", field_default(DetectorConfig, "max_detections"),
          "Most detections per frame (the best-scoring ones).", min=1, max=MAX_DETECTIONS),
    Param("frame_skip", 1, "Process every Nth received frame (1: all); the others are skipped, not dropped.",
          min=1, max=100),
    Param("gpu_frame_skip", 0,
          "frame_skip when the model runs on a GPU (CUDA), which keeps up with more frames; 0: frame_skip.",
          min=0, max=100),
    Param("camera", "rgb", "Which camera this instance serves, for diagnostics.", choices=CAMERAS),
    Param("cameras", [""], "Serve several SLAM cameras from this one process and model session instead of one camera "
          "(then `camera` and the remappings of the image and detections topics do not apply): each stream's "
          "/aria/<stream>/image_raw -> /aria_nav/<stream>/detections, the newest frame of each in turn, e.g. "
          "[slam_left, slam_right], with Aria Gen2 also slam_front_left, slam_front_right (the pair slam_pair does "
          "not choose). [""]: one camera.", check=_check_cameras),
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
