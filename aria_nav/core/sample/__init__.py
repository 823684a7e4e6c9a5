"""The project's own sample recording: a scripted, rendered scene with exact ground truth (ROS-free).

- `SampleScene` (scene.py): frames, intrinsics, rendered images, exact depth, ground truth, IMU.
- `GroundTruthFile` (truth.py): ground_truth.json loaded without rendering; `truth_path()` finds it.
- build.py writes the recording (`aria-nav sample build`); script.py is the scene's script.
"""
from aria_nav.core.sample.scene import CAMERA_NAMES, SampleScene, default_scene
from aria_nav.core.sample.truth import Event, FrameTruth, GroundTruthFile, ObjectTruth, scaled_box

__all__ = ["CAMERA_NAMES", "Event", "FrameTruth", "GroundTruthFile", "ObjectTruth", "SampleScene", "default_scene",
           "scaled_box"]
