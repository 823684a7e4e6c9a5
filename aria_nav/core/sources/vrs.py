"""Aria VRS recordings read with projectaria-tools, optionally undistorted to a linear pinhole camera, upright.

Streams: camera-rgb -> rgb, camera-slam-left/right -> slam_left/slam_right, imu-right -> imu (device time).
Aria stores every camera image rotated 90 degrees counter-clockwise (the sensors are mounted sideways); frames are
turned 90 degrees clockwise to upright, and the calibration with them (`rotate_camera_calib_cw90deg`).

Undistortion (the default) maps the FISHEYE624 image to a linear camera with the fisheye's own focal length
(`get_linear_camera_calibration`), which keeps the centre's resolution and gives a ~98 deg (RGB) field of view.
projectaria's `distort_by_calibration` takes ~0.6 s for a 1408x1408 frame, so it is run once per stream on images
of pixel coordinates, which yields the exact lookup table it applies; each frame is then one `cv2.remap`, with
the upright rotation and the output size folded into the table.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple, Union

import cv2
import numpy as np

from aria_nav.core.camera_model import PinholeIntrinsics
from aria_nav.core.sources.base import (ALL_STREAMS, IMU, RGB, SLAM_LEFT, SLAM_RIGHT, Calibration, Frame,
                                        FrameSource, ImuSample, Item, SourceError, check_file, native_output,
                                        resize_frame)

LABELS = {RGB: "camera-rgb", SLAM_LEFT: "camera-slam-left", SLAM_RIGHT: "camera-slam-right", IMU: "imu-right"}
FISHEYE = "fisheye624"


def _log_messages(lines, level: str):
    """The messages of `[Component][LEVEL]: message` log lines."""
    return [line.split("]: ", 1)[-1].strip() for line in lines if f"[{level}]" in line]


def upright_fisheye_calibration(fisheye, width: int, height: int) -> Calibration:
    """The raw FISHEYE624 camera turned 90 degrees clockwise: focal and principal point move with the image.
    The 12 distortion coefficients stay as Aria stores them (radial terms do not depend on the rotation; the
    tangential and thin-prism terms refer to the sensor's unrotated axes)."""
    params = [float(v) for v in fisheye.get_projection_params()]
    focal, cx, cy = params[0], params[1], params[2]
    native_w, native_h = (int(v) for v in fisheye.get_image_size())
    upright = PinholeIntrinsics(native_h, native_w, focal, focal, native_h - 1 - cy, cx)
    return Calibration(upright.scaled(width, height), FISHEYE, tuple(params[3:]))


class _Undistorter:
    """Upright, undistorted frames of one camera at a chosen size: one cv2.remap per frame."""

    def __init__(self, fisheye, width: int, height: int):
        from projectaria_tools.core import calibration as aria_calibration

        native_w, native_h = (int(v) for v in fisheye.get_image_size())
        focal = float(fisheye.get_focal_lengths()[0])
        linear = aria_calibration.get_linear_camera_calibration(native_w, native_h, focal, fisheye.get_label(),
                                                               fisheye.get_transform_device_camera())
        upright = aria_calibration.rotate_camera_calib_cw90deg(linear)
        (fx, fy), (cx, cy) = upright.get_focal_lengths(), upright.get_principal_point()
        up_w, up_h = (int(v) for v in upright.get_image_size())
        self.calibration = Calibration(PinholeIntrinsics(up_w, up_h, float(fx), float(fy), float(cx), float(cy)))
        self.transform_device_camera = upright.get_transform_device_camera()
        # Where each linear-camera pixel samples the fisheye image, as projectaria computes it.
        cols, rows = np.meshgrid(np.arange(native_w, dtype=np.float32), np.arange(native_h, dtype=np.float32))
        map_x = aria_calibration.distort_by_calibration(cols, linear, fisheye)
        map_y = aria_calibration.distort_by_calibration(rows, linear, fisheye)
        inside = aria_calibration.distort_by_calibration(np.ones_like(cols), linear, fisheye) > 0.999
        map_x[~inside] = -1.0  # outside the fisheye's image: black (cv2.remap's constant border)
        map_y[~inside] = -1.0
        map_x, map_y = (np.ascontiguousarray(np.rot90(m, k=-1)) for m in (map_x, map_y))  # upright
        if (width, height) != (up_w, up_h):
            map_x = cv2.resize(map_x, (width, height), interpolation=cv2.INTER_LINEAR)
            map_y = cv2.resize(map_y, (width, height), interpolation=cv2.INTER_LINEAR)
            self.calibration = self.calibration.scaled(width, height)
        self._maps = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return cv2.remap(raw, self._maps[0], self._maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def camera_converter(stream: str, fisheye, undistort: bool, size: Tuple[int, int]):
    """A function raw Aria image -> (upright image, its Calibration) for one camera stream; `fisheye` is its
    projectaria CameraCalibration at the raw image's resolution, `size` the upright output (0 = native)."""
    native_w, native_h = (int(v) for v in fisheye.get_image_size())
    width, height = size[0] or native_h, size[1] or native_w  # upright: width and height swap
    if undistort:
        undistorter = _Undistorter(fisheye, width, height)
        return lambda raw: (undistorter(raw), undistorter.calibration)
    calibration = upright_fisheye_calibration(fisheye, native_h, native_w)

    def rotate(raw: np.ndarray):
        frame = resize_frame(Frame(stream, 0, cv2.rotate(raw, cv2.ROTATE_90_CLOCKWISE), calibration), width, height)
        return frame.image, frame.calibration

    return rotate


class VrsSource(FrameSource):
    provides = ALL_STREAMS

    def __init__(self, path: Union[str, Path], streams=ALL_STREAMS, undistort: bool = True,
                 sizes: Optional[Dict[str, Tuple[int, int]]] = None):
        """`sizes`: output (width, height) of upright frames per camera stream; missing or 0 = native."""
        self.path = check_file(path, "VRS")
        self.description = f"vrs {self.path}"
        from projectaria_tools.core import data_provider

        log: list = []
        with native_output(log):
            provider = data_provider.create_vrs_data_provider(str(self.path))
        if provider is None:
            reasons = [m for m in _log_messages(log, "ERROR") if not m.startswith("Cannot open vrsFile")]
            raise SourceError(self.path, "is not a readable VRS file" + (f": {reasons[0]}" if reasons else ""))
        truncated = [m for m in _log_messages(log, "WARNING") if "beyond the end of the file" in m]
        if truncated:
            raise SourceError(self.path, f"is truncated ({truncated[0]})")
        self._provider = provider
        self._stream_ids = {}
        for stream, label in LABELS.items():
            stream_id = provider.get_stream_id_from_label(label)
            if stream_id is not None and provider.get_num_data(stream_id) > 0:
                self._stream_ids[stream] = stream_id
        self.provides = tuple(s for s in ALL_STREAMS if s in self._stream_ids)
        if not self.provides:
            raise SourceError(self.path, f"has none of the Aria streams {', '.join(LABELS.values())}")
        super().__init__(streams)
        self._convert = {}
        device_calibration = provider.get_device_calibration()
        sizes = sizes or {}
        with native_output([]):
            for stream in self.streams:
                if stream == IMU:
                    continue
                fisheye = device_calibration.get_camera_calib(LABELS[stream]) if device_calibration else None
                if fisheye is None:
                    raise SourceError(self.path, f"has no calibration for {LABELS[stream]}")
                self._convert[stream] = camera_converter(stream, fisheye, undistort, sizes.get(stream, (0, 0)))

    def frame_counts(self) -> Dict[str, int]:
        """Number of records per selected stream."""
        return {s: int(self._provider.get_num_data(self._stream_ids[s])) for s in self.streams}

    def items(self) -> Iterator[Item]:
        from projectaria_tools.core.sensor_data import SensorDataType, TimeDomain

        options = self._provider.get_default_deliver_queued_options()
        options.deactivate_stream_all()
        stream_of = {}
        for stream in self.streams:
            options.activate_stream(self._stream_ids[stream])
            stream_of[str(self._stream_ids[stream])] = stream
        for data in self._provider.deliver_queued_sensor_data(options):
            stream = stream_of[str(data.stream_id())]
            device_ns = int(data.get_time_ns(TimeDomain.DEVICE_TIME))
            if data.sensor_data_type() == SensorDataType.IMU:
                imu = data.imu_data()
                yield ImuSample(device_ns, tuple(imu.accel_msec2), tuple(imu.gyro_radsec))
                continue
            image_data, _ = data.image_data_and_record()
            raw = image_data.to_numpy_array()
            if raw is None or raw.size == 0:
                raise SourceError(self.path, f"{LABELS[stream]} record at {device_ns} ns has no image")
            image, calibration = self._convert[stream](raw)
            yield Frame(stream, device_ns, image, calibration)
