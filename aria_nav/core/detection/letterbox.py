"""Letterbox: fit an image into the model's input without distortion, and map boxes back exactly.

The image is scaled by one factor to fit the input, centred, and the rest is padded with grey (114, as YOLO
models are trained). Coordinates are continuous pixel-edge coordinates: a box covering the whole source image
is (0, 0, width, height). The resized image is rounded to whole pixels, so the true per-axis factors
(resized / source size) are kept and used for the inverse, which is therefore exact.

The input tensor (1, 3, H, W) in [0, 1] is written in place into a buffer reused from frame to frame; a grey
image is resized as one channel and written into the three planes, never expanded to RGB first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """Where a source image of `source_hw` lies inside an input of `input_hw`."""

    source_hw: Tuple[int, int]
    input_hw: Tuple[int, int]
    resized_hw: Tuple[int, int]
    offset_yx: Tuple[int, int]  # top and left padding

    @classmethod
    def fit(cls, source_hw: Tuple[int, int], input_hw: Tuple[int, int]) -> "Letterbox":
        src_h, src_w = int(source_hw[0]), int(source_hw[1])
        dst_h, dst_w = int(input_hw[0]), int(input_hw[1])
        if min(src_h, src_w, dst_h, dst_w) <= 0:
            raise ValueError(f"cannot letterbox a {src_w}x{src_h} image into {dst_w}x{dst_h}")
        scale = min(dst_h / src_h, dst_w / src_w)
        new_h = min(dst_h, max(1, round(src_h * scale)))
        new_w = min(dst_w, max(1, round(src_w * scale)))
        return cls((src_h, src_w), (dst_h, dst_w), (new_h, new_w), ((dst_h - new_h) // 2, (dst_w - new_w) // 2))

    @property
    def scale_xy(self) -> Tuple[float, float]:
        return self.resized_hw[1] / self.source_hw[1], self.resized_hw[0] / self.source_hw[0]

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy boxes from source-image to model-input coordinates."""
        sx, sy = self.scale_xy
        top, left = self.offset_yx
        return np.asarray(boxes, np.float32) * np.array([sx, sy, sx, sy], np.float32) + \
            np.array([left, top, left, top], np.float32)

    def to_source(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy boxes from model-input to source-image coordinates, clipped to the source image."""
        sx, sy = self.scale_xy
        top, left = self.offset_yx
        out = (np.asarray(boxes, np.float32) - np.array([left, top, left, top], np.float32)) / \
            np.array([sx, sy, sx, sy], np.float32)
        height, width = self.source_hw
        np.clip(out[:, 0::2], 0.0, width, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0.0, height, out=out[:, 1::2])
        return out


class LetterboxWriter:
    """What every letterbox into a reused (1, 3, H, W) input shares (LetterboxInput on the host, DeviceLetterbox
    on the model's device): the image check, and the padding filled only when the source size changes."""

    def __init__(self, input_hw: Tuple[int, int]):
        self.input_hw = (int(input_hw[0]), int(input_hw[1]))
        self._geometry: Optional[Letterbox] = None

    def _fill_padding(self) -> None:
        """Fill the whole input with the pad value (the image area is written over per frame)."""
        raise NotImplementedError

    def _fit(self, image: np.ndarray) -> Letterbox:
        """The geometry for an RGB (H, W, 3) or grey (H, W) uint8 image, the padding refilled when it changed."""
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise ValueError(f"expected an RGB (H, W, 3) or grey (H, W) uint8 image, got {image.dtype}"
                             f"{list(image.shape)}")
        geometry = Letterbox.fit(image.shape[:2], self.input_hw)
        if geometry != self._geometry:
            self._fill_padding()
            self._geometry = geometry
        return geometry


class LetterboxInput(LetterboxWriter):
    """Writes letterboxed images into one reusable input tensor of shape (1, 3, H, W) and `dtype`.

    Not thread-safe: one per worker. The returned tensor is overwritten by the next call.
    """

    def __init__(self, input_hw: Tuple[int, int], dtype=np.float32):
        super().__init__(input_hw)
        self.tensor = np.empty((1, 3) + self.input_hw, np.dtype(dtype))
        self._scale = np.asarray(1.0 / 255.0, np.float32)

    def _fill_padding(self) -> None:
        self.tensor.fill(PAD_VALUE / 255.0)

    def __call__(self, image: np.ndarray) -> Tuple[np.ndarray, Letterbox]:
        """The tensor for an RGB (H, W, 3) or grey (H, W) uint8 image, and its letterbox geometry."""
        geometry = self._fit(image)
        new_h, new_w = geometry.resized_hw
        if (new_h, new_w) != image.shape[:2]:
            image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        top, left = geometry.offset_yx
        area = self.tensor[0, :, top:top + new_h, left:left + new_w]
        if image.ndim == 2:
            np.multiply(image, self._scale, out=area[0], casting="unsafe")
            area[1] = area[0]
            area[2] = area[0]
        else:
            np.multiply(image.transpose(2, 0, 1), self._scale, out=area, casting="unsafe")
        return self.tensor, geometry
