"""Obstacles followed across frames: stable ids, confirmation, approach speed, and when they have left.

Association is greedy per frame, best pairs first, same class only: a detection continues the track whose last box
overlaps it most (IoU >= `min_iou`); failing that, the track whose box centre is nearest, within `max_centre_jump`
box diagonals (fast relative motion at close range moves a box more than it overlaps). Unmatched detections start
new tracks. A track missed for more than `max_missed` frames has left.

`consecutive` counts the frames in a row a track was seen: the policy speaks only of tracks seen in several
consecutive frames, so a one-frame false detection never makes a sound. The approach speed is the slope of the
distance over the last `speed_window_s` seconds (least squares, positive when getting closer).
"""
from __future__ import annotations

import collections
import itertools
import math
from dataclasses import dataclass, field
from typing import Deque, Dict, List, Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class TrackerConfig:
    min_iou: float = 0.3
    max_centre_jump: float = 0.5  # in diagonals of the track's last box
    max_missed: int = 5  # frames a track survives unseen before it has left
    speed_window_s: float = 1.0
    min_speed_samples: int = 3


@dataclass
class Measurement:
    """One detection in one frame, with what fusion measured about it."""

    box: np.ndarray  # x1, y1, x2, y2 in source image pixels
    class_id: int
    score: float
    distance_m: float = float("nan")  # NaN when unknown


@dataclass
class Track:
    track_id: int
    class_id: int
    box: np.ndarray
    score: float
    distance_m: float
    hits: int = 1
    consecutive: int = 1
    longest_run: int = 1  # most consecutive frames seen: a track once confirmed stays confirmed
    missed: int = 0
    seen_this_frame: bool = True
    history: Deque[Tuple[float, float]] = field(default_factory=lambda: collections.deque(maxlen=64))
    approach_mps: float = 0.0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _centre_jump(track_box: np.ndarray, box: np.ndarray) -> float:
    """Distance between box centres, in diagonals of the track's box."""
    diagonal = math.hypot(track_box[2] - track_box[0], track_box[3] - track_box[1]) or 1.0
    dx = (box[0] + box[2] - track_box[0] - track_box[2]) / 2.0
    dy = (box[1] + box[3] - track_box[1] - track_box[3]) / 2.0
    return math.hypot(dx, dy) / diagonal


class ObstacleTracker:
    def __init__(self, config: TrackerConfig = TrackerConfig(), first_id: int = 1):
        self.config = config
        self.tracks: Dict[int, Track] = {}
        self._ids = itertools.count(first_id)

    def update(self, measurements: Sequence[Measurement], time_s: float) -> Tuple[List[Track], List[Track]]:
        """Associates one frame's measurements; returns (tracks seen this frame, in measurement order; tracks that
        have left in this update)."""
        assignment = self._associate(measurements)
        seen: List[Track] = []
        for track in self.tracks.values():
            track.seen_this_frame = False
        for index, measurement in enumerate(measurements):
            track_id = assignment.get(index)
            if track_id is None:
                track = Track(next(self._ids), measurement.class_id, measurement.box, measurement.score,
                              measurement.distance_m)
                self.tracks[track.track_id] = track
            else:
                track = self.tracks[track_id]
                track.box, track.score = measurement.box, measurement.score
                track.hits += 1
                track.consecutive += 1  # reset to 0 by a missed frame
                track.longest_run = max(track.longest_run, track.consecutive)
                track.missed = 0
                track.seen_this_frame = True
                track.distance_m = measurement.distance_m
            if math.isfinite(measurement.distance_m):
                track.history.append((time_s, measurement.distance_m))
            track.approach_mps = self._approach_speed(track, time_s)
            seen.append(track)
        left = []
        for track in list(self.tracks.values()):
            if not track.seen_this_frame:
                track.missed += 1
                track.consecutive = 0
                if track.missed > self.config.max_missed:
                    left.append(self.tracks.pop(track.track_id))
        return seen, left

    def _associate(self, measurements: Sequence[Measurement]) -> Dict[int, int]:
        """measurement index -> track id; greedy on IoU, then on centre distance for what is left."""
        candidates = []
        for index, m in enumerate(measurements):
            for track in self.tracks.values():
                if track.class_id != m.class_id:
                    continue
                overlap = iou(track.box, m.box)
                if overlap >= self.config.min_iou:
                    candidates.append((0, -overlap, index, track.track_id))
                else:
                    jump = _centre_jump(track.box, m.box)
                    if jump <= self.config.max_centre_jump:
                        candidates.append((1, jump, index, track.track_id))
        assignment: Dict[int, int] = {}
        taken = set()
        for _, _, index, track_id in sorted(candidates):
            if index not in assignment and track_id not in taken:
                assignment[index] = track_id
                taken.add(track_id)
        return assignment

    def _approach_speed(self, track: Track, now_s: float) -> float:
        samples = [(t, d) for t, d in track.history if now_s - t <= self.config.speed_window_s]
        if len(samples) < self.config.min_speed_samples:
            return 0.0
        times = np.array([t for t, _ in samples])
        distances = np.array([d for _, d in samples])
        if np.ptp(times) <= 0:
            return 0.0
        slope = np.polyfit(times - times[0], distances, 1)[0]
        return float(-slope)
