"""Depth node: Depth-Anything-V2 on the newest RGB frame -> depth in meters (32FC1, NaN where invalid).

Publishes, each with the source image's header: the depth image (source size or output_width x output_height),
CameraInfo for that size, optionally a false-colour image and a point cloud (x, y, z float32 in the camera
optical frame). A latched JSON string says whether the meters come from a metric model or are approximated
from a relative one, so fusion and the user know how far to trust them.
"""
from __future__ import annotations

import json
import threading
from typing import Optional

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header, String

from aria_nav import topics
from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.depth.geometry import back_project
from aria_nav.core.depth.processing import (NotADepthModelError, PoolSizeError, RelativeScaling, ValidRange,
                                            open_depth_estimator, round_to_patch)
from aria_nav.core.depth.visualize import colorize_depth
from aria_nav.core.inference.onnx_runtime import ModelError
from aria_nav.core.latest import LatestWorker
from aria_nav.ros.conversions import (ImageFormatError, array_to_image, camera_info_to_intrinsics, image_to_rgb,
                                      intrinsics_to_camera_info)
from aria_nav.ros.diagnostics import WARN, NodeDiagnostics
from aria_nav.ros.inference_params import TENSORRT_FP16, inference_config, inference_params
from aria_nav.ros.params import ConfigError, Param, ParameterError, declare_parameters
from aria_nav.ros.qos import frame_qos, latched_qos
from aria_nav.ros.runtime import WORKER_JOIN_S, AriaNode, main_for

DEFAULT_MODEL = "depth_anything_v2_small_518.onnx"
LOG_THROTTLE_S = 5.0

POINT_FIELDS = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                for i, name in enumerate("xyz")]


def _pair(low_name: str, high_name: str, low_min: float = 0.0):
    """Check of a two-number list parameter [low, high] with low_min <= low < high."""
    def check(values):
        if len(values) != 2 or not low_min <= values[0] < values[1]:
            return f"must be [{low_name}, {high_name}] with {low_min:g} <= {low_name} < {high_name}, got {values}"
        return None
    return check


PARAMS = inference_params(DEFAULT_MODEL) + [
    TENSORRT_FP16,
    Param("depth_mode", "auto",
          "What the model outputs: relative (inverse relative depth, Depth-Anything-V2 Small/Base/Large; converted "
          "to approximate meters) or metric (meters, Depth-Anything-V2 Metric). auto: as the model's metadata "
          "declares; a model without that metadata needs relative or metric here.",
          choices=("auto", "relative", "metric")),
    Param("input_size", 518,
          "Network input of dynamic-shape models: the shorter image side is scaled to this (rounded to a multiple "
          "of 14, aspect kept; a TensorRT engine built from such a model is input_size x input_size). Fixed-shape "
          "models always get exactly their own input shape.", min=14, max=2016),
    Param("output_width", 0, "Width of the published depth image; 0: the source image's width.", min=0, max=8192),
    Param("output_height", 0, "Height of the published depth image; 0: the source image's height.",
          min=0, max=8192),
    Param("min_pool", 1,
          "Publish the depth image reduced by this factor, each block's nearest valid depth (never farther than the "
          "full image says): fewer bytes to fusion. The published size is output_width/height (or the source "
          "size) divided by it, which must divide both; 1: off. Measured: 2 from 518x518 keeps box distances "
          "within 2.0% at p95 (worst 6%, small far boxes; docs/bench/depth_size.txt).", min=1, max=16),
    Param("valid_range_m", [0.1, 20.0],
          "[min, max] meters: depths outside are published as NaN (no depth), never clamped.", item_type=float,
          check=_pair("min", "max", low_min=1e-3)),
    Param("relative_range_m", [0.5, 10.0],
          "Relative models: [near, far] meters the nearest and farthest parts of each frame are mapped to (see "
          "docs/depth.md: approximate, orders things within a frame but does not measure them). Must lie inside "
          "valid_range_m.", item_type=float, check=_pair("near", "far", low_min=1e-3)),
    Param("relative_percentiles", [2.0, 98.0],
          "Relative models: [low, high] percentiles of the frame's inverse depth mapped to far and near, robust "
          "to a few outlier pixels.", item_type=float, check=_pair("low", "high")),
    Param("frame_skip", 1, "Process one frame in every N received (1: every frame).", min=1, max=1000),
    Param("process_every_frame", False,
          "Deterministic replay: reliable QoS and every frame processed once, in order (no newest-frame drops)."),
    Param("publish_colored", False, "Also publish a false-colour rgb8 depth image (rviz)."),
    Param("colored_range_m", [0.3, 10.0], "[near, far] meters of the colour map (red near, blue far, black NaN).",
          item_type=float, check=_pair("near", "far")),
    Param("publish_points", False, "Also publish a PointCloud2 (x, y, z float32, camera optical frame)."),
    Param("points_stride", 8, "Point cloud: use every N-th pixel in both directions of the depth image.",
          min=1, max=256),
]


