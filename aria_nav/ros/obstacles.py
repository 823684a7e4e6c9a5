"""Obstacles as sensor_msgs/PointCloud2 (one point per tracked obstacle, readable by any ROS tool and shown by
rviz as points) and as visualization_msgs/MarkerArray.

Fields (little endian, point_step 84):
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
One message per processed frame and camera; header = that frame's source image header (stamp, optical frame id).
"""
from __future__ import annotations

import math
from typing import List, Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.fusion.bands import BANDS, UNKNOWN
from aria_nav.core.fusion.geometry import DIRECTIONS
from aria_nav.core.fusion.obstacle import CAMERAS, Obstacle
from aria_nav.core.speech.request import URGENCIES
from aria_nav.core.hazards.corridor import HAZARD_KINDS, CorridorConfig, CorridorResult
from aria_nav.core.wearer_frame import HEIGHT_BANDS, Tilt

KINDS = ("named",) + HAZARD_KINDS  # what an obstacle is: `kind` indexes this

_FLOATS = ("x", "y", "z", "distance_m", "bearing_deg", "approach_mps", "priority", "x1", "y1", "x2", "y2", "score")
_INTS = ("id", "class_id", "band", "direction", "clock", "camera", "urgency", "height_band", "kind")
OBSTACLE_DTYPE = np.dtype([(name, "<f4") for name in _FLOATS] + [(name, "<i4") for name in _INTS])
_FIELDS = [PointField(name=name, offset=OBSTACLE_DTYPE.fields[name][1], count=1,
                      datatype=PointField.INT32 if name in _INTS else PointField.FLOAT32)
           for name in OBSTACLE_DTYPE.names]
_URGENCY_COLOURS = {"info": (0.2, 0.8, 0.2), "warning": (1.0, 0.75, 0.0), "critical": (1.0, 0.1, 0.1)}


class ObstacleFormatError(ValueError):
    """A PointCloud2 that is not an obstacle set of the layout above."""


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


def obstacles_to_msg(obstacles: Sequence[Obstacle], header: Header) -> PointCloud2:
    records = obstacles_to_records(obstacles)
    return PointCloud2(header=header, height=1, width=len(records), fields=_FIELDS, is_bigendian=False,
                       point_step=OBSTACLE_DTYPE.itemsize, row_step=OBSTACLE_DTYPE.itemsize * len(records),
                       data=records.tobytes(), is_dense=False)


def msg_to_records(msg: PointCloud2) -> np.ndarray:
    """The obstacle records of a message (structured array with OBSTACLE_DTYPE's fields)."""
    names = [f.name for f in msg.fields]
    if names != list(OBSTACLE_DTYPE.names) or msg.point_step != OBSTACLE_DTYPE.itemsize:
        raise ObstacleFormatError(f"not an obstacle set: fields {names}, point_step {msg.point_step}")
    count = int(msg.width) * int(msg.height)
    data = np.frombuffer(msg.data, np.uint8)
    if data.size != count * OBSTACLE_DTYPE.itemsize:
        raise ObstacleFormatError(f"data has {data.size} bytes for {count} obstacles")
    return data.view(OBSTACLE_DTYPE)


def band_name(code: int) -> str:
    return BANDS[code] if 0 <= code < len(BANDS) else UNKNOWN


def direction_name(code: int) -> str:
    return DIRECTIONS[code + 1]


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
