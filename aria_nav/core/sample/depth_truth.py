"""The sample recording's exact depth, as a perfect metric depth model would give it (ROS-free).

Ray cast by the sample's own renderer for the RGB camera scaled to `size` x `size` pixels (the same field of
view): full resolution costs about a second a frame on a loaded 2-core machine, 352 pixels about 25 ms. Fusion
scales its boxes to whatever size the depth image has, so a smaller true depth is as exact where it is sampled.
"""
from __future__ import annotations

import dataclasses
from typing import List

import numpy as np

from aria_nav.core.sample import script
from aria_nav.core.sample.render import CameraRenderer, camera_pose

TRUE_DEPTH_SIZE = 352  # a quarter of the sample's 1408-pixel RGB camera


def true_depth_frames(size: int = TRUE_DEPTH_SIZE) -> List[np.ndarray]:
    """Exact z-depth (float32 metres, (size, size)) of every RGB frame of the sample, in frame order."""
    rgb = next(camera for camera in script.CAMERAS if camera.name == "rgb")
    scaled = dataclasses.replace(rgb, width=size, height=size, focal=rgb.focal * size / rgb.width)
    renderer = CameraRenderer(scaled, script.ROOM)
    frames = []
    for index in range(script.FRAME_COUNT):
        t = index / script.FRAME_RATE_HZ
        rotation, centre = camera_pose(scaled, script.WEARER.head_position(t), script.WEARER.head_pitch_down_deg(t))
        placed = [(obj, obj.path.position(t)) for obj in script.OBJECTS if obj.path.position(t) is not None]
        frames.append(renderer.render(rotation, centre, placed).depth)
    return frames
