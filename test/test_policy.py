"""Guidance policy on scripted obstacle sequences, through the whole ROS-free fusion pipeline (depth image ->
box distance -> tracking -> bands -> priority -> policy), walking and standing."""
import math

import numpy as np
import pytest

from aria_nav.core.fusion.motion import STANDING, WALKING
from aria_nav.core.fusion.obstacle import RGB, SLAM_LEFT
from aria_nav.core.fusion.pipeline import FusionConfig, FusionPipeline
from aria_nav.core.fusion.policy import PolicyConfig
from aria_nav.core.speech.request import APPROACHING, CRITICAL, INFO, OBSTACLE, WARNING
from test_guidance_support import BOTTLE, CAR, CHAIR, INTR, NAMES, PERSON, PLANT, render

FRAME_S = 0.1


class Run:
    """Feeds scripted frames through a pipeline and collects (time, request) pairs."""

    def __init__(self, motion=STANDING, config=FusionConfig()):
        self.pipeline = FusionPipeline(config)
        self.pipeline.motion.state = motion
        self.frame = 0
        self.requests = []
        self.results = []

    def step(self, objects, camera=RGB, with_depth=True):
        detections, depth = render(objects)
        time_s = 1000.0 + self.frame * FRAME_S
        result = self.pipeline.process(camera, detections, NAMES, INTR, depth if with_depth else None,
                                       int(round(time_s * 1e9)))
        self.results.append(result)
        if result.request is not None:
            self.requests.append((self.frame, result.request))
        self.frame += 1
        return result


# Standing, the critical distance is 1.5 m, but a person closing in at 1 m/s is critical 2 s away (time to
# collision): at 2 m.
@pytest.mark.parametrize("motion,critical_m", [(WALKING, 3.0), (STANDING, 2.0)])
def test_person_entering_the_critical_distance_ahead_is_announced_once_confirmed(motion, critical_m):
    run = Run(motion)
    speed = 1.0  # m/s
    distances = [6.05 - speed * FRAME_S * i for i in range(56)]
    for distance in distances:
        run.step([(PERSON, 2.0, distance)])
    # The track's distance is the median of its last three frames carried forward at the approach speed: once the
    # speed is known, not behind the steady approach.
    tracked = [result.obstacles[0].distance_m for result in run.results]
    assert tracked[10] == pytest.approx(distances[10], abs=0.02)
    first_inside = next(i for i, d in enumerate(tracked) if d < critical_m - 1e-3)
    critical = [(frame, r) for frame, r in run.requests if r.urgency == CRITICAL]
    assert critical, run.requests
    frame, request = critical[0]
    # The critical state is confirmed on its third frame (critical_confirm_frames) and said on that frame.
    assert frame == first_inside + PolicyConfig().critical_confirm_frames - 1
    assert request.direction == "ahead" and request.class_name == "person" and request.clock == 12
    assert request.distance_m == pytest.approx(distances[frame], abs=0.02)
    assert request.event == APPROACHING  # known already, now nearer: said as approaching
    assert request.stamp_ns == int(round((1000.0 + frame * FRAME_S) * 1e9))
    # Before: announced once when it came within 5 m and was confirmed, not critical.
    earlier = [(f, r) for f, r in run.requests if f < first_inside]
    assert earlier and earlier[0][1].urgency in (INFO, WARNING) and distances[earlier[0][0]] < 5.0


def test_a_person_appearing_close_is_announced_on_the_third_frame():
    run = Run(WALKING)
    run.step([(PERSON, -3.0, 1.2)])
    run.step([(PERSON, -3.0, 1.2)])
    assert run.requests == []  # one or two frames are never spoken
    run.step([(PERSON, -3.0, 1.2)])
    assert len(run.requests) == 1
    frame, request = run.requests[0]
    assert frame == 2 and request.urgency == CRITICAL and request.event == OBSTACLE
    assert request.distance_m == pytest.approx(1.2, abs=0.02) and request.band == "very_close"


@pytest.mark.parametrize("motion,cooldown", [(WALKING, 3.0), (STANDING, 5.0)])
def test_a_still_critical_obstacle_is_repeated_only_after_the_cooldown(motion, cooldown):
    run = Run(motion)
    for _ in range(160):
        run.step([(PERSON, 0.0, 1.2)])
    frames = [frame for frame, request in run.requests]
    assert all(r.urgency == CRITICAL for _, r in run.requests)
    gaps = np.diff(frames) * FRAME_S
    assert frames[0] == 2 and len(frames) >= 3
    assert np.all(gaps >= cooldown - 1e-6) and np.all(gaps <= cooldown + FRAME_S + 1e-6)


def test_a_still_ordinary_obstacle_is_said_once():
    run = Run(WALKING)
    for _ in range(100):  # ten seconds
        run.step([(CHAIR, -35.0, 2.0)])
    assert len(run.requests) == 1
    frame, request = run.requests[0]
    assert frame == 2 and request.urgency == WARNING and request.direction == "left"


