"""The ground under the wearer's feet, fitted in the wearer frame (ROS-free).

Candidates: points ahead (`near_m` to `far_m` forward, within `lateral_m` either side) whose height below the
camera is within `prior_window_m` of the prior camera height (`camera_height_m`: the wearer's eye height). Two
methods (`method`):
  - "histogram" (default): the most common height of the candidates (`bin_m` bins, smoothed over three), then a
    least-squares plane through the candidates within `inlier_m` of it;
  - "ransac": `iterations` random planes through three candidates (fixed seed: the same every run), the one with
    most candidates within `inlier_m`, then the same least-squares refinement.
A plane steeper than `max_slope_deg` is not walkable ground (a wall base, a ramp edge): the flat plane at the
peak height is used instead. Fewer than `min_inliers` inliers: no fit, the prior (flat ground `camera_height_m`
below the camera) is used and `fitted` is False. The nearest ground dominates both methods because it is seen by
the most pixels: a kerb or a step further on does not move the fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HISTOGRAM, RANSAC = "histogram", "ransac"
GROUND_METHODS = (HISTOGRAM, RANSAC)


@dataclass(frozen=True)
class GroundConfig:
    method: str = HISTOGRAM
    camera_height_m: float = 1.6  # prior: the camera's height above the ground
    prior_window_m: float = 0.5
    near_m: float = 0.5
    far_m: float = 2.5
    lateral_m: float = 1.0
    bin_m: float = 0.02
    inlier_m: float = 0.04
    min_inliers: int = 50
    max_slope_deg: float = 10.0
    iterations: int = 40


@dataclass(frozen=True)
class GroundFit:
    """The ground as up = slope_forward * forward + slope_left * left + offset (wearer frame, metres)."""

    slope_forward: float
    slope_left: float
    offset: float
    fitted: bool
    inliers: int
    method: str

    @property
    def camera_height_m(self) -> float:
        return -self.offset

    @property
    def slope_deg(self) -> float:
        return math.degrees(math.atan(math.hypot(self.slope_forward, self.slope_left)))

    def height_at(self, forward: np.ndarray, left: np.ndarray) -> np.ndarray:
        return self.slope_forward * forward + self.slope_left * left + self.offset


def fit_ground(forward: np.ndarray, left: np.ndarray, up: np.ndarray, config: GroundConfig = GroundConfig()
               ) -> GroundFit:
    if config.method not in GROUND_METHODS:
        raise ValueError(f"ground method '{config.method}' is not one of {', '.join(GROUND_METHODS)}")
    prior = -config.camera_height_m
    near = ((forward >= config.near_m) & (forward <= config.far_m) & (np.abs(left) <= config.lateral_m)
            & (np.abs(up - prior) <= config.prior_window_m))
    f, lateral, u = forward[near], left[near], up[near]
    fallback = GroundFit(0.0, 0.0, prior, False, 0, config.method)
    if u.size < config.min_inliers:
        return fallback
    if config.method == HISTOGRAM:
        edges = np.arange(prior - config.prior_window_m, prior + config.prior_window_m + config.bin_m, config.bin_m)
        counts, _ = np.histogram(u, edges)
        smoothed = np.convolve(counts, np.ones(3), mode="same")
        peak = int(np.argmax(smoothed))
        level = (edges[peak] + edges[peak + 1]) / 2.0
        inliers = np.abs(u - level) <= config.inlier_m
    else:
        inliers, level = _ransac(f, lateral, u, config)
    if np.count_nonzero(inliers) < config.min_inliers:
        return fallback
    a = np.stack([f[inliers], lateral[inliers], np.ones(np.count_nonzero(inliers), np.float32)], axis=1)
    (slope_f, slope_l, offset), *_ = np.linalg.lstsq(a.astype(np.float64), u[inliers].astype(np.float64),
                                                     rcond=None)
    if math.degrees(math.atan(math.hypot(slope_f, slope_l))) > config.max_slope_deg:
        slope_f, slope_l, offset = 0.0, 0.0, float(np.median(u[inliers])) if level is None else level
    return GroundFit(float(slope_f), float(slope_l), float(offset), True, int(np.count_nonzero(inliers)),
                     config.method)


def _ransac(f: np.ndarray, lateral: np.ndarray, u: np.ndarray, config: GroundConfig):
    rng = np.random.default_rng(0)
    best, best_count = np.zeros(u.size, bool), -1
    points = np.stack([f, lateral, u], axis=1).astype(np.float64)
    for _ in range(config.iterations):
        p0, p1, p2 = points[rng.choice(u.size, 3, replace=False)]
        normal = np.cross(p1 - p0, p2 - p0)
        if abs(normal[2]) < 1e-9 or np.linalg.norm(normal) < 1e-9:
            continue
        normal /= np.linalg.norm(normal)
        inliers = np.abs((points - p0) @ normal) <= config.inlier_m
        count = int(np.count_nonzero(inliers))
        if count > best_count:
            best, best_count = inliers, count
    return best, None
