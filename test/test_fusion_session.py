"""The fusion session without ROS: one call per input, the policy between pairing, pipeline and health (which
frames are processed, which requests are sent, what the wearer is told when an input goes out and comes back)."""
import math

import pytest

from aria_nav.core.fusion.obstacle import RGB, SLAM_LEFT
from aria_nav.core.fusion.pipeline import FusionConfig
from aria_nav.core.fusion.session import ERROR, OK, WARN, WARNING_LINE, FusionSession, SessionConfig, Step
from aria_nav.core.fusion.watchdog import DEPTH, DETECTIONS, VisionHealth
from aria_nav.core.speech.request import APPROXIMATE, DEGRADED, ENDED, METRIC, OBSTACLE, RESTORED

from test_guidance_support import CAR, INTR, NAMES, PERSON, render

NS = 1_000_000_000
PERIOD_S = 0.1


def session(**settings) -> FusionSession:
    health = VisionHealth(stale_after_s=2.0, startup_grace_s=30.0, start_s=0.0)
    fusion = FusionSession(FusionConfig(), SessionConfig(**settings), health, start_s=0.0)
    for camera in (RGB, SLAM_LEFT):
        fusion.on_camera_info(camera, INTR)
        fusion.on_class_names(camera, NAMES)
    return fusion


def rgb_frame(fusion: FusionSession, t: float, objects, with_depth: bool = True, steps=None) -> Step:
    """One RGB frame at time t (stamp = receive time): detections, then its depth image; the steps merged."""
    detections, depth = render(objects)
    step = fusion.on_detections(f"frame {t:.1f}", round(t * NS), detections, t)
    if with_depth:
        later = fusion.on_depth(round(t * NS), depth, t)
        step.frames += later.frames
        step.requests += later.requests
    return step


def times(start: float, end: float):
    return [round(start + i * PERIOD_S, 3) for i in range(round((end - start) / PERIOD_S))]


@pytest.mark.parametrize("mode", [None, METRIC])
def test_each_frame_is_paired_with_its_depth_and_requests_carry_the_distance_kind(mode):
    fusion = session()
    if mode is not None:
        fusion.on_depth_mode(mode)
    frames = []
    for t in times(0.0, 0.5):
        frames += rgb_frame(fusion, t, [(PERSON, 0.0, 2.0)]).frames
    assert [f.frame for f in frames] == [f"frame {t:.1f}" for t in times(0.0, 0.5)]  # the caller's handles back
    assert all(o.distance_m == pytest.approx(2.0, abs=0.1) for f in frames for o in f.result.obstacles)
    requests = [f.request for f in frames if f.request is not None]
    assert [r.event for r in requests] == [OBSTACLE]  # once confirmed, once
    assert requests[0].distance_kind == (mode or APPROXIMATE)
    assert fusion.counts["requests"] == 1 and fusion.pairer.paired == 5


def test_a_frame_without_depth_is_skipped_while_depth_runs_and_processed_once_depth_is_out():
    fusion = session()
    for t in times(0.0, 1.0):
        rgb_frame(fusion, t, [(PERSON, 0.0, 2.0)])
        fusion.tick(t, round(t * NS))
    # One detection set whose depth image never comes: resolved after pair_max_wait_s as a miss, and skipped.
    step = rgb_frame(fusion, 1.25, [(PERSON, 0.0, 2.0)], with_depth=False)  # no depth within pair_tolerance_s
    assert step.frames == []
    assert fusion.tick(1.8, round(1.8 * NS)).frames == []
    assert fusion.counts["pairing_misses_skipped"] == 1
    # Depth stops for good: after its silence threshold depth is out, said once, and frames go on without distances.
    requests, frames = [], []
    for t in times(1.9, 5.0):
        step = rgb_frame(fusion, t, [(PERSON, 0.0, 2.0)], with_depth=False)
        step.requests += fusion.tick(t, round(t * NS)).requests
        requests += step.requests
        frames += step.frames
    assert [(r.event, r.reason) for r in requests] == [(DEGRADED, DEPTH)]
    assert frames and all(math.isnan(o.distance_m) for f in frames for o in f.result.obstacles)
    assert fusion.health.depth_down
    assert fusion.status(5.0)[:2] == (WARN, "no depth: obstacles without distances")


def test_obstacle_requests_are_silenced_while_detections_are_out_and_the_return_is_said_once():
    fusion = session()
    said = []
    for t in times(0.0, 1.0):
        step = rgb_frame(fusion, t, [(PERSON, 0.0, 2.0)])
        said += [f.request for f in step.frames if f.request is not None] + fusion.tick(t, t * NS).requests
    assert [r.event for r in said] == [OBSTACLE]
    # The RGB detector stops (depth goes on); a peripheral camera keeps seeing a car coming into view.
    silenced, lines = 0, []
    for t in times(1.0, 5.0):
        _, depth = render([])
        fusion.on_depth(round(t * NS), depth, t)
        detections, _ = render([(CAR, -20.0, 3.0)] if t >= 3.5 else [])
        for fused in fusion.on_peripheral(SLAM_LEFT, "slam", round(t * NS), detections).frames:
            silenced += fused.result.request is not None and fused.request is None
            said += [fused.request] if fused.request is not None else []
        step = fusion.tick(t, round(t * NS))
        said += step.requests
        lines += step.lines
    assert [(r.event, r.reason) for r in said[1:]] == [(DEGRADED, DETECTIONS)]
    assert silenced >= 1  # the car would have been announced: the wearer was told warnings stopped instead
    assert any(line.level == WARNING_LINE and "vision degraded: no detections" in line.text for line in lines)
    assert fusion.status(5.0)[:2] == (ERROR, "no detections: obstacle warnings stopped")
    # Detections come back: restored, once.
    restored = []
    for t in times(5.0, 6.0):
        restored += rgb_frame(fusion, t, [(PERSON, 0.0, 2.0)]).requests + fusion.tick(t, round(t * NS)).requests
    assert [(r.event, r.reason) for r in restored] == [(RESTORED, DETECTIONS)]
    assert fusion.status(6.0)[:2] == (OK, "running")


