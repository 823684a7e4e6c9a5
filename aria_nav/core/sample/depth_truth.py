"""The sample recording's exact depth, as a perfect metric depth model would give it, and how far each object's
nearest visible part is (ROS-free).

Ray cast by the sample's own renderer for the RGB camera scaled to `size` x `size` pixels (the same field of
view): full resolution costs about a second a frame on a loaded 2-core machine, 352 pixels about 25 ms. Fusion
scales its boxes to whatever size the depth image has, so a smaller true depth is as exact where it is sampled.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, List

import numpy as np

from aria_nav.core.sample import script
from aria_nav.core.sample.render import BACKGROUND_ID, CameraRenderer, camera_pose

TRUE_DEPTH_SIZE = 352  # a quarter of the sample's 1408-pixel RGB camera


@dataclass
class TrueDepth:
    frames: List[np.ndarray]  # exact z-depth (float32 metres, (size, size)) of every RGB frame, in frame order
    # per frame: track id -> horizontal distance from the camera to the object's nearest visible point (what
    # fusion's "distance to the nearest part, along the floor" means), metres
    nearest_m: List[Dict[int, float]]


def true_depth(size: int = TRUE_DEPTH_SIZE) -> TrueDepth:
    """Exact depth of every RGB frame of the sample, and each visible object's nearest horizontal distance."""
    rgb = next(camera for camera in script.CAMERAS if camera.name == "rgb")
    scaled = dataclasses.replace(rgb, width=size, height=size, focal=rgb.focal * size / rgb.width)
    renderer = CameraRenderer(scaled, script.ROOM)
    columns, rows = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))
    rays = np.stack([(columns - scaled.cx) / scaled.focal, (rows - scaled.cy) / scaled.focal,
                     np.ones_like(columns)], axis=-1)  # optical frame, z = 1
    frames, nearest = [], []
    for index in range(script.FRAME_COUNT):
        t = index / script.FRAME_RATE_HZ
        rotation, centre = camera_pose(scaled, script.WEARER.head_position(t), script.WEARER.head_pitch_down_deg(t))
        placed = [(obj, obj.path.position(t)) for obj in script.OBJECTS if obj.path.position(t) is not None]
        rendering = renderer.render(rotation, centre, placed)
        offsets = (rays * rendering.depth[..., None]) @ rotation.T  # world axes (Y up), from the camera
        horizontal = np.hypot(offsets[..., 0], offsets[..., 2])
        frames.append(rendering.depth)
        nearest.append({int(track): float(horizontal[rendering.ids == track].min())
                        for track in np.unique(rendering.ids) if track != BACKGROUND_ID})
    return TrueDepth(frames, nearest)
