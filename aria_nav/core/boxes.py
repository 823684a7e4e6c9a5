"""Axis-aligned xyxy box geometry shared by detection (NMS), tracking, fusion and replay comparison."""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of each box of `a` (N, 4) with each box of `b` (M, 4), as (N, M); 0 where the union is empty."""
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None, :, :]
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = width * height
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) \
        - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def pixel_range(low: float, high: float, scale: float, size: int) -> Tuple[int, int]:
    """The whole pixels [first, end) of a grid of `size` (scaled by `scale` from image pixels) that cover the image
    interval [low, high], at least one, clipped to the grid."""
    first = math.floor(min(max(low * scale, 0.0), size - 1))
    return first, math.ceil(min(max(high * scale, first + 1), size))
