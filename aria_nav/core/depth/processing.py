"""Depth-Anything-V2 pre- and post-processing, and the conversion of its output to meters (ROS-free).

Relative models (the released Depth-Anything-V2 Small/Base/Large) predict affine-invariant inverse depth: larger
is nearer, and the scale and shift of each frame are unknown. Metric models (Depth-Anything-V2 Metric
Indoor/Outdoor) predict meters. Fusion always receives meters: relative output goes through RelativeScaling,
which fixes the unknown scale and shift per frame from percentiles (see its docstring and docs/depth.md for what
that can and cannot tell a user). Every pixel without a trustworthy value is NaN, never 0 or inf.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from aria_nav.core.depth.build import PATCH_SIZE
from aria_nav.core.depth.model_info import DepthModelInfo
from aria_nav.core.depth.scaling import RelativeScaling, ValidRange
from aria_nav.core.inference.interface import InferenceConfig, ModelError, ModelRunner
from aria_nav.core.inference.registry import open_runner

DEPTH_MODES = ("relative", "metric")


def round_to_patch(value: float) -> int:
    """The nearest positive multiple of the ViT patch size (14)."""
    return max(PATCH_SIZE, int(round(value / PATCH_SIZE)) * PATCH_SIZE)


def network_input_hw(image_hw: Tuple[int, int], fixed_hw: Optional[Tuple[int, int]],
                     input_size: int) -> Tuple[int, int]:
    """(height, width) of the network input for an image of `image_hw`.

    A fixed-shape model gets exactly its own shape, whatever the image (the aspect ratio is stretched and
    stretched back afterwards). A dynamic-shape model gets the image scaled so that its shorter side is
    `input_size`, aspect ratio kept, both sides multiples of 14 (Depth-Anything-V2's own 'lower bound' resize).
    """
    if fixed_hw is not None:
        return fixed_hw
    height, width = image_hw
    scale = round_to_patch(input_size) / min(height, width)
    return round_to_patch(height * scale), round_to_patch(width * scale)


def preprocess(rgb: np.ndarray, input_hw: Tuple[int, int], mean: Sequence[float], std: Sequence[float],
               dtype=np.float32) -> np.ndarray:
    """(1, 3, H, W) tensor: `rgb` (uint8 HxWx3) resized to input_hw (bicubic, as Depth-Anything-V2 does), scaled
    to [0, 1] and normalised per channel."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 HxWx3 image, got {rgb.dtype}{list(rgb.shape)}")
    height, width = input_hw
    resized = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC) \
        if rgb.shape[:2] != (height, width) else rgb
    # Channel by channel straight into the NCHW tensor: no HxWx3 float temporary, no transposing copy
    # (3.5x faster than normalising the whole image, then transposing).
    tensor = np.empty((1, 3, height, width), dtype)
    for channel in range(3):
        np.multiply(resized[..., channel], np.float32(1.0 / (255.0 * std[channel])), out=tensor[0, channel],
                    dtype=np.float32, casting="same_kind")
        tensor[0, channel] -= np.float32(mean[channel] / std[channel])
    return tensor


def resolve_depth_mode(configured: str, declared: Optional[str], model: str) -> str:
    """The mode to run `model` in. 'auto' takes the one the model declares; a conflict is an error, because
    reading meters as inverse depth (or the reverse) turns near into far."""
    if configured == "auto":
        if declared is None:
            raise ModelError(f"'{model}' does not declare whether it outputs relative or metric depth: set the "
                             f"parameter depth_mode to relative or metric")
        return declared
    if configured not in DEPTH_MODES:
        raise ModelError(f"depth_mode '{configured}' is not auto, relative or metric")
    if declared is not None and declared != configured:
        raise ModelError(f"depth_mode is '{configured}' but '{model}' declares {declared} depth in its metadata")
    return configured


def to_meters(raw: np.ndarray, mode: str, scaling: RelativeScaling, valid_range: ValidRange) -> np.ndarray:
    """A model's raw HxW output in meters (float32), NaN where invalid or outside the valid range."""
    if mode == "relative":
        depth = scaling.to_meters(raw)
        if valid_range.min_m <= scaling.near_m and scaling.far_m <= valid_range.max_m:
            return depth  # already clamped to [near_m, far_m], inside the valid range
    else:
        depth = np.array(raw, np.float32)  # a copy: the valid-range mask writes into it
    return valid_range.apply(depth)


