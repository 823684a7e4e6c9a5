"""The second scripted scene: hazards without a class, with true metric depth and ground truth (ROS-free).

Episodes, each a straight walk along +Z (world: X right, Y up, Z forward, metres, floor at Y = 0) at 1.2 m/s
with the camera at a walking wearer's height (1.65 m) pitched 22 degrees down, nodding and bobbing at the step
rate (1.9 Hz) and swaying slightly (roll); the IMU samples (200 Hz) follow the same motion:
  - clear: 30 s along a flat corridor 3.2 m wide (its walls are outside the 0.8 m walking corridor): nothing to say;
  - wall, pole, head_height (a board hanging from 1.55 m to 1.9 m), step_down (a 15 cm kerb: the floor beyond is
    lower), steps_up (three 15 cm steps up, 30 cm deep, then a landing): the wearer starts 7 m before the hazard
    and walks 5 s, to 1 m before it;
  - named: a person-sized block in the way, also given as a detection box (the named obstacle and the corridor
    obstacle are one thing: one warning, "person").
Depth is ray-cast exactly (z-depth along the optical axis); `EpisodeFrame.truth_distance_m` is the true horizontal
distance from the camera to the hazard's nearest part (the kerb's and the steps' edge straight ahead).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.sample.geometry import Box, Shape, Wall, solid
from aria_nav.core.sample.render import HEAD_FROM_OPTICAL, tilted_head_rotation

FRAME_RATE_HZ = 10.0
IMU_RATE_HZ = 200.0
GRAVITY = 9.81
EYE_HEIGHT_M = 1.65
PITCH_DOWN_DEG = 22.0
SPEED_MPS = 1.2
STEP_HZ = 1.9
APPROACH_START_M = 7.0
APPROACH_S = 5.0
CLEAR_S = 30.0
# Aria's RGB camera as a linear pinhole (98 deg): f = 610 px at 1408 px, scaled to the rendered size.
FOCAL_AT_1408 = 610.0
_GREY = solid((128, 128, 128))


@dataclass(frozen=True)
class WalkingHead:
    pitch_down_deg: float = PITCH_DOWN_DEG
    nod_deg: float = 2.0
    sway_deg: float = 1.0
    bob_m: float = 0.02
    surge_m: float = 0.015
    eye_height_m: float = EYE_HEIGHT_M
    speed_mps: float = SPEED_MPS
    step_hz: float = STEP_HZ

    def pose(self, t: float, start_z: float = 0.0) -> Tuple[np.ndarray, np.ndarray]:
        """(world-from-head rotation, head position) at time t."""
        phase = 2 * math.pi * self.step_hz * t
        position = np.array([0.0, self.eye_height_m + self.bob_m * math.sin(phase),
                             start_z + self.speed_mps * t + self.surge_m * math.sin(phase + 0.7)])
        rotation = tilted_head_rotation(self.pitch_down_deg + self.nod_deg * math.sin(phase + 1.0),
                                        self.sway_deg * math.sin(phase / 2))
        return rotation, position

    def imu(self, t: float, start_z: float = 0.0) -> Tuple[np.ndarray, np.ndarray]:
        """(specific force, angular velocity) in the head's axes (x forward, y left, z up), noise-free."""
        h = 1e-3
        (r0, p0), (r1, p1), (r2, p2) = (self.pose(t + d, start_z) for d in (-h, 0.0, h))
        acceleration = (p2 - 2 * p1 + p0) / (h * h)
        skew = r1.T @ (r2 - r0) / (2 * h)
        return r1.T @ (acceleration + np.array([0.0, GRAVITY, 0.0])), np.array([skew[2, 1], skew[0, 2], skew[1, 0]])


def intrinsics_at(size: int) -> PinholeIntrinsics:
    focal = FOCAL_AT_1408 * size / 1408.0
    return PinholeIntrinsics(size, size, focal, focal, (size - 1) / 2.0, (size - 1) / 2.0)


