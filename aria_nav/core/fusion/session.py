"""Everything the fusion node decides, without ROS: one call per subscription callback and one per timer tick.

Data flows one way. The node decodes a message into plain values (Detections, a depth array, intrinsics, IMU
vectors) and calls the session; the session pairs each RGB detection set with the depth image of its frame by
stamp (core.fusion.pairing), runs the pipeline on each resolved pair and on each peripheral frame
(core.fusion.pipeline), watches its inputs (core.fusion.watchdog) and returns a Step: the fused frames to publish
(each with the speech request to send, if any), the other speech requests (degraded, restored, slow, ended) and
the lines to log. The node only publishes what a Step holds, in its order.

The policy between those parts lives here:
- a detection set without depth is skipped while depth is running (it is only late for this frame) and processed
  without distances once depth is out; when depth is out, waiting detection sets are not held for it;
- obstacle requests are silenced while detections are out (the wearer has been told warnings stopped);
- every obstacle request carries the distance kind the depth stage announced (metres only when metric);
- health changes become the degraded/restored/slow requests, the end of a recording becomes one "ended" request;
- a frame whose camera has no camera_info yet is counted and dropped.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from aria_nav import topics
from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.detection.detections import Detections
from aria_nav.core.fusion.obstacle import RGB, SLAM_LEFT, SLAM_RIGHT
from aria_nav.core.fusion.pairing import Pairing, StampPairer
from aria_nav.core.fusion.pipeline import FrameResult, FusionConfig, FusionPipeline
from aria_nav.core.fusion.vio_motion import quaternion_matrix
from aria_nav.core.fusion.watchdog import CAMERA, DEPTH, DETECTIONS, SLOW_STATE, STALE, WAITING, VisionHealth
from aria_nav.core.speech.request import (APPROXIMATE, DEGRADED, ENDED, INFO, METRIC, SLOW, WARNING,
                                         SpeechRequest)

DEGRADED_PRIORITY = 100.0  # above any obstacle: the wearer must know the warnings have stopped
LIVE_PENDING, REPLAY_PENDING = 16, 256  # detection sets waiting for depth (replay: the detector may run ahead)
REPLAY_CACHE = 32  # depth images kept in replay at least (depth may run ahead)
CORRIDOR_ON, CORRIDOR_WAITING = "on (metric depth)", "off until the depth stage says its depth is metric"
CORRIDOR_APPROXIMATE = "off: depth is approximate (relative model); use a metric Depth-Anything-V2 model"
CORRIDOR_DISABLED = "off (corridor_enabled: false)"
# Diagnostic levels of the session's status (the node maps them to diagnostic_msgs levels).
OK, WARN, ERROR = "ok", "warn", "error"
INFO_LINE, WARNING_LINE = "info", "warning"


@dataclass(frozen=True)
class SessionConfig:
    """What the session decides beyond the pipeline's config (the fusion node's parameters of the same names)."""

    process_every_frame: bool = False
    pair_tolerance_s: float = 0.1
    pair_max_wait_s: float = 0.5
    depth_cache: int = 4
    use_slam_cameras: bool = True
    startup_grace_s: float = 30.0
    heartbeat_timeout_s: float = 4.0
    detections_status: str = "aria_nav/detector"
    depth_status: str = "aria_nav/depth"
    camera_status: str = "aria_nav/camera"


@dataclass
class FusedFrame:
    camera: str
    frame: Any  # the caller's handle of the source frame (the node: its header), returned as given
    intrinsics: PinholeIntrinsics
    result: FrameResult
    request: Optional[SpeechRequest]  # to send after the frame's results; None: nothing to say


@dataclass
class Line:
    level: str  # INFO_LINE or WARNING_LINE
    text: str


@dataclass
class Step:
    """What one call asks the node to do, in order: publish the frames, send the requests, log the lines."""

    frames: List[FusedFrame] = field(default_factory=list)
    requests: List[SpeechRequest] = field(default_factory=list)
    lines: List[Line] = field(default_factory=list)

    def log(self, level: str, text: str) -> None:
        self.lines.append(Line(level, text))


class FusionSession:
    """One fusion run: call on_* for each input as it arrives and tick() periodically; `now_s` is a monotonic clock
    (waits and silences), stamps are the source frames' (pairing, the policy); `values` and status() are the
    diagnostics."""

    def __init__(self, config: FusionConfig, settings: SessionConfig, health: VisionHealth, start_s: float):
        self.config = config
        self.settings = settings
        self.pipeline = FusionPipeline(config)
        # Replay processes every frame: a detection set then waits for its depth image however long depth takes,
        # and either stage may run ahead of the other by many frames.
        if settings.process_every_frame:
            self.pairer = StampPairer(settings.pair_tolerance_s, math.inf, max(settings.depth_cache, REPLAY_CACHE),
                                      pending_cache=REPLAY_PENDING)
        else:
            self.pairer = StampPairer(settings.pair_tolerance_s, settings.pair_max_wait_s, settings.depth_cache,
                                      pending_cache=LIVE_PENDING)
        self.health = health
        self.start_s = start_s
        self.intrinsics: Dict[str, Optional[PinholeIntrinsics]] = {RGB: None, SLAM_LEFT: None, SLAM_RIGHT: None}
        self.class_names: Dict[str, List[str]] = {RGB: [], SLAM_LEFT: [], SLAM_RIGHT: []}
        self.counts = {"requests": 0, "no_camera_info": 0, "pairing_misses_skipped": 0, "slam_frames": 0}
        self.slam_seen = {SLAM_LEFT: 0, SLAM_RIGHT: 0} if settings.use_slam_cameras else {}
        self._slam_silence_reported = False
        self.heartbeat_inputs = {settings.detections_status: DETECTIONS, settings.depth_status: DEPTH,
                                 settings.camera_status: CAMERA}
        self.motion_state = self.pipeline.motion.state
        # Metres are spoken only once the depth stage says they are measured (docs/depth.md: approximate metres
        # from a relative model must not be spoken as measurements).
        self.distance_kind = APPROXIMATE
        self.corridor_state = CORRIDOR_WAITING if self.pipeline.corridor is not None else CORRIDOR_DISABLED
        self.values: Dict[str, str] = {}  # diagnostic values, kept current by every call
        self._set("motion_state", self.motion_state)
        self._set("distance_kind", f"{APPROXIMATE} (until {topics.DEPTH_MODE} says metric)")
        self._set("tilt", "no IMU yet: camera taken as level")
        self._set("corridor", self.corridor_state)

    # ---- inputs: one call per callback ---------------------------------------------------------------------

    def on_detections(self, frame: Any, stamp_ns: int, detections: Detections, now_s: float) -> Step:
        """An RGB detection set (`frame`: the caller's handle, given back with the fused frame)."""
        self.health.seen(DETECTIONS, now_s)
        pairings = self.pairer.add_detections(stamp_ns, (frame, stamp_ns, detections), now_s)
        if self.health.depth_down:  # no depth is coming: go on without distances
            pairings += self.pairer.drain()
        return self._pairings(Step(), pairings)

    def on_depth(self, stamp_ns: int, depth: np.ndarray, now_s: float) -> Step:
        """A metric depth image (metres, NaN where unknown) of the RGB frame stamped `stamp_ns`."""
        self.health.seen(DEPTH, now_s)
        return self._pairings(Step(), self.pairer.add_depth(stamp_ns, depth, now_s))

    def on_peripheral(self, camera: str, frame: Any, stamp_ns: int, detections: Detections) -> Step:
        """A SLAM camera's detection set: processed at once, without depth."""
        self.counts["slam_frames"] += 1
        self.slam_seen[camera] += 1
        return self._frame(Step(), camera, frame, stamp_ns, detections, None)

    def on_camera_info(self, camera: str, intrinsics: PinholeIntrinsics) -> None:
        self.intrinsics[camera] = intrinsics

    def on_class_names(self, camera: str, names: List[str]) -> None:
        self.class_names[camera] = names

    def on_depth_mode(self, mode: str) -> Step:
        """The depth stage's latched mode: METRIC or APPROXIMATE."""
        step = Step()
        if mode != self.distance_kind:
            step.log(INFO_LINE, f"depth is {mode}: distances are spoken "
                                f"{'in metres' if mode == METRIC else 'as near/far bands, not metres'}")
        if self.pipeline.corridor is not None and mode != METRIC and self.corridor_state != CORRIDOR_APPROXIMATE:
            step.log(WARNING_LINE, "corridor model off: depth is approximate (a relative model); walls, poles, "
                                   "head-height obstacles and steps need a metric Depth-Anything-V2 model")
        self.distance_kind = mode
        self.pipeline.depth_is_metric = mode == METRIC
        self._set("distance_kind", mode)
        if self.pipeline.corridor is not None:
            self.corridor_state = CORRIDOR_ON if mode == METRIC else CORRIDOR_APPROXIMATE
            self._set("corridor", self.corridor_state)
        return step

    def on_imu(self, time_s: float, acceleration: Tuple[float, float, float],
               gyro: Optional[Tuple[float, float, float]]) -> Step:
        """One IMU sample (device axes, m/s^2 and rad/s; gyro None: not provided), stamped `time_s`."""
        self.pipeline.wearer.add_imu(time_s, acceleration, gyro)
        self.pipeline.motion.add(time_s, *acceleration)
        return self._motion_changed(time_s, f"acceleration deviation {self.pipeline.motion.deviation:.2f} m/s^2")

    def on_odometry(self, time_s: float, orientation_xyzw: Tuple[float, float, float, float],
                    linear_device: Tuple[float, float, float], angular_device: Tuple[float, float, float]) -> Step:
        """A device pose with its twist in the device's axes (REP 105), as Aria Gen2's VIO gives it."""
        odom_from_device = quaternion_matrix(*orientation_xyzw)
        velocity = odom_from_device @ np.array(linear_device)
        yaw_rate = float((odom_from_device @ np.array(angular_device))[2])
        vio = self.pipeline.vio
        vio.add(time_s, tuple(orientation_xyzw), velocity, yaw_rate)
        self._set("vio_speed_mps", f"{vio.speed_mps:.2f}")
        self._set("vio_heading_deg", f"{vio.heading_deg:.0f}")
        self._set("turning", vio.turning)
        return self._motion_changed(time_s, f"VIO speed {vio.speed_mps:.2f} m/s")

    def on_statuses(self, now_s: float, read_s: float, sent_s: float,
                    statuses: Sequence[Tuple[str, Optional[str]]]) -> None:
        """A /diagnostics array: read at `read_s`, sent at `sent_s` (one clock), its statuses as (name, pid)."""
        self.health.status_read(read_s, sent_s)
        for name, pid in statuses:
            input_name = self.heartbeat_inputs.get(name)
            if input_name is not None:
                self.health.heard(input_name, now_s, pid)

    def on_source_state(self, state: Optional[str], now_s: float, stamp_ns: int) -> Step:
        """The camera's source state: 'ended' (a recording's normal end) or 'playing'."""
        step = Step()
        if state == "ended" and self.health.end_of_input():
            step.log(INFO_LINE, "the camera's recording ended")
            self._request(step, SpeechRequest(event=ENDED, urgency=INFO, priority=DEGRADED_PRIORITY,
                                              key="source:ended", stamp_ns=stamp_ns))
        elif state == "playing":
            self.health.input_started(now_s)
        return step

    def tick(self, now_s: float, stamp_ns: int) -> Step:
        """Periodic (fusion: every 0.1 s): detection sets whose wait is over, health changes, the status."""
        step = self._pairings(Step(), self.pairer.poll(now_s))
        for change in self.health.update(now_s):
            self._announce_health(step, change.event, change.reason, now_s, stamp_ns)
        silent = [camera for camera, seen in self.slam_seen.items() if not seen]
        if silent and not self._slam_silence_reported and now_s - self.start_s > self.settings.startup_grace_s:
            step.log(WARNING_LINE, f"no input from the SLAM camera detectors ({', '.join(silent)}) after "
                                   f"{self.settings.startup_grace_s:.0f} s: peripheral obstacles are not reported")
            self._slam_silence_reported = True
        return step

    # ---- the status ----------------------------------------------------------------------------------------

    def status(self, now_s: float) -> Tuple[str, str, Dict[str, str]]:
        """(level, message, values) of the session's diagnostics now."""
        states = {name: self.health.state(name, now_s) for name in (DETECTIONS, DEPTH)}
        for name, state in states.items():
            silent = self.health.silent_for(name, now_s)
            self._set(f"{name}_input", state if silent is None else f"{state} ({silent:.1f} s ago)")
            rate = self.health.inputs[name]
            self._set(f"{name}_rate_hz", f"{rate.rate_hz() or 0:.2f}")
            self._set(f"{name}_floor_hz", f"{rate.floor_hz() or 0:.2f}")
            self._set(f"{name}_stale_after_s", f"{rate.silence_threshold_s():.1f}")
            heartbeat = self.health.heartbeats.get(name)
            if heartbeat is not None and heartbeat.last is None:
                self._set(f"{name}_node", "not heard")
            elif heartbeat is not None:
                alive = "silent" if heartbeat.silent(now_s) else "alive"
                self._set(f"{name}_node", f"{alive} ({now_s - heartbeat.last:.1f} s ago)")
        for key, value in self.health.record().items():
            self._set(key, value)
        self._set("uptime_s", f"{now_s - self.start_s:.1f}")  # the speech node's guidance watch reads it
        self._set("pairs", self.pairer.paired)
        self._set("pairing_misses", self.pairer.misses)
        self._set("waiting_for_depth", self.pairer.waiting)
        self._set("acceleration_deviation", f"{self.pipeline.motion.deviation:.2f}")
        for camera, tracker in self.pipeline.trackers.items():
            self._set(f"tracks_{camera}", len(tracker.tracks))
        for key, value in self.counts.items():
            self._set(key, value)
        for camera, seen in self.slam_seen.items():
            self._set(f"{camera}_input", f"receiving ({seen} frames)" if seen else "no input")
        if states[DETECTIONS] == STALE:
            return ERROR, "no detections: obstacle warnings stopped", self.values
        if states[DEPTH] == STALE:
            return WARN, "no depth: obstacles without distances", self.values
        if SLOW_STATE in states.values():
            slow = [name for name, state in states.items() if state == SLOW_STATE]
            return WARN, f"slow: {' and '.join(slow)} below the rate floor", self.values
        if WAITING in states.values():
            waiting = [name for name, state in states.items() if state == WAITING]
            return WARN, f"waiting for {' and '.join(waiting)}", self.values
        if self.intrinsics[RGB] is None:
            return WARN, f"waiting for camera_info on {topics.RGB_INFO}", self.values
        return OK, "running", self.values

    # ---- processing ----------------------------------------------------------------------------------------

    def _pairings(self, step: Step, pairings: List[Pairing]) -> Step:
        for pairing in pairings:
            frame, stamp_ns, detections = pairing.detections
            if pairing.depth is None and not self.health.depth_down:
                self.counts["pairing_misses_skipped"] += 1  # depth is running, this frame just has none
                continue
            self._frame(step, RGB, frame, stamp_ns, detections, pairing.depth)
        return step

    def _frame(self, step: Step, camera: str, frame: Any, stamp_ns: int, detections: Detections,
               depth: Optional[np.ndarray]) -> Step:
        intrinsics = self.intrinsics[camera]
        if intrinsics is None:
            self.counts["no_camera_info"] += 1
            return step
        result = self.pipeline.process(camera, detections, self.class_names[camera], intrinsics, depth, stamp_ns)
        if camera == RGB:
            self._describe_rgb_frame(result)
        request = None
        if result.request is not None and self.health.reason != DETECTIONS:
            request = dataclasses.replace(result.request, distance_kind=self.distance_kind)
            self.counts["requests"] += 1
        step.frames.append(FusedFrame(camera, frame, intrinsics, result, request))
        return step

    def _describe_rgb_frame(self, result: FrameResult) -> None:
        tilt = result.tilt
        self._set("tilt", f"pitch {tilt.pitch_down_deg:.1f} deg down, roll {tilt.roll_right_deg:.1f} deg right"
                          + ("" if tilt.from_imu else " (no IMU yet: camera taken as level)"))
        corridor = result.corridor
        if corridor is None:
            return
        ground = corridor.ground
        self._set("corridor_ms", f"{corridor.elapsed_ms:.2f}")
        self._set("ground", f"{ground.camera_height_m:.2f} m below the camera, slope {ground.slope_deg:.1f} deg"
                            + ("" if ground.fitted else " (not fitted: prior)"))
        self._set("hazards", ", ".join(h.kind for h in corridor.hazards) or "none")
        free = [side for side, clear in (("left", corridor.free_left), ("right", corridor.free_right)) if clear]
        self._set("free_sides", " and ".join(free) or "neither")

    def _motion_changed(self, time_s: float, why: str) -> Step:
        step = Step()
        state = self.pipeline.motion_state(time_s)
        self._set("motion_source", "vio" if self.pipeline.vio.active(time_s) else "imu")
        if state != self.motion_state:
            step.log(INFO_LINE, f"wearer is {state} ({why})")
            self.motion_state = state
            self._set("motion_state", state)
        return step

    def _announce_health(self, step: Step, event: str, reason: str, now_s: float, stamp_ns: int) -> None:
        rate = self.health.inputs.get(reason)  # none for the CAMERA: only its heartbeat is watched
        if event == DEGRADED and self.health.node_silent(reason, now_s):
            status = next(name for name, input_name in self.heartbeat_inputs.items() if input_name == reason)
            step.log(WARNING_LINE, f"vision degraded: no {reason}: {status} silent on {topics.DIAGNOSTICS} for "
                                   f"{self.settings.heartbeat_timeout_s:g} s (the node died or hangs)")
        elif event == DEGRADED and self.health.node_restarted(reason):
            step.log(WARNING_LINE, f"vision degraded: no {reason}: its node was restarted (a new pid on "
                                   f"{topics.DIAGNOSTICS}), waiting for its first message")
        elif event == DEGRADED:
            step.log(WARNING_LINE, f"vision degraded: no {reason} for "
                                   f"{self.health.silent_for(reason, now_s) or 0:.1f} s (threshold "
                                   f"{rate.silence_threshold_s():.1f} s)")
        elif event == SLOW:
            step.log(WARNING_LINE, f"{reason} slow: {rate.rate_hz() or 0:.2f} Hz, below its floor "
                                   f"{rate.floor_hz() or 0:.2f} Hz")
        else:
            step.log(INFO_LINE, f"vision restored: {reason} back")
        self._request(step, SpeechRequest(event=event, urgency=WARNING if event == DEGRADED else INFO,
                                          priority=DEGRADED_PRIORITY, key=f"vision:{reason}", stamp_ns=stamp_ns,
                                          reason=reason))

    def _request(self, step: Step, request: SpeechRequest) -> None:
        step.requests.append(request)
        self.counts["requests"] += 1

    def _set(self, key: str, value) -> None:
        self.values[key] = str(value)
