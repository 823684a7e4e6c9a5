"""The demo's closing summary (ROS-free): what ran, how fast, what was said and where the files are."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import List

from aria_nav.core.hazards.evaluation import MIN_CRITICAL_WARNING_M, MIN_WARNING_M
from aria_nav.core.speech.request import ENDED
from aria_nav.demo.check import LATE_S, MAX_DISTANCE_ERROR, ON_TIME_S, summary_record
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


def _metres(value) -> str:
    return "-" if value is None else f"{value:.2f} m"


def _hazard_lines(hazards: List[dict]) -> List[str]:
    """The hazard scene's episodes against its ground truth (aria_nav.demo.check.check_hazards)."""
    heard = sum(1 for h in hazards if h["verdict"] == "on time")
    with_target = sum(1 for h in hazards if h["target_m"] is not None)
    lines = ["", f"  hazards against the scene's ground truth: {heard} of {with_target} heard on time "
                 f"(first warning heard at >= {MIN_WARNING_M:g} m; head height and step down >= "
                 f"{MIN_CRITICAL_WARNING_M:g} m)",
             f"    {'episode':<12} {'expected':<21} {'verdict':<8} {'about':>7} {'heard at':>9} {'said':>6} "
             f"{'worst err':>9}  first sentence"]
    for h in hazards:
        error = "-" if h["worst_error"] is None else f"{h['worst_error']:.0%}"
        said = "-" if h["spoken_m"] is None else f"{h['spoken_m']:g} m"
        lines.append(f"    {h['episode']:<12} {h['expected'] or 'nothing':<21} {h['verdict'] or '-':<8} "
                     f"{_metres(h['first_warning_m']):>7} {_metres(h['heard_at_m']):>9} {said:>6} {error:>9}  "
                     f"{h['text'] and repr(h['text'])}")
        lines += [f"      also said (false warning): \"{text}\"" for text in h["false_warnings"]]
    return lines


def _checks(record: dict) -> List[str]:
    """The ground-truth checks of the sample (nothing for other inputs)."""
    lines = []
    if record["faults"]:
        lines += ["", f"  FAULTS said: {'; '.join(record['faults'])}"]
    if "spoken_distances" not in record:
        return lines
    if "hazards" in record:
        lines += _hazard_lines(record["hazards"])
    distances = record["spoken_distances"]
    within = sum(1 for d in distances if d["error"] <= MAX_DISTANCE_ERROR)
    rounded = sum(1 for d in distances if d["off_by_rounding_only"])
    worst = f", worst {max(d['error'] for d in distances):.0%}" if distances else ""
    rounding = (f"; {rounded} off only by the spoken rounding (at most 10%; measured within "
                f"{MAX_DISTANCE_ERROR:.0%})" if rounded else "")
    lines += ["", f"  spoken distances against the ground truth: {within} of {len(distances)} within "
                  f"{MAX_DISTANCE_ERROR:.0%}{worst}{rounding}"]
    lines += [f"    {d['spoken_m']:4.1f} m said ({d['measured_m']:.2f} m measured), {d['true_m']:4.2f} m true "
              f"({d['error']:4.0%}): \"{d['text']}\"" for d in distances if d["error"] > MAX_DISTANCE_ERROR]
    if "scripted_events" not in record:
        return lines
    events = record["scripted_events"]
    counts = {verdict: sum(1 for e in events if e["verdict"] == verdict) for verdict in ("on time", "late", "missed")}
    lines += ["", f"  scripted events (heard within {ON_TIME_S:g} s: on time; within {LATE_S:g} s: late): "
                  + ", ".join(f"{n} {verdict}" for verdict, n in counts.items())]
    for event in events:
        delay = "" if event["delay_s"] is None else f" after {event['delay_s']:.1f} s"
        heard = f": \"{event['text']}\"" if event["text"] else ""
        lines.append(f"    {event['time_s']:4.1f} s  {event['class_name']} enters band '{event['band']}'  "
                     f"{event['verdict']}{delay}{heard}")
    return lines


def format_summary(result) -> str:
    """`result`: aria_nav.demo.run.DemoResult."""
    lines = ["", "=" * 78,
             f"aria-nav demo: {result.input.description}, on {result.device.upper()}"
             f"{' (stopped early: Ctrl-C)' if result.interrupted else ''}"]
    lines += [f"  note: {note}" for note in result.notes]
    rate = result.frames / result.duration_s if result.duration_s else float("nan")
    source = "scene player" if result.scene is not None else "camera"
    lines += ["", f"  {source}: {result.frames} RGB frames over {result.duration_s:.1f} s ({rate:.1f} fps); "
                  f"the demo took {result.elapsed_s:.0f} s in all (start-up included)",
              "", f"  {'stage':<36}{'outputs':>8}{'per s':>8}{'latency p50':>13}{'p95':>9}   (from capture)"]
    truth = result.perception == "truth"
    for stage, label in STAGE_LABELS.items():
        row = result.stages.get(stage)
        if row is None:
            continue
        label += " (ground truth)" if truth and ("detections" in stage or stage == "depth") else ""
        lines.append(f"  {label:<36}{row['outputs']:>8}{row['rate_hz']:>8.1f}{_ms(row['p50_ms']):>13}"
                     f"{_ms(row['p95_ms']):>9}")
    lines += ["", f"  said ({len(result.said)} of {result.requests} requests; times from the first frame; "
                  f"capture to ear in brackets):"]
    if not result.said:
        lines.append("    nothing")
    for index, said in enumerate(result.said):
        if index and said.wav is not None and said.wav == result.said[index - 1].wav:
            continue  # one sentence saying several critical warnings together: one report each, one line
        if said.said_at_s is None:
            when = "not said (cut off before it began)"
        else:
            when = f"said at {said.said_at_s:5.1f} s for the frame at {said.t_s:4.1f} s " \
                   f"({(said.said_at_s - said.t_s) * 1000:+5.0f} ms)"
        notes = []
        if said.interrupted and said.said_at_s is not None:
            by = next((later for later in result.said[index + 1:] if later.said_at_s is not None), None)
            notes.append(f" (cut off after {said.heard_s:.1f} of {said.audio_s:.1f} s"
                         + (f' by "{by.text}")' if by is not None else ")"))
        if said.event == ENDED:
            notes.append(" (the recording ended: not a fault)")
        elif said.t_s > result.duration_s + AFTER_END_S:
            notes.append(" (after the input had ended)")
        lines.append(f"    {when}  {said.urgency:<8} \"{said.text}\"" + "".join(notes))
    lines += _checks(summary_record(result))
    lines += ["", "  files:"]
    files: List[str] = []
    if result.video is not None:
        files.append(f"    video   {_shown(result.video)}  ({result.video_frames} frames at {VIDEO_FPS:g} fps: "
                     f"fusion's view, with what was said)")
    else:
        files.append("    video   none (no annotated frame arrived)")
    if result.wav_dir is not None:
        files.append(f"    speech  {_shown(result.wav_dir)}/  ({result.wav_files} WAV files, one per utterance)")
    files.append(f"    log     {_shown(result.log)}  (every node's output)")
    lines += files + ["=" * 78]
    return "\n".join(lines)
