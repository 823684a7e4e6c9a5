"""Obstacles followed across frames: stable ids, confirmation, approach speed, and when they have left.

Association is greedy per frame, best pairs first, same class only: a detection continues the track whose last box
overlaps it most (IoU >= `min_iou`); failing that, the track whose box centre is nearest, within `max_centre_jump`
box diagonals (fast relative motion at close range moves a box more than it overlaps). Unmatched detections start
new tracks. A track missed for more than `max_missed` frames has left.

`consecutive` counts the frames in a row a track was seen: the policy speaks only of tracks seen in several
consecutive frames, so a one-frame false detection never makes a sound.

A track's distance is filtered: the median of its measured distances in its last `distance_filter_frames` (3)
frames, each carried forward to now at the track's approach speed. One glitched frame of depth (a person at 4.5 m
read as 1 m) cannot move it, a frame without a valid distance (a hole in the depth image) keeps the others, and a
steady approach is not lagged behind (a plain median would be one frame late: 0.12 m at 1.2 m/s and 10 frames/s,
12% at 1 m). The approach speed is the Theil-Sen slope (the median of the slopes between every two samples) of
the filtered distance over the last `speed_window_s` seconds, positive when getting closer: a two-frame glitch
that gets through the median is an outlier to it too, and does not make a still obstacle "closing in".
"""
from __future__ import annotations

import collections
import itertools
import math
from dataclasses import dataclass, field
from typing import Deque, Dict, List, Sequence, Tuple

import numpy as np

from aria_nav.core.boxes import iou_matrix


@dataclass(frozen=True)
class TrackerConfig:
    min_iou: float = 0.3
    max_centre_jump: float = 0.5  # in diagonals of the track's last box
    max_missed: int = 5  # frames a track survives unseen before it has left
    speed_window_s: float = 1.0
    min_speed_samples: int = 5  # fewer: no speed yet (an object entering the view seems to rush closer)
    distance_filter_frames: int = 3  # median over this many of the track's last frames (1: no filter)
    # Without an approach speed yet (a young track), earlier frames cannot be carried forward to now: only those
    # this recent are in the median (after a gap, older ones would hold the distance back where it was).
    uncarried_max_age_s: float = 0.5


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
    distance_m: float  # filtered (see above); NaN when none of its recent frames had one
    hits: int = 1
    consecutive: int = 1
    longest_run: int = 1  # most consecutive frames seen: a track once confirmed stays confirmed
    missed: int = 0
    seen_this_frame: bool = True
    history: Deque[Tuple[float, float]] = field(default_factory=lambda: collections.deque(maxlen=64))
    measured: Deque[Tuple[float, float]] = field(default_factory=collections.deque)  # (time, raw distance or NaN)
    approach_mps: float = 0.0


def centre_jumps(measured: np.ndarray, tracked: np.ndarray) -> np.ndarray:
    """Distance between the centre of each measured box (N, 4) and each tracked box (M, 4), in diagonals of the
    tracked box, as (N, M)."""
    measured, tracked = measured[:, None, :], tracked[None, :, :]
    diagonal = np.hypot(tracked[..., 2] - tracked[..., 0], tracked[..., 3] - tracked[..., 1])
    dx = (measured[..., 0] + measured[..., 2] - tracked[..., 0] - tracked[..., 2]) / 2.0
    dy = (measured[..., 1] + measured[..., 3] - tracked[..., 1] - tracked[..., 3]) / 2.0
    return np.hypot(dx, dy) / np.where(diagonal > 0, diagonal, 1.0)


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
            track.distance_m = self._filtered(track, time_s, measurement.distance_m)
            if math.isfinite(track.distance_m):
                track.history.append((time_s, track.distance_m))
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
        """measurement index -> track id; greedy on IoU, then on centre distance for what is left. The pair
        measures are computed for all pairs at once (numpy): a crowded scene has hundreds of each."""
        tracks = list(self.tracks.values())
        if not measurements or not tracks:
            return {}
        measured = np.array([m.box for m in measurements], np.float64).reshape(-1, 4)
        tracked = np.array([t.box for t in tracks], np.float64).reshape(-1, 4)
        same_class = np.array([m.class_id for m in measurements])[:, None] == np.array([t.class_id for t in tracks])
        overlap = iou_matrix(measured, tracked)
        by_overlap = same_class & (overlap >= self.config.min_iou)
        jump = centre_jumps(measured, tracked)
        by_centre = same_class & ~by_overlap & (jump <= self.config.max_centre_jump)
        # Best pairs first: every overlapping pair (largest IoU first) before any centre pair (smallest jump first);
        # ties by measurement index, then by track (tracks are in id order).
        rows, cols = np.nonzero(by_overlap | by_centre)
        tier = by_centre[rows, cols].astype(np.int8)
        key = np.where(tier == 0, -overlap[rows, cols], jump[rows, cols])
        order = np.lexsort((cols, rows, key, tier))
        assignment: Dict[int, int] = {}
        taken = set()
        most = min(len(measurements), len(tracks))
        for index, column in zip(rows[order].tolist(), cols[order].tolist()):
            if index not in assignment and column not in taken:
                assignment[index] = tracks[column].track_id
                taken.add(column)
                if len(assignment) == most:
                    break
        return assignment

    def _filtered(self, track: Track, time_s: float, distance_m: float) -> float:
        track.measured.append((time_s, distance_m))
        while len(track.measured) > self.config.distance_filter_frames:
            track.measured.popleft()
        # Each earlier measurement carried forward to now at the track's approach speed: the median then rejects a
        # glitch without lagging behind an approach. Only those of the speed window before now (stamps that jump,
        # as in a looping bag, would carry a distance anywhere).
        speed_known = len(self._window(track, time_s)) >= self.config.min_speed_samples
        max_age_s = self.config.speed_window_s if speed_known else self.config.uncarried_max_age_s
        usable = [(t, d) for t, d in track.measured if math.isfinite(d) and 0.0 <= time_s - t <= max_age_s]
        if not usable:
            return math.nan
        carried = np.median([d - track.approach_mps * (time_s - t) for t, d in usable])
        # Never beyond what those frames measured: where the approach stops (the wearer halts, an object passing
        # beside leaves the view) the speed, an average over the last second, would carry it on.
        measured = [d for _, d in usable]
        return float(np.clip(carried, min(measured), max(measured)))

    def _window(self, track: Track, now_s: float) -> List[Tuple[float, float]]:
        # 0 <=: after time went back (a looping bag) the old timeline's samples lie in the "future"
        return [(t, d) for t, d in track.history if 0.0 <= now_s - t <= self.config.speed_window_s]

    def _approach_speed(self, track: Track, now_s: float) -> float:
        samples = self._window(track, now_s)
        if len(samples) < self.config.min_speed_samples:
            return 0.0
        times = np.array([t for t, _ in samples])
        distances = np.array([d for _, d in samples])
        first, second = np.triu_indices(len(samples), k=1)
        spans = times[second] - times[first]
        usable = spans > 0
        if not usable.any():
            return 0.0
        slopes = (distances[second] - distances[first])[usable] / spans[usable]
        return float(-np.median(slopes))
