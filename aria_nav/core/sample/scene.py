"""SampleScene: the sample recording as code. Frame times, cameras, rendered images, exact depth, ground truth.

    from aria_nav.core.sample import SampleScene
    scene = SampleScene()
    scene.frame_count, scene.stamps_ns[i]           # 60 frames at 10 Hz, device clock (ns)
    scene.intrinsics["rgb"]                          # PinholeIntrinsics of the native images
    scene.render_rgb(i)                              # (1408, 1408, 3) uint8 RGB, upright, linear pinhole
    scene.render_slam(i, "left")                     # (480, 640) uint8 mono, upright, linear pinhole
    scene.depth_rgb(i)                               # (1408, 1408) float32 z-depth in metres, exact
    scene.ground_truth(i).in_camera("rgb")           # [ObjectTruth(track_id, class_id, box_xyxy, distance_m, ...)]
    scene.imu()                                      # ImuSamples: stamps, specific force, angular velocity

The images are what the committed recording holds before JPEG compression (they carry a slight lens blur);
depth and ground truth are exact (computed from the unblurred ray cast). Rendering costs ~0.3 s for an RGB frame
and ~0.05 s for a SLAM frame; the last few renderings are cached, so asking for the image, depth and ground truth
of one frame renders it once. Reading ground truth without rendering: `GroundTruthFile.load(truth_path())`.
"""
from __future__ import annotations

import collections
import functools
import math
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from aria_nav import topics
from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.sample import imu as imu_synthesis
from aria_nav.core.sample import script
from aria_nav.core.sample.render import CameraRenderer, Rendering, camera_pose
from aria_nav.core.sample.truth import (MIN_VISIBLE_PIXELS, FrameTruth, GroundTruthFile, ObjectTruth,
                                        direction_of, frame_events, motion_events, sort_events)

CAMERA_NAMES = tuple(camera.name for camera in script.CAMERAS)  # ("rgb", "slam_left", "slam_right")
SLAM_SIDES = ("left", "right")
FRAME_IDS = {"rgb": topics.RGB_FRAME, "slam_left": topics.SLAM_LEFT_FRAME, "slam_right": topics.SLAM_RIGHT_FRAME}
# Optical blur of the delivered images (Gaussian sigma in pixels): real lenses are not razor sharp, and the
# softer edges keep the committed JPEG recording small.
LENS_BLUR_SIGMA = {"rgb": 1.0, "slam_left": 0.8, "slam_right": 0.8}
_CACHE_SIZE = 6


