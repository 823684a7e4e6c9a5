"""The hazard scene (aria_nav.core.sample.hazard_scene) played into the graph in place of the camera, the detectors
and the depth node: `aria-nav demo --scene hazards`.

A few seconds of the clear corridor, then the approach of each hazard episode (wall, pole, head-height board, kerb
down, steps up, the named person), rendered before playing (ray casting takes ~0.1 s a frame at 352 px on a busy
2-core CPU: it would not keep up in real time) and then played in real time on host-clock stamps, as a live camera
would: the RGB picture (the scene has no colours: a shaded picture of its depth, hazard_scene.shaded) with its
camera_info, the IMU at 200 Hz, the named episode's detection box (person; an empty detection set on every other
frame, as a detector finding nothing), the exact metric depth with the depth mode "metric", and at the end the
source state "ended" (as the camera node says at a recording's end), so fusion says "End of recording." and not
"Vision degraded". `timeline` keeps every played frame's stamp, episode and true hazard distance for the checks
(aria_nav.demo.check.check_hazards).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import cv2
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, Imu
from std_msgs.msg import String

from aria_nav import topics
from aria_nav.core.detection.detections import Detections
from aria_nav.core.sample import hazard_scene
from aria_nav.core.sources.base import RGB, ImuSample
from aria_nav.demo.ground_truth import PerceptionPublishers
from aria_nav.ros.conversions import header_at, imu_message
from aria_nav.ros.conversions import array_to_image, intrinsics_to_camera_info
from aria_nav.ros.qos import latched_qos, replay_qos

SCENE_NAME = "hazards"
SIZE = 352  # rendered depth, pixels (square): the sample's true depth size
RGB_SIZE = 704  # the shaded picture is published (and the video made) at the sample's RGB size, for legible text
CLEAR_S = 3.0  # of the clear corridor first: nothing is to be said
# Each approach from 1.5 s in (5.2 m before the hazard: the corridor model looks 4 m ahead, announcements reach 5 m)
# to its end, 1 m before it.
APPROACH_FROM_S = 1.5
START_LEAD_S = 0.3  # the first stamp lies this far after playing starts
SUBSCRIBER_WAIT_S = 30.0
NAMED_CLASS_ID = 0  # COCO "person", the named episode's class


@dataclass(frozen=True)
class PlayedFrame:
    stamp_ns: int
    episode: str
    kind: Optional[str]  # the episode's hazard kind (None: clear corridor)
    expected: str  # the name the wearer should hear ("" on the clear corridor)
    truth_m: Optional[float]  # true horizontal distance to the hazard's nearest part


@dataclass
class _Rendered:
    episode: hazard_scene.Episode
    frame: hazard_scene.EpisodeFrame
    rgb: np.ndarray


def expected_name(episode: hazard_scene.Episode) -> str:
    """What the wearer should hear of the episode's hazard: its corridor name, or the named object's class."""
    from aria_nav.core.hazards.names import HAZARD_NAMES

    return episode.named_class or HAZARD_NAMES.get(episode.kind, "")


def played_episodes() -> List[Tuple[hazard_scene.Episode, float, float]]:
    """(episode, from s, until s) in playing order."""
    chosen = []
    for episode in hazard_scene.episodes():
        if episode.kind is None:
            chosen.append((episode, 0.0, CLEAR_S))
        else:
            chosen.append((episode, APPROACH_FROM_S, episode.duration_s))
    return chosen


def scene_description() -> str:
    names = ", ".join(e.name for e, _, _ in played_episodes())
    return (f"the hazard scene (aria_nav/core/sample/hazard_scene.py: {names}; camera {hazard_scene.EYE_HEIGHT_M} m "
            f"high, pitched {hazard_scene.PITCH_DOWN_DEG:g} deg down, walking {hazard_scene.SPEED_MPS} m/s)")


def scene_frame_count(max_duration_s: float = 0.0) -> int:
    count = sum(int(round((until - start) * hazard_scene.FRAME_RATE_HZ)) for _, start, until in played_episodes())
    if max_duration_s > 0:
        count = min(count, int(round(max_duration_s * hazard_scene.FRAME_RATE_HZ)))
    return count


class HazardScenePlayer:
    """`render()` (call it in a thread while the nodes start), then `play(stop)` on the thread that waits for it."""

    def __init__(self, node: Node, max_duration_s: float = 0.0):
        self._node = node
        self._frames_wanted = scene_frame_count(max_duration_s)
        self._intrinsics = hazard_scene.intrinsics_at(SIZE)
        self._rgb_intrinsics = hazard_scene.intrinsics_at(RGB_SIZE)
        self._rendered: List[_Rendered] = []
        self.rendered = threading.Event()
        self.timeline: List[PlayedFrame] = []
        qos = replay_qos()  # reliable, as the demo's camera: the demo counts every frame it sent
        self._image_pub = node.create_publisher(Image, topics.RGB_IMAGE, qos)
        self._info_pub = node.create_publisher(CameraInfo, topics.RGB_INFO, qos)
        self._imu_pub = node.create_publisher(Imu, topics.IMU, qos)
        self._state_pub = node.create_publisher(String, topics.SOURCE_STATE, latched_qos())
        self._outputs = PerceptionPublishers(node, cameras=(RGB,))

    def render(self) -> None:
        for episode, start, until in played_episodes():
            for frame in hazard_scene.frames(episode, SIZE, from_s=start, until_s=until):
                if len(self._rendered) >= self._frames_wanted:
                    break
                self._rendered.append(_Rendered(episode, frame, hazard_scene.shaded(frame.depth, self._intrinsics)))
        self.rendered.set()

    def rendered_frames(self) -> int:
        return len(self._rendered)

    def progress(self) -> str:
        return f"{len(self._rendered)}/{self._frames_wanted} frames"

    def _wait_for_fusion(self, stop: threading.Event) -> None:
        """Until fusion's subscriptions are matched (a reliable publisher does not keep what was sent before)."""
        publishers = [self._imu_pub, self._info_pub, self._image_pub]
        topics_read = (topics.IMU, topics.RGB_INFO, topics.DETECTIONS, topics.DEPTH_IMAGE)
        deadline = time.monotonic() + SUBSCRIBER_WAIT_S
        while not stop.is_set() and time.monotonic() < deadline:
            by_fusion = all(any(info.node_name == "fusion" for info in self._node.get_subscriptions_info_by_topic(t))
                            for t in topics_read)
            if by_fusion and all(p.get_subscription_count() > 0 for p in publishers):
                return
            stop.wait(0.05)

    def play(self, stop: threading.Event, on_frame: Callable[[int], None] = lambda _: None) -> bool:
        """Plays the rendered frames in real time; True when it played to the end (then says "ended")."""
        self._wait_for_fusion(stop)
        self._publish_state("playing")
        period_ns = round(1e9 / hazard_scene.FRAME_RATE_HZ)
        start_ns = time.time_ns() + round(START_LEAD_S * 1e9)
        for index, item in enumerate(self._rendered):
            stamp_ns = start_ns + index * period_ns
            for time_s, force, rate in item.frame.imu:  # the samples since the previous frame, at 200 Hz
                sample_ns = stamp_ns + round((time_s - item.frame.time_s) * 1e9)
                if not self._wait_until(sample_ns, stop):
                    return False
                sample = ImuSample(sample_ns, tuple(float(v) for v in force), tuple(float(v) for v in rate))
                self._imu_pub.publish(imu_message(sample, header_at(sample_ns, topics.IMU_FRAME)))
            self._publish_frame(item, stamp_ns)
            on_frame(index)
        self._publish_state("ended")
        return True

    def _publish_frame(self, item: _Rendered, stamp_ns: int) -> None:
        header = header_at(stamp_ns, topics.RGB_FRAME)
        frame, episode = item.frame, item.episode
        self.timeline.append(PlayedFrame(stamp_ns, episode.name, episode.kind, expected_name(episode),
                                         frame.truth_distance_m))
        self._info_pub.publish(intrinsics_to_camera_info(self._rgb_intrinsics, header))
        rgb = cv2.resize(item.rgb, (RGB_SIZE, RGB_SIZE), interpolation=cv2.INTER_LINEAR)
        self._image_pub.publish(array_to_image(rgb, "rgb8", header))
        self._outputs.depth(frame.depth, self._intrinsics, header)
        scale = RGB_SIZE / SIZE  # the box is in the rendered picture's pixels; detections are in the RGB image's
        boxes = [[v * scale for v in frame.named_box]] if frame.named_box is not None else []
        self._outputs.detections(RGB, Detections(np.array(boxes, np.float32).reshape(-1, 4),
                                                 np.ones(len(boxes), np.float32), [NAMED_CLASS_ID] * len(boxes)),
                                 header)

    @staticmethod
    def _wait_until(stamp_ns: int, stop: threading.Event) -> bool:
        delay = (stamp_ns - time.time_ns()) / 1e9
        if delay > 0:
            stop.wait(delay)
        return not stop.is_set()

    def _publish_state(self, state: str) -> None:
        self._state_pub.publish(String(data=json.dumps({"state": state, "source": f"scene {SCENE_NAME}",
                                                        "live": False})))


def scene_input(max_duration_s: float = 0.0):
    """The scene as the demo's input (aria_nav.demo.inputs.DemoInput)."""
    from aria_nav.demo.inputs import DemoInput

    return DemoInput("scene", SCENE_NAME, scene_description(), scene_frame_count(max_duration_s), False)
