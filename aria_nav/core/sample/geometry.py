"""Ray casting against the sample scene's shapes (ROS-free, numpy).

Every shape is axis-aligned in its object's local frame (the world axes shifted to the object's position: X right,
Y up, Z forward, metres). Rays are `origin + s * direction` with directions whose camera-frame z component is 1,
so the ray parameter `s` of the nearest hit IS the z-depth of that pixel: the renderer gets exact depth for free.

Each shape answers three questions for a batch of rays/points: where a ray first hits it (`intersect`, inf where
it misses), the outward surface normal at a hit point (`normal`) and its colour there (`texture`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Tuple

import numpy as np

NEAR = 1e-3  # hits closer than this along the ray are ignored (the ray's own origin)

Texture = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (points (N,3), normals (N,3)) -> albedo (N,3) in 0..1


def _no_hit(count: int) -> np.ndarray:
    return np.full(count, np.inf, np.float32)


def _nearest_root(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Smallest root > NEAR of a s^2 + b s + c = 0 per ray, inf where there is none (a > 0)."""
    disc = b * b - 4.0 * a * c
    s = np.full(a.shape, np.inf, np.float32)
    ok = disc >= 0.0
    root = np.sqrt(disc[ok])
    near = (-b[ok] - root) / (2.0 * a[ok])
    far = (-b[ok] + root) / (2.0 * a[ok])
    s[ok] = np.where(near > NEAR, near, np.where(far > NEAR, far, np.inf))
    return s


