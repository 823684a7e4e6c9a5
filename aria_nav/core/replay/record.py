"""What a regression replay records of one run, and the golden file that holds it (ROS-free).

A run record is, per input frame (camera frame group), the detections of every camera that was processed, summary
statistics of the depth image, the fused obstacles, and over the whole run the announcements fusion asked for (with
the sentence the speech stage says for them), plus the settings and models the run used. Times are seconds from the
first replayed frame, from the frames' source stamps (device time), never from the host clock.

The golden file is this record as JSON (format FORMAT_VERSION); `RunRecord.load` names the file and the problem
when it is not one.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

FORMAT_VERSION = 1
DEPTH_PERCENTILES = (10, 50, 90)
Box = Tuple[float, float, float, float]


class GoldenError(ValueError):
    """A golden file that cannot be read; the message names the file and the problem."""


def _rounded(value: float, digits: int) -> Optional[float]:
    return round(float(value), digits) if math.isfinite(value) else None


@dataclass(frozen=True)
class DetectionRecord:
    class_name: str
    score: float
    box: Box  # x1, y1, x2, y2, pixels of the published image


@dataclass(frozen=True)
class DepthStats:
    """Valid (finite) metres of a depth image: percentiles DEPTH_PERCENTILES (None without any valid pixel)."""

    nan_fraction: float
    percentiles_m: Tuple[Optional[float], ...]

    @classmethod
    def of(cls, depth: np.ndarray) -> "DepthStats":
        valid = depth[np.isfinite(depth)]
        nan_fraction = 1.0 - valid.size / depth.size if depth.size else 1.0
        if not valid.size:
            return cls(round(nan_fraction, 6), tuple(None for _ in DEPTH_PERCENTILES))
        values = np.percentile(valid.astype(np.float64), DEPTH_PERCENTILES)
        return cls(round(nan_fraction, 6), tuple(_rounded(v, 5) for v in values))


@dataclass(frozen=True)
class ObstacleRecord:
    class_name: str
    box: Box
    distance_m: Optional[float]  # None: unknown
    bearing_deg: float
    band: str
    direction: str
    urgency: str
    priority: float


@dataclass
class FrameRecord:
    index: int  # frame (group) index in the input, counting every frame even when a stride skips some
    t_s: float
    detections: Dict[str, List[DetectionRecord]] = field(default_factory=dict)  # camera -> detections (processed)
    depth: Optional[DepthStats] = None
    obstacles: Dict[str, List[ObstacleRecord]] = field(default_factory=dict)  # camera -> obstacles


@dataclass(frozen=True)
class Announcement:
    frame: int
    t_s: float
    event: str
    urgency: str
    text: str

    def describe(self) -> str:
        return f"frame {self.frame} (t={self.t_s:.2f} s) {self.urgency} {self.event}: \"{self.text}\""


@dataclass
class RunRecord:
    input: str
    settings: Dict[str, object]  # launch arguments, parameter overrides, stride: what reproduces the run
    models: Dict[str, str]  # node -> "file name sha256:<first 16 hex>"
    frames: List[FrameRecord]
    announcements: List[Announcement]

    def to_json(self) -> str:
        body = {"format": FORMAT_VERSION,
                "description": "aria_nav regression replay golden file (aria-nav replay; docs/bags.md)",
                "input": self.input, "settings": self.settings, "models": self.models,
                "announcements": [asdict(a) for a in self.announcements],
                "frames": [_frame_json(f) for f in self.frames]}
        return json.dumps(body, indent=1) + "\n"

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())

    @classmethod
    def load(cls, path: Path) -> "RunRecord":
        path = Path(path)
        if not path.is_file():
            raise GoldenError(f"golden file '{path}' {'is not a file' if path.exists() else 'does not exist'} "
                              f"(write one with --update-golden)")
        try:
            body = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GoldenError(f"golden file '{path}' is not readable JSON: {exc}") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT_VERSION:
            found = body.get("format") if isinstance(body, dict) else type(body).__name__
            raise GoldenError(f"golden file '{path}' has format {found!r}, expected {FORMAT_VERSION} "
                              f"(rewrite it with --update-golden)")
        try:
            return cls(str(body["input"]), dict(body["settings"]), dict(body["models"]),
                       [_frame_from_json(f) for f in body["frames"]],
                       [Announcement(**a) for a in body["announcements"]])
        except (KeyError, TypeError, ValueError) as exc:
            raise GoldenError(f"golden file '{path}' is damaged: {type(exc).__name__}: {exc}") from None


def _frame_json(frame: FrameRecord) -> dict:
    body = {"index": frame.index, "t_s": frame.t_s,
            "detections": {camera: [[d.class_name, d.score, *d.box] for d in dets]
                           for camera, dets in frame.detections.items()}}
    if frame.depth is not None:
        body["depth"] = {"nan_fraction": frame.depth.nan_fraction,
                         "percentiles_m": dict(zip(map(str, DEPTH_PERCENTILES), frame.depth.percentiles_m))}
    body["obstacles"] = {camera: [asdict(o) for o in obstacles] for camera, obstacles in frame.obstacles.items()}
    return body


def _frame_from_json(body: dict) -> FrameRecord:
    depth = None
    if "depth" in body:
        percentiles = body["depth"]["percentiles_m"]
        depth = DepthStats(float(body["depth"]["nan_fraction"]),
                           tuple(percentiles[str(p)] for p in DEPTH_PERCENTILES))
    detections = {camera: [DetectionRecord(str(d[0]), float(d[1]), tuple(float(v) for v in d[2:6])) for d in dets]
                  for camera, dets in body["detections"].items()}
    obstacles = {camera: [ObstacleRecord(**{**o, "box": tuple(o["box"])}) for o in items]
                 for camera, items in body["obstacles"].items()}
    return FrameRecord(int(body["index"]), float(body["t_s"]), detections, depth, obstacles)


def detection_records(boxes: np.ndarray, scores: np.ndarray, class_ids: Sequence[int],
                      names: Sequence[str]) -> List[DetectionRecord]:
    return [DetectionRecord(names[c] if 0 <= c < len(names) else f"class {c}", round(float(s), 5),
                            tuple(round(float(v), 2) for v in box))
            for box, s, c in zip(boxes, scores, class_ids)]
