"""Frame sources other than VRS (bag, sample, video, webcam, live glasses), pacing, looping and stamping."""
import itertools
import shutil
import threading
import time

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from aria_nav import paths, topics
from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.sample import SampleScene
from aria_nav.core.sample.build import BagMessages
from aria_nav.core.sources import SourceError, open_source
from aria_nav.core.sources.base import IMU, RGB, SLAM_LEFT, Calibration, Frame, check_file, resize_frame
from aria_nav.core.sources.pacing import ClockMapper, Pacer, Replay
from aria_nav.core.sources.video import VideoFileSource, pinhole_for_fov

TYPESTORE = get_typestore(Stores.ROS2_KILTED)


def _header(stamp_ns, frame_id):
    time = TYPESTORE.types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    return TYPESTORE.types["std_msgs/msg/Header"](stamp=time, frame_id=frame_id)


def _raw_image(stamp_ns, array, encoding):
    msg = TYPESTORE.types["sensor_msgs/msg/Image"](
        header=_header(stamp_ns, "cam"), height=array.shape[0], width=array.shape[1], encoding=encoding,
        is_bigendian=0, step=array.strides[0], data=np.ascontiguousarray(array).reshape(-1))
    return TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/Image")


def _write_bag(path, storage, messages):
    """messages: (topic, msgtype, log_ns, cdr bytes)"""
    writer = Writer(path, version=9, storage_plugin=storage)
    writer.open()
    connections = {}
    for topic, msgtype, log_ns, data in messages:
        if topic not in connections:
            connections[topic] = writer.add_connection(topic, msgtype, typestore=TYPESTORE)
        writer.write(connections[topic], log_ns, data)
    writer.close()


# --- base ---------------------------------------------------------------------------------------------------------

def test_resize_scales_image_and_intrinsics():
    k = PinholeIntrinsics(1408, 1408, 610.0, 610.0, 703.5, 703.5)
    frame = Frame(RGB, 5, np.zeros((1408, 1408, 3), np.uint8), Calibration(k))
    half = resize_frame(frame, 704, 704)
    assert half.image.shape == (704, 704, 3) and half.device_ns == 5
    assert half.calibration.intrinsics == k.scaled(704, 704)
    assert half.calibration.intrinsics.fx == 305.0 and half.calibration.intrinsics.cx == 351.5
    assert resize_frame(frame, 0, 0) is frame