def _normalized(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Shape:
    texture: Texture

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def normal(self, points: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounding box (low corner, high corner) in the object frame."""
        raise NotImplementedError


@dataclass(frozen=True)
class Box(Shape):
    center: Tuple[float, float, float]
    half: Tuple[float, float, float]

    def intersect(self, origin, dirs):
        c, h = np.asarray(self.center, np.float32), np.asarray(self.half, np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (c - h - origin) / dirs
            t2 = (c + h - origin) / dirs
        # fmax/fmin skip the NaN of a ray that runs exactly along a face
        t_enter = np.fmax.reduce(np.minimum(t1, t2), axis=1)
        t_exit = np.fmin.reduce(np.maximum(t1, t2), axis=1)
        hit = (t_exit >= t_enter) & (t_enter > NEAR)
        return np.where(hit, t_enter, np.inf).astype(np.float32)

    def normal(self, points, dirs):
        rel = (points - np.asarray(self.center, np.float32)) / np.asarray(self.half, np.float32)
        axis = np.argmax(np.abs(rel), axis=1)
        normals = np.zeros_like(points)
        rows = np.arange(len(points))
        normals[rows, axis] = np.sign(rel[rows, axis])
        return normals

    def bounds(self):
        c, h = np.asarray(self.center, np.float32), np.asarray(self.half, np.float32)
        return c - h, c + h


@dataclass(frozen=True)
class Ellipsoid(Shape):
    center: Tuple[float, float, float]
    radii: Tuple[float, float, float]

    def intersect(self, origin, dirs):
        r = np.asarray(self.radii, np.float32)
        q = (origin - np.asarray(self.center, np.float32)) / r
        e = dirs / r
        return _nearest_root(np.einsum("ij,ij->i", e, e), 2.0 * (e @ q), np.full(len(dirs), q @ q - 1.0, np.float32))

    def normal(self, points, dirs):
        r = np.asarray(self.radii, np.float32)
        return _normalized((points - np.asarray(self.center, np.float32)) / (r * r))

    def bounds(self):
        c, r = np.asarray(self.center, np.float32), np.asarray(self.radii, np.float32)
        return c - r, c + r


@dataclass(frozen=True)
class Cylinder(Shape):
    """Vertical elliptic cylinder with flat caps: centre (x, z), semi-axes (rx, rz), from height y0 to y1."""

    center_xz: Tuple[float, float]
    radii_xz: Tuple[float, float]
    y0: float
    y1: float

    def _inside_ellipse(self, x, z):
        (cx, cz), (rx, rz) = self.center_xz, self.radii_xz
        return ((x - cx) / rx) ** 2 + ((z - cz) / rz) ** 2 <= 1.0

    def intersect(self, origin, dirs):
        (cx, cz), (rx, rz) = self.center_xz, self.radii_xz
        qx, qz = (origin[0] - cx) / rx, (origin[2] - cz) / rz
        ex, ez = dirs[:, 0] / rx, dirs[:, 2] / rz
        side = _nearest_root(ex * ex + ez * ez, 2.0 * (qx * ex + qz * ez), np.full(len(dirs), qx * qx + qz * qz - 1.0,
                                                                                   np.float32))
        y = origin[1] + side * dirs[:, 1]
        side = np.where((y >= self.y0) & (y <= self.y1), side, np.inf)
        best = side
        for cap_y in (self.y0, self.y1):
            with np.errstate(divide="ignore", invalid="ignore"):
                s = (cap_y - origin[1]) / dirs[:, 1]
            x, z = origin[0] + s * dirs[:, 0], origin[2] + s * dirs[:, 2]
            s = np.where((s > NEAR) & self._inside_ellipse(x, z), s, np.inf)
            best = np.minimum(best, s)
        return best.astype(np.float32)

    def normal(self, points, dirs):
        (cx, cz), (rx, rz) = self.center_xz, self.radii_xz
        normals = np.stack([(points[:, 0] - cx) / rx ** 2, np.zeros(len(points), np.float32),
                            (points[:, 2] - cz) / rz ** 2], axis=1)
        normals = _normalized(normals)
        tolerance = 1e-3
        normals[np.abs(points[:, 1] - self.y1) < tolerance] = (0.0, 1.0, 0.0)
        normals[np.abs(points[:, 1] - self.y0) < tolerance] = (0.0, -1.0, 0.0)
        return normals

    def bounds(self):
        (cx, cz), (rx, rz) = self.center_xz, self.radii_xz
        return (np.array([cx - rx, self.y0, cz - rz], np.float32), np.array([cx + rx, self.y1, cz + rz], np.float32))


@dataclass(frozen=True)
class Ring(Shape):
    """A flat annulus in the plane x = center[0] (a wheel seen from the side), inner and outer radius."""

    center: Tuple[float, float, float]
    inner: float
    outer: float

    def intersect(self, origin, dirs):
        cx, cy, cz = self.center
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (cx - origin[0]) / dirs[:, 0]
        rr = (origin[1] + s * dirs[:, 1] - cy) ** 2 + (origin[2] + s * dirs[:, 2] - cz) ** 2
        hit = (s > NEAR) & (rr >= self.inner ** 2) & (rr <= self.outer ** 2)
        return np.where(hit, s, np.inf).astype(np.float32)

    def normal(self, points, dirs):
        normals = np.zeros_like(points)
        normals[:, 0] = -np.sign(dirs[:, 0])  # the face the ray sees
        return normals

    def bounds(self):
        c = np.asarray(self.center, np.float32)
        extent = np.array([0.0, self.outer, self.outer], np.float32)
        return c - extent, c + extent


@dataclass(frozen=True)
class Wall(Shape):
    """An infinite plane `axis = value` (a side of the room); `inward` is the sign of its normal along the axis."""

    axis: int
    value: float
    inward: float

    def intersect(self, origin, dirs):
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (self.value - origin[self.axis]) / dirs[:, self.axis]
        return np.where(s > NEAR, s, np.inf).astype(np.float32)

    def normal(self, points, dirs):
        normals = np.zeros_like(points)
        normals[:, self.axis] = self.inward
        return normals

    def bounds(self):
        raise ValueError("a wall is unbounded")


def bounds_of(shapes: Sequence[Shape]) -> Tuple[np.ndarray, np.ndarray]:
    lows, highs = zip(*(shape.bounds() for shape in shapes))
    return np.min(lows, axis=0), np.max(highs, axis=0)


# --- textures: functions of the local hit point (metres) and normal, returning albedo 0..1 ---------------------

def _rgb(colour: Sequence[int]) -> np.ndarray:
    return np.asarray(colour, np.float32) / 255.0


def _cell_hash(*indices: np.ndarray) -> np.ndarray:
    """Integer hash of grid cell indices in 0..1: deterministic on every machine (no float sin tricks)."""
    h = np.zeros(indices[0].shape, np.int64)
    for prime, index in zip((73856093, 19349663, 83492791), indices):
        h ^= index.astype(np.int64) * prime
    return ((h * 2654435761) % 4294967296 >> 16) % 1024 / 1023.0


def solid(colour: Sequence[int]) -> Texture:
    albedo = _rgb(colour)
    return lambda points, normals: np.broadcast_to(albedo, points.shape)


def stripes(colour_a: Sequence[int], colour_b: Sequence[int], axis: int, period: float) -> Texture:
    a, b = _rgb(colour_a), _rgb(colour_b)

    def texture(points, normals):
        odd = (np.floor(points[:, axis] / period).astype(np.int64) % 2).astype(bool)
        return np.where(odd[:, None], b, a)

    return texture


def grain(colour: Sequence[int], axis: int, period: float, depth: float = 0.18) -> Texture:
    """Smooth bands (wood grain, fabric folds): colour times 1 +- depth along `axis`."""
    albedo = _rgb(colour)
    other = (axis + 1) % 3

    def texture(points, normals):
        phase = 2 * np.pi * points[:, axis] / period + 1.5 * np.sin(2 * np.pi * points[:, other] / (4 * period))
        return albedo * (1.0 + depth * np.sin(phase))[:, None]

    return texture


def tiles(colour: Sequence[int], grout_colour: Sequence[int], axes: Tuple[int, int], size: float, grout: float,
          variation: float = 0.25) -> Texture:
    """Square tiles of `size` metres on the plane spanned by `axes`, each a little lighter or darker."""
    albedo, grout_albedo = _rgb(colour), _rgb(grout_colour)

    def texture(points, normals):
        u, v = points[:, axes[0]] / size, points[:, axes[1]] / size
        iu, iv = np.floor(u), np.floor(v)
        shade = 1.0 - variation / 2 + variation * _cell_hash(iu, iv)
        in_grout = ((u - iu) * size < grout) | ((v - iv) * size < grout)
        return np.where(in_grout[:, None], grout_albedo, albedo * shade[:, None].astype(np.float32))

    return texture


def spots(colour: Sequence[int], spot_colour: Sequence[int], cell: float) -> Texture:
    """Round patches of `spot_colour` in about a third of the cells of a 3-D grid."""
    albedo, spot_albedo = _rgb(colour), _rgb(spot_colour)

    def texture(points, normals):
        scaled = points / cell
        index = np.floor(scaled)
        distance = np.linalg.norm(scaled - index - 0.5, axis=1)
        spotted = (_cell_hash(index[:, 0], index[:, 1], index[:, 2]) < 0.35) & (distance < 0.45)
        return np.where(spotted[:, None], spot_albedo, albedo)

    return texture
