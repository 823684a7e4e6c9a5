"""The depth node's parameter table."""
from __future__ import annotations

from aria_nav.ros.inference_params import TENSORRT_FP16, inference_params
from aria_nav.ros.params import Param

DEFAULT_MODEL = "depth_anything_v2_small_518.onnx"


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
