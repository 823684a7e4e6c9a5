"""The guidance evaluation (`aria-nav eval guidance`): scripted scenes through the real core, as the nodes use it,
judged by what the wearer hears and when.

Each scene (aria_nav.core.evaluation.scenes) is rendered frame by frame into detections, metric depth and IMU
samples and fed to a FusionPipeline (the fusion node's core); its speech requests go to a SpeechQueue (the speech
node's) and a simulated speaker that takes, cuts and finishes utterances exactly as the speech worker does, with
the durations of the real TTS: each sentence is synthesized once per run with espeak-ng at the speech node's
default rates, trimmed and given its earcon as the node does (aria_nav.core.speech.speaker.utterance_audio).
Two delays are modelled, not measured here (they depend on the machine): `LATENCY_S` from a frame's stamp to its
request reaching the speech node (detection, depth and fusion), and `SYNTHESIS_S` from taking an utterance to its
first audio (espeak-ng: tens of milliseconds; test/test_speech_node.py measures the real one).

Per scene, for each critical obstacle: its first confirmed critical frame, the time from there to its first
critical request (0: requested on that frame) and to its audio starting (heard); and over all requests: direction
right, spoken distance (as rounded for speech) within 15% of the truth (the horizontal distance along the floor to
the object's nearest part) and within 10% (a target for the scenes with the head pitched or rolled, where the
camera's own ranges are not distances along the floor and the tilt must come from the IMU), identical sentences
heard again within the policy's cooldown, requests caused by perturbations (the scene run once more without them:
a request the clean run does not make within two frames about the same object with the same urgency, or any about
a ghost), and utterances per minute. `targets(results)` lists the targets that are not met (the CI test asserts
none).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from aria_nav.core.boxes import iou_matrix
from aria_nav.core.evaluation.scenes import (CLASS_NAMES, INTRINSICS, Perturbation, Scene, SceneObject, imu_samples,
                                             moving, render, static_while_walking, stands)
from aria_nav.core.fusion.motion import WALKING
from aria_nav.core.fusion.obstacle import RGB
from aria_nav.core.fusion.pipeline import FusionConfig, FusionPipeline
from aria_nav.core.speech.phrases import ENGLISH, spoken_metres
from aria_nav.core.speech.process import InterruptibleRunner
from aria_nav.core.speech.queue import CRITICAL_RANK, INTERRUPT, SpeechQueue, Utterance
from aria_nav.core.speech.request import CRITICAL, METRIC, SpeechRequest
from aria_nav.core.speech.speaker import utterance_audio

LATENCY_S = 0.05  # frame stamp -> request at the speech node
SYNTHESIS_S = 0.05  # utterance taken -> first audio
WORDS_PER_MINUTE = 175  # the speech node's defaults (English)
CRITICAL_WORDS_PER_MINUTE = ENGLISH.critical_words_per_minute
DISTANCE_TOLERANCE = 0.15
# With the head pitched or rolled (the scenes' tilted ones): spoken distance within this of the floor distance.
FLOOR_DISTANCE_TOLERANCE = 0.10
ALONE_HEARD_S, BOTH_HEARD_S = 0.3, 1.5


class DurationCache:
    """Audio duration of each sentence as the speech node would play it, synthesized once per run."""

    def __init__(self, engine, earcon: bool = True):
        self._engine = engine
        self._earcon = earcon
        self._runner = InterruptibleRunner()
        self._durations: Dict[Tuple[str, str, bool], float] = {}

    def __call__(self, utterance: Utterance) -> float:
        request = utterance.request
        key = (utterance.text, request.urgency, request.bearing_deg is not None)
        if key not in self._durations:
            audio = utterance_audio(self._engine, self._runner, utterance, self._earcon, CRITICAL_WORDS_PER_MINUTE)
            self._durations[key] = audio.duration_s
        return self._durations[key]

    def longest_critical(self, merged: bool = False) -> Tuple[float, str]:
        """The longest critical sentence of one warning (`merged`: of several said together, phrased with ';' by
        PhraseTable.combined)."""
        critical = [(d, text) for (text, urgency, _), d in self._durations.items()
                    if urgency == CRITICAL and (";" in text) == merged]
        return max(critical) if critical else (0.0, "")


@dataclass
class Heard:
    text: str
    request: SpeechRequest
    requested_s: float  # arrival at the speech node
    started_s: Optional[float]
    ended_s: float
    interrupted: bool


class SimulatedSpeaker:
    """The speech worker's timing (aria_nav.core.speech.speaker) over a real SpeechQueue, in simulated time."""

    def __init__(self, queue: SpeechQueue, duration_of):
        self.queue = queue
        self._duration_of = duration_of
        self._current: Optional[Tuple[Utterance, float, float, float]] = None  # utterance, requested, start, end
        self.heard: List[Heard] = []
        self._free_at = -math.inf

    def advance(self, now_s: float) -> None:
        """Everything that happens up to `now_s`: utterances end, the next ones start."""
        while True:
            if self._current is not None:
                if self._current[3] > now_s:
                    return
                self._finish(self._current[3], interrupted=False)
            if len(self.queue) == 0:
                return
            at = self._free_at
            if at > now_s:
                return
            utterance = self.queue.take(lambda: at, combine=ENGLISH.combined)
            if utterance is None:
                return
            start = at + SYNTHESIS_S
            self._current = (utterance, utterance.received_s, start, start + self._duration_of(utterance))

    def offer(self, text: str, request: SpeechRequest, now_s: float) -> None:
        self.advance(now_s)
        if self._current is None:
            self._free_at = max(self._free_at, now_s)
        outcome, victim = self.queue.offer(Utterance(text, request, now_s), now_s)
        if outcome == INTERRUPT and self._current is not None and self._current[0] is victim:
            self._finish(now_s, interrupted=True)
        self.advance(now_s)

    def criticals_ahead(self, key: str) -> int:
        """Critical utterances about other obstacles being said or waiting: what a new critical one waits for."""
        waiting = [u for u in self.queue.pending() if u.rank == CRITICAL_RANK and u.request.key != key]
        current = self._current is not None and self._current[0].rank == CRITICAL_RANK \
            and self._current[0].request.key != key
        return len(waiting) + int(current)

    def drain(self) -> None:
        self.advance(math.inf)

    def _finish(self, at_s: float, interrupted: bool) -> None:
        utterance, requested, start, _ = self._current
        began = start if start <= at_s else None
        self.queue.done(began if not interrupted else None)
        members = utterance.members or (utterance,)
        parts = ENGLISH.combined_parts([m.request for m in members])
        for index, member in enumerate(members):
            # a merged sentence's later obstacles are heard once the words before theirs are said
            onset = start + (self._duration_of(Utterance("; ".join(parts[:index]) + ";", utterance.request, 0.0))
                             if index else 0.0)
            self.heard.append(Heard(utterance.text, member.request, member.received_s if index else requested,
                                    onset if onset <= at_s else None, at_s, interrupted))
        self._current = None
        self._free_at = at_s


