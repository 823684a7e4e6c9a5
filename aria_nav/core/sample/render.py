"""Ray-casting renderer of the sample scene: colour, exact z-depth and per-pixel object id in one pass.

One ray per pixel centre through a linear pinhole camera; the nearest hit over the room's walls and the objects'
shapes wins (a z-buffer in ray form). Objects are only tested inside the image rectangle their bounding box
projects to, which keeps a 1408x1408 frame at a fraction of a second. Shading is Lambertian with one light and
an ambient term, so the shapes look solid and textured rather than flat.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from aria_nav.core.sample.geometry import Shape, bounds_of
from aria_nav.core.sample.script import CameraSpec, SceneObject

LIGHT_DIRECTION = np.array([0.3, 1.0, -0.4], np.float32) / np.linalg.norm([0.3, 1.0, -0.4])  # towards the light
AMBIENT, DIFFUSE = 0.55, 0.45
BACKGROUND_ID = 0  # id-map value of the room (walls, floor, ceiling); objects use their track id
_MIN_Z = 0.05  # bounding-box corners closer than this to the camera plane disable the screen-rectangle cull


def rotation_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# Head frame (x forward, y left, z up) in world axes (X right, Y up, Z forward), and an optical frame
# (x right, y down, z forward) in head axes.
WORLD_FROM_HEAD = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
HEAD_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def head_rotation(pitch_down_deg: float) -> np.ndarray:
    """World-from-head rotation of a head facing +Z, nodding down by `pitch_down_deg`."""
    return WORLD_FROM_HEAD @ rotation_y(math.radians(pitch_down_deg))


def camera_pose(camera: CameraSpec, head_position: Sequence[float], head_pitch_down_deg: float
                ) -> Tuple[np.ndarray, np.ndarray]:
    """(world-from-optical rotation, optical centre in the world) of `camera` for a head pose."""
    world_from_head = head_rotation(head_pitch_down_deg)
    mount = rotation_z(math.radians(-camera.yaw_right_deg)) @ rotation_y(math.radians(camera.pitch_down_deg))
    rotation = world_from_head @ mount @ HEAD_FROM_OPTICAL
    centre = np.asarray(head_position, float) + world_from_head @ np.asarray(camera.offset, float)
    return rotation, centre


@dataclass
class Rendering:
    colour: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 z-depth in metres along the optical axis
    ids: np.ndarray  # (H, W) uint8: BACKGROUND_ID or the track id of the object seen at the pixel
    rotation: np.ndarray  # world-from-optical rotation used
    centre: np.ndarray  # optical centre in the world


class CameraRenderer:
    """Renders one camera of the scene for given poses; keeps the camera's ray directions between frames."""

    def __init__(self, camera: CameraSpec, room: Sequence[Shape]):
        self.camera = camera
        self._room = room
        u, v = np.meshgrid(np.arange(camera.width, dtype=np.float32), np.arange(camera.height, dtype=np.float32))
        # z = 1: a ray's parameter at a hit is the z-depth of that pixel
        self._rays = np.stack([(u - camera.cx) / camera.focal, (v - camera.cy) / camera.focal,
                               np.ones_like(u)], axis=2)

    def _screen_rect(self, lows: np.ndarray, highs: np.ndarray, rotation: np.ndarray, centre: np.ndarray
                     ) -> Optional[Tuple[int, int, int, int]]:
        """Pixel rectangle (row0, row1, col0, col1) that holds the projection of a world box, None if unseen."""
        corners = np.array([[x, y, z] for x in (lows[0], highs[0]) for y in (lows[1], highs[1])
                            for z in (lows[2], highs[2])])
        optical = (corners - centre) @ rotation  # rows: corners in the optical frame
        cam = self.camera
        if np.all(optical[:, 2] < _MIN_Z):
            return None
        if np.any(optical[:, 2] < _MIN_Z):
            return 0, cam.height, 0, cam.width
        u = cam.focal * optical[:, 0] / optical[:, 2] + cam.cx
        v = cam.focal * optical[:, 1] / optical[:, 2] + cam.cy
        col0, col1 = max(int(math.floor(u.min())) - 1, 0), min(int(math.ceil(u.max())) + 2, cam.width)
        row0, row1 = max(int(math.floor(v.min())) - 1, 0), min(int(math.ceil(v.max())) + 2, cam.height)
        if col0 >= col1 or row0 >= row1:
            return None
        return row0, row1, col0, col1

    def render(self, rotation: np.ndarray, centre: np.ndarray,
               placed: Sequence[Tuple[SceneObject, Tuple[float, float, float]]]) -> Rendering:
        """Render the room plus `placed` objects (object, world position of its origin) from a camera pose."""
        cam = self.camera
        rays = (self._rays.reshape(-1, 3) @ rotation.T.astype(np.float32)).reshape(cam.height, cam.width, 3)
        origin = centre.astype(np.float32)
        depth = np.full((cam.height, cam.width), np.inf, np.float32)
        owner = np.full((cam.height, cam.width), -1, np.int16)  # index into `shapes`
        shapes: List[Tuple[Shape, np.ndarray, int]] = []  # (shape, world offset of its frame, id)

        def cast(shape: Shape, offset: np.ndarray, object_id: int, rect: Tuple[int, int, int, int]) -> None:
            row0, row1, col0, col1 = rect
            sub_rays = rays[row0:row1, col0:col1].reshape(-1, 3)
            hits = shape.intersect(origin - offset, sub_rays).reshape(row1 - row0, col1 - col0)
            depth_view, owner_view = depth[row0:row1, col0:col1], owner[row0:row1, col0:col1]
            closer = hits < depth_view
            depth_view[closer] = hits[closer]
            owner_view[closer] = len(shapes)
            shapes.append((shape, offset, object_id))

        full = (0, cam.height, 0, cam.width)
        for wall in self._room:
            cast(wall, np.zeros(3, np.float32), BACKGROUND_ID, full)
        for scene_object, position in placed:
            offset = np.asarray(position, np.float32)
            lows, highs = bounds_of(scene_object.shapes)
            rect = self._screen_rect(lows + offset, highs + offset, rotation, centre)
            if rect is None:
                continue
            for shape in scene_object.shapes:
                cast(shape, offset, scene_object.track_id, rect)

        colour = np.zeros((cam.height * cam.width, 3), np.float32)
        ids = np.zeros(cam.height * cam.width, np.uint8)
        flat_owner, flat_depth, flat_rays = owner.reshape(-1), depth.reshape(-1), rays.reshape(-1, 3)
        for index in np.unique(flat_owner):
            shape, offset, object_id = shapes[index]
            pixels = np.flatnonzero(flat_owner == index)
            directions = flat_rays[pixels]
            points = origin - offset + flat_depth[pixels, None] * directions  # in the shape's frame
            normals = shape.normal(points, directions)
            light = AMBIENT + DIFFUSE * np.clip(normals @ LIGHT_DIRECTION, 0.0, 1.0)
            colour[pixels] = shape.texture(points, normals) * light[:, None]
            ids[pixels] = object_id
        colour = np.clip(colour * 255.0 + 0.5, 0, 255).astype(np.uint8).reshape(cam.height, cam.width, 3)
        return Rendering(colour, depth, ids.reshape(cam.height, cam.width), rotation, centre)


def rotation_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def tilted_head_rotation(pitch_down_deg: float, roll_right_deg: float) -> np.ndarray:
    """World-from-head rotation of a head facing +Z, nodding down by `pitch_down_deg`, then tilted towards its right
    shoulder (right ear down) by `roll_right_deg`."""
    return head_rotation(pitch_down_deg) @ rotation_x(math.radians(roll_right_deg))