def render_depth(intrinsics: PinholeIntrinsics, world_from_optical: np.ndarray, centre: np.ndarray,
                 shapes: Sequence[Shape]) -> np.ndarray:
    """Exact z-depth of the nearest hit over `shapes` (world coordinates), inf where nothing is hit."""
    v, u = np.mgrid[0:intrinsics.height, 0:intrinsics.width].astype(np.float32)
    rays = np.stack([(u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy, np.ones_like(u)],
                    axis=-1).reshape(-1, 3) @ world_from_optical.T.astype(np.float32)
    depth = np.full(rays.shape[0], np.inf, np.float32)
    origin = centre.astype(np.float32)
    for shape in shapes:
        np.minimum(depth, shape.intersect(origin, rays), out=depth)
    return depth.reshape(intrinsics.height, intrinsics.width)


def _box(x0, x1, y0, y1, z0, z1) -> Box:
    return Box(_GREY, ((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2), ((x1 - x0) / 2, (y1 - y0) / 2, (z1 - z0) / 2))


def _hall(floor: Sequence[Shape] = (Wall(_GREY, axis=1, value=0.0, inward=1.0),)) -> List[Shape]:
    """Side walls 1.6 m either side, a ceiling at 3 m and walls far ahead and behind, around `floor`."""
    return list(floor) + [Wall(_GREY, 0, -1.6, 1.0), Wall(_GREY, 0, 1.6, -1.0), Wall(_GREY, 1, 3.0, -1.0),
                          Wall(_GREY, 2, 200.0, -1.0), Wall(_GREY, 2, -50.0, 1.0)]


@dataclass(frozen=True)
class Episode:
    name: str
    kind: Optional[str]  # the hazard kind expected (corridor kinds); None: nothing to warn about
    shapes: Tuple[Shape, ...]
    duration_s: float
    nearest: Optional[Tuple[float, float]] = None  # (x, z) of the hazard's nearest part (the edge for steps)
    named_box: Optional[Tuple[float, float, float, float, float, float]] = None  # x0, x1, y0, y1, z0, z1
    named_class: str = ""


def episodes() -> List[Episode]:
    h = APPROACH_START_M  # every hazard's nearest part is this far ahead of the start
    lower = -0.15
    kerb_floor = (_box(-5, 5, -1.0, 0.0, -50, h), _box(-5, 5, -1.0, lower, h, 200))
    steps = tuple(_box(-5, 5, -1.0, 0.15 * (i + 1), h + 0.3 * i, 200) for i in range(3))
    person = (-0.25, 0.25, 0.0, 1.75, h, h + 0.3)
    return [
        Episode("clear", None, tuple(_hall()), CLEAR_S),
        Episode("wall", "obstacle", tuple(_hall() + [_box(-1.6, 1.6, 0.0, 3.0, h, h + 0.2)]), APPROACH_S, (0.0, h)),
        Episode("pole", "obstacle", tuple(_hall() + [_box(0.1, 0.2, 0.0, 2.5, h, h + 0.1)]), APPROACH_S, (0.1, h)),
        Episode("head_height", "head_height", tuple(_hall() + [_box(-0.6, 0.6, 1.55, 1.9, h, h + 0.05)]),
                APPROACH_S, (0.0, h)),
        Episode("step_down", "step_down", tuple(_hall(kerb_floor)), APPROACH_S, (0.0, h)),
        Episode("steps_up", "step_up", tuple(_hall((Wall(_GREY, 1, 0.0, 1.0),) + steps)), APPROACH_S, (0.0, h)),
        Episode("named", "obstacle", tuple(_hall() + [_box(*person)]), APPROACH_S, (0.0, h), person, "person"),
    ]


@dataclass
class EpisodeFrame:
    time_s: float
    stamp_ns: int
    depth: np.ndarray
    imu: List[Tuple[float, np.ndarray, np.ndarray]]  # (time_s, specific force, angular velocity) since last frame
    truth_distance_m: Optional[float]
    named_box: Optional[Tuple[float, float, float, float]]  # detection box (pixels) of the named object


def frames(episode: Episode, size: int, head: WalkingHead = WalkingHead(), start_ns: int = 0,
           from_s: float = 0.0, until_s: Optional[float] = None) -> Iterator[EpisodeFrame]:
    """The episode rendered at `size` x `size` pixels, FRAME_RATE_HZ, with the IMU samples between frames; only
    its part from `from_s` to `until_s` (default: its end) is rendered."""
    intrinsics = intrinsics_at(size)
    rng = np.random.default_rng(11)
    end_s = episode.duration_s if until_s is None else min(until_s, episode.duration_s)
    imu_per_frame = int(round(IMU_RATE_HZ / FRAME_RATE_HZ))
    for index in range(int(round(from_s * FRAME_RATE_HZ)), int(round(end_s * FRAME_RATE_HZ))):
        t = index / FRAME_RATE_HZ
        samples = []
        for k in range(imu_per_frame):
            ts = t - (imu_per_frame - 1 - k) / IMU_RATE_HZ
            force, rate = head.imu(ts)
            samples.append((ts, force + rng.normal(0, 0.04, 3), rate + rng.normal(0, 0.003, 3)))
        rotation, position = head.pose(t)
        world_from_optical = rotation @ HEAD_FROM_OPTICAL
        depth = render_depth(intrinsics, world_from_optical, position, episode.shapes)
        truth = None
        if episode.nearest is not None:
            truth = math.hypot(episode.nearest[0] - position[0], episode.nearest[1] - position[2])
        box = None
        if episode.named_box is not None:
            box = _projected_box(intrinsics, world_from_optical, position, episode.named_box)
        yield EpisodeFrame(t, start_ns + int(round(t * 1e9)), depth, samples, truth, box)


def shaded(depth: np.ndarray, intrinsics: PinholeIntrinsics) -> np.ndarray:
    """A legible RGB picture of a depth image (the scene has no colours): each surface tinted by which way it faces
    (floor and treads beige, walls and risers blue-grey), lit from the camera and darker with distance."""
    v, u = np.mgrid[0:depth.shape[0], 0:depth.shape[1]].astype(np.float32)
    z = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    points = np.stack([(u - intrinsics.cx) / intrinsics.fx * z, (v - intrinsics.cy) / intrinsics.fy * z, z], -1)
    normal = np.cross(np.gradient(points, axis=1), np.gradient(points, axis=0))
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True) + 1e-9
    view = points / (np.linalg.norm(points, axis=-1, keepdims=True) + 1e-9)
    light = np.abs(np.sum(normal * view, axis=-1))
    # The normals point away from the camera; optical y is down: a surface facing up (floor, treads) has its
    # normal along +y, turned by the camera's pitch.
    pitch = math.radians(PITCH_DOWN_DEG)
    facing_up = np.clip(normal[..., 1] * math.cos(pitch) - normal[..., 2] * math.sin(pitch), 0.0, 1.0)[..., None]
    tint = facing_up * np.array([200, 180, 140], np.float32) + (1 - facing_up) * np.array([140, 160, 200], np.float32)
    fade = np.clip(1.2 - z / 12.0, 0.25, 1.0)[..., None]
    image = tint * (0.35 + 0.65 * light[..., None]) * fade
    image[~np.isfinite(depth)] = 30
    return np.clip(image, 0, 255).astype(np.uint8)


def _projected_box(intrinsics: PinholeIntrinsics, world_from_optical: np.ndarray, centre: np.ndarray,
                   extent: Tuple[float, ...]) -> Optional[Tuple[float, float, float, float]]:
    x0, x1, y0, y1, z0, z1 = extent
    corners = np.array([[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)])
    optical = (corners - centre) @ world_from_optical
    if np.any(optical[:, 2] <= 0.05):
        return None
    u = intrinsics.fx * optical[:, 0] / optical[:, 2] + intrinsics.cx
    v = intrinsics.fy * optical[:, 1] / optical[:, 2] + intrinsics.cy
    return (max(0.0, float(u.min())), max(0.0, float(v.min())), min(float(intrinsics.width), float(u.max())),
            min(float(intrinsics.height), float(v.max())))


def ground_truth(size: int) -> dict:
    """The scene's ground truth as JSON-able data: camera, wearer motion, and per episode the hazard's kind and the
    world position (x, z) of its nearest part, the boxes that make it (centre, half sizes) and the named box."""
    k = intrinsics_at(size)
    return {
        "world": "X right, Y up, Z forward (walking direction), metres; floor at Y = 0; the wearer starts at X = Z = 0",
        "camera": {"width": k.width, "height": k.height, "fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy,
                   "frame_rate_hz": FRAME_RATE_HZ, "imu_rate_hz": IMU_RATE_HZ},
        "wearer": asdict(WalkingHead()),
        "episodes": [{"name": e.name, "kind": e.kind, "duration_s": e.duration_s,
                      "nearest_xz": list(e.nearest) if e.nearest else None,
                      "named_box_xyz": list(e.named_box) if e.named_box else None, "named_class": e.named_class,
                      "boxes": [{"center": list(b.center), "half": list(b.half)} for b in e.shapes
                                if isinstance(b, Box)]}
                     for e in episodes()],
    }
