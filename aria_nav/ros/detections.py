"""Detections as vision_msgs/Detection2DArray, the class names as vision_msgs/LabelInfo latched beside them.

Detection2DArray: the header is the source image's (stamp and frame id), and so is each detection's. Each detection
has one hypothesis: `class_id` the class index as a string ("0"), `score` 0..1; `bbox` centre and size in pixels
of the source image (theta 0); `id` empty (the detector does not track; fusion's obstacles carry track ids).
LabelInfo (`<detections topic>/class_names`, reliable, transient local): `class_map` maps every index 0..N-1 to its
name, `threshold` is the detector's score threshold.

Detections from another detector are read the same way: of several hypotheses the highest-scored is taken, and a
rotated box becomes the upright box that encloses it.
"""
from __future__ import annotations

import math
import re
from typing import List, Optional, Sequence

import numpy as np
from std_msgs.msg import Header
from vision_msgs.msg import (BoundingBox2D, Detection2D, Detection2DArray, LabelInfo, ObjectHypothesis,
                             ObjectHypothesisWithPose, VisionClass)

from aria_nav.core.detection.detections import MAX_DETECTIONS, Detections

# No camera image is a million pixels wide; larger values are corrupt and would overflow float32 arithmetic.
MAX_COORDINATE_PX = 1e6


class DetectionFormatError(ValueError):
    """A detection set or class list that no detector produces; the message says what is wrong."""


def class_names_to_msg(names: Sequence[str], threshold: float, header: Optional[Header] = None) -> LabelInfo:
    return LabelInfo(header=header or Header(), threshold=float(threshold),
                     class_map=[VisionClass(class_id=i, class_name=str(name)) for i, name in enumerate(names)])


def msg_to_class_names(msg: LabelInfo) -> List[str]:
    """The class names indexed by class id; DetectionFormatError unless the ids are exactly 0..N-1."""
    names = {}
    for entry in msg.class_map:
        if entry.class_id in names:
            raise DetectionFormatError(f"class id {entry.class_id} named twice in the class map")
        names[entry.class_id] = entry.class_name
    if sorted(names) != list(range(len(names))):
        missing = sorted(set(range(max(names, default=-1) + 1)) - set(names))
        raise DetectionFormatError(f"the class map has no name for class id {missing[0]} (ids must be 0..N-1)")
    return [names[i] for i in range(len(names))]


def detections_to_msg(detections: Detections, header: Header) -> Detection2DArray:
    out = Detection2DArray(header=header)
    boxes = detections.boxes.astype(np.float64)
    for (x1, y1, x2, y2), score, class_id in zip(boxes.tolist(), detections.scores.tolist(),
                                                 detections.class_ids.tolist()):
        detection = Detection2D(header=header)
        detection.bbox = BoundingBox2D(size_x=x2 - x1, size_y=y2 - y1)
        detection.bbox.center.position.x, detection.bbox.center.position.y = (x1 + x2) / 2.0, (y1 + y2) / 2.0
        detection.results = [ObjectHypothesisWithPose(
            hypothesis=ObjectHypothesis(class_id=str(class_id), score=float(score)))]
        out.detections.append(detection)
    return out


def _class_index(class_id: str) -> int:
    if not re.fullmatch(r"-?[0-9]{1,10}", class_id):
        raise DetectionFormatError(f"class id '{class_id[:40]}' is not a class index (an integer string)")
    index = int(class_id)
    if index < 0:
        raise DetectionFormatError(f"negative class id {index}")
    if index > np.iinfo(np.int32).max:
        raise DetectionFormatError(f"class id {index} beyond any detector's classes")
    return index


def _corners(box: BoundingBox2D):
    """x1, y1, x2, y2 of the upright box that encloses `box` (itself when theta is 0)."""
    cx, cy, theta = box.center.position.x, box.center.position.y, box.center.theta
    if not math.isfinite(theta):
        raise DetectionFormatError(f"a box rotated by {theta} radians")
    half_w, half_h = box.size_x / 2.0, box.size_y / 2.0
    if theta:
        c, s = abs(math.cos(theta)), abs(math.sin(theta))
        half_w, half_h = c * half_w + s * half_h, s * half_w + c * half_h
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def msg_to_detections(msg: Detection2DArray) -> Detections:
    """The detection set of `msg`; DetectionFormatError names values no detector produces: more than MAX_DETECTIONS,
    a detection without a hypothesis, coordinates or a rotation that are not finite (or beyond MAX_COORDINATE_PX),
    negative sizes, scores outside [0, 1], class ids that are not non-negative integers. Boxes are not checked
    against an image size (the message does not carry one): consumers clip them; class ids are checked by consumers
    against the class names."""
    count = len(msg.detections)
    if count > MAX_DETECTIONS:
        raise DetectionFormatError(f"{count} detections: more than a detector publishes ({MAX_DETECTIONS})")
    boxes, scores, class_ids = np.zeros((count, 4)), np.zeros(count), np.zeros(count, np.int64)
    for i, detection in enumerate(msg.detections):
        if not detection.results:
            raise DetectionFormatError("a detection without a class hypothesis (results is empty)")
        best = max(detection.results, key=lambda result: result.hypothesis.score).hypothesis
        box = detection.bbox
        if box.size_x < 0 or box.size_y < 0:
            raise DetectionFormatError(f"a box of negative size ({box.size_x:g} x {box.size_y:g} pixels)")
        boxes[i], scores[i], class_ids[i] = _corners(box), best.score, _class_index(best.class_id)
    if not (np.abs(boxes) <= MAX_COORDINATE_PX).all():  # also false for NaN
        raise DetectionFormatError(f"a box coordinate is not a number within ±{MAX_COORDINATE_PX:g} pixels")
    if not ((scores >= 0.0) & (scores <= 1.0)).all():
        raise DetectionFormatError("a score outside [0, 1]")
    return Detections(boxes, scores, class_ids)
