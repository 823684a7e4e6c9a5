"""Deterministic regression replay: the graph runs on a recording in lock-step, and what it answers becomes a
RunRecord (aria_nav.core.replay) to compare with a golden file.

The graph's nodes run as usual, through aria_nav.runner.Runner, with process_every_frame:=true (reliable QoS,
every frame processed once, in order). This process plays the camera (aria_nav.replay.feed: the camera node's own
sources and messages, stamped with device time) and publishes one camera frame at a time, only after the graph's
answers to the previous one have all arrived:
  - an RGB frame: its detections, its depth image and the obstacles fusion made of them;
  - a SLAM frame: that detector's detections when its frame_skip takes the frame, and the obstacles fusion made
    of them when fusion uses the SLAM cameras.
IMU samples go out as they come, before the frames that follow them in time. So every node, fusion included, sees
its inputs in one fixed order, whatever the machine's speed: the outputs depend on the recording and the settings
only. Two things of the live graph are set aside because they follow the host clock, not the recording:
  - the speech node (its queue drops and delays utterances by wall-clock time) is not started; the record holds
    what fusion asked to say and the sentence the speech node makes of it (same phrase table and style);
  - fusion's stale-input watchdog (stale_after_s) is set to its maximum, and its rate floors (the "slow" input
    check) to nothing: lock-step frames come as fast as the machine computes them, not at the recording's rate.
Inference runs with one ONNX Runtime intra-op thread (intra_op_threads: 1) unless overridden: results are then
bit-identical from run to run on a machine, and two nodes computing at once do not fight over the cores.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

from rclpy.parameter import parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient

from aria_nav import graph, paths
from aria_nav.core.replay import Announcement, FrameRecord, RunRecord
from aria_nav.core.sources import IMU, Frame, SourceError, open_source
from aria_nav.core.sources.base import RGB, SLAM_LEFT, SLAM_RIGHT
from aria_nav.core.speech.phrases import TABLES
from aria_nav.replay.feed import FramePublisher, camera_settings, params_file_section, published_sizes
from aria_nav.replay.outputs import DEPTH, DETECTIONS, OBSTACLES, Key, OutputCollector
from aria_nav.replay.session import GraphFailure, GraphSession
from aria_nav.ros.intake import effective_frame_skip
from aria_nav.ros.speech_params import PARAMS as SPEECH_PARAMS
from aria_nav.runner import LaunchError, Runner

SOURCES = ("bag", "vrs", "video")
NOT_REPLAYED = ("camera", "speech", "rviz")  # the camera is played by this process; see the module doc
DETECTOR_CAMERAS = {"detector": RGB, "slam_detector_left": SLAM_LEFT, "slam_detector_right": SLAM_RIGHT}
INFERENCE_NODES = tuple(DETECTOR_CAMERAS) + ("depth",)
MODEL_ARGUMENTS = {"detector": "yolo_model", "slam_detector_left": "slam_yolo_model",
                   "slam_detector_right": "slam_yolo_model", "depth": "depth_model"}
STALE_AFTER_MAX_S = 600.0  # fusion's stale_after_s maximum
NO_RATE_FLOOR_HZ = 1e-6  # fusion's detections_min_rate_hz / depth_min_rate_hz: no input is ever "slow"
SETTLE_S = 1.0  # after the last frame: for the speech requests fusion sent with the last obstacles
CONNECT_SETTLE_S = 2.0  # before the first frame: no match changed for this long (Replay._connect)
CHECK_PERIOD_S = 0.5


class ReplayError(Exception):
    """The replay cannot run as asked (input, settings, graph); one line for the user."""


@dataclass
class ReplayConfig:
    input: str
    source: str = "bag"
    arguments: Dict[str, str] = field(default_factory=dict)  # launch arguments, as after name:=
    overrides: Dict[str, Dict[str, object]] = field(default_factory=dict)  # node -> parameter -> value
    stride: int = 1  # replay every stride-th frame of the recording (IMU samples all)
    start_timeout_s: float = 300.0
    frame_timeout_s: float = 120.0

    @property
    def settings(self) -> Dict[str, object]:
        """What reproduces the run (stored in the golden file)."""
        return {"source": self.source, "stride": self.stride, "arguments": dict(sorted(self.arguments.items())),
                "overrides": {node: dict(sorted(p.items())) for node, p in sorted(self.overrides.items())}}


Progress = Callable[[int, float, float], None]  # (frame index, t_s, seconds per frame so far)


def model_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return f"{path.name} sha256:{digest.hexdigest()[:16]}"


def model_path(text: str) -> Path:
    """A model argument or parameter as the nodes resolve it: relative paths are in the models folder."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else paths.models_dir() / path


