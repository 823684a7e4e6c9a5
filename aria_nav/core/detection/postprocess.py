"""Post-processing of YOLO v8/11/12 detection heads (exported without NMS): output (1, 4 + C, N).

Each of the N columns is one candidate: box centre x, y, width, height in model-input pixels, then C class
scores (already sigmoid-activated). A candidate's class is its best-scoring class; it is kept when that score is
at least the confidence threshold and the class is in the class filter (a candidate whose best class is filtered
out is dropped, not re-labelled with its best allowed class). Then class-aware non-maximum suppression, the
`max_detections` best, mapping back to the source image with clipping, and boxes left with no area (they lay in
the padding) are dropped.

NMS is greedy, in order of decreasing score. Ties are broken by candidate index (the model's output order): of
two equal-score boxes the one earlier in the output is kept. A box is suppressed only when its IoU with a kept
box of the same class is strictly greater than the IoU threshold; at exactly the threshold both stay.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from aria_nav.core.boxes import iou_matrix
from aria_nav.core.detection.letterbox import Letterbox
from aria_nav.core.detection.detections import Detections

# Candidates beyond this many (by score) are not considered by NMS: it bounds the work on a bad frame.
MAX_CANDIDATES = 10_000


class OutputLayoutError(ValueError):
    """A model output that is not a YOLO detection head's (1, 4 + C, N)."""


@dataclass(frozen=True)
class PostprocessConfig:
    conf_threshold: float = 0.25
    iou_threshold: float = 0.45
    class_ids: Optional[np.ndarray] = None  # allowed class ids; None keeps every class
    max_detections: int = 100


def check_output_layout(output: np.ndarray, num_names: Optional[int] = None) -> int:
    """The number of classes of a (1, 4 + C, N) output; an OutputLayoutError for anything else."""
    if output.ndim != 3 or output.shape[0] != 1 or output.shape[1] < 5:
        raise OutputLayoutError(
            f"model output of shape {list(output.shape)} is not a YOLO detection head's (1, 4 + classes, "
            f"candidates): v8/11/12 detection models exported without NMS are supported")
    if output.shape[1] > output.shape[2]:
        raise OutputLayoutError(
            f"model output of shape {list(output.shape)} has fewer candidates than channels: it looks like "
            f"(1, candidates, values), a transposed head or an end-to-end (NMS) head; export with nms=False")
    classes = output.shape[1] - 4
    if num_names is not None and classes != num_names:
        raise OutputLayoutError(f"model output has {classes} classes but {num_names} class names")
    return classes


def nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float,
        max_keep: int) -> np.ndarray:
    """Indices of the boxes class-aware greedy NMS keeps, best first (ties: lower index first)."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size and len(keep) < max_keep:
        best, rest = order[0], order[1:]
        keep.append(best)
        same_class = class_ids[rest] == class_ids[best]
        overlaps = np.zeros(rest.size, bool)
        if same_class.any():
            overlaps[same_class] = iou_matrix(boxes[best], boxes[rest[same_class]])[0] > iou_threshold
        order = rest[~overlaps]
    return np.asarray(keep, np.int64)


def decode(output: np.ndarray, geometry: Letterbox, config: PostprocessConfig) -> Detections:
    """Detections in source-image pixels from a (1, 4 + C, N) output (validated by check_output_layout)."""
    prediction = output[0].astype(np.float32, copy=False)  # fp16 models: compare and sort in float32
    class_scores = prediction[4:]
    best_scores = class_scores.max(axis=0)
    candidates = np.flatnonzero(best_scores >= config.conf_threshold)
    if candidates.size > MAX_CANDIDATES:
        top = np.argsort(-best_scores[candidates], kind="stable")[:MAX_CANDIDATES]
        candidates = np.sort(candidates[top])
    class_ids = class_scores[:, candidates].argmax(axis=0)
    if config.class_ids is not None:
        allowed = np.isin(class_ids, config.class_ids)
        candidates, class_ids = candidates[allowed], class_ids[allowed]
    if candidates.size == 0:
        return Detections.empty()
    scores = best_scores[candidates]
    xywh = prediction[:4, candidates].T
    half = xywh[:, 2:] / 2
    boxes = np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1)
    keep = nms(boxes, scores, class_ids, config.iou_threshold, config.max_detections)
    boxes = geometry.to_source(boxes[keep])
    visible = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return Detections(boxes[visible], scores[keep][visible], class_ids[keep][visible])
