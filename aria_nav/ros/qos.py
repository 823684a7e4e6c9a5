"""The project's QoS profiles.

Images and other sensor streams use sensor-data QoS with keep-last 1: a slow subscriber gets the newest frame,
never a backlog. Detections, depth and obstacles are per-frame results: best effort too, a slightly deeper history
so fusion can pair them by stamp. Speech and metadata are reliable; metadata is latched (transient local) so a late
subscriber still gets it. Deterministic replay switches frame streams to reliable, keep-all-within-depth.
"""
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)


def sensor_qos(depth: int = 1) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


REPLAY_DEPTH = 100  # replay: frames a reliable publisher holds for a subscriber that lags behind
RESULT_DEPTH = 5  # per-frame results kept for a subscriber that pairs them by stamp (fusion)


def replay_qos(depth: int = REPLAY_DEPTH) -> QoSProfile:
    """Every frame delivered, in order: for deterministic regression replay (process_every_frame)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def frame_qos(process_every_frame: bool, depth: int = 1) -> QoSProfile:
    """QoS of a per-frame stream: newest-frame (sensor data) normally; in replay mode reliable, holding `depth`
    messages and never fewer than REPLAY_DEPTH."""
    return replay_qos(max(depth, REPLAY_DEPTH)) if process_every_frame else sensor_qos(depth)


def result_qos() -> QoSProfile:
    return sensor_qos(depth=RESULT_DEPTH)


def reliable_qos(depth: int = 10) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def latched_qos() -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)
