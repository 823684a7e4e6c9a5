"""Detections as sensor_msgs/PointCloud2: one point per detection with named fields, readable by any ROS tool.

Fields (little endian, point_step 24): x1, y1, x2, y2 (float32, pixels of the source image, xyxy),
score (float32, 0..1), class_id (int32, index into the class names published beside the topic).
The header is the source image's header (stamp and frame id).
"""
from __future__ import annotations

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from aria_nav.core.detections import Detections

DETECTION_DTYPE = np.dtype([("x1", "<f4"), ("y1", "<f4"), ("x2", "<f4"), ("y2", "<f4"),
                            ("score", "<f4"), ("class_id", "<i4")])
_FIELDS = [PointField(name=name, offset=DETECTION_DTYPE.fields[name][1], count=1,
                      datatype=PointField.INT32 if name == "class_id" else PointField.FLOAT32)
           for name in DETECTION_DTYPE.names]


class DetectionFormatError(ValueError):
    """A PointCloud2 that is not a detection set of the layout above."""


def detections_to_msg(detections: Detections, header: Header) -> PointCloud2:
    records = np.empty(len(detections), DETECTION_DTYPE)
    for i, name in enumerate(("x1", "y1", "x2", "y2")):
        records[name] = detections.boxes[:, i]
    records["score"] = detections.scores
    records["class_id"] = detections.class_ids
    return PointCloud2(header=header, height=1, width=len(records), fields=_FIELDS, is_bigendian=False,
                       point_step=DETECTION_DTYPE.itemsize, row_step=DETECTION_DTYPE.itemsize * len(records),
                       data=records.tobytes(), is_dense=True)


def msg_to_detections(msg: PointCloud2) -> Detections:
    names = [f.name for f in msg.fields]
    if names != list(DETECTION_DTYPE.names) or msg.point_step != DETECTION_DTYPE.itemsize:
        raise DetectionFormatError(f"not a detection set: fields {names}, point_step {msg.point_step}")
    count = int(msg.width) * int(msg.height)
    data = np.frombuffer(msg.data, np.uint8)
    if data.size != count * DETECTION_DTYPE.itemsize:
        raise DetectionFormatError(f"data has {data.size} bytes for {count} detections")
    records = data.view(DETECTION_DTYPE)
    boxes = np.stack([records[n] for n in ("x1", "y1", "x2", "y2")], axis=1) if count else np.zeros((0, 4))
    return Detections(boxes, records["score"].copy(), records["class_id"].copy())