class NotADepthModelError(ModelError):
    """The model's output is not a depth map of its input: another kind of model (a detector) was configured."""


# A depth map's aspect ratio is its input's (Depth-Anything-V2 predicts at input resolution); allow rounding.
ASPECT_TOLERANCE = 0.1


def depth_map_hw(shape: Sequence[int], input_hw: Optional[Tuple[int, int]] = None) -> Tuple[int, int]:
    """(H, W) of a model output of `shape` holding one HxW map; exports differ in leading unit axes ((1, H, W),
    (1, 1, H, W)). With `input_hw`, a map whose aspect ratio is not the input's is a NotADepthModelError."""
    shape = tuple(int(d) for d in shape)
    if len(shape) < 2 or int(np.prod(shape)) != shape[-2] * shape[-1]:
        raise ModelError(f"depth model output has shape {list(shape)}; one HxW map is expected")
    height, width = shape[-2:]
    if input_hw is not None and abs(width / height - input_hw[1] / input_hw[0]) > \
            ASPECT_TOLERANCE * input_hw[1] / input_hw[0]:
        raise NotADepthModelError(f"output {list(shape)} for a {input_hw[1]}x{input_hw[0]} input is not a "
                                  f"depth map of it: not a depth model")
    return height, width


def depth_map(output: np.ndarray, input_hw: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """The model output as one HxW float32 map (see depth_map_hw)."""
    output = np.asarray(output)
    return output.reshape(depth_map_hw(output.shape, input_hw)).astype(np.float32, copy=False)


def resize_depth(depth_m: np.ndarray, output_hw: Tuple[int, int]) -> np.ndarray:
    """Bilinear resize that ignores NaN: each output pixel averages its valid neighbours only, and is NaN where
    most of its neighbourhood is. A plain bilinear resize would spread every NaN over its neighbours (and
    interpolating only valid meters keeps every value inside the valid range)."""
    height, width = output_hw
    if depth_m.shape == (height, width):
        return depth_m
    valid = np.isfinite(depth_m)
    if valid.all():
        return cv2.resize(depth_m, (width, height), interpolation=cv2.INTER_LINEAR)
    weight = cv2.resize(valid.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    total = cv2.resize(np.where(valid, depth_m, 0).astype(np.float32), (width, height),
                       interpolation=cv2.INTER_LINEAR)
    with np.errstate(invalid="ignore", divide="ignore"):
        resized = total / weight
    resized[~(weight >= 0.5)] = np.nan
    return resized


def min_pool(depth_m: np.ndarray, factor: int) -> np.ndarray:
    """Each `factor` x `factor` block's nearest valid depth (NaN only where the whole block is): a smaller map for
    fusion that never moves an obstacle farther away. The map's sides must be multiples of `factor`."""
    if factor == 1:
        return depth_m
    height, width = depth_m.shape
    blocks = depth_m.reshape(height // factor, factor, width // factor, factor)
    with np.errstate(invalid="ignore"):
        return np.fmin.reduce(np.fmin.reduce(blocks, axis=3), axis=1)


class PoolSizeError(ValueError):
    """A min-pool factor that does not divide the depth map's sides."""


def check_pool(output_hw: Tuple[int, int], factor: int) -> None:
    if factor < 1 or output_hw[0] % factor or output_hw[1] % factor:
        raise PoolSizeError(f"a {output_hw[1]}x{output_hw[0]} depth map cannot be min-pooled by {factor}: its sides "
                         f"must be multiples of it")


class DepthEstimator:
    """RGB image in, depth in meters out (float32, NaN where invalid), at the source size or a given size.

    `runner` is the shared inference runner (ONNX Runtime or TensorRT); it refuses any tensor whose shape differs
    from a fixed-shape model's input, and network_input_hw() never asks for one.
    """

    def __init__(self, runner: ModelRunner, mode: str, scaling: RelativeScaling = RelativeScaling(),
                 valid_range: ValidRange = ValidRange(), input_size: int = 518):
        if mode not in DEPTH_MODES:
            raise ValueError(f"depth mode '{mode}' is not one of {', '.join(DEPTH_MODES)}")
        if mode == "relative" and not (valid_range.min_m <= scaling.near_m and scaling.far_m <= valid_range.max_m):
            raise ValueError(f"relative scaling range [{scaling.near_m}, {scaling.far_m}] m lies outside the valid "
                             f"range [{valid_range.min_m}, {valid_range.max_m}] m")
        self.runner = runner
        self.info = DepthModelInfo.from_metadata(runner.metadata, str(runner.path))
        self.mode = mode
        self.scaling = scaling
        self.valid_range = valid_range
        self.input_size = input_size
        self._bound = getattr(runner, "bound", None)  # GPU-resident runner: pre/post-processing on its device

    def to_meters(self, raw: np.ndarray) -> np.ndarray:
        return to_meters(raw, self.mode, self.scaling, self.valid_range)

    def estimate(self, rgb: np.ndarray, output_hw: Optional[Tuple[int, int]] = None, pool: int = 1) -> np.ndarray:
        """Depth in meters at `output_hw` (default: the image's size), min-pooled by `pool` (see min_pool)."""
        input_hw = network_input_hw(rgb.shape[:2], self.runner.fixed_hw(), self.input_size)
        output_hw = output_hw or rgb.shape[:2]
        check_pool(output_hw, pool)
        if self._bound is not None:
            return self._estimate_on_device(rgb, input_hw, output_hw, pool)
        tensor = preprocess(rgb, input_hw, self.info.mean, self.info.std, self.runner.input_dtype)
        # Meters at the network's resolution first: fewer pixels to convert.
        try:
            depth = self.to_meters(depth_map(self.runner.infer(tensor), input_hw))
        except NotADepthModelError as exc:
            raise NotADepthModelError(f"model '{self.runner.path}': {exc}") from None
        return min_pool(resize_depth(depth, output_hw), pool)

    def _estimate_on_device(self, rgb: np.ndarray, input_hw: Tuple[int, int], output_hw: Tuple[int, int],
                            pool: int) -> np.ndarray:
        from aria_nav.core.depth import gpu

        try:
            output_hw_model = depth_map_hw(self._bound.output.shape, input_hw)
        except NotADepthModelError as exc:
            raise NotADepthModelError(f"model '{self.runner.path}': {exc}") from None
        with self._bound.on_stream():
            gpu.preprocess_into(self._bound.input, rgb, self.info.mean, self.info.std)
            output = self._bound.run()
            depth = gpu.to_meters(output.reshape(output_hw_model), self.mode, self.scaling, self.valid_range)
            return gpu.min_pool(gpu.resize_depth(depth, output_hw), pool).cpu().numpy()

    def describe(self) -> Dict:
        """What DEPTH_MODE publishes: whether the meters are measured by the model or approximated."""
        description = {"mode": "metric" if self.mode == "metric" else "approximate",
                       "model": self.info.name or self.runner.path.name, "model_output": self.mode,
                       "valid_range_m": [self.valid_range.min_m, self.valid_range.max_m],
                       "backend": self.runner.backend, "provider": self.runner.provider}
        if self.mode == "relative":
            description["scaling"] = self.scaling.describe()
        else:
            description["scaling"] = {"method": "none: the model outputs meters",
                                      "model_max_depth_m": self.info.max_depth}
        return description

    def close(self) -> None:
        self.runner.close()


def open_depth_estimator(config: InferenceConfig, depth_mode: str = "auto",
                         scaling: RelativeScaling = RelativeScaling(), valid_range: ValidRange = ValidRange(),
                         input_size: int = 518) -> DepthEstimator:
    """Load the model with the configured backend and settle its depth mode; a ModelError names any problem."""
    runner = open_runner(config)
    try:
        info = DepthModelInfo.from_metadata(runner.metadata, str(runner.path))
        mode = resolve_depth_mode(depth_mode, info.mode, str(runner.path))
        return DepthEstimator(runner, mode, scaling, valid_range, input_size)
    except BaseException:
        runner.close()
        raise
