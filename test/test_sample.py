"""The sample recording: committed files match the scene script, ground truth agrees with the rendering and
with the scene's geometry, and the scripted story is what the ground truth says."""
import itertools
import math

import numpy as np
import pytest

from aria_nav import paths
from aria_nav.core.sample import CAMERA_NAMES, GroundTruthFile, default_scene, scaled_box
from aria_nav.core.sample import script
from aria_nav.core.sample.build import truth_path
from aria_nav.core.sample.render import camera_pose
from aria_nav.core.sample.truth import band_of, frame_events, motion_events, sort_events
from aria_nav.core.sources.base import IMU, Frame
from aria_nav.core.sources.bag import BagSource

CHECKED_FRAMES = (0, 31, 59)  # start (walking), just after stopping, end


@pytest.fixture(scope="module")
def scene():
    assert default_scene() is default_scene()
    return default_scene()


@pytest.fixture(scope="module")
def committed():
    return GroundTruthFile.load(truth_path())


@pytest.fixture(scope="module")
def recorded(scene):
    """Frames of CHECKED_FRAMES and all IMU samples, read back from the committed bag."""
    source = BagSource(paths.sample_dir())
    frames, imu = {}, []
    wanted = {int(scene.stamps_ns[i]): i for i in CHECKED_FRAMES}
    counts = {name: 0 for name in CAMERA_NAMES}
    for item in source.items():
        if item.stream == IMU:
            imu.append(item)
            continue
        counts[item.stream] += 1
        if item.device_ns in wanted:
            frames[(wanted[item.device_ns], item.stream)] = item
    source.close()
    return frames, imu, counts


def test_committed_recording_is_small_and_complete():
    files = {p.name: p.stat().st_size for p in paths.sample_dir().iterdir()}
    assert set(files) == {"metadata.yaml", "sample.mcap", "ground_truth.json"}
    assert sum(files.values()) < 8.5e6


def test_bag_holds_every_frame_and_imu_sample(scene, recorded):
    _, imu, counts = recorded
    assert counts == {name: scene.frame_count for name in CAMERA_NAMES}
    synthesized = scene.imu()
    assert [s.device_ns for s in imu] == synthesized.stamps_ns.tolist()
    np.testing.assert_allclose([s.linear_acceleration for s in imu], synthesized.linear_acceleration, atol=1e-9)
    np.testing.assert_allclose([s.angular_velocity for s in imu], synthesized.angular_velocity, atol=1e-9)


@pytest.mark.parametrize("index", CHECKED_FRAMES)
def test_recorded_images_are_the_rendered_scene(scene, recorded, index):
    frames, _, _ = recorded
    for camera in CAMERA_NAMES:
        frame: Frame = frames[(index, camera)]
        rendered = scene.render_rgb(index) if camera == "rgb" else scene.render_slam(index, camera[5:])
        assert frame.image.shape == rendered.shape
        assert frame.calibration.intrinsics == scene.intrinsics[camera]
        error = np.abs(frame.image.astype(np.int16) - rendered.astype(np.int16))
        assert error.mean() < 1.5, f"{camera} frame {index}: JPEG differs from the rendering by {error.mean():.2f}"


@pytest.mark.parametrize("index", CHECKED_FRAMES)
def test_committed_ground_truth_is_the_scene_ground_truth(scene, committed, index):
    fresh = scene.ground_truth(index)
    stored = committed.frames[index]
    assert (stored.index, stored.stamp_ns) == (index, int(scene.stamps_ns[index]))
    assert [(o.track_id, o.camera) for o in stored.objects] == [(o.track_id, o.camera) for o in fresh.objects]
    for old, new in zip(stored.objects, fresh.objects):
        assert np.allclose(old.box_xyxy, new.box_xyxy, atol=1.0)
        assert old.distance_m == pytest.approx(new.distance_m, abs=2e-3)
        assert old.range_m == pytest.approx(new.range_m, abs=2e-3)
        assert old.bearing_deg == pytest.approx(new.bearing_deg, abs=0.05)
        assert old.visible_pixels == pytest.approx(new.visible_pixels, rel=0.01)
        assert (old.class_id, old.class_name, old.direction) == (new.class_id, new.class_name, new.direction)


def test_committed_events_and_tables_follow_from_the_frames(scene, committed):
    assert committed.cameras == scene.camera_table()
    assert [f.stamp_ns for f in committed.frames] == scene.stamps_ns.tolist()
    events = sort_events(frame_events(committed.frames, CAMERA_NAMES) +
                         motion_events(scene.motion_phases(), scene.device_start_ns, 0.1), CAMERA_NAMES)
    assert events == committed.events
    assert [(p["phase"], p["start_s"], p["end_s"]) for p in committed.imu["phases"]] == scene.motion_phases()


def _anchor_in_camera(scene, index, camera, track_id, height):
    """A point of an object's axis at `height` above the floor, in the optical frame of `camera`."""
    t = float(scene.times_s[index])
    obj = next(o for o in scene.objects if o.track_id == track_id)
    x, _, z = obj.path.position(t)
    rotation, centre = camera_pose(scene.cameras[camera], script.WEARER.head_position(t),
                                   script.WEARER.head_pitch_down_deg(t))
    return rotation.T @ (np.array([x, height, z]) - centre)


