"""A replayed run against its golden file, within stated tolerances (ROS-free).

- Frames are lined up by their index in the input; a frame only one side has is a difference.
- Detections and obstacles of a camera are paired per class name, best box overlap (IoU) first. An unpaired one is
  missing or extra; a paired one differs when its box overlap falls below `box_iou` or its score moves by more
  than `score`. Obstacles also compare distance (relative), bearing and priority (absolute) and, exactly, band,
  direction and urgency.
- Depth statistics compare each percentile relatively and the NaN fraction absolutely.
- Announcements must be the same sequence exactly: frame, event, urgency and sentence.
Tolerances exist for other machines (another CPU's instruction set changes the last bits of the models' floats);
on one machine a replay is bit-identical.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

from aria_nav.core.boxes import iou_matrix
from aria_nav.core.replay.record import (DEPTH_PERCENTILES, Box, DepthStats, DetectionRecord, FrameRecord,
                                         ObstacleRecord, RunRecord)

T = TypeVar("T", DetectionRecord, ObstacleRecord)
MAX_LINES_PER_SECTION = 40


@dataclass(frozen=True)
class Tolerances:
    box_iou: float = 0.9  # paired boxes overlap at least this much
    score: float = 0.02  # absolute
    depth_relative: float = 0.02  # of each depth percentile
    nan_fraction: float = 0.01  # absolute
    distance_relative: float = 0.05
    bearing_deg: float = 1.0
    priority: float = 0.05


@dataclass
class Comparison:
    notes: List[str] = field(default_factory=list)  # context: settings or models that differ
    frames: List[str] = field(default_factory=list)  # per-frame output differences
    announcements: List[str] = field(default_factory=list)  # unified diff lines of the announcement sequence

    @property
    def passed(self) -> bool:
        return not self.frames and not self.announcements

    @property
    def count(self) -> int:
        return len(self.frames) + sum(1 for line in self.announcements if line[:1] in "+-")


def pair_by_overlap(golden: Sequence[T], run: Sequence[T]) -> Tuple[List[Tuple[T, T]], List[T], List[T]]:
    """(pairs, golden only, run only): same class name, greedily by the largest box overlap (> 0)."""
    overlaps = iou_matrix([g.box for g in golden], [r.box for r in run])
    candidates = sorted(((float(overlaps[i, j]), i, j) for i, g in enumerate(golden) for j, r in enumerate(run)
                         if g.class_name == r.class_name), reverse=True)
    pairs, used_golden, used_run = [], set(), set()
    for overlap, i, j in candidates:
        if overlap <= 0.0 or i in used_golden or j in used_run:
            continue
        pairs.append((golden[i], run[j]))
        used_golden.add(i)
        used_run.add(j)
    return (pairs, [g for i, g in enumerate(golden) if i not in used_golden],
            [r for j, r in enumerate(run) if j not in used_run])


def _box_text(box: Box) -> str:
    return "[" + ", ".join(f"{v:.1f}" for v in box) + "]"


def _relative_error(golden: float, run: float) -> float:
    return abs(run - golden) / max(abs(golden), 1e-3)


def _box_problems(golden: Box, run: Box, tol: Tolerances) -> List[str]:
    overlap = float(iou_matrix(golden, run)[0, 0])
    if overlap < tol.box_iou:
        return [f"box {_box_text(golden)} -> {_box_text(run)} (IoU {overlap:.3f} < {tol.box_iou})"]
    return []


def _compare_detection(g: DetectionRecord, r: DetectionRecord, tol: Tolerances) -> List[str]:
    problems = _box_problems(g.box, r.box, tol)
    if abs(g.score - r.score) > tol.score:
        problems.append(f"score {g.score:.3f} -> {r.score:.3f} (> {tol.score} apart)")
    return problems


def _optional_text(value: Optional[float], unit: str) -> str:
    return "unknown" if value is None else f"{value:.2f}{unit}"


def _compare_obstacle(g: ObstacleRecord, r: ObstacleRecord, tol: Tolerances) -> List[str]:
    problems = _box_problems(g.box, r.box, tol)
    if (g.distance_m is None) != (r.distance_m is None) or (
            g.distance_m is not None and _relative_error(g.distance_m, r.distance_m) > tol.distance_relative):
        problems.append(f"distance {_optional_text(g.distance_m, ' m')} -> {_optional_text(r.distance_m, ' m')}")
    if abs(g.bearing_deg - r.bearing_deg) > tol.bearing_deg:
        problems.append(f"bearing {g.bearing_deg:.1f} -> {r.bearing_deg:.1f} deg")
    if abs(g.priority - r.priority) > tol.priority:
        problems.append(f"priority {g.priority:.2f} -> {r.priority:.2f}")
    for name in ("band", "direction", "urgency"):
        if getattr(g, name) != getattr(r, name):
            problems.append(f"{name} {getattr(g, name)} -> {getattr(r, name)}")
    return problems


def _describe_detection(d: DetectionRecord) -> str:
    return f"{d.class_name} {d.score:.3f} {_box_text(d.box)}"


def _describe_obstacle(o: ObstacleRecord) -> str:
    return f"{o.class_name} {_optional_text(o.distance_m, ' m')} {o.direction} {o.urgency} {_box_text(o.box)}"


def _compare_sets(where: str, golden: Dict[str, List[T]], run: Dict[str, List[T]],
                  compare_one: Callable[[T, T, Tolerances], List[str]], describe: Callable[[T], str],
                  tol: Tolerances) -> List[str]:
    lines = []
    for camera in sorted(set(golden) | set(run)):
        label = f"{where} {camera}"
        if camera not in run:
            lines.append(f"{label}: not produced (golden has {len(golden[camera])})")
            continue
        if camera not in golden:
            lines.append(f"{label}: produced ({len(run[camera])}) but the golden has none for this frame")
            continue
        pairs, missing, extra = pair_by_overlap(golden[camera], run[camera])
        lines += [f"{label}: missing {describe(g)}" for g in missing]
        lines += [f"{label}: extra {describe(r)}" for r in extra]
        for g, r in pairs:
            problems = compare_one(g, r, tol)
            if problems:
                lines.append(f"{label}: {g.class_name}: {'; '.join(problems)}")
    return lines


def _compare_depth(where: str, golden: Optional[DepthStats], run: Optional[DepthStats],
                   tol: Tolerances) -> List[str]:
    if golden is None or run is None:
        return [] if golden is run else [f"{where} depth: {'not produced' if run is None else 'produced'} "
                                         f"(golden: {'none' if golden is None else 'a depth image'})"]
    problems = []
    if abs(golden.nan_fraction - run.nan_fraction) > tol.nan_fraction:
        problems.append(f"NaN fraction {golden.nan_fraction:.4f} -> {run.nan_fraction:.4f}")
    for p, g, r in zip(DEPTH_PERCENTILES, golden.percentiles_m, run.percentiles_m):
        if (g is None) != (r is None) or (g is not None and _relative_error(g, r) > tol.depth_relative):
            problems.append(f"p{p} {_optional_text(g, ' m')} -> {_optional_text(r, ' m')}")
    return [f"{where} depth: {'; '.join(problems)}"] if problems else []


def _compare_frame(golden: FrameRecord, run: FrameRecord, tol: Tolerances) -> List[str]:
    where = f"frame {golden.index} (t={golden.t_s:.2f} s)"
    lines = []
    if abs(golden.t_s - run.t_s) > 1e-6:
        lines.append(f"{where}: time {golden.t_s:.3f} s -> {run.t_s:.3f} s (another input?)")
    lines += _compare_sets(f"{where} detections", golden.detections, run.detections, _compare_detection,
                           _describe_detection, tol)
    lines += _compare_depth(where, golden.depth, run.depth, tol)
    lines += _compare_sets(f"{where} obstacles", golden.obstacles, run.obstacles, _compare_obstacle,
                           _describe_obstacle, tol)
    return lines


def _settings_notes(golden: RunRecord, run: RunRecord) -> List[str]:
    notes = []
    if golden.input != run.input:
        notes.append(f"input: golden {golden.input!r}, this run {run.input!r}")
    for key in sorted(set(golden.settings) | set(run.settings)):
        if golden.settings.get(key) != run.settings.get(key):
            notes.append(f"setting {key}: golden {golden.settings.get(key)!r}, this run {run.settings.get(key)!r}")
    for node in sorted(set(golden.models) | set(run.models)):
        if golden.models.get(node) != run.models.get(node):
            notes.append(f"model of {node}: golden {golden.models.get(node)}, this run {run.models.get(node)} "
                         f"(different weights give different outputs: rewrite the golden with --update-golden "
                         f"if that is intended)")
    return notes


def compare(golden: RunRecord, run: RunRecord, tol: Tolerances = Tolerances()) -> Comparison:
    result = Comparison(notes=_settings_notes(golden, run))
    golden_frames = {f.index: f for f in golden.frames}
    run_frames = {f.index: f for f in run.frames}
    for index in sorted(set(golden_frames) | set(run_frames)):
        if index not in run_frames:
            result.frames.append(f"frame {index}: in the golden, not replayed in this run")
        elif index not in golden_frames:
            result.frames.append(f"frame {index}: replayed in this run, not in the golden")
        else:
            result.frames += _compare_frame(golden_frames[index], run_frames[index], tol)
    golden_lines = [a.describe() for a in golden.announcements]
    run_lines = [a.describe() for a in run.announcements]
    if golden_lines != run_lines:
        result.announcements = [line for line in difflib.unified_diff(golden_lines, run_lines, "golden", "this run",
                                                                      n=1, lineterm="")
                                if not line.startswith(("---", "+++"))]
    return result


def _capped(lines: Sequence[str]) -> List[str]:
    shown = [f"  {line}" for line in lines[:MAX_LINES_PER_SECTION]]
    if len(lines) > MAX_LINES_PER_SECTION:
        shown.append(f"  ... and {len(lines) - MAX_LINES_PER_SECTION} more")
    return shown


def format_comparison(result: Comparison, golden_path: str, run: RunRecord) -> str:
    """The readable report: verdict first, then what differs and why it might."""
    frames, said = len(run.frames), len(run.announcements)
    if result.passed:
        lines = [f"replay matches {golden_path}: {frames} frames, {said} announcement{'s' * (said != 1)} "
                 f"(within tolerances)"]
    else:
        lines = [f"REGRESSION against {golden_path}: {result.count} difference{'s' * (result.count != 1)}"]
    if result.notes:
        lines.append("run differs from the golden's run in:")
        lines += [f"  {note}" for note in result.notes]
    if result.announcements:
        lines.append("announcements (- golden, + this run):")
        lines += _capped(result.announcements)
    if result.frames:
        lines.append("frame outputs (golden -> this run):")
        lines += _capped(result.frames)
    return "\n".join(lines)