@dataclass
class RequestRecord:
    frame: int
    time_s: float
    request: SpeechRequest
    text: str
    truth_name: Optional[str]
    truth_distance_m: Optional[float]
    truth_direction: Optional[str]
    ghost: bool
    criticals_ahead: int  # critical utterances about other obstacles said or waiting when it arrived


@dataclass
class CriticalRecord:
    name: str
    confirmed_s: float
    concurrent: int  # other obstacles critical on its confirmation frame, or in speech when it was requested
    requested_s: Optional[float]  # first critical request about it (frame stamp)
    heard_s: Optional[float]  # its first critical audio start

    @property
    def to_request_s(self) -> Optional[float]:
        return None if self.requested_s is None else self.requested_s - self.confirmed_s

    @property
    def to_heard_s(self) -> Optional[float]:
        return None if self.heard_s is None else self.heard_s - self.confirmed_s


@dataclass
class SceneResult:
    scene: Scene
    criticals: List[CriticalRecord]
    requests: List[RequestRecord]
    heard: List[Heard]
    from_perturbations: int
    repeats: int
    walking_after_s: Optional[float]  # standing -> walking: from the first step to the switch

    @property
    def directions_right(self) -> Tuple[int, int]:
        judged = [r for r in self.requests if r.truth_direction is not None]
        return sum(r.request.direction == r.truth_direction for r in judged), len(judged)

    @property
    def distances_within(self) -> Tuple[int, int]:
        return self._distances_within(DISTANCE_TOLERANCE)

    @property
    def distances_within_floor_tolerance(self) -> Tuple[int, int]:
        return self._distances_within(FLOOR_DISTANCE_TOLERANCE)

    def _distances_within(self, tolerance: float) -> Tuple[int, int]:
        judged = [r for r in self.requests if r.truth_distance_m is not None and r.request.distance_m is not None]
        return sum(distance_error(r) <= tolerance for r in judged), len(judged)

    @property
    def utterances_per_minute(self) -> float:
        return sum(h.started_s is not None for h in self.heard) * 60.0 / self.scene.duration_s


