"""`aria-nav demo`: the whole graph on a recording, as it runs live, with what it saw and said written to files.

Order of events:
 1. The input is opened and checked here (bad file: one line, nothing started).
 2. Every node except the camera starts (aria_nav.runner.Runner); the demo waits until each has published
    diagnostics, i.e. loaded its models: a recording played before that would be half missed.
 3. The camera node starts and plays the recording at its own pace (realtime) and exits at its end
    (exit_at_end). Every node works as it does live: newest frame first, frames it cannot keep up with dropped.
 4. This process watches: the benchmark's Collector (aria_nav.bench.graph) for rates and latency from the source
    stamps, fusion's annotated image for the video, the speech node's reports for what was said.
 5. After the input ends, the demo waits for the last utterances, stops the graph and writes the video.

With `--perception truth` (the default on the project's sample recording) the three detectors and the depth node
are replaced by the recording's ground truth (aria_nav.demo.ground_truth: its true objects and exact metric depth),
so fusion and speech, the real nodes, show the guidance policy with correct distances; `--perception model` runs
the models (the project's own have random weights: what they find and measure means nothing, and the demo says so).

With `--scene hazards` there is no camera node either: the hazard scene (aria_nav.demo.hazard_scene_player) is
rendered while the nodes start, then played from this process in real time in place of the camera, the detectors
and the depth node.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
from aria_nav_msgs.msg import SpeechRequest as SpeechRequestMsg
from aria_nav_msgs.msg import Utterance as UtteranceMsg
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String

from aria_nav import graph, paths, topics
from aria_nav.bench.graph import STAGES, Collector
from aria_nav.core.sample import GroundTruthFile
from aria_nav.core.sources.base import RGB
from aria_nav.core.speech.request import SpeechRequestError
from aria_nav.core.sample.build import truth_path
from aria_nav.core.sample.depth_truth import TrueDepth, true_depth
from aria_nav.demo.ground_truth import GroundTruthPerception, camera_offset
from aria_nav.demo.hazard_scene_player import HazardScenePlayer, PlayedFrame
from aria_nav.demo.inputs import DemoInput, random_weight_models
from aria_nav.demo.video import VIDEO_FPS, AnnotatedVideo, Utterance
from aria_nav.ros.camera_params import MISSING_INPUT
from aria_nav.replay.run import NO_RATE_FLOOR_HZ, model_path
from aria_nav.replay.session import GraphFailure, GraphSession
from aria_nav.ros.conversions import image_to_rgb
from aria_nav.ros.diagnostics import stamp_to_ns
from aria_nav.ros.qos import latched_qos, reliable_qos, replay_qos, sensor_qos
from aria_nav.ros.speech_msgs import msg_to_request, msg_to_spoken
from aria_nav.runner import Runner

PERCEPTION_NODES = ("detector", "slam_detector_left", "slam_detector_right", "depth")  # what truth replaces
CPU_DEPTH_MODEL = "depth_anything_v2_small_266.onnx"
# Depth takes ~0.5 s a frame on a CPU; fusion's default wait for a frame's depth (0.5 s) would then give up on most
# frames. Frames depth skips are still resolved at once (a later depth image arrives), so a longer wait costs nothing.
CPU_PAIR_MAX_WAIT_S = 2.0
PROCESSING_QUIET_S = 1.0  # after the input ended and fusion answered: this long without new outputs, all is done
SPEECH_DROPS = ("queue_duplicates", "queue_stale", "queue_overflow", "queue_replaced", "rejected")  # diagnostics
DRAIN_TIMEOUT_S = 20.0
STATUS_PERIOD_S = 0.25
RENDER_STALL_S = 60.0  # a frame takes ~0.1 s: a minute without one is a fault, said, not waited for forever
SCENE_STARTUP_GRACE_S = 120.0  # fusion awaits its first input this long: the scene is rendered before it plays


@dataclass
class DemoConfig:
    demo_input: DemoInput
    out: Path
    perception: str = "auto"  # auto (truth on the sample, else model) | truth | model
    arguments: Dict[str, str] = field(default_factory=dict)  # launch arguments (device, models, ...)
    max_duration_s: float = 0.0  # of the recording; 0: all of it
    start_timeout_s: float = 300.0


@dataclass
class Said:
    t_s: float  # source frame time, seconds from the first frame
    said_at_s: Optional[float]  # when the audio began, same clock (None: interrupted before)
    urgency: str
    text: str
    wav: Optional[str]
    interrupted: bool
    event: str = ""
    key: str = ""
    audio_s: float = 0.0  # length of the sentence's audio
    heard_s: float = 0.0  # how much of it was heard (less when cut off)
    request: Optional[dict] = None  # the speech request it answered (class_name, distance_m, camera, ...)
    stamp_ns: int = 0  # of the source frame it was about


@dataclass
class DemoResult:
    input: DemoInput
    device: str
    perception: str  # "model" or "truth"
    notes: List[str]  # CPU defaults, random weights, ground truth: said at the start and in the summary
    frames: int  # RGB frames the camera published
    duration_s: float
    stages: Dict[str, dict]  # stage -> outputs, rate_hz, latency p50/p95 ms
    said: List[Said]
    requests: int
    video: Optional[Path]
    video_frames: int
    wav_dir: Optional[Path]
    wav_files: int
    log: Path
    elapsed_s: float
    interrupted: bool = False
    truth: Optional[GroundTruthFile] = None  # the sample's, when it ran on the sample
    stamp_offset_ns: Optional[int] = None  # host stamp - the recording's device time (realtime replay)
    scene: Optional[List[PlayedFrame]] = None  # the hazard scene's played frames, when it ran on the scene
    # with ground-truth perception on the sample: per frame, track id -> the nearest visible part's horizontal
    # distance (what a spoken distance is checked against)
    true_nearest_m: Optional[List[Dict[int, float]]] = None


def _percentile(values: List[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class _Demo:
    def __init__(self, config: DemoConfig, show: Callable[[str], None], status: Callable[[str], None]):
        self.config = config
        self.show, self.status = show, status
        given = dict(config.arguments)
        self.notes: List[str] = []
        self.is_scene = config.demo_input.kind == "scene"
        # The scene replaces the camera: the camera's launch arguments keep their defaults (the camera never starts).
        source = {} if self.is_scene else {"source": config.demo_input.kind, "input": config.demo_input.path}
        values = graph.resolve_arguments({**given, **source})
        self.device = str(values["device"])
        self.perception = self._perception_mode()
        if (self.device == "cpu" and self.perception == "model" and "depth_model" not in given
                and (paths.models_dir() / CPU_DEPTH_MODEL).is_file()):
            given["depth_model"] = CPU_DEPTH_MODEL
            self.notes.append(f"CPU: depth model {CPU_DEPTH_MODEL} (266 px input; 518 takes ~2 s a frame here); "
                              f"depth_model:=... to change")
        self.arguments = {**given, **source}
        self.values = graph.resolve_arguments(self.arguments)
        self.truth = GroundTruthFile.load(truth_path()) if config.demo_input.is_sample else None
        self.nodes = [spec.name for spec in graph.enabled_nodes(self.values) if spec.name != "camera"
                      and not (self.perception == "truth" and spec.name in PERCEPTION_NODES)]
        self.wav_dir = config.out / "speech" if "speech" in self.nodes else None
        self._random_weights_note()
        self.runner = Runner(self.arguments, nodes=self.nodes, overrides=self._overrides(), output=self._output)
        # process_every_frame on the camera: it holds the first frame until its topics have subscribers, so the
        # graph sees the recording from its start (its reliable QoS changes nothing for the live subscribers).
        self.camera = None if self.is_scene else Runner(
            self.arguments, nodes=["camera"], output=self._output,
            overrides={"camera": {"exit_at_end": True, "loop": False, "process_every_frame": True,
                                  "max_duration_s": float(config.max_duration_s)}})
        config.out.mkdir(parents=True, exist_ok=True)
        self.log_path = config.out / "graph.log"
        self._log = open(self.log_path, "w")
        self._log_lock = threading.Lock()
        self.video = AnnotatedVideo()
        self.spoken: List[dict] = []
        self.requests: Dict[tuple, dict] = {}  # (key, stamp ns) -> the speech request, as fusion sent it
        self.frame_stamps: List[int] = []  # of the RGB frames that reached the demo
        self.published_frames: Optional[int] = None  # RGB frames the camera says it published, at the end
        self.session: Optional[GraphSession] = None
        self.player: Optional[HazardScenePlayer] = None
        self.true_depth: Optional[TrueDepth] = None

    def _perception_mode(self) -> str:
        wanted, sample = self.config.perception, self.config.demo_input.is_sample
        if self.is_scene:
            if wanted == "model":
                raise ValueError("--scene hazards: the scene has no pictures for the models (only its depth, "
                                 "shaded); it runs with its truth (--perception truth)")
            self.notes.append("perception: the hazard scene's TRUTH (its exact metric depth, ray cast, and the "
                              "named person's true box) in place of the detectors and the depth model; no class "
                              "names the wall, pole, board, kerb or steps: fusion's corridor model finds them")
            return "truth"
        if wanted == "truth" and not sample:
            raise ValueError("--perception truth: only the sample recording has ground truth")
        mode = wanted if wanted != "auto" else ("truth" if sample else "model")
        if mode == "truth":
            self.notes.append("perception: GROUND TRUTH of the sample recording (its true objects and exact metric "
                              "depth) in place of the detectors and the depth model, so what is said is the real "
                              "guidance policy with true distances; --perception model runs the models")
        return mode

    def _overrides(self) -> Dict[str, Dict[str, object]]:
        overrides: Dict[str, Dict[str, object]] = {"fusion": {}}
        if self.wav_dir is not None:
            overrides["speech"] = {"output": "wav", "wav_dir": str(self.wav_dir.resolve())}
        if self.device == "cpu" and "depth" in self.nodes:
            overrides["fusion"]["pair_max_wait_s"] = CPU_PAIR_MAX_WAIT_S
        if self.perception == "truth":  # the stand-in keeps the recording's pace: no stage here can be slow
            overrides["fusion"].update(detections_min_rate_hz=NO_RATE_FLOOR_HZ, depth_min_rate_hz=NO_RATE_FLOOR_HZ)
        if self.is_scene:  # the scene's IMU has the device's axes; it has no side cameras; it is rendered first
            overrides["fusion"].update(camera_source="", camera_path="", use_slam_cameras=False,
                                       startup_grace_s=SCENE_STARTUP_GRACE_S)
        return overrides

    def _random_weights_note(self) -> None:
        used = {"detector": "yolo_model", "slam_detector_left": "slam_yolo_model", "depth": "depth_model"}
        models = random_weight_models(model_path(str(self.values[argument]))
                                      for node, argument in used.items() if node in self.nodes)
        if models:
            self.notes.append(f"models with RANDOM weights (built offline: nothing can be downloaded here): "
                              f"{', '.join(models)}; what they find and measure means nothing")

    # -- output -----------------------------------------------------------------------------------------------
    def _output(self, source: str, line: str) -> None:
        with self._log_lock:
            self._log.write(f"[{source}] {line}\n")
            self._log.flush()
        if source == "launch":  # only its reports of problems: failed exits, restarts, nodes not installed
            important = "code 0" not in line and any(word in line for word in (
                "exited with", "killed by", "restarting", "giving up", "not started", "cannot start", "did not exit"))
        else:  # warnings and errors, and the one-line configuration errors nodes print before exiting
            important = any(level in line for level in ("[WARN]", "[ERROR]", "[FATAL]")) or not line.startswith("[")
        if important:
            self.show(f"[{source}] {line}")
        if source == "camera" and MISSING_INPUT in line:  # e.g. a recording without SLAM cameras: in the summary
            self.notes.append(line.split("]: ", 1)[-1].split(" (turn them off")[0])

    def _on_annotated(self, msg: Image) -> None:
        self.video.add_frame(time.time(), image_to_rgb(msg))

    def _on_source_state(self, msg: String) -> None:
        try:
            self.published_frames = int(json.loads(msg.data)["published"][RGB])
        except (ValueError, KeyError, TypeError):
            pass  # "playing", or a camera that does not count

    def _on_frame(self, msg: CameraInfo) -> None:
        self.frame_stamps.append(stamp_to_ns(msg.header.stamp))

    def _on_request(self, msg: SpeechRequestMsg) -> None:
        try:
            request = msg_to_request(msg)
        except SpeechRequestError:
            return  # the speech node counts malformed requests; the demo only annotates what was said
        self.requests[(request.key, request.stamp_ns)] = json.loads(request.to_json())

    def _on_spoken(self, msg: UtteranceMsg) -> None:
        record = msg_to_spoken(msg)
        self.spoken.append(record)
        if record.get("started") is not None:
            self.video.add_utterance(Utterance(record["started"], record["ended"], record["text"],
                                               record["urgency"]))

    # -- run ----------------------------------------------------------------------------------------------------
    def run(self) -> DemoResult:
        started = time.monotonic()
        for note in self.notes:
            self.show(f"note: {note}")
        self.session = session = GraphSession("aria_nav_demo")
        self.collector = Collector(session.node)
        session.node.create_subscription(Image, topics.ANNOTATED_IMAGE, self._on_annotated, sensor_qos(depth=2))
        session.node.create_subscription(UtteranceMsg, topics.SPEECH_SPOKEN, self._on_spoken, reliable_qos(50))
        session.node.create_subscription(SpeechRequestMsg, topics.SPEECH_REQUEST, self._on_request, reliable_qos(50))
        # The camera publishes reliably here (process_every_frame): a reliable reader counts every frame it sent.
        session.node.create_subscription(CameraInfo, topics.RGB_INFO, self._on_frame, replay_qos())
        # On a loaded machine the first frames can go out before this process is matched: the camera's own count,
        # latched at the end, is the count.
        session.node.create_subscription(String, topics.SOURCE_STATE, self._on_source_state, latched_qos())
        self.stamp_offset = camera_offset(session.diagnostics)
        rendering = None
        if self.is_scene:
            self.player = HazardScenePlayer(session.node, self.config.max_duration_s)
            rendering = threading.Thread(target=self.player.render, name="render-scene", daemon=True)
        elif self.perception == "truth":
            self.status("ray casting the sample's true depth...")
            self.true_depth = true_depth()
            GroundTruthPerception(session.node, self.truth, self.stamp_offset, self.true_depth.frames)
        interrupted = False
        try:
            session.start(self.runner)
            if rendering is not None:
                rendering.start()  # while the nodes start (after their processes were forked)
            aria_nodes = [name for name in self.nodes if graph.node(name).is_aria_nav]
            self.status(f"starting {', '.join(aria_nodes)} (loading models)...")
            session.wait_started(aria_nodes, self.config.start_timeout_s)
            try:
                if self.player is not None:
                    self._play_scene(rendering)
                else:
                    self.collector.recording = True
                    session.start(self.camera)
                    self._watch_camera()
            except KeyboardInterrupt:
                interrupted = True
            self._drain()
        finally:
            self.offset_ns = self.stamp_offset()
            session.close()
            self._log.close()
        return self._result(time.monotonic() - started, interrupted)

    def _progress_line(self) -> str:
        frames = len(self.frame_stamps)
        total = self.config.demo_input.rgb_frames
        parts = []
        if total:
            done = min(frames / total, 1.0)
            parts.append(f"[{'#' * round(done * 20):<20}] {frames}/{total} frames")
        else:
            parts.append(f"{frames} frames")
        obstacles = self.collector.latency_ms["obstacles"]
        if obstacles:
            parts.append(f"fused {len(obstacles)}, latency {_percentile(obstacles[-20:], 50):.0f} ms")
        if self.spoken:
            parts.append(f"said: \"{self.spoken[-1]['text']}\"")
        return "  ".join(parts)

    def _watch_camera(self) -> None:
        while self.camera.poll() is None:
            self.session.check_nodes(expected_exits=["camera"])
            self.status(self._progress_line())
            time.sleep(STATUS_PERIOD_S)
        if self.camera.poll() != 0:
            raise GraphFailure("the camera node failed (see its message above)" + self.session.recent_output())

    def _play_scene(self, rendering: threading.Thread) -> None:
        done, progress_at = self.player.rendered_frames(), time.monotonic()
        while not self.player.rendered.wait(STATUS_PERIOD_S):
            if not rendering.is_alive():
                raise GraphFailure("rendering the hazard scene failed (its error is above)")
            if self.player.rendered_frames() != done:
                done, progress_at = self.player.rendered_frames(), time.monotonic()
            elif time.monotonic() - progress_at > RENDER_STALL_S:
                raise GraphFailure(f"rendering the hazard scene made no progress for {RENDER_STALL_S:g} s "
                                   f"({self.player.progress()})")
            self.session.check_nodes()
            self.status(f"rendering the hazard scene: {self.player.progress()}")
        self.collector.recording = True
        stop = threading.Event()
        playing = threading.Thread(target=self.player.play, args=(stop,), name="play-scene", daemon=True)
        playing.start()
        try:
            while playing.is_alive():
                self.session.check_nodes()
                self.status(self._progress_line())
                playing.join(STATUS_PERIOD_S)
        finally:
            stop.set()
            playing.join()

    def _speech_idle(self) -> bool:
        """Every request the speech node got has been said, cut off or dropped by its queue, and none waits.
        (Its drop counts come from its diagnostics, once a second: a little late, never wrong.)"""
        if "speech" not in self.nodes:
            return True
        diag = self.session.diagnostics("speech")
        settled = len(self.spoken) + sum(int(diag.get(key, 0)) for key in SPEECH_DROPS)
        return diag.get("queued") == "0" and len(self.collector.latency_ms["speech_request"]) <= settled

    def _processed(self, outputs_quiet_s: float) -> bool:
        """The last frames are processed: fusion answered the last RGB frame (the newest frame is never dropped),
        or, where it never will (a frame skipped unpaired), it answered one and no stage has answered anything
        for PROCESSING_QUIET_S (a first inference on a CPU can take longer than that: hence the answer first)."""
        answered = self.collector.answered["obstacles"]
        if self.frame_stamps and self.frame_stamps[-1] in answered:
            return True
        return bool(answered) and outputs_quiet_s >= PROCESSING_QUIET_S

    def _drain(self) -> None:
        """Until the last frames are processed and everything asked for is said (at most DRAIN_TIMEOUT_S)."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        outputs, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            self.status(self._progress_line() + "  (finishing)")
            time.sleep(STATUS_PERIOD_S)
            now = sum(len(self.collector.latency_ms[stage]) for stage in STAGES if stage != "speech_request")
            if now != outputs:
                outputs, quiet_since = now, time.monotonic()
            if self._processed(time.monotonic() - quiet_since) and self._speech_idle():
                return

    # -- result -------------------------------------------------------------------------------------------------
    def _result(self, elapsed_s: float, interrupted: bool) -> DemoResult:
        stamps = self.frame_stamps
        t0 = stamps[0] / 1e9 if stamps else 0.0
        duration = (stamps[-1] - stamps[0]) / 1e9 if len(stamps) > 1 else 0.0
        stages = {}
        for stage in STAGES:
            latency = self.collector.latency_ms[stage]
            if latency:
                stages[stage] = {"outputs": len(latency), "rate_hz": len(latency) / duration if duration else 0.0,
                                 "p50_ms": _percentile(latency, 50), "p95_ms": _percentile(latency, 95)}
        said = []
        for record in self.spoken:
            stamp_ns = record["requested_stamp"]["sec"] * 1_000_000_000 + record["requested_stamp"]["nanosec"]
            started = record["started"]
            heard = 0.0 if started is None else max(0.0, min(record["ended"] - started, record["audio_s"]))
            said.append(Said(stamp_ns / 1e9 - t0, None if started is None else started - t0, record["urgency"],
                             record["text"], record.get("wav"), bool(record["interrupted"]), record.get("event", ""),
                             record.get("key", ""), float(record.get("audio_s") or 0.0), heard,
                             self.requests.get((record.get("key"), stamp_ns)), stamp_ns))
        said.sort(key=lambda s: s.t_s if s.said_at_s is None else s.said_at_s)  # reports come as utterances end
        video_path, video_frames = None, 0
        if self.video.frame_count:
            video_path = self.config.out / "demo.mp4"
            input_end = t0 + duration
            # The video ends with the input, or with the last sentence still being said then (marked as after the
            # end), never on a frozen frame for longer.
            end = max([input_end] + [u.end_s for u in self.video.utterances])
            video_frames = self.video.write(video_path, VIDEO_FPS, t0, end, input_end_s=input_end)
        wav_files = len(list(self.wav_dir.glob("*.wav"))) if self.wav_dir and self.wav_dir.is_dir() else 0
        frames = max(len(stamps), self.published_frames or 0)
        return DemoResult(self.config.demo_input, self.device, self.perception, self.notes, frames, duration,
                          stages, said, len(self.collector.latency_ms["speech_request"]), video_path, video_frames,
                          self.wav_dir, wav_files, self.log_path, elapsed_s, interrupted, self.truth,
                          self.offset_ns, None if self.player is None else list(self.player.timeline),
                          None if self.true_depth is None else self.true_depth.nearest_m)


EARLIER_OUTPUT = ("demo.mp4", "summary.txt", "summary.json", "graph.log", "speech")


def prepare_output(out: Path) -> None:
    """An earlier demo's output is never replaced: `out` must not hold one (the default folder is new each run)."""
    earlier = [name for name in EARLIER_OUTPUT if (out / name).exists()]
    if earlier:
        raise ValueError(f"{out} already holds an earlier demo's output ({', '.join(earlier)}); give another --out "
                         f"or remove it")


def run_demo(config: DemoConfig, show: Callable[[str], None], status: Callable[[str], None]) -> DemoResult:
    """`show` prints a line that stays (node warnings), `status` replaces the live status line. Raises ValueError,
    graph.GraphError or LaunchError (settings), GraphFailure (a node failed)."""
    prepare_output(config.out)
    return _Demo(config, show, status).run()
