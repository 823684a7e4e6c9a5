"""Drawing detections on a frame, for the annotated debug image."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from aria_nav.core.detection.detections import Detections


def class_colour(class_id: int) -> tuple:
    """A stable, well-separated RGB colour per class (golden-angle hues)."""
    hue = int(class_id * 137.508) % 180
    rgb = cv2.cvtColor(np.array([[[hue, 220, 255]]], np.uint8), cv2.COLOR_HSV2RGB)[0, 0]
    return tuple(int(c) for c in rgb)


def draw_detections(image: np.ndarray, detections: Detections, names: Sequence[str]) -> np.ndarray:
    """A new RGB (H, W, 3) uint8 image: `image` (RGB or grey) with each box, class name and score."""
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else np.array(image, np.uint8)
    thickness = max(1, round(max(canvas.shape[:2]) / 500))
    font_scale = 0.4 * thickness
    for box, score, class_id in zip(detections.boxes, detections.scores, detections.class_ids):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        colour = class_colour(int(class_id))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness)
        name = names[class_id] if 0 <= class_id < len(names) else str(class_id)
        label = f"{name} {score:.2f}"
        (text_w, text_h), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = max(y1 - text_h - baseline, 0)
        cv2.rectangle(canvas, (x1, top), (x1 + text_w, top + text_h + baseline), colour, cv2.FILLED)
        cv2.putText(canvas, label, (x1, top + text_h), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness,
                    cv2.LINE_AA)
    return canvas
