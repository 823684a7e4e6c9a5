"""Randomised malformed ROS messages for the fuzz tests (no tests here).

Each generator takes a seeded numpy Generator and returns one message that a node might plausibly receive from a
buggy or hostile publisher: fields that disagree with each other (step, sizes and data length; point_step and
fields), unsupported or empty encodings, zero, tiny and huge dimensions, NaN/inf/huge numbers, class ids outside
any class list, stamps that are zero, far in the future or going backwards, JSON of every wrong shape. A fraction
is well-formed but extreme (1x1 or 1x3000 images, all-NaN depth) so the processing paths, not only the
validation, get exercised. Sizes are bounded so one message stays below a few megabytes.
"""
from __future__ import annotations

import json
import math
from typing import List

import numpy as np
from aria_nav_msgs.msg import Obstacle as ObstacleMsg
from aria_nav_msgs.msg import ObstacleArray
from aria_nav_msgs.msg import SpeechRequest as SpeechRequestMsg
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from sensor_msgs.msg import CameraInfo, Image, Imu
from std_msgs.msg import Header, String
from vision_msgs.msg import (Detection2D, Detection2DArray, LabelInfo, ObjectHypothesis, ObjectHypothesisWithPose,
                             VisionClass)

from aria_nav.ros.conversions import ENCODINGS

Rng = np.random.Generator
MAX_DATA_BYTES = 3_000_000
UINT32_MAX = 2 ** 32 - 1
INT32_MAX = 2 ** 31 - 1

ODD_ENCODINGS = ["", "rgba8", "yuv422", "bayer_rggb8", "8UC3", "32FC3", "RGB8", "mono8 ", "\u00fc\u00df", "x" * 300]
DIMENSIONS = [0, 1, 2, 3, 7, 31, 64, 480, 640, 3000, 65535, INT32_MAX, UINT32_MAX]
ODD_FLOATS = [math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 1e-30, 1e30, 1.7e308, -1.7e308, 5e-324]
ODD_CLASS_IDS = ["-1", "0", "1", "79", "80", "", "person", " 2", "1e3", "99999999999999999999", "\u00fc" * 300]
ODD_DEPTHS = np.array([math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 1e-30, 3.4e38, 1e-45, 1.0, 2.5, 40.0],
                      np.float32)


def _pick(rng: Rng, items):
    return items[int(rng.integers(len(items)))]


def odd_float(rng: Rng) -> float:
    return _pick(rng, ODD_FLOATS) if rng.random() < 0.6 else float(rng.normal(0.0, 1e3))


def odd_stamp(rng: Rng) -> Time:
    """Zero, the end of time, or a random stamp: stamps jump back and forth (a bag looping, clocks that reset)."""
    choice = int(rng.integers(4))
    if choice == 0:
        return Time(sec=0, nanosec=0)
    if choice == 1:
        return Time(sec=INT32_MAX, nanosec=999_999_999)
    return Time(sec=int(rng.integers(0, 2_000_000_000)), nanosec=int(rng.integers(0, 1_000_000_000)))


def odd_header(rng: Rng) -> Header:
    return Header(stamp=odd_stamp(rng), frame_id=_pick(rng, ["", "aria_rgb_optical", "\u2603" * 5, "a" * 500]))


def random_bytes(rng: Rng, size: int) -> bytes:
    return rng.integers(0, 256, size, dtype=np.uint8).tobytes()


