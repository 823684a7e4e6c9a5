"""Regression replay: the golden-file comparison (ROS-free), the command's errors, and two real replays of the sample
recording through the whole graph (nodes as processes over DDS, real ONNX Runtime models): one must match the
committed golden file, one with a deliberately changed detector threshold must fail with a readable diff."""
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from aria_nav import paths
from aria_nav.core.boxes import iou_matrix
from aria_nav.core.replay import (Announcement, DepthStats, DetectionRecord, FrameRecord, GoldenError,
                                  ObstacleRecord, RunRecord, compare, format_comparison)
from aria_nav.core.replay.compare import pair_by_overlap

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "test" / "golden" / "sample_replay.json"
ARIA_NAV = Path(sys.executable).parent / "aria-nav"


def _detection(name="person", score=0.8, box=(10.0, 10.0, 110.0, 210.0)):
    return DetectionRecord(name, score, box)


def _obstacle(name="person", box=(10.0, 10.0, 110.0, 210.0), distance=2.0, band="close", urgency="warning"):
    return ObstacleRecord(name, box, distance, 3.0, band, "ahead", urgency, 5.0)


def _run(frames=None, announcements=None, settings=None):
    frames = frames if frames is not None else [
        FrameRecord(0, 0.0, {"rgb": [_detection()]}, DepthStats(0.1, (1.0, 2.0, 4.0)), {"rgb": [_obstacle()]}),
        FrameRecord(1, 0.1, {"rgb": [_detection(), _detection("chair", 0.5, (300.0, 50.0, 400.0, 150.0))]},
                    DepthStats(0.1, (1.0, 2.0, 4.0)), {"rgb": [_obstacle()]})]
    announcements = announcements if announcements is not None else [
        Announcement(1, 0.1, "obstacle", "warning", "person ahead, close")]
    return RunRecord("sample", settings or {"stride": 1}, {"detector": "m.onnx sha256:00"}, frames, announcements)


# -- comparison (ROS-free) ----------------------------------------------------------------------------------------
def test_identical_runs_match_and_say_so():
    result = compare(_run(), _run())
    assert result.passed and result.count == 0
    assert format_comparison(result, "g.json", _run()).startswith("replay matches g.json: 2 frames, 1 announcement")


def test_small_numeric_drift_within_tolerances_passes():
    run = _run()
    frame = run.frames[0]
    run.frames[0] = replace(frame, detections={"rgb": [_detection(score=0.81, box=(10.5, 10.0, 110.5, 210.0))]},
                            depth=DepthStats(0.105, (1.01, 2.01, 4.02)),
                            obstacles={"rgb": [replace(_obstacle(), distance_m=2.05)]})
    assert compare(_run(), run).passed


def test_each_kind_of_change_is_reported():
    run = _run()
    run.frames[0] = replace(run.frames[0], detections={"rgb": [_detection(score=0.7, box=(40.0, 10.0, 140.0, 210.0))]},
                            depth=DepthStats(0.3, (1.0, 2.5, 4.0)),
                            obstacles={"rgb": [replace(_obstacle(), distance_m=3.2, band="medium")]})
    run.frames[1].detections["rgb"].pop()  # the chair is gone
    result = compare(_run(), run)
    text = "\n".join(result.frames)
    assert "frame 0 (t=0.00 s) detections rgb: person: box" in text and "score 0.800 -> 0.700" in text
    assert "NaN fraction 0.1000 -> 0.3000; p50 2.00 m -> 2.50 m" in text
    assert "distance 2.00 m -> 3.20 m" in text and "band close -> medium" in text
    assert "frame 1 (t=0.10 s) detections rgb: missing chair 0.500" in text
    assert not result.passed and result.count == 4


def test_announcements_must_match_exactly_in_order():
    said = [Announcement(1, 0.1, "obstacle", "warning", "person ahead, close"),
            Announcement(5, 0.5, "obstacle", "info", "chair on your left")]
    result = compare(_run(announcements=said), _run(announcements=list(reversed(said))))
    assert not result.passed and result.frames == []
    report = format_comparison(result, "g.json", _run())
    assert "announcements (- golden, + this run):" in report
    assert '-frame 5 (t=0.50 s) info obstacle: "chair on your left"' in report or \
           '+frame 5 (t=0.50 s) info obstacle: "chair on your left"' in report
    reworded = [replace(said[0], text="person ahead, very close"), said[1]]
    assert not compare(_run(announcements=said), _run(announcements=reworded)).passed


def test_frames_only_one_side_has_and_settings_are_named():
    golden = _run()
    run = _run(frames=golden.frames[:1], settings={"stride": 2})
    result = compare(golden, run)
    assert result.frames == ["frame 1: in the golden, not replayed in this run"]
    assert result.notes == ["setting stride: golden 1, this run 2"]


