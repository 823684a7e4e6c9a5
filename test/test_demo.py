"""`aria-nav demo` as a user runs it: the whole graph (nodes as processes over DDS, the depth model on ONNX Runtime,
espeak-ng) on the sample recording; its video, WAV files and summary are read back."""
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from aria_nav import paths
from aria_nav.core.speech.audio import parse_wav

ROOT = Path(__file__).resolve().parents[1]
ARIA_NAV = Path(sys.executable).parent / "aria-nav"
SILENCE_RMS = 0.01  # espeak-ng speech is far above this; an empty or silent file is below
MODELS = ("yolo11n_640.onnx", "yolo11n_256.onnx", "depth_anything_v2_small_266.onnx")


def _demo(*args, timeout=240):
    env = dict(os.environ, ROS_DOMAIN_ID=str(140 + os.getpid() % 30), PYTHONUNBUFFERED="1")
    return subprocess.run([str(ARIA_NAV), "demo", *args], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=ROOT)


def _read_video(path: Path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames, fps


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    missing = [name for name in MODELS if not (paths.models_dir() / name).is_file()]
    if missing:
        pytest.skip(f"the test models are not built ({', '.join(missing)}): aria-nav models build-test")
    out = tmp_path_factory.mktemp("demo")
    result = _demo("--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
    return out, result.stdout


def test_the_demo_says_what_it_runs_on(demo_run):
    _, stdout = demo_run
    assert stdout.startswith("aria-nav demo: the sample recording (aria_nav/data/sample), 60 RGB frames")
    assert "note: CPU: depth model depth_anything_v2_small_266.onnx" in stdout
    assert "note: detections: GROUND TRUTH of the sample recording" in stdout
    assert "RANDOM weights" in stdout


def test_the_summary_counts_the_recording_and_the_stages(demo_run):
    out, stdout = demo_run
    summary = (out / "summary.txt").read_text()
    assert summary in stdout
    frames = int(re.search(r"camera: (\d+) RGB frames over ([\d.]+) s", summary).group(1))
    assert frames == 60  # the camera waits for its subscribers: the whole recording is played
    for stage in ("RGB detections (ground truth)", "depth", "fused obstacles"):
        row = re.search(rf"^  {re.escape(stage)} +(\d+) +([\d.]+) +(\d+) ms +(\d+) ms", summary, re.M)
        assert row, f"no row for {stage}:\n{summary}"
        outputs, p50, p95 = int(row.group(1)), int(row.group(3)), int(row.group(4))
        assert 0 < outputs <= 3 * frames and 0 <= p50 <= p95
    said = re.findall(r'^    said at +([\d.]+) s for the frame at +([\d.]+) s +(\w+) +"(.+)"', summary, re.M)
    assert said, summary
    # The ground truth's person walks towards the wearer straight ahead: fusion must warn about it.
    assert any("person ahead" in text for _, _, _, text in said), said


def test_the_video_shows_the_run(demo_run):
    out, stdout = demo_run
    frames, fps = _read_video(out / "demo.mp4")
    claimed = int(re.search(r"demo\.mp4 +\((\d+) frames at 10 fps", stdout).group(1))
    assert len(frames) == claimed > 0 and fps == pytest.approx(10.0)
    assert frames[0].shape[:2] == (704, 704) and float(np.std(frames[len(frames) // 2])) > 10.0


def test_the_spoken_warnings_are_wav_files_with_speech(demo_run):
    out, stdout = demo_run
    wavs = sorted((out / "speech").glob("*.wav"))
    assert wavs and f"({len(wavs)} WAV files" in stdout
    levels = [parse_wav(path.read_bytes()).rms() for path in wavs]
    assert max(levels) > SILENCE_RMS, levels


def test_a_missing_recording_is_one_line_and_exit_2():
    result = _demo("--source", "vrs", "--input", "/no/such/walk.vrs", timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "aria-nav demo: /no/such/walk.vrs: VRS file does not exist"


def test_ground_truth_needs_the_sample(tmp_path):
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for value in range(5):
        writer.write(np.full((48, 64, 3), 40 * value, np.uint8))
    writer.release()
    result = _demo("--source", "video", "--input", str(video), "--detections", "ground-truth",
                   "--out", str(tmp_path / "out"), timeout=60)
    assert result.returncode == 2
    assert "--detections ground-truth: only the sample recording has ground truth" in result.stderr
