"""Synthetic test scenes: smooth colour backgrounds with flat rectangles and a little noise.

Used to calibrate the random-weight test model, as the default input of the model benchmark, and by the tests;
deterministic for a given numpy Generator.
"""
from __future__ import annotations

import cv2
import numpy as np


def synthetic_scene(rng: np.random.Generator, height: int, width: int, rectangles: int = 8) -> np.ndarray:
    """One (height, width, 3) uint8 RGB scene."""
    coarse = rng.random((max(2, height // 32), max(2, width // 32), 3), dtype=np.float32)
    scene = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    for _ in range(rectangles):
        top, left = int(rng.integers(0, max(1, height - 16))), int(rng.integers(0, max(1, width - 16)))
        box_h, box_w = int(rng.integers(8, max(9, height // 2))), int(rng.integers(8, max(9, width // 2)))
        scene[top:top + box_h, left:left + box_w] = rng.random(3, dtype=np.float32)
    scene += rng.normal(0.0, 0.03, scene.shape).astype(np.float32)
    return (np.clip(scene, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