class SampleScene:
    """The scripted scene of the sample recording (see aria_nav/core/sample/script.py and docs/camera.md)."""

    def __init__(self):
        self.frame_count = script.FRAME_COUNT
        self.frame_rate_hz = script.FRAME_RATE_HZ
        self.frame_period_ns = int(round(1e9 / script.FRAME_RATE_HZ))
        self.device_start_ns = script.DEVICE_START_NS
        #: device time of frame i (ns); the three cameras are triggered together
        self.stamps_ns = script.DEVICE_START_NS + np.arange(self.frame_count, dtype=np.int64) * self.frame_period_ns
        #: seconds from the first frame
        self.times_s = np.arange(self.frame_count) / script.FRAME_RATE_HZ
        #: the recording lasts this long: the last frame plus one frame period (also the loop period)
        self.duration_s = self.frame_count / script.FRAME_RATE_HZ
        self.cameras = {camera.name: camera for camera in script.CAMERAS}
        #: native intrinsics of each camera ("rgb", "slam_left", "slam_right")
        self.intrinsics: Dict[str, PinholeIntrinsics] = {
            c.name: PinholeIntrinsics(c.width, c.height, c.focal, c.focal, c.cx, c.cy) for c in script.CAMERAS}
        self.objects = script.OBJECTS
        self._renderers = {c.name: CameraRenderer(c, script.ROOM) for c in script.CAMERAS}
        self._cache: "collections.OrderedDict[Tuple[int, str], Rendering]" = collections.OrderedDict()

    # --- frames ----------------------------------------------------------------------------------------------
    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.frame_count:
            raise IndexError(f"frame {index} is outside the sample's {self.frame_count} frames")

    def rendering(self, index: int, camera: str) -> Rendering:
        """Colour, z-depth and object-id map of frame `index` for `camera` (cached)."""
        self._check_index(index)
        if camera not in self.cameras:
            raise KeyError(f"unknown camera '{camera}' (cameras: {', '.join(CAMERA_NAMES)})")
        key = (index, camera)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        t = float(self.times_s[index])
        rotation, centre = camera_pose(self.cameras[camera], script.WEARER.head_position(t),
                                       script.WEARER.head_pitch_down_deg(t))
        placed = [(obj, obj.path.position(t)) for obj in self.objects if obj.path.position(t) is not None]
        result = self._renderers[camera].render(rotation, centre, placed)
        self._cache[key] = result
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    def _delivered(self, index: int, camera: str) -> np.ndarray:
        colour = cv2.GaussianBlur(self.rendering(index, camera).colour, (0, 0), LENS_BLUR_SIGMA[camera])
        return colour if self.cameras[camera].colour else cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)

    def render_rgb(self, index: int) -> np.ndarray:
        """RGB image of frame `index`: (1408, 1408, 3) uint8, upright, linear pinhole (intrinsics["rgb"])."""
        return self._delivered(index, "rgb")

    def render_slam(self, index: int, side: str) -> np.ndarray:
        """SLAM image of frame `index`, side "left" or "right": (480, 640) uint8 grey, upright, linear pinhole."""
        if side not in SLAM_SIDES:
            raise KeyError(f"unknown SLAM side '{side}' (left or right)")
        return self._delivered(index, f"slam_{side}")

    def depth(self, index: int, camera: str) -> np.ndarray:
        """Exact z-depth (metres along the optical axis, float32, native resolution) of a camera's frame."""
        return self.rendering(index, camera).depth

    def depth_rgb(self, index: int) -> np.ndarray:
        """Exact z-depth of the RGB frame: (1408, 1408) float32 metres, finite everywhere (the room is closed)."""
        return self.depth(index, "rgb")

    def frame_index_at(self, device_ns: int) -> int:
        """The frame shown at device time `device_ns` (the latest frame not after it), also for looped replay,
        where each loop shifts device time by duration_s."""
        period = self.frame_count * self.frame_period_ns
        offset = (int(device_ns) - self.device_start_ns) % period
        return offset // self.frame_period_ns

    # --- ground truth -----------------------------------------------------------------------------------------
    def _objects_in(self, index: int, camera: str) -> List[ObjectTruth]:
        rendering = self.rendering(index, camera)
        spec, intrinsics = self.cameras[camera], self.intrinsics[camera]
        head = np.asarray(script.WEARER.head_position(float(self.times_s[index])))
        found = []
        for obj in self.objects:
            rows, cols = np.nonzero(rendering.ids == obj.track_id)
            if rows.size < MIN_VISIBLE_PIXELS:
                continue
            z = rendering.depth[rows, cols].astype(float)
            optical = np.stack([(cols - intrinsics.cx) / intrinsics.fx * z, (rows - intrinsics.cy) / intrinsics.fy * z,
                                z], axis=1)
            world = optical @ rendering.rotation.T + rendering.centre
            dx, dz = world[:, 0] - head[0], world[:, 2] - head[2]
            bearing = math.degrees(math.atan2(dx.mean(), dz.mean()))
            box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
            truncated = box[0] == 0 or box[1] == 0 or box[2] == spec.width or box[3] == spec.height
            found.append(ObjectTruth(
                track_id=obj.track_id, class_id=obj.class_id, class_name=obj.class_name, camera=camera,
                box_xyxy=tuple(float(v) for v in box), distance_m=round(float(np.median(z)), 4),
                range_m=round(float(np.median(np.hypot(dx, dz))), 4),
                bearing_deg=round(bearing, 3) + 0.0,  # + 0.0 turns -0.0 into 0.0
                direction=direction_of(bearing), visible_pixels=int(rows.size), truncated=truncated))
        return found

    def ground_truth(self, index: int, cameras: Sequence[str] = CAMERA_NAMES) -> FrameTruth:
        """Objects visible in frame `index` (each camera listed separately), from the ray cast's id map."""
        objects = [obj for camera in cameras for obj in self._objects_in(index, camera)]
        return FrameTruth(index, int(self.stamps_ns[index]), round(float(self.times_s[index]), 4), objects)

    def motion_phases(self) -> List[Tuple[str, float, float]]:
        """(phase, start_s, end_s): "walking" then "standing", what the IMU shows."""
        return script.WEARER.phases(self.duration_s)

    def imu(self) -> imu_synthesis.ImuSamples:
        """IMU samples at script.IMU_RATE_HZ over the whole recording (see aria_nav/core/sample/imu.py)."""
        return imu_synthesis.synthesize(self.duration_s)

    def camera_table(self) -> Dict[str, dict]:
        table = {}
        for name, spec in self.cameras.items():
            k = self.intrinsics[name]
            table[name] = {"width": k.width, "height": k.height, "fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy,
                           "model": "linear pinhole, no distortion", "encoding": "rgb8" if spec.colour else "mono8",
                           "yaw_right_deg": spec.yaw_right_deg, "pitch_down_deg": spec.pitch_down_deg,
                           "offset_in_head_m": list(spec.offset), "frame_id": FRAME_IDS[name]}
        return table

    def ground_truth_file(self, frames: Optional[Sequence[FrameTruth]] = None) -> GroundTruthFile:
        """The whole ground truth, from `frames` (ground_truth(i) of every frame) or computed here (renders every
        frame of every camera: about a minute)."""
        frames = list(frames) if frames is not None else [self.ground_truth(i) for i in range(self.frame_count)]
        phases = self.motion_phases()
        events = frame_events(frames, CAMERA_NAMES) + motion_events(phases, self.device_start_ns,
                                                                    1.0 / self.frame_rate_hz)
        imu = {"rate_hz": script.IMU_RATE_HZ, "count": int(round(self.duration_s * script.IMU_RATE_HZ)),
               "frame_id": topics.IMU_FRAME, "axes": "x forward, y left, z up (at the head)",
               "accel_noise_std": script.IMU_ACCEL_NOISE, "gyro_noise_std": script.IMU_GYRO_NOISE,
               "phases": [{"phase": name, "start_s": start, "end_s": end} for name, start, end in phases]}
        objects = [{"track_id": o.track_id, "class_id": o.class_id, "class_name": o.class_name, "role": o.role}
                   for o in self.objects]
        return GroundTruthFile(frames, sort_events(events, CAMERA_NAMES), self.camera_table(), imu, objects,
                               self.frame_rate_hz, self.device_start_ns)


@functools.lru_cache(maxsize=1)
def default_scene() -> SampleScene:
    """One SampleScene shared by the whole process (its renderers hold ~30 MB of ray directions and a cache)."""
    return SampleScene()
