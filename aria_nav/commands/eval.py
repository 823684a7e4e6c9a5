"""`aria-nav eval ...`: evaluations that print their numbers against the targets (each one's logic is a core module).

  hazards   the walking-corridor model and guidance on the scripted hazard scene (aria_nav.core.hazards.evaluation)
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluations against the guidance targets")
    actions = parser.add_subparsers(dest="evaluation", metavar="EVALUATION", required=True)
    hazards = actions.add_parser("hazards", help="hazards without a class (walls, poles, head height, steps) on the "
                                                 "scripted hazard scene: first-warning distance, false warnings, "
                                                 "distance error, corridor model time")
    hazards.add_argument("--size", type=int, default=None,
                         help="depth image size in pixels, square (default: 518, the depth network's output)")
    hazards.add_argument("--json", type=Path, default=None, help="also write the report, with the scene's ground truth, as JSON here")
    hazards.add_argument("--bench", action="store_true",
                         help="only time the corridor model on one frame (ms per frame at --size)")
    hazards.set_defaults(func=eval_hazards)


def eval_hazards(args: argparse.Namespace) -> int:
    from aria_nav.core.hazards.evaluation import DEFAULT_SIZE, benchmark, evaluate

    size = args.size or DEFAULT_SIZE
    if size < 64 or size > 2048:
        print(f"eval hazards: --size {size} is outside 64..2048 pixels")
        return 2
    if args.bench:
        result = benchmark(size)
        print(f"corridor model, {size}x{size} depth, {result['repeats']} runs on this CPU: "
              f"min {result['min_ms']:.2f} ms, median {result['median_ms']:.2f} ms, p95 {result['p95_ms']:.2f} ms "
              f"per frame (target <= 3 ms)")
        return 0
    report = evaluate(size, progress=print)
    print(report.text())
    if args.json is not None:
        args.json.write_text(report.to_json() + "\n")
    return 0 if not report.failures() else 1