def test_an_approaching_obstacle_is_reannounced_at_each_nearer_band():
    run = Run(STANDING)
    distances = [4.8 - 0.08 * i for i in range(51)]  # 0.8 m/s down to 0.8 m
    for distance in distances:
        run.step([(CHAIR, 5.0, distance)])
    bands = [r.band for _, r in run.requests]
    events = [r.event for _, r in run.requests]
    assert bands == ["medium", "close", "very_close"]
    assert events == [OBSTACLE, APPROACHING, APPROACHING]
    # Said on the first frame in the nearer band (of the track's filtered distance).
    close_frame, very_close_frame = run.requests[1][0], run.requests[2][0]
    tracked = [result.obstacles[0].distance_m for result in run.results]
    assert tracked[close_frame] < 3.0 <= tracked[close_frame - 1]
    assert tracked[very_close_frame] < 1.5 <= tracked[very_close_frame - 1]
    assert run.requests[2][1].urgency == WARNING  # a chair is never critical
    assert run.results[-1].obstacles[0].approach_mps == pytest.approx(0.8, abs=0.05)


def test_directions_and_clock_of_obstacles_at_known_bearings():
    run = Run(STANDING)
    scene = [(BOTTLE, -35.0, 2.0), (BOTTLE, 0.0, 2.5), (BOTTLE, 35.0, 3.5)]
    for _ in range(40):
        run.step(scene)
    said = {round(r.bearing_deg): (r.direction, r.clock, r.distance_m) for _, r in run.requests}
    assert said.keys() == {-35, 0, 35}
    assert said[-35][:2] == ("left", 11) and said[0][:2] == ("ahead", 12) and said[35][:2] == ("right", 1)
    # The nearest part: a box off-axis is nearest at its edge towards the middle.
    assert said[0][2] == pytest.approx(2.5, abs=0.02)
    for bearing, centre_distance in ((-35, 2.0), (35, 3.5)):
        assert centre_distance * 0.9 < said[bearing][2] < centre_distance


def test_one_frame_flicker_never_speaks():
    rng = np.random.default_rng(0)
    run = Run(WALKING)
    for i in range(80):
        # False detections of one frame each, anywhere (one class per frame, so no two land on one track in a row).
        objects = [((CHAIR, CAR, BOTTLE, PLANT)[i % 4], float(rng.uniform(-40, 40)), float(rng.uniform(0.8, 4.0)))]
        if i % 2 == 0:
            objects.append((PERSON, 0.0, 1.0))  # a person detected only every other frame
        run.step(objects)
    assert run.requests == []


def test_at_least_min_gap_between_non_critical_requests_but_critical_goes_at_once():
    run = Run(STANDING)
    chairs = [(CHAIR, b, d) for b, d in ((-30, 1.2), (-10, 2.0), (10, 2.6), (30, 3.5), (0, 4.5))]
    for _ in range(60):
        run.step(chairs)
    frames = [frame for frame, _ in run.requests]
    assert len(frames) == 5
    assert np.all(np.diff(frames) * FRAME_S >= 0.8 - 1e-6)
    # Most important first: nearer and more central before farther and to the side.
    priorities = [r.priority for _, r in run.requests]
    assert all(a >= b - 1e-9 for a, b in zip(priorities, priorities[1:])), priorities

    run = Run(STANDING)
    for _ in range(3):
        run.step([(CHAIR, 0.0, 2.0)])
    assert [f for f, _ in run.requests] == [2]
    for _ in range(3):
        run.step([(CHAIR, 0.0, 2.0), (PERSON, 20.0, 1.0)])  # 0.3 s after the chair: critical, not held back
    assert [f for f, _ in run.requests] == [2, 5] and run.requests[1][1].urgency == CRITICAL


def test_an_obstacle_that_left_and_came_back_is_news_again():
    run = Run(STANDING)
    for _ in range(5):
        run.step([(CHAIR, 0.0, 2.0)])
    for _ in range(8):  # gone longer than track_max_missed frames
        run.step([])
    for _ in range(5):
        run.step([(CHAIR, 0.0, 2.0)])
    assert [f for f, _ in run.requests] == [2, 15]
    assert run.requests[0][1].key != run.requests[1][1].key
    assert any(result.left for result in run.results[5:13])


def test_far_obstacles_are_not_announced():
    run = Run(WALKING)
    for _ in range(30):
        run.step([(PERSON, 0.0, 7.0), (CAR, 10.0, 9.0)])
    assert run.requests == []
    assert {o.band for o in run.results[-1].obstacles} == {"far"}


