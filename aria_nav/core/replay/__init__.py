"""Regression replay, the ROS-free part: the run record a replay produces, its golden file, and the comparison of
the two within tolerances. aria_nav.replay runs the graph and fills the record; `aria-nav replay` is the command."""
from aria_nav.core.replay.compare import Comparison, Tolerances, compare, format_comparison
from aria_nav.core.replay.record import (Announcement, DepthStats, DetectionRecord, FrameRecord, GoldenError,
                                         ObstacleRecord, RunRecord, detection_records)

__all__ = ["Announcement", "Comparison", "DepthStats", "DetectionRecord", "FrameRecord", "GoldenError",
           "ObstacleRecord", "RunRecord", "Tolerances", "compare", "detection_records", "format_comparison"]
