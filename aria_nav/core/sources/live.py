"""Live Aria glasses through the Aria client SDK (`aria.sdk`, package projectaria-client-sdk).

The SDK is optional and imported only when this source is selected. The adapter connects to the glasses (USB, or
Wi-Fi given their IP address), starts streaming with a profile, subscribes to RGB, SLAM and IMU, and hands each
image to the same converter as VRS recordings (undistortion to a linear camera, upright rotation, output size),
using the calibration the glasses send. Callbacks arrive on SDK threads; a bounded queue hands items to the
camera node's publishing thread and drops the oldest when it falls behind, so latency stays bounded.
See docs/camera.md ("Live glasses") for pairing and set-up.
"""
from __future__ import annotations

import queue
import threading
from typing import Dict, Iterator, Optional, Tuple

import numpy as np

from aria_nav.core.sources.base import (ALL_STREAMS, IMU, RGB, SLAM_LEFT, SLAM_RIGHT, FrameSource, Frame, ImuSample,
                                        Item, SourceError)
from aria_nav.core.sources.vrs import LABELS, camera_converter, device_from_sensor

SDK_MISSING = "projectaria-client-sdk is not installed; pip install projectaria-client-sdk"
QUEUE_SIZE = 256  # items (IMU samples arrive at 1 kHz)
_POLL_S = 0.2


class LiveGlassesSource(FrameSource):
    provides = (RGB, SLAM_LEFT, SLAM_RIGHT, IMU)  # Gen1 glasses (the client SDK streams Gen1)
    live = True

    def __init__(self, streams=ALL_STREAMS, device_ip: str = "", interface: str = "usb",
                 profile: str = "profile18", undistort: bool = True,
                 sizes: Optional[Dict[str, Tuple[int, int]]] = None):
        self.description = f"live glasses ({interface}{' ' + device_ip if device_ip else ''}, {profile})"
        super().__init__(streams)
        try:
            import aria.sdk as aria
        except ImportError:
            raise SourceError("live glasses", SDK_MISSING) from None
        from projectaria_tools.core.calibration import device_calibration_from_json_string

        self._aria = aria
        self._undistort, self._sizes = undistort, sizes or {}
        self._queue: "queue.Queue[Item]" = queue.Queue(maxsize=QUEUE_SIZE)
        self._closed = threading.Event()
        self.dropped = 0
        self._converters: Dict[Tuple[str, Tuple[int, ...]], object] = {}
        try:
            self._client = aria.DeviceClient()
            config = aria.DeviceClientConfig()
            if device_ip:
                config.ip_v4_address = device_ip
            self._client.set_client_config(config)
            self._device = self._client.connect()
            self._manager = self._device.streaming_manager
            streaming = aria.StreamingConfig()
            streaming.profile_name = profile
            if interface == "usb":
                streaming.streaming_interface = aria.StreamingInterface.Usb
            streaming.security_options.use_ephemeral_certs = True
            self._manager.streaming_config = streaming
            self._manager.start_streaming()
            self._calibration = device_calibration_from_json_string(self._manager.sensors_calibration())
            # IMU samples in aria_imu axes (the device's REP 103 axes), as from recordings
            self._imu_rotation = device_from_sensor(self._calibration, LABELS[IMU])[:3, :3]
            self._streaming = self._manager.streaming_client
            self._subscribe()
        except SourceError:
            raise
        except Exception as exc:  # noqa: BLE001 - the SDK raises RuntimeError with a reason
            raise SourceError(self.description, f"cannot connect or start streaming: {exc}") from None

    def _subscribe(self) -> None:
        aria = self._aria
        kinds = {RGB: aria.StreamingDataType.Rgb, SLAM_LEFT: aria.StreamingDataType.Slam,
                 SLAM_RIGHT: aria.StreamingDataType.Slam, IMU: aria.StreamingDataType.Imu}
        subscription = self._streaming.subscription_config
        data_types = None
        for stream in self.streams:
            data_types = kinds[stream] if data_types is None else data_types | kinds[stream]
            subscription.message_queue_size[kinds[stream]] = 1 if stream != IMU else 100
        subscription.subscriber_data_type = data_types
        subscription.security_options.use_ephemeral_certs = True
        self._streaming.subscription_config = subscription
        self._camera_streams = {aria.CameraId.Rgb: RGB, aria.CameraId.Slam1: SLAM_LEFT,
                                aria.CameraId.Slam2: SLAM_RIGHT}
        self._streaming.set_streaming_client_observer(self)
        self._streaming.subscribe()

    def _put(self, item: Item) -> None:
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _converter(self, stream: str, shape: Tuple[int, ...]):
        """Converter for the raw image size the stream delivers (profiles stream RGB at reduced sizes too)."""
        key = (stream, shape[:2])
        if key not in self._converters:
            fisheye = self._calibration.get_camera_calib(LABELS[stream])
            native_w = int(fisheye.get_image_size()[0])
            if shape[1] != native_w:
                fisheye = fisheye.rescale(np.array([shape[1], shape[0]], np.int32), shape[1] / native_w)
            self._converters[key] = camera_converter(stream, fisheye, self._undistort,
                                                     self._sizes.get(stream, (0, 0)))
        return self._converters[key]

    # --- SDK observer callbacks (SDK threads) -------------------------------------------------------------------
    def on_image_received(self, image: np.ndarray, record) -> None:
        stream = self._camera_streams.get(record.camera_id)
        if stream not in self.streams:
            return
        upright, calibration = self._converter(stream, image.shape)(image)
        self._put(Frame(stream, int(record.capture_timestamp_ns), upright, calibration))

    def on_imu_received(self, samples, imu_index: int) -> None:
        if IMU not in self.streams or imu_index != 0:  # 0: the right IMU (1 kHz), as imu-right in recordings
            return
        for sample in samples:
            self._put(ImuSample(int(sample.capture_timestamp_ns),
                                tuple(float(v) for v in self._imu_rotation @ np.asarray(sample.accel_msec2)),
                                tuple(float(v) for v in self._imu_rotation @ np.asarray(sample.gyro_radsec))))

    def on_streaming_client_failure(self, reason, message: str) -> None:
        self._put(SourceError(self.description, f"streaming failed: {reason}: {message}"))  # raised by items()

    # --- FrameSource ------------------------------------------------------------------------------------------
    def items(self) -> Iterator[Item]:
        while not self._closed.is_set():
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if isinstance(item, SourceError):
                raise item
            yield item

    def close(self) -> None:
        self._closed.set()
        for stop in (self._streaming.unsubscribe, self._manager.stop_streaming,
                     lambda: self._client.disconnect(self._device)):
            try:
                stop()
            except Exception:  # noqa: BLE001 - best effort while shutting down
                pass
