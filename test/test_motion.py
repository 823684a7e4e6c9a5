"""Walking/standing detector on synthetic head-IMU sequences: standing, walking, pauses and turns."""
import math

import numpy as np
import pytest

from aria_nav.core.fusion.motion import STANDING, WALKING, MotionConfig, MotionDetector

G = 9.80665
RATE_HZ = 200.0


def standing(seconds, rng, start=0.0, tilt_deg=20.0):
    """Head still, tilted: gravity spread over axes, sensor noise 0.05 m/s^2."""
    t = start + np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    tilt = math.radians(tilt_deg)
    gravity = np.array([0.0, G * math.sin(tilt), G * math.cos(tilt)])
    return t, gravity + rng.normal(0.0, 0.05, (t.size, 3))


def walking(seconds, rng, start=0.0, step_hz=1.9, amplitude=1.6):
    """Head bobbing at the step rate: vertical acceleration swings by `amplitude`, with some sway."""
    t = start + np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    vertical = G + amplitude * np.sin(2 * math.pi * step_hz * t)
    sway = 0.5 * np.sin(math.pi * step_hz * t)
    return t, np.stack([sway, np.zeros_like(t), vertical], axis=1) + rng.normal(0.0, 0.05, (t.size, 3))


def turning(seconds, rng, start=0.0, angle_deg=120.0, radius_m=0.09, tilt_deg=20.0):
    """Turning on the spot: yaw follows a smooth ramp; the sensor, off the rotation axis, feels centripetal and
    tangential acceleration; gravity turns around in the tilted sensor frame but keeps its size."""
    t = start + np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    s = (t - start) / seconds
    angle = math.radians(angle_deg)
    omega = angle / seconds * (1 - np.cos(2 * math.pi * s))  # integrates to angle over the turn
    alpha = angle / seconds ** 2 * 2 * math.pi * np.sin(2 * math.pi * s)
    yaw = angle * (s - np.sin(2 * math.pi * s) / (2 * math.pi))
    tilt = math.radians(tilt_deg)
    gravity = np.stack([G * math.sin(tilt) * np.sin(yaw), G * math.sin(tilt) * np.cos(yaw),
                        np.full_like(t, G * math.cos(tilt))], axis=1)
    body = np.stack([alpha * radius_m, -omega ** 2 * radius_m, np.zeros_like(t)], axis=1)
    return t, gravity + body + rng.normal(0.0, 0.05, (t.size, 3))


def feed(detector, sequence):
    """States after each sample."""
    times, samples = sequence
    return times, [detector.add(time, *sample) for time, sample in zip(times, samples)]


def first_time(times, states, state):
    for time, value in zip(times, states):
        if value == state:
            return time
    return None


def test_standing_stays_standing():
    rng = np.random.default_rng(1)
    detector = MotionDetector()
    _, states = feed(detector, standing(10.0, rng))
    assert set(states) == {STANDING} and detector.deviation < 0.1


def test_walking_is_detected_after_the_window_and_hold_and_standing_after_stopping():
    rng = np.random.default_rng(2)
    cfg = MotionConfig()
    detector = MotionDetector(cfg)
    feed(detector, standing(3.0, rng))
    times, states = feed(detector, walking(5.0, rng, start=3.0))
    switched = first_time(times, states, WALKING)
    # The deviation needs part of a (walk) window of walking to cross the threshold, then must hold min_walk_s.
    assert switched is not None and 3.0 + cfg.min_walk_s <= switched <= 3.0 + cfg.walk_window_s + cfg.min_walk_s
    assert states[-1] == WALKING and detector.deviation > 0.8
    times, states = feed(detector, standing(4.0, rng, start=8.0))
    stopped = first_time(times, states, STANDING)
    assert stopped is not None and 8.0 + cfg.min_stand_s <= stopped <= 8.0 + cfg.window_s + cfg.min_stand_s
    assert detector.changes == 2


def test_a_turn_on_the_spot_is_not_walking():
    rng = np.random.default_rng(3)
    detector = MotionDetector()
    feed(detector, standing(2.0, rng))
    _, states = feed(detector, turning(1.2, rng, start=2.0))
    _, states_back = feed(detector, turning(0.8, rng, start=3.2, angle_deg=-90.0))
    assert set(states + states_back) == {STANDING}
    assert detector.changes == 0


def test_turning_while_walking_and_a_short_pause_keep_walking():
    rng = np.random.default_rng(4)
    detector = MotionDetector()
    feed(detector, walking(4.0, rng))
    assert detector.state == WALKING
    t, walk = walking(1.0, rng, start=4.0)
    _, turn = turning(1.0, rng, start=4.0)
    _, states = feed(detector, (t, walk + turn - np.array([0.0, 0.0, G])))  # walking through a turn
    _, pause = feed(detector, standing(0.6, rng, start=5.0))  # a short stop at a kerb
    _, after = feed(detector, walking(2.0, rng, start=5.6))
    assert set(states + pause + after) == {WALKING}


def test_hysteresis_holds_state_between_thresholds():
    detector = MotionDetector(MotionConfig(walk_threshold=0.6, stand_threshold=0.3))
    rng = np.random.default_rng(5)
    # A slow shuffle: deviation about 0.45, between the thresholds: standing stays standing...
    _, states = feed(detector, walking(5.0, rng, amplitude=0.63))
    assert 0.3 < detector.deviation < 0.6 and set(states) == {STANDING}
    # ...and walking stays walking.
    feed(detector, walking(3.0, rng, start=5.0))
    _, states = feed(detector, walking(5.0, rng, start=8.0, amplitude=0.63))
    assert set(states[-500:]) == {WALKING}


def test_time_going_back_restarts_and_bad_config_is_refused():
    rng = np.random.default_rng(6)
    detector = MotionDetector()
    feed(detector, walking(4.0, rng, start=100.0))
    assert detector.state == WALKING
    feed(detector, standing(0.05, rng, start=0.0))  # a replay restarted: old samples are not mixed in
    assert len(detector._samples) == 10
    with pytest.raises(ValueError, match="stand_threshold"):
        MotionDetector(MotionConfig(walk_threshold=0.2, stand_threshold=0.5))


def test_the_first_steps_switch_to_walking_within_half_a_second():
    for seed in range(5):
        rng = np.random.default_rng(10 + seed)
        detector = MotionDetector()
        feed(detector, standing(3.0, rng))
        times, states = feed(detector, walking(3.0, rng, start=3.0, step_hz=1.7 + 0.1 * seed))
        assert first_time(times, states, WALKING) - 3.0 < 0.5
