"""How far the object inside a detection box is, from a metric depth image.

The statistic is a low percentile of the valid depths in the central part of the box:
- the central part, because a box is a rectangle around a shape that rarely fills it: near its edges the depth
  image shows what is behind or beside the object (background leaks in, far too far) or the floor in front of it;
- a low percentile rather than the minimum or the median: the nearest surface of the object is what the walker
  would bump into (the median of a person seen at an angle lies on the far shoulder, the median of a chair on its
  back rest), while the very minimum is one noisy pixel;
- NaN, zero and negative depths are invalid (the depth stage marks what it could not estimate with NaN), and so
  are depths beyond MAX_DEPTH_M, which no depth model measures;
- a box wholly outside the image has no distance (one partly outside is measured where it meets the image).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np


MAX_DEPTH_M = 1000.0


@dataclass(frozen=True)
class BoxDistanceConfig:
    core_fraction: float = 0.5  # width and height of the central region, as a fraction of the box's
    percentile: float = 10.0  # low percentile of the valid depths in the central region
    min_valid_fraction: float = 0.1  # fewer valid pixels than this fraction of the region: no distance


@dataclass(frozen=True)
class BoxDepth:
    depth_z: float  # metres along the optical axis; NaN when the region had too few valid pixels
    u: float  # image column and row (source image pixels) of the region's centre, where the depth is placed
    v: float
    valid_fraction: float


def core_region(box: np.ndarray, core_fraction: float) -> Tuple[float, float, float, float]:
    """The central `core_fraction` of a box (x1, y1, x2, y2), same centre."""
    x1, y1, x2, y2 = (float(c) for c in box)
    half_w, half_h = (x2 - x1) * core_fraction / 2.0, (y2 - y1) * core_fraction / 2.0
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def box_depth(depth: np.ndarray, box: np.ndarray, image_size: Tuple[int, int],
              config: BoxDistanceConfig = BoxDistanceConfig()) -> BoxDepth:
    """Depth of the object in `box` (pixels of an image of `image_size` = (width, height)); the depth image may
    have another resolution of the same camera (boxes are scaled to it)."""
    width, height = image_size
    depth_h, depth_w = depth.shape[:2]
    x1, y1, x2, y2 = core_region(box, config.core_fraction)
    u, v = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    sx, sy = depth_w / width, depth_h / height
    if box[2] <= 0 or box[3] <= 0 or box[0] >= width or box[1] >= height:  # nothing of the box in view
        return BoxDepth(float("nan"), u, v, 0.0)
    # Whole depth pixels covered by the region, at least one, clipped to the image.
    c1 = int(np.clip(np.floor(x1 * sx), 0, depth_w - 1))
    r1 = int(np.clip(np.floor(y1 * sy), 0, depth_h - 1))
    c2 = int(np.clip(np.ceil(x2 * sx), c1 + 1, depth_w))
    r2 = int(np.clip(np.ceil(y2 * sy), r1 + 1, depth_h))
    region = np.asarray(depth[r1:r2, c1:c2], dtype=np.float32)
    valid = region[np.isfinite(region) & (region > 0) & (region <= MAX_DEPTH_M)]
    valid_fraction = valid.size / region.size if region.size else 0.0
    if valid.size == 0 or valid_fraction < config.min_valid_fraction:
        return BoxDepth(float("nan"), u, v, valid_fraction)
    return BoxDepth(float(np.percentile(valid, config.percentile)), u, v, valid_fraction)
