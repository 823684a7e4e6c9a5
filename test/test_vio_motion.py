"""Motion state from device poses (Gen2 VIO): walking/standing from horizontal speed with hysteresis, turning from
the yaw rate, and the pipeline's fallback to the IMU detector when poses stop."""
import math

from aria_nav.core.fusion.motion import STANDING, WALKING
from aria_nav.core.fusion.pipeline import FusionPipeline
from aria_nav.core.fusion.vio_motion import VioMotion, heading_deg, quaternion_matrix

LEVEL = (0.0, 0.0, 0.0, 1.0)


def yaw_quaternion(deg):
    half = math.radians(deg) / 2
    return (0.0, 0.0, math.sin(half), math.cos(half))


def feed(motion, start_s, duration_s, speed, yaw_rate=0.0, rate_hz=100):
    for i in range(int(duration_s * rate_hz)):
        motion.add(start_s + i / rate_hz, LEVEL, (speed, 0.0, 0.0), yaw_rate)
    return motion.state


def test_walking_standing_with_hysteresis():
    motion = VioMotion()
    assert feed(motion, 0.0, 1.0, 0.1) == STANDING
    assert feed(motion, 1.0, 0.2, 1.0) == STANDING, "not yet: 0.3 s above the walking speed are needed"
    assert feed(motion, 1.2, 0.3, 1.0) == WALKING
    assert feed(motion, 1.5, 1.0, 0.3) == WALKING, "between the thresholds: unchanged"
    assert feed(motion, 2.5, 0.4, 0.05) == WALKING, "a short pause is not standing"
    assert feed(motion, 2.9, 0.8, 0.05) == STANDING
    assert motion.changes == 2


def test_vertical_motion_is_not_walking_and_turning_is_seen():
    motion = VioMotion()
    for i in range(100):
        motion.add(i / 100, LEVEL, (0.0, 0.0, 1.0), math.radians(90))  # head bob up/down, turning on the spot
    assert motion.state == STANDING and motion.turning and motion.yaw_rate_dps == 90.0


def test_heading_and_rotation_agree():
    q = yaw_quaternion(30.0)
    assert abs(heading_deg(*q) - 30.0) < 1e-9
    forward = quaternion_matrix(*q)[:, 0]
    assert abs(math.degrees(math.atan2(forward[1], forward[0])) - 30.0) < 1e-9


def test_pipeline_prefers_fresh_poses_then_falls_back_to_the_imu():
    pipeline = FusionPipeline()
    feed(pipeline.vio, 0.0, 1.0, 1.2)
    assert pipeline.vio.state == WALKING and pipeline.motion.state == STANDING
    assert pipeline.motion_state(1.0) == WALKING, "fresh poses decide"
    assert pipeline.motion_state(3.0) == STANDING, "poses stopped 2 s ago: the IMU detector decides"
