"""The gravity-aligned wearer frame: tilt from the IMU (static, nodding, walking bob) and distances along the floor
and bearings of obstacles seen by a pitched and rolled camera, on depth ray-cast from known scenes."""
import math

import numpy as np
import pytest

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.detection.detections import Detections
from aria_nav.core.fusion.obstacle import RGB
from aria_nav.core.fusion.pipeline import FusionPipeline
from aria_nav.core.sample.geometry import Box, Wall, solid
from aria_nav.core.sample.hazard_scene import WalkingHead
from aria_nav.core.sample.render import HEAD_FROM_OPTICAL, CameraRenderer, tilted_head_rotation
from aria_nav.core.sample.script import BICYCLE, CameraSpec, Path, SceneObject
from aria_nav.core.wearer_frame import (BODY, FLOOR, HEAD, LEVEL_UP, Tilt, TiltFilter, WearerCloud,
                                        wearer_from_optical)

G = 9.81
SPEC = CameraSpec("test", 256, 256, 111.0, 0.0, 0.0, (0.0, 0.0, 0.0), colour=True)  # ~98 deg, like Aria's RGB
INTR = PinholeIntrinsics(SPEC.width, SPEC.height, SPEC.focal, SPEC.focal, SPEC.cx, SPEC.cy)
EYE_HEIGHT = 1.65
GREY = solid((128, 128, 128))
# A closed hall (every ray hits something): floor, ceiling at 3 m, far walls.
HALL = (Wall(GREY, axis=1, value=0.0, inward=1.0), Wall(GREY, 1, 3.0, -1.0), Wall(GREY, 2, 40.0, -1.0),
        Wall(GREY, 2, -5.0, 1.0), Wall(GREY, 0, -20.0, 1.0), Wall(GREY, 0, 20.0, -1.0))


def specific_force(world_from_head, acceleration=(0.0, 0.0, 0.0)):
    """What an IMU with the head's axes (x forward, y left, z up) measures."""
    return world_from_head.T @ (np.asarray(acceleration) + np.array([0.0, G, 0.0]))


@pytest.mark.parametrize("pitch,roll", [(0, 0), (15, 0), (30, 10), (45, -10), (-10, 5)])
def test_tilt_angles_round_trip_and_rotation_is_proper(pitch, roll):
    tilt = Tilt.of(pitch, roll)
    assert tilt.pitch_down_deg == pytest.approx(pitch, abs=1e-9)
    assert tilt.roll_right_deg == pytest.approx(roll, abs=1e-9)
    assert tilt.rotation @ tilt.rotation.T == pytest.approx(np.eye(3), abs=1e-12)
    assert np.linalg.det(tilt.rotation) == pytest.approx(1.0)
    x, y, z, w = tilt.quaternion_xyzw()
    assert x * x + y * y + z * z + w * w == pytest.approx(1.0)


def test_level_camera_wearer_frame_is_the_optical_frame_turned_to_rep103():
    r = wearer_from_optical(LEVEL_UP)
    assert r @ np.array([0.0, 0.0, 2.0]) == pytest.approx([2.0, 0.0, 0.0])  # optical z: forward
    assert r @ np.array([1.0, 0.0, 0.0]) == pytest.approx([0.0, -1.0, 0.0])  # optical x (right): -left
    assert r @ np.array([0.0, 1.0, 0.0]) == pytest.approx([0.0, 0.0, -1.0])  # optical y (down): -up


@pytest.mark.parametrize("pitch,roll", [(0, 0), (25, 0), (35, 10), (20, -10)])
def test_filter_at_rest_finds_pitch_and_roll_through_the_device_to_camera_rotation(pitch, roll):
    pipeline = FusionPipeline()
    force = specific_force(tilted_head_rotation(pitch, roll))
    for k in range(400):  # 2 s at 200 Hz
        pipeline.wearer.add_imu(k / 200.0, force + np.random.default_rng(k).normal(0, 0.04, 3), (0.0, 0.0, 0.0))
    tilt = pipeline.wearer.tilt_at(2.0)
    assert tilt.from_imu
    assert tilt.pitch_down_deg == pytest.approx(pitch, abs=0.3)
    assert tilt.roll_right_deg == pytest.approx(roll, abs=0.3)


