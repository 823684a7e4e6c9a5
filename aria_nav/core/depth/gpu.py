"""Depth pre- and post-processing on the device that runs the model (torch), for the GPU-resident path.

The same functions as aria_nav.core.depth.processing (preprocess, RelativeScaling.to_meters, ValidRange,
resize_depth, min_pool), on torch tensors: the frame goes to the device once as uint8 and only the finished depth
map comes back. On a GPU these steps took more time than the model itself on the host (percentiles, resizes, masks
over hundreds of thousands of pixels); here they are a few kernels. Written for any torch device, so CI checks them
on the CPU against the host functions.
"""
from __future__ import annotations

import functools
from typing import Sequence, Tuple

import numpy as np

from aria_nav.core.depth.scaling import RelativeScaling, ValidRange


def preprocess_into(target, rgb: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> None:
    """Write `rgb` (uint8 HxWx3) into `target` (a (1, 3, H, W) torch tensor): bicubic resize as cv2.INTER_CUBIC,
    saturated to [0, 255] as cv2 does for uint8, scaled to [0, 1] and normalised per channel."""
    import torch

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 HxWx3 image, got {rgb.dtype}{list(rgb.shape)}")
    device = target.device
    planes = torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(2, 0, 1)[None].float()
    height, width = target.shape[2:]
    if tuple(rgb.shape[:2]) != (height, width):
        planes = torch.nn.functional.interpolate(planes, size=(height, width), mode="bicubic", align_corners=False)
        planes.clamp_(0.0, 255.0)
    scale, shift = _normalisation(device, tuple(mean), tuple(std))
    target.copy_(planes.mul_(scale).sub_(shift))


@functools.lru_cache(maxsize=8)
def _normalisation(device, mean: Tuple[float, ...], std: Tuple[float, ...]):
    """The per-channel (scale, shift) tensors on `device`, made once: a new small tensor each frame is a copy from
    the host that waits for the device."""
    import torch

    scale = torch.tensor([1.0 / (255.0 * s) for s in std], device=device).view(1, 3, 1, 1)
    shift = torch.tensor([m / s for m, s in zip(mean, std)], device=device).view(1, 3, 1, 1)
    return scale, shift


def relative_to_meters(disparity, scaling: RelativeScaling):
    """RelativeScaling.to_meters on a torch HxW float32 tensor (same percentiles: linear interpolation), with no
    round trip to the host: the percentiles are read from one sort of the map (invalid pixels sorted last) at
    positions computed on the device, and a map without two valid pixels or without spread becomes NaN by a mask,
    not by a branch on values that would have to come back first."""
    import torch

    valid = torch.isfinite(disparity) & (disparity > 0)
    count = valid.sum()
    ordered = torch.where(valid, disparity, torch.inf).flatten().sort().values
    last = (count - 1).clamp(min=0)

    def percentile(value: float):
        position = last.double() * (value / 100.0)
        below = position.floor().long()
        fraction = (position - below).float()
        above = torch.minimum(below + 1, last)
        return torch.lerp(ordered.index_select(0, below.view(1)), ordered.index_select(0, above.view(1)), fraction)

    low, high = percentile(scaling.low_percentile), percentile(scaling.high_percentile)
    usable = valid & (count >= 2) & (high > low)
    span = 1.0 / scaling.near_m - 1.0 / scaling.far_m
    inverse = (disparity - low).mul_(span / (high - low)).clamp_(0.0, span).add_(1.0 / scaling.far_m)
    return torch.where(usable, inverse.reciprocal_(), float("nan"))


def to_meters(raw, mode: str, scaling: RelativeScaling, valid_range: ValidRange):
    """aria_nav.core.depth.processing.to_meters on a torch HxW tensor."""
    import torch

    if mode == "relative":
        depth = relative_to_meters(raw.float(), scaling)
        if valid_range.min_m <= scaling.near_m and scaling.far_m <= valid_range.max_m:
            return depth
    else:
        depth = raw.float()
    return torch.where((depth >= valid_range.min_m) & (depth <= valid_range.max_m), depth, float("nan"))


def resize_depth(depth, output_hw: Tuple[int, int]):
    """aria_nav.core.depth.processing.resize_depth (bilinear, NaN ignored) on a torch HxW tensor."""
    import torch

    if tuple(depth.shape) == tuple(output_hw):
        return depth

    def bilinear(plane):
        return torch.nn.functional.interpolate(plane[None, None], size=tuple(output_hw), mode="bilinear",
                                               align_corners=False)[0, 0]

    valid = torch.isfinite(depth)
    if bool(valid.all()):
        return bilinear(depth)
    weight = bilinear(valid.float())
    resized = bilinear(torch.where(valid, depth, torch.zeros_like(depth))) / weight
    resized[~(weight >= 0.5)] = float("nan")
    return resized


def min_pool(depth, factor: int):
    """aria_nav.core.depth.processing.min_pool on a torch HxW tensor."""
    import torch

    if factor == 1:
        return depth
    nearest = -torch.nn.functional.max_pool2d(-torch.nan_to_num(depth, nan=float("inf"))[None, None], factor)[0, 0]
    return nearest.masked_fill_(torch.isinf(nearest), float("nan"))