def distance_error(record: RequestRecord) -> float:
    """Relative error of the distance as spoken ("under half a meter": right below 0.55 m)."""
    spoken = spoken_metres(record.request.distance_m)
    truth = record.truth_distance_m
    if spoken is None:
        return 0.0 if truth < 0.55 else 1.0
    return abs(spoken - truth) / truth


def match(obstacle_boxes: np.ndarray, truth_boxes: np.ndarray) -> List[Optional[int]]:
    """Truth index of each obstacle (same frame), by box overlap."""
    if len(obstacle_boxes) == 0 or len(truth_boxes) == 0:
        return [None] * len(obstacle_boxes)
    clipped = truth_boxes.copy()
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0, INTRINSICS.width - 1)
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0, INTRINSICS.height - 1)
    overlap = iou_matrix(np.asarray(obstacle_boxes, np.float64), clipped)
    return [int(np.argmax(row)) if row.max() > 0.3 else None for row in overlap]


def run_scene(scene: Scene, duration_of, perturbed: bool = True, config: FusionConfig = FusionConfig(),
              tilt_from_imu: bool = True) -> Tuple[List[RequestRecord], List[Heard], List[CriticalRecord],
                                                   Optional[float]]:
    """The scene through a FusionPipeline; `tilt_from_imu` False keeps the IMU from the wearer frame (the camera
    taken to be level: what a pitched scene would say without the tilt)."""
    pipeline = FusionPipeline(config)
    speaker = SimulatedSpeaker(SpeechQueue(), duration_of)
    requests: List[RequestRecord] = []
    confirmed: Dict[str, Tuple[str, float, int]] = {}  # key -> truth name, first confirmed, others critical
    imu_from = -3.0  # the wearer's state is settled when the scene starts
    first_step = next((t for t in np.arange(0, scene.duration_s, 0.005) if scene.walking(t)), None)
    walking_at = None
    stamp0 = 1_000_000_000_000
    for index, time_s in enumerate(scene.frame_times()):
        for t, ax, ay, az in imu_samples(scene, imu_from, time_s):
            if tilt_from_imu:  # the IMU's clock is the frames' stamps
                pipeline.wearer.add_imu(stamp0 / 1e9 + t, (ax, ay, az))
            if pipeline.motion.add(t, ax, ay, az) == WALKING and walking_at is None and first_step is not None \
                    and t >= first_step:
                walking_at = t
        imu_from = time_s
        frame = render(scene, index, time_s, perturbed)
        stamp_ns = stamp0 + int(round(time_s * 1e9))
        result = pipeline.process(RGB, frame.detections, CLASS_NAMES, INTRINSICS, frame.depth, stamp_ns)
        truth_of = match(np.array([o.box for o in result.obstacles]).reshape(-1, 4),
                         np.array([t.box for t in frame.truth]).reshape(-1, 4))
        by_key = {}
        critical_now = []
        for obstacle, truth_index in zip(result.obstacles, truth_of):
            truth = frame.truth[truth_index] if truth_index is not None else None
            by_key[obstacle.key] = truth
            if obstacle.urgency == CRITICAL and truth is not None and not truth.ghost:
                critical_now.append((obstacle.key, truth.name))
        for key, name in critical_now:
            confirmed.setdefault(key, (name, time_s, len(critical_now) - 1))
        if result.request is not None:
            request = replace(result.request, distance_kind=METRIC)
            truth = by_key.get(request.key)
            text = ENGLISH.sentence(request)
            speaker.advance(time_s + LATENCY_S)
            requests.append(RequestRecord(index, time_s, request, text, truth.name if truth else None,
                                          truth.distance_m if truth else None, truth.direction if truth else None,
                                          bool(truth and truth.ghost), speaker.criticals_ahead(request.key)))
            speaker.offer(text, request, time_s + LATENCY_S)
    speaker.drain()
    criticals = []  # per track: a track is one obstacle as the wearer hears of it
    for key, (name, confirmed_s, concurrent) in confirmed.items():
        asked = [r for r in requests if r.request.key == key and r.request.urgency == CRITICAL]
        if asked:  # also critical: what was being said about others when it was asked for
            concurrent = max(concurrent, asked[0].criticals_ahead)
        heard = [h.started_s for h in speaker.heard if h.started_s is not None and h.request.urgency == CRITICAL
                 and h.request.key == key]
        criticals.append(CriticalRecord(name, confirmed_s, concurrent, asked[0].time_s if asked else None,
                                        min(heard) if heard else None))
    walking_after = None if first_step is None or walking_at is None else walking_at - first_step
    return requests, speaker.heard, criticals, walking_after