def image(rng: Rng, encodings=tuple(ENCODINGS)) -> Image:
    """An Image whose encoding, dimensions, step and data length are each sometimes right, mostly not."""
    encoding = _pick(rng, list(encodings)) if rng.random() < 0.7 else _pick(rng, ODD_ENCODINGS)
    dtype, channels = ENCODINGS.get(encoding, (np.uint8, 1))
    pixel_bytes = np.dtype(dtype).itemsize * channels
    if rng.random() < 0.35:  # consistent and extreme: the message decodes, then processing meets it
        height, width = _pick(rng, [(1, 1), (1, 3000), (3000, 1), (2, 2), (7, 5), (33, 47), (480, 640)])
    else:
        height, width = int(_pick(rng, DIMENSIONS)), int(_pick(rng, DIMENSIONS))
    row = width * pixel_bytes
    step = _pick(rng, [row, row, row + 1, max(row - 1, 0), 0, int(rng.integers(0, 5000)), UINT32_MAX])
    step = min(int(step), UINT32_MAX)
    exact = step * height
    size = _pick(rng, [exact, exact, exact - 1, exact + 1, 0, int(rng.integers(0, 10_000))])
    size = size if 0 <= size <= MAX_DATA_BYTES else int(rng.integers(0, 10_000))
    if encoding == "32FC1" and size == exact and rng.random() < 0.5:
        values = rng.choice(ODD_DEPTHS, size // 4)
        data = values.tobytes() + b"\0" * (size % 4)
    else:
        data = random_bytes(rng, size)
    return Image(header=odd_header(rng), height=min(height, UINT32_MAX), width=min(width, UINT32_MAX),
                 encoding=encoding, is_bigendian=int(rng.integers(2)), step=step, data=data)


def depth_image(rng: Rng) -> Image:
    return image(rng, encodings=("32FC1",) * 4 + tuple(ENCODINGS))


def camera_info(rng: Rng) -> CameraInfo:
    msg = CameraInfo(header=odd_header(rng))
    msg.width, msg.height = int(_pick(rng, DIMENSIONS)), int(_pick(rng, DIMENSIONS))
    msg.distortion_model = _pick(rng, ["plumb_bob", "fisheye624", "equidistant", "", "rational_polynomial", "?"])
    msg.d = [odd_float(rng) for _ in range(int(_pick(rng, [0, 4, 5, 8, 14, 200])))]
    msg.k = [odd_float(rng) if rng.random() < 0.5 else float(rng.uniform(-1000, 1000)) for _ in range(9)]
    msg.r = [odd_float(rng) for _ in range(9)]
    msg.p = [odd_float(rng) for _ in range(12)]
    msg.binning_x, msg.binning_y = int(rng.integers(0, 5)), int(rng.integers(0, 5))
    return msg


def detections(rng: Rng) -> Detection2DArray:
    """A detection set (vision_msgs/Detection2DArray) with wrong values: non-finite or huge coordinates, sizes and
    rotations, scores outside [0, 1], class ids that are no index, no or many hypotheses; a third are well-formed but
    extreme (boxes far outside the image, degenerate, class ids beyond any class list)."""
    count = int(_pick(rng, [0, 1, 3, 50, 2000]))
    extreme = rng.random() < 0.35
    msg = Detection2DArray(header=odd_header(rng))
    for _ in range(count):
        detection = Detection2D(header=msg.header)
        box = detection.bbox
        if extreme:
            box.center.position.x, box.center.position.y = (float(v) for v in rng.uniform(-2000, 6000, 2))
            box.size_x, box.size_y = (float(v) for v in rng.uniform(0, 4000, 2) * (rng.random() < 0.8))
            hypotheses = [(str(_pick(rng, [0, 1, 2, 79, 80, 1000, INT32_MAX])), float(rng.uniform(0.0, 1.0)))]
        else:
            box.center.position.x, box.center.position.y, box.center.theta = (odd_float(rng) for _ in range(3))
            box.size_x, box.size_y = odd_float(rng), odd_float(rng)
            hypotheses = [(_pick(rng, ODD_CLASS_IDS), odd_float(rng)) for _ in range(int(_pick(rng, [0, 1, 1, 3])))]
        detection.results = [ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=c, score=s))
                             for c, s in hypotheses]
        msg.detections.append(detection)
    return msg


def obstacles(rng: Rng) -> ObstacleArray:
    """An obstacle set (aria_nav_msgs/ObstacleArray) whose codes may be out of range and whose numbers may be NaN,
    infinite or huge (float32), with odd class names."""
    msg = ObstacleArray(header=odd_header(rng))
    for i in range(int(_pick(rng, [0, 1, 3, 200]))):
        with np.errstate(over="ignore"):  # float64 extremes become float32 infinities: on purpose
            floats = {name: float(np.float32(odd_float(rng)) if rng.random() < 0.5 else rng.uniform(-10, 10))
                      for name in ("distance_m", "bearing_deg", "approach_mps", "priority", "score",
                                   "x1_px", "y1_px", "x2_px", "y2_px")}
        codes = {name: int(rng.integers(low, high)) for name, (low, high) in
                 {"band": (-3, 6), "direction": (-3, 3), "clock": (0, 20), "camera": (0, 5), "urgency": (0, 5),
                  "height_band": (-3, 5), "kind": (0, 8)}.items()}
        msg.obstacles.append(ObstacleMsg(
            id=int(rng.integers(-INT32_MAX, INT32_MAX)), class_id=int(rng.integers(-2, 100)),
            class_name=_pick(rng, ["person", "", "\u2603" * 3, "x" * 500]),
            position=Point(x=odd_float(rng), y=odd_float(rng), z=odd_float(rng)), **floats, **codes))
    return msg


