"""Speech requests as aria_nav_msgs/SpeechRequest (its .msg file documents each field; the ROS-free model and its
validation are aria_nav.core.speech.request), and spoken reports as aria_nav_msgs/Utterance (times in seconds on
the speech node's clock; NaN or empty for what did not happen).

A request carries the precision the speech node phrases with: priority to 3 decimals, distance to 2, bearing to 1;
a value not given is NaN (distance, bearing), 0 (clock) or empty (distance_kind: metric)."""
from __future__ import annotations

import math
from typing import Optional

from aria_nav_msgs.msg import SpeechRequest as SpeechRequestMsg
from aria_nav_msgs.msg import Utterance
from builtin_interfaces.msg import Time

from aria_nav.core.speech.request import METRIC, SpeechRequest, SpeechRequestError
from aria_nav.core.speech.speaker import SpokenRecord


def _given(value: Optional[float], digits: int) -> float:
    return math.nan if value is None else round(value, digits)


def _optional(value: float, digits: int) -> Optional[float]:
    return None if math.isnan(value) else round(value, digits)


def request_to_msg(request: SpeechRequest) -> SpeechRequestMsg:
    sec, nanosec = divmod(request.stamp_ns, 1_000_000_000)
    return SpeechRequestMsg(
        event=request.event, urgency=request.urgency, priority=round(request.priority, 3), key=request.key,
        stamp=Time(sec=sec, nanosec=nanosec), class_name=request.class_name,
        distance_m=_given(request.distance_m, 2), distance_kind=request.distance_kind, band=request.band,
        direction=request.direction, clock=request.clock, bearing_deg=_given(request.bearing_deg, 1),
        camera=request.camera, reason=request.reason, text=request.text)


def msg_to_request(msg: SpeechRequestMsg) -> SpeechRequest:
    """Raises SpeechRequestError naming the problem."""
    if not 0 <= msg.stamp.nanosec < 1_000_000_000:
        raise SpeechRequestError(f"stamp nanosec {msg.stamp.nanosec} is not 0..999999999")
    return SpeechRequest(
        event=msg.event, urgency=msg.urgency, priority=round(msg.priority, 3), key=msg.key,
        stamp_ns=msg.stamp.sec * 1_000_000_000 + msg.stamp.nanosec, class_name=msg.class_name,
        distance_m=_optional(msg.distance_m, 2), distance_kind=msg.distance_kind or METRIC, band=msg.band,
        direction=msg.direction, clock=msg.clock, bearing_deg=_optional(msg.bearing_deg, 1), camera=msg.camera,
        reason=msg.reason, text=msg.text)


def spoken_to_msg(record: SpokenRecord, language: str) -> Utterance:
    sec, nanosec = divmod(record.request.stamp_ns, 1_000_000_000)
    latency = record.capture_to_ear_s
    return Utterance(
        text=record.text, urgency=record.request.urgency, event=record.request.event, key=record.request.key,
        language=language, requested_stamp=Time(sec=sec, nanosec=nanosec), received_s=record.received_s,
        started_s=math.nan if record.started_s is None else record.started_s, ended_s=record.ended_s,
        capture_to_ear_ms=math.nan if latency is None else round(latency * 1e3, 1),
        interrupted=record.interrupted, wav=record.wav_path or "", audio_s=round(record.audio_s, 3),
        error=record.error or "")


def msg_to_spoken(msg: Utterance) -> dict:
    """The report as a plain record (what the demo summary and the tests keep): the message's fields, with None for
    a value not given (started, capture_to_ear_ms, wav, error)."""
    return {"text": msg.text, "urgency": msg.urgency, "event": msg.event, "key": msg.key, "language": msg.language,
            "requested_stamp": {"sec": msg.requested_stamp.sec, "nanosec": msg.requested_stamp.nanosec},
            "received": msg.received_s, "started": None if math.isnan(msg.started_s) else msg.started_s,
            "ended": msg.ended_s,
            "capture_to_ear_ms": _optional(msg.capture_to_ear_ms, 1), "interrupted": msg.interrupted,
            "wav": msg.wav or None, "audio_s": round(msg.audio_s, 3), "error": msg.error or None}
