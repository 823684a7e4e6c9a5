"""Depth image -> 3D points in the camera optical frame (x right, y down, z forward), ROS-free."""
from __future__ import annotations

import numpy as np

from aria_nav.core.camera_model import PinholeIntrinsics


def back_project(depth_m: np.ndarray, intrinsics: PinholeIntrinsics, stride: int = 1) -> np.ndarray:
    """(N, 3) float32 points of every `stride`-th pixel in both directions (starting at pixel 0, 0) whose depth
    is finite; pixel (u, v) at depth z is ((u - cx) z / fx, (v - cy) z / fy, z). The intrinsics must be those of
    the depth image's own size."""
    if depth_m.ndim != 2:
        raise ValueError(f"depth must be an HxW image, got shape {list(depth_m.shape)}")
    if depth_m.shape != (intrinsics.height, intrinsics.width):
        raise ValueError(f"intrinsics are for {intrinsics.width}x{intrinsics.height} but the depth image is "
                         f"{depth_m.shape[1]}x{depth_m.shape[0]}")
    if stride < 1:
        raise ValueError(f"stride {stride} is not a positive integer")
    z = depth_m[::stride, ::stride].astype(np.float32, copy=False)
    rows = np.arange(0, depth_m.shape[0], stride, dtype=np.float32)
    cols = np.arange(0, depth_m.shape[1], stride, dtype=np.float32)
    ray_x = (cols - np.float32(intrinsics.cx)) / np.float32(intrinsics.fx)
    ray_y = (rows - np.float32(intrinsics.cy)) / np.float32(intrinsics.fy)
    valid = np.isfinite(z)
    row_index, col_index = np.nonzero(valid)
    depth = z[valid]
    return np.stack([ray_x[col_index] * depth, ray_y[row_index] * depth, depth], axis=1).astype(np.float32)
