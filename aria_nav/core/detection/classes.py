"""Class names: the COCO-80 list (what YOLO models trained on COCO output), the navigation-relevant subset kept by
default, and resolution of configured class names against a model's own names."""
from __future__ import annotations

import ast
from typing import Dict, List, Optional, Sequence

import numpy as np

COCO_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)

# What a person walking needs to hear about: people and vehicles on the way, traffic control, street furniture,
# animals met on pavements, things carried or left on the floor, and indoor furniture and fixtures one can walk
# into. Left out: food, tableware, small hand-held objects, sports gear and wild or farm animals, which are
# either too small to be obstacles or mostly false positives in a street or a home.
NAVIGATION_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "bus", "train", "truck",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench",
    "cat", "dog", "horse",
    "backpack", "umbrella", "handbag", "suitcase", "skateboard", "bottle",
    "chair", "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop",
    "microwave", "oven", "sink", "refrigerator",
)

# The `classes` value that keeps every class the model knows.
ALL_CLASSES = "all"


class ClassFilterError(ValueError):
    """A configured class name the model does not know."""


def names_from_metadata(metadata: Dict[str, str]) -> Optional[List[str]]:
    """Class names from a model's `names` metadata (ultralytics writes a dict literal {0: 'person', ...}).

    Returns None when the metadata has no usable names, so the caller falls back to COCO.
    """
    text = metadata.get("names")
    if not text:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, dict) and value and sorted(value) == list(range(len(value))):
        return [str(value[i]) for i in range(len(value))]
    if isinstance(value, (list, tuple)) and value:
        return [str(v) for v in value]
    return None


def class_names_for(metadata: Dict[str, str], num_classes: Optional[int] = None) -> List[str]:
    """The model's class names: its metadata's, else COCO's (80 classes), else numbered names."""
    names = names_from_metadata(metadata)
    if names is not None:
        return names
    if num_classes is None or num_classes == len(COCO_NAMES):
        return list(COCO_NAMES)
    return [f"class_{i}" for i in range(num_classes)]


def resolve_classes(requested: Sequence[str], names: Sequence[str]) -> Optional[np.ndarray]:
    """Class ids for the configured names; None keeps every class (the value ['all']).

    Names are matched exactly after trimming spaces; an unknown name is a ClassFilterError listing the model's
    names, so a typo never silently filters everything out.
    """
    wanted = [n.strip() for n in requested if n.strip()]
    if not wanted:
        raise ClassFilterError(f"no class names given: list names, or '{ALL_CLASSES}' to keep every class")
    if wanted == [ALL_CLASSES]:
        return None
    index = {name: i for i, name in enumerate(names)}
    unknown = [n for n in wanted if n not in index]
    if unknown:
        raise ClassFilterError(f"unknown class name{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(repr(n) for n in unknown)}; the model's classes are: "
                               f"{', '.join(names)}")
    return np.array(sorted({index[n] for n in wanted}), np.int64)