def repeats_within_cooldown(heard: Sequence[Heard], scene: Scene, config: FusionConfig) -> int:
    """Identical sentences about the same obstacle heard again sooner than the policy repeats them (two people at
    the same distance are two warnings, not a repeat)."""
    policy = config.policy
    count, last = 0, {}
    for item in sorted((h for h in heard if h.started_s is not None), key=lambda h: h.started_s):
        if item.request.urgency == CRITICAL:
            cooldown = (policy.critical_cooldown_walking_s if scene.walking(item.started_s)
                        else policy.critical_cooldown_standing_s)
        else:
            cooldown = policy.obstacle_cooldown_s
        said = (item.request.key, item.text)
        previous = last.get(said)
        if previous is not None and item.started_s - previous < cooldown - 0.2:  # 0.2: one frame's slack
            count += 1
        last[said] = item.started_s
    return count


def evaluate(scene: Scene, duration_of, config: FusionConfig = FusionConfig()) -> SceneResult:
    requests, heard, criticals, walking_after = run_scene(scene, duration_of, True, config)
    from_perturbations = 0
    if scene.perturbations:
        clean, _, _, _ = run_scene(scene, duration_of, False, config)
        expected = {(r.frame + shift, r.truth_name, r.request.urgency)
                    for r in clean for shift in (-2, -1, 0, 1, 2)}
        from_perturbations = sum(r.ghost or (r.frame, r.truth_name, r.request.urgency) not in expected
                                 for r in requests)
    return SceneResult(scene, criticals, requests, heard, from_perturbations,
                       repeats_within_cooldown(heard, scene, config), walking_after)


# ---- the scenes ---------------------------------------------------------------------------------------------

WALK_MPS = 1.3


def _walking(t: float) -> bool:
    return True


def _standing(t: float) -> bool:
    return False


