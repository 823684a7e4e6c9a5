"""The detection-set message (PointCloud2 layout): round trip, and the checks that name what is wrong."""
import numpy as np
import pytest
from std_msgs.msg import Header

from aria_nav.core.detection.detections import MAX_DETECTIONS, Detections
from aria_nav.ros.detections import DetectionFormatError, detections_to_msg, msg_to_detections


def detections(boxes, scores=None, class_ids=None) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    count = len(boxes)
    return Detections(boxes, np.full(count, 0.5) if scores is None else scores,
                      np.zeros(count) if class_ids is None else class_ids)


def test_round_trip_keeps_every_value():
    sent = detections([[1.5, 2.0, 30.25, 40.0], [0, 0, 704, 704]], np.array([0.25, 1.0]), np.array([0, 79]))
    got = msg_to_detections(detections_to_msg(sent, Header(frame_id="aria_rgb_optical")))
    np.testing.assert_array_equal(got.boxes, sent.boxes)
    np.testing.assert_array_equal(got.scores, sent.scores)
    np.testing.assert_array_equal(got.class_ids, sent.class_ids)


@pytest.mark.parametrize("bad, named", [
    (detections([[0, 0, np.nan, 10]]), "not a number"),
    (detections([[0, 0, 2e6, 10]]), "not a number within"),
    (detections([[10, 0, 5, 10]]), "inverted box"),
    (detections([[0, 0, 5, 10]], scores=np.array([1.5])), "score outside"),
    (detections([[0, 0, 5, 10]], class_ids=np.array([-3])), "negative class id -3"),
    (detections(np.tile([0, 0, 5, 10], (MAX_DETECTIONS + 1, 1))), f"more than a detector publishes ({MAX_DETECTIONS})"),
])
def test_values_no_detector_produces_are_rejected_with_what_is_wrong(bad, named):
    with pytest.raises(DetectionFormatError, match=named.replace("(", r"\(").replace(")", r"\)")):
        msg_to_detections(detections_to_msg(bad, Header()))


def test_the_largest_set_a_detector_publishes_is_accepted():
    assert len(msg_to_detections(detections_to_msg(detections(np.tile([0, 0, 5, 10], (MAX_DETECTIONS, 1))),
                                                   Header()))) == MAX_DETECTIONS


def test_another_layout_is_named_field_by_field():
    msg = detections_to_msg(detections([[0, 0, 5, 10]]), Header())
    msg.fields = msg.fields[:3]
    with pytest.raises(DetectionFormatError, match=r"fields \[x1@0 float32, y1@4 float32, x2@8 float32\]"):
        msg_to_detections(msg)
