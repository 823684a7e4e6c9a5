"""The VRS source on the three real Aria recordings in ../shared/data/aria/: counts, sizes, upright rotation
consistent with the intrinsics, undistortion to a pinhole camera; and one clear error for unusable files."""
import numpy as np
import pytest

from aria_nav.core.sources import SourceError, open_source
from aria_nav.core.sources.base import CAMERA_STREAMS, IMU, RGB, SLAM_LEFT, SLAM_RIGHT
from aria_nav.core.sources.vrs import LABELS, VrsSource
from aria_nav.paths import shared_aria_dir

# frames per stream (README of the shared data); IMU counts as projectaria reads them
RECORDINGS = {
    "gen1_everyday_activities.vrs": {RGB: 8, SLAM_LEFT: 4, SLAM_RIGHT: 4, IMU: 400},
    "gen1_digital_twin_kitchen.vrs": {RGB: 3, SLAM_LEFT: 3, SLAM_RIGHT: 3, IMU: 99},
    "gen1_timecode_calib.vrs": {RGB: 4, SLAM_LEFT: 4, SLAM_RIGHT: 4, IMU: 150},
}


def recording(name):
    path = shared_aria_dir() / name
    if not path.is_file():
        pytest.skip(f"real Aria recording {path} is absent (../shared/data/aria is not beside this checkout)")
    return path


@pytest.fixture(scope="module")
def everyday():
    path = recording("gen1_everyday_activities.vrs")
    source = VrsSource(path)
    items = list(source.items())
    return path, source, items


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_counts_sizes_and_order(name):
    source = open_source("vrs", str(recording(name)))
    items = list(source.items())
    counts = {stream: sum(1 for i in items if i.stream == stream) for stream in RECORDINGS[name]}
    assert counts == RECORDINGS[name] == source.frame_counts()
    stamps = [i.device_ns for i in items]
    assert stamps == sorted(stamps)
    for item in items:
        if item.stream == RGB:
            assert item.image.shape == (1408, 1408, 3) and item.encoding == "rgb8"
        elif item.stream in (SLAM_LEFT, SLAM_RIGHT):
            assert item.image.shape == (640, 480) and item.encoding == "mono8"  # upright: portrait
        if item.stream != IMU:
            intrinsics = item.calibration.intrinsics
            assert item.calibration.is_pinhole and (intrinsics.width, intrinsics.height) == item.size
        else:
            assert 5.0 < np.linalg.norm(item.linear_acceleration) < 15.0, "gravity dominates the accelerometer"


def _grey(image):
    return image.mean(axis=2) if image.ndim == 3 else image.astype(float)


def _upright_camera(source, stream):
    """(rotation device-from-camera, fisheye calibration) of the upright linear camera and of the raw sensor."""
    from projectaria_tools.core import calibration

    fisheye = source._provider.get_device_calibration().get_camera_calib(LABELS[stream])
    width, height = (int(v) for v in fisheye.get_image_size())
    linear = calibration.get_linear_camera_calibration(width, height, float(fisheye.get_focal_lengths()[0]),
                                                       LABELS[stream], fisheye.get_transform_device_camera())
    upright = calibration.rotate_camera_calib_cw90deg(linear)
    return upright.get_transform_device_camera().to_matrix()[:3, :3], fisheye


