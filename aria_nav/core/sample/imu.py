"""The sample recording's IMU: exactly the wearer's scripted head motion, differentiated, plus sensor noise.

Axes of the `aria_imu` frame in the sample: x forward, y left, z up (REP 103), at the head's origin. Linear
acceleration is the specific force (what an accelerometer measures: +9.81 m/s^2 on z when still), angular velocity
is in rad/s; both carry white Gaussian noise from a fixed seed, so the samples are the same on every build.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aria_nav.core.sample import script
from aria_nav.core.sample.render import head_rotation

_STEP_S = 1e-3  # finite-difference step for velocities and accelerations of the analytic head motion


@dataclass
class ImuSamples:
    stamps_ns: np.ndarray  # (N,) int64 device time
    linear_acceleration: np.ndarray  # (N, 3) float64 m/s^2, specific force in the IMU frame
    angular_velocity: np.ndarray  # (N, 3) float64 rad/s in the IMU frame

    def __len__(self) -> int:
        return len(self.stamps_ns)


def _head_position(t: float) -> np.ndarray:
    return np.asarray(script.WEARER.head_position(t), float)


def _head_rotation(t: float) -> np.ndarray:
    return head_rotation(script.WEARER.head_pitch_down_deg(t))


def true_motion(t: float):
    """(specific force, angular velocity) in the IMU frame at time t, without noise."""
    h = _STEP_S
    acceleration = (_head_position(t + h) - 2.0 * _head_position(t) + _head_position(t - h)) / (h * h)
    rotation = _head_rotation(t)
    gravity = np.array([0.0, -script.GRAVITY, 0.0])
    specific_force = rotation.T @ (acceleration - gravity)
    # R^T dR/dt is the skew matrix of the angular velocity in the body frame
    skew = rotation.T @ (_head_rotation(t + h) - _head_rotation(t - h)) / (2.0 * h)
    angular_velocity = np.array([skew[2, 1], skew[0, 2], skew[1, 0]])
    return specific_force, angular_velocity


def synthesize(duration_s: float) -> ImuSamples:
    """IMU samples at script.IMU_RATE_HZ from time 0 up to (not including) duration_s."""
    count = int(round(duration_s * script.IMU_RATE_HZ))
    period_ns = int(round(1e9 / script.IMU_RATE_HZ))
    stamps = script.DEVICE_START_NS + np.arange(count, dtype=np.int64) * period_ns
    force, rate = np.zeros((count, 3)), np.zeros((count, 3))
    for k in range(count):
        force[k], rate[k] = true_motion(k * period_ns / 1e9)
    rng = np.random.default_rng(script.NOISE_SEED)
    force += rng.normal(0.0, script.IMU_ACCEL_NOISE, force.shape)
    rate += rng.normal(0.0, script.IMU_GYRO_NOISE, rate.shape)
    return ImuSamples(stamps, force, rate)