def _node_overrides(config: ReplayConfig, nodes: List[str]) -> Dict[str, Dict[str, object]]:
    overrides = {}
    for name in nodes:
        defaults = {"intra_op_threads": 1} if name in INFERENCE_NODES else {}
        if name == "fusion":
            defaults.update(stale_after_s=STALE_AFTER_MAX_S, detections_min_rate_hz=NO_RATE_FLOOR_HZ,
                            depth_min_rate_hz=NO_RATE_FLOOR_HZ)
        overrides[name] = {**defaults, **config.overrides.get(name, {})}
    unknown = sorted(set(config.overrides) - set(nodes) - {"camera"})
    if unknown:
        raise ReplayError(f"parameter overrides for {', '.join(unknown)}, which replay does not run (it runs "
                          f"{', '.join(nodes)}, and plays the camera itself)")
    return overrides


class _Replay:
    def __init__(self, config: ReplayConfig, echo):
        if config.source not in SOURCES:
            raise ReplayError(f"source '{config.source}' cannot be replayed: use one of {', '.join(SOURCES)}")
        if config.stride < 1:
            raise ReplayError(f"stride {config.stride} is not a positive whole number")
        self.config = config
        try:
            self.values = graph.resolve_arguments({**config.arguments, "process_every_frame": "true"})
        except graph.GraphError as exc:
            raise ReplayError(str(exc)) from None
        self.nodes = [spec.name for spec in graph.enabled_nodes(self.values) if spec.name not in NOT_REPLAYED]
        self.overrides = _node_overrides(config, self.nodes)
        params_file = str(self.values["params_file"])
        try:
            self.runner = Runner({**config.arguments, "process_every_frame": "true"}, nodes=self.nodes,
                                 overrides=self.overrides, output=self._node_output)
            self.camera = camera_settings(params_file, config.overrides.get("camera", {}))
        except (graph.GraphError, LaunchError, ValueError) as exc:
            raise ReplayError(str(exc)) from None
        self.cameras = [DETECTOR_CAMERAS[n] for n in self.nodes if n in DETECTOR_CAMERAS]
        streams = [RGB, IMU] + [c for c in (SLAM_LEFT, SLAM_RIGHT) if c in self.cameras]
        try:
            self.source = open_source(config.source, config.input, streams, undistort=bool(self.camera["undistort"]),
                                      sizes=published_sizes(self.camera),
                                      video_hfov_deg=float(self.camera["video_hfov_deg"]))
        except (SourceError, ValueError) as exc:
            raise ReplayError(str(exc)) from None
        if RGB not in self.source.streams:
            raise ReplayError(f"{self.source.description}: has no RGB camera frames to replay")
        speech = {p.name: p.default for p in SPEECH_PARAMS}
        speech.update(params_file_section(params_file, "speech"))
        if speech["language"] not in TABLES:
            raise ReplayError(f"speech parameter 'language': '{speech['language']}' is not one of {', '.join(TABLES)}")
        self.phrases, self.direction_style = TABLES[speech["language"]], speech["direction_style"]
        self.models = {}  # fingerprints of the model files (a missing one fails its node, reported then)
        for node in self.nodes:
            if node in MODEL_ARGUMENTS:
                path = model_path(str(self.overrides[node].get("model", self.values[MODEL_ARGUMENTS[node]])))
                if path.is_file():
                    self.models[node] = model_fingerprint(path)
        self.echo = echo
        self.session: Optional[GraphSession] = None

    def _node_output(self, source: str, line: str) -> None:
        self.session.output(source, line)  # the runner starts after the session exists

    def _start(self) -> None:
        self.session = GraphSession("aria_nav_replay", self.echo)
        self.feed = FramePublisher(self.session.node, list(self.source.streams), published_sizes(self.camera),
                                   float(self.camera["imu_rate_hz"]))
        self.outputs = OutputCollector(self.session.node, self.cameras)

    # -- set-up -------------------------------------------------------------------------------------------------
    def _remote_parameters(self, node: str, names: List[str]) -> Dict[str, object]:
        client = AsyncParameterClient(self.session.node, node)
        if not client.wait_for_services(timeout_sec=10.0):
            raise GraphFailure(f"node {node} offers no parameter services")
        future = client.get_parameters(names)
        self.session.wait_until(future.done, 10.0, f"node {node} did not answer a parameter request")
        return {name: parameter_value_to_python(value) for name, value in zip(names, future.result().values)}

    def _frame_skips(self) -> Dict[str, int]:
        """frame_skip of each running detector (by camera), as the nodes run; detector and depth must be 1."""
        skips = {}
        for name in (n for n in self.nodes if n in DETECTOR_CAMERAS):
            values = self._remote_parameters(name, ["frame_skip", "gpu_frame_skip", "device"])
            skips[DETECTOR_CAMERAS[name]] = effective_frame_skip(int(values["frame_skip"]),
                                                                 int(values["gpu_frame_skip"]),
                                                                 str(values["device"]).startswith("cuda"))
        depth_skip = int(self._remote_parameters("depth", ["frame_skip"])["frame_skip"])
        if skips[RGB] != 1 or depth_skip != 1:
            raise ReplayError(f"replay needs every RGB frame detected and depth-estimated: frame_skip is "
                              f"{skips[RGB]} (detector) and {depth_skip} (depth); set both to 1")
        return skips

    def _first_frames(self) -> List[Frame]:
        firsts: Dict[str, Frame] = {}
        for item in self.source.items():
            if isinstance(item, Frame) and item.stream not in firsts:
                firsts[item.stream] = self.feed.prepare(item)
                if len(firsts) == len(self.source.streams) - (IMU in self.source.streams):
                    break
        return list(firsts.values())

    def _connected(self) -> bool:
        node = self.session.node
        for publisher in self.feed.publishers:
            matched = publisher.get_subscription_count()
            if matched == 0 or matched < len(node.get_subscriptions_info_by_topic(publisher.topic_name)):
                return False
        return (all(s.get_publisher_count() > 0 for s in self.outputs.subscriptions)
                and self.outputs.has_class_names())

    def _match_counts(self) -> List[int]:
        return ([publisher.get_subscription_count() for publisher in self.feed.publishers]
                + [subscription.get_publisher_count() for subscription in self.outputs.subscriptions])

    def _connect(self) -> None:
        """Until every replayed topic reaches all its subscribers, every output topic is matched, and no match has
        changed for CONNECT_SETTLE_S: this side sees a node's reader before that reader has matched this writer,
        and a volatile reader drops what was sent before, so the first frame could be lost and the lock-step would
        wait for it in vain (seen on a loaded machine). The cameras' CameraInfo goes out meanwhile (as a running
        camera node would have sent it): it changes no output."""
        firsts = self._first_frames()
        deadline = time.monotonic() + 30.0
        counts, settled_at = None, None
        while True:
            connected, now_counts = self._connected(), self._match_counts()
            if not connected or now_counts != counts:
                counts, settled_at = now_counts, time.monotonic() + CONNECT_SETTLE_S
            elif time.monotonic() >= settled_at:
                return
            for frame in firsts:
                self.feed.publish_info(frame)
            self.session.check_nodes()
            if time.monotonic() > deadline and not connected:
                raise GraphFailure("the replay's topics did not connect to the graph within 30 s"
                                   + self.session.recent_output())
            time.sleep(0.1)

    # -- lock-step ----------------------------------------------------------------------------------------------
    def _wait(self, expected: List[Key], what: str) -> None:
        deadline = time.monotonic() + self.config.frame_timeout_s
        while True:
            missing = self.outputs.wait_for(expected, min(CHECK_PERIOD_S, max(0.0, deadline - time.monotonic())))
            if self.outputs.errors:
                raise GraphFailure(f"undecodable output: {self.outputs.errors[0]}")
            if not missing:
                return
            self.session.check_nodes()
            if time.monotonic() >= deadline:
                raise GraphFailure(f"{what}: no {', '.join(f'{kind} ({camera})' for kind, camera, _ in missing)} "
                                   f"within {self.config.frame_timeout_s:g} s" + self.session.recent_output())

    def run(self, progress: Optional[Progress]) -> RunRecord:
        self._start()
        self.session.start(self.runner)
        self.session.wait_started(self.nodes, self.config.start_timeout_s)
        skips = self._frame_skips()
        use_slam = bool(self._remote_parameters("fusion", ["use_slam_cameras"])["use_slam_cameras"])
        self._connect()
        received = {camera: 0 for camera in skips}
        group, first_stamp, started = -1, None, time.monotonic()
        groups: Dict[int, int] = {}  # source stamp -> frame index
        frames: Dict[int, FrameRecord] = {}
        for item in self.source.items():
            if item.stream == IMU:
                self.feed.publish(item)
                continue
            if item.stream == RGB:
                group += 1
            if group < 0 or group % self.config.stride:
                continue  # SLAM frames before the first RGB frame, or a frame the stride leaves out
            stamp = item.device_ns
            first_stamp = stamp if first_stamp is None else first_stamp
            record = frames.setdefault(group, FrameRecord(group, round((stamp - first_stamp) / 1e9, 4)))
            groups[stamp] = group
            camera = item.stream
            self.feed.publish(self.feed.prepare(item))
            detected = received[camera] % skips[camera] == 0
            received[camera] += 1
            expected = [(DETECTIONS, camera, stamp)] if detected else []
            if camera == RGB:
                expected += [(DEPTH, RGB, stamp), (OBSTACLES, RGB, stamp)]
            elif detected and use_slam:
                expected.append((OBSTACLES, camera, stamp))
            self._wait(expected, f"frame {group} ({camera})")
            if detected:
                record.detections[camera] = self.outputs.detections_of(camera, stamp)
            if camera == RGB:
                record.depth = self.outputs.depth_of(stamp)
            if (OBSTACLES, camera, stamp) in expected:
                record.obstacles[camera] = self.outputs.obstacles_of(camera, stamp)
            if progress is not None and camera == RGB:
                progress(group, record.t_s, (time.monotonic() - started) / len(frames))
        if first_stamp is None:
            raise ReplayError(f"{self.source.description}: no RGB frame to replay")
        time.sleep(SETTLE_S)
        self.session.check_nodes()
        return RunRecord(self.config.input, self.config.settings, self.models, list(frames.values()),
                         self._announcements(groups, first_stamp))

    def _announcements(self, groups: Dict[int, int], first_stamp: int) -> List[Announcement]:
        requests = sorted(self.outputs.requests, key=lambda r: r.stamp_ns)  # stable: fusion's order per frame
        return [Announcement(groups.get(r.stamp_ns, -1), round((r.stamp_ns - first_stamp) / 1e9, 4), r.event,
                             r.urgency, self.phrases.sentence(r, self.direction_style)) for r in requests]

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
        self.source.close()


def run_replay(config: ReplayConfig, progress: Optional[Progress] = None,
               echo: Optional[Callable[[str, str], None]] = None) -> RunRecord:
    """Runs the graph on config.input in lock-step and returns what it answered. Raises ReplayError (input,
    settings) or GraphFailure (a node died or did not answer); `echo` gets every node output line."""
    replay = _Replay(config, echo)
    try:
        return replay.run(progress)
    finally:
        replay.close()
