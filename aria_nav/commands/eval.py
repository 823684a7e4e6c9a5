"""`aria-nav eval KIND`: evaluations the project owns, printing the numbers its targets are judged on (the CI tests
assert the deterministic ones). Each kind is a subcommand; the work is in a core module (no ROS):

  guidance  warnings reaching the ear in time (aria_nav.core.evaluation.guidance)
  hazards   the walking-corridor model and guidance on the scripted hazard scene (aria_nav.core.hazards.evaluation)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluations: scripted scenes with ground truth through the real "
                                                "core, judged by what the wearer hears")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    guidance = kinds.add_parser("guidance", help="warnings reaching the ear in time: scripted scenes through "
                                                 "FusionPipeline and SpeechQueue, speech timed by espeak-ng "
                                                 "(docs/guidance.md)")
    guidance.add_argument("--voice", default="en-us", help="espeak-ng voice whose sentence durations are used")
    guidance.add_argument("--critical-audio", action="store_true",
                          help="only measure every short critical warning (critical classes and hazards, each side, "
                               "0.3-5 m) with espeak-ng at each language's critical rate, earcon included, and print "
                               "the distribution per language (target <= 1.2 s)")
    guidance.set_defaults(func=eval_guidance)
    hazards = kinds.add_parser("hazards", help="hazards without a class (walls, poles, head height, steps) on the "
                                               "scripted hazard scene: first-warning distance, false warnings, "
                                               "distance error, corridor model time")
    hazards.add_argument("--size", type=int, default=None,
                         help="depth image size in pixels, square (default: 518, the depth network's output)")
    hazards.add_argument("--json", type=Path, default=None,
                         help="also write the report, with the scene's ground truth, as JSON here")
    hazards.add_argument("--bench", action="store_true",
                         help="only time the corridor model on one frame (ms per frame at --size)")
    hazards.set_defaults(func=eval_hazards)


def eval_guidance(args) -> int:
    from aria_nav.core.evaluation.guidance import WORDS_PER_MINUTE, DurationCache, evaluate_all, summary, table, \
        targets
    from aria_nav.core.speech.engines import EngineUnavailable, EspeakEngine

    try:
        engine = EspeakEngine(args.voice, WORDS_PER_MINUTE)
    except EngineUnavailable as exc:
        print(f"aria-nav eval guidance: {exc}: the evaluation times speech with the real TTS", file=sys.stderr)
        return 2
    if args.critical_audio:
        return critical_audio()
    durations = DurationCache(engine)
    results = evaluate_all(durations)
    print(table(results))
    print()
    print(summary(results, durations))
    failures = targets(results)
    print("targets: all met" if not failures else "targets NOT met:\n  " + "\n  ".join(failures))
    return 0 if not failures else 1


def critical_audio() -> int:
    from aria_nav.core.evaluation.critical_audio import measure
    from aria_nav.core.speech.engines import EspeakEngine
    from aria_nav.core.speech.phrases import TABLES

    results = [measure(phrases, EspeakEngine(phrases.espeak_voice, phrases.critical_words_per_minute))
               for phrases in TABLES.values()]
    for result in results:
        print(result.text())
    met = all(result.within() == len(result.durations) for result in results)
    print("target (every critical warning <= 1.2 s): " + ("met" if met else "NOT met"))
    return 0 if met else 1


def eval_hazards(args: argparse.Namespace) -> int:
    from aria_nav.core.hazards.evaluation import DEFAULT_SIZE, benchmark, evaluate

    size = args.size or DEFAULT_SIZE
    if size < 64 or size > 2048:
        print(f"aria-nav eval hazards: --size {size} is outside 64..2048 pixels", file=sys.stderr)
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
