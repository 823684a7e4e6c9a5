"""Shared by the fusion, policy and reliability tests: a synthetic scene (detections and depth of objects at given
bearings and distances). Node processes and the DDS test helpers are in ros_probe.py. (No tests here.)"""
import math

import numpy as np

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.detection.detections import Detections

INTR = PinholeIntrinsics(width=640, height=480, fx=300.0, fy=300.0, cx=319.5, cy=239.5)
NAMES = ["person", "chair", "car", "bottle", "potted plant"]
PERSON, CHAIR, CAR, BOTTLE, PLANT = range(5)
BACKGROUND_M = 12.0


def render(objects):
    """Detections and a depth image for objects given as (class_id, bearing_deg, distance_m)."""
    depth = np.full((INTR.height, INTR.width), BACKGROUND_M, np.float32)
    boxes, classes = [], []
    for class_id, bearing, distance in objects:
        u = INTR.cx + INTR.fx * math.tan(math.radians(bearing))
        half_w, half_h = 40.0, 100.0
        box = [u - half_w, INTR.cy - half_h, u + half_w, INTR.cy + half_h]
        r1, r2 = int(box[1]) + 10, int(box[3]) - 10
        c1, c2 = max(0, int(box[0]) + 10), min(INTR.width, int(box[2]) - 10)
        # A surface `distance` away along the floor in every column (a level camera): z = range x cos(bearing).
        columns = np.arange(c1, c2, dtype=np.float32)
        z = distance * np.cos(np.arctan2(columns - INTR.cx, INTR.fx))
        depth[r1:r2, c1:c2] = np.minimum(depth[r1:r2, c1:c2], z[None, :])
        boxes.append(box)
        classes.append(class_id)
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9), classes), depth
