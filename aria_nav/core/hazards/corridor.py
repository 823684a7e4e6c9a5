"""The walking corridor: what lies in the wearer's way whatever it is called, from metric depth (ROS-free).

Each frame: the depth pixels (every `stride`-th row and column, more sparsely when the image is wider than
`max_columns` samples, so a full-resolution depth image costs what a 518-pixel one does) are put into the
gravity-aligned wearer frame
(aria_nav.core.wearer_frame: x forward, y left, z up, origin at the camera); the ground is fitted (ground.py); the
corridor is the strip `width_m` wide straight ahead from `min_forward_m` to `length_m`, cut into `bin_m` slices by
forward distance. In each slice the corridor's points are counted by their height above the fitted ground:

    below      h < -drop_min_m                      the ground falls away: a kerb, a step or stairs down
    ground     |h| <= ground_tolerance_m
    low        ground_tolerance_m < h <= step_max_m  a step up (or the foot of anything standing there)
    body       step_max_m < h < head_min_m
    head       head_min_m <= h <= wearer_height_m + head_margin_m

and the nearest slice decides each hazard:
  - OBSTACLE: a slice with `min_points` body points whose above-ground points span more than step_max_m in height
    (something rising from the ground: a wall, a pole, a person, a bin). A flight of stairs rises by less than a
    step within one slice, so it is not an obstacle however high it climbs.
  - HEAD_HEIGHT: a slice with `min_points` head points and (almost) no body points in it and either neighbour: an
    overhang with free space below (a sign, a branch, an open cabinet door: a cane never touches it).
  - STEP_DOWN: a slice with `min_points` points below the ground, beyond ground seen nearer: its distance is the
    edge, the far end of the last slice with ground before it.
  - STEP_UP: a slice with `min_points` low points rising by at least `riser_min_m` within it (a riser: a walkable
    ramp rises by a centimetre per slice) and no obstacle within `step_lookahead_m` beyond it (the foot of a wall
    is not a step).
`min_points` is scaled to the depth image's sampling density (pixels per radian squared), so the same corridor is judged
alike at any depth size. One hazard per kind per frame (the nearest: what the wearer meets first). Distance: the
horizontal range of the hazard's nearest points (low percentile); bearing: the horizontal angle of their mean position.
Confidence grows with the number of points (`min_points` gives 0.25, four times as many 1) and is lowered when the
ground fit fell back on the prior. `free_left` / `free_right`: whether a corridor as wide beside this one holds no
obstacle up to `free_check_m` (the free-path hint). Limits: depth models do not see glass (it reads as what is behind
it), thin wires and poles of a pixel or two, and very dark scenes; a drop whose lower level is not visible at all is not
a step down (nothing below is seen).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.hazards.ground import GroundConfig, GroundFit, fit_ground
from aria_nav.core.wearer_frame import Tilt

OBSTACLE, HEAD_HEIGHT, STEP_DOWN, STEP_UP = "obstacle", "head_height", "step_down", "step_up"
HAZARD_KINDS = (OBSTACLE, HEAD_HEIGHT, STEP_DOWN, STEP_UP)


@dataclass(frozen=True)
class CorridorConfig:
    width_m: float = 0.8
    length_m: float = 4.0
    min_forward_m: float = 0.3  # nearer than this the camera sees the wearer's own body and feet
    bin_m: float = 0.1
    stride: int = 2  # every stride-th depth row and column
    max_columns: int = 260  # at most this many samples per row (the stride grows for larger depth images)
    ground_tolerance_m: float = 0.05
    drop_min_m: float = 0.08
    step_max_m: float = 0.3
    riser_min_m: float = 0.04
    head_min_m: float = 1.2
    wearer_height_m: float = 1.8
    head_margin_m: float = 0.1
    # Points of a kind in one slice for a hazard, for a depth image sampled at `reference_focal_px` / stride pixels
    # per radian (Aria's RGB camera at 518 px, stride 2); scaled with the square of the actual sampling density.
    min_points: int = 12
    reference_focal_px: float = 224.4
    step_lookahead_m: float = 0.4
    free_check_m: float = 2.0
    ground: GroundConfig = field(default_factory=GroundConfig)


@dataclass(frozen=True)
class HazardSighting:
    """One hazard in one frame."""

    kind: str
    distance_m: float  # horizontal range in the wearer frame to its nearest part
    bearing_deg: float  # positive to the right
    confidence: float  # 0..1
    points: int
    box: Tuple[float, float, float, float]  # x1, y1, x2, y2: its points' extent in pixels of the depth image
    nearest: Tuple[float, float, float]  # wearer-frame point of its nearest part (z: up from the camera)
    pixel: Tuple[float, float]  # depth-image pixel (u, v) of its nearest part


@dataclass
class CorridorResult:
    ground: GroundFit
    hazards: List[HazardSighting]
    free_left: bool
    free_right: bool
    elapsed_ms: float


class _Points:
    """The sampled depth pixels in the wearer frame (flat arrays of the valid ones)."""

    def __init__(self, depth: np.ndarray, intrinsics: PinholeIntrinsics, tilt: Tilt, stride: int,
                 rays: "_RayCache"):
        z = depth[::stride, ::stride]
        x, y, u, v = rays.get(intrinsics, depth.shape, stride)
        valid = np.isfinite(z) & (z > 0)
        z, x, y = z[valid], x[valid], y[valid]
        self.u, self.v = u[valid], v[valid]
        r = tilt.rotation.astype(np.float32)
        self.forward = (r[0, 0] * x + r[0, 1] * y + r[0, 2]) * z
        self.left = (r[1, 0] * x + r[1, 1] * y + r[1, 2]) * z
        self.up = (r[2, 0] * x + r[2, 1] * y + r[2, 2]) * z


class _RayCache:
    """Normalised pixel coordinates of the sampled pixels, kept while the image size and intrinsics stay."""

    def __init__(self):
        self._key = None
        self._value = None

    def get(self, intrinsics: PinholeIntrinsics, shape, stride: int):
        key = (intrinsics, shape[:2], stride)
        if key != self._key:
            rows, cols = shape[:2]
            k = intrinsics.scaled(cols, rows) if (cols, rows) != (intrinsics.width, intrinsics.height) else intrinsics
            v, u = np.mgrid[0:rows:stride, 0:cols:stride].astype(np.float32)
            with np.errstate(over="ignore", invalid="ignore"):
                self._value = ((u - np.float32(k.cx)) / np.float32(k.fx), (v - np.float32(k.cy)) / np.float32(k.fy),
                               u, v)
            self._key = key
        return self._value


class CorridorModel:
    def __init__(self, config: CorridorConfig = CorridorConfig()):
        if config.length_m <= config.min_forward_m or config.bin_m <= 0 or config.stride < 1:
            raise ValueError("corridor: length_m must exceed min_forward_m, bin_m be positive and stride >= 1")
        self.config = config
        self._rays = _RayCache()
        self._bins = int(math.ceil((config.length_m - config.min_forward_m) / config.bin_m))
        self.min_points = config.min_points  # as scaled for the latest frame's depth size

    def process(self, depth: np.ndarray, intrinsics: PinholeIntrinsics, tilt: Tilt) -> CorridorResult:
        """`depth`: metric z-depth (NaN/0 invalid); `intrinsics`: of the image the depth belongs to (any size)."""
        start = time.perf_counter()
        cfg = self.config
        focal = intrinsics.fx * depth.shape[1] / intrinsics.width
        stride = max(cfg.stride, -(-depth.shape[1] // cfg.max_columns))
        density = min((focal / stride) / (cfg.reference_focal_px / 2.0), 1e3)
        self.min_points = max(3, int(round(cfg.min_points * density * density)))
        # Absurd intrinsics (a corrupt camera_info) overflow to inf and NaN: those points are simply never counted.
        with np.errstate(over="ignore", invalid="ignore"):
            points = _Points(np.asarray(depth, np.float32), intrinsics, tilt, stride, self._rays)
            ground = fit_ground(points.forward, points.left, points.up, cfg.ground)
            height = points.up - ground.height_at(points.forward, points.left)
        half = cfg.width_m / 2.0
        ahead = (points.forward >= cfg.min_forward_m) & (points.forward < cfg.length_m)
        inside = ahead & (np.abs(points.left) <= half)
        hazards = self._classify(points, height, inside, ground)
        free_left = self._clear(points, height, ahead & (points.left > half) & (points.left <= 3 * half))
        free_right = self._clear(points, height, ahead & (points.left < -half) & (points.left >= -3 * half))
        return CorridorResult(ground, hazards, free_left, free_right, (time.perf_counter() - start) * 1e3)

    # ---- classification --------------------------------------------------------------------------------------

    def _classify(self, points: _Points, height: np.ndarray, inside: np.ndarray, ground: GroundFit
                  ) -> List[HazardSighting]:
        cfg = self.config
        index = np.flatnonzero(inside)
        h = height[index]
        slice_of = ((points.forward[index] - cfg.min_forward_m) / cfg.bin_m).astype(np.int64)
        classes = {
            "below": h < -cfg.drop_min_m,
            "ground": np.abs(h) <= cfg.ground_tolerance_m,
            "low": (h > cfg.ground_tolerance_m) & (h <= cfg.step_max_m),
            "body": (h > cfg.step_max_m) & (h < cfg.head_min_m),
            "head": (h >= cfg.head_min_m) & (h <= cfg.wearer_height_m + cfg.head_margin_m),
        }
        counts = {name: np.bincount(slice_of[mask], minlength=self._bins)[:self._bins]
                  for name, mask in classes.items()}
        # Height span of the above-ground points below head height, per slice.
        standing = (h > cfg.ground_tolerance_m) & (h < cfg.head_min_m)
        top = np.full(self._bins, -np.inf)
        bottom = np.full(self._bins, np.inf)
        np.maximum.at(top, slice_of[standing], h[standing])
        np.minimum.at(bottom, slice_of[standing], h[standing])
        enough = {name: c >= self.min_points for name, c in counts.items()}
        obstacle = enough["body"] & (top - bottom > cfg.step_max_m)
        found: Dict[str, Tuple[int, np.ndarray]] = {}  # kind -> (slice, mask over `index` of its points)

        first_obstacle = _first(obstacle)
        if first_obstacle is not None:
            found[OBSTACLE] = (first_obstacle, (slice_of == first_obstacle) & (classes["body"] | classes["low"]))
        # Free below: no body points in its slice and either neighbour (a slice boundary may split one surface).
        empty_below = ~enough["body"]
        free_under = (empty_below & np.concatenate([[True], empty_below[:-1]])
                      & np.concatenate([empty_below[1:], [True]]))
        head = _first(enough["head"] & free_under & ~obstacle)
        if head is not None and (first_obstacle is None or head < first_obstacle):
            found[HEAD_HEIGHT] = (head, (slice_of == head) & classes["head"])
        below = _first(enough["below"])
        seen_ground = _last(enough["ground"][:below]) if below is not None else None
        if below is not None and seen_ground is not None and (first_obstacle is None or below <= first_obstacle):
            found[STEP_DOWN] = (seen_ground, (slice_of > seen_ground) & (slice_of <= below) & classes["below"])
        lookahead = int(round(cfg.step_lookahead_m / cfg.bin_m))
        near_obstacle = np.convolve(obstacle.astype(np.int64), np.ones(lookahead + 1, np.int64))[lookahead:]
        riser = top - bottom >= cfg.riser_min_m
        step = _first(enough["low"] & riser & (near_obstacle[:self._bins] == 0))
        if step is not None and (first_obstacle is None or step < first_obstacle):
            found[STEP_UP] = (step, (slice_of == step) & classes["low"])
        return [self._sighting(kind, edge, points, index[mask], ground)
                for kind, (edge, mask) in found.items() if mask.any()]

    def _sighting(self, kind: str, edge_slice: int, points: _Points, chosen: np.ndarray, ground: GroundFit
                  ) -> HazardSighting:
        cfg = self.config
        forward, left = points.forward[chosen], points.left[chosen]
        ranges = np.hypot(forward, left)
        if kind == STEP_DOWN:  # the edge: where the ground seen nearer ends, straight towards the drop
            distance = cfg.min_forward_m + (edge_slice + 1) * cfg.bin_m
        else:
            distance = float(np.percentile(ranges, 5.0))
        nearest = int(np.argmin(np.abs(ranges - distance)))
        bearing = math.degrees(math.atan2(-float(left.mean()), float(forward.mean())))
        confidence = min(1.0, chosen.size / (4.0 * self.min_points)) * (1.0 if ground.fitted else 0.6)
        u, v = points.u[chosen], points.v[chosen]
        return HazardSighting(kind, float(distance), bearing, float(confidence), int(chosen.size),
                              (float(u.min()), float(v.min()), float(u.max()) + 1.0, float(v.max()) + 1.0),
                              (float(forward[nearest]), float(left[nearest]), float(points.up[chosen][nearest])),
                              (float(u[nearest]), float(v[nearest])))

    def _clear(self, points: _Points, height: np.ndarray, region: np.ndarray) -> bool:
        cfg = self.config
        near = region & (points.forward < cfg.free_check_m)
        h = height[near]
        blocked = (h > cfg.step_max_m) & (h <= cfg.wearer_height_m + cfg.head_margin_m)
        dropped = h < -cfg.drop_min_m
        seen_ground = np.count_nonzero(np.abs(h) <= cfg.ground_tolerance_m)
        return (np.count_nonzero(blocked) < self.min_points and np.count_nonzero(dropped) < self.min_points
                and seen_ground >= self.min_points)


def _first(flags: np.ndarray) -> Optional[int]:
    hits = np.flatnonzero(flags)
    return int(hits[0]) if hits.size else None


def _last(flags: np.ndarray) -> Optional[int]:
    hits = np.flatnonzero(flags)
    return int(hits[-1]) if hits.size else None
