"""Aria Gen2 as a first-class VRS source, on the real Gen2 recording in ../shared/data/aria/: generation and labels,
RGB not rotated and not squashed (fx == fy), the four SLAM cameras, IMU in aria_imu axes, VIO device poses; and
every recording, Gen1 or Gen2, cut at several points is one SourceError naming the file."""
import numpy as np
import pytest

from aria_nav.core.fusion.vio_motion import VioMotion, VioMotionConfig, quaternion_matrix
from aria_nav.core.sources import SourceError, open_source
from aria_nav.core.sources.base import IMU, RGB, SLAM_LEFT, SLAM_RIGHT, ImuSample, resize_frame
from aria_nav.core.sources.base import ODOM
from aria_nav.core.sources.vrs import GEN1, GEN2, PoseSample, VrsSource
from aria_nav.core.fusion.motion import WALKING
from test_sources_vrs import recording

GEN2_FILE = "gen2_unit_test_sequence.vrs"
# Gen2 counts (projectaria-tools 2.3.0 on the recording): 3 RGB, 9 per SLAM camera, 238 IMU, 237 VIO poses.
GEN2_COUNTS = {RGB: 3, SLAM_LEFT: 9, SLAM_RIGHT: 9, "slam_front_left": 9, "slam_front_right": 9, IMU: 238, ODOM: 237}


@pytest.fixture(scope="module")
def gen2():
    source = VrsSource(recording(GEN2_FILE), sizes={RGB: (704, 0)})
    return source, list(source.items())


def first(items, stream):
    return next(i for i in items if i.stream == stream)


def test_generation_streams_and_counts(gen2):
    source, items = gen2
    assert source.generation == GEN2 and "Gen2" in source.description
    assert source.labels[SLAM_LEFT] == "slam-side-left" and source.labels["slam_front_right"] == "slam-front-right"
    counts = {stream: sum(1 for i in items if i.stream == stream) for stream in GEN2_COUNTS}
    assert counts == GEN2_COUNTS
    stamps = [i.device_ns for i in items]
    assert stamps == sorted(stamps)
    assert VrsSource(recording("gen1_everyday_activities.vrs"), streams=[IMU]).generation == GEN1


def test_rgb_keeps_its_aspect_with_square_pixels(gen2):
    _, items = gen2
    rgb = first(items, RGB)
    k = rgb.calibration.intrinsics
    assert rgb.image.shape == (528, 704, 3), "2016x1512 (4:3) at width 704: 704x528, not squashed to 704x704"
    assert k.fx == pytest.approx(k.fy) and (k.cx, k.cy) == pytest.approx((351.5, 263.5))
    assert k.fx == pytest.approx(878.166 * 704 / 2016, rel=1e-4), "the fisheye's focal, scaled with the width"
    # A requested size of another aspect is a centred crop, never a squash.
    square = resize_frame(rgb, 400, 400)
    assert square.image.shape == (400, 400, 3)
    assert square.calibration.intrinsics.fx == pytest.approx(square.calibration.intrinsics.fy, rel=1e-3)


def test_rgb_is_not_rotated(gen2):
    """Gen2 stores RGB upright: the raw (distorted) frame is the recorded image itself, landscape."""
    source, _ = gen2
    raw_source = VrsSource(source.path, streams=[RGB], undistort=False)
    raw = next(iter(raw_source.items()))
    recorded = raw_source._provider.get_image_data_by_index(raw_source._stream_ids[RGB], 0)[0].to_numpy_array()
    assert raw.image.shape == (1512, 2016, 3) and np.array_equal(raw.image, recorded)
    k = raw.calibration.intrinsics
    assert raw.calibration.distortion_model == "fisheye624" and (k.cx, k.cy) == pytest.approx((992.05, 752.38),
                                                                                              abs=0.01)


@pytest.mark.parametrize("stream", [RGB, SLAM_LEFT, SLAM_RIGHT, "slam_front_left", "slam_front_right"])
def test_up_is_up_in_every_camera(gen2, stream):
    """Gravity measured by the IMU (aria_imu: device axes), seen from each upright camera through its extrinsics,
    points down the image (+y), and the side cameras look to their side."""
    source, items = gen2
    specific_force = np.mean([i.linear_acceleration for i in items if i.stream == IMU], axis=0)  # points up
    device_from_camera = source.extrinsics[stream][:3, :3]
    up = device_from_camera.T @ specific_force
    up /= np.linalg.norm(up)
    assert up[1] < -0.7, f"{stream}: up is not towards the top of the image: {up}"
    optical_axis = device_from_camera[:, 2]  # in aria_device: x forward, y left
    side = {SLAM_LEFT: 1, SLAM_RIGHT: -1}.get(stream)
    if side is not None:
        assert side * optical_axis[1] > 0.9, f"{stream} (slam-side) looks to its side: {optical_axis}"
    else:
        assert optical_axis[0] > 0.8, f"{stream} looks forward: {optical_axis}"
    frame = first(items, stream)
    k = frame.calibration.intrinsics
    assert k.fx == pytest.approx(k.fy) and (k.width, k.height) == frame.size
    if stream != RGB:
        assert frame.size == (512, 512) and frame.encoding == "mono8"


