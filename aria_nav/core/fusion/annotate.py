"""The RGB image with the fused obstacles drawn on it: box coloured by urgency, class, distance and priority."""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from aria_nav.core.fusion.obstacle import Obstacle

URGENCY_COLOURS_RGB = {"info": (60, 200, 60), "warning": (255, 190, 0), "critical": (255, 30, 30)}


def annotate(rgb: np.ndarray, obstacles: Sequence[Obstacle], centre_zone: float) -> np.ndarray:
    """A copy of `rgb` (H, W, 3 uint8) with the obstacles and the limits of the "ahead" zone drawn."""
    out = np.array(rgb, dtype=np.uint8, copy=True, order="C")
    height, width = out.shape[:2]
    thickness = max(1, round(width / 400))
    scale = max(0.4, width / 1400)
    for x in (width / 2.0 - centre_zone * width, width / 2.0 + centre_zone * width):
        cv2.line(out, (int(x), 0), (int(x), height - 1), (200, 200, 200), 1)
    for o in obstacles:
        colour = URGENCY_COLOURS_RGB[o.urgency]
        x1, y1, x2, y2 = (int(round(float(c))) for c in o.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        distance = f"{o.distance_m:.1f} m" if math.isfinite(o.distance_m) else "? m"
        label = f"#{o.track_id} {o.class_name} {distance} p{o.priority:.1f}"
        (text_w, text_h), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        top = max(0, y1 - text_h - baseline - 2)
        cv2.rectangle(out, (x1, top), (x1 + text_w + 2, top + text_h + baseline + 2), colour, cv2.FILLED)
        cv2.putText(out, label, (x1 + 1, top + text_h + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness,
                    cv2.LINE_AA)
    return out