def test_the_end_of_a_recording_is_said_once_and_its_silence_is_no_fault():
    fusion = session()
    for t in times(0.0, 0.5):
        rgb_frame(fusion, t, [(PERSON, 0.0, 2.0)])
    first = fusion.on_source_state("ended", 0.5, 123)
    assert [(r.event, r.stamp_ns) for r in first.requests] == [(ENDED, 123)]
    assert fusion.on_source_state("ended", 0.6, 124).requests == []
    assert all(fusion.tick(t, round(t * NS)).requests == [] for t in times(0.6, 10.0))


def test_frames_before_camera_info_are_counted_not_processed_and_the_status_waits_for_it():
    health = VisionHealth(stale_after_s=2.0, startup_grace_s=30.0, start_s=0.0)
    fusion = FusionSession(FusionConfig(), SessionConfig(), health, start_s=0.0)
    assert rgb_frame(fusion, 0.0, [(PERSON, 0.0, 2.0)]).frames == []
    assert fusion.counts["no_camera_info"] == 1
    assert fusion.status(0.1)[:2] == (WARN, "waiting for camera_info on /aria/rgb/camera_info")


def test_replay_waits_for_depth_however_late_and_motion_changes_are_logged():
    fusion = session(process_every_frame=True)
    detections, depth = render([(PERSON, 0.0, 2.0)])
    assert fusion.on_detections("late", NS, detections, 1.0).frames == []
    assert fusion.tick(100.0, 0).frames == []  # no wait limit in replay
    assert [f.frame for f in fusion.on_depth(NS, depth, 100.0).frames] == ["late"]
    # Strong accelerations: the wearer is walking, logged once.
    lines = []
    for i in range(200):
        t = i * 0.01
        lines += fusion.on_imu(t, (0.0, 0.0, 9.81 + (3.0 if i % 20 < 10 else -3.0)), None).lines
    assert [line.text.split(" (")[0] for line in lines] == ["wearer is walking"]
    assert fusion.values["motion_state"] == "walking" and fusion.values["motion_source"] == "imu"


def test_approximate_depth_turns_the_corridor_off_said_once_and_on_the_diagnostics():
    """Hazards without a class need metric depth: a relative model's mode is one warning line (not one per
    announcement of the latched mode) and the `corridor` diagnostic value says why; metric turns it back on."""
    fusion = session()
    assert fusion.values["corridor"].startswith("off until")
    lines = fusion.on_depth_mode(APPROXIMATE).lines + fusion.on_depth_mode(APPROXIMATE).lines
    assert [line.level for line in lines if "corridor model off" in line.text] == [WARNING_LINE]
    assert fusion.values["corridor"].startswith("off: depth is approximate") and not fusion.pipeline.depth_is_metric
    frames = rgb_frame(fusion, 0.0, [(PERSON, 0.0, 2.0)]).frames
    assert frames and all(f.result.corridor is None for f in frames)
    assert not any("corridor" in line.text for line in fusion.on_depth_mode(METRIC).lines)
    assert fusion.values["corridor"] == "on (metric depth)"
    frames = rgb_frame(fusion, 0.1, [(PERSON, 0.0, 2.0)]).frames
    assert frames and frames[0].result.corridor is not None


def test_silent_slam_cameras_are_no_input_not_on():
    """A recording without the SLAM streams the graph reads (a video, or Gen1/Gen2 with slam_pair missing): fusion
    says "no input" for each silent side camera and logs it once after the start-up grace, not "SLAM cameras on"."""
    fusion = session(startup_grace_s=2.0)
    lines = []
    for t in times(0.0, 4.0):
        rgb_frame(fusion, t, [(PERSON, 0.0, 2.0)])
        lines += fusion.tick(t, round(t * NS)).lines
    warnings = [line.text for line in lines if line.level == WARNING_LINE and "SLAM" in line.text]
    assert len(warnings) == 1 and "slam_left, slam_right" in warnings[0]
    values = fusion.status(4.0)[2]
    assert values["slam_left_input"] == values["slam_right_input"] == "no input"
    detections, _ = render([(CAR, -20.0, 3.0)])
    fusion.on_peripheral(SLAM_LEFT, "slam", round(4.0 * NS), detections)
    assert fusion.status(4.1)[2]["slam_left_input"] == "receiving (1 frames)"