def test_peripheral_camera_obstacles_and_missing_depth():
    run = Run(WALKING)
    for _ in range(4):
        run.step([(PERSON, 0.0, 2.0), (PLANT, 10.0, 2.0)], camera=SLAM_LEFT)
    assert len(run.requests) == 1  # the most important first; the plant waits for the minimum gap
    request = run.requests[0][1]
    assert request.camera == SLAM_LEFT and request.direction == "left" and request.distance_m is None
    assert request.bearing_deg == pytest.approx(-38.0, abs=0.01) and request.clock == 11
    assert request.urgency == INFO and request.band == "unknown"
    obstacle = run.results[-1].obstacles[0]
    assert math.isnan(obstacle.distance_m) and all(math.isnan(c) for c in obstacle.position)
    assert obstacle.track_id > 1_000_000  # peripheral ids never collide with RGB ids

    quiet = Run(WALKING, FusionConfig(policy=PolicyConfig(min_priority_without_distance=7)))
    for _ in range(20):
        quiet.step([(PLANT, -20.0, 2.0)], camera=SLAM_LEFT)
    assert quiet.requests == []  # without a distance, only classes of priority 7 and more

    run = Run(WALKING)
    for _ in range(4):
        run.step([(PERSON, 0.0, 1.0)], with_depth=False)  # depth is down: still named, without a distance
    assert [(f, r.distance_m, r.direction) for f, r in run.requests] == [(2, None, "ahead")]


def test_peripheral_obstacles_inside_the_rgb_view_are_left_to_the_rgb_camera():
    run = Run(STANDING)
    run.step([])  # the RGB camera's view is known from its first frame: +-46.8 deg here
    for _ in range(20):
        # Left camera (axis at -38 deg): a person at -38 deg is inside the RGB view, a bottle at -58 deg is not.
        run.step([(PERSON, 0.0, 2.0), (BOTTLE, -20.0, 2.0), (PLANT, 15.0, 2.0)], camera=SLAM_LEFT)
    said = [(r.class_name, round(r.bearing_deg), r.direction) for _, r in run.requests]
    assert said == [("bottle", -58, "left")]
    # The centre zone (+-30% of the RGB width, +-32.6 deg here) also applies to peripheral bearings.
    directions = {o.class_name: o.direction for o in run.results[-1].obstacles}
    assert directions == {"person": "left", "bottle": "left", "potted plant": "ahead"}


def test_noise_around_the_critical_distance_does_not_repeat_the_warning():
    run = Run(WALKING)
    for i in range(40):
        run.step([(PERSON, 0.0, 2.95 if i % 2 else 3.05)])  # +-5 cm around the 3 m critical distance
    critical = [f for f, r in run.requests if r.urgency == CRITICAL]
    assert critical and np.all(np.diff(critical) * FRAME_S >= 1.0 - 1e-6)  # only the walking cooldown


def test_cameras_compete_fairly_whichever_frame_comes_first():
    run = Run(STANDING)
    for i in range(30):
        later = i >= 2
        # The left camera's frame is processed before the RGB frame of the same moment, every time.
        run.step([(PLANT, -30.0, 2.0)] if later else [], camera=SLAM_LEFT)  # at -68 deg: outside the RGB view
        run.frame -= 1  # same moment
        run.step([(CHAIR, 0.0, 2.0)] + ([(PERSON, 20.0, 4.5)] if later else []))
    said = [(frame, r.class_name, r.camera) for frame, r in run.requests]
    # The chair first; when the gap is over, the person (priority 4.0) goes before the plant (0.12), although the
    # plant's camera frame is the one processed at that moment. The request carries the stamp of the frame the
    # person was last seen in (the RGB frame before).
    assert said == [(2, "chair", RGB), (10, "person", RGB), (18, "potted plant", SLAM_LEFT)]
    assert run.requests[1][1].stamp_ns == int(round((1000.0 + 9 * FRAME_S) * 1e9))


def test_one_or_two_glitched_frames_of_depth_never_make_a_warning():
    for glitch in (1, 2):
        run = Run(STANDING)
        for i in range(40):
            distance = 1.0 if 20 <= i < 20 + glitch else 4.5  # a person at 4.5 m read as 1 m
            run.step([(PERSON, 0.0, distance)])
        assert [r.urgency for _, r in run.requests] == [INFO], (glitch, run.requests)


def test_time_to_collision_makes_a_fast_approach_critical_before_a_slow_near_one():
    run = Run(STANDING)
    for i in range(16):  # a person coming at 1.5 m/s: 4.5 m -> 2.25 m; a chair 1.4 m away, still
        run.step([(PERSON, 0.0, 4.5 - 0.15 * i), (CHAIR, -30.0, 1.4)])
    person, chair = run.results[-1].obstacles
    assert person.approach_mps == pytest.approx(1.5, abs=0.05) and person.urgency == CRITICAL
    assert chair.urgency == WARNING and person.distance_m > 2.0  # standing: 1.5 m would be critical by distance
    assert [r.class_name for _, r in run.requests if r.urgency == CRITICAL] == ["person"]
    run = Run(STANDING)
    for i in range(16):  # the same person standing still at 2.4 m: not critical while standing
        run.step([(PERSON, 0.0, 2.4)])
    assert run.results[-1].obstacles[0].urgency != CRITICAL