@pytest.mark.parametrize("index", CHECKED_FRAMES)
def test_ground_truth_agrees_with_geometry_and_depth(scene, index):
    truth = scene.ground_truth(index)
    depth = scene.depth_rgb(index)
    assert depth.shape == (1408, 1408) and depth.dtype == np.float32
    assert np.isfinite(depth).all() and depth.min() > 0.0
    person = truth.find(1, "rgb")
    k = scene.intrinsics["rgb"]
    chest = _anchor_in_camera(scene, index, "rgb", 1, 1.2)
    u, v = k.fx * chest[0] / chest[2] + k.cx, k.fy * chest[1] / chest[2] + k.cy
    x1, y1, x2, y2 = person.box_xyxy
    assert x1 < u < x2 and y1 < v < y2, "the person's chest projects outside its box"
    # The visible surface lies between the torso's front (0.13 m before the body's axis) and the axis.
    assert chest[2] - 0.13 < person.distance_m < chest[2]
    height, width = y2 - y1, x2 - x1
    core = depth[int(y1 + 0.3 * height):int(y1 + 0.45 * height), int(x1 + 0.4 * width):int(x2 - 0.4 * width)]
    assert np.median(core) == pytest.approx(person.distance_m, rel=0.05)
    assert abs(person.bearing_deg) < 1.0 and person.direction == "ahead"
    dog = truth.find(4, "slam_left")
    assert dog is not None and dog.direction == "left" and -90 < dog.bearing_deg < -55
    assert truth.find(4, "rgb") is None and truth.find(4, "slam_right") is None


def test_story(committed):
    frames = committed.frames
    person = [f.find(1, "rgb") for f in frames]
    assert person[0].range_m == pytest.approx(6.0, abs=0.15) and person[-1].range_m == pytest.approx(1.2, abs=0.1)
    assert all(p.direction == "ahead" for p in person)
    assert [band for band, _ in itertools.groupby(band_of(p.range_m) for p in person)] == \
        ["far", "mid", "near", "close"]
    close = next(e for e in committed.events if e.track_id == 1 and e.camera == "rgb" and e.value == "close")
    assert 3.5 < close.time_s < 4.5
    chairs = [f.find(2, "rgb") for f in frames]
    assert all(c.direction == "left" for c in chairs) and chairs[-1].range_m == pytest.approx(2.5, abs=0.2)
    bicycle_rgb = [f.index for f in frames if f.find(3, "rgb")]
    bicycle_right = [f.index for f in frames if f.find(3, "slam_right")]
    assert bicycle_rgb[0] == 0 and max(bicycle_right) > max(bicycle_rgb)  # passes from the front view to the side
    assert all(frames[i].find(3, "slam_right").direction == "right" for i in bicycle_right if i > max(bicycle_rgb))
    assert all(f.find(4, "slam_left") and not f.find(4, "rgb") and not f.find(4, "slam_right") for f in frames)


def test_imu_walks_then_stands(scene):
    imu = scene.imu()
    seconds = (imu.stamps_ns - scene.device_start_ns) / 1e9
    walking, standing = seconds < 2.5, seconds > 3.1
    up = imu.linear_acceleration[:, 2]
    assert up[walking].std() > 1.5, "walking shows the step rhythm on the vertical axis"
    assert up[standing].std() < 0.1 and up[standing].mean() == pytest.approx(script.GRAVITY, abs=0.02)
    spectrum = np.abs(np.fft.rfft(up[walking] - up[walking].mean()))
    frequencies = np.fft.rfftfreq(int(walking.sum()), 1.0 / script.IMU_RATE_HZ)
    assert frequencies[np.argmax(spectrum)] == pytest.approx(script.WEARER.step_hz, abs=0.5)
    assert np.abs(imu.angular_velocity[walking, 1]).max() > 0.1  # the head nods with each step
    np.testing.assert_array_equal(scene.imu().linear_acceleration, imu.linear_acceleration)  # seeded noise


def test_api_shapes_and_clock(scene):
    assert scene.render_rgb(5).shape == (1408, 1408, 3)
    assert scene.render_slam(5, "left").shape == (480, 640)
    assert scene.depth(5, "slam_right").shape == (480, 640)
    with pytest.raises(IndexError):
        scene.render_rgb(scene.frame_count)
    with pytest.raises(KeyError, match="left or right"):
        scene.render_slam(0, "middle")
    period = scene.frame_count * scene.frame_period_ns
    assert scene.frame_index_at(scene.stamps_ns[7]) == 7
    assert scene.frame_index_at(scene.stamps_ns[7] + 3 * period + 5) == 7
    assert scaled_box((100, 50, 300, 150), (1408, 1408), (704, 704)) == (50, 25, 150, 75)
    assert math.isclose(scene.intrinsics["rgb"].horizontal_fov_deg, 98.2, abs_tol=0.2)


def test_sample_info_command_prints_the_story(capsys):
    from aria_nav.cli import main

    with pytest.raises(SystemExit) as exit_code:
        main(["sample", "info"])
    assert exit_code.value.code == 0
    out = capsys.readouterr().out
    assert "60 frames at 10 Hz (6 s), IMU 1200 samples at 200 Hz" in out
    assert "track 4: dog (COCO 16)" in out
    assert "rgb: person (track 1) enters band 'close' (0-1.5 m), ahead at 1.48 m" in out


def test_true_depth_knows_each_objects_nearest_part():
    from aria_nav.core.sample.depth_truth import true_depth

    truth = GroundTruthFile.load(truth_path())
    depth = true_depth(176)
    assert len(depth.frames) == len(truth.frames) and depth.frames[0].shape == (176, 176)
    for frame, nearest in zip(truth.frames, depth.nearest_m):
        for obj in frame.in_camera("rgb"):
            if obj.track_id in nearest:  # a sliver visible at full size can vanish at 176 px
                # The nearest part is never farther than the surface's median, and a person facing the wearer is
                # thin: within its half depth of it.
                assert nearest[obj.track_id] <= obj.range_m + 0.05
                if obj.class_name == "person":
                    assert nearest[obj.track_id] == pytest.approx(obj.range_m, abs=0.2)
