"""What fusion asks the speech stage to say: a structured event, not a sentence, so the speech stage phrases it in
the listener's language. Carried as aria_nav_msgs/SpeechRequest (aria_nav.ros.speech_msgs); its JSON form (logs,
the demo's summary) has the fields below. This module is the ROS-free model and its validation.

JSON fields: event (obstacle | approaching | degraded | restored | slow | ended: a recording's input ended |
description), urgency (critical | warning | info | describe), priority (float, higher first), key (identifies the
obstacle or condition: "rgb:12", "vision:depth"), stamp {sec, nanosec} (the source image's header stamp, for end-to-end
latency), and for obstacles: class_name (the detector's class name, English), distance_m (null when unknown),
distance_kind (metric | approximate: approximate distances come from a relative depth model and must not be spoken as
metres), band, direction (left | ahead | right), clock (1..12), bearing_deg, camera (rgb | slam_left | slam_right); for
degraded/restored/slow: reason (detections | depth | camera: both, the camera died; guidance: fusion gone silent,
speech: the speech node restarted, both said by the speech node itself); for description: text (the sentence, already in
the listener's language).

A description (the describe node's answer to "what is around me?") has the lowest urgency, describe, and only it:
any other request is said before it and interrupts it (aria_nav.core.speech.queue).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Optional

OBSTACLE, APPROACHING, DEGRADED, RESTORED, ENDED = "obstacle", "approaching", "degraded", "restored", "ended"
SLOW = "slow"  # a stage alive but below its rate floor (core.health)
DESCRIPTION = "description"
EVENTS = (OBSTACLE, APPROACHING, DEGRADED, RESTORED, SLOW, ENDED, DESCRIPTION)
HEALTH_EVENTS = (DEGRADED, RESTORED, SLOW)  # with a reason
SYSTEM_EVENTS = HEALTH_EVENTS + (ENDED,)  # news about the system, not about the scene
DESCRIBE, INFO, WARNING, CRITICAL = "describe", "info", "warning", "critical"
METRIC, APPROXIMATE = "metric", "approximate"
DISTANCE_KINDS = (METRIC, APPROXIMATE)
URGENCIES = (INFO, WARNING, CRITICAL)  # ascending; an obstacle's urgency (its code in the obstacle messages)
REQUEST_URGENCIES = (DESCRIBE,) + URGENCIES  # ascending; a speech request's
MAX_TEXT_CHARS = 400  # a description longer than this is a publisher's bug, not something to read out
DIRECTIONS = ("left", "ahead", "right")
REASONS = ("detections", "depth", "camera", "guidance", "speech")


def urgency_rank(urgency: str) -> int:
    return REQUEST_URGENCIES.index(urgency)


class SpeechRequestError(ValueError):
    """A speech request that is not valid JSON of the documented shape."""


@dataclass(frozen=True)
class SpeechRequest:
    event: str
    urgency: str
    priority: float
    key: str
    stamp_ns: int
    class_name: str = ""
    distance_m: Optional[float] = None
    distance_kind: str = METRIC
    band: str = ""
    direction: str = ""
    clock: int = 0
    bearing_deg: Optional[float] = None
    camera: str = ""
    reason: str = ""
    text: str = ""

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise SpeechRequestError(f"unknown event '{self.event}' (known: {', '.join(EVENTS)})")
        if self.urgency not in REQUEST_URGENCIES:
            raise SpeechRequestError(f"unknown urgency '{self.urgency}' (known: {', '.join(REQUEST_URGENCIES)})")
        if (self.event == DESCRIPTION) != (self.urgency == DESCRIBE):
            raise SpeechRequestError(f"urgency '{DESCRIBE}' is for '{DESCRIPTION}' requests only, and theirs")
        if self.event == DESCRIPTION and not 0 < len(self.text.strip()) <= MAX_TEXT_CHARS:
            raise SpeechRequestError(f"a description needs a text of 1 to {MAX_TEXT_CHARS} characters")
        if self.event in (OBSTACLE, APPROACHING) and not self.class_name:
            raise SpeechRequestError(f"a '{self.event}' request needs a class_name")
        if self.distance_m is not None and not (math.isfinite(self.distance_m) and self.distance_m >= 0):
            raise SpeechRequestError(f"distance_m {self.distance_m} is not a distance")
        if self.distance_kind not in DISTANCE_KINDS:
            raise SpeechRequestError(f"unknown distance_kind '{self.distance_kind}' (known: metric, approximate)")
        if self.event in (OBSTACLE, APPROACHING) and self.direction not in DIRECTIONS:
            raise SpeechRequestError(f"unknown direction '{self.direction}' (known: {', '.join(DIRECTIONS)})")
        if self.event in (OBSTACLE, APPROACHING) and not 0 <= self.clock <= 12:
            raise SpeechRequestError(f"clock {self.clock} is not 1..12 (0: none)")
        if self.event in HEALTH_EVENTS and self.reason not in REASONS:
            raise SpeechRequestError(f"unknown reason '{self.reason}' (known: {', '.join(REASONS)})")
        if not math.isfinite(self.priority):
            raise SpeechRequestError(f"priority {self.priority} is not a number")
        if self.bearing_deg is not None and not math.isfinite(self.bearing_deg):
            raise SpeechRequestError(f"bearing_deg {self.bearing_deg} is not a number")

    @property
    def rank(self) -> int:
        return urgency_rank(self.urgency)

    def to_json(self) -> str:
        sec, nanosec = divmod(self.stamp_ns, 1_000_000_000)
        body = {"event": self.event, "urgency": self.urgency, "priority": round(self.priority, 3), "key": self.key,
                "stamp": {"sec": sec, "nanosec": nanosec}}
        if self.event in (OBSTACLE, APPROACHING):
            body.update(class_name=self.class_name,
                        distance_m=None if self.distance_m is None else round(self.distance_m, 2),
                        distance_kind=self.distance_kind, band=self.band, direction=self.direction, clock=self.clock,
                        bearing_deg=None if self.bearing_deg is None else round(self.bearing_deg, 1),
                        camera=self.camera)
        elif self.event == DESCRIPTION:
            body["text"] = self.text
        else:
            body["reason"] = self.reason
        return json.dumps(body)

    @classmethod
    def from_json(cls, text: str) -> "SpeechRequest":
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpeechRequestError(f"not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise SpeechRequestError("not a JSON object")
        for name in ("event", "urgency"):
            if name not in body:
                raise SpeechRequestError(f"missing field '{name}'")
        stamp = _typed(body, "stamp", dict, {})
        return cls(event=_typed(body, "event", str), urgency=_typed(body, "urgency", str),
                   priority=_typed(body, "priority", float, 0.0), key=_typed(body, "key", str, ""),
                   stamp_ns=_typed(stamp, "sec", int, 0) * 1_000_000_000 + _typed(stamp, "nanosec", int, 0),
                   class_name=_typed(body, "class_name", str, ""), distance_m=_typed(body, "distance_m", float),
                   distance_kind=_typed(body, "distance_kind", str, METRIC), band=_typed(body, "band", str, ""),
                   direction=_typed(body, "direction", str, ""), clock=_typed(body, "clock", int, 0),
                   bearing_deg=_typed(body, "bearing_deg", float), camera=_typed(body, "camera", str, ""),
                   reason=_typed(body, "reason", str, ""), text=_typed(body, "text", str, ""))


_ACCEPTED = {str: (str,), dict: (dict,), int: (int,), float: (int, float)}
_JSON_NAMES = {str: "string", dict: "object", int: "integer", float: "number"}


def _typed(body: dict, name: str, kind: type, default=None):
    """body[name] if it is a `kind` (an integer is a float too, a boolean is no number), `default` when it is absent
    or null; anything else is a SpeechRequestError (a list or an object is never said as a class name)."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, _ACCEPTED[kind]):
        raise SpeechRequestError(f"bad field value: '{name}' is {str(value)[:40]!r}, not a JSON {_JSON_NAMES[kind]}")
    return kind(value)
