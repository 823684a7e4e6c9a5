"""Detection core without models: letterbox geometry and tensor, YOLO output decoding, NMS, class names."""
from __future__ import annotations

import numpy as np
import pytest

from aria_nav.core.detection.annotate import draw_detections
from aria_nav.core.detection.classes import (ALL_CLASSES, COCO_NAMES, NAVIGATION_CLASSES, ClassFilterError,
                                             class_names_for, names_from_metadata, resolve_classes)
from aria_nav.core.detection.letterbox import PAD_VALUE, Letterbox, LetterboxInput
from aria_nav.core.detection.postprocess import (OutputLayoutError, PostprocessConfig, check_output_layout,
                                                 decode, nms)
from aria_nav.core.detection.detections import Detections

PAD = PAD_VALUE / 255.0


# ---- letterbox -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source_hw, input_hw", [
    ((480, 640), (640, 640)),  # landscape: bars above and below
    ((640, 360), (640, 640)),  # portrait: bars left and right
    ((1408, 1408), (640, 640)),  # square, downscaled
    ((301, 899), (256, 256)),  # odd sizes: rounding of the resized size and an odd padding
    ((480, 640), (256, 320)),  # non-square input
])
def test_letterbox_maps_boxes_there_and_back_exactly(source_hw, input_hw):
    geometry = Letterbox.fit(source_hw, input_hw)
    height, width = source_hw
    rng = np.random.default_rng(1)
    corners = rng.uniform(0, 1, (50, 4)) * [width, height, width, height]
    boxes = np.concatenate([np.minimum(corners[:, :2], corners[:, 2:]), np.maximum(corners[:, :2], corners[:, 2:])],
                           axis=1)
    back = geometry.to_source(geometry.to_input(boxes))
    np.testing.assert_allclose(back, boxes, atol=1e-3)
    # The whole source image maps onto exactly the resized area inside the padding.
    whole = geometry.to_input(np.array([[0, 0, width, height]], np.float32))[0]
    top, left = geometry.offset_yx
    np.testing.assert_allclose(whole, [left, top, left + geometry.resized_hw[1], top + geometry.resized_hw[0]],
                               atol=1e-3)
    assert geometry.resized_hw[0] <= input_hw[0] and geometry.resized_hw[1] <= input_hw[1]
    assert geometry.resized_hw[0] == input_hw[0] or geometry.resized_hw[1] == input_hw[1]  # fits one side


@pytest.mark.parametrize("source_hw", [(480, 640), (640, 360)])
def test_letterbox_tensor_puts_image_content_where_the_mapping_says(source_hw):
    height, width = source_hw
    image = np.zeros((height, width, 3), np.uint8)
    box = np.array([[0.3 * width, 0.2 * height, 0.7 * width, 0.9 * height]])
    x1, y1, x2, y2 = box[0].round().astype(int)
    image[y1:y2, x1:x2] = (255, 128, 0)
    letterbox = LetterboxInput((320, 320))
    tensor, geometry = letterbox(image)
    assert tensor.shape == (1, 3, 320, 320) and tensor.dtype == np.float32
    # The bright rectangle, found in the tensor and mapped back, is where it was drawn (within a pixel).
    rows, cols = np.nonzero(tensor[0, 0] > 0.5)
    found = np.array([[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]], np.float32)
    scale = max(height, width) / 320
    np.testing.assert_allclose(geometry.to_source(found), box, atol=1.5 * scale)
    np.testing.assert_allclose(tensor[0, :, rows[0], cols[0]], [1.0, 128 / 255, 0.0], atol=2 / 255)
    # Padding is grey, the image area is not.
    top, left = geometry.offset_yx
    if top:
        assert np.all(tensor[0, :, :top] == np.float32(PAD))
    if left:
        assert np.all(tensor[0, :, :, :left] == np.float32(PAD))


def test_letterbox_grey_equals_rgb_with_three_equal_channels_and_views_work():
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, (480, 640), dtype=np.uint8)
    letterbox = LetterboxInput((256, 256))
    from_grey = letterbox(grey)[0].copy()
    from_rgb = letterbox(np.repeat(grey[..., None], 3, axis=2))[0].copy()
    np.testing.assert_array_equal(from_grey, from_rgb)
    assert np.array_equal(from_grey[0, 0], from_grey[0, 2])
    # A reversed-channel view (bgr8 message read as RGB) and a row-padded view are taken as they are.
    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    padded_rows = np.zeros((480, 700, 3), np.uint8)
    padded_rows[:, :640] = rgb
    np.testing.assert_array_equal(letterbox(padded_rows[:, :640])[0], letterbox(rgb)[0])
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    np.testing.assert_array_equal(letterbox(bgr[..., ::-1])[0], letterbox(rgb)[0])


