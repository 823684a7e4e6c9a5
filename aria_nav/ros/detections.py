"""Detections as sensor_msgs/PointCloud2: one point per detection with named fields, readable by any ROS tool.

Fields (little endian, point_step 24): x1, y1, x2, y2 (float32, pixels of the source image, xyxy),
score (float32, 0..1), class_id (int32, index into the class names published beside the topic).
The header is the source image's header (stamp and frame id).
"""
from __future__ import annotations

import json
from typing import List

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header, String

from aria_nav.core.detection.detections import MAX_DETECTIONS, Detections

DETECTION_DTYPE = np.dtype([("x1", "<f4"), ("y1", "<f4"), ("x2", "<f4"), ("y2", "<f4"),
                            ("score", "<f4"), ("class_id", "<i4")])
_FIELDS = [PointField(name=name, offset=DETECTION_DTYPE.fields[name][1], count=1,
                      datatype=PointField.INT32 if name == "class_id" else PointField.FLOAT32)
           for name in DETECTION_DTYPE.names]
# No camera image is a million pixels wide; larger values are corrupt and would overflow float32 arithmetic.
MAX_COORDINATE_PX = 1e6


class DetectionFormatError(ValueError):
    """A PointCloud2 that is not a detection set of the layout above."""


def msg_to_class_names(msg: String) -> List[str]:
    """The class names latched beside a detections topic (a JSON list); DetectionFormatError otherwise."""
    try:
        names = json.loads(msg.data)
    except ValueError as exc:
        raise DetectionFormatError(f"class names are not JSON: {exc}") from None
    if not isinstance(names, list):
        raise DetectionFormatError("class names are not a JSON list of names")
    return [str(n) for n in names]


def detections_to_msg(detections: Detections, header: Header) -> PointCloud2:
    records = np.empty(len(detections), DETECTION_DTYPE)
    for i, name in enumerate(("x1", "y1", "x2", "y2")):
        records[name] = detections.boxes[:, i]
    records["score"] = detections.scores
    records["class_id"] = detections.class_ids
    return PointCloud2(header=header, height=1, width=len(records), fields=_FIELDS, is_bigendian=False,
                       point_step=DETECTION_DTYPE.itemsize, row_step=DETECTION_DTYPE.itemsize * len(records),
                       data=records.tobytes(), is_dense=True)


_TYPE_NAMES = {PointField.INT8: "int8", PointField.UINT8: "uint8", PointField.INT16: "int16",
               PointField.UINT16: "uint16", PointField.INT32: "int32", PointField.UINT32: "uint32",
               PointField.FLOAT32: "float32", PointField.FLOAT64: "float64"}


def _layout(fields) -> list:
    return [(f.name, f.offset, f.datatype, f.count) for f in fields]


def _describe(fields, point_step: int, big_endian: bool) -> str:
    described = ", ".join(f"{f.name}@{f.offset} {_TYPE_NAMES.get(f.datatype, f.datatype)}"
                          + (f"x{f.count}" if f.count != 1 else "") for f in fields)
    return f"[{described}], point_step {point_step}{', big endian' if big_endian else ''}"


def msg_to_detections(msg: PointCloud2) -> Detections:
    """The detection set of `msg`; DetectionFormatError names what is wrong with a message of another layout, a
    size that does not match its data, or values no detector produces: more than MAX_DETECTIONS, coordinates that
    are not finite or beyond MAX_COORDINATE_PX, inverted boxes, scores outside [0, 1], negative class ids. Boxes are
    not checked against an image size (the message does not carry one): consumers clip them. Class ids are checked
    by consumers against the class names."""
    if _layout(msg.fields) != _layout(_FIELDS) or msg.point_step != DETECTION_DTYPE.itemsize or msg.is_bigendian:
        found = _describe(msg.fields, msg.point_step, msg.is_bigendian)
        raise DetectionFormatError(f"not a detection set: fields {found} "
                                   f"(expected {_describe(_FIELDS, DETECTION_DTYPE.itemsize, False)})")
    count = int(msg.width) * int(msg.height)
    if count > MAX_DETECTIONS:
        raise DetectionFormatError(f"{count} detections: more than a detector publishes ({MAX_DETECTIONS})")
    data = np.frombuffer(msg.data, np.uint8)
    if data.size != count * DETECTION_DTYPE.itemsize:
        raise DetectionFormatError(f"data has {data.size} bytes for {count} detections")
    records = data.view(DETECTION_DTYPE)
    boxes = np.stack([records[n] for n in ("x1", "y1", "x2", "y2")], axis=1) if count else np.zeros((0, 4))
    if not (np.abs(boxes) <= MAX_COORDINATE_PX).all():  # also false for NaN
        raise DetectionFormatError(f"a box coordinate is not a number within ±{MAX_COORDINATE_PX:g} pixels")
    if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        raise DetectionFormatError("an inverted box (x2 < x1 or y2 < y1)")
    if not ((records["score"] >= 0.0) & (records["score"] <= 1.0)).all():
        raise DetectionFormatError("a score outside [0, 1]")
    if (records["class_id"] < 0).any():
        raise DetectionFormatError(f"negative class id {int(records['class_id'].min())}")
    return Detections(boxes, records["score"].copy(), records["class_id"].copy())
