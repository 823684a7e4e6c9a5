"""The demo's closing summary (ROS-free): what ran, how fast, what was said and where the files are."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import List

from aria_nav.demo.video import VIDEO_FPS

# Pipeline order, with the labels the table shows.
STAGE_LABELS = {"detections": "RGB detections", "slam_left_detections": "left SLAM detections",
                "slam_right_detections": "right SLAM detections", "depth": "depth", "obstacles": "fused obstacles",
                "speech_request": "speech requests"}
AFTER_END_S = 0.5  # a sentence about a frame this long after the last one is about the input having ended


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if math.isfinite(value) else "-"


def _shown(path: Path) -> str:
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def format_summary(result) -> str:
    """`result`: aria_nav.demo.run.DemoResult."""
    lines = ["", "=" * 78,
             f"aria-nav demo: {result.input.description}, on {result.device.upper()}"
             f"{' (stopped early: Ctrl-C)' if result.interrupted else ''}"]
    lines += [f"  note: {note}" for note in result.notes]
    rate = result.frames / result.duration_s if result.duration_s else float("nan")
    lines += ["", f"  camera: {result.frames} RGB frames over {result.duration_s:.1f} s ({rate:.1f} fps); "
                  f"the demo took {result.elapsed_s:.0f} s in all (start-up included)",
              "", f"  {'stage':<36}{'outputs':>8}{'per s':>8}{'latency p50':>13}{'p95':>9}   (from capture)"]
    ground_truth = result.detections == "ground-truth"
    for stage, label in STAGE_LABELS.items():
        row = result.stages.get(stage)
        if row is None:
            continue
        label += " (ground truth)" if ground_truth and "detections" in stage else ""
        lines.append(f"  {label:<36}{row['outputs']:>8}{row['rate_hz']:>8.1f}{_ms(row['p50_ms']):>13}"
                     f"{_ms(row['p95_ms']):>9}")
    lines += ["", f"  said ({len(result.said)} of {result.requests} requests; times from the first frame):"]
    if not result.said:
        lines.append("    nothing")
    for said in result.said:
        when = "not said (interrupted)" if said.said_at_s is None else f"said at {said.said_at_s:5.1f} s"
        notes = [" (cut off)" if said.interrupted and said.said_at_s is not None else "",
                 " (the input had ended)" if said.t_s > result.duration_s + AFTER_END_S else ""]
        lines.append(f"    {when} for the frame at {said.t_s:4.1f} s  {said.urgency:<8} \"{said.text}\""
                     + "".join(notes))
    lines += ["", "  files:"]
    files: List[str] = []
    if result.video is not None:
        files.append(f"    video   {_shown(result.video)}  ({result.video_frames} frames at {VIDEO_FPS:g} fps: fusion's view, "
                     f"with what was said)")
    else:
        files.append("    video   none (no annotated frame arrived)")
    if result.wav_dir is not None:
        files.append(f"    speech  {_shown(result.wav_dir)}/  ({result.wav_files} WAV files, one per utterance)")
    files.append(f"    log     {_shown(result.log)}  (every node's output)")
    lines += files + ["=" * 78]
    return "\n".join(lines)