@pytest.mark.parametrize("stream", CAMERA_STREAMS)
def test_upright_images_agree_with_their_intrinsics(everyday, stream):
    """A scene direction projected with the published intrinsics lands where the raw fisheye image shows the
    same content; and gravity points down (+y) in the upright camera."""
    _, source, items = everyday
    frame = next(i for i in items if i.stream == stream)
    raw_source = VrsSource(source.path, streams=[stream], undistort=False)
    raw = next(iter(raw_source.items()))

    device_from_upright, fisheye = _upright_camera(source, stream)
    device_from_raw = fisheye.get_transform_device_camera().to_matrix()[:3, :3]
    k = frame.calibration.intrinsics
    raw_image = source._provider.get_image_data_by_index(source._stream_ids[stream], 0)[0].to_numpy_array()
    published, original = _grey(frame.image), _grey(raw_image)
    correlations = []
    for u_frac, v_frac in ((0.3, 0.3), (0.7, 0.35), (0.5, 0.5), (0.35, 0.7), (0.65, 0.65)):
        u, v = u_frac * k.width, v_frac * k.height
        ray_upright = np.array([(u - k.cx) / k.fx, (v - k.cy) / k.fy, 1.0])
        ray_raw = device_from_raw.T @ device_from_upright @ ray_upright
        raw_uv = fisheye.project(ray_raw)
        assert raw_uv is not None
        patch = published[int(v) - 12:int(v) + 13, int(u) - 12:int(u) + 13]
        ru, rv = int(round(raw_uv[0])), int(round(raw_uv[1]))
        # the raw image is stored rotated 90 degrees counter-clockwise: turn its patch the same way as the frame
        raw_patch = np.rot90(original[rv - 12:rv + 13, ru - 12:ru + 13], k=-1)
        if patch.std() > 3 and raw_patch.std() > 3:  # textured enough to compare
            a, b = patch - patch.mean(), raw_patch - raw_patch.mean()
            correlations.append(float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())))
    assert len(correlations) >= 3 and np.median(correlations) > 0.8, correlations
    imu = np.mean([i.linear_acceleration for i in items if i.stream == IMU], axis=0)  # aria_imu: device axes
    up_in_camera = source.extrinsics[stream][:3, :3].T @ imu
    up_in_camera /= np.linalg.norm(up_in_camera)
    assert up_in_camera[1] < -0.7, f"up is not towards the top of the upright image: {up_in_camera}"
    assert raw.calibration.distortion_model == "fisheye624" and len(raw.calibration.distortion) == 12
    assert raw.image.shape[:2] == frame.image.shape[:2]


def test_undistortion_and_output_size(everyday):
    path, source, items = everyday
    rgb = next(i for i in items if i.stream == RGB)
    fisheye_focal = float(_upright_camera(source, RGB)[1].get_focal_lengths()[0])
    assert rgb.calibration.distortion_model == "plumb_bob" and not any(rgb.calibration.distortion)
    assert rgb.calibration.intrinsics.fx == pytest.approx(fisheye_focal)
    assert rgb.calibration.intrinsics.cx == pytest.approx(703.5)
    assert rgb.image[700:708, 700:708].mean() > 0 and rgb.image[0:4, 0:4].mean() == 0, \
        "the centre is image, the corner outside the fisheye circle is black"
    small = VrsSource(path, streams=[RGB, SLAM_LEFT], sizes={RGB: (704, 704), SLAM_LEFT: (240, 320)})
    frames = {}
    for item in small.items():
        frames.setdefault(item.stream, item)
    assert frames[RGB].image.shape == (704, 704, 3)
    assert frames[RGB].calibration.intrinsics == rgb.calibration.intrinsics.scaled(704, 704)
    assert frames[SLAM_LEFT].image.shape == (320, 240)
    full = np.asarray(rgb.image, float)
    halved = full.reshape(704, 2, 704, 2, 3).mean(axis=(1, 3))
    assert np.abs(frames[RGB].image - halved).mean() < 4.0, "the small frame is the same picture"


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken")
    (folder / "notes.vrs").write_text("these are my notes, not a recording\n" * 4)
    (folder / "tiny.vrs").write_text("hello\n")
    (folder / "empty.vrs").write_bytes(b"")
    import cv2

    writer = cv2.VideoWriter(str(folder / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for index in range(5):
        writer.write(np.full((48, 64, 3), index * 40, np.uint8))
    writer.release()
    return folder


@pytest.mark.parametrize("name, problem", [
    ("missing.vrs", "VRS file does not exist"),
    ("empty.vrs", "VRS file is empty"),
    ("notes.vrs", "is not a readable VRS file: .*doesn't look like a VRS file"),
    ("tiny.vrs", "is not a readable VRS file: .*too small to be a valid VRS file"),
    ("clip.mp4", "is not a readable VRS file: .*doesn't look like a VRS file"),
    (".", "is not a VRS file \\(it is a directory"),
])
def test_unusable_files_are_one_clear_error(broken, capfd, name, problem):
    with pytest.raises(SourceError, match=problem) as error:
        VrsSource(broken / name)
    assert str(broken / name) in str(error.value)
    assert "\n" not in str(error.value)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == "", "projectaria's own log lines stay out of the output"