def test_letterbox_reuses_its_tensor_refills_padding_on_size_change_and_supports_fp16():
    letterbox = LetterboxInput((64, 64), np.float16)
    wide, _ = letterbox(np.full((32, 64, 3), 255, np.uint8))
    assert wide.dtype == np.float16
    tall, geometry = letterbox(np.full((64, 32, 3), 255, np.uint8))
    assert tall is wide  # one buffer, written in place
    assert geometry.offset_yx == (0, 16)
    # The former image area above/below is padding again.
    assert np.all(tall[0, :, :, :16] == np.float16(PAD)) and np.all(tall[0, :, :, 16:48] == 1.0)
    with pytest.raises(ValueError, match="uint8"):
        letterbox(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="letterbox"):
        Letterbox.fit((0, 10), (64, 64))


# ---- decoding ---------------------------------------------------------------------------------------------------

def head_output(boxes_xywh, class_scores):
    """A (1, 4 + C, N) output from per-candidate xywh boxes and (N, C) class scores."""
    boxes_xywh = np.asarray(boxes_xywh, np.float32).reshape(-1, 4)
    class_scores = np.asarray(class_scores, np.float32).reshape(len(boxes_xywh), -1)
    return np.concatenate([boxes_xywh, class_scores], axis=1).T[None].copy()


IDENTITY = Letterbox.fit((640, 640), (640, 640))


def one_hot(num_classes, class_id, score):
    scores = np.zeros(num_classes, np.float32)
    scores[class_id] = score
    return scores


def test_decode_converts_boxes_and_maps_them_to_the_source_image():
    geometry = Letterbox.fit((480, 640), (640, 640))  # 80 px bars above and below
    output = head_output([[320, 320, 100, 50]], [one_hot(3, 2, 0.9)])
    result = decode(output, geometry, PostprocessConfig(conf_threshold=0.5))
    np.testing.assert_allclose(result.boxes, [[270, 215, 370, 265]], atol=1e-4)
    assert result.class_ids.tolist() == [2] and result.scores.tolist() == pytest.approx([0.9])
    assert result.boxes.dtype == np.float32 and result.class_ids.dtype == np.int32


def test_decode_empty_and_all_filtered_outputs():
    config = PostprocessConfig(conf_threshold=0.5)
    assert len(decode(np.zeros((1, 84, 0), np.float32), IDENTITY, config)) == 0
    below = head_output([[100, 100, 20, 20]] * 3, [one_hot(80, 0, 0.49)] * 3)
    assert len(decode(below, IDENTITY, config)) == 0
    filtered = head_output([[100, 100, 20, 20]], [one_hot(80, 5, 0.9)])
    empty = decode(filtered, IDENTITY, PostprocessConfig(conf_threshold=0.5, class_ids=np.array([0, 1])))
    assert isinstance(empty, Detections) and len(empty) == 0 and empty.boxes.shape == (0, 4)


def test_decode_keeps_the_best_class_and_drops_it_when_filtered_out():
    scores = np.zeros(80, np.float32)
    scores[[0, 33]] = [0.4, 0.8]  # best class 33 (kite), person second
    output = head_output([[100, 100, 20, 20]], [scores])
    assert decode(output, IDENTITY, PostprocessConfig(conf_threshold=0.3)).class_ids.tolist() == [33]
    # Filtering to persons drops the candidate instead of relabelling it as a 0.4 person.
    only_person = PostprocessConfig(conf_threshold=0.3, class_ids=np.array([0]))
    assert len(decode(output, IDENTITY, only_person)) == 0


def test_nms_is_class_aware_and_suppresses_strictly_above_the_threshold():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [5, 0, 15, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    classes = np.array([1, 1, 1, 2])
    # Box 1 duplicates box 0 (suppressed); box 2 overlaps box 0 by IoU 1/3; box 3 is another class.
    assert nms(boxes, scores, classes, 0.5, 100).tolist() == [0, 2, 3]
    assert nms(boxes, scores, classes, 1 / 3, 100).tolist() == [0, 2, 3]  # IoU == threshold: kept
    assert nms(boxes, scores, classes, 0.33, 100).tolist() == [0, 3]
    assert nms(boxes, scores, classes, 0.5, 2).tolist() == [0, 2]  # max_keep: the best ones


def test_nms_ties_keep_the_earlier_candidate():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.5, 0.5, 0.5], np.float32)
    assert nms(boxes, scores, np.zeros(3, int), 0.5, 100).tolist() == [0, 2]
    assert nms(boxes[[1, 0, 2]], scores, np.zeros(3, int), 0.5, 100).tolist() == [0, 2]
    # Through decode: equal scores come out in output order.
    output = head_output([[5, 5, 10, 10], [55, 55, 10, 10]], [one_hot(2, 0, 0.5), one_hot(2, 1, 0.5)])
    assert decode(output, IDENTITY, PostprocessConfig(conf_threshold=0.1)).class_ids.tolist() == [0, 1]


