"""How small the depth image fusion reads can be: box distances at smaller sizes against the network's 518x518.

The sample scene's exact z-depth (the ray caster's, every other frame of the sample recording) is brought to the
depth network's 518x518 (what a perfect depth model would output there), then reduced as the depth node can (its
NaN-aware bilinear resize, or min-pooling); fusion's box statistic (aria_nav.core.fusion.box_distance, default
settings) is taken for every ground-truth RGB box at each size. Reported: the relative difference to the 518
distance, median, p95 and worst over all boxes, and the bytes of one depth message. `aria-nav bench depth-size`
prints it.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

NETWORK_SIZE = 518
# (method, parameter): a bilinear resize to a size (the depth node's output_width/height), or min-pooling of the
# 518x518 map by a factor (its min_pool).
VARIANTS = (("bilinear", 388), ("bilinear", 259), ("bilinear", 130), ("min_pool", 2), ("min_pool", 7))


def _reduce(network: np.ndarray, method: str, parameter: int) -> np.ndarray:
    from aria_nav.core.depth.processing import min_pool, resize_depth

    if method == "min_pool":
        return min_pool(network, parameter)
    return resize_depth(network, (parameter, parameter))


def evaluate(variants: Sequence = VARIANTS, frame_step: int = 2) -> List[Dict[str, float]]:
    from aria_nav.core.depth.processing import resize_depth
    from aria_nav.core.fusion.box_distance import box_depth
    from aria_nav.core.sample.scene import default_scene

    scene = default_scene()
    errors: Dict[tuple, List[float]] = {variant: [] for variant in variants}
    sizes: Dict[tuple, int] = {}
    for index in range(0, scene.frame_count, frame_step):
        exact = scene.depth_rgb(index)
        height, width = exact.shape
        network = resize_depth(exact, (NETWORK_SIZE, NETWORK_SIZE))
        reduced = {variant: _reduce(network, *variant) for variant in variants}
        for obj in scene.ground_truth(index, ("rgb",)).objects:
            box = np.asarray(obj.box_xyxy, np.float32)
            reference = box_depth(network, box, (width, height)).depth_z
            if not np.isfinite(reference):
                continue
            for variant, small in reduced.items():
                sizes[variant] = small.shape[0]
                measured = box_depth(small, box, (width, height)).depth_z
                errors[variant].append(abs(measured - reference) / reference if np.isfinite(measured) else np.inf)
    rows = []
    for variant in variants:
        values = np.asarray(errors[variant])
        size = sizes.get(variant, 0)
        rows.append({"method": variant[0], "parameter": variant[1], "size": size, "boxes": int(values.size),
                     "bytes": size * size * 4, "median_percent": float(np.median(values) * 100),
                     "p95_percent": float(np.percentile(values, 95) * 100), "max_percent": float(values.max() * 100)})
    return rows


def format_table(rows: Sequence[Dict[str, float]]) -> str:
    lines = ["box distance (fusion's statistic) on smaller depth maps vs 518x518, sample scene's exact depth",
             f"{'method':<14} {'size':>9} {'KB/msg':>7} {'boxes':>6} {'median %':>9} {'p95 %':>7} {'worst %':>8}"]
    for row in rows:
        method = f"{row['method']} {row['parameter']}" if row["method"] == "min_pool" else row["method"]
        lines.append(f"{method:<14} {row['size']:>5}x{row['size']:<3} {row['bytes'] / 1024:>7.0f} {row['boxes']:>6} "
                     f"{row['median_percent']:>9.2f} {row['p95_percent']:>7.2f} {row['max_percent']:>8.2f}")
    return "\n".join(lines)
