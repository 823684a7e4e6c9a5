"""Low-light enhancement of camera frames before detection (ROS-free; off by default).

A dark frame (mean luminance below `dark_below`, 0..255) is brightened before the detector sees it; depth and
fusion keep the original image. The method is chosen from the frame's brightness (mode `auto`):
- very dark frames (mean below `gamma_below`): a gamma curve lifts the whole range (CLAHE would amplify the sensor
  noise of an almost black image into texture);
- dim frames: CLAHE on the luminance (L of Lab for RGB, the grey value itself for mono), which restores local
  contrast without shifting colours.
Modes `clahe` and `gamma` force one method for dark frames; bright frames are never touched. Both methods are lookup
tables or OpenCV's CLAHE, a few milliseconds per frame (benchmark: `python -m aria_nav.core.detection.low_light`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

MODES = ("off", "auto", "clahe", "gamma")
NONE, CLAHE, GAMMA = "none", "clahe", "gamma"


@dataclass(frozen=True)
class LowLightConfig:
    mode: str = "off"
    dark_below: float = 70.0  # mean luminance (0..255) under which a frame is enhanced
    gamma_below: float = 30.0  # auto: under this, gamma; between this and dark_below, CLAHE
    target_mean: float = 110.0  # gamma: the exponent that brings the mean luminance here
    clahe_clip: float = 3.0
    clahe_tiles: int = 8


def luminance(image: np.ndarray) -> np.ndarray:
    """Grey value of an RGB (H, W, 3) or mono (H, W) uint8 image, on a quarter-size copy (enough for a mean)."""
    small = image[::4, ::4]
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small


class LowLightEnhancer:
    def __init__(self, config: LowLightConfig = LowLightConfig()):
        if config.mode not in MODES:
            raise ValueError(f"low-light mode '{config.mode}' is not one of {', '.join(MODES)}")
        self.config = config
        self._clahe = cv2.createCLAHE(clipLimit=config.clahe_clip, tileGridSize=(config.clahe_tiles,) * 2)
        self.last_method = NONE
        self.last_mean = float("nan")

    def method_for(self, mean: float) -> str:
        cfg = self.config
        if cfg.mode == "off" or mean >= cfg.dark_below:
            return NONE
        if cfg.mode == "auto":
            return GAMMA if mean < cfg.gamma_below else CLAHE
        return cfg.mode

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The image to detect on: the input itself when it is bright enough or the mode is off."""
        if self.config.mode == "off":
            return image
        mean = float(luminance(image).mean())
        self.last_mean, self.last_method = mean, self.method_for(mean)
        if self.last_method == GAMMA:
            return self._gamma(image, mean)
        if self.last_method == CLAHE:
            return self._clahe_luminance(image)
        return image

    def _gamma(self, image: np.ndarray, mean: float) -> np.ndarray:
        # out = 255 (in / 255) ^ g with g chosen so that the mean maps to target_mean
        level = max(mean, 1.0) / 255.0
        exponent = float(np.clip(np.log(self.config.target_mean / 255.0) / np.log(level), 0.2, 1.0))
        table = np.clip(255.0 * (np.arange(256) / 255.0) ** exponent + 0.5, 0, 255).astype(np.uint8)
        return cv2.LUT(image, table)

    def _clahe_luminance(self, image: np.ndarray) -> np.ndarray:
        if image.ndim == 2:
            return self._clahe.apply(np.ascontiguousarray(image))
        lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB)
        lab[..., 0] = self._clahe.apply(lab[..., 0])
        return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def benchmark(repeats: int = 50, size: Optional[tuple] = None) -> dict:
    """Milliseconds per frame of each method at the camera's default sizes (RGB 704x704 and 704x528, SLAM
    512x512 and 640x480)."""
    import time

    rng = np.random.default_rng(0)
    results = {}
    shapes = [size] if size else [(704, 704, 3), (528, 704, 3), (512, 512), (640, 480)]
    for shape in shapes:
        dim = (rng.random(shape) * 60).astype(np.uint8)  # mean ~30: dark
        for mode in ("off", "clahe", "gamma", "auto"):
            enhancer = LowLightEnhancer(LowLightConfig(mode=mode))
            enhancer(dim)
            start = time.perf_counter()
            for _ in range(repeats):
                enhancer(dim)
            results[(shape, mode)] = (time.perf_counter() - start) / repeats * 1000.0
    return results


if __name__ == "__main__":
    for (shape, mode), ms in benchmark().items():
        print(f"{'x'.join(str(v) for v in shape):>12} {mode:>6}: {ms:6.2f} ms")