def test_pairing_prefers_the_best_overlap_within_a_class():
    a, b = _detection(box=(0, 0, 100, 100)), _detection(box=(50, 0, 150, 100))
    pairs, missing, extra = pair_by_overlap([a, b], [_detection(box=(52, 0, 152, 100)), _detection("chair")])
    assert pairs == [(b, _detection(box=(52, 0, 152, 100)))] and missing == [a] and extra == [_detection("chair")]
    assert iou_matrix((0, 0, 10, 10), (5, 0, 15, 10))[0, 0] == pytest.approx(1 / 3)
    assert iou_matrix((0, 0, 10, 10), (20, 20, 30, 30))[0, 0] == 0.0


def test_depth_statistics_of_an_image():
    depth = np.array([[1.0, 2.0], [np.nan, 4.0]], np.float32)
    stats = DepthStats.of(depth)
    assert stats.nan_fraction == 0.25 and stats.percentiles_m[1] == 2.0
    assert DepthStats.of(np.full((2, 2), np.nan, np.float32)) == DepthStats(1.0, (None, None, None))


def test_golden_file_round_trip_and_errors(tmp_path):
    path = tmp_path / "golden.json"
    _run().save(path)
    assert RunRecord.load(path) == _run()
    with pytest.raises(GoldenError, match="missing.json' does not exist .*--update-golden"):
        RunRecord.load(tmp_path / "missing.json")
    path.write_text("{not json")
    with pytest.raises(GoldenError, match="golden.json' is not readable JSON"):
        RunRecord.load(path)
    path.write_text(json.dumps({"format": 99}))
    with pytest.raises(GoldenError, match="has format 99, expected 1"):
        RunRecord.load(path)
    path.write_text(json.dumps({"format": 1, "input": "x"}))
    with pytest.raises(GoldenError, match="golden.json' is damaged: KeyError"):
        RunRecord.load(path)


# -- the command ----------------------------------------------------------------------------------------------------
def _replay(*args, timeout=300):
    """The command, on the test's own ROS domain (the ros_domain fixture sets ROS_DOMAIN_ID): other DDS tests on
    the machine, of this run or another, must not be heard."""
    return subprocess.run([str(ARIA_NAV), "replay", *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"), cwd=ROOT)


@pytest.mark.parametrize("args, message", [
    (["--golden", "no/such/golden.json"], "golden file 'no/such/golden.json' does not exist"),
    (["--golden", str(GOLDEN), "--set", "detector.conf_threshold"], "write NODE.PARAM=VALUE"),
    (["--golden", str(GOLDEN), "--set", "speech.language=es"], "overrides for speech, which replay does not run"),
    (["/no/such/bag", "--golden", str(GOLDEN)], "/no/such/bag"),
    (["--golden", str(GOLDEN), "slam:=maybe"], "launch argument 'slam': 'maybe' is not a boolean"),
])
def test_errors_are_one_line_and_exit_2(ros_domain, args, message):
    result = _replay(*args, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aria-nav replay: ") and message in lines[0], result.stderr


def _models_present() -> bool:
    golden = json.loads(GOLDEN.read_text())
    return all((paths.models_dir() / entry.split()[0]).is_file() for entry in golden["models"].values())


needs_models = pytest.mark.skipif(not GOLDEN.is_file() or not _models_present(),
                                  reason="the test models are not built (aria-nav models build-test)")


@needs_models
def test_replay_of_the_sample_matches_the_golden_file(ros_domain):
    result = _replay("--golden", str(GOLDEN.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    golden = RunRecord.load(GOLDEN)
    assert f"replayed {len(golden.frames)} frames of aria_nav/data/sample" in result.stdout
    assert "replay matches test/golden/sample_replay.json" in result.stdout
    assert golden.announcements, "the golden run should exercise the guidance policy (it announces something)"


@needs_models
def test_a_changed_detector_threshold_is_a_regression_with_a_readable_diff(ros_domain):
    result = _replay("--golden", str(GOLDEN.relative_to(ROOT)), "--set", "detector.conf_threshold=0.3")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "REGRESSION against test/golden/sample_replay.json" in out
    assert "setting overrides: golden {'detector': {'conf_threshold': 0.1}}, this run " \
           "{'detector': {'conf_threshold': 0.3}}" in out
    # Every detection scored between the two thresholds is reported missing, with its obstacle.
    golden = RunRecord.load(GOLDEN)
    between = [(f.index, d) for f in golden.frames for d in f.detections.get("rgb", []) if 0.1 <= d.score < 0.3]
    assert between
    for index, detection in between[:5]:
        assert f"frame {index} (t=" in out and f"detections rgb: missing {detection.class_name} " \
                                                f"{detection.score:.3f}" in out
    print(out)
