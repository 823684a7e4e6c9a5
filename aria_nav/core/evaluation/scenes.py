"""Scripted scenes for the guidance evaluation: objects with known positions around a wearer who stands or walks,
rendered into what the fusion stage receives (detections, a consistent metric depth image, head IMU samples),
with the ground truth of each frame (nearest-part distance, direction) beside it.

Geometry: the RGB camera's optical frame (x right, y down, z forward), camera 1.6 m above a flat floor. An object
is an upright rectangle facing the camera: lateral extent x1..x2 at depth z, from the floor up to its height. Its
detection box is its projection, a little looser than the object (a detector's box is), clipped to the image; the
depth image holds the floor, a far wall and the objects drawn far to near, with per-pixel noise. Perturbations
(per frame): a detection missing, a ghost detection, a box's depth replaced (a depth glitch), holes (NaN).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.detections import Detections
from aria_nav.core.fusion.geometry import direction_of_bearing
from aria_nav.core.fusion.motion import STANDARD_GRAVITY

INTRINSICS = PinholeIntrinsics(width=640, height=480, fx=320.0, fy=320.0, cx=319.5, cy=239.5)
# "Ahead" within 30% of the width either side of the middle (fusion's default centre_zone), as a bearing.
AHEAD_HALF_ANGLE_DEG = INTRINSICS.bearing_deg(INTRINSICS.width * 0.8)
CLASS_NAMES = ["person", "bicycle", "car", "chair", "bench"]
CLASS_ID = {name: index for index, name in enumerate(CLASS_NAMES)}
CAMERA_HEIGHT_M = 1.6
WALL_M = 25.0
SIZES = {"person": (0.5, 1.75), "bicycle": (1.7, 1.1), "car": (4.2, 1.5), "chair": (0.5, 0.9), "bench": (1.6, 0.8)}
GHOST = "ghost"  # the name of a detection of nothing (a "ghost" perturbation)
MIN_DEPTH_M = 0.6
MIN_VISIBLE = 0.3  # a detector misses an object with less of it in view (hidden behind others)
BOX_MARGIN = 0.12  # a detector's box is this much (of the object's size) looser on each side
DEPTH_NOISE = 0.02  # relative, per pixel
IMU_RATE_HZ = 200.0
STEP_HZ = 1.9


@dataclass
class SceneObject:
    """`position(t)` gives the object's (lateral x, depth z) centre of its front face in the camera frame at time t
    (the wearer's own walking is part of it)."""

    name: str
    class_name: str
    position: Callable[[float], Tuple[float, float]]
    appears_s: float = -math.inf
    leaves_s: float = math.inf

    def size(self) -> Tuple[float, float]:
        return SIZES[self.class_name]


@dataclass
class Perturbation:
    """Frames (indices) where something goes wrong: `missing` detections of object `target`, a `ghost` person at
    ghost_at (x, z) that is not there, `glitch` (the target's box reads glitch_m), `holes` (a share of all depth
    pixels NaN), `box_nan` (the target's box all NaN)."""

    kind: str
    frames: Sequence[int]
    target: str = ""
    ghost_at: Tuple[float, float] = (0.0, 1.0)
    glitch_m: float = 1.0
    share: float = 0.3


@dataclass
class Scene:
    name: str
    description: str
    duration_s: float
    objects: List[SceneObject]
    walking: Callable[[float], bool]  # is the wearer walking at time t
    fps: float = 15.0
    perturbations: List[Perturbation] = field(default_factory=list)
    seed: int = 1

    def frame_times(self) -> np.ndarray:
        return np.arange(int(self.duration_s * self.fps)) / self.fps


@dataclass
class Truth:
    """One object in one frame, as it really is."""

    name: str
    class_name: str
    distance_m: float  # horizontal range to its nearest part
    direction: str
    box: np.ndarray  # the unclipped projection with its margin, source pixels (for matching obstacles)
    ghost: bool = False


@dataclass
class Frame:
    index: int
    time_s: float
    detections: Detections
    depth: np.ndarray
    truth: List[Truth]  # in the order of the detections


def nearest_range(x1: float, x2: float, z: float) -> float:
    nearest_x = 0.0 if x1 <= 0.0 <= x2 else min(abs(x1), abs(x2))
    return math.hypot(nearest_x, z)


def _project(x: float, y: float, z: float) -> Tuple[float, float]:
    return INTRINSICS.cx + INTRINSICS.fx * x / z, INTRINSICS.cy + INTRINSICS.fy * y / z


def _object_box(x: float, z: float, width: float, height: float, margin: float) -> np.ndarray:
    x1, x2 = x - width / 2 - margin * width, x + width / 2 + margin * width
    top, bottom = CAMERA_HEIGHT_M - height - margin * height, CAMERA_HEIGHT_M
    u1, v1 = _project(x1, top, z)
    u2, v2 = _project(x2, bottom, z)
    return np.array([u1, v1, u2, v2], np.float64)


def _background() -> np.ndarray:
    """Floor below the horizon, a far wall above it."""
    rows = np.arange(INTRINSICS.height, dtype=np.float64) + 0.5
    below = rows - INTRINSICS.cy
    floor = np.where(below > 0, CAMERA_HEIGHT_M * INTRINSICS.fy / np.maximum(below, 1e-6), np.inf)
    column = np.minimum(floor, WALL_M).astype(np.float32)
    return np.repeat(column[:, None], INTRINSICS.width, axis=1)


def _region(depth: np.ndarray, box: np.ndarray) -> Optional[np.ndarray]:
    """The view of `depth` under a box (source pixels), None when the box misses the image."""
    c1, r1 = max(0, int(math.floor(box[0]))), max(0, int(math.floor(box[1])))
    c2, r2 = min(INTRINSICS.width, int(math.ceil(box[2]))), min(INTRINSICS.height, int(math.ceil(box[3])))
    return depth[r1:r2, c1:c2] if c2 > c1 and r2 > r1 else None


def _clip(box: np.ndarray) -> Optional[np.ndarray]:
    clipped = np.array([max(0.0, box[0]), max(0.0, box[1]), min(INTRINSICS.width - 1.0, box[2]),
                        min(INTRINSICS.height - 1.0, box[3])])
    if clipped[2] - clipped[0] < 4 or clipped[3] - clipped[1] < 4:
        return None
    return clipped


def render(scene: Scene, index: int, time_s: float, perturbed: bool = True) -> Frame:
    rng = np.random.default_rng(scene.seed * 100_003 + index)  # the same noise with or without perturbations
    depth = _background()
    placed = []
    for obj in scene.objects:
        if not obj.appears_s <= time_s < obj.leaves_s:
            continue
        x, z = obj.position(time_s)
        if z <= MIN_DEPTH_M:  # passed beside the wearer
            continue
        width, height = obj.size()
        placed.append((obj, x, z, width, height))
    perturbations = [p for p in scene.perturbations if perturbed and index in p.frames]
    for p in perturbations:
        if p.kind == "ghost":
            x, z = p.ghost_at
            placed.append((SceneObject(GHOST, "person", lambda t, x=x, z=z: (x, z)), x, z, *SIZES["person"]))
    placed.sort(key=lambda item: -item[2])  # far to near
    for obj, x, z, width, height in placed:
        region = _region(depth, _object_box(x, z, width, height, 0.0))
        if region is not None:
            np.minimum(region, np.float32(z), out=region)
    boxes, classes, truth = [], [], []
    for obj, x, z, width, height in placed:
        shape = _object_box(x, z, width, height, 0.0)
        region = _region(depth, shape)
        visible = 0.0 if region is None else float(np.mean(region == np.float32(z)))
        box = _object_box(x, z, width, height, BOX_MARGIN)
        missing = any(p.kind == "missing" and p.target == obj.name for p in perturbations)
        clipped = _clip(box)
        if clipped is None or missing or visible < MIN_VISIBLE:
            continue
        # Where it is: the middle of the part in view (a car crossing the path from the left is "ahead" once it
        # reaches the middle of the view, though its centre is still on the left).
        in_view = (max(0.0, shape[0]) + min(INTRINSICS.width, shape[2])) / 2.0
        truth.append(Truth(obj.name, obj.class_name, nearest_range(x - width / 2, x + width / 2, z),
                           direction_of_bearing(INTRINSICS.bearing_deg(in_view), AHEAD_HALF_ANGLE_DEG), box,
                           ghost=obj.name == GHOST))
        boxes.append(clipped)
        classes.append(CLASS_ID[obj.class_name])
    depth *= (1.0 + rng.normal(0.0, DEPTH_NOISE, depth.shape)).astype(np.float32)
    for p in perturbations:
        target = next((t for t in truth if t.name == p.target), None)
        if p.kind in ("glitch", "box_nan") and target is not None:
            region = _region(depth, target.box)
            if region is not None:
                region[...] = p.glitch_m if p.kind == "glitch" else np.nan
        elif p.kind == "holes":
            depth[rng.random(depth.shape) < p.share] = np.nan
    detections = Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.85, np.float32),
                            np.array(classes, np.int32))
    return Frame(index, time_s, detections, depth, truth)