def scenes() -> List[Scene]:
    rng = np.random.default_rng(7)
    crowd = []
    for i in range(15):
        x, z = float(rng.uniform(-3.0, 3.0)), float(rng.uniform(2.0, 8.0))
        crowd.append(SceneObject(f"person {i + 1}", "person",
                                 moving(x, z, float(rng.uniform(-0.3, 0.3)), -0.6 + float(rng.uniform(-0.3, 0.3)))))
    jitter = np.random.default_rng(11).normal(0.0, 0.04, 400)
    return [
        Scene("approach ahead", "walking towards a person standing 8 m ahead", 6.0,
              [SceneObject("person", "person", static_while_walking(0.1, 8.0, WALK_MPS))], _walking),
        Scene("static, standing", "standing; a chair 1.2 m ahead, a person 2.5 m to the right", 8.0,
              [SceneObject("chair", "chair", stands(0.0, 1.2)), SceneObject("person", "person", stands(1.8, 2.5))],
              _standing),
        Scene("crossing vehicle", "walking slowly; a car crosses from left to right 3-4 m ahead", 6.0,
              [SceneObject("car", "car", moving(-7.0, 4.5, 2.0, -0.8))], _walking),
        Scene("person closing in", "standing; a person walks towards the wearer at 1.5 m/s from 6 m", 4.0,
              [SceneObject("person", "person", moving(0.2, 6.0, 0.0, -1.5))], _standing),
        Scene("detection flicker, 1 frame", "standing; a ghost person at 1 m for one frame, a real person at 2 m "
              "missed for one frame", 5.0, [SceneObject("person", "person", stands(-1.5, 2.0))], _standing,
              perturbations=[Perturbation("ghost", [30], ghost_at=(0.0, 1.0)),
                             Perturbation("missing", [45], target="person")]),
        Scene("detection flicker, 2 frames", "as above, two frames each", 5.0,
              [SceneObject("person", "person", stands(-1.5, 2.0))], _standing,
              perturbations=[Perturbation("ghost", [30, 31], ghost_at=(0.0, 1.0)),
                             Perturbation("missing", [45, 46], target="person")]),
        Scene("depth flicker, 1 frame", "standing; a person at 4.5 m read as 1 m for one frame", 5.0,
              [SceneObject("person", "person", stands(0.0, 4.5))], _standing,
              perturbations=[Perturbation("glitch", [40], target="person", glitch_m=1.0)]),
        Scene("depth flicker, 2 frames", "as above, two frames", 5.0,
              [SceneObject("person", "person", stands(0.0, 4.5))], _standing,
              perturbations=[Perturbation("glitch", [40, 41], target="person", glitch_m=1.0)]),
        Scene("two criticals", "walking slowly; a person 1.2 m ahead and a bicycle 2 m to the right appear "
              "together", 5.0,
              [SceneObject("person", "person", static_while_walking(0.0, 1.3, 0.05), appears_s=1.0),
               SceneObject("bicycle", "bicycle", static_while_walking(1.9, 1.9, 0.05), appears_s=1.0)], _walking),
        Scene("four criticals", "walking slowly; a person 1.2 m ahead, a bicycle 2 m to the right, a person 1.6 m "
              "to the left and a car 2.4 m to the right appear together", 5.0,
              [SceneObject("person", "person", static_while_walking(0.0, 1.3, 0.05), appears_s=1.0),
               SceneObject("bicycle", "bicycle", static_while_walking(1.9, 1.9, 0.05), appears_s=1.0),
               SceneObject("person left", "person", static_while_walking(-1.5, 1.5, 0.05), appears_s=1.0),
               SceneObject("car", "car", static_while_walking(3.2, 2.0, 0.05), appears_s=1.0)], _walking),
        Scene("crowd", "walking slowly into a crowd: 15 people at 2-8 m, some walking", 5.0, crowd, _walking),
        Scene("band edges with jitter", "standing; a person at the critical limit (1.5 m), a chair at 3 m, both "
              "jittering", 8.0,
              [SceneObject("person", "person", lambda t: (0.0, 1.5 + jitter[int(t * 15) % 400])),
               SceneObject("chair", "chair", lambda t: (-1.3, 3.0 + jitter[(int(t * 15) + 50) % 400]))],
              _standing),
        Scene("holes in depth", "walking towards a person; 30% of the depth pixels NaN, and the person's box "
              "all NaN for two frames", 5.0,
              [SceneObject("person", "person", static_while_walking(0.0, 6.5, WALK_MPS))], _walking,
              perturbations=[Perturbation("holes", list(range(75)), share=0.3),
                             Perturbation("box_nan", [40, 41], target="person")]),
        Scene("box partly off-image", "walking; a person cut by the right edge of the image", 4.0,
              [SceneObject("person", "person", static_while_walking(2.2, 4.5, WALK_MPS))], _walking),
        Scene("standing -> walking", "standing, then walking from 2 s towards a person 3.4 m ahead", 5.0,
              [SceneObject("person", "person", static_while_walking(0.0, 3.4, WALK_MPS, start_s=2.0))],
              lambda t: t >= 2.0),
    ] + [pitched(pitch, roll) for pitch, roll in PITCHED_HEADS]


