"""The detection-set message (vision_msgs/Detection2DArray) and the class list (vision_msgs/LabelInfo): round trip,
other detectors' conventions, and the checks that name what is wrong."""
import math

import numpy as np
import pytest
from std_msgs.msg import Header
from vision_msgs.msg import ObjectHypothesis, ObjectHypothesisWithPose, VisionClass

from aria_nav.core.detection.detections import MAX_DETECTIONS, Detections
from aria_nav.ros.detections import (DetectionFormatError, class_names_to_msg, detections_to_msg,
                                     msg_to_class_names, msg_to_detections)


def detections(boxes, scores=None, class_ids=None) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    count = len(boxes)
    return Detections(boxes, np.full(count, 0.5) if scores is None else scores,
                      np.zeros(count) if class_ids is None else class_ids)


def test_round_trip_keeps_every_value():
    sent = detections([[1.5, 2.0, 30.25, 40.0], [0, 0, 704, 704]], np.array([0.25, 1.0]), np.array([0, 79]))
    header = Header(frame_id="aria_rgb_optical")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = detections_to_msg(sent, header)
    assert msg.header == header and all(d.header == header for d in msg.detections)
    first = msg.detections[0]
    assert first.results[0].hypothesis.class_id == "0" and msg.detections[1].results[0].hypothesis.class_id == "79"
    assert (first.bbox.center.position.x, first.bbox.center.position.y) == (15.875, 21.0)
    assert (first.bbox.size_x, first.bbox.size_y, first.bbox.center.theta) == (28.75, 38.0, 0.0)
    got = msg_to_detections(msg)
    np.testing.assert_array_equal(got.boxes, sent.boxes)
    np.testing.assert_array_equal(got.scores, sent.scores)
    np.testing.assert_array_equal(got.class_ids, sent.class_ids)


def test_another_detectors_hypotheses_and_rotated_boxes():
    msg = detections_to_msg(detections([[10, 20, 30, 60]]), Header())
    detection = msg.detections[0]
    detection.results = [ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=c, score=s))
                         for c, s in (("2", 0.3), ("5", 0.9), ("7", 0.6))]
    detection.bbox.center.theta = math.pi / 2  # a quarter turn: width and height swap
    got = msg_to_detections(msg)
    assert got.class_ids.tolist() == [5] and got.scores.tolist() == [pytest.approx(0.9)]
    np.testing.assert_allclose(got.boxes, [[0, 30, 40, 50]], atol=1e-5)


def _with(change):
    msg = detections_to_msg(detections([[0, 0, 5, 10]]), Header())
    change(msg.detections[0])
    return msg


@pytest.mark.parametrize("bad, named", [
    (detections_to_msg(detections([[0, 0, np.nan, 10]]), Header()), "not a number"),
    (detections_to_msg(detections([[0, 0, 2e6, 10]]), Header()), "not a number within"),
    (_with(lambda d: setattr(d.bbox, "size_x", -5.0)), "negative size"),
    (detections_to_msg(detections([[0, 0, 5, 10]], scores=np.array([1.5])), Header()), "score outside"),
    (detections_to_msg(detections([[0, 0, 5, 10]], class_ids=np.array([-3])), Header()), "negative class id -3"),
    (_with(lambda d: setattr(d.results[0].hypothesis, "class_id", "person")), "'person' is not a class index"),
    (_with(lambda d: setattr(d, "results", [])), "without a class hypothesis"),
    (detections_to_msg(detections(np.tile([0, 0, 5, 10], (MAX_DETECTIONS + 1, 1))), Header()),
     f"more than a detector publishes ({MAX_DETECTIONS})"),
])
def test_values_no_detector_produces_are_rejected_with_what_is_wrong(bad, named):
    with pytest.raises(DetectionFormatError, match=named.replace("(", r"\(").replace(")", r"\)")):
        msg_to_detections(bad)


def test_the_largest_set_a_detector_publishes_is_accepted():
    assert len(msg_to_detections(detections_to_msg(detections(np.tile([0, 0, 5, 10], (MAX_DETECTIONS, 1))),
                                                   Header()))) == MAX_DETECTIONS


def test_class_names_round_trip_and_gaps_are_named():
    msg = class_names_to_msg(["person", "bicycle", "car"], 0.25)
    assert [(c.class_id, c.class_name) for c in msg.class_map] == [(0, "person"), (1, "bicycle"), (2, "car")]
    assert msg.threshold == pytest.approx(0.25)
    assert msg_to_class_names(msg) == ["person", "bicycle", "car"]
    msg.class_map = list(reversed(msg.class_map))  # any order
    assert msg_to_class_names(msg) == ["person", "bicycle", "car"]
    msg.class_map = [VisionClass(class_id=0, class_name="person"), VisionClass(class_id=2, class_name="car")]
    with pytest.raises(DetectionFormatError, match="no name for class id 1"):
        msg_to_class_names(msg)
    msg.class_map = [VisionClass(class_id=0, class_name="a"), VisionClass(class_id=0, class_name="b")]
    with pytest.raises(DetectionFormatError, match="class id 0 named twice"):
        msg_to_class_names(msg)
