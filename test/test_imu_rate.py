"""The camera's imu_rate_hz (aria_nav.core.sources.imu_rate): block means at the chosen rate, in device time."""
import numpy as np
import pytest

from aria_nav.core.sources.base import ImuSample
from aria_nav.core.sources.imu_rate import ImuRate


def samples(rate_hz, duration_s, start_ns=0, rng=None):
    """IMU samples at `rate_hz` (stamps a fixed 1 ms after device time) with a 2 Hz sway and some noise."""
    rng = rng or np.random.default_rng(0)
    for k in range(int(rate_hz * duration_s)):
        device_ns = start_ns + int(round(k * 1e9 / rate_hz))
        t = device_ns / 1e9
        force = (np.sin(2 * np.pi * 2 * t), 0.0, 9.81) + rng.normal(0, 0.3, 3)
        gyro = (0.0, 0.5 * np.cos(2 * np.pi * 2 * t), 0.1)
        yield ImuSample(device_ns, tuple(force), gyro), device_ns + 1_000_000


def run(rate, items):
    return [out for sample, stamp in items if (out := rate.add(sample, stamp)) is not None]


@pytest.mark.parametrize("measured_hz, rate_hz, per_block", [(1000, 200, 5), (800, 200, 4), (1000, 300, 3)])
def test_block_means_at_the_rate_closest_to_the_one_asked(measured_hz, rate_hz, per_block):
    items = list(samples(measured_hz, 2.0))
    out = run(ImuRate(rate_hz), items)
    device = np.array([s.device_ns for s, _ in out])
    assert np.median(np.diff(device)) == pytest.approx(per_block * 1e9 / measured_hz, rel=0.01)
    # Each one is the mean of its block: values, device time and stamp (the first block may hold one more).
    rate = ImuRate(rate_hz)
    ends = [k for k, (sample, stamp) in enumerate(items) if rate.add(sample, stamp) is not None]
    block = [s for s, _ in items[ends[-1] + 1 - per_block:ends[-1] + 1]]
    last, last_stamp = out[-1]
    assert last.linear_acceleration == pytest.approx(np.mean([s.linear_acceleration for s in block], axis=0))
    assert last.angular_velocity == pytest.approx(np.mean([s.angular_velocity for s in block], axis=0))
    assert last.device_ns == pytest.approx(np.mean([s.device_ns for s in block]), abs=1)
    assert last_stamp == last.device_ns + 1_000_000


def test_the_gyro_integral_and_gravity_are_kept():
    items = list(samples(1000, 3.0))
    out = run(ImuRate(200), items)
    measured = sum(s.angular_velocity[2] for s, _ in items) * 1e-3
    averaged = sum(s.angular_velocity[2] for s, _ in out) * 5e-3
    assert averaged == pytest.approx(measured, rel=0.01)
    assert np.mean([s.linear_acceleration[2] for s, _ in out]) == pytest.approx(9.81, abs=0.05)
    # Noise averages down (5 samples a block: about 1/sqrt(5) of it), the 2 Hz sway stays.
    assert np.std([s.linear_acceleration[1] for s, _ in out]) < 0.6 * 0.3
    assert np.ptp([s.linear_acceleration[0] for s, _ in out]) > 1.5


def test_zero_or_a_rate_at_the_measured_one_passes_every_sample():
    items = list(samples(200, 1.0))
    assert run(ImuRate(0), items) == items
    out = run(ImuRate(200), items)
    assert len(out) == len(items) - 1  # the first block has no spacing yet: it takes two samples
    assert [s for s, _ in out[1:]] == [s for s, _ in items[2:]]


def test_device_time_going_back_starts_a_new_block():
    rate = ImuRate(200)
    assert run(rate, list(samples(1000, 0.003, start_ns=50_000_000))) == []  # three samples held
    out = run(rate, list(samples(1000, 0.005)))  # a new source from device time 0: 0 ... 4 ms
    assert [s.device_ns for s, _ in out] == [2_000_000]  # their mean alone, not mixed with the held ones


def test_a_negative_rate_is_refused():
    with pytest.raises(ValueError, match="negative"):
        ImuRate(-1)
