"""What the demo said, checked against the sample recording's ground truth (ROS-free).

- Spoken distances: each sentence about an object names a number of metres; the object is found in the
  ground truth of the frame the sentence was about (same camera, same class) and the number is compared with the
  true horizontal distance to its nearest visible part (from the exact rendering, core.sample.depth_truth; what a
  spoken distance means), or, without the rendering, the median horizontal distance of its surface (`range_m`).
- Scripted events: the wearer should hear about an object when it comes within the announcement range and again
  when it enters a nearer band (docs/guidance.md). For each such event of the script, the first sentence about
  that object heard from then on (to its end, or to more than half, as below) is "on time" within ON_TIME_S of the
  event, "late" within LATE_S, else "missed".
- Hazards (the hazard scene, `--scene hazards`): per episode, the first sentence heard to its end (or to more than half:
  what and where come first) that names its hazard ("step down", "head-height obstacle", ... ; "person" for the named
  one), the true distance of the frame it was about and the distance left when its first word was heard (the scene's
  wearer walks on at a known speed): "on time" when that is at least the hazards evaluation's target (2.5 m; 2 m for
  head height and drop-offs), "late" before the wearer reaches it, else "missed"; every spoken distance about it against
  the truth; and sentences about anything else during the episode (false warnings).
- Faults: a "degraded" sentence on a recording that played to its end with ground-truth perception is a fault of
  the demo or of the graph; the end of the recording is said once, as itself.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from aria_nav.core.hazards.evaluation import MAX_DISTANCE_ERROR, warning_target_m
from aria_nav.core.sample import GroundTruthFile
from aria_nav.core.sample.truth import BANDS
from aria_nav.core.speech.phrases import spoken_metres
from aria_nav.core.speech.request import APPROACHING, DEGRADED, ENDED, METRIC, OBSTACLE

ON_TIME_S = 1.0  # from the event's frame to the first word
LATE_S = 3.0
ANNOUNCED_BANDS = ("mid", "near", "close")  # within 5 m: what the guidance policy announces
HEARD_SHARE = 0.5  # of a cut sentence heard: what and where were (aria_nav.core.speech.phrases puts them first)


@dataclass(frozen=True)
class DistanceCheck:
    text: str
    class_name: str
    camera: str
    frame: int
    spoken_m: float
    true_m: float
    measured_m: float = math.nan  # the distance fusion measured (spoken_m is it rounded, spoken_metres)

    @property
    def error(self) -> float:
        return abs(self.spoken_m - self.true_m) / self.true_m

    @property
    def measured_error(self) -> float:
        return abs(self.measured_m - self.true_m) / self.true_m

    @property
    def off_by_rounding_only(self) -> bool:
        """Outside MAX_DISTANCE_ERROR only because the sentence rounds (core.speech.phrases.spoken_metres: at most
        10%) while the measured distance is within it."""
        return self.error > MAX_DISTANCE_ERROR >= self.measured_error


@dataclass(frozen=True)
class EventCheck:
    class_name: str
    track_id: int
    band: str  # the band the object entered
    time_s: float  # of the event's frame, from the first frame
    verdict: str  # on time | late | missed
    delay_s: Optional[float]  # event frame -> first word of the first sentence about it
    text: str  # that sentence


def frame_of(truth: GroundTruthFile, stamp_ns: int, offset_ns: int) -> Optional[int]:
    index = round((stamp_ns - offset_ns - truth.device_start_ns) / (1e9 / truth.frame_rate_hz))
    return index if 0 <= index < len(truth.frames) else None


def _about_object(said) -> bool:
    return said.request is not None and said.request.get("event") in (OBSTACLE, APPROACHING)


def said_metres(said, all_said: Sequence) -> Optional[float]:
    """The metres the sentence said about its request's object, None if it said no number for it: no metric
    distance, or a merged critical sentence that gives only its nearest obstacle's distance (the others by what and
    where only: core.speech.phrases.combined_parts); each member of one reports the same text and start."""
    request = said.request
    if request.get("distance_m") is None or request.get("distance_kind", METRIC) != METRIC:
        return None
    together = [s.request.get("distance_m") for s in all_said
                if s.text == said.text and s.said_at_s == said.said_at_s and s.request is not None]
    if min((d for d in together if d is not None), default=request["distance_m"]) != request["distance_m"]:
        return None
    return spoken_metres(float(request["distance_m"]))


def _truth_object(truth: GroundTruthFile, said, offset_ns: int):
    request = said.request
    frame = frame_of(truth, said.stamp_ns, offset_ns)
    if frame is None:
        return None, None
    matches = [o for o in truth.frames[frame].in_camera(request.get("camera", ""))
               if o.class_name == request.get("class_name")]
    if not matches:
        return frame, None
    bearing = request.get("bearing_deg")
    return frame, min(matches, key=lambda o: abs(o.bearing_deg - bearing) if bearing is not None else 0.0)


def spoken_distances(truth: GroundTruthFile, said: Sequence, offset_ns: int,
                     nearest_m: Optional[Sequence[Dict[int, float]]] = None) -> List[DistanceCheck]:
    """Every heard sentence that said a number of metres, with the true distance of what it was about
    (`nearest_m`: per frame, track id -> its nearest part's horizontal distance)."""
    checks = []
    for item in said:
        if item.said_at_s is None or not _about_object(item):
            continue
        request, spoken = item.request, said_metres(item, said)
        if spoken is None:  # no number said ("under half a meter" included)
            continue
        frame, obj = _truth_object(truth, item, offset_ns)
        if obj is not None:
            true_m = obj.range_m if nearest_m is None else nearest_m[frame].get(obj.track_id, obj.range_m)
            checks.append(DistanceCheck(item.text, obj.class_name, request["camera"], frame, spoken, true_m,
                                        float(request["distance_m"])))
    return checks


def _band_index(name: str) -> int:
    return [band for _, band in BANDS].index(name)


def scripted_events(truth: GroundTruthFile) -> List[Tuple[int, str, str, float]]:
    """(track id, class name, band, time s) of each object's first entry into each announced band, any camera."""
    first: Dict[Tuple[int, str], Tuple[float, str]] = {}
    for frame in truth.frames:
        for obj in frame.objects:
            if obj.band in ANNOUNCED_BANDS and (obj.track_id, obj.band) not in first:
                first[(obj.track_id, obj.band)] = (frame.time_s, obj.class_name)
    events = [(track, name, band, t) for (track, band), (t, name) in first.items()]
    # An object first seen already near has no earlier "mid" event to be late for: keep only entries into a band
    # nearer than the one it was first announced in.
    kept = []
    for track, name, band, t in sorted(events, key=lambda e: e[3]):
        earlier = [b for tr, _, b, _ in kept if tr == track]
        if all(_band_index(band) > _band_index(b) for b in earlier):
            kept.append((track, name, band, t))
    return kept


def check_events(truth: GroundTruthFile, said: Sequence) -> List[EventCheck]:
    answers = sorted((s for s in said if s.said_at_s is not None and _about_object(s) and heard(s)),
                     key=lambda s: s.said_at_s)
    checks = []
    frame_s = 1.0 / truth.frame_rate_hz
    for track, name, band, t in scripted_events(truth):
        # About a frame this event's or later (one frame of slack: a measured distance crosses a band edge a frame
        # before or after the true one).
        answer = next((s for s in answers if s.request.get("class_name") == name and s.t_s >= t - 1.5 * frame_s),
                      None)
        delay = None if answer is None else answer.said_at_s - t
        verdict = ("missed" if delay is None or delay > LATE_S else "on time" if delay <= ON_TIME_S else "late")
        checks.append(EventCheck(name, track, band, t, verdict, delay, "" if answer is None else answer.text))
    return checks


@dataclass(frozen=True)
class HazardCheck:
    episode: str
    expected: str  # the name the wearer should hear ("": the clear corridor, nothing)
    target_m: Optional[float]  # first warning heard at this distance or more: on time
    verdict: str  # on time | late | missed ("" on the clear corridor)
    text: str  # the first sentence naming the hazard
    first_warning_m: Optional[float]  # true distance in the frame that sentence was about
    heard_at_m: Optional[float]  # true distance left when its first word was heard
    spoken_m: Optional[float]  # the distance it said
    worst_error: Optional[float]  # of every distance said about the hazard, relative
    false_warnings: List[str]  # sentences about anything else during the episode


def _scene_sentences(timeline: Sequence, said: Sequence) -> List[Tuple[object, object]]:
    """(played frame, sentence) of every heard sentence about an object, in the order heard."""
    frames = {frame.stamp_ns: frame for frame in timeline}
    heard = sorted((s for s in said if s.said_at_s is not None and _about_object(s) and s.stamp_ns in frames),
                   key=lambda s: s.said_at_s)
    return [(frames[s.stamp_ns], s) for s in heard]


def scene_distances(timeline: Sequence, said: Sequence) -> List[DistanceCheck]:
    """Every heard sentence naming a hazard of the scene with a number of metres, against its true distance."""
    checks = []
    for frame, item in _scene_sentences(timeline, said):
        request, spoken = item.request, said_metres(item, said)
        if frame.truth_m is None or request.get("class_name") != frame.expected or spoken is None:
            continue
        checks.append(DistanceCheck(item.text, frame.expected, request.get("camera", ""), timeline.index(frame),
                                    spoken, frame.truth_m, float(request["distance_m"])))
    return checks


def heard(said) -> bool:
    """Heard to its end, or cut off after more than HEARD_SHARE of its audio."""
    return not said.interrupted or (said.audio_s > 0 and said.heard_s > HEARD_SHARE * said.audio_s)


def check_hazards(timeline: Sequence, said: Sequence, speed_mps: float) -> List[HazardCheck]:
    sentences = _scene_sentences(timeline, said)
    distances = scene_distances(timeline, said)
    checks = []
    for episode in dict.fromkeys(frame.episode for frame in timeline):
        about = [(f, s) for f, s in sentences if f.episode == episode]
        frames = [f for f in timeline if f.episode == episode]
        expected, kind = frames[0].expected, frames[0].kind
        target = warning_target_m(kind)
        # A sentence cut off by the next one may have said no more than its first word: the warning is the first
        # one heard to its end, or to more than half (what and where come first; a newer warning about the same
        # hazard cuts the end of the older one, whose distance is then wrong).
        named = [(f, s) for f, s in about if expected and s.request.get("class_name") == expected and heard(s)]
        false = [s.text for f, s in about if not expected or s.request.get("class_name") != expected]
        errors = [d.error for d in distances if timeline[d.frame].episode == episode]
        first_m = heard_m = spoken = None
        text, verdict = "", "" if target is None else "missed"
        if named:
            frame, first = named[0]
            text, first_m = first.text, frame.truth_m
            spoken = said_metres(first, said)
            if frame.truth_m is not None:  # said_at_s and t_s: seconds from the first frame
                heard_m = frame.truth_m - speed_mps * (first.said_at_s - first.t_s)
                verdict = "on time" if heard_m >= target else "late" if heard_m > 0 else "missed"
        checks.append(HazardCheck(episode, expected, target, verdict, text, first_m, heard_m, spoken,
                                  max(errors) if errors else None, false))
    return checks


def faults(said: Sequence) -> List[str]:
    """Sentences that report a fault (vision degraded)."""
    return [s.text for s in said if s.event == DEGRADED and s.said_at_s is not None]


def end_announcements(said: Sequence) -> int:
    return sum(1 for s in said if s.event == ENDED and s.said_at_s is not None)


def _distance_record(check: DistanceCheck) -> dict:
    return {**asdict(check), "error": round(check.error, 4), "measured_error": round(check.measured_error, 4),
            "off_by_rounding_only": check.off_by_rounding_only}


def summary_record(result) -> dict:
    """The summary as data (summary.json): what ran, what was said and when, and, on the sample, the checks."""
    record = {
        "input": result.input.description, "device": result.device, "perception": result.perception,
        "notes": result.notes, "frames": result.frames, "duration_s": round(result.duration_s, 3),
        "stages": result.stages,
        "said": [{**{k: v for k, v in asdict(s).items() if k != "request"},
                  "capture_to_ear_ms": None if s.said_at_s is None else round((s.said_at_s - s.t_s) * 1000.0, 1),
                  "class_name": (s.request or {}).get("class_name"),
                  "distance_m": (s.request or {}).get("distance_m")} for s in result.said],
        "faults": faults(result.said), "end_of_recording_said": end_announcements(result.said),
    }
    if result.truth is not None and result.stamp_offset_ns is not None:
        distances = spoken_distances(result.truth, result.said, result.stamp_offset_ns, result.true_nearest_m)
        record["spoken_distances"] = [_distance_record(d) for d in distances]
        record["scripted_events"] = [asdict(e) for e in check_events(result.truth, result.said)]
    if result.scene is not None:
        from aria_nav.core.sample.hazard_scene import SPEED_MPS

        record["scene"] = "hazards"
        record["spoken_distances"] = [_distance_record(d) for d in scene_distances(result.scene, result.said)]
        record["hazards"] = [asdict(h) for h in check_hazards(result.scene, result.said, SPEED_MPS)]
    return record


def worst_error(distances: Sequence[dict]) -> float:
    return max((d["error"] for d in distances), default=math.nan)
