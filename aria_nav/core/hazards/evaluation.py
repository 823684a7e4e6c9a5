"""`aria-nav eval hazards`: the corridor model and the guidance policy on the scripted hazard scene (ROS-free).

Every episode of aria_nav.core.sample.hazard_scene runs through a fresh FusionPipeline (true metric depth, the
scene's IMU samples, the named episode's detection box), exactly what the fusion node would compute. Reported:
  - per hazard: the true distance when it was first warned about (the first speech request of its kind), the
    distance said then, and the largest relative distance error while the model saw it (true distance <= the
    corridor's length);
  - false warnings: requests of any other kind, per minute of walking (the clear corridor on its own, and all);
  - double warnings: corridor requests about the named object (which must be said by its name only);
  - the corridor model's time per frame (mean, p95) on this CPU at the rendered depth size.
Targets (the issue's): first warning at >= 2.5 m (head height and drop-offs >= 2 m), distance within 15%, no false
warning on the clear corridor, no double warning.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np

from aria_nav.core.detection.detections import Detections
from aria_nav.core.fusion.obstacle import RGB
from aria_nav.core.fusion.pipeline import FusionConfig, FusionPipeline
from aria_nav.core.hazards.corridor import HEAD_HEIGHT, STEP_DOWN
from aria_nav.core.hazards.names import HAZARD_NAMES
from aria_nav.core.sample import hazard_scene

DEFAULT_SIZE = 518  # the depth size fusion uses on a GPU (the depth network's output)
MIN_WARNING_M = 2.5
MIN_CRITICAL_WARNING_M = 2.0  # head height and drop-offs
MAX_DISTANCE_ERROR = 0.15
NAMED_CLASSES = ["person"]


def warning_target_m(kind: Optional[str]) -> Optional[float]:
    """The least true distance at which a hazard of this kind must first be warned about (None: nothing to warn)."""
    if kind is None:
        return None
    return MIN_CRITICAL_WARNING_M if kind in (HEAD_HEIGHT, STEP_DOWN) else MIN_WARNING_M


@dataclass
class EpisodeReport:
    name: str
    kind: Optional[str]
    frames: int
    walked_s: float
    first_warning_m: Optional[float] = None  # true distance when first warned
    said_m: Optional[float] = None  # distance in that request
    sentence_kind: str = ""  # class name of that request
    max_distance_error: Optional[float] = None  # relative, while seen within the corridor
    false_warnings: List[str] = field(default_factory=list)
    double_warnings: List[str] = field(default_factory=list)

    def target_m(self) -> Optional[float]:
        return warning_target_m(self.kind)


@dataclass
class HazardEvaluation:
    size: int
    episodes: List[EpisodeReport]
    corridor_ms_mean: float
    corridor_ms_p95: float

    @property
    def clear(self) -> EpisodeReport:
        return next(e for e in self.episodes if e.kind is None)

    def failures(self) -> List[str]:
        """The targets missed, one line each (empty: all met)."""
        problems = []
        for e in self.episodes:
            target = e.target_m()
            if target is not None:
                if e.first_warning_m is None:
                    problems.append(f"{e.name}: never warned")
                elif e.first_warning_m < target:
                    problems.append(f"{e.name}: first warned at {e.first_warning_m:.2f} m (< {target:g} m)")
                if e.max_distance_error is None or e.max_distance_error > MAX_DISTANCE_ERROR:
                    problems.append(f"{e.name}: distance error {e.max_distance_error} (> {MAX_DISTANCE_ERROR:.0%})")
            if e.double_warnings:
                problems.append(f"{e.name}: double warnings {e.double_warnings}")
        if self.clear.false_warnings:
            problems.append(f"clear corridor: false warnings {self.clear.false_warnings}")
        return problems

    def false_warnings_per_minute(self, clear_only: bool) -> float:
        chosen = [self.clear] if clear_only else self.episodes
        walked = sum(e.walked_s for e in chosen)
        return 60.0 * sum(len(e.false_warnings) for e in chosen) / walked if walked else 0.0

    def text(self) -> str:
        lines = [f"hazards evaluation: scripted hazard scene, true metric depth {self.size}x{self.size}, camera "
                 f"{hazard_scene.EYE_HEIGHT_M} m pitched {hazard_scene.PITCH_DOWN_DEG:g} deg down, walking "
                 f"{hazard_scene.SPEED_MPS} m/s",
                 f"{'episode':<12} {'expected':<22} {'first warned':>12} {'said':>6} {'max dist err':>12} "
                 f"{'false':>5} {'double':>6}"]
        for e in self.episodes:
            first = f"{e.first_warning_m:.2f} m" if e.first_warning_m is not None else "-"
            said = f"{e.said_m:.2f}" if e.said_m is not None else "-"
            error = f"{e.max_distance_error:.1%}" if e.max_distance_error is not None else "-"
            expected = HAZARD_NAMES.get(e.kind, "nothing") if e.name != "named" else "person (only)"
            lines.append(f"{e.name:<12} {expected:<22} {first:>12} {said:>6} {error:>12} {len(e.false_warnings):>5} "
                         f"{len(e.double_warnings):>6}")
        lines.append(f"false warnings per minute: {self.false_warnings_per_minute(True):.1f} on the clear corridor "
                     f"({self.clear.walked_s:g} s), {self.false_warnings_per_minute(False):.1f} over all episodes")
        lines.append(f"corridor model: {self.corridor_ms_mean:.2f} ms mean, {self.corridor_ms_p95:.2f} ms p95 per "
                     f"frame on this CPU ({self.size}x{self.size} depth)")
        failures = self.failures()
        lines.append("targets: all met" if not failures else "targets NOT met:\n  " + "\n  ".join(failures))
        return "\n".join(lines)

    def to_json(self) -> str:
        data = asdict(self)
        data["failures"] = self.failures()
        data["scene"] = hazard_scene.ground_truth(self.size)
        return json.dumps(data, indent=1)


def evaluate(size: int = DEFAULT_SIZE, config: FusionConfig = FusionConfig(),
             progress: Callable[[str], None] = lambda _: None) -> HazardEvaluation:
    intrinsics = hazard_scene.intrinsics_at(size)
    reports, timings = [], []
    for episode in hazard_scene.episodes():
        pipeline = FusionPipeline(config)
        pipeline.depth_is_metric = True
        expected = HAZARD_NAMES.get(episode.kind) if episode.name != "named" else episode.named_class
        report = EpisodeReport(episode.name, episode.kind, 0, episode.duration_s)
        errors = []
        for frame in hazard_scene.frames(episode, size):
            for time_s, force, rate in frame.imu:  # the IMU's clock is the frames' (stamp 0 = time 0)
                pipeline.wearer.add_imu(time_s, force, rate)
                pipeline.motion.add(time_s, *force)
            boxes = [frame.named_box] if frame.named_box is not None else []
            detections = Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9),
                                    [0] * len(boxes))
            result = pipeline.process(RGB, detections, NAMED_CLASSES, intrinsics, frame.depth, frame.stamp_ns)
            report.frames += 1
            timings.append(result.corridor.elapsed_ms)
            truth = frame.truth_distance_m
            for obstacle in result.obstacles:
                if obstacle.class_name == expected and truth is not None and truth <= pipeline.corridor.config.length_m:
                    errors.append(abs(obstacle.distance_m - truth) / truth)
            request = result.request
            if request is None:
                continue
            said = f"{request.class_name} at {truth:.2f} m" if truth is not None else request.class_name
            if request.class_name == expected:
                if report.first_warning_m is None:
                    report.first_warning_m, report.said_m = truth, request.distance_m
                    report.sentence_kind = request.class_name
            elif episode.name == "named" and request.class_name in HAZARD_NAMES.values():
                report.double_warnings.append(said)
            else:
                report.false_warnings.append(said)
        report.max_distance_error = max(errors) if errors else None
        progress(f"hazards: episode {episode.name} ({report.frames} frames) done")
        reports.append(report)
    return HazardEvaluation(size, reports, float(np.mean(timings)), float(np.percentile(timings, 95)))


def benchmark(size: int = DEFAULT_SIZE, repeats: int = 200) -> Dict[str, float]:
    """The corridor model alone on one rendered frame of the steps-up episode: ms per frame (min, median, p95)."""
    from aria_nav.core.hazards.corridor import CorridorModel
    from aria_nav.core.wearer_frame import Tilt

    episode = next(e for e in hazard_scene.episodes() if e.name == "steps_up")
    frame = next(hazard_scene.frames(episode, size))
    model = CorridorModel()
    tilt = Tilt.of(hazard_scene.PITCH_DOWN_DEG, 0.0)
    intrinsics = hazard_scene.intrinsics_at(size)
    times = [model.process(frame.depth, intrinsics, tilt).elapsed_ms for _ in range(repeats)]
    return {"min_ms": float(np.min(times)), "median_ms": float(np.median(times)),
            "p95_ms": float(np.percentile(times, 95)), "size": size, "repeats": repeats}