PITCHED_HEADS = ((15.0, 0.0), (25.0, 0.0), (35.0, 0.0), (25.0, 10.0))  # head pitch down, roll right (degrees)


def pitched(pitch_down_deg: float, roll_right_deg: float = 0.0) -> Scene:
    """Walking towards a person 7 m ahead past a chair 4.5 m ahead on the left, looking down: the camera's ranges
    are not the distances along the floor."""
    name = f"pitched {pitch_down_deg:g}°" + (f", roll {roll_right_deg:g}°" if roll_right_deg else "")
    return Scene(name, f"walking, head pitched {pitch_down_deg:g}° down"
                 + (f" and rolled {roll_right_deg:g}° right" if roll_right_deg else "")
                 + ": a person 7 m ahead, a chair 4.5 m ahead on the left", 5.0,
                 [SceneObject("person", "person", static_while_walking(0.1, 7.0, WALK_MPS)),
                  SceneObject("chair", "chair", static_while_walking(-0.9, 4.5, WALK_MPS))], _walking,
                 pitch_down_deg=pitch_down_deg, roll_right_deg=roll_right_deg)


def tilted(scene: Scene) -> bool:
    return scene.pitch_down_deg != 0.0 or scene.roll_right_deg != 0.0


def evaluate_all(duration_of, config: FusionConfig = FusionConfig()) -> List[SceneResult]:
    return [evaluate(scene, duration_of, config) for scene in scenes()]


# ---- targets and the table ----------------------------------------------------------------------------------

def targets(results: Sequence[SceneResult]) -> List[str]:
    """The targets not met, one line each (empty: all met)."""
    failures = []
    for result in results:
        name = result.scene.name
        for critical in result.criticals:  # alone, or one of two; with more (said together): reported only
            if critical.concurrent > 1:
                continue
            if critical.concurrent == 0 and (critical.to_request_s is None or critical.to_request_s > 1e-6):
                failures.append(f"{name}: {critical.name} not requested on its first confirmed frame")
            limit = BOTH_HEARD_S if critical.concurrent else ALONE_HEARD_S
            if critical.to_heard_s is None or critical.to_heard_s > limit:
                failures.append(f"{name}: {critical.name} heard {critical.to_heard_s} s after confirmation "
                                f"(limit {limit} s)")
        if result.repeats:
            failures.append(f"{name}: {result.repeats} identical repeats within the cooldown")
        one_frame = any(len(p.frames) == 1 for p in result.scene.perturbations)
        if one_frame and result.from_perturbations:
            failures.append(f"{name}: {result.from_perturbations} requests from one-frame glitches")
    within = [sum(x) for x in zip(*(r.distances_within for r in results))] or [0, 0]
    right = [sum(x) for x in zip(*(r.directions_right for r in results))] or [0, 0]
    if within[1] and within[0] < 0.95 * within[1]:
        failures.append(f"spoken distance within 15% for {within[0]}/{within[1]} requests (< 95%)")
    if right[1] and right[0] < 0.95 * right[1]:
        failures.append(f"direction right in {right[0]}/{right[1]} requests (< 95%)")
    floor = tilted_distances_within(results)
    if floor and floor[0] < floor[1]:
        failures.append(f"head pitched or rolled: spoken distance within 10% of the floor distance for "
                        f"{floor[0]}/{floor[1]} requests (all)")
    return failures


