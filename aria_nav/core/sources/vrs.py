"""Aria VRS recordings (Gen1 and Gen2) read with projectaria-tools, undistorted to a linear pinhole camera, upright.

The generation comes from the recording (its device version, else its stream labels) and decides the labels:

| stream | Gen1 label | Gen2 label |
| --- | --- | --- |
| rgb | camera-rgb (1408x1408) | camera-rgb (2016x1512) |
| slam_left / slam_right | camera-slam-left/-right (640x480) | slam-side-left/-right (512x512), `slam_pair` side |
| slam_front_left/_right | - | slam-front-left/-right (with `slam_pair` front: the side pair as slam_side_*) |
| imu | imu-right (1 kHz) | imu-right (800 Hz) |
| odom | - | vio_high_frequency (800 Hz device poses of the on-device VIO) |

Orientation comes from each camera's factory calibration: an image is turned by the quarter turns that bring the
wearer's "up" (the central pupil frame's +y) to the top of the image. Gen1 stores every camera 90 degrees
counter-clockwise (one clockwise turn); Gen2 stores them upright (no turn).

Undistortion (the default) maps the FISHEYE624 image to a linear camera with fx == fy: the fisheye's own focal
length at the native size, scaled with the output width (so the horizontal field of view is kept; an output of
another aspect shows a centred crop of the vertical field). projectaria's `distort_by_calibration` takes ~0.6 s for
a 1408x1408 frame, so it is run once per stream on images of pixel coordinates, which yields the exact lookup table
it applies; each frame is then one `cv2.remap`, with the upright turn folded into the table.

IMU samples are turned into the `aria_imu` frame: REP 103 axes of the device (x forward, y left, z up) at the IMU's
position, in m/s^2 and rad/s, for both generations (their IMUs are mounted differently). Device poses are given in
the VIO's odometry frame (z up, gravity along -z) for the `aria_device` frame (REP 103 axes at the central pupil
frame). `VrsSource.extrinsics` holds device-from-sensor transforms of every published camera and the IMU.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple, Union

import cv2
import numpy as np

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.wearer_frame import rotation_to_quaternion
from aria_nav.core.sources.base import (ALL_STREAMS, IMU, ODOM, RGB, SLAM_LEFT, SLAM_PAIRS, SLAM_RIGHT,
                                        Calibration, Frame, FrameSource, ImuSample, Item, SourceError, check_file,
                                        fitted_size, native_output, resize_frame)

GEN1, GEN2 = "Gen1", "Gen2"
LABELS = {RGB: "camera-rgb", SLAM_LEFT: "camera-slam-left", SLAM_RIGHT: "camera-slam-right", IMU: "imu-right"}
GEN2_SLAM = {"side": ("slam-side-left", "slam-side-right"), "front": ("slam-front-left", "slam-front-right")}
GEN2_VIO = "vio_high_frequency"
FISHEYE = "fisheye624"
# REP 103 device axes (x forward, y left, z up) from Aria's central pupil frame (CPF: x left, y up, z forward).
DEVICE_FROM_CPF = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
# One clockwise quarter turn of an image, as a rotation of its optical frame: upright x = -raw y, upright y = raw x.
RAW_FROM_TURNED = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def stream_labels(generation: str, slam_pair: str = "side") -> Dict[str, str]:
    """stream -> projectaria label for a recording of `generation`; Gen2's `slam_pair` feeds slam_left/right and
    the other pair keeps its own name (slam_front_left, ...)."""
    if generation == GEN1:
        return dict(LABELS)
    if slam_pair not in GEN2_SLAM:
        raise ValueError(f"slam_pair '{slam_pair}' is not one of {', '.join(SLAM_PAIRS)}")
    other = next(p for p in SLAM_PAIRS if p != slam_pair)
    return {RGB: "camera-rgb", SLAM_LEFT: GEN2_SLAM[slam_pair][0], SLAM_RIGHT: GEN2_SLAM[slam_pair][1],
            f"slam_{other}_left": GEN2_SLAM[other][0], f"slam_{other}_right": GEN2_SLAM[other][1], IMU: "imu-right",
            ODOM: GEN2_VIO}


def recording_generation(provider) -> str:
    """Gen1 or Gen2, from the device version the recording states, else from its stream labels."""
    version = str(getattr(provider, "get_device_version", lambda: "")())
    if version.endswith("Gen2") or version.endswith("Gen1"):
        return GEN2 if version.endswith("Gen2") else GEN1
    labels = {provider.get_label_from_stream_id(s) for s in provider.get_all_streams()}
    return GEN2 if any(label.startswith("slam-side") for label in labels) else GEN1


def _log_messages(lines, level: str):
    """The messages of `[Component][LEVEL]: message` log lines."""
    return [line.split("]: ", 1)[-1].strip() for line in lines if f"[{level}]" in line]


def device_from_sensor(device_calibration, label: str) -> np.ndarray:
    """4x4 transform from a sensor's raw frame to the REP 103 device frame `aria_device` (origin at the CPF)."""
    cpf_from_sensor = device_calibration.get_transform_cpf_sensor(label).to_matrix()
    transform = np.eye(4)
    transform[:3, :3] = DEVICE_FROM_CPF @ cpf_from_sensor[:3, :3]
    transform[:3, 3] = DEVICE_FROM_CPF @ cpf_from_sensor[:3, 3]
    return transform