def test_decode_clips_to_the_image_drops_boxes_in_the_padding_and_caps_the_count():
    geometry = Letterbox.fit((480, 640), (640, 640))  # image rows 80..560 of the input
    output = head_output(
        [[620, 300, 80, 40],  # sticks out on the right
         [320, 40, 100, 60],  # entirely in the top padding
         [100, 540, 60, 80]],  # sticks out at the bottom
        [one_hot(3, 0, 0.9), one_hot(3, 1, 0.8), one_hot(3, 2, 0.7)])
    result = decode(output, geometry, PostprocessConfig(conf_threshold=0.1))
    assert result.class_ids.tolist() == [0, 2]
    np.testing.assert_allclose(result.boxes, [[580, 200, 640, 240], [70, 420, 130, 480]], atol=1e-4)
    many = head_output([[20 * i + 10, 300, 10, 10] for i in range(30)], [one_hot(1, 0, 0.5 + i / 100)
                                                                           for i in range(30)])
    capped = decode(many, IDENTITY, PostprocessConfig(conf_threshold=0.1, max_detections=5))
    assert capped.scores.tolist() == pytest.approx([0.79, 0.78, 0.77, 0.76, 0.75])


def test_output_layout_is_checked():
    assert check_output_layout(np.zeros((1, 84, 100))) == 80
    with pytest.raises(OutputLayoutError, match="4 \\+ classes"):
        check_output_layout(np.zeros((84, 8400)))
    with pytest.raises(OutputLayoutError, match="transposed"):
        check_output_layout(np.zeros((1, 8400, 84)))
    with pytest.raises(OutputLayoutError, match="end-to-end"):
        check_output_layout(np.zeros((1, 300, 6)))
    with pytest.raises(OutputLayoutError, match="80 classes but 3 class names"):
        check_output_layout(np.zeros((1, 84, 100)), 3)


# ---- class names ------------------------------------------------------------------------------------------------

def test_class_filter_by_name_and_unknown_names_are_errors():
    assert resolve_classes(["car", " person "], COCO_NAMES).tolist() == [0, 2]
    assert resolve_classes([ALL_CLASSES], COCO_NAMES) is None
    with pytest.raises(ClassFilterError, match="unknown class names 'persn', 'cars'.*person, bicycle"):
        resolve_classes(["persn", "car", "cars"], COCO_NAMES)
    with pytest.raises(ClassFilterError, match="no class names"):
        resolve_classes(["", " "], COCO_NAMES)
    assert set(NAVIGATION_CLASSES) <= set(COCO_NAMES)
    assert len(resolve_classes(NAVIGATION_CLASSES, COCO_NAMES)) == len(NAVIGATION_CLASSES)


def test_class_names_come_from_metadata_else_coco():
    assert names_from_metadata({"names": "{0: 'door', 1: 'stairs'}"}) == ["door", "stairs"]
    assert names_from_metadata({"names": "['door', 'stairs']"}) == ["door", "stairs"]
    assert names_from_metadata({"names": "{0: 'door', 2: 'gap'}"}) is None  # not 0..n-1
    assert names_from_metadata({"names": "not python"}) is None
    assert class_names_for({}, 80) == list(COCO_NAMES)
    assert class_names_for({}, 3) == ["class_0", "class_1", "class_2"]
    assert class_names_for({"names": "{0: 'door'}"}, 1) == ["door"]


def test_annotation_draws_boxes_on_rgb_and_grey_frames():
    detections = Detections([[10, 20, 60, 70]], [0.5], [1])
    grey = np.zeros((100, 120), np.uint8)
    drawn = draw_detections(grey, detections, ["person", "bicycle"])
    assert drawn.shape == (100, 120, 3) and drawn.dtype == np.uint8
    assert drawn[45, 10].any() and not drawn[45, 35].any()  # the box edge is drawn, its inside is not
    rgb = np.zeros((100, 120, 3), np.uint8)
    draw_detections(rgb, detections, ["person", "bicycle"])
    assert not rgb.any()  # the source frame is left untouched
