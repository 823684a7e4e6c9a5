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
from aria_nav.core.depth.processing import NotADepthModelError, PoolSizeError, open_depth_estimator, round_to_patch
from aria_nav.core.depth.scaling import RelativeScaling, ValidRange
from aria_nav.core.depth.visualize import colorize_depth
from aria_nav.core.inference.interface import ModelError
from aria_nav.ros.conversions import (ImageFormatError, array_to_image, camera_info_to_intrinsics, image_to_rgb,
                                      intrinsics_to_camera_info)
from aria_nav.ros.depth_params import PARAMS
from aria_nav.ros.diagnostics import NodeDiagnostics
from aria_nav.ros.inference_params import inference_config
from aria_nav.ros.intake import FrameIntake, report_runner
from aria_nav.ros.params import ConfigError, ParameterError, declare_parameters
from aria_nav.ros.qos import RESULT_DEPTH, frame_qos, latched_qos
from aria_nav.ros.runtime import WORKER_JOIN_S, AriaNode, main_for


POINT_FIELDS = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                for i, name in enumerate("xyz")]


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

        self.diag = NodeDiagnostics(self)
        report_runner(self, self.diag, runner)
        self.diag.set_value("depth_mode", self.estimator.describe()["mode"])
        self.get_logger().info(f"depth: {runner.describe()}, mode {self.estimator.describe()['mode']}")

        out_qos = frame_qos(cfg.process_every_frame, depth=RESULT_DEPTH)
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
        self.intake = FrameIntake(self, self.diag, self._process, cfg.frame_skip, cfg.process_every_frame,
                                  "depth", on_error=self._on_error)
        self.image_topic = self.intake.subscribe(Image, topics.RGB_IMAGE, frame_qos(cfg.process_every_frame)).topic_name
        self.info_topic = self.create_subscription(CameraInfo, topics.RGB_INFO, self._on_info,
                                                   frame_qos(cfg.process_every_frame)).topic_name
        self.intake.start()

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            intrinsics = camera_info_to_intrinsics(msg)
        except ImageFormatError as exc:
            self.intake.input_error(f"{self.info_topic}: {exc}")
            return
        with self._intrinsics_lock:
            self._intrinsics = intrinsics

    def _process(self, msg: Image) -> None:
        try:
            rgb = image_to_rgb(msg)
        except ImageFormatError as exc:
            self.intake.input_error(f"{self.image_topic}: {exc}")
            return
        cfg = self.cfg
        output_hw = (cfg.output_height, cfg.output_width) if cfg.output_width else rgb.shape[:2]
        try:
            depth = self.estimator.estimate(rgb, output_hw, cfg.min_pool)
        except PoolSizeError as exc:
            self.intake.input_error(f"{self.image_topic}: min_pool: {exc}")
            return
        output_hw = depth.shape
        self.depth_pub.publish(array_to_image(depth, "32FC1", msg.header))
        self.diag.record_hop("published", msg.header.stamp)
        intrinsics = self._output_intrinsics(msg, output_hw)
        if intrinsics is not None:
            self.info_pub.publish(intrinsics_to_camera_info(intrinsics, msg.header))
            if self.points_pub is not None:
                points = back_project(depth, intrinsics, cfg.points_stride)
                self.points_pub.publish(points_to_cloud(points, msg.header))
        if self.colored_pub is not None:
            colored = colorize_depth(depth, *cfg.colored_range_m)
            self.colored_pub.publish(array_to_image(colored, "rgb8", msg.header))
        self.diag.record(msg.header.stamp)

    def _output_intrinsics(self, msg: Image, output_hw) -> Optional[PinholeIntrinsics]:
        """The camera's intrinsics scaled to the depth image, or None (reported) when there are none for it."""
        with self._intrinsics_lock:
            intrinsics = self._intrinsics
        if intrinsics is None:
            self.intake.input_error(f"no CameraInfo on {self.info_topic} yet: publishing depth without camera_info "
                                    "or points", count=False)
            return None
        if (intrinsics.width, intrinsics.height) != (msg.width, msg.height):
            self.intake.input_error(f"{self.info_topic} is for {intrinsics.width}x{intrinsics.height} but "
                                    f"{self.image_topic} is {msg.width}x{msg.height}: no camera_info or points for "
                                    "this frame")
            return None
        return intrinsics.scaled(output_hw[1], output_hw[0])

    def _on_error(self, exc: BaseException) -> None:
        if isinstance(exc, NotADepthModelError):  # the wrong model: no frame will ever work, and restarts cannot help
            self.request_exit(ConfigError(str(exc)))
            return
        self.intake.failed(exc, "depth estimation failed")

    def close(self) -> None:
        # An inference in progress is interrupted (seconds on a busy CPU); releasing its session under it, or
        # leaving it running into interpreter shutdown, aborts the process.
        if self.intake.stop(WORKER_JOIN_S, interrupt=self.estimator.runner.interrupt):
            self.estimator.close()


main = main_for(DepthNode, "depth")