def test_check_file_names_the_problem(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        check_file(tmp_path / "missing.vrs", "VRS")
    with pytest.raises(SourceError, match="is not a VRS file"):
        check_file(tmp_path, "VRS")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(SourceError, match="video file is empty") as error:
        check_file(tmp_path / "empty.mp4", "video")
    assert str(tmp_path / "empty.mp4") in str(error.value)


# --- bags and the sample ------------------------------------------------------------------------------------------

def test_sample_source_is_the_packaged_bag():
    source = open_source("sample", streams=[SLAM_LEFT, IMU])
    assert source.streams == (SLAM_LEFT, IMU)
    scene = SampleScene()
    items = list(source.items())
    frames = [i for i in items if i.stream == SLAM_LEFT]
    assert [f.device_ns for f in frames] == scene.stamps_ns.tolist()
    assert all(f.image.shape == (480, 640) and f.encoding == "mono8" for f in frames)
    assert frames[0].calibration.intrinsics == scene.intrinsics["slam_left"]
    stamps = [i.device_ns for i in items]
    assert stamps == sorted(stamps), "items come in device-time order"
    with pytest.raises(SourceError, match="takes no path"):
        open_source("sample", "/some/file.vrs")


@pytest.mark.parametrize("storage", [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
def test_bag_with_raw_images_of_any_layout(tmp_path, storage):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    grey = rng.integers(0, 255, (30, 40), dtype=np.uint8)
    k_rgb = PinholeIntrinsics(64, 48, 50.0, 50.0, 31.5, 23.5)
    k_slam = PinholeIntrinsics(40, 30, 20.0, 20.0, 19.5, 14.5)
    build = BagMessages()
    messages = [
        (topics.RGB_IMAGE, "sensor_msgs/msg/Image", 1_000, _raw_image(1_000, rgb[..., ::-1], "bgr8")),  # before info
        (topics.RGB_INFO, "sensor_msgs/msg/CameraInfo", 1_001, build.camera_info(1_000, "cam", k_rgb)),
        (topics.SLAM_LEFT_IMAGE, "sensor_msgs/msg/Image", 1_002, _raw_image(1_000, grey, "mono8")),
        (topics.SLAM_LEFT_INFO, "sensor_msgs/msg/CameraInfo", 1_003, build.camera_info(1_000, "cam", k_slam)),
        (topics.IMU, "sensor_msgs/msg/Imu", 1_500, build.imu(1_500, np.array([0.0, 0.0, 9.81]), np.zeros(3))),
        (topics.RGB_IMAGE, "sensor_msgs/msg/Image", 2_000, _raw_image(2_000, rgb, "rgb8")),
    ]
    _write_bag(tmp_path / "bag", storage, messages)
    source = open_source("bag", str(tmp_path / "bag"))
    assert source.streams == (RGB, SLAM_LEFT, IMU)
    items = list(source.items())
    assert [(i.stream, i.device_ns) for i in items] == [(RGB, 1_000), (SLAM_LEFT, 1_000), (IMU, 1_500), (RGB, 2_000)]
    np.testing.assert_array_equal(items[0].image, rgb)  # bgr8 converted
    np.testing.assert_array_equal(items[3].image, rgb)
    np.testing.assert_array_equal(items[1].image, grey)
    assert items[0].calibration.intrinsics == k_rgb and items[1].calibration.intrinsics == k_slam
    assert items[2].linear_acceleration == (0.0, 0.0, 9.81)


def test_bag_errors_name_the_bag_and_the_problem(tmp_path):
    with pytest.raises(SourceError, match="bag does not exist"):
        open_source("bag", str(tmp_path / "nothing"))
    with pytest.raises(SourceError, match="no metadata.yaml"):
        open_source("bag", str(tmp_path))
    text = tmp_path / "notes.mcap"
    text.write_text("not a bag")
    with pytest.raises(SourceError, match="is not a rosbag2 bag"):
        open_source("bag", str(text))
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    shutil.copy(paths.sample_dir() / "metadata.yaml", truncated)
    (truncated / "sample.mcap").write_bytes((paths.sample_dir() / "sample.mcap").read_bytes()[:2_000_000])
    with pytest.raises(SourceError, match=f"{truncated}: cannot read the bag"):
        open_source("bag", str(truncated))
    other = tmp_path / "other"
    string = TYPESTORE.types["std_msgs/msg/String"](data="hi")
    _write_bag(other, StoragePlugin.MCAP, [("/chatter", "std_msgs/msg/String", 1,
                                            TYPESTORE.serialize_cdr(string, "std_msgs/msg/String"))])
    with pytest.raises(SourceError, match=r"holds none of the camera node's topics.*/chatter \(std_msgs/msg/String\)"):
        open_source("bag", str(other))
    no_info = tmp_path / "no_info"
    _write_bag(no_info, StoragePlugin.MCAP, [(topics.RGB_IMAGE, "sensor_msgs/msg/Image", 1,
                                              _raw_image(1, np.zeros((4, 4, 3), np.uint8), "rgb8"))])
    with pytest.raises(SourceError, match=f"no usable camera_info for rgb \\(topic {topics.RGB_INFO}\\)"):
        open_source("bag", str(no_info))


# --- video, webcam, live ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (160, 120))
    for index in range(12):
        frame = np.zeros((120, 160, 3), np.uint8)
        frame[:, :, 2] = 200  # red in BGR
        cv2.putText(frame, str(index), (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        writer.write(frame)
    writer.release()
    return path


def test_video_file_frames_timing_and_intrinsics(clip):
    source = open_source("video", str(clip), video_hfov_deg=90.0)
    frames = list(source.items())
    assert len(frames) == 12
    assert [f.device_ns for f in frames] == [round(i * 1e9 / 25.0) for i in range(12)]
    assert frames[0].image.shape == (120, 160, 3) and frames[0].encoding == "rgb8"
    assert frames[0].image[5, 5, 0] > 150 and frames[0].image[5, 5, 2] < 60, "decoded as RGB, not BGR"
    assert frames[0].calibration.intrinsics == pinhole_for_fov(160, 120, 90.0)
    assert frames[0].calibration.intrinsics.fx == pytest.approx(80.0)
    assert len(list(source.items())) == 12, "each pass starts from the beginning"


def test_video_errors(tmp_path, clip):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 10)
    with pytest.raises(SourceError, match="notes.mp4: cannot be opened as a video"):
        VideoFileSource(text)
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(clip.read_bytes()[:400])
    with pytest.raises(SourceError, match="truncated.avi: "):
        VideoFileSource(truncated)
    with pytest.raises(SourceError, match="needs a path"):
        open_source("video", "")
    with pytest.raises(SourceError, match="provides none of the requested streams"):
        VideoFileSource(clip, streams=[IMU])


def test_missing_webcam_is_one_clear_error():
    with pytest.raises(SourceError, match="webcam 97: cannot be opened or delivers no frames"):
        open_source("webcam", "97")


def test_live_glasses_without_the_sdk_says_how_to_install():
    try:
        import aria.sdk  # noqa: F401
        pytest.skip("projectaria-client-sdk is installed here")
    except ImportError:
        pass
    with pytest.raises(SourceError,
                       match="projectaria-client-sdk is not installed; pip install projectaria-client-sdk"):
        open_source("live")


# --- pacing, looping, stamps --------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _frame(stream, device_ns):
    return Frame(stream, device_ns, np.zeros((2, 2), np.uint8), Calibration(PinholeIntrinsics(2, 2, 1, 1, 0.5, 0.5)))


def test_realtime_pacing_follows_device_time():
    clock = FakeClock()
    pacer = Pacer("realtime", monotonic=clock)
    assert pacer.due(_frame(RGB, 5_000_000_000)) == 100.0
    clock.now = 100.02
    assert pacer.due(_frame(RGB, 5_100_000_000)) == pytest.approx(100.1)
    assert pacer.due(_frame(IMU, 5_105_000_000)) == pytest.approx(100.105)


def test_fixed_pacing_releases_lead_frames_at_the_rate():
    clock = FakeClock()
    pacer = Pacer("fixed", rate_hz=4.0, lead_stream=RGB, monotonic=clock)
    assert pacer.due(_frame(RGB, 0)) == 100.0
    assert pacer.due(_frame(SLAM_LEFT, 1)) == 100.0, "other streams follow their frame at once"
    assert pacer.due(_frame(RGB, 10)) == 100.25
    clock.now = 101.0  # the consumer was slow: the next frame is due now, not in the past
    assert pacer.due(_frame(RGB, 20)) == pytest.approx(100.5)
    assert pacer.due(_frame(RGB, 30)) == pytest.approx(101.25)
    assert Pacer("fast", monotonic=clock).due(_frame(RGB, 0)) == 101.0
    with pytest.raises(ValueError, match="fixed pacing needs a rate above 0"):
        Pacer("fixed", rate_hz=0.0)


def test_clock_mapper_takes_the_fastest_transfer():
    mapper = ClockMapper()
    assert mapper.to_host(1_000, 51_000) == 51_000
    assert mapper.to_host(2_000, 50_500) == 50_500  # a faster transfer lowers the offset
    assert mapper.to_host(3_000, 60_000) == 51_500


def _collect(replay, stop_after):
    emitted, stop = [], threading.Event()

    def emit(item, stamp):
        emitted.append((item.stream, item.device_ns, stamp))
        if len(emitted) >= stop_after:
            stop.set()

    finished = replay.run(emit, stop)
    return emitted, finished


def test_looping_keeps_device_time_increasing():
    scene = SampleScene()
    source = open_source("sample", streams=[SLAM_LEFT, IMU])
    replay = Replay(source, pacing="fast", loop=True, stamp_source="device")
    emitted, finished = _collect(replay, stop_after=2 * 1260 + 100)  # two loops and a bit
    assert not finished and replay.loops_completed == 2
    device = [d for _, d, _ in emitted]
    assert all(b >= a for a, b in zip(device, device[1:]))
    frames = [d for s, d, _ in emitted if s == SLAM_LEFT]
    period = scene.frame_count * scene.frame_period_ns
    assert frames[60] == frames[0] + period and frames[120] == frames[0] + 2 * period
    assert len(frames) > 120 and [scene.frame_index_at(d) for d in frames] == [i % 60 for i in range(len(frames))]
    assert all(stamp == d for _, d, stamp in emitted), "device stamps are the device times"


def test_max_duration_ends_the_input_early_even_when_looping():
    source = open_source("sample", streams=[SLAM_LEFT, IMU])
    replay = Replay(source, pacing="fast", loop=True, stamp_source="device", max_duration_s=1.5)
    emitted, finished = _collect(replay, stop_after=10**6)
    assert finished and replay.loops_completed == 0
    device = [d for _, d, _ in emitted]
    assert device[-1] - device[0] < 1.5e9
    assert len([1 for s, _, _ in emitted if s == SLAM_LEFT]) == 15  # 10 Hz frames of the first 1.5 s


def test_host_stamps():
    source = open_source("sample", streams=[SLAM_LEFT, IMU])
    host = iter(range(10**12, 10**12 + 10**9, 1000))  # a host clock that advances 1 us per reading
    racing = itertools.count(0.0, 100.0).__next__  # a monotonic clock always past due: no sleeping here
    realtime = Replay(source, pacing="realtime", host_now_ns=lambda: next(host), monotonic=racing)
    emitted, finished = _collect(realtime, stop_after=10**6)
    assert finished
    first_device = emitted[0][1]
    assert all(stamp == 10**12 + d - first_device for _, d, stamp in emitted)
    assert realtime.clock_offset_ns == 10**12 - first_device
    fast = Replay(source, pacing="fast", host_now_ns=lambda: 7)  # a host clock that stands still
    emitted, _ = _collect(fast, stop_after=300)
    for stream in (SLAM_LEFT, IMU):
        stamps = [stamp for s, _, stamp in emitted if s == stream]
        assert all(b > a for a, b in zip(stamps, stamps[1:])), "stamps of a stream strictly increase"
    with pytest.raises(ValueError, match="stamp source 'gps'"):
        Replay(source, stamp_source="gps")


def test_realtime_replay_takes_recording_time():
    source = open_source("sample", streams=[SLAM_LEFT])
    replay = Replay(source, pacing="realtime")
    emitted, stop = [], threading.Event()
    start = time.monotonic()

    def emit(item, stamp):
        emitted.append(time.monotonic() - start)
        if len(emitted) == 11:
            stop.set()

    replay.run(emit, stop)
    assert emitted[10] == pytest.approx(1.0, abs=0.25), "frame 10 of a 10 Hz recording comes out after 1 s"
    assert emitted[10] >= 0.99, "never early"
