"""One frame's detections (ROS-free): the value passed from detection to fusion, ground truth and replay."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Most detections one frame may carry: the detector's largest `max_detections`; fusion rejects larger sets (its
# tracking is quadratic in their size).
MAX_DETECTIONS = 1000


@dataclass
class Detections:
    """Boxes in pixel coordinates of the source image, xyxy, with one score and class id each."""

    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2
    scores: np.ndarray  # (N,) float32
    class_ids: np.ndarray  # (N,) int32

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        self.class_ids = np.asarray(self.class_ids, np.int32).reshape(-1)
        if not (len(self.boxes) == len(self.scores) == len(self.class_ids)):
            raise ValueError(f"detections of unequal lengths: {len(self.boxes)} boxes, {len(self.scores)} scores, "
                             f"{len(self.class_ids)} class ids")

    def __len__(self) -> int:
        return len(self.boxes)