def test_slam_cameras_look_to_the_sides_as_fusion_must_know():
    """fusion's peripheral_yaw_deg from the factory calibration of the camera's source: Gen1 38 degrees, Gen2's
    side pair 84, the sample 60; 38 for a source without calibration. The camera node's log says the same."""
    from aria_nav.ros.fusion_params import source_calibration
    from aria_nav.ros.static_tf import camera_mounts, peripheral_yaw_deg

    assert peripheral_yaw_deg(camera_mounts("vrs", str(recording(GEN2_FILE)))[0]) == pytest.approx(84.3, abs=1.0)
    gen1 = camera_mounts("vrs", str(recording("gen1_everyday_activities.vrs")))[0]
    assert peripheral_yaw_deg(gen1) == pytest.approx(38.0, abs=1.0)
    assert source_calibration("vrs", str(recording(GEN2_FILE)))[1] == pytest.approx(84.3, abs=1.0)
    assert source_calibration("sample", "")[1] == pytest.approx(60.0)
    assert source_calibration("video", "walk.mp4")[1] is None  # fusion then takes Gen1's 38


def test_front_pair_can_feed_the_slam_detectors(gen2):
    front = VrsSource(gen2[0].path, streams=[SLAM_LEFT, SLAM_RIGHT, "slam_side_left"], slam_pair="front")
    assert front.labels[SLAM_LEFT] == "slam-front-left" and front.labels["slam_side_left"] == "slam-side-left"
    assert front.streams == (SLAM_LEFT, SLAM_RIGHT, "slam_side_left")
    assert front.extrinsics[SLAM_LEFT][0, 2] > 0.8, "the front-left camera looks forward"


def test_imu_in_aria_imu_axes_agrees_with_vio(gen2):
    """aria_imu has the device's REP 103 axes: the specific force points up (+z) for a wearer who stands or walks
    upright, and the gyroscope measures the same rotation as the VIO's angular velocity (both in aria_device
    axes: the two conversions agree)."""
    _, items = gen2
    imu = [i for i in items if isinstance(i, ImuSample)]
    poses = [i for i in items if isinstance(i, PoseSample)]
    accel = np.mean([i.linear_acceleration for i in imu], axis=0)
    assert 8.0 < np.linalg.norm(accel) < 12.0 and accel[2] > 0.9 * np.linalg.norm(accel)
    gyro = np.mean([i.angular_velocity for i in imu], axis=0)
    vio = np.mean([p.angular_velocity for p in poses], axis=0)
    assert np.linalg.norm(gyro - vio) < 0.1 * np.linalg.norm(gyro), (gyro, vio)


def test_vio_poses_are_consistent_odometry(gen2):
    _, items = gen2
    poses = [i for i in items if isinstance(i, PoseSample)]
    rotations = [quaternion_matrix(*p.orientation_xyzw) for p in poses]
    assert all(np.linalg.norm(p.orientation_xyzw) == pytest.approx(1.0) for p in poses)
    assert np.mean([r[2, 2] for r in rotations]) > 0.8, "odometry z is up and the device is worn upright"
    positions = np.array([p.position for p in poses])
    times = np.array([p.device_ns for p in poses]) / 1e9
    velocity_odom = np.array([r @ p.linear_velocity for r, p in zip(rotations, poses)])
    derived = np.gradient(positions, times, axis=0)
    assert np.abs(derived - velocity_odom).mean() < 0.02, "the twist is the derivative of the poses"
    # The wearer walks at ~0.5 m/s: the VIO motion state says walking (the recording lasts 0.3 s: a shorter hold).
    motion = VioMotion(VioMotionConfig(min_walk_s=0.1))
    for p, r in zip(poses, rotations):
        motion.add(p.device_ns / 1e9, p.orientation_xyzw, r @ p.linear_velocity, (r @ p.angular_velocity)[2],
                   p.quality)
    assert motion.state == WALKING and 0.3 < motion.speed_mps < 1.0 and motion.turning


CUTS = (0.002, 0.03, 0.1, 0.4, 0.75, 0.995)


@pytest.mark.parametrize("name", [GEN2_FILE, "gen1_everyday_activities.vrs"])
def test_any_cut_is_one_clear_error(tmp_path, capfd, name):
    whole = recording(name).read_bytes()
    for fraction in CUTS:
        cut = tmp_path / f"cut_{fraction}.vrs"
        cut.write_bytes(whole[:int(len(whole) * fraction)])
        with pytest.raises(SourceError) as error:
            source = open_source("vrs", str(cut))
            for _ in source.items():
                pass
        message = str(error.value)
        assert message.startswith(str(cut)) and "\n" not in message, message
        assert "truncated" in message or "not a readable VRS file" in message, message
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == "", "projectaria's own log lines stay out of the output"


def test_corrupt_records_are_one_clear_error(tmp_path):
    whole = bytearray(recording(GEN2_FILE).read_bytes())
    middle = len(whole) // 2
    whole[middle:middle + 65536] = bytes(65536)
    corrupt = tmp_path / "corrupt.vrs"
    corrupt.write_bytes(bytes(whole))
    try:
        source = VrsSource(corrupt)
        count = sum(1 for _ in source.items())
    except SourceError as error:
        assert str(error).startswith(str(corrupt)) and "\n" not in str(error)
    else:  # projectaria skips unreadable records: what it delivers is still well-formed
        assert 0 < count < sum(GEN2_COUNTS.values())
