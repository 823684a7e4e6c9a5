"""The depth stage's latched mode message (std_msgs/String JSON {"mode": "metric" | "approximate"}): whether its
metres are measured, so that listeners speak metres only then (docs/depth.md)."""
from __future__ import annotations

import json

from std_msgs.msg import String

from aria_nav import topics
from aria_nav.core.speech.request import DISTANCE_KINDS


def msg_to_distance_kind(msg: String) -> str:
    """metric or approximate; ValueError naming the problem otherwise."""
    try:
        mode = json.loads(msg.data).get("mode")
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"depth mode on {topics.DEPTH_MODE} is not a JSON object: {exc}") from None
    if mode not in DISTANCE_KINDS:  # what the depth node publishes
        raise ValueError(f"depth mode on {topics.DEPTH_MODE} is {str(mode)[:40]!r}, not {' or '.join(DISTANCE_KINDS)}")
    return mode
