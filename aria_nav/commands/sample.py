"""`aria-nav sample build|info`: (re)build the project's sample recording from its scene script, or describe it."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from aria_nav import paths


def register(subparsers) -> None:
    parser = subparsers.add_parser("sample", help="build or describe the embedded sample recording")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="render the scene script and write the recording (a rosbag2 MCAP bag) "
                                             "and its ground_truth.json; deterministic (about a minute)")
    build.add_argument("--out", type=Path, default=None,
                       help="output folder (default: the packaged aria_nav/data/sample, replacing its files)")
    build.set_defaults(func=build_sample)
    info = actions.add_parser("info", help="print the recording's cameras, objects and scripted events")
    info.add_argument("--dir", type=Path, default=None, help="recording folder (default: the packaged sample)")
    info.set_defaults(func=describe_sample)


def build_sample(args: argparse.Namespace) -> int:
    from aria_nav.core.sample.build import build

    start = time.monotonic()
    written = build(args.out)
    for path in written:
        print(f"sample: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    print(f"sample: built in {time.monotonic() - start:.0f} s, "
          f"{sum(p.stat().st_size for p in written) / 1e6:.2f} MB in all")
    return 0


def describe_sample(args: argparse.Namespace) -> int:
    from aria_nav.core.sample.build import truth_path
    from aria_nav.core.sample.truth import GroundTruthFile

    path = truth_path(args.dir or paths.sample_dir())
    if not path.is_file():
        print(f"sample: no ground truth at {path} (run: aria-nav sample build)")
        return 2
    truth = GroundTruthFile.load(path)
    duration = len(truth.frames) / truth.frame_rate_hz
    print(f"sample: {path.parent}: {len(truth.frames)} frames at {truth.frame_rate_hz:g} Hz ({duration:g} s), "
          f"IMU {truth.imu['count']} samples at {truth.imu['rate_hz']:g} Hz")
    for name, camera in truth.cameras.items():
        print(f"  camera {name}: {camera['width']}x{camera['height']} {camera['encoding']}, f={camera['fx']:g} px, "
              f"yaw {camera['yaw_right_deg']:+g} deg, pitch down {camera['pitch_down_deg']:g} deg")
    for obj in truth.objects:
        print(f"  track {obj['track_id']}: {obj['class_name']} (COCO {obj['class_id']}): {obj['role']}")
    print("  events:")
    for event in truth.events:
        print(f"    t={event.time_s:5.2f} s  {event.text}")
    return 0
