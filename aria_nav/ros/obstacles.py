"""Obstacles as aria_nav_msgs/ObstacleArray (aria_nav_msgs/msg/Obstacle.msg documents each field and its unit;
`ros2 topic echo` prints them by name) and as visualization_msgs/MarkerArray for rviz.

One ObstacleArray per processed frame and camera; header = that frame's source image header (stamp, optical frame
id). Consumers read a message as records (msg_to_records): a structured array with OBSTACLE_DTYPE's fields, codes as
the message has them:
  x, y, z         float32  the object's nearest part in the camera's optical frame, metres (NaN when unknown)
  distance_m      float32  along the floor: horizontal distance in the gravity-aligned wearer frame (aria_wearer)
                           from the wearer to the object's nearest part, metres (NaN when unknown)
  bearing_deg     float32  horizontal angle in the wearer frame from straight ahead, positive to the right
  approach_mps    float32  speed at which it gets closer (negative: moving away)
  priority        float32  guidance priority (docs/guidance.md)
  x1, y1, x2, y2  float32  box in pixels of the camera's image
  score           float32  detector confidence
  id              int32    track id, stable across frames (unique over all cameras)
  class_id        int32    index into the detector's class names (<detections topic>/class_names)
  band            int32    0 very close, 1 close, 2 medium, 3 far, -1 unknown
  direction       int32    -1 left, 0 ahead, 1 right
  clock           int32    1..12, 12 straight ahead
  camera          int32    0 rgb, 1 slam_left, 2 slam_right
  urgency         int32    0 info, 1 warning, 2 critical
  height_band     int32    0 floor, 1 body, 2 head (heights above the floor), -1 unknown (no distance)
  kind            int32    0 named (a detector class; class_id indexes its names), 1 obstacle, 2 head_height,
                           3 step_down, 4 step_up (hazards of the walking corridor, class_id -1)
"""
from __future__ import annotations

import math
from typing import List, Sequence

import numpy as np
from aria_nav_msgs.msg import Obstacle as ObstacleMsg
from aria_nav_msgs.msg import ObstacleArray
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.fusion.bands import BANDS, UNKNOWN
from aria_nav.core.fusion.geometry import DIRECTIONS
from aria_nav.core.fusion.obstacle import CAMERAS, Obstacle
from aria_nav.core.speech.request import URGENCIES
from aria_nav.core.hazards.corridor import HAZARD_KINDS, CorridorConfig, CorridorResult
from aria_nav.core.hazards.names import HAZARD_NAMES
from aria_nav.core.wearer_frame import HEIGHT_BANDS, Tilt

KINDS = ("named",) + HAZARD_KINDS  # what an obstacle is: `kind` indexes this

_FLOATS = ("x", "y", "z", "distance_m", "bearing_deg", "approach_mps", "priority", "x1", "y1", "x2", "y2", "score")
_INTS = ("id", "class_id", "band", "direction", "clock", "camera", "urgency", "height_band", "kind")
OBSTACLE_DTYPE = np.dtype([(name, "<f4") for name in _FLOATS] + [(name, "<i4") for name in _INTS])
# The message's names of the record fields that it spells with their unit.
_BOX = {"x1": "x1_px", "y1": "y1_px", "x2": "x2_px", "y2": "y2_px"}
_SCALARS = ("distance_m", "bearing_deg", "approach_mps", "priority", "score", "id", "class_id", "band", "direction",
            "clock", "camera", "urgency", "height_band", "kind")
# Codes a consumer indexes with: anything else is a malformed message.
_CODES = {"band": range(-1, len(BANDS)), "direction": range(-1, 2), "clock": range(0, 13),
          "camera": range(len(CAMERAS)), "urgency": range(len(URGENCIES)), "height_band": range(-1, len(HEIGHT_BANDS)),
          "kind": range(len(KINDS))}
_URGENCY_COLOURS = {"info": (0.2, 0.8, 0.2), "warning": (1.0, 0.75, 0.0), "critical": (1.0, 0.1, 0.1)}


class ObstacleFormatError(ValueError):
    """An ObstacleArray with values no fusion node publishes (a code outside its range)."""


def obstacles_to_records(obstacles: Sequence[Obstacle]) -> np.ndarray:
    records = np.zeros(len(obstacles), OBSTACLE_DTYPE)
    for row, o in zip(records, obstacles):
        row["x"], row["y"], row["z"] = o.position
        row["x1"], row["y1"], row["x2"], row["y2"] = o.box
        row["distance_m"], row["bearing_deg"], row["approach_mps"] = o.distance_m, o.bearing_deg, o.approach_mps
        row["priority"], row["score"], row["id"], row["class_id"] = o.priority, o.score, o.track_id, o.class_id
        row["band"] = BANDS.index(o.band) if o.band in BANDS else -1
        row["direction"] = DIRECTIONS.index(o.direction) - 1
        row["clock"], row["camera"] = o.clock, CAMERAS.index(o.camera)
        row["urgency"] = URGENCIES.index(o.urgency)
        row["height_band"] = HEIGHT_BANDS.index(o.height_band) if o.height_band in HEIGHT_BANDS else -1
        row["kind"] = KINDS.index(o.kind)
    return records