def walking_imu(duration_s, rate_hz=200.0):
    """(time, specific force, angular velocity, true pitch, true roll) of a head walking at 1.9 steps/s pitched 25
    degrees down: surge +-2 m/s^2, bob +-3 m/s^2, nods +-4 deg, sway +-2 deg; IMU in the head's axes, with noise."""
    head = WalkingHead(pitch_down_deg=25.0, nod_deg=4.0, sway_deg=2.0)
    rng = np.random.default_rng(7)
    for k in range(int(duration_s * rate_hz)):
        t = k / rate_hz
        force, gyro = head.imu(t)
        rotation, _ = head.pose(t)
        up_optical = (rotation @ HEAD_FROM_OPTICAL).T @ np.array([0.0, 1.0, 0.0])
        truth = Tilt(wearer_from_optical(up_optical), True)
        yield (t, force + rng.normal(0, 0.05, 3), gyro + rng.normal(0, 0.003, 3), truth.pitch_down_deg,
               truth.roll_right_deg)


@pytest.mark.parametrize("with_gyro", [True, False])
def test_filter_follows_a_walking_head_despite_the_bob(with_gyro):
    pipeline = FusionPipeline()
    errors = []
    for t, force, gyro, pitch, roll in walking_imu(8.0):
        pipeline.wearer.add_imu(t, force, gyro if with_gyro else None)
        if t > 3.0:  # settled
            tilt = pipeline.wearer.tilt_at(t)
            errors.append((tilt.pitch_down_deg - pitch, tilt.roll_right_deg - roll))
    errors = np.array(errors)
    # With the gyroscope the nods (+-4 deg at 1.9 Hz) are followed; without it the estimate is the mean head pose.
    limit = 1.5 if with_gyro else 5.0
    assert np.abs(errors).max(axis=0).tolist() == pytest.approx([0, 0], abs=limit)
    assert errors.mean(axis=0).tolist() == pytest.approx([0, 0], abs=0.5)  # no bias from the step's accelerations


def test_a_silent_or_upside_down_imu_leaves_the_camera_level():
    pipeline = FusionPipeline()
    force = specific_force(tilted_head_rotation(30, 0))
    for k in range(200):
        pipeline.wearer.add_imu(k / 200.0, force, (0.0, 0.0, 0.0))
    assert pipeline.wearer.tilt_at(1.5).pitch_down_deg == pytest.approx(30.0, abs=0.1)
    assert not pipeline.wearer.tilt_at(2.5).from_imu  # silent for 1.5 s
    upside_down = specific_force(tilted_head_rotation(30, 170))  # not a head-worn camera: a corrupt stream
    for k in range(400):
        pipeline.wearer.add_imu(2.0 + k / 200.0, upside_down, (0.0, 0.0, 0.0))
    assert not pipeline.wearer.tilt_at(4.0).from_imu


def test_foot_strikes_do_not_pull_and_time_going_back_restarts():
    f = TiltFilter()
    level = specific_force(tilted_head_rotation(0, 0))
    for k in range(200):
        f.add(k / 200.0, level)
    f.add(1.0, level + np.array([15.0, 0.0, 0.0]))  # a jolt of 1.5 g forward
    assert f.rejected == 1 and Tilt(wearer_from_optical(HEAD_FROM_OPTICAL.T @ f.up), True).pitch_down_deg \
        == pytest.approx(0.0, abs=0.1)
    f.add(0.5, specific_force(tilted_head_rotation(30, 0)))  # bag looped
    assert Tilt(wearer_from_optical(HEAD_FROM_OPTICAL.T @ f.up), True).pitch_down_deg == pytest.approx(30.0)


# ---- distances along the floor and bearings on ray-cast depth -------------------------------------------------

def cuboid(track_id, x, z_front, width, height, depth_m, y0=0.0):
    """A box whose face towards the wearer is at Z = z_front, standing (or hanging from y0) at lateral x."""
    shape = Box(solid((200, 60, 60)), (0.0, y0 + height / 2, depth_m / 2), (width / 2, height / 2, depth_m / 2))
    return SceneObject(track_id, 0, "thing", "test", (shape,), Path(x=x, z0=z_front)), (x, 0.0, z_front)


