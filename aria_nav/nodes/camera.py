"""Camera node: publishes the Aria streams (RGB, SLAM left/right, IMU) from a recording, a video, a webcam, a bag
or live glasses, with CameraInfo matching the published image size. See docs/camera.md.

header.stamp is the capture time on the host clock (replay: replay start + the item's device-time offset; live:
device time mapped to the host clock), so `now - stamp` downstream is the real latency. A publishing thread paced
by core.sources.replay does the work; the executor stays free for parameters and diagnostics.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Dict, List, Optional, Tuple

from nav_msgs.msg import Odometry
from rclpy.duration import Duration
from rclpy.publisher import Publisher
from sensor_msgs.msg import CameraInfo, Image, Imu
from std_msgs.msg import String

from aria_nav import topics
from aria_nav.core.sources import SOURCE_KINDS, SourceError, open_source
from aria_nav.core.sources.base import (EXTRA_CAMERA_STREAMS, IMU, ODOM, RGB, SLAM_LEFT, SLAM_PAIRS, SLAM_RIGHT,
                                        Frame, ImuSample, Item, resize_frame)
from aria_nav.core.sources.vrs import PoseSample
from aria_nav.core.sources.replay import PACING_MODES, STAMP_SOURCES, Replay
from aria_nav.core.stage_stats import StageStats
from aria_nav.ros.conversions import array_to_image, camera_info, header_at, imu_message, odometry_message
from aria_nav.ros.diagnostics import WARN, NodeDiagnostics
from aria_nav.ros.params import ConfigError, Param, ParameterError, declare_parameters
from aria_nav.ros.qos import frame_qos, latched_qos
from aria_nav.ros.runtime import WORKER_JOIN_S, AriaNode, main_for
from aria_nav.ros.static_tf import Mount, peripheral_yaw_deg, publish_camera_transforms

MAX_SIZE = 4096
IMU_QUEUE = 200  # IMU samples held for a slow subscriber (0.2 s at 1 kHz)
SUBSCRIBER_REPORT_S = 5.0  # replay mode: how often to say which topics still wait for a subscriber
ACK_TIMEOUT_S = 5.0  # replay mode, end of input: how long to wait for subscribers to acknowledge the last frames


def _size_check(value: int) -> Optional[str]:
    return None if value == 0 or 16 <= value <= MAX_SIZE else f"{value} is not 0 (native) or 16..{MAX_SIZE}"


PARAMS = [
    Param("source", "sample", "where frames come from: sample (the packaged recording), vrs (Aria VRS file), "
                              "video (file), webcam, bag (rosbag2 directory), live (Aria glasses, client SDK)",
          choices=SOURCE_KINDS),
    Param("path", "", "the file or bag directory to read (sample: must be empty; bag: empty = the packaged "
                      "sample), the webcam index or device path (empty = 0), or the glasses' IP address for "
                      "live Wi-Fi streaming (empty = USB)"),
    Param("pacing", "realtime", "recordings: realtime (the recording's own timing), fixed (lead camera frames "
                                "at rate_hz) or fast (as fast as possible); live sources ignore it",
          choices=PACING_MODES),
    Param("rate_hz", 10.0, "frame rate of fixed pacing (Hz)", min=0.1, max=1000.0),
    Param("loop", False, "restart a recording at its end; device time keeps increasing across loops"),
    Param("max_duration_s", 0.0, "recordings: end the input after this many seconds of the recording "
                                 "(0 = play it to its end)", min=0.0, max=1e6),
    Param("exit_at_end", False, "exit with code 0 at the end of a recording that is not looped, instead of "
                                "staying up idle"),
    Param("rgb_width", 704, "published RGB width in pixels, 0 = from rgb_height and the camera's aspect (both 0: "
                            "native, 1408x1408 for Gen1, 2016x1512 for Gen2); 704 halves Gen1's image exactly, "
                            "still above the detector (640) and depth (518) inputs", check=_size_check),
    Param("rgb_height", 0, "published RGB height in pixels, 0 = from rgb_width and the camera's aspect (Gen1 704, "
                           "Gen2 528); another aspect is a centred crop, pixels stay square", check=_size_check),
    Param("slam_width", 0, "published SLAM camera width in pixels, 0 = from the aspect (both 0: native)",
          check=_size_check),
    Param("slam_height", 0, "published SLAM camera height in pixels, 0 = from the aspect", check=_size_check),
    Param("slam_pair", "side", "Aria Gen2 (four SLAM cameras): the pair published as slam_left/slam_right and read "
                               "by the SLAM detectors: side (the peripheral views) or front; the other pair is "
                               "published as /aria/slam_<pair>_left|right", choices=SLAM_PAIRS),
    Param("publish_other_slam_pair", True, "Aria Gen2: also publish the SLAM pair not chosen by slam_pair"),
    Param("publish_odom", True, "Aria Gen2 recordings: publish the on-device VIO's device poses as "
                                "nav_msgs/Odometry on /aria/odom (frame aria_odom -> aria_device)"),
    Param("odom_rate_hz", 100.0, "most /aria/odom messages per second (Gen2 VIO runs at 800 Hz)", min=1.0,
          max=1000.0),
    Param("undistort", True, "Aria sources (vrs, live): undistort the fisheye images to a linear pinhole camera "
                             "(false: raw fisheye, CameraInfo distortion_model fisheye624)"),
    Param("publish_rgb", True, "publish the RGB camera"),
    Param("publish_slam", True, "publish the SLAM cameras (Gen1: two; Gen2: four, see slam_pair)"),
    Param("publish_imu", True, "publish the IMU (sensor_msgs/Imu, frame aria_imu: x forward, y left, z up)"),
    Param("stamp_source", "host", "header.stamp: host (capture time on the host clock: latency = now - stamp) or "
                                  "device (the recording's device time)", choices=STAMP_SOURCES),
    Param("process_every_frame", False, "deterministic replay: reliable QoS so no subscriber misses a frame"),
    Param("video_hfov_deg", 70.0, "video/webcam: horizontal field of view assumed for the CameraInfo (degrees)",
          min=10.0, max=170.0),
    Param("live_interface", "usb", "live glasses: streaming interface", choices=("usb", "wifi")),
    Param("live_profile", "profile18", "live glasses: streaming profile name (see docs/camera.md)"),
]

STREAM_TOPICS = {RGB: (topics.RGB_IMAGE, topics.RGB_INFO, topics.RGB_FRAME),
                 SLAM_LEFT: (topics.SLAM_LEFT_IMAGE, topics.SLAM_LEFT_INFO, topics.SLAM_LEFT_FRAME),
                 SLAM_RIGHT: (topics.SLAM_RIGHT_IMAGE, topics.SLAM_RIGHT_INFO, topics.SLAM_RIGHT_FRAME)}
STREAM_TOPICS.update({stream: (topics.camera_image_topic(stream), topics.camera_info_topic(stream),
                               topics.camera_frame(stream)) for stream in EXTRA_CAMERA_STREAMS})
# What the rest of the graph reads: a requested stream of these that the source lacks is a start-up warning.
MISSING_INPUT = "they get no input"  # ends the start-up warning about missing streams (the demo quotes it)
GRAPH_INPUTS = {RGB: "the detector, depth and fusion", SLAM_LEFT: "slam_detector_left",
                SLAM_RIGHT: "slam_detector_right", IMU: "fusion's motion state"}


class CameraNode(AriaNode):
    def __init__(self):
        super().__init__("camera")
        self.cfg = cfg = declare_parameters(self, PARAMS)
        self._sizes = self._published_sizes()
        other_pair = [f"slam_{p}_{side}" for p in SLAM_PAIRS if p != cfg.slam_pair for side in ("left", "right")]
        streams = [s for s, on in ((RGB, cfg.publish_rgb), (SLAM_LEFT, cfg.publish_slam),
                                   (SLAM_RIGHT, cfg.publish_slam), (IMU, cfg.publish_imu)) if on]
        if cfg.publish_slam and cfg.publish_other_slam_pair:
            streams += other_pair
        if cfg.publish_odom:
            streams.append(ODOM)
        if not [s for s in streams if s != ODOM]:
            raise ParameterError("publish_rgb", "publish_rgb, publish_slam and publish_imu are all false")
        try:
            self.source = open_source(cfg.source, cfg.path, streams, undistort=cfg.undistort, sizes=self._sizes,
                                      video_hfov_deg=cfg.video_hfov_deg, live_interface=cfg.live_interface,
                                      live_profile=cfg.live_profile, slam_pair=cfg.slam_pair)
            self.replay = Replay(self.source, cfg.pacing, cfg.rate_hz, cfg.loop, cfg.stamp_source,
                                 host_now_ns=lambda: self.get_clock().now().nanoseconds,
                                 max_duration_s=cfg.max_duration_s)
        except (SourceError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        # /tf_static (latched) of the cameras and the IMU relative to aria_device, for rviz and tf2 users.
        self._static_tf = publish_camera_transforms(self, cfg.source, cfg.path, cfg.slam_pair)
        qos = frame_qos(cfg.process_every_frame)
        self._image_publishers: Dict[str, Tuple[Publisher, Publisher]] = {}
        for stream in self.source.streams:
            if stream == ODOM:
                self._odom_publisher = self.create_publisher(Odometry, topics.ODOM,
                                                             frame_qos(cfg.process_every_frame, depth=IMU_QUEUE))
            elif stream == IMU:
                self._imu_publisher = self.create_publisher(Imu, topics.IMU, frame_qos(cfg.process_every_frame,
                                                                                         depth=IMU_QUEUE))
            else:
                image_topic, info_topic, _ = STREAM_TOPICS[stream]
                self._image_publishers[stream] = (self.create_publisher(Image, image_topic, qos),
                                                  self.create_publisher(CameraInfo, info_topic, qos))
        self._odom_period_ns = int(1e9 / cfg.odom_rate_hz)
        self._last_odom_ns = None
        self._stream_stats = {stream: StageStats() for stream in self.source.streams}
        self._published_size: Dict[str, str] = {}
        self._undecodable_reported = 0
        self.diagnostics = NodeDiagnostics(self)
        self.diagnostics.set_value("source", self.source.description)
        self.diagnostics.set_value("streams", ", ".join(self.source.streams))
        pacing = "live" if self.source.live else cfg.pacing + (f" {cfg.rate_hz:g} Hz" if cfg.pacing == "fixed" else "")
        self.diagnostics.set_value("pacing", pacing)
        self.diagnostics.set_value("state", "publishing")
        self._state_pub = self.create_publisher(String, topics.SOURCE_STATE, latched_qos())
        self._publish_state("playing")
        missing = [s for s in streams if s in GRAPH_INPUTS and s not in self.source.streams]
        if missing:
            # A stream the graph expects and this source lacks: said now, and on /diagnostics while running.
            what = "; ".join(f"{s} (read by {GRAPH_INPUTS[s]})" for s in missing)
            warning = f"{self.source.description} has no {what}: {MISSING_INPUT}"
            self.diagnostics.set_value("missing_streams", ", ".join(missing))
            self.diagnostics.set_status(WARN, f"missing streams: {', '.join(missing)}")
            self.get_logger().warning(warning + " (turn them off with publish_slam/publish_imu, or "
                                                              "slam:=false for the SLAM detectors)")
        generation = getattr(self.source, "generation", None)
        if generation:
            self.diagnostics.set_value("aria_generation", generation)
        self._report_slam_yaw()
        self._diagnostics_timer = self.create_timer(1.0, self._update_diagnostics)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._publish_all, name="camera-publisher", daemon=True)
        self._thread.start()
        self.get_logger().info(f"publishing {', '.join(self.source.streams)} from {self.source.description} "
                               f"({pacing}{', looped' if self.replay.loop else ''}, stamps: {cfg.stamp_source})")

    def _report_slam_yaw(self) -> None:
        """How far the SLAM cameras look to the sides, from the recording's calibration: fusion's
        `peripheral_yaw_deg` must match it (38, its default, is Gen1's; Gen2's side pair looks ~84 degrees out)."""
        extrinsics = getattr(self.source, "extrinsics", {})
        yaw = peripheral_yaw_deg([Mount(topics.camera_frame(s), e[:3, :3], tuple(e[:3, 3]))
                                  for s, e in extrinsics.items() if s != IMU])
        if yaw is not None:
            self.diagnostics.set_value("slam_yaw_deg", f"{yaw:.1f}")
            self.get_logger().info(f"SLAM cameras look {yaw:.0f} degrees to the sides of the RGB camera (fusion's "
                                   f"peripheral_yaw_deg should be {yaw:.0f})")

    def _published_sizes(self) -> Dict[str, Tuple[int, int]]:
        cfg = self.cfg
        sizes = {}
        for prefix, streams in (("rgb", (RGB,)), ("slam", (SLAM_LEFT, SLAM_RIGHT) + EXTRA_CAMERA_STREAMS)):
            width, height = getattr(cfg, f"{prefix}_width"), getattr(cfg, f"{prefix}_height")
            for stream in streams:
                sizes[stream] = (width, height)
        return sizes

    # --- publishing thread ------------------------------------------------------------------------------------
    def _all_publishers(self, streams=None) -> List[Publisher]:
        """The publishers of `streams` (None: all published)."""
        streams = self.source.streams if streams is None else [s for s in self.source.streams if s in streams]
        publishers = [p for stream, pair in self._image_publishers.items() if stream in streams for p in pair]
        publishers += [self._odom_publisher] if ODOM in streams else []
        return publishers + ([self._imu_publisher] if IMU in streams else [])

    def _wait_for_subscribers(self) -> bool:
        """Replay mode: hold the first frame until every topic the graph reads has a subscriber, so the consumers
        see the recording from its start (a reliable publisher does not keep what was sent before they joined).
        Gen2's second SLAM pair, which no node of the graph reads, is not waited for."""
        publishers = self._all_publishers(tuple(GRAPH_INPUTS) + (ODOM,))
        next_report = time.monotonic()
        while not self._stop.is_set():
            missing = [p.topic_name for p in publishers if p.get_subscription_count() == 0]
            if not missing:
                return True
            if time.monotonic() >= next_report:
                self.get_logger().info(f"process_every_frame: waiting for subscribers on {', '.join(missing)} "
                                       f"(turn off streams nobody reads: publish_slam/publish_imu)")
                next_report += SUBSCRIBER_REPORT_S
            self._stop.wait(0.05)
        return False

    def _publish_all(self) -> None:
        if self.cfg.process_every_frame and not self._wait_for_subscribers():
            return
        try:
            finished = self.replay.run(self._emit, self._stop)
        except SourceError as exc:
            self.request_exit(ConfigError(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - reported as one line; the process ends with code 2
            self.request_exit(ConfigError(f"{self.source.description}: {type(exc).__name__}: {exc}"))
            return
        if not finished:
            return
        # Said at once, before waiting for acknowledgements: consumers must not take the silence after the last
        # frame for a fault.
        self._publish_state("ended", {stream: stats.processed for stream, stats in self._stream_stats.items()})
        if self.cfg.process_every_frame:  # let reliable subscribers receive the last frames before we may exit
            for publisher in self._all_publishers():
                publisher.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))
        counts = ", ".join(f"{s} {stats.processed}" for s, stats in self._stream_stats.items())
        undecodable = getattr(self.source, "undecodable", 0)
        skipped = f", {undecodable} undecodable frame{'s' if undecodable > 1 else ''} skipped" if undecodable else ""
        self.get_logger().info(f"end of input ({counts} published{skipped})" +
                               ("; exiting" if self.cfg.exit_at_end else "; staying up idle"))
        self.diagnostics.set_value("state", "end of input")
        if self.cfg.exit_at_end:
            self.request_exit()

    def _publish_state(self, state: str, published: Optional[Dict[str, int]] = None) -> None:
        body = {"state": state, "source": self.source.description, "live": self.source.live}
        if published is not None:
            body["published"] = published  # per stream, at the end of the input
        self._state_pub.publish(String(data=json.dumps(body)))

    def _emit(self, item: Item, stamp_ns: int) -> None:
        if isinstance(item, PoseSample):
            self._emit_pose(item, stamp_ns)
            return
        stats = self._stream_stats[item.stream]  # per-stream counts and rates (their latency field is unused)
        if isinstance(item, ImuSample):
            self._imu_publisher.publish(imu_message(item, header_at(stamp_ns, topics.IMU_FRAME)))
            stats.record(0.0)
            return
        frame: Frame = resize_frame(item, *self._sizes[item.stream])
        image_publisher, info_publisher = self._image_publishers[item.stream]
        header = header_at(stamp_ns, STREAM_TOPICS[item.stream][2])
        info_publisher.publish(camera_info(frame.calibration, header))
        image_publisher.publish(array_to_image(frame.image, frame.encoding, header))
        if item.stream == self.replay.lead_stream:
            self.diagnostics.record(header.stamp)  # latency here: how far publishing runs behind capture time
        stats.record(0.0)
        if item.stream not in self._published_size:
            self._published_size[item.stream] = f"{frame.size[0]}x{frame.size[1]} {frame.encoding}"

    def _emit_pose(self, pose: PoseSample, stamp_ns: int) -> None:
        if self._last_odom_ns is not None and 0 <= pose.device_ns - self._last_odom_ns < self._odom_period_ns:
            return  # above odom_rate_hz
        self._last_odom_ns = pose.device_ns
        self._odom_publisher.publish(odometry_message(pose, header_at(stamp_ns, topics.ODOM_FRAME)))
        self._stream_stats[ODOM].record(0.0)

    # --- executor side ----------------------------------------------------------------------------------------
    def _update_diagnostics(self) -> None:
        for stream, stats in self._stream_stats.items():
            self.diagnostics.set_value(f"{stream}_rate_hz", f"{stats.rate_hz():.1f}")
            self.diagnostics.set_value(f"{stream}_published", stats.processed)
        for stream, size in self._published_size.items():
            self.diagnostics.set_value(f"{stream}_resolution", size)
        offset = self.replay.clock_offset_ns
        if offset is not None:
            self.diagnostics.set_value("stamp_minus_device_time_ns", offset)
        self.diagnostics.set_value("loops", self.replay.loops_completed)
        undecodable = getattr(self.source, "undecodable", 0)
        if undecodable > self._undecodable_reported:  # a video's broken frames: counted, said when it grows
            self.diagnostics.set_value("undecodable_frames", undecodable)
            self.diagnostics.set_status(WARN, "frames of the video could not be decoded (skipped)")
            self.get_logger().warning(f"{undecodable} frames of {self.source.description} could not be decoded "
                                      f"and were skipped", throttle_duration_sec=5.0)
            self._undecodable_reported = undecodable
        dropped = getattr(self.source, "dropped", 0)
        if dropped:
            self.diagnostics.set_value("dropped_from_device", dropped)
            self.diagnostics.set_status(WARN, "publishing falls behind the glasses (see dropped_from_device)")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=WORKER_JOIN_S)
        if not self._thread.is_alive():  # a source closed under its reader can abort the process (native VRS)
            self.source.close()


main = main_for(CameraNode, "camera")

if __name__ == "__main__":
    main()
