"""Ground truth of the sample recording: per-frame objects, scripted events, and ground_truth.json.

Conventions (the same in the Python objects and in the JSON file):
- `box_xyxy`: tight box around the object's visible pixels, in pixel-edge coordinates of the camera's native
  image (pixel column u covers [u, u+1)), so x2 - x1 is the width in pixels. Scale it with `scaled_box` for
  another published resolution.
- `distance_m`: median z-depth (along the camera's optical axis) of the object's visible pixels: what a perfect
  depth image reads in the object's box core.
- `range_m`: median horizontal distance from the wearer's head to the object's visible surface: the distance a
  user means by "2 metres away", the same whichever camera sees the object. Distance bands are of range_m.
- `bearing_deg`: horizontal angle of the visible surface's centroid from the wearer's walking direction,
  positive to the right; `direction` is "ahead" within +-AHEAD_HALF_ANGLE_DEG, else "left" or "right".
- Distance bands (for events): far >= 5 m > mid >= 3 m > near >= 1.5 m > close.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

AHEAD_HALF_ANGLE_DEG = 15.0
BANDS: Tuple[Tuple[float, str], ...] = ((5.0, "far"), (3.0, "mid"), (1.5, "near"), (0.0, "close"))
MIN_VISIBLE_PIXELS = 64  # fewer visible pixels than this and the object is not listed for that camera
FORMAT_VERSION = 1


def band_of(distance_m: float) -> str:
    return next(name for edge, name in BANDS if distance_m >= edge)


def band_range(name: str) -> str:
    edges = [edge for edge, _ in BANDS]
    index = [band for _, band in BANDS].index(name)
    low = edges[index]
    return f">= {low:g} m" if index == 0 else f"{low:g}-{edges[index - 1]:g} m"


def direction_of(bearing_deg: float) -> str:
    if bearing_deg < -AHEAD_HALF_ANGLE_DEG:
        return "left"
    if bearing_deg > AHEAD_HALF_ANGLE_DEG:
        return "right"
    return "ahead"


def scaled_box(box_xyxy: Sequence[float], native_size: Tuple[int, int], size: Tuple[int, int]
               ) -> Tuple[float, float, float, float]:
    """A native-resolution box (pixel edges) in an image resized from native_size to size, both (width, height)."""
    sx, sy = size[0] / native_size[0], size[1] / native_size[1]
    x1, y1, x2, y2 = box_xyxy
    return x1 * sx, y1 * sy, x2 * sx, y2 * sy


@dataclass(frozen=True)
class ObjectTruth:
    """One object as one camera sees it in one frame."""

    track_id: int
    class_id: int  # COCO id
    class_name: str
    camera: str  # "rgb", "slam_left" or "slam_right"
    box_xyxy: Tuple[float, float, float, float]
    distance_m: float
    range_m: float
    bearing_deg: float
    direction: str
    visible_pixels: int
    truncated: bool  # the box touches the image border (the object continues outside the image)

    @property
    def band(self) -> str:
        return band_of(self.range_m)


@dataclass
class FrameTruth:
    index: int
    stamp_ns: int  # device time, the same for the three cameras (they are triggered together)
    time_s: float  # seconds since the first frame
    objects: List[ObjectTruth] = field(default_factory=list)

    def in_camera(self, camera: str) -> List[ObjectTruth]:
        return [obj for obj in self.objects if obj.camera == camera]

    def find(self, track_id: int, camera: str) -> Optional[ObjectTruth]:
        return next((o for o in self.objects if o.track_id == track_id and o.camera == camera), None)


@dataclass(frozen=True)
class Event:
    """A scripted change, as the ground truth shows it: an object appears in or leaves a camera's view, enters a
    distance band or changes direction, or the wearer changes motion phase (track_id 0, camera "imu")."""

    time_s: float
    stamp_ns: int
    frame: int
    kind: str  # appears | leaves | band | direction | motion
    track_id: int
    camera: str
    value: str  # the new band / direction / motion phase; empty for appears/leaves
    text: str


def frame_events(frames: Sequence[FrameTruth], cameras: Sequence[str]) -> List[Event]:
    """Events of every (object, camera) pair over consecutive frames, in time order."""
    events: List[Event] = []
    for camera in cameras:
        previous: Dict[int, ObjectTruth] = {}
        names: Dict[int, str] = {}
        for frame in frames:
            current = {obj.track_id: obj for obj in frame.in_camera(camera)}

            def add(kind: str, track_id: int, value: str, text: str) -> None:
                label = f"{names[track_id]} (track {track_id})"
                events.append(Event(round(frame.time_s, 4), frame.stamp_ns, frame.index, kind, track_id, camera,
                                    value, f"{camera}: {label} {text}"))

            for track_id, obj in current.items():
                names[track_id] = obj.class_name
                where = f"{obj.direction} at {obj.range_m:.2f} m"
                before = previous.get(track_id)
                if before is None:
                    add("appears", track_id, "", f"comes into view {where} (band '{obj.band}')")
                    continue
                if obj.band != before.band:
                    add("band", track_id, obj.band, f"enters band '{obj.band}' ({band_range(obj.band)}), {where}")
                if obj.direction != before.direction:
                    add("direction", track_id, obj.direction, f"moves to {where}")
            for track_id in previous.keys() - current.keys():
                add("leaves", track_id, "", "leaves the view")
            previous = current
    return events


def motion_events(phases: Sequence[Tuple[str, float, float]], start_ns: int, frame_period_s: float) -> List[Event]:
    return [Event(round(start, 4), start_ns + int(round(start * 1e9)), int(round(start / frame_period_s)),
                  "motion", 0, "imu", name, f"imu: wearer {name} from {start:.2f} s to {end:.2f} s")
            for name, start, end in phases]


def sort_events(events: Sequence[Event], cameras: Sequence[str]) -> List[Event]:
    order = {name: rank for rank, name in enumerate(list(cameras) + ["imu"])}
    return sorted(events, key=lambda e: (e.stamp_ns, order[e.camera], e.track_id, e.kind))


@dataclass
class GroundTruthFile:
    """ground_truth.json, loaded: everything the recording's ground truth says, without rendering anything."""

    frames: List[FrameTruth]
    events: List[Event]
    cameras: Dict[str, dict]  # name -> width, height, fx, fy, cx, cy, yaw_right_deg, pitch_down_deg, frame_id, ...
    imu: dict  # rate_hz, count, frame_id, axes, phases [{phase, start_s, end_s}]
    objects: List[dict]  # track_id, class_id, class_name, role
    frame_rate_hz: float
    device_start_ns: int

    @classmethod
    def load(cls, path: Path) -> "GroundTruthFile":
        data = json.loads(Path(path).read_text())
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: ground truth format {data.get('format')!r}, expected {FORMAT_VERSION}")
        frames = [FrameTruth(f["index"], f["stamp_ns"], f["time_s"],
                             [ObjectTruth(**{**o, "box_xyxy": tuple(o["box_xyxy"])}) for o in f["objects"]])
                  for f in data["frames"]]
        return cls(frames, [Event(**e) for e in data["events"]], data["cameras"], data["imu"], data["objects"],
                   data["frame_rate_hz"], data["device_start_ns"])

    def to_json(self) -> str:
        data = {
            "format": FORMAT_VERSION,
            "description": "Ground truth of the aria_nav sample recording (see aria_nav/core/sample/truth.py for "
                           "the conventions and docs/camera.md for the story)",
            "frame_rate_hz": self.frame_rate_hz,
            "device_start_ns": self.device_start_ns,
            "cameras": self.cameras,
            "imu": self.imu,
            "objects": self.objects,
            "events": [asdict(e) for e in self.events],
            "frames": [{"index": f.index, "stamp_ns": f.stamp_ns, "time_s": f.time_s,
                        "objects": [asdict(o) for o in f.objects]} for f in self.frames],
        }
        return json.dumps(data, indent=1) + "\n"