def view(objects, pitch, roll):
    """Depth and each object's tight box (from the id map) for a head at EYE_HEIGHT pitched and rolled."""
    rotation = tilted_head_rotation(pitch, roll) @ HEAD_FROM_OPTICAL
    rendering = CameraRenderer(SPEC, HALL).render(rotation, np.array([0.0, EYE_HEIGHT, 0.0]), objects)
    boxes = []
    for obj, _ in objects:
        rows, cols = np.nonzero(rendering.ids == obj.track_id)
        boxes.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1] if rows.size else [0, 0, 1, 1])
    return rendering.depth, np.array(boxes, np.float32)


def measured(objects, pitch, roll, metric=False, margin=0.0):
    """Fusion's obstacles (the detections' first); `metric`: the depth is said to be metric (fusion then knows
    where the floor is); `margin`: each box grown by this fraction of its size on every side (a loose detector)."""
    depth, boxes = view(objects, pitch, roll)
    size = np.tile(boxes[:, 2:] - boxes[:, :2], 2)
    boxes = boxes + margin * size * np.array([-1, -1, 1, 1], np.float32)
    pipeline = FusionPipeline()
    pipeline.depth_is_metric = metric
    force = specific_force(tilted_head_rotation(pitch, roll))
    for k in range(200):
        pipeline.wearer.add_imu(1.0 + k / 200.0, force, (0.0, 0.0, 0.0))
    detections = Detections(boxes, np.full(len(boxes), 0.9), [0] * len(boxes))
    return pipeline.process(RGB, detections, ["thing"], INTR, depth, int(2e9)).obstacles


SCENES = {
    # (x, front Z, width, height, depth, hanging from): true floor distance, true bearing of the centre
    "box ahead": [(0.0, 2.5, 0.5, 0.8, 0.5, 0.0)],
    "box right": [(1.0, 3.0, 0.5, 1.0, 0.4, 0.0)],
    "pole left": [(-0.7, 1.8, 0.12, 2.2, 0.12, 0.0)],
    "wall": [(0.0, 4.0, 6.0, 2.5, 0.2, 0.0)],
    "near wall": [(0.0, 1.5, 6.0, 2.5, 0.2, 0.0)],
}


@pytest.mark.parametrize("pitch", [0, 15, 30, 45])
@pytest.mark.parametrize("roll", [-10, 0, 10])
@pytest.mark.parametrize("scene", sorted(SCENES))
def test_distance_along_the_floor_and_bearing_at_any_pitch_and_roll(scene, pitch, roll):
    specs = SCENES[scene]
    objects = [cuboid(i + 1, x, z, w, h, d, y0) for i, (x, z, w, h, d, y0) in enumerate(specs)]
    obstacles = measured(objects, pitch, roll)
    for obstacle, (x, z, w, h, d, y0) in zip(obstacles, specs):
        nearest_x = min(max(0.0, x - w / 2), x + w / 2)
        truth = math.hypot(nearest_x, z)
        assert obstacle.distance_m == pytest.approx(truth, rel=0.05), scene
        if w < 2.0:  # a wall wider than the view has no centre to aim at
            assert obstacle.bearing_deg == pytest.approx(math.degrees(math.atan2(x, z + d / 2)), abs=3.0)


def test_the_camera_range_is_what_a_level_assumption_would_have_said():
    """The error the wearer frame removes: at 30 degrees down the in-camera range of a wall is 10-30% short."""
    objects = [cuboid(1, 0.0, 3.0, 6.0, 2.5, 0.2)]
    depth, boxes = view(objects, 30, 0)
    obstacle = measured(objects, 30, 0)[0]
    level = FusionPipeline().process(RGB, Detections(boxes, np.full(1, 0.9), [0]), ["thing"], INTR, depth,
                                     int(2e9)).obstacles[0]
    assert obstacle.distance_m == pytest.approx(3.0, rel=0.05)
    assert level.distance_m < 0.9 * 3.0


