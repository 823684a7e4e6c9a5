"""What is worth saying, and when: priorities, urgency, confirmation, cooldowns.

Priority of an obstacle (higher first):
    class importance x band weight x centrality + approach_gain x approach speed (m/s, only when getting closer)
Urgency:
    critical  a critical class (people, vehicles) nearer than the critical distance, which is longer while walking
              (the wearer closes in) than standing, or closing in fast: approach speed at least
              `ttc_min_speed_mps` and time to collision (distance / approach speed) under `critical_ttc_s` (a
              person coming at 1.5 m/s from 3 m, 2 s away, is more urgent than a chair 1.5 m away). Once critical,
              it must get band_hysteresis_m farther (and `ttc_hysteresis_s` later) to stop being critical. The
              critical state itself must be confirmed: it counts only after `critical_confirm_frames`
              consecutive frames in it, and is announced on that frame; until then the obstacle is held (not
              spoken of at all, so the wearer does not hear a warning one frame before the critical one);
    warning   anything else in the very close or close band (bands have hysteresis too);
    info      farther, or without a distance.
An obstacle is spoken of only once its track is confirmed: seen in `critical_confirm_frames` consecutive frames
if critical, `confirm_frames` otherwise, so a one-frame false detection is never spoken. Once told, an obstacle
is told again at once when it becomes more urgent; when it moves to a nearer band (approaching), at least
`min_gap_s` after it was last told; when the cooldown since it was last told is over (`critical_cooldown_*_s`),
a still critical one is repeated, an ordinary one only if its direction changed. This is the only place where
repeats are decided (the speech node's repeat guard is shorter than any cooldown). Between any two utterances at
least `min_gap_s` passes, except for critical ones. One request per frame at most: the most urgent, then highest
priority, of those due (the caller passes the obstacles of every camera's latest frame, so cameras compete
fairly).

Times are the source frames' stamps in seconds, so the policy behaves the same live and in replay.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, Mapping, Optional, Sequence, Tuple

from aria_nav.core.fusion.bands import CLOSE, UNKNOWN, VERY_CLOSE, band_index
from aria_nav.core.fusion.geometry import AHEAD
from aria_nav.core.fusion.motion import WALKING
from aria_nav.core.fusion.obstacle import RGB, Obstacle
from aria_nav.core.speech.request import (APPROACHING, CRITICAL, INFO, OBSTACLE, WARNING, SpeechRequest,
                                          urgency_rank)

DEFAULT_CLASS_PRIORITIES = {
    "person": 10, "stop sign": 9, "car": 8, "truck": 8, "bus": 8, "bicycle": 7, "motorcycle": 7,
    "traffic light": 6, "stairs": 5, "door": 4, "chair": 3, "table": 3, "dining table": 3, "bottle": 2,
    "laptop": 2,
}
DEFAULT_CRITICAL_CLASSES = frozenset({"person", "car", "truck", "bus", "bicycle", "motorcycle"})
DEFAULT_BAND_WEIGHTS = {"very_close": 1.0, "close": 0.7, "medium": 0.4, "far": 0.1, UNKNOWN: 0.3}


@dataclass(frozen=True)
class PolicyConfig:
    band_limits_m: Tuple[float, ...] = (1.5, 3.0, 5.0)
    band_hysteresis_m: float = 0.2
    band_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_BAND_WEIGHTS))
    class_priorities: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CLASS_PRIORITIES))
    default_class_priority: int = 1
    side_weight: float = 0.6  # centrality of an obstacle on the left or right of the RGB image (ahead: 1)
    peripheral_weight: float = 0.4  # centrality of an obstacle seen only by a peripheral (SLAM) camera
    approach_gain: float = 2.0  # priority per m/s of approach speed
    approach_speed_mps: float = 0.3  # faster than this, getting closer is spoken as "approaching"
    critical_classes: FrozenSet[str] = DEFAULT_CRITICAL_CLASSES
    critical_distance_walking_m: float = 3.0
    critical_distance_standing_m: float = 1.5
    critical_cooldown_walking_s: float = 3.0
    critical_cooldown_standing_s: float = 5.0
    critical_ttc_s: float = 2.0  # time to collision under which a closing critical class is critical
    ttc_min_speed_mps: float = 0.5  # slower approach (or speed noise) never makes anything critical
    ttc_hysteresis_s: float = 0.5
    critical_confirm_frames: int = 3
    confirm_frames: int = 3
    obstacle_cooldown_s: float = 2.5
    min_gap_s: float = 0.8
    announce_max_distance_m: float = 5.0  # farther obstacles are not spoken of
    min_priority_without_distance: int = 1  # obstacles without a distance are spoken of from this class priority


def class_priority(config: PolicyConfig, class_name: str) -> int:
    return int(config.class_priorities.get(class_name, config.default_class_priority))


def priority_of(config: PolicyConfig, obstacle: Obstacle) -> float:
    if obstacle.camera != RGB:
        centrality = config.peripheral_weight
    else:
        centrality = 1.0 if obstacle.direction == AHEAD else config.side_weight
    band_weight = config.band_weights.get(obstacle.band, 0.0)
    return (class_priority(config, obstacle.class_name) * band_weight * centrality
            + config.approach_gain * max(0.0, obstacle.approach_mps))


def time_to_collision(obstacle: Obstacle) -> float:
    """Seconds until it is reached at the present approach speed (inf when not getting closer)."""
    if obstacle.approach_mps <= 0 or not math.isfinite(obstacle.distance_m):
        return math.inf
    return obstacle.distance_m / obstacle.approach_mps


def urgency_of(config: PolicyConfig, obstacle: Obstacle, motion_state: str, was_critical: bool = False) -> str:
    """Critical below the critical distance or the critical time to collision (plus the hysteresis for an
    obstacle already critical, so noise around the limit does not make it flip); warning in the very close and
    close bands; info otherwise."""
    if not math.isfinite(obstacle.distance_m):
        return INFO
    critical_distance = (config.critical_distance_walking_m if motion_state == WALKING
                         else config.critical_distance_standing_m)
    critical_ttc = config.critical_ttc_s
    if was_critical:
        critical_distance += config.band_hysteresis_m
        critical_ttc += config.ttc_hysteresis_s
    closing = (obstacle.approach_mps >= config.ttc_min_speed_mps and time_to_collision(obstacle) < critical_ttc
               and obstacle.distance_m < config.announce_max_distance_m)  # never critical and unspoken
    if obstacle.class_name in config.critical_classes and (obstacle.distance_m < critical_distance or closing):
        return CRITICAL
    if obstacle.band in (VERY_CLOSE, CLOSE):
        return WARNING
    return INFO


def _elapsed(now_s: float, since_s: float, interval_s: float) -> bool:
    """At least `interval_s` from `since_s` to `now_s`, with 0.1 ms of slack: nanosecond stamps turned into float
    seconds are not exact, and 0.8 s between frames 0.1 s apart must count as 0.8 s."""
    return now_s - since_s >= interval_s - 1e-4


@dataclass
class _Told:
    """What was last said about one obstacle."""

    time_s: float
    band: str
    direction: str
    rank: int


class GuidancePolicy:
    def __init__(self, config: PolicyConfig = PolicyConfig()):
        self.config = config
        self._told: Dict[str, _Told] = {}
        self._critical_run: Dict[str, int] = {}  # key -> consecutive frames in the critical state (unconfirmed too)
        self._last_utterance_s = -math.inf

    def rate(self, obstacle: Obstacle, motion_state: str) -> None:
        """Sets the obstacle's priority and urgency (critical once confirmed; a warning until then)."""
        obstacle.priority = priority_of(self.config, obstacle)
        run = self._critical_run.get(obstacle.key, 0)
        urgency = urgency_of(self.config, obstacle, motion_state, run > 0)
        if urgency == CRITICAL:
            run += 1
            self._critical_run[obstacle.key] = run
            if run < self.config.critical_confirm_frames:
                urgency = WARNING
        else:
            self._critical_run.pop(obstacle.key, None)
        obstacle.urgency = urgency

    def _pending_critical(self, obstacle: Obstacle) -> bool:
        """In the critical state, not yet confirmed: held back, so it is first heard as the critical warning."""
        return obstacle.urgency != CRITICAL and self._critical_run.get(obstacle.key, 0) > 0

    def decide(self, obstacles: Sequence[Obstacle], motion_state: str, now_s: float) -> Optional[SpeechRequest]:
        """The one request to send now about these (rated) obstacles, or None."""
        if now_s + 1.0 < self._last_utterance_s:  # time went back (replay restarted): start afresh
            self.reset()
        due = []
        for obstacle in obstacles:
            if self._announceable(obstacle) and self._confirmed(obstacle) and not self._pending_critical(obstacle):
                event = self._due_event(obstacle, motion_state, now_s)
                if event is not None:
                    due.append((urgency_rank(obstacle.urgency), obstacle.priority, event, obstacle))
        if not due:
            return None
        rank, _, event, chosen = max(due, key=lambda item: item[:2])
        if chosen.urgency != CRITICAL and not _elapsed(now_s, self._last_utterance_s, self.config.min_gap_s):
            return None
        self._told[chosen.key] = _Told(now_s, chosen.band, chosen.direction, rank)
        self._last_utterance_s = now_s
        return SpeechRequest(
            event=event, urgency=chosen.urgency, priority=chosen.priority, key=chosen.key, stamp_ns=chosen.stamp_ns,
            class_name=chosen.class_name,
            distance_m=chosen.distance_m if math.isfinite(chosen.distance_m) else None,
            band=chosen.band, direction=chosen.direction, clock=chosen.clock, bearing_deg=chosen.bearing_deg,
            camera=chosen.camera)

    def forget(self, keys: Iterable[str]) -> None:
        """Obstacles that have left: if they come back, they are news again."""
        for key in keys:
            self._told.pop(key, None)
            self._critical_run.pop(key, None)

    def reset(self) -> None:
        self._told.clear()
        self._critical_run.clear()
        self._last_utterance_s = -math.inf

    def _announceable(self, obstacle: Obstacle) -> bool:
        if not obstacle.speak:
            return False
        if math.isfinite(obstacle.distance_m):
            return obstacle.distance_m < self.config.announce_max_distance_m
        return class_priority(self.config, obstacle.class_name) >= self.config.min_priority_without_distance

    def _confirmed(self, obstacle: Obstacle) -> bool:
        needed = (self.config.critical_confirm_frames if obstacle.urgency == CRITICAL
                  else self.config.confirm_frames)
        return obstacle.confirmed_frames >= needed

    def _due_event(self, obstacle: Obstacle, motion_state: str, now_s: float) -> Optional[str]:
        told = self._told.get(obstacle.key)
        if told is None:
            return OBSTACLE
        rank = urgency_rank(obstacle.urgency)
        nearer = band_index(obstacle.band) < band_index(told.band)
        # Moving away lowers the reference, so coming back is news again.
        if band_index(obstacle.band) > band_index(told.band):
            told.band = obstacle.band
        if rank < told.rank:
            told.rank = rank
        if rank > told.rank or (nearer and _elapsed(now_s, told.time_s, self.config.min_gap_s)):
            return APPROACHING if obstacle.approach_mps >= self.config.approach_speed_mps else OBSTACLE
        critical = obstacle.urgency == CRITICAL
        if critical:
            cooldown = (self.config.critical_cooldown_walking_s if motion_state == WALKING
                        else self.config.critical_cooldown_standing_s)
        else:
            cooldown = self.config.obstacle_cooldown_s
        if _elapsed(now_s, told.time_s, cooldown) and (critical or obstacle.direction != told.direction):
            return OBSTACLE
        return None