def tilted_distances_within(results: Sequence[SceneResult]) -> List[int]:
    """[within 10%, judged] over the requests of the scenes with the head pitched or rolled ([] without such)."""
    return [sum(x) for x in zip(*(r.distances_within_floor_tolerance for r in results if tilted(r.scene)))]


def _ms(value: Optional[float]) -> str:
    return "never" if value is None else f"{value * 1e3:.0f}"


def table(results: Sequence[SceneResult]) -> str:
    header = ("| scenario | critical obstacle (others critical) | confirmed->request ms | confirmed->heard ms "
              "| requests | direction right | distance within 15% | within 10% | repeats in cooldown "
              "| speech from flicker | utterances/min |")
    lines = [header, "| " + " | ".join(["---"] * (header.count("|") - 1)) + " |"]
    for result in results:
        right, judged = result.directions_right
        within, measured = result.distances_within
        floor_within, _ = result.distances_within_floor_tolerance
        flicker = str(result.from_perturbations) if result.scene.perturbations else "-"
        criticals = result.criticals or [None]
        for i, critical in enumerate(criticals):
            first = i == 0
            lines.append("| " + " | ".join([
                result.scene.name if first else "",
                f"{critical.name} ({critical.concurrent})" if critical else "-",
                _ms(critical.to_request_s) if critical else "-",
                _ms(critical.to_heard_s) if critical else "-",
                str(len(result.requests)) if first else "",
                f"{right}/{judged}" if first else "",
                f"{within}/{measured}" if first else "",
                f"{floor_within}/{measured}" if first else "",
                str(result.repeats) if first else "",
                flicker if first else "",
                f"{result.utterances_per_minute:.0f}" if first else "",
            ]) + " |")
    return "\n".join(lines)


def summary(results: Sequence[SceneResult], duration_of: DurationCache) -> str:
    within = [sum(x) for x in zip(*(r.distances_within for r in results))]
    right = [sum(x) for x in zip(*(r.directions_right for r in results))]
    longest, text = duration_of.longest_critical()
    walking = [r.walking_after_s for r in results if r.walking_after_s is not None]
    floor = tilted_distances_within(results)
    lines = [f"spoken distance within 15%: {within[0]}/{within[1]}; direction right: {right[0]}/{right[1]}"]
    if floor:
        lines.append(f"head pitched or rolled: spoken distance within 10% of the floor distance: "
                     f"{floor[0]}/{floor[1]}")
    lines.append(f"longest critical audio (earcon included): {longest:.2f} s, '{text}'")
    crowded = [c.to_heard_s for r in results for c in r.criticals if c.concurrent >= 2 and c.to_heard_s is not None]
    if crowded:
        longest, text = duration_of.longest_critical(merged=True)
        lines.append(f"critical with two or more others: {len(crowded)}, heard at most {max(crowded):.2f} s after "
                     f"confirmation; longest merged sentence {longest:.2f} s, '{text}'")
    if walking:
        lines.append(f"standing -> walking seen {max(walking):.2f} s after the first step")
    lines.append(f"modelled: {LATENCY_S * 1e3:.0f} ms frame -> request, {SYNTHESIS_S * 1e3:.0f} ms synthesis; "
                 f"audio from espeak-ng at {WORDS_PER_MINUTE} wpm ({CRITICAL_WORDS_PER_MINUTE} critical)")
    return "\n".join(lines)