def obstacles_to_msg(obstacles: Sequence[Obstacle], header: Header) -> ObstacleArray:
    out = ObstacleArray(header=header)
    for record, o in zip(obstacles_to_records(obstacles).tolist(), obstacles):
        values = dict(zip(OBSTACLE_DTYPE.names, record))
        msg = ObstacleMsg(class_name=o.class_name if o.kind == "named" else "",
                          position=Point(x=values["x"], y=values["y"], z=values["z"]),
                          **{name: values[name] for name in _SCALARS},
                          **{field: values[name] for name, field in _BOX.items()})
        out.obstacles.append(msg)
    return out


def msg_to_records(msg: ObstacleArray) -> np.ndarray:
    """The obstacle records of a message (structured array with OBSTACLE_DTYPE's fields); ObstacleFormatError names
    a code outside its range."""
    records = np.zeros(len(msg.obstacles), OBSTACLE_DTYPE)
    for row, o in zip(records, msg.obstacles):
        for name, codes in _CODES.items():
            if getattr(o, name) not in codes:
                raise ObstacleFormatError(f"obstacle {o.id}: {name} {getattr(o, name)} is not one of "
                                          f"{codes.start}..{codes.stop - 1}")
        with np.errstate(over="ignore"):  # a position beyond float32 is infinitely far: no position
            row["x"], row["y"], row["z"] = o.position.x, o.position.y, o.position.z
        for name in _SCALARS:
            row[name] = getattr(o, name)
        for name, field in _BOX.items():
            row[name] = getattr(o, field)
    return records


def band_name(code: int) -> str:
    return BANDS[code] if 0 <= code < len(BANDS) else UNKNOWN


def direction_name(code: int) -> str:
    return DIRECTIONS[code + 1]


def record_name(row, class_names: Sequence[str]) -> str:
    """What an obstacle record is called (English, as the phrase tables take it): its detector class, or the
    walking corridor's name for a hazard ("step down"; its class_id is -1)."""
    kind = KINDS[int(row["kind"])]
    if kind != "named":
        return HAZARD_NAMES[kind]
    class_id = int(row["class_id"])
    return class_names[class_id] if 0 <= class_id < len(class_names) else f"object {class_id}"


def obstacle_markers(obstacles: Sequence[Obstacle], header: Header, intrinsics: PinholeIntrinsics,
                     lifetime_s: float = 0.5) -> MarkerArray:
    """A box (sized from the detection box at its distance) and a label per obstacle with a known position, in
    the camera's optical frame. Namespaced per camera; markers expire after `lifetime_s` so gone obstacles vanish."""
    markers: List[Marker] = []
    lifetime = Duration(sec=int(lifetime_s), nanosec=int((lifetime_s % 1) * 1e9))
    for o in obstacles:
        x, y, z = o.position
        if not math.isfinite(z):
            continue
        r, g, b = _URGENCY_COLOURS[o.urgency]
        width = max(0.05, (o.box[2] - o.box[0]) / intrinsics.fx * z)
        height = max(0.05, (o.box[3] - o.box[1]) / intrinsics.fy * z)
        common = dict(header=header, ns=f"obstacles/{o.camera}", lifetime=lifetime,
                      pose=Pose(position=Point(x=float(x), y=float(y), z=float(z)), orientation=Quaternion(w=1.0)))
        markers.append(Marker(id=2 * o.track_id, type=Marker.CUBE, action=Marker.ADD,
                              scale=Vector3(x=float(width), y=float(height), z=0.3),
                              color=ColorRGBA(r=r, g=g, b=b, a=0.4), **common))
        label = Marker(id=2 * o.track_id + 1, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                       scale=Vector3(z=0.25), color=ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0),
                       text=f"{o.class_name} {o.distance_m:.1f} m", **common)
        label.pose.position.y = float(y - height / 2.0 - 0.15)  # above the box (optical y points down)
        markers.append(label)
    return MarkerArray(markers=markers)


def corridor_markers(result: CorridorResult, tilt: Tilt, config: CorridorConfig, header: Header,
                     lifetime_s: float = 0.5) -> List[Marker]:
    """The walking corridor's outline on the fitted ground (a line strip, green, red where a hazard is) in the
    camera's optical frame, namespace "corridor"."""
    half = config.width_m / 2.0
    corners = [(config.min_forward_m, half), (config.length_m, half), (config.length_m, -half),
               (config.min_forward_m, -half), (config.min_forward_m, half)]
    optical_from_wearer = tilt.rotation.T
    points = []
    for forward, left in corners:
        up = float(result.ground.height_at(np.float64(forward), np.float64(left)))
        x, y, z = optical_from_wearer @ np.array([forward, left, up])
        points.append(Point(x=float(x), y=float(y), z=float(z)))
    lifetime = Duration(sec=int(lifetime_s), nanosec=int((lifetime_s % 1) * 1e9))
    colour = ColorRGBA(r=1.0, g=0.2, b=0.2, a=0.8) if result.hazards else ColorRGBA(r=0.2, g=0.9, b=0.3, a=0.8)
    return [Marker(header=header, ns="corridor", id=0, type=Marker.LINE_STRIP, action=Marker.ADD, lifetime=lifetime,
                   pose=Pose(orientation=Quaternion(w=1.0)), scale=Vector3(x=0.03), color=colour, points=points)]