def points_to_cloud(points: np.ndarray, header: Header) -> PointCloud2:
    """(N, 3) float32 points as an unorganised, dense PointCloud2 with fields x, y, z."""
    data = np.ascontiguousarray(points, dtype="<f4")
    return PointCloud2(header=header, height=1, width=len(data), fields=POINT_FIELDS, is_bigendian=False,
                       point_step=12, row_step=12 * len(data), data=data.tobytes(), is_dense=True)


class DepthNode(AriaNode):
    def __init__(self, **node_options):  # node_options: rclpy Node's (aria_nav.nodes.composed passes cli_args)
        super().__init__("depth", **node_options)
        self.cfg = cfg = declare_parameters(self, PARAMS)
        if (cfg.output_width == 0) != (cfg.output_height == 0):
            raise ParameterError("output_width", "output_width and output_height must both be 0 (source size) "
                                                 "or both be set")
        if cfg.output_width and (cfg.output_width % cfg.min_pool or cfg.output_height % cfg.min_pool):
            raise ParameterError("min_pool", f"{cfg.min_pool} does not divide output_width {cfg.output_width} and "
                                             f"output_height {cfg.output_height}")
        valid_range = ValidRange(*cfg.valid_range_m)
        scaling = RelativeScaling(*cfg.relative_range_m, *cfg.relative_percentiles)
        if not (valid_range.min_m <= scaling.near_m and scaling.far_m <= valid_range.max_m):
            raise ParameterError("relative_range_m", f"{cfg.relative_range_m} lies outside valid_range_m "
                                                     f"{cfg.valid_range_m}")
        # A TensorRT engine built from a dynamic-shape ONNX model gets one square input of input_size.
        engine_side = round_to_patch(cfg.input_size)
        inference = inference_config(cfg, input_hw=(engine_side, engine_side))
        try:
            self.estimator = open_depth_estimator(inference, cfg.depth_mode, scaling, valid_range, cfg.input_size)
        except ModelError as exc:
            raise ConfigError(str(exc)) from None
        runner = self.estimator.runner

        self.diagnostics = NodeDiagnostics(self)
        self.diagnostics.set_value("backend", runner.backend)
        self.diagnostics.set_value("provider", runner.provider)
        if getattr(runner, "bound", None) is not None:
            self.diagnostics.set_value("gpu_resident", f"IO binding, CUDA graph {runner.cuda_graph}")
        self.diagnostics.set_value("model", runner.path.name)
        self.diagnostics.set_value("depth_mode", self.estimator.describe()["mode"])
        if runner.fallback_warning:
            self.get_logger().warn(runner.fallback_warning)
            self.diagnostics.set_value("fallback_warning", runner.fallback_warning)
            self.diagnostics.set_status(WARN, "running on the CPU: requested provider unavailable")
        self.get_logger().info(f"depth: {runner.describe()}, mode {self.estimator.describe()['mode']}")

        out_qos = frame_qos(cfg.process_every_frame, depth=5)
        self.depth_pub = self.create_publisher(Image, topics.DEPTH_IMAGE, out_qos)
        self.info_pub = self.create_publisher(CameraInfo, topics.DEPTH_INFO, out_qos)
        self.colored_pub = self.create_publisher(Image, topics.DEPTH_COLORED, out_qos) \
            if cfg.publish_colored else None
        self.points_pub = self.create_publisher(PointCloud2, topics.DEPTH_POINTS, out_qos) \
            if cfg.publish_points else None
        self.mode_pub = self.create_publisher(String, topics.DEPTH_MODE, latched_qos())
        self.mode_pub.publish(String(data=json.dumps(self.estimator.describe())))

        self._intrinsics: Optional[PinholeIntrinsics] = None
        self._intrinsics_lock = threading.Lock()
        self._received = 0
        self.worker = LatestWorker(self._process, self._on_error, keep_all=cfg.process_every_frame,
                                   name="depth")
        self.image_topic = self.create_subscription(Image, topics.RGB_IMAGE, self._on_image,
                                                    frame_qos(cfg.process_every_frame)).topic_name
        self.info_topic = self.create_subscription(CameraInfo, topics.RGB_INFO, self._on_info,
                                                   frame_qos(cfg.process_every_frame)).topic_name

    def _on_image(self, msg: Image) -> None:
        self._received += 1
        if (self._received - 1) % self.cfg.frame_skip:
            return
        self.worker.submit(msg)
        self.diagnostics.stats.dropped = self.worker.slot.dropped

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            intrinsics = camera_info_to_intrinsics(msg)
        except ImageFormatError as exc:
            self._report(f"{self.info_topic}: {exc}")
            return
        with self._intrinsics_lock:
            self._intrinsics = intrinsics

    def _process(self, msg: Image) -> None:
        try:
            rgb = image_to_rgb(msg)
        except ImageFormatError as exc:
            self._report(f"{self.image_topic}: {exc}")
            return
        cfg = self.cfg
        output_hw = (cfg.output_height, cfg.output_width) if cfg.output_width else rgb.shape[:2]
        try:
            depth = self.estimator.estimate(rgb, output_hw, cfg.min_pool)
        except PoolSizeError as exc:
            self._report(f"{self.image_topic}: min_pool: {exc}")
            return
        output_hw = depth.shape
        self.depth_pub.publish(array_to_image(depth, "32FC1", msg.header))
        intrinsics = self._output_intrinsics(msg, output_hw)
        if intrinsics is not None:
            self.info_pub.publish(intrinsics_to_camera_info(intrinsics, msg.header))
            if self.points_pub is not None:
                points = back_project(depth, intrinsics, cfg.points_stride)
                self.points_pub.publish(points_to_cloud(points, msg.header))
        if self.colored_pub is not None:
            colored = colorize_depth(depth, *cfg.colored_range_m)
            self.colored_pub.publish(array_to_image(colored, "rgb8", msg.header))
        self.diagnostics.record(msg.header.stamp)

    def _output_intrinsics(self, msg: Image, output_hw) -> Optional[PinholeIntrinsics]:
        """The camera's intrinsics scaled to the depth image, or None (reported) when there are none for it."""
        with self._intrinsics_lock:
            intrinsics = self._intrinsics
        if intrinsics is None:
            self._report(f"no CameraInfo on {self.info_topic} yet: publishing depth without camera_info or points",
                         count=False)
            return None
        if (intrinsics.width, intrinsics.height) != (msg.width, msg.height):
            self._report(f"{self.info_topic} is for {intrinsics.width}x{intrinsics.height} but {self.image_topic} "
                         f"is {msg.width}x{msg.height}: no camera_info or points for this frame")
            return None
        return intrinsics.scaled(output_hw[1], output_hw[0])

    def _on_error(self, exc: BaseException) -> None:
        if isinstance(exc, NotADepthModelError):  # the wrong model: no frame will ever work, and restarts cannot help
            self.request_exit(ConfigError(str(exc)))
            return
        self._report(f"depth estimation failed: {type(exc).__name__}: {exc}")

    def _report(self, message: str, count: bool = True) -> None:
        if count:
            self.diagnostics.stats.record_error(message)
        self.get_logger().warn(message, throttle_duration_sec=LOG_THROTTLE_S)

    def close(self) -> None:
        # An inference in progress is interrupted (seconds on a busy CPU); releasing its session under it, or
        # leaving it running into interpreter shutdown, aborts the process.
        if self.worker.stop(WORKER_JOIN_S, interrupt=self.estimator.runner.interrupt):
            self.estimator.close()


main = main_for(DepthNode, "depth")