@pytest.mark.parametrize("pitch", [0, 30])
def test_height_bands(pitch):
    objects = [cuboid(1, -0.6, 2.5, 0.4, 0.15, 0.6),  # a kerb-like block on the floor
               cuboid(2, 0.0, 3.0, 0.5, 1.7, 0.3),  # a person-sized post
               cuboid(3, 0.7, 2.8, 0.8, 0.3, 0.05, y0=1.55)]  # a sign hanging at head height
    bands = [o.height_band for o in measured(objects, pitch, 0)]
    assert bands == [FLOOR, BODY, HEAD]


def test_cloud_heights_and_ranges_are_the_worlds():
    pitch, roll = 30, 10
    depth, _ = view([], pitch, roll)
    cloud = WearerCloud.of(depth, INTR, Tilt.of(pitch, roll), EYE_HEIGHT)
    rows, cols = np.mgrid[0:SPEC.height, 0:SPEC.width]
    optical = np.stack([(cols - INTR.cx) / INTR.fx * depth, (rows - INTR.cy) / INTR.fy * depth, depth], axis=-1)
    world = optical @ (tilted_head_rotation(pitch, roll) @ HEAD_FROM_OPTICAL).T  # camera at the origin
    assert np.abs(cloud.height - (world[..., 1] + EYE_HEIGHT)).max() < 0.01 * depth.max()
    assert np.abs(cloud.range - np.hypot(world[..., 0], world[..., 2])).max() < 0.01 * depth.max()


def nearest_visible_m(objects, pitch, track_id):
    """The horizontal distance to the object's nearest visible point, as the sample's truth measures it
    (core.sample.depth_truth): the minimum over its rendered pixels."""
    rotation = tilted_head_rotation(pitch, 0) @ HEAD_FROM_OPTICAL
    rendering = CameraRenderer(SPEC, HALL).render(rotation, np.array([0.0, EYE_HEIGHT, 0.0]), objects)
    cols, rows = np.meshgrid(np.arange(SPEC.width, dtype=float), np.arange(SPEC.height, dtype=float))
    rays = np.stack([(cols - SPEC.cx) / SPEC.focal, (rows - SPEC.cy) / SPEC.focal, np.ones_like(cols)], axis=-1)
    offsets = (rays * rendering.depth[..., None]) @ rotation.T
    return float(np.hypot(offsets[..., 0], offsets[..., 2])[rendering.ids == track_id].min())


@pytest.mark.parametrize("pitch", [0, 15, 30])
def test_an_elongated_object_at_an_angle_is_measured_at_its_nearest_part(pitch):
    """The sample's bicycle (1.7 m long, two wheels and thin tubes) beside the path, seen at an angle: its nearest
    part (the near wheel) lies at its box's edge, outside the core. With metric depth the object's cluster is taken
    over the whole box, the floor left out: within 10% of the nearest visible point (the core alone read it 6-28%
    far; the rest of the 10% is the 10th percentile of an object this deep)."""
    for x, z in ((1.5, 3.0), (2.0, 4.0), (-1.5, 2.5), (1.0, 5.0), (2.0, 2.5)):
        objects = [(BICYCLE, (x, 0.0, z))]
        truth = nearest_visible_m(objects, pitch, BICYCLE.track_id)
        assert measured(objects, pitch, 0, metric=True)[0].distance_m == pytest.approx(truth, rel=0.1), (x, z)


@pytest.mark.parametrize("pitch", [0, 30])
def test_the_floor_in_a_loose_box_does_not_pull_the_object_nearer(pitch):
    """A detector's box looser than the object holds the floor in front of its foot, continuous in depth with
    it: with the floor left out, a person-sized post and a chair-sized block read their own distance (taken
    over the whole box without knowing the floor, the post 30% loose would read up to 25% near)."""
    specs = [(0.0, 3.0, 0.5, 1.7, 0.3), (-0.8, 2.0, 0.45, 0.9, 0.45), (1.0, 4.5, 0.5, 1.7, 0.3)]
    objects = [cuboid(i + 1, x, z, w, h, d) for i, (x, z, w, h, d) in enumerate(specs)]
    for margin in (0.0, 0.3):
        for obstacle, (x, z, w, h, d) in zip(measured(objects, pitch, 0, metric=True, margin=margin), specs):
            truth = math.hypot(min(max(0.0, x - w / 2), x + w / 2), z)
            assert obstacle.distance_m == pytest.approx(truth, rel=0.02), (x, z, margin)
