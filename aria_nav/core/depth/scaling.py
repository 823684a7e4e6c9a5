"""Turning a depth model's output into trustworthy metres (ROS-free, numpy only): the valid range every depth
passes through, and the per-frame scaling of a relative model's inverse depth. Shared by the CPU path
(core.depth.processing) and the GPU path (core.depth.gpu), which applies the same numbers on the device.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np


@dataclass(frozen=True)
class ValidRange:
    """Depths outside [min_m, max_m] are reported as NaN: closer than the model can judge, or too far to matter
    (or beyond what the model was trained for)."""

    min_m: float = 0.1
    max_m: float = 20.0

    def __post_init__(self):
        if not 0 < self.min_m < self.max_m:
            raise ValueError(f"valid depth range [{self.min_m}, {self.max_m}] m is not 0 < min < max")

    def apply(self, depth_m: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            depth_m[~((depth_m >= self.min_m) & (depth_m <= self.max_m))] = np.nan
        return depth_m


@dataclass(frozen=True)
class RelativeScaling:
    """Approximate meters from a relative (affine-invariant inverse depth) prediction, per frame.

    The model's output d is inverse depth up to an unknown scale and shift. Among all such affine maps, this one
    is chosen: the `high_percentile` of the frame's valid d becomes 1/near_m and the `low_percentile` becomes
    1/far_m; depth = 1 / (mapped d), clamped to [near_m, far_m]. Assumption: in every frame the nearest few
    percent of the view are about near_m away and the farthest few percent about far_m. It holds roughly while
    walking with floor and background in view; it fails when one surface fills the view (a wall at 1 m and a
    wall at 5 m look alike), so these meters order things within a frame but do not measure them.
    Pixels with d <= 0 (infinitely far, e.g. sky) or non-finite d are NaN. A frame without spread in d (all
    values equal) cannot be scaled at all and is entirely NaN.
    """

    near_m: float = 0.5
    far_m: float = 10.0
    low_percentile: float = 2.0
    high_percentile: float = 98.0

    def __post_init__(self):
        if not 0 < self.near_m < self.far_m:
            raise ValueError(f"relative scaling range [{self.near_m}, {self.far_m}] m is not 0 < near < far")
        if not 0 <= self.low_percentile < self.high_percentile <= 100:
            raise ValueError(f"relative scaling percentiles [{self.low_percentile}, {self.high_percentile}] are "
                             f"not 0 <= low < high <= 100")

    def to_meters(self, disparity: np.ndarray) -> np.ndarray:
        depth = np.full(disparity.shape, np.nan, np.float32)
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(disparity) & (disparity > 0)
        values = disparity[valid]
        if values.size < 2:
            return depth
        low, high = np.percentile(values, [self.low_percentile, self.high_percentile])
        if not high > low:
            return depth
        # Linear in inverse depth: the model's ambiguity is exactly an affine map of inverse depth. Computed in
        # place over the whole map (masked at the end), which is faster than indexing the valid pixels.
        span = 1.0 / self.near_m - 1.0 / self.far_m
        inverse = np.subtract(disparity, np.float32(low), dtype=np.float32)
        inverse *= np.float32(span / (high - low))
        np.clip(inverse, 0.0, span, out=inverse)
        inverse += np.float32(1.0 / self.far_m)
        np.divide(np.float32(1.0), inverse, out=depth, where=valid)
        return depth

    def describe(self) -> Dict:
        return {"method": "percentile_inverse_depth", "near_m": self.near_m, "far_m": self.far_m,
                "percentiles": [self.low_percentile, self.high_percentile]}
