"""Speech requests and spoken reports as std_msgs/String JSON (standard types only, readable with `ros2 topic
echo`). The request's fields are documented in aria_nav.core.speech.request; the spoken report is
{text, urgency, event, key, language, requested_stamp {sec, nanosec}, received, started, ended (seconds, node
clock; started null when interrupted before it began), capture_to_ear_ms (source frame stamp to audio start;
null when it never started), interrupted, wav (path or null), audio_s, error}."""
from __future__ import annotations

import json

from std_msgs.msg import String

from aria_nav.core.speech.request import SpeechRequest
from aria_nav.core.speech.speaker import SpokenRecord


def request_to_msg(request: SpeechRequest) -> String:
    return String(data=request.to_json())


def msg_to_request(msg: String) -> SpeechRequest:
    """Raises SpeechRequestError naming the problem."""
    return SpeechRequest.from_json(msg.data)


def spoken_to_msg(record: SpokenRecord, language: str) -> String:
    sec, nanosec = divmod(record.request.stamp_ns, 1_000_000_000)
    latency = record.capture_to_ear_s
    return String(data=json.dumps({
        "text": record.text, "urgency": record.request.urgency, "event": record.request.event,
        "key": record.request.key, "language": language, "requested_stamp": {"sec": sec, "nanosec": nanosec},
        "received": record.received_s, "started": record.started_s, "ended": record.ended_s,
        "capture_to_ear_ms": None if latency is None else round(latency * 1e3, 1),
        "interrupted": record.interrupted, "wav": record.wav_path, "audio_s": round(record.audio_s, 3),
        "error": record.error}))