def upright_turns(device_calibration, label: str) -> int:
    """Clockwise quarter turns that bring the wearer's up (device +z) to the top (-y) of the camera's image."""
    up = device_from_sensor(device_calibration, label)[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    image_up = up[:2]
    best, best_score = 0, -np.inf
    for turns in range(4):
        score = -image_up[1]  # how much "up" points to the top of the image
        if score > best_score:
            best, best_score = turns, score
        image_up = np.array([-image_up[1], image_up[0]])  # one clockwise turn (image y points down)
    return best


def turned_intrinsics(k: PinholeIntrinsics, turns: int) -> PinholeIntrinsics:
    """The intrinsics of an image turned `turns` quarter turns clockwise."""
    for _ in range(turns % 4):
        k = PinholeIntrinsics(k.height, k.width, k.fy, k.fx, k.height - 1 - k.cy, k.cx)
    return k


def turned_extrinsics(device_from_raw: np.ndarray, turns: int) -> np.ndarray:
    """device-from-optical transform of an image turned `turns` quarter turns clockwise."""
    transform = device_from_raw.copy()
    transform[:3, :3] = device_from_raw[:3, :3] @ np.linalg.matrix_power(RAW_FROM_TURNED, turns % 4)
    return transform


def _turn(image: np.ndarray, turns: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(image, k=-(turns % 4))) if turns % 4 else image


def upright_fisheye_calibration(fisheye, turns: int = 1) -> Calibration:
    """The raw FISHEYE624 camera turned upright: focal and principal point move with the image. The 12 distortion
    coefficients stay as Aria stores them (radial terms do not depend on the rotation; the tangential and
    thin-prism terms refer to the sensor's unturned axes)."""
    params = [float(v) for v in fisheye.get_projection_params()]
    focal, cx, cy = params[0], params[1], params[2]
    native_w, native_h = (int(v) for v in fisheye.get_image_size())
    upright = turned_intrinsics(PinholeIntrinsics(native_w, native_h, focal, focal, cx, cy), turns)
    return Calibration(upright, FISHEYE, tuple(params[3:]))


class _Undistorter:
    """Upright, undistorted frames of one camera at a chosen size, fx == fy: one cv2.remap per frame."""

    def __init__(self, fisheye, turns: int, width: int, height: int):
        from projectaria_tools.core import calibration as aria_calibration

        native_w, native_h = (int(v) for v in fisheye.get_image_size())
        upright_native_w = native_h if turns % 2 else native_w
        focal = float(fisheye.get_focal_lengths()[0]) * width / upright_native_w  # horizontal view kept
        raw_w, raw_h = (height, width) if turns % 2 else (width, height)  # the linear camera before the turn
        linear = aria_calibration.get_linear_camera_calibration(raw_w, raw_h, focal, fisheye.get_label(),
                                                               fisheye.get_transform_device_camera())
        (fx, fy), (cx, cy) = linear.get_focal_lengths(), linear.get_principal_point()
        self.calibration = Calibration(turned_intrinsics(
            PinholeIntrinsics(raw_w, raw_h, float(fx), float(fy), float(cx), float(cy)), turns))
        # Where each linear-camera pixel samples the fisheye image, as projectaria computes it.
        cols, rows = np.meshgrid(np.arange(native_w, dtype=np.float32), np.arange(native_h, dtype=np.float32))
        map_x = aria_calibration.distort_by_calibration(cols, linear, fisheye)
        map_y = aria_calibration.distort_by_calibration(rows, linear, fisheye)
        inside = aria_calibration.distort_by_calibration(np.ones_like(cols), linear, fisheye) > 0.999
        map_x[~inside] = -1.0  # outside the fisheye's image: black (cv2.remap's constant border)
        map_y[~inside] = -1.0
        self._maps = cv2.convertMaps(_turn(map_x, turns), _turn(map_y, turns), cv2.CV_16SC2)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return cv2.remap(raw, self._maps[0], self._maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def camera_converter(stream: str, fisheye, undistort: bool, size: Tuple[int, int], turns: int = 1):
    """A function raw Aria image -> (upright image, its Calibration) for one camera stream; `fisheye` is its
    projectaria CameraCalibration at the raw image's resolution, `turns` the clockwise quarter turns to upright
    (Gen1: 1, Gen2: 0), `size` the upright output (0 = native, one side 0 = from the aspect)."""
    native_w, native_h = (int(v) for v in fisheye.get_image_size())
    upright_size = (native_h, native_w) if turns % 2 else (native_w, native_h)
    width, height = fitted_size(upright_size, size)
    if undistort:
        undistorter = _Undistorter(fisheye, turns, width, height)
        return lambda raw: (undistorter(raw), undistorter.calibration)
    calibration = upright_fisheye_calibration(fisheye, turns)

    def rotate(raw: np.ndarray):
        frame = resize_frame(Frame(stream, 0, _turn(raw, turns), calibration), width, height)
        return frame.image, frame.calibration

    return rotate


@dataclass(frozen=True)
class PoseSample:
    """The wearer's head pose from on-device VIO: `aria_device` in the odometry frame (z up) at device_ns."""

    device_ns: int
    position: Tuple[float, float, float]  # metres, odometry frame
    orientation_xyzw: Tuple[float, float, float, float]  # odometry-from-device rotation
    linear_velocity: Tuple[float, float, float]  # m/s, in aria_device axes (nav_msgs/Odometry's twist frame)
    angular_velocity: Tuple[float, float, float]  # rad/s, in aria_device axes
    quality: float  # VIO's quality score, 0..1
    stream: str = ODOM


class _PoseConverter:
    """projectaria OpenLoopTrajectoryPose (Aria's device frame: a SLAM camera) -> PoseSample of aria_device."""

    def __init__(self, device_calibration):
        aria_device_from_cpf = np.eye(4)
        aria_device_from_cpf[:3, :3] = DEVICE_FROM_CPF
        # Aria's device frame from the REP 103 device frame (the CPF's origin with REP 103 axes)
        self._aria_from_rep = device_calibration.get_transform_device_cpf().to_matrix() @ np.linalg.inv(
            aria_device_from_cpf)

    def __call__(self, device_ns: int, pose) -> PoseSample:
        odom_from_aria = pose.transform_odometry_device.to_matrix()
        odom_from_device = odom_from_aria @ self._aria_from_rep
        rotation = odom_from_device[:3, :3]
        omega_aria = np.asarray(pose.angular_velocity_device, float).reshape(3)
        omega_odom = odom_from_aria[:3, :3] @ omega_aria
        # velocity of the CPF, not of Aria's device origin: v + omega x lever arm
        lever = odom_from_device[:3, 3] - odom_from_aria[:3, 3]
        velocity_odom = np.asarray(pose.device_linear_velocity_odometry, float).reshape(3) + np.cross(omega_odom,
                                                                                                      lever)
        return PoseSample(device_ns, tuple(float(v) for v in odom_from_device[:3, 3]),
                          rotation_to_quaternion(rotation), tuple(float(v) for v in rotation.T @ velocity_odom),
                          tuple(float(v) for v in rotation.T @ omega_odom), float(pose.quality_score))


class VrsSource(FrameSource):
    provides = ALL_STREAMS

    def __init__(self, path: Union[str, Path], streams=ALL_STREAMS, undistort: bool = True,
                 sizes: Optional[Dict[str, Tuple[int, int]]] = None, slam_pair: str = "side"):
        """`sizes`: output (width, height) of upright frames per camera stream; missing or 0 = native."""
        self.path = check_file(path, "VRS")
        self.description = f"vrs {self.path}"
        from projectaria_tools.core import data_provider

        log: list = []
        with native_output(log):
            try:
                provider = data_provider.create_vrs_data_provider(str(self.path))
            except Exception as exc:  # noqa: BLE001 - projectaria raises RuntimeError for a cut Gen2 file
                raise SourceError(self.path, f"is truncated or corrupt ({str(exc).strip() or type(exc).__name__})")
        if provider is None:
            reasons = [m for m in _log_messages(log, "ERROR") if not m.startswith("Cannot open vrsFile")]
            raise SourceError(self.path, "is not a readable VRS file" + (f": {reasons[0]}" if reasons else ""))
        truncated = [m for m in _log_messages(log, "WARNING") if "beyond the end of the file" in m]
        if truncated:
            raise SourceError(self.path, f"is truncated ({truncated[0]})")
        self._provider = provider
        self.generation = recording_generation(provider)
        self.labels = stream_labels(self.generation, slam_pair)
        self.description = f"vrs {self.generation} {self.path}"
        with native_output([]):  # projectaria warns about every label the recording does not have
            self._stream_ids = {stream: stream_id for stream, stream_id in
                                ((s, provider.get_stream_id_from_label(label)) for s, label in self.labels.items())
                                if stream_id is not None and provider.get_num_data(stream_id) > 0}
        self.provides = tuple(s for s in ALL_STREAMS if s in self._stream_ids)
        # The graph's streams the recording lacks (the camera node warns about those it was asked for).
        self.missing = tuple(f"{s} ({self.labels[s]})" for s in self.labels if s not in self._stream_ids)
        if not self.provides:
            raise SourceError(self.path, f"has none of the Aria streams {', '.join(self.labels.values())}")
        super().__init__(streams)
        device_calibration = provider.get_device_calibration()
        if device_calibration is None:
            raise SourceError(self.path, "has no device calibration")
        self._convert = {}
        self.extrinsics: Dict[str, np.ndarray] = {}  # stream -> 4x4 aria_device-from-(upright optical | aria_imu)
        sizes = sizes or {}
        with native_output([]):
            for stream in self.streams:
                label = self.labels[stream]
                if stream == ODOM:
                    self._pose = _PoseConverter(device_calibration)
                    continue
                if stream == IMU:
                    device_from_imu = device_from_sensor(device_calibration, label)
                    self._imu_rotation = device_from_imu[:3, :3]  # raw IMU axes -> aria_imu (device axes)
                    self.extrinsics[IMU] = np.eye(4)
                    self.extrinsics[IMU][:3, 3] = device_from_imu[:3, 3]
                    continue
                fisheye = device_calibration.get_camera_calib(label)
                if fisheye is None:
                    raise SourceError(self.path, f"has no calibration for {label}")
                turns = upright_turns(device_calibration, label)
                self._convert[stream] = camera_converter(stream, fisheye, undistort, sizes.get(stream, (0, 0)),
                                                         turns)
                self.extrinsics[stream] = turned_extrinsics(device_from_sensor(device_calibration, label), turns)

    def frame_counts(self) -> Dict[str, int]:
        """Number of records per selected stream (odom: device poses)."""
        return {s: int(self._provider.get_num_data(self._stream_ids[s])) for s in self.streams}

    def items(self) -> Iterator[Item]:
        """Frames, IMU samples and (Gen2) PoseSamples in device-time order. A record that cannot be read (a cut
        or corrupt file) is a SourceError naming the file."""
        try:
            yield from self._items()
        except SourceError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of projectaria's reader: one line, the file named
            raise SourceError(self.path, f"cannot be read to its end ({type(exc).__name__}: {exc})") from None

    def _items(self) -> Iterator[Item]:
        from projectaria_tools.core.sensor_data import SensorDataType, TimeDomain

        options = self._provider.get_default_deliver_queued_options()
        options.deactivate_stream_all()
        stream_of = {}
        for stream in self.streams:
            options.activate_stream(self._stream_ids[stream])
            stream_of[str(self._stream_ids[stream])] = stream
        records = iter(self._provider.deliver_queued_sensor_data(options))
        undecoded = set(self._convert)  # decoders announce themselves on their first frame: kept out of the log
        while True:
            if undecoded:
                with native_output([]):
                    data = next(records, None)
                    item = None if data is None else self._item(data, stream_of, SensorDataType, TimeDomain)
                if item is not None:
                    undecoded.discard(item.stream)
            else:
                data = next(records, None)
                item = None if data is None else self._item(data, stream_of, SensorDataType, TimeDomain)
            if data is None:
                return
            yield item

    def _item(self, data, stream_of, SensorDataType, TimeDomain) -> Item:  # noqa: N803 - projectaria enums
        stream = stream_of[str(data.stream_id())]
        device_ns = int(data.get_time_ns(TimeDomain.DEVICE_TIME))
        kind = data.sensor_data_type()
        if kind == SensorDataType.IMU:
            imu = data.imu_data()
            return ImuSample(device_ns, tuple(float(v) for v in self._imu_rotation @ np.asarray(imu.accel_msec2)),
                             tuple(float(v) for v in self._imu_rotation @ np.asarray(imu.gyro_radsec)))
        if kind == SensorDataType.VIO_HIGH_FREQ:
            return self._pose(device_ns, data.vio_high_freq_data())
        image_data, _ = data.image_data_and_record()
        raw = image_data.to_numpy_array()
        if raw is None or raw.size == 0:
            raise SourceError(self.path, f"{self.labels[stream]} record at {device_ns} ns has no image")
        image, calibration = self._convert[stream](raw)
        return Frame(stream, device_ns, image, calibration)
