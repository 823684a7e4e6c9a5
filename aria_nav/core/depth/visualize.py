"""Depth in meters -> an RGB picture for rviz: a fixed meter range, near warm, far cool, no depth black."""
from __future__ import annotations

import cv2
import numpy as np


def colorize_depth(depth_m: np.ndarray, near_m: float, far_m: float) -> np.ndarray:
    """RGB uint8 HxWx3 with the Turbo colour map over [near_m, far_m] (red near, blue far; values outside are
    clamped), black where the depth is NaN. A fixed range keeps one colour meaning one distance in every frame."""
    if not 0 <= near_m < far_m:
        raise ValueError(f"colour range [{near_m}, {far_m}] m is not 0 <= near < far")
    valid = np.isfinite(depth_m)
    nearness = np.zeros(depth_m.shape, np.float32)
    nearness[valid] = np.clip((far_m - depth_m[valid]) / (far_m - near_m), 0.0, 1.0)
    bgr = cv2.applyColorMap(np.round(nearness * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    rgb[~valid] = 0
    return rgb
