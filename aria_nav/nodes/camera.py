"""Camera node: publishes the Aria streams (RGB, SLAM left/right, IMU) from a recording, a video, a webcam, a bag
or live glasses, with CameraInfo matching the published image size. See docs/camera.md.

header.stamp is the capture time on the host clock (replay: replay start + the item's device-time offset; live:
device time mapped to the host clock), so `now - stamp` downstream is the real latency. A publishing thread paced
by core.sources.pacing does the work; the executor stays free for parameters and diagnostics.
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
from aria_nav.core.sources import SourceError, open_source
from aria_nav.core.sources.base import (EXTRA_CAMERA_STREAMS, IMU, ODOM, RGB, SLAM_LEFT, SLAM_PAIRS, SLAM_RIGHT,
                                        Frame, ImuSample, Item, resize_frame)
from aria_nav.core.sources.imu_rate import ImuRate
from aria_nav.core.sources.vrs import PoseSample
from aria_nav.core.sources.pacing import Replay
from aria_nav.core.stage_stats import StageStats
from aria_nav.ros.camera_params import GRAPH_INPUTS, IMU_QUEUE, MISSING_INPUT, PARAMS, STREAM_TOPICS
from aria_nav.ros.conversions import array_to_image, camera_info, header_at, imu_message, odometry_message
from aria_nav.ros.diagnostics import INPUT_LOG_PERIOD_S, WARN, NodeDiagnostics
from aria_nav.ros.params import ConfigError, ParameterError, declare_parameters
from aria_nav.ros.qos import frame_qos, latched_qos
from aria_nav.ros.runtime import WORKER_JOIN_S, AriaNode, main_for
from aria_nav.ros.static_tf import Mount, peripheral_yaw_deg, publish_camera_transforms

# Replay mode: after every topic has a subscriber, the first frame waits until no new one has come for this long:
# each node discovers the camera on its own (depth may read the RGB images a second before the detector does).
SUBSCRIBERS_SETTLE_S = 1.0
SUBSCRIBER_REPORT_S = 5.0  # replay mode: how often to say which topics still wait for a subscriber
ACK_TIMEOUT_S = 5.0  # replay mode, end of input: how long to wait for subscribers to acknowledge the last frames
# Replay mode, end of input: the latched end state (with the published counts) stays up at least this long after
# the first frame, for a reader that discovers the camera late (a tool watching a short recording on a busy machine).
LATE_READER_S = 3.0


class CameraNode(AriaNode):
    def __init__(self, **node_options):  # node_options: rclpy Node's (aria_nav.nodes.composed passes cli_args)
        super().__init__("camera", **node_options)
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
        self._imu_rate = ImuRate(cfg.imu_rate_hz)
        self._last_odom_ns = None
        self._stream_stats = {stream: StageStats() for stream in self.source.streams}
        self._published_size: Dict[str, str] = {}
        self._undecodable_reported = 0
        self.diag = NodeDiagnostics(self)
        self.diag.set_value("source", self.source.description)
        self.diag.set_value("streams", ", ".join(self.source.streams))
        pacing = "live" if self.source.live else cfg.pacing + (f" {cfg.rate_hz:g} Hz" if cfg.pacing == "fixed" else "")
        self.diag.set_value("pacing", pacing)
        self.diag.set_value("state", "publishing")
        self._state_pub = self.create_publisher(String, topics.SOURCE_STATE, latched_qos())
        self._publish_state("playing")
        missing = [s for s in streams if s in GRAPH_INPUTS and s not in self.source.streams]
        if missing:
            # A stream the graph expects and this source lacks: said now, and on /diagnostics while running.
            what = "; ".join(f"{s} (read by {GRAPH_INPUTS[s]})" for s in missing)
            warning = f"{self.source.description} has no {what}: {MISSING_INPUT}"
            self.diag.set_value("missing_streams", ", ".join(missing))
            self.diag.set_status(WARN, f"missing streams: {', '.join(missing)}")
            self.get_logger().warning(warning + " (turn them off with publish_slam/publish_imu, or "
                                                              "slam:=false for the SLAM detectors)")
        generation = getattr(self.source, "generation", None)
        if generation:
            self.diag.set_value("aria_generation", generation)
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
            self.diag.set_value("slam_yaw_deg", f"{yaw:.1f}")
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
        """Replay mode: hold the first frame until every topic the graph reads has a subscriber and no new one came
        for SUBSCRIBERS_SETTLE_S, so the consumers see the recording from its start (a reliable publisher does not
        keep what was sent before they joined).
        Gen2's second SLAM pair, which the graph reads only with slam_detector:=shared_gen2, is not waited for, but a
        subscriber of it that comes while the others settle counts like theirs."""
        required = self._all_publishers(tuple(GRAPH_INPUTS) + (ODOM,))
        publishers = self._all_publishers()
        next_report = time.monotonic()
        counts, settled_at = None, None
        while not self._stop.is_set():
            now_counts = [p.get_subscription_count() for p in publishers]
            missing = [p.topic_name for p, count in zip(publishers, now_counts) if count == 0 and p in required]
            if now_counts != counts:
                counts, settled_at = now_counts, time.monotonic() + SUBSCRIBERS_SETTLE_S
            if not missing and time.monotonic() >= settled_at:
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
        first_frame_at = time.monotonic()
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
            if self.cfg.exit_at_end:
                self._stop.wait(max(0.0, first_frame_at + LATE_READER_S - time.monotonic()))
        counts = ", ".join(f"{s} {stats.processed}" for s, stats in self._stream_stats.items())
        undecodable = self.source.undecodable
        skipped = f", {undecodable} undecodable frame{'s' if undecodable > 1 else ''} skipped" if undecodable else ""
        self.get_logger().info(f"end of input ({counts} published{skipped})" +
                               ("; exiting" if self.cfg.exit_at_end else "; staying up idle"))
        self.diag.set_value("state", "end of input")
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
        stats = self._stream_stats[item.stream]  # per-stream counts and rates
        if isinstance(item, ImuSample):
            averaged = self._imu_rate.add(item, stamp_ns)
            if averaged is not None:
                sample, sample_stamp_ns = averaged
                self._imu_publisher.publish(imu_message(sample, header_at(sample_stamp_ns, topics.IMU_FRAME)))
                stats.count()
            return
        frame: Frame = resize_frame(item, *self._sizes[item.stream])
        image_publisher, info_publisher = self._image_publishers[item.stream]
        header = header_at(stamp_ns, STREAM_TOPICS[item.stream][2])
        image = array_to_image(frame.image, frame.encoding, header)
        self.diag.record_hop(f"{item.stream}_converted", header.stamp)  # resized and in a message
        info_publisher.publish(camera_info(frame.calibration, header))
        image_publisher.publish(image)
        self.diag.record_hop(f"{item.stream}_published", header.stamp)
        if item.stream == self.replay.lead_stream:
            self.diag.record(header.stamp)  # latency here: how far publishing runs behind capture time
        stats.count()
        if item.stream not in self._published_size:
            self._published_size[item.stream] = f"{frame.size[0]}x{frame.size[1]} {frame.encoding}"

    def _emit_pose(self, pose: PoseSample, stamp_ns: int) -> None:
        if self._last_odom_ns is not None and 0 <= pose.device_ns - self._last_odom_ns < self._odom_period_ns:
            return  # above odom_rate_hz
        self._last_odom_ns = pose.device_ns
        self._odom_publisher.publish(odometry_message(pose, header_at(stamp_ns, topics.ODOM_FRAME)))
        self._stream_stats[ODOM].count()

    # --- executor side ----------------------------------------------------------------------------------------
    def _update_diagnostics(self) -> None:
        for stream, stats in self._stream_stats.items():
            self.diag.set_value(f"{stream}_rate_hz", f"{stats.rate_hz():.1f}")
            self.diag.set_value(f"{stream}_published", stats.processed)
        for stream, size in self._published_size.items():
            self.diag.set_value(f"{stream}_resolution", size)
        offset = self.replay.clock_offset_ns
        if offset is not None:
            self.diag.set_value("stamp_minus_device_time_ns", offset)
        self.diag.set_value("loops", self.replay.loops_completed)
        undecodable = self.source.undecodable
        if undecodable > self._undecodable_reported:  # a video's broken frames: counted, said when it grows
            self.diag.set_value("undecodable_frames", undecodable)
            self.diag.set_status(WARN, "frames of the video could not be decoded (skipped)")
            self.get_logger().warning(f"{undecodable} frames of {self.source.description} could not be decoded "
                                      f"and were skipped", throttle_duration_sec=INPUT_LOG_PERIOD_S)
            self._undecodable_reported = undecodable
        dropped = self.source.dropped
        if dropped:
            self.diag.set_value("dropped_from_device", dropped)
            self.diag.set_status(WARN, "publishing falls behind the glasses (see dropped_from_device)")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=WORKER_JOIN_S)
        if not self._thread.is_alive():  # a source closed under its reader can abort the process (native VRS)
            self.source.close()


main = main_for(CameraNode, "camera")

if __name__ == "__main__":
    main()
