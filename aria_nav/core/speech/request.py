"""What fusion asks the speech stage to say: a structured event, not a sentence, so the speech stage phrases it in
the listener's language. Carried as JSON in a std_msgs/String (aria_nav.ros.speech_msgs); this module is the
ROS-free model and its validation.

JSON fields: event (obstacle | approaching | degraded | restored), urgency (critical | warning | info),
priority (float, higher first), key (identifies the obstacle or condition: "rgb:12", "vision:depth"),
stamp {sec, nanosec} (the source image's header stamp, for end-to-end latency), and for obstacles: class_name
(the detector's class name, English), distance_m (null when unknown), distance_kind (metric | approximate:
approximate distances come from a relative depth model and must not be spoken as metres), band, direction
(left | ahead | right), clock (1..12), bearing_deg, camera (rgb | slam_left | slam_right); for degraded/restored:
reason (detections | depth).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Optional

OBSTACLE, APPROACHING, DEGRADED, RESTORED = "obstacle", "approaching", "degraded", "restored"
EVENTS = (OBSTACLE, APPROACHING, DEGRADED, RESTORED)
INFO, WARNING, CRITICAL = "info", "warning", "critical"
METRIC, APPROXIMATE = "metric", "approximate"
DISTANCE_KINDS = (METRIC, APPROXIMATE)
URGENCIES = (INFO, WARNING, CRITICAL)  # ascending


def urgency_rank(urgency: str) -> int:
    return URGENCIES.index(urgency)


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

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise SpeechRequestError(f"unknown event '{self.event}' (known: {', '.join(EVENTS)})")
        if self.urgency not in URGENCIES:
            raise SpeechRequestError(f"unknown urgency '{self.urgency}' (known: {', '.join(URGENCIES)})")
        if self.event in (OBSTACLE, APPROACHING) and not self.class_name:
            raise SpeechRequestError(f"a '{self.event}' request needs a class_name")
        if self.distance_m is not None and not (math.isfinite(self.distance_m) and self.distance_m >= 0):
            raise SpeechRequestError(f"distance_m {self.distance_m} is not a distance")
        if self.distance_kind not in DISTANCE_KINDS:
            raise SpeechRequestError(f"unknown distance_kind '{self.distance_kind}' (known: metric, approximate)")

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
        try:
            stamp = body.get("stamp") or {}
            distance = body.get("distance_m")
            bearing = body.get("bearing_deg")
            return cls(event=str(body["event"]), urgency=str(body["urgency"]),
                       priority=float(body.get("priority", 0.0)), key=str(body.get("key", "")),
                       stamp_ns=int(stamp.get("sec", 0)) * 1_000_000_000 + int(stamp.get("nanosec", 0)),
                       class_name=str(body.get("class_name", "")),
                       distance_m=None if distance is None else float(distance),
                       distance_kind=str(body.get("distance_kind", METRIC)), band=str(body.get("band", "")),
                       direction=str(body.get("direction", "")),
                       clock=int(body.get("clock", 0)), bearing_deg=None if bearing is None else float(bearing),
                       camera=str(body.get("camera", "")), reason=str(body.get("reason", "")))
        except SpeechRequestError:
            raise
        except KeyError as exc:
            raise SpeechRequestError(f"missing field {exc}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise SpeechRequestError(f"bad field value: {exc}") from None
