"""Frame sources of the camera node (ROS-free): one interface (base.FrameSource) over

- sample: the project's own recording (aria_nav/data/sample, a rosbag2 bag), the default;
- vrs:    Aria VRS recordings via projectaria-tools (undistorted to a linear camera, upright);
- video / webcam: OpenCV;
- bag:    rosbag2 bags (MCAP or sqlite3) holding the camera node's topics;
- live:   Aria glasses through the optional client SDK.
pacing.Replay paces, loops and stamps any of them.
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional, Tuple

from aria_nav import paths
from aria_nav.core.sources.base import (ALL_STREAMS, CAMERA_STREAMS, IMU, Calibration, Frame, FrameSource,
                                        ImuSample, SourceError, resize_frame)

SOURCE_KINDS = ("sample", "vrs", "video", "webcam", "bag", "live")


def open_source(kind: str, path: str = "", streams: Iterable[str] = ALL_STREAMS, undistort: bool = True,
                sizes: Optional[Dict[str, Tuple[int, int]]] = None, video_hfov_deg: float = 70.0,
                live_interface: str = "usb", live_profile: str = "profile18", slam_pair: str = "side") -> FrameSource:
    """Open the source `kind`; `path` is the file (empty: the packaged sample for sample/bag), the webcam index
    or device path, or the glasses' IP address for live Wi-Fi streaming; `slam_pair`: Aria Gen2's SLAM pair that
    feeds slam_left/slam_right. Raises SourceError."""
    if kind == "sample" or (kind == "bag" and not path):
        from aria_nav.core.sources.bag import BagSource

        if kind == "sample" and path:
            raise SourceError(path, "source 'sample' takes no path (use source 'bag' for another bag)")
        return BagSource(paths.sample_dir(), streams)
    if not path and kind in ("vrs", "video"):
        raise SourceError(kind, "needs a path to the file")
    if kind == "bag":
        from aria_nav.core.sources.bag import BagSource

        return BagSource(path, streams)
    if kind == "vrs":
        from aria_nav.core.sources.vrs import VrsSource

        return VrsSource(path, streams, undistort=undistort, sizes=sizes, slam_pair=slam_pair)
    if kind == "video":
        from aria_nav.core.sources.video import VideoFileSource

        return VideoFileSource(path, streams, hfov_deg=video_hfov_deg)
    if kind == "webcam":
        from aria_nav.core.sources.video import WebcamSource

        device = path.strip() or "0"
        return WebcamSource(int(device) if device.isdigit() else device, streams, hfov_deg=video_hfov_deg)
    if kind == "live":
        from aria_nav.core.sources.live import LiveGlassesSource

        return LiveGlassesSource(streams, device_ip=path, interface=live_interface, profile=live_profile,
                                 undistort=undistort, sizes=sizes)
    raise SourceError(kind, f"unknown source kind (one of: {', '.join(SOURCE_KINDS)})")


__all__ = ["ALL_STREAMS", "CAMERA_STREAMS", "IMU", "SOURCE_KINDS", "Calibration", "Frame", "FrameSource", "ImuSample",
           "SourceError", "open_source", "resize_frame"]
