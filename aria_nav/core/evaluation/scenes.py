"""Scripted scenes for the guidance evaluation: objects with known positions around a wearer who stands or walks,
rendered into what the fusion stage receives (detections, a consistent metric depth image, head IMU samples),
with the ground truth of each frame (nearest-part distance, direction) beside it.

Geometry: the level frame, the optical frame of a level camera (x right, y down, z forward along the floor), camera
1.6 m above a flat floor; the camera itself is pitched down and rolled by the scene's head angles (0: level). An
object is an upright rectangle facing the wearer: lateral extent x1..x2 at floor distance z, from the floor up to
its height. Its detection box is the bounding box of its projection, a little looser than the object (a detector's
box is), clipped to the image; the depth image (z-depth along the optical axis) is ray-cast: the floor, a far wall
and the objects, with per-pixel noise. The truth is the horizontal range to the object's nearest part, whatever
the camera's tilt. Perturbations (per frame): a detection missing, a ghost detection, a box's depth replaced (a
depth glitch), holes (NaN).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.detection.detections import Detections
from aria_nav.core.fusion.geometry import direction_of_bearing
from aria_nav.core.fusion.motion import STANDARD_GRAVITY
from aria_nav.core.wearer_frame import DEVICE_FROM_OPTICAL

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
    pitch_down_deg: float = 0.0  # the head's, held while walking (the IMU says it)
    roll_right_deg: float = 0.0

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


def level_from_optical(pitch_down_deg: float, roll_right_deg: float) -> np.ndarray:
    """Rotation R with p_level = R @ p_optical, the level frame being the optical frame of a level camera (x right,
    y down, z forward along the floor): the head pitched down, then rolled right (right ear down)."""
    pitch, roll = math.radians(pitch_down_deg), math.radians(roll_right_deg)
    pitch_down = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(pitch), math.sin(pitch)],
                           [0.0, -math.sin(pitch), math.cos(pitch)]])
    roll_right = np.array([[math.cos(roll), -math.sin(roll), 0.0], [math.sin(roll), math.cos(roll), 0.0],
                           [0.0, 0.0, 1.0]])
    return pitch_down @ roll_right


@functools.lru_cache(maxsize=8)
def _rays(pitch_down_deg: float, roll_right_deg: float) -> np.ndarray:
    """(H, W, 3): each pixel's ray in the level frame, scaled to unit z-depth in the optical frame (a point at
    z-depth d is d * ray), pixel centres at integer coordinates as the fusion stage takes them."""
    u = (np.arange(INTRINSICS.width, dtype=np.float64) - INTRINSICS.cx) / INTRINSICS.fx
    v = (np.arange(INTRINSICS.height, dtype=np.float64) - INTRINSICS.cy) / INTRINSICS.fy
    optical = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.ones((1, 1))), axis=-1)
    rays = optical @ level_from_optical(pitch_down_deg, roll_right_deg).T
    rays.flags.writeable = False  # shared by every frame of the same head
    return rays


def _object_box(rotation: np.ndarray, x: float, z: float, width: float, height: float, margin: float
                ) -> Optional[np.ndarray]:
    """The bounding box (source pixels, unclipped) of the object's front face grown by `margin` of its size, None
    when part of it is behind the camera."""
    x1, x2 = x - width / 2 - margin * width, x + width / 2 + margin * width
    top, bottom = CAMERA_HEIGHT_M - height - margin * height, CAMERA_HEIGHT_M
    corners = np.array([[cx, cy, z] for cx in (x1, x2) for cy in (top, bottom)]) @ rotation  # optical frame
    if np.any(corners[:, 2] < 0.05):
        return None
    u = INTRINSICS.cx + INTRINSICS.fx * corners[:, 0] / corners[:, 2]
    v = INTRINSICS.cy + INTRINSICS.fy * corners[:, 1] / corners[:, 2]
    return np.array([u.min(), v.min(), u.max(), v.max()], np.float64)


@functools.lru_cache(maxsize=8)
def _background(pitch_down_deg: float, roll_right_deg: float) -> np.ndarray:
    """z-depth of the flat floor CAMERA_HEIGHT_M below the camera and of a wall WALL_M ahead, whichever is nearer."""
    rays = _rays(pitch_down_deg, roll_right_deg)
    with np.errstate(divide="ignore", invalid="ignore"):
        floor = np.where(rays[..., 1] > 1e-9, CAMERA_HEIGHT_M / rays[..., 1], np.inf)
        wall = np.where(rays[..., 2] > 1e-9, WALL_M / rays[..., 2], np.inf)
    background = np.minimum(floor, wall).astype(np.float32)
    background.flags.writeable = False
    return background


def _pixels(box: np.ndarray) -> Optional[Tuple[slice, slice]]:
    """The rows and columns of the image under a box (source pixels), None when the box misses the image."""
    c1, r1 = max(0, int(math.floor(box[0]))), max(0, int(math.floor(box[1])))
    c2, r2 = min(INTRINSICS.width, int(math.ceil(box[2]))), min(INTRINSICS.height, int(math.ceil(box[3])))
    return (slice(r1, r2), slice(c1, c2)) if c2 > c1 and r2 > r1 else None


def _region(depth: np.ndarray, box: np.ndarray) -> Optional[np.ndarray]:
    """The view of `depth` under a box, None when the box misses the image."""
    where = _pixels(box)
    return None if where is None else depth[where]


def _face(rays: np.ndarray, box: np.ndarray, x: float, z: float, width: float, height: float):
    """(rows and columns under `box`, z-depth of the object's front plane on each of their rays, where the ray hits
    the object, lateral position of that point in the level frame), or None when the box misses the image."""
    where = _pixels(box)
    if where is None:
        return None
    ray = rays[where]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(ray[..., 2] > 1e-9, z / ray[..., 2], np.inf)
    lateral, below = t * ray[..., 0], t * ray[..., 1]
    hit = ((lateral >= x - width / 2) & (lateral <= x + width / 2) & (below >= CAMERA_HEIGHT_M - height)
           & (below <= CAMERA_HEIGHT_M) & np.isfinite(t))
    return where, t.astype(np.float32), hit, lateral


def _clip(box: np.ndarray) -> Optional[np.ndarray]:
    clipped = np.array([max(0.0, box[0]), max(0.0, box[1]), min(INTRINSICS.width - 1.0, box[2]),
                        min(INTRINSICS.height - 1.0, box[3])])
    if clipped[2] - clipped[0] < 4 or clipped[3] - clipped[1] < 4:
        return None
    return clipped


def render(scene: Scene, index: int, time_s: float, perturbed: bool = True) -> Frame:
    rng = np.random.default_rng(scene.seed * 100_003 + index)  # the same noise with or without perturbations
    rotation = level_from_optical(scene.pitch_down_deg, scene.roll_right_deg)
    rays = _rays(scene.pitch_down_deg, scene.roll_right_deg)
    depth = _background(scene.pitch_down_deg, scene.roll_right_deg).copy()
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
    faces = []
    for obj, x, z, width, height in placed:
        shape = _object_box(rotation, x, z, width, height, 0.0)
        face = None if shape is None else _face(rays, shape, x, z, width, height)
        faces.append(face)
        if face is not None:
            where, t, hit, _ = face
            region = depth[where]
            region[hit] = np.minimum(region[hit], t[hit])
    boxes, classes, truth = [], [], []
    for (obj, x, z, width, height), face in zip(placed, faces):
        box = _object_box(rotation, x, z, width, height, BOX_MARGIN)
        missing = any(p.kind == "missing" and p.target == obj.name for p in perturbations)
        if face is None or box is None or missing or not face[2].any():
            continue
        where, t, hit, lateral = face
        visible = float(np.mean(depth[where][hit] == t[hit]))
        clipped = _clip(box)
        if clipped is None or visible < MIN_VISIBLE:
            continue
        # Where it is: the middle of the part in view (a car crossing the path from the left is "ahead" once it
        # reaches the middle of the view, though its centre is still on the left), as a horizontal angle.
        middle = (float(lateral[hit].min()) + float(lateral[hit].max())) / 2.0
        truth.append(Truth(obj.name, obj.class_name, nearest_range(x - width / 2, x + width / 2, z),
                           direction_of_bearing(math.degrees(math.atan2(middle, z)), AHEAD_HALF_ANGLE_DEG), box,
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
    """(N, 4) time, ax, ay, az of the head IMU in [start_s, end_s), in the device's axes (x forward, y left, z
    up, turned with the head: gravity says its pitch and roll): head bob at the step rate while walking, sensor
    noise always (deterministic per scene)."""
    times = np.arange(math.ceil(start_s * IMU_RATE_HZ), math.ceil(end_s * IMU_RATE_HZ)) / IMU_RATE_HZ
    rng = np.random.default_rng(scene.seed * 7919 + int(start_s * 1000))
    walking = np.array([scene.walking(t) for t in times], bool)
    vertical = STANDARD_GRAVITY + np.where(walking, 1.6 * np.sin(2 * math.pi * STEP_HZ * times), 0.0)
    sway = np.where(walking, 0.5 * np.sin(math.pi * STEP_HZ * times), 0.0)
    level = np.column_stack([np.zeros_like(times), -vertical, sway])  # specific force, level frame (y down)
    device = level @ level_from_optical(scene.pitch_down_deg, scene.roll_right_deg) @ DEVICE_FROM_OPTICAL.T
    return np.column_stack([times, device + rng.normal(0.0, 0.05, (times.size, 3))])


def static_while_walking(x: float, z0: float, walk_mps: float, start_s: float = 0.0):
    """A static object seen by a wearer who walks towards it at `walk_mps` from `start_s`."""
    return lambda t: (x, z0 - walk_mps * max(0.0, t - start_s))


def moving(x0: float, z0: float, vx: float, vz: float):
    """An object moving at (vx, vz) m/s in the camera frame (the wearer's walking included)."""
    return lambda t: (x0 + vx * t, z0 + vz * t)


def stands(x: float, z: float):
    """An object standing still at (x, z) in front of a wearer who stands too."""
    return lambda t: (x, z)