def imu_samples(scene: Scene, start_s: float, end_s: float) -> np.ndarray:
    """(N, 4) time, ax, ay, az of the head IMU in [start_s, end_s): head bob at the step rate while walking,
    sensor noise always (deterministic per scene)."""
    times = np.arange(math.ceil(start_s * IMU_RATE_HZ), math.ceil(end_s * IMU_RATE_HZ)) / IMU_RATE_HZ
    rng = np.random.default_rng(scene.seed * 7919 + int(start_s * 1000))
    walking = np.array([scene.walking(t) for t in times], bool)
    vertical = STANDARD_GRAVITY + np.where(walking, 1.6 * np.sin(2 * math.pi * STEP_HZ * times), 0.0)
    sway = np.where(walking, 0.5 * np.sin(math.pi * STEP_HZ * times), 0.0)
    noise = rng.normal(0.0, 0.05, (times.size, 3))
    return np.column_stack([times, sway + noise[:, 0], noise[:, 1], vertical + noise[:, 2]])


def static_while_walking(x: float, z0: float, walk_mps: float, start_s: float = 0.0):
    """A static object seen by a wearer who walks towards it at `walk_mps` from `start_s`."""
    return lambda t: (x, z0 - walk_mps * max(0.0, t - start_s))


def moving(x0: float, z0: float, vx: float, vz: float):
    """An object moving at (vx, vz) m/s in the camera frame (the wearer's walking included)."""
    return lambda t: (x0 + vx * t, z0 + vz * t)


def stands(x: float, z: float):
    """An object standing still at (x, z) in front of a wearer who stands too."""
    return lambda t: (x, z)
