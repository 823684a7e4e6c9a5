"""Describe node: "what is around me?" on request, spoken at the lowest priority (docs/guidance.md "Scene
description").

Requests: the std_srvs/Trigger service /aria_nav/describe (the response's message is the sentence) or any message
on /aria_nav/describe/request (std_msgs/Empty). The answer is the obstacle summary of the latest tracked obstacles
(aria_nav.core.describe.summary); with vlm_model set, the summary and a vision-language model's sentence about the
newest RGB image, unless the model takes longer than vlm_budget_s (then the summary alone). It goes to the speech
node as a description request (urgency describe: any warning interrupts it) and is published on
/aria_nav/describe/description. The model runs on a worker thread; the executor never waits for it.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Dict, List, Optional, Tuple

from aria_nav_msgs.msg import ObstacleArray
from aria_nav_msgs.msg import SpeechRequest as SpeechRequestMsg
from sensor_msgs.msg import Image
from std_msgs.msg import Empty, String
from std_srvs.srv import Trigger
from vision_msgs.msg import LabelInfo

from aria_nav import topics
from aria_nav.core.describe.budget import FAILED, FALLBACK, MODEL, SUMMARY, Description, DescriptionJob, run_model
from aria_nav.core.describe.summary import TABLES, SceneObstacle, summarize
from aria_nav.core.describe.vlm import DescriberError, TransformersDescriber, clean_sentence, merge
from aria_nav.core.fusion.obstacle import CAMERAS, RGB
from aria_nav.core.latest import LatestWorker
from aria_nav.core.speech.request import APPROXIMATE, DESCRIBE, DESCRIPTION, SpeechRequest
from aria_nav.ros.conversions import ImageFormatError, image_to_rgb
from aria_nav.ros.depth_mode import msg_to_distance_kind
from aria_nav.ros.describe_params import PARAMS
from aria_nav.ros.detections import DetectionFormatError, msg_to_class_names
from aria_nav.ros.diagnostics import INPUT_LOG_PERIOD_S, OK, WARN, NodeDiagnostics
from aria_nav.ros.obstacles import ObstacleFormatError, band_name, direction_name, msg_to_records, record_name
from aria_nav.ros.params import ConfigError, declare_parameters
from aria_nav.ros.qos import latched_qos, reliable_qos, sensor_qos
from aria_nav.ros.runtime import AriaNode, main_for
from aria_nav.ros.speech_msgs import request_to_msg

KEY = "describe"  # speech key: a newer description replaces a queued one
_COUNTERS = {MODEL: "said_model", SUMMARY: "said_summary", FALLBACK: "model_too_slow", FAILED: "model_failed"}
TRIGGER_POLL_S = 0.02  # a Trigger call waiting for the model blocks the executor this long at a time


class DescribeNode(AriaNode):
    def __init__(self):
        super().__init__("describe")
        self.cfg = declare_parameters(self, PARAMS)
        cfg = self.cfg
        self.table = TABLES[cfg.language]
        self.diag = NodeDiagnostics(self)
        self._class_names: Dict[int, List[str]] = {code: [] for code in range(len(CAMERAS))}
        self._obstacles: Dict[str, Tuple[float, object]] = {}  # frame id -> (arrival, records)
        self._distance_kind = APPROXIMATE  # metres only once the depth stage says they are measured
        self._image: Optional[Tuple[float, Image]] = None
        self._job: Optional[DescriptionJob] = None
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(("requests", *_COUNTERS.values()), 0)
        self.describer = None
        self._worker = None
        if cfg.vlm_model:
            try:
                self.describer = TransformersDescriber(cfg.vlm_model, cfg.vlm_device, cfg.vlm_dtype,
                                                       cfg.vlm_max_new_tokens, cfg.language)
            except DescriberError as exc:
                raise ConfigError(str(exc)) from None
            self._worker = LatestWorker(self._run_model, self._on_worker_error, name="describe")
            self.create_subscription(Image, topics.RGB_IMAGE, self._on_image, sensor_qos())
            if self.describer.test_model:
                self.get_logger().warning(f"{self.describer.name} is a test model with random weights: its words "
                                          f"mean nothing (said as such)")
        self._speech_pub = self.create_publisher(SpeechRequestMsg, topics.SPEECH_REQUEST, reliable_qos())
        self._description_pub = self.create_publisher(String, topics.DESCRIPTION, reliable_qos())
        for camera, detections in zip(CAMERAS, (topics.DETECTIONS, topics.SLAM_LEFT_DETECTIONS,
                                                topics.SLAM_RIGHT_DETECTIONS)):
            code = CAMERAS.index(camera)
            self.create_subscription(LabelInfo, self.resolve_topic_name(detections) + topics.CLASS_NAMES_SUFFIX,
                                     lambda msg, code=code: self._on_class_names(code, msg), latched_qos())
        self.create_subscription(ObstacleArray, topics.OBSTACLES, self._on_obstacles, sensor_qos(depth=5))
        self.create_subscription(String, topics.DEPTH_MODE, self._on_depth_mode, latched_qos())
        self.create_subscription(Empty, topics.DESCRIBE_REQUEST, lambda _msg: self.request(), reliable_qos())
        self.create_service(Trigger, topics.DESCRIBE_SERVICE, self._on_trigger)
        self.create_timer(1.0, self._update_diagnostics)
        model = f"model {self.describer.name} on {cfg.vlm_device}, budget {cfg.vlm_budget_s:g} s" \
            if self.describer else "obstacle summary only"
        self.diag.set_value("model", model)
        self.get_logger().info(f"describe: {cfg.language}, {model}; ask with `ros2 service call "
                               f"{topics.DESCRIBE_SERVICE} std_srvs/srv/Trigger`")

    # ---- inputs --------------------------------------------------------------------------------------------

    def _on_class_names(self, code: int, msg: LabelInfo) -> None:
        try:
            self._class_names[code] = msg_to_class_names(msg)
        except DetectionFormatError as exc:
            self._input_error(f"{CAMERAS[code]}: {exc}")

    def _on_obstacles(self, msg: ObstacleArray) -> None:
        try:
            records = msg_to_records(msg)
        except ObstacleFormatError as exc:
            self._input_error(f"{topics.OBSTACLES}: {exc}")
            return
        self._obstacles[msg.header.frame_id] = (time.monotonic(), records.copy())

    def _on_depth_mode(self, msg: String) -> None:
        try:
            self._distance_kind = msg_to_distance_kind(msg)
        except ValueError as exc:
            self._input_error(str(exc))

    def _on_image(self, msg: Image) -> None:
        self._image = (time.monotonic(), msg)

    # ---- describing ----------------------------------------------------------------------------------------

    def scene_obstacles(self, now: float) -> Optional[List[SceneObstacle]]:
        """The fresh obstacles worth describing; None when no obstacle set is fresh (vision is not running)."""
        fresh = [records for arrived, records in self._obstacles.values()
                 if now - arrived <= self.cfg.obstacles_max_age_s]
        if not fresh:
            return None
        scene = []
        for records in fresh:
            for row in records:
                distance = float(row["distance_m"])
                if math.isfinite(distance) and distance > self.cfg.max_distance_m:
                    continue
                camera = int(row["camera"])
                name = record_name(row, self._class_names.get(camera, []))
                scene.append(SceneObstacle(name, direction_name(int(row["direction"])), distance,
                                           band_name(int(row["band"])), float(row["priority"]),
                                           float(row["bearing_deg"]), peripheral=camera != CAMERAS.index(RGB)))
        return scene

    def summary(self) -> str:
        scene = self.scene_obstacles(time.monotonic())
        if scene is None:
            return self.table.no_vision
        return summarize(scene, self.table, self._distance_kind, self.cfg.max_per_direction)

    def request(self) -> DescriptionJob:
        """Start a description (or join the one in progress); it is said once settled."""
        self._counts["requests"] += 1
        with self._lock:
            if self._job is not None and self._job.result is None:
                return self._job
            job = DescriptionJob(self.summary(), self.cfg.vlm_budget_s)
            self._job = job
        job.on_settled(self._say)
        image = self._fresh_image()
        if self.describer is None:
            job.finish(Description(job.summary, SUMMARY))
        elif image is None:
            job.finish(Description(job.summary, SUMMARY, f"no RGB image in the last {self.cfg.image_max_age_s:g} s"))
        else:
            timer = threading.Timer(self.cfg.vlm_budget_s, job.expire)
            timer.daemon = True
            timer.start()
            job.on_settled(lambda _description: timer.cancel())
            self._worker.submit((job, image))
        return job

    def _fresh_image(self):
        if self._image is None or time.monotonic() - self._image[0] > self.cfg.image_max_age_s:
            return None
        try:
            return image_to_rgb(self._image[1])
        except ImageFormatError as exc:
            self._input_error(f"{topics.RGB_IMAGE}: {exc}")
            return None

    def _run_model(self, item) -> None:
        job, image = item
        run_model(job, lambda cancelled: self.describer.describe(image, cancelled),
                  lambda sentence: merge(job.summary, clean_sentence(sentence, self.cfg.vlm_max_words),
                                         self.cfg.language, self.describer.test_model))
        timing = self.describer.last_timing
        if timing is not None:
            self.diag.set_value("model_last_s", f"{timing.total_s:.2f}")

    def _say(self, description: Description) -> None:
        """Runs on the thread that settled the job (executor, worker or budget timer)."""
        self._counts[_COUNTERS[description.source]] += 1
        self._speech_pub.publish(request_to_msg(SpeechRequest(
            event=DESCRIPTION, urgency=DESCRIBE, priority=0.0, key=KEY, stamp_ns=self.get_clock().now().nanoseconds,
            text=description.text)))
        self._description_pub.publish(String(data=description.text))
        detail = f" ({description.detail})" if description.detail else ""
        self.get_logger().info(f"description [{description.source}{detail}]: {description.text}")

    async def _on_trigger(self, _request, response):
        job = self.request()
        settled = job.result
        while settled is None:  # the model is working: wait in short steps, the executor serves others between
            settled = job.wait(TRIGGER_POLL_S)
            if settled is None:
                await _Yield()
        response.success = True
        response.message = settled.text
        return response

    # ---- errors and diagnostics ----------------------------------------------------------------------------

    def _input_error(self, message: str) -> None:
        self.diag.stats.record_error(message)
        self.get_logger().warning(message, throttle_duration_sec=INPUT_LOG_PERIOD_S)

    def _on_worker_error(self, exc: BaseException) -> None:
        self._input_error(f"description model: {exc}")

    def _update_diagnostics(self) -> None:
        for key, value in self._counts.items():
            self.diag.set_value(key, value)
        self.diag.set_value("distance_kind", self._distance_kind)
        fresh = self.scene_obstacles(time.monotonic()) is not None
        self.diag.set_status(OK if fresh else WARN, "ready" if fresh else f"no obstacles on {topics.OBSTACLES}")

    def close(self) -> None:
        if self._worker is not None:
            with self._lock:
                job = self._job
            if job is not None:
                job.expire()  # a model still generating stops at its next token
            self._worker.stop()


class _Yield:
    """Awaited by a coroutine callback: rclpy resumes it at the executor's next spin, after other ready work."""

    def __await__(self):
        yield


main = main_for(DescribeNode, "describe")