def imu(rng: Rng) -> Imu:
    msg = Imu(header=odd_header(rng))
    for vector in (msg.linear_acceleration, msg.angular_velocity):
        vector.x, vector.y, vector.z = odd_float(rng), odd_float(rng), odd_float(rng)
    msg.orientation.w = odd_float(rng)
    return msg


JSON_VALUES: List[object] = [None, True, 0, -1, 1e308, -1e308, "", "x" * 10_000, "\u00e9\u4e2d\U0001f600", [],
                             [1, "a", None], {}, {"a": {"b": []}}, 3.5, 2 ** 70]


def _json_value(rng: Rng):
    return _pick(rng, JSON_VALUES) if rng.random() < 0.8 else odd_float(rng)


def _text(rng: Rng, value) -> String:
    # allow_nan: Python's json writes NaN/Infinity, which strict JSON readers reject: part of the fuzz.
    return String(data=json.dumps(value, allow_nan=True))


def speech_request(rng: Rng) -> SpeechRequestMsg:
    """A request (aria_nav_msgs/SpeechRequest) with two to four fields of a wrong value: unknown events, urgencies,
    directions or reasons, empty or huge strings, NaN or infinite numbers, clocks beyond 12, stamps out of range."""
    msg = SpeechRequestMsg(event="obstacle", urgency="warning", priority=3.0, key="rgb:1", stamp=Time(sec=1, nanosec=2),
                           class_name="chair", distance_m=2.0, distance_kind="metric", band="close", direction="left",
                           clock=10, bearing_deg=-40.0, camera="rgb")
    strings = ["degraded", "critical", "restored", "approaching", "clock", "up", "nowhere", "", "\u0000", "x" * 10_000]
    for _ in range(int(rng.integers(2, 5))):
        field = _pick(rng, ["event", "urgency", "key", "class_name", "distance_kind", "band", "direction", "camera",
                            "reason", "text", "priority", "distance_m", "bearing_deg", "clock", "stamp"])
        if field in ("priority", "distance_m", "bearing_deg"):
            setattr(msg, field, float(np.float32(_pick(rng, [math.nan, math.inf, -math.inf, -1.0, 0.0, 3e38]))))
        elif field == "clock":
            msg.clock = int(rng.integers(0, 256))
        elif field == "stamp":
            msg.stamp = Time(sec=int(rng.integers(-2 ** 31, 2 ** 31)), nanosec=int(rng.integers(0, UINT32_MAX)))
        else:
            setattr(msg, field, _pick(rng, strings))
    return msg


def class_names(rng: Rng) -> LabelInfo:
    """A class map with gaps, ids named twice, huge or odd names, or none; a non-finite threshold."""
    count = int(_pick(rng, [0, 1, 3, 80, 1000]))
    ids = _pick(rng, [list(range(count)), list(rng.integers(0, 65536, count)), [0] * count,
                      list(range(1, count + 1))])
    names = [_pick(rng, ["person", "", "\u2603", "x" * 1000]) for _ in range(count)]
    threshold = _pick(rng, [math.nan, math.inf, -1.0, 0.25, 2.0])
    return LabelInfo(header=odd_header(rng), threshold=threshold,
                     class_map=[VisionClass(class_id=int(i), class_name=n) for i, n in zip(ids, names)])


def depth_mode(rng: Rng) -> String:
    return _text(rng, _pick(rng, [_json_value(rng), {"mode": _json_value(rng)}, {"mode": "metric"},
                                  {"mode": "relative", "model": None}]))

