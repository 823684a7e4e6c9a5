"""The sample recording's scene script: what is where, when, and how the wearer moves.

Everything the recording shows follows from this file; the renderer, the ground truth and the IMU are computed
from it. World frame: X right, Y up, Z forward (the walking direction), metres, origin on the floor where the
wearer starts. The scene is a corridor 7 m wide and 3 m high, closed on all sides, so every pixel has a depth.

The story (6 s at 10 frames/s): the wearer walks forward at 1 m/s with a 2 Hz step rhythm, slows down from 2.5 s
and stands still from 3.0 s. A person walks towards them straight ahead and stops about 1.2 m in front; a chair
stands on the left of the path; a bicycle comes towards them on the right and passes by (first seen by the RGB
camera, then by the right SLAM camera); a dog walks beside them on the left, seen only by the left SLAM camera.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

from aria_nav.core.sample.geometry import (Box, Cylinder, Ellipsoid, Ring, Wall, grain, solid, spots, stripes,
                                           tiles)

FRAME_RATE_HZ = 10.0
FRAME_COUNT = 60
IMU_RATE_HZ = 200.0
DEVICE_START_NS = 20_000_000_000  # device clock (time since the glasses booted) of the first frame
IMU_ACCEL_NOISE = 0.04  # m/s^2, standard deviation of white noise
IMU_GYRO_NOISE = 0.003  # rad/s
NOISE_SEED = 2024
GRAVITY = 9.81


@dataclass(frozen=True)
class CameraSpec:
    """A linear pinhole camera mounted on the head: yaw to the right and pitch down relative to straight ahead,
    offset in the head frame (x forward, y left, z up)."""

    name: str
    width: int
    height: int
    focal: float
    yaw_right_deg: float
    pitch_down_deg: float
    offset: Tuple[float, float, float]
    colour: bool

    @property
    def cx(self) -> float:
        return (self.width - 1) / 2.0

    @property
    def cy(self) -> float:
        return (self.height - 1) / 2.0


# f = 610 px at 1408x1408 is close to Aria's RGB camera undistorted to a linear camera (98 deg field of view).
# The SLAM cameras look outward and a little down, like Aria's, with a 104 x 88 deg pinhole view each.
CAMERAS = (
    CameraSpec("rgb", 1408, 1408, 610.0, 0.0, 0.0, (0.0, 0.0, 0.0), colour=True),
    CameraSpec("slam_left", 640, 480, 250.0, -60.0, 10.0, (0.0, 0.07, 0.0), colour=False),
    CameraSpec("slam_right", 640, 480, 250.0, 60.0, 10.0, (0.0, -0.07, 0.0), colour=False),
)


@dataclass(frozen=True)
class WearerMotion:
    """Walks along +Z at `speed`, decelerates uniformly from `slow_down_s` to `stop_s`, then stands. While walking
    the head bobs up and down and nods at the step frequency (what the IMU's walking signature comes from)."""

    speed: float = 1.0
    slow_down_s: float = 2.5
    stop_s: float = 3.0
    eye_height: float = 1.6
    step_hz: float = 2.0
    bob_m: float = 0.02
    nod_deg: float = 1.0

    def _gait(self, t: float) -> float:
        """1 while walking, easing to 0 over the slow-down (cosine), 0 when standing."""
        if t <= self.slow_down_s:
            return 1.0
        if t >= self.stop_s:
            return 0.0
        return 0.5 * (1.0 + math.cos(math.pi * (t - self.slow_down_s) / (self.stop_s - self.slow_down_s)))

    def forward(self, t: float) -> float:
        """Distance walked (Z of the head) at time t."""
        if t <= self.slow_down_s:
            return self.speed * t
        braking = self.speed / (self.stop_s - self.slow_down_s)
        dt = min(t, self.stop_s) - self.slow_down_s
        return self.speed * self.slow_down_s + self.speed * dt - 0.5 * braking * dt * dt

    def head_position(self, t: float) -> Tuple[float, float, float]:
        bob = self.bob_m * self._gait(t) * math.sin(2 * math.pi * self.step_hz * t)
        return 0.0, self.eye_height + bob, self.forward(t)

    def head_pitch_down_deg(self, t: float) -> float:
        return self.nod_deg * self._gait(t) * math.sin(2 * math.pi * self.step_hz * t + math.pi / 3)

    def phases(self, duration_s: float):
        """(name, start_s, end_s) intervals: walking (including the slow-down), then standing."""
        return [("walking", 0.0, self.stop_s), ("standing", self.stop_s, duration_s)]


WEARER = WearerMotion()


@dataclass(frozen=True)
class Path:
    """Where an object's local origin (on the floor) is at time t: it starts at (x, z0) and moves along Z at
    `speed` m/s (negative: towards the wearer), stops when it reaches `z_stop`, leaves the scene past `z_gone`.
    With `beside_wearer` it keeps the distance z0 ahead of the wearer instead."""

    x: float
    z0: float
    speed: float = 0.0
    z_stop: Optional[float] = None
    z_gone: Optional[float] = None
    beside_wearer: bool = False

    def position(self, t: float) -> Optional[Tuple[float, float, float]]:
        if self.beside_wearer:
            return self.x, 0.0, WEARER.forward(t) + self.z0
        z = self.z0 + self.speed * t
        if self.z_stop is not None and (z - self.z_stop) * self.speed > 0:  # moved past its stop
            z = self.z_stop
        if self.z_gone is not None and (z - self.z_gone) * self.speed > 0:
            return None
        return self.x, 0.0, z


@dataclass(frozen=True)
class SceneObject:
    track_id: int
    class_id: int  # COCO id, as YOLO reports it
    class_name: str
    role: str  # what the object is for in the story (shown in events and docs)
    shapes: tuple
    path: Path


SKIN, HAIR = (224, 172, 138), (60, 40, 30)
PERSON = SceneObject(
    1, 0, "person", "person walking towards the wearer, straight ahead", (
        Cylinder(grain((52, 64, 96), 1, 0.09), (-0.1, 0.0), (0.08, 0.08), 0.0, 0.86),   # legs
        Cylinder(grain((52, 64, 96), 1, 0.09), (0.1, 0.0), (0.08, 0.08), 0.0, 0.86),
        Cylinder(stripes((200, 70, 50), (235, 200, 160), 1, 0.08), (0.0, 0.0), (0.21, 0.13), 0.86, 1.46),  # torso
        Cylinder(solid((200, 70, 50)), (-0.27, 0.0), (0.055, 0.06), 0.82, 1.44),  # arms
        Cylinder(solid((200, 70, 50)), (0.27, 0.0), (0.055, 0.06), 0.82, 1.44),
        Ellipsoid(solid(SKIN), (0.0, 1.50, 0.0), (0.05, 0.06, 0.05)),  # neck
        Ellipsoid(solid(SKIN), (0.0, 1.61, 0.0), (0.095, 0.12, 0.105)),  # head
        Ellipsoid(solid(HAIR), (0.0, 1.66, 0.015), (0.1, 0.085, 0.105)),
    ),
    Path(x=0.0, z0=6.1, speed=-0.45, z_stop=WEARER.forward(WEARER.stop_s) + 1.3))

WOOD = grain((150, 100, 55), 2, 0.05, depth=0.25)
CHAIR = SceneObject(
    2, 56, "chair", "chair standing on the left of the path", (
        Box(WOOD, (0.0, 0.45, 0.0), (0.23, 0.03, 0.23)),  # seat
        Box(WOOD, (0.0, 0.74, 0.21), (0.23, 0.26, 0.025)),  # back rest (far side)
        *(Box(WOOD, (sx * 0.2, 0.21, sz * 0.2), (0.022, 0.21, 0.022)) for sx in (-1, 1) for sz in (-1, 1)),
    ),
    Path(x=-1.5, z0=WEARER.forward(WEARER.stop_s) + 2.0))

FRAME_RED, TYRE = (190, 25, 30), (25, 25, 25)
BICYCLE = SceneObject(
    3, 1, "bicycle", "bicycle coming towards the wearer on the right and passing by", (
        Ring(solid(TYRE), (0.0, 0.34, 0.52), 0.27, 0.34),  # front wheel (towards the wearer)
        Ring(solid(TYRE), (0.0, 0.34, -0.52), 0.27, 0.34),
        Box(solid(FRAME_RED), (0.0, 0.74, 0.0), (0.022, 0.022, 0.34)),  # top tube
        Box(solid(FRAME_RED), (0.0, 0.56, 0.34), (0.022, 0.22, 0.022)),  # head tube and fork
        Box(solid(FRAME_RED), (0.0, 0.56, -0.2), (0.022, 0.2, 0.022)),  # seat tube
        Box(solid(FRAME_RED), (0.0, 0.34, -0.26), (0.022, 0.022, 0.26)),  # chain stay
        Box(solid((40, 40, 40)), (0.0, 0.80, -0.22), (0.07, 0.025, 0.13)),  # saddle
        Box(solid((150, 150, 160)), (0.0, 0.98, 0.4), (0.3, 0.018, 0.018)),  # handlebar
        Box(solid(FRAME_RED), (0.0, 0.86, 0.38), (0.02, 0.12, 0.02)),  # stem
    ),
    Path(x=2.0, z0=12.0, speed=-3.0, z_gone=-3.0))

DOG = SceneObject(
    4, 16, "dog", "dog walking beside the wearer on the left (only the left SLAM camera sees it)", (
        Ellipsoid(spots((170, 120, 70), (70, 45, 25), 0.12), (0.0, 0.45, 0.0), (0.14, 0.16, 0.36)),  # body
        Ellipsoid(solid((150, 100, 60)), (0.0, 0.62, 0.4), (0.09, 0.1, 0.13)),  # head
        *(Cylinder(solid((150, 100, 60)), (sx * 0.08, sz * 0.24), (0.04, 0.04), 0.0, 0.42)
          for sx in (-1, 1) for sz in (-1, 1)),
    ),
    Path(x=-1.6, z0=0.5, beside_wearer=True))

OBJECTS = (PERSON, CHAIR, BICYCLE, DOG)

ROOM = (
    Wall(tiles((185, 180, 170), (90, 90, 90), (0, 2), 0.6, 0.025), axis=1, value=0.0, inward=1.0),  # floor
    Wall(tiles((230, 230, 225), (200, 200, 195), (0, 2), 1.2, 0.03, variation=0.05), 1, 3.0, -1.0),  # ceiling
    Wall(grain((120, 150, 175), 2, 0.4, depth=0.12), 0, -3.5, 1.0),  # left wall
    Wall(grain((175, 160, 120), 2, 0.4, depth=0.12), 0, 3.5, -1.0),  # right wall
    Wall(stripes((140, 170, 140), (120, 150, 120), 0, 0.5), 2, 18.0, -1.0),  # far wall
    Wall(solid((160, 150, 150)), 2, -4.0, 1.0),  # wall behind the wearer
)
